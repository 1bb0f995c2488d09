"""Shared test set-up: headless Qt, a seeded torch on few threads, and a tiny synthetic Fashion-MNIST."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before anything imports Qt

import pytest

from fashion_desktop.core.synthetic import write_fashion_mnist

REAL_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(autouse=True)
def _seeded_torch():
    import torch

    torch.manual_seed(0)
    torch.set_num_threads(1)


@pytest.fixture(scope="session", autouse=True)
def _private_user_folders(tmp_path_factory):
    """Session-wide, for fixtures wider than one test: runs and user data never reach the developer's own folders."""
    folder = tmp_path_factory.mktemp("user")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FASHION_DESKTOP_RUNS", str(folder / "runs.sqlite3"))
        patch.setenv("XDG_DATA_HOME", str(folder / "xdg-data"))
        yield


@pytest.fixture(autouse=True)
def _private_run_history(tmp_path, monkeypatch):
    """Runs recorded by tests go to a temporary database, never the user's own history."""
    monkeypatch.setenv("FASHION_DESKTOP_RUNS", str(tmp_path / "runs.sqlite3"))


@pytest.fixture(scope="session")
def fashion_root(tmp_path_factory) -> Path:
    """A folder in torchvision's layout holding 300 training and 100 test images (gzip-compressed)."""
    return write_fashion_mnist(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="session")
def real_data_root() -> Path:
    """The real Fashion-MNIST beside the checkout; tests that use it skip when it is absent."""
    if not (REAL_DATA / "FashionMNIST" / "raw").is_dir():
        pytest.skip("the real Fashion-MNIST is not in ../shared/data")
    return REAL_DATA
