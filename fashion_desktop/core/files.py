"""Reading and writing the app's files safely: bounded reads of regular files only, atomic writes, bounded JSON.

Torch-free and Qt-free, so any module (the run history, the builder's spec files) can use it without loading
torch. Every file the app reads from a user (images, model files, spec files, data files) goes through
``read_bounded``, and every file it writes through ``atomic_write``.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import stat
import time
from pathlib import Path
from typing import Any

from fashion_desktop.core.errors import OutputError, UserError

_TEMP_SUFFIX = ".tmp"
_MAX_NAME_BYTES = 255  # the longest file name ext4, APFS, NTFS and most others allow
# ".<name>.<pid>-<8 hex>.tmp": the name part is cut so the whole fits in _MAX_NAME_BYTES
_TEMP_EXTRA_BYTES = len(".") + len(".") + 10 + len("-") + 8 + len(_TEMP_SUFFIX)
MAX_JSON_DEPTH = 32  # our own JSON (specs, configs, metadata) nests 4 levels at most
# Versions before the pid in the name used tempfile.mkstemp's names; no save takes an hour, so older ones are stale
_LEGACY_STALE_SECONDS = 3600
MAX_SPEC_BYTES = 4 * 2**20  # a spec of a thousand layers is about 100 KB


def atomic_write(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` so that a crash leaves the old file or the new one, never half of one.

    The bytes go to a temporary file beside the target, are flushed to disk, then renamed over it. A symlink is
    written through (its target is replaced, the link stays); a target that exists but is not a regular file (a
    device such as /dev/null, a FIFO, a folder) is refused. An existing file keeps its permissions; a new one
    gets those the umask gives any new file. Temporary files that a killed save of the same path left behind are
    removed first.

    Returns:
        ``path`` as given (not its symlink's target).

    Raises:
        OutputError: the target exists but is not a regular file.
        OSError: the folder cannot be created or written, the disk is full, ...; its ``filename`` is the target,
            never the temporary file.
    """
    path = Path(path)
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    try:
        info: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        info = None
    except OSError as error:
        raise OSError(error.errno, error.strerror, str(path)) from None
    if info is not None and not stat.S_ISREG(info.st_mode):
        raise OutputError(
            f"{path} is not a regular file ({_kind(info.st_mode)}), so it was left as it is; choose a file name"
        )
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_temporaries(target)
        temporary, fd = create_temporary(target)
    except OSError as error:
        raise OSError(error.errno, error.strerror, str(path)) from None
    try:
        with os.fdopen(fd, "wb") as file:
            if info is not None and hasattr(os, "fchmod"):
                os.fchmod(file.fileno(), stat.S_IMODE(info.st_mode))
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException as error:
        temporary.unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise OSError(error.errno, error.strerror or str(error), str(path)) from None
        raise
    _sync_folder(target.parent)
    return path


def temporary_prefix(target: Path) -> str:
    """The start of every temporary file name ``atomic_write`` uses for ``target``: a dot and the name, cut to fit."""
    name = os.fsencode(target.name)[: _MAX_NAME_BYTES - _TEMP_EXTRA_BYTES]
    return "." + os.fsdecode(name) + "."


def create_temporary(target: Path) -> tuple[Path, int]:
    """A new, empty temporary file beside ``target`` and its open descriptor; mode 0666, so the umask applies."""
    prefix = temporary_prefix(target)
    for _ in range(100):
        candidate = target.with_name(f"{prefix}{os.getpid()}-{secrets.token_hex(4)}{_TEMP_SUFFIX}")
        try:
            fd = os.open(candidate, os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_BINARY", 0), 0o666)
        except FileExistsError:
            continue
        return candidate, fd
    raise FileExistsError(errno.EEXIST, "no free temporary file name", str(target))


def _remove_stale_temporaries(target: Path) -> None:
    """Delete temporary files of ``target`` whose writing process has ended (a kill mid-save leaves them)."""
    prefix = temporary_prefix(target)
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return
    for entry in entries:
        if not (entry.name.startswith(prefix) and entry.name.endswith(_TEMP_SUFFIX)):
            continue
        middle = entry.name[len(prefix) : -len(_TEMP_SUFFIX)]
        pid_text, _, token = middle.partition("-")
        if pid_text.isascii() and pid_text.isdigit() and len(token) == 8:
            stale = int(pid_text) != os.getpid() and not process_alive(int(pid_text))
        elif len(middle) == 8 and middle.isascii() and "-" not in middle:  # tempfile.mkstemp's, from older versions
            stale = _age_seconds(entry) > _LEGACY_STALE_SECONDS
        else:
            continue  # not one of ours
        if stale:
            try:
                os.unlink(entry.path)
            except OSError:
                pass  # another process cleaned it first, or the folder is read-only: the save itself will say


def _age_seconds(entry: os.DirEntry[str]) -> float:
    try:
        return time.time() - entry.stat(follow_symlinks=False).st_mtime
    except OSError:
        return 0.0


def _sync_folder(folder: Path) -> None:
    """Flush the rename to disk too, where the platform allows opening a folder."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def process_alive(pid: int) -> bool:
    """Whether a process with this id exists (a reused id reads as alive, which errs on the safe side)."""
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    if os.name == "nt":
        import ctypes

        kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return bool(kernel32.GetLastError() == 5)  # ERROR_ACCESS_DENIED: it exists but is not ours
        try:
            code = ctypes.c_ulong()
            return bool(kernel32.GetExitCodeProcess(handle, ctypes.byref(code))) and code.value == 259  # STILL_ACTIVE
        finally:
            kernel32.CloseHandle(handle)
    try:
        os.kill(pid, 0)  # signal 0 only checks that the process exists (on Windows os.kill would end it)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists but belongs to another user
    except OverflowError:
        return False
    return True


def read_bounded(path: str | Path, limit: int, what: str, error: type[UserError] = UserError) -> bytes:
    """Read a whole regular file of at most ``limit`` bytes, so that no handle stays open.

    A FIFO, a device (/dev/zero), a socket or a folder is refused before it is opened for reading, so reading can
    neither block for ever nor fill memory; so is a file over the limit.

    Args:
        path: The file.
        limit: The most bytes accepted.
        what: What the file should be, for messages ("an image", "a model file").
        error: The UserError subclass to raise.

    Raises:
        UserError: of type ``error``, naming the file and saying what to do.
    """
    path = Path(path)
    name = path.name or str(path)
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            if stat.S_ISDIR(info.st_mode):
                raise error(f"{name} is a folder, not {what}; choose a file inside it.")
            raise error(f"{name} is not a regular file ({_kind(info.st_mode)}), so it was not read; choose {what}.")
        if info.st_size > limit:
            raise error(_too_large(name, what, limit))
        # O_NONBLOCK: should a FIFO have replaced the file since the check, opening it does not wait for a writer
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        with os.fdopen(fd, "rb") as file:
            if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
                raise error(f"{name} is not a regular file, so it was not read; choose {what}.")
            data = file.read(limit + 1)
    except FileNotFoundError:
        raise error(f"{name} was not found; check that the file still exists, then choose it again.") from None
    except IsADirectoryError:
        raise error(f"{name} is a folder, not {what}; choose a file inside it.") from None
    except PermissionError:
        raise error(f"{name} cannot be read (permission denied); check its permissions or copy it.") from None
    except OSError as exc:
        raise error(f"{name} cannot be read ({exc.strerror or exc}); check the file and try again.") from None
    if len(data) > limit:  # it grew after the check
        raise error(_too_large(name, what, limit))
    return data


def read_text(path: str | Path, limit: int, what: str, error: type[UserError] = UserError) -> str:
    """``read_bounded``, decoded as UTF-8 (with or without a byte-order mark).

    Raises:
        UserError: of type ``error``: as ``read_bounded``, or the file is not UTF-8 text.
    """
    data = read_bounded(path, limit, what, error)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error(f"{Path(path).name} is not UTF-8 text ({exc.reason} at byte {exc.start}); choose {what}.") from None


def load_json(text: str | bytes, what: str, error: type[UserError] = UserError) -> Any:
    """Parse JSON that a user's file holds, turning every way it can fail into ``error``.

    Besides syntax errors this refuses nesting deeper than ``MAX_JSON_DEPTH`` (which would otherwise end in a
    RecursionError here or in the code that walks the result) and integers longer than Python converts (a
    ValueError that is not a JSONDecodeError).
    """
    try:
        value = json.loads(text)
    except RecursionError:
        raise error(f"{what} is not valid: its JSON nests too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError, and "Exceeds the limit (4300 digits)"
        raise error(f"{what} is not valid JSON ({exc})") from None
    if _depth(value) > MAX_JSON_DEPTH:
        raise error(f"{what} is not valid: its JSON nests more than {MAX_JSON_DEPTH} levels deep")
    return value


def _depth(value: Any) -> int:
    """How deeply lists and objects nest in ``value``, counted without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        if deepest > MAX_JSON_DEPTH:
            return deepest
        stack.extend((child, level + 1) for child in children)
    return deepest


def _too_large(name: str, what: str, limit: int) -> str:
    return f"{name} is larger than {limit / 2**20:,.0f} MiB, more than {what} can be; check that it is the right file."


def _kind(mode: int) -> str:
    for test, words in (
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a named pipe"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISDIR, "a folder"),
    ):
        if test(mode):
            return words
    return "not a plain file"
