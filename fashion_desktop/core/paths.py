"""Where the app keeps its files: the data folder and the run history (torch-free, so the GUI can show them early)."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import platformdirs

DATA_ENV_VAR = "FASHION_DESKTOP_DATA"
RUNS_ENV_VAR = "FASHION_DESKTOP_RUNS"


def user_data_dir() -> Path:
    """The per-user folder for the app's files, e.g. ~/.local/share/fashion-desktop on Linux."""
    return platformdirs.user_data_path("fashion-desktop", appauthor=False)


def default_data_dir() -> Path:
    return user_data_dir() / "data"


def default_runs_path() -> Path:
    return user_data_dir() / "runs.sqlite3"


def resolve_data_dir(cli_value: str | Path | None = None) -> Path:
    """The data folder: the ``--data`` value, else ``$FASHION_DESKTOP_DATA``, else the user data folder."""
    return _resolve(cli_value, DATA_ENV_VAR, default_data_dir())


def resolve_runs_path(cli_value: str | Path | None = None) -> Path:
    """The run history file: the command-line value, else ``$FASHION_DESKTOP_RUNS``, else the user data folder."""
    return _resolve(cli_value, RUNS_ENV_VAR, default_runs_path())


def checkpoints_dir() -> Path:
    """Where runs save their model after every epoch: ``checkpoints/`` beside the run history.

    That is the user data folder, unless ``$FASHION_DESKTOP_RUNS`` puts the history elsewhere: the files stay with
    the records that point at them.
    """
    return resolve_runs_path().parent / "checkpoints"


def new_checkpoint_path() -> Path:
    """A file name in ``checkpoints_dir()`` for a run starting now; microseconds keep quick runs apart."""
    return checkpoints_dir() / f"{datetime.now():%Y-%m-%d_%H-%M-%S-%f}.safetensors"


def _resolve(cli_value: str | Path | None, env_var: str, default: Path) -> Path:
    if cli_value not in (None, ""):
        return Path(cli_value).expanduser()  # type: ignore[arg-type]
    env = os.environ.get(env_var)
    return Path(env).expanduser() if env else default
