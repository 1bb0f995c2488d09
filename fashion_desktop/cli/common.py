"""What several commands share: checking the files they write and read, the network they are given, JSON output."""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def writing(path: Path) -> Iterator[None]:
    """Turn an OSError while writing ``path`` into a message that names the file and says what to do."""
    from fashion_desktop.core.errors import OutputError

    try:
        yield
    except OSError as error:
        raise OutputError(f"cannot write {path}: {error.strerror or error}; choose another file or folder") from None


def check_writable(path: Path, option: str) -> None:
    """Refuse, before any work, a file that cannot be written: its folder is missing or read-only, or it is a folder."""
    from fashion_desktop.core.errors import OutputError

    folder = path.parent
    if path.is_dir():
        raise OutputError(f"{option} {path} is a folder; give a file name such as {path / 'model.safetensors'}")
    if not folder.is_dir():
        raise OutputError(
            f"cannot write {path}: the folder {folder} does not exist; create it or choose another {option}"
        )
    try:  # a real write, not os.access: that misses read-only mounts and network file systems' own rules
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=folder)
        os.close(fd)
        os.remove(probe)
    except OSError as error:
        raise OutputError(f"cannot write {path}: {error.strerror or error}; choose another {option}") from None


def check_data_folder(folder: Path | None) -> None:
    """A --data folder must exist: downloading into a mistyped path would hide the typo behind a long download."""
    from fashion_desktop.core.errors import DataError
    from fashion_desktop.core.paths import default_data_dir

    if folder is not None and not folder.expanduser().is_dir():
        what = "is not a folder" if folder.expanduser().exists() else "does not exist"
        raise DataError(
            f"the data folder {folder} {what}; check the path, or leave out --data to use "
            f"{default_data_dir()}, where Fashion-MNIST is downloaded when it is missing"
        )


def load_spec(args: argparse.Namespace) -> tuple[Any, Any]:
    """The network and its training defaults from --preset or --spec.

    A spec file carries no training settings: the defaults' loss follows the network's head (NLLLoss for a
    LogSoftmax head, CrossEntropy otherwise), so every preset written out by ``spec`` trains when read back.
    """
    from fashion_desktop.core.config import TrainConfig
    from fashion_desktop.core.errors import SpecError
    from fashion_desktop.core.files import MAX_SPEC_BYTES, read_text
    from fashion_desktop.core.presets import get_preset
    from fashion_desktop.core.spec import ModelSpec

    if getattr(args, "spec", None):
        try:
            text = read_text(args.spec, MAX_SPEC_BYTES, "a spec file", SpecError)
        except SpecError as error:
            raise SpecError(f"cannot read the spec file {args.spec}: {error}") from None
        spec = ModelSpec.from_json(text)
        return spec, TrainConfig(loss="nll" if spec.head == "LogSoftmax" else "cross_entropy")
    preset = get_preset(args.preset or "seed")
    return preset.spec, preset.config


def emit_json(payload: dict[str, Any]) -> None:
    """One JSON line; NaN and infinities (not JSON) become null, so a reader never sees invalid JSON."""
    print(json.dumps(_finite(payload), allow_nan=False), flush=True)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and value != value or value in (float("inf"), float("-inf")):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
