"""Errors a user can fix: the CLI prints their message without a traceback, the GUI shows it in a dialog."""

from __future__ import annotations


class UserError(Exception):
    """Something the user can fix; the message says what is wrong and what to do."""


class SpecError(UserError):
    """A model specification that cannot be built."""


class ConfigError(UserError):
    """Training settings that are out of range."""


class DataError(UserError):
    """Missing, truncated or corrupt Fashion-MNIST files."""


class CheckpointError(UserError):
    """A model file that cannot be read."""


class OutputError(UserError):
    """A file or folder that cannot be written (a missing or read-only folder, a full disk)."""


class ImageError(UserError):
    """An image that cannot be decoded."""


class TrainingDiverged(UserError):
    """The loss became NaN or infinite."""


class OutOfMemory(UserError):
    """Training or prediction could not allocate memory on its device."""


def out_of_memory(error: BaseException, device: str = "the device") -> OutOfMemory | None:
    """An OutOfMemory error with advice when ``error`` is an allocation failure, else None.

    torch has one out-of-memory class per backend (CUDA, MPS, the CPU allocator), all RuntimeErrors whose messages
    share these words; Python's own allocator raises MemoryError.
    """
    text = str(error)
    if isinstance(error, MemoryError) or (
        isinstance(error, RuntimeError) and ("out of memory" in text.lower() or "can't allocate memory" in text)
    ):
        return OutOfMemory(
            f"out of memory on {device}: lower the batch size, or use a smaller network (fewer units or channels)"
        )
    return None
