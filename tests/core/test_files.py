"""The files module: atomic writes that respect what is at the path, bounded reads of regular files only."""

import errno
import json
import os
import stat
import subprocess
import sys
import threading

import pytest

from fashion_desktop.core import files
from fashion_desktop.core.errors import ImageError, OutputError, UserError
from fashion_desktop.core.files import atomic_write, load_json, read_bounded, temporary_prefix


def test_new_files_get_the_umask_mode_not_0600(tmp_path):
    old = os.umask(0o022)
    try:
        path = atomic_write(tmp_path / "spec.json", b"{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_an_existing_file_keeps_its_mode(tmp_path):
    path = tmp_path / "shared.csv"
    path.write_bytes(b"old")
    path.chmod(0o664)
    atomic_write(path, b"new")
    assert path.read_bytes() == b"new" and stat.S_IMODE(path.stat().st_mode) == 0o664


def test_a_symlink_is_written_through_to_its_target(tmp_path):
    target = tmp_path / "models" / "real.safetensors"
    target.parent.mkdir()
    target.write_bytes(b"old")
    link = tmp_path / "latest.safetensors"
    link.symlink_to(target)
    assert atomic_write(link, b"new") == link
    assert link.is_symlink() and target.read_bytes() == b"new"


@pytest.mark.skipif(not os.path.exists("/dev/null"), reason="needs /dev/null")
def test_a_device_or_fifo_at_the_path_is_refused_and_left_alone(tmp_path):
    with pytest.raises(OutputError, match="not a regular file"):
        atomic_write("/dev/null", b"x")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    with pytest.raises(OutputError, match="named pipe"):
        atomic_write(fifo, b"x")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_a_long_legal_name_fits_with_its_temporary_name(tmp_path):
    name = "é" * 120 + ".json"  # 245 bytes: legal, but ".name.XXXXXX.tmp" would not be
    path = atomic_write(tmp_path / name, b"{}")
    assert path.read_bytes() == b"{}" and len(os.fsencode(temporary_prefix(path))) < 255


def test_stale_temporary_files_of_a_killed_save_are_removed_at_the_next_save(tmp_path):
    path = tmp_path / "model.safetensors"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f"{temporary_prefix(path)}{int(dead.stdout)}-0123abcd.tmp"
    stale.write_bytes(b"half a model")
    alive = tmp_path / f"{temporary_prefix(path)}{os.getppid()}-0123abcd.tmp"  # a save still running elsewhere
    alive.write_bytes(b"in progress")
    other = tmp_path / ".notes.txt.tmp"  # not ours
    other.write_bytes(b"keep")
    legacy = tmp_path / ".model.safetensors.k3j_x9qz.tmp"  # tempfile.mkstemp's name, from an older version
    legacy.write_bytes(b"half a model")
    recent_legacy = tmp_path / ".model.safetensors.a8b7c6d5.tmp"
    recent_legacy.write_bytes(b"maybe still being written")
    os.utime(legacy, (0, 0))
    atomic_write(path, b"model")
    assert not stale.exists() and alive.exists() and other.exists()
    assert not legacy.exists() and recent_legacy.exists()


def test_a_full_disk_names_the_file_not_the_temporary(tmp_path, monkeypatch):
    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", full)
    path = tmp_path / "model.safetensors"
    with pytest.raises(OSError, match="No space left") as caught:
        atomic_write(path, b"x")
    assert caught.value.filename == str(path) and caught.value.errno == errno.ENOSPC
    assert list(tmp_path.iterdir()) == []


def test_read_bounded_refuses_a_fifo_without_blocking(tmp_path):
    fifo = tmp_path / "photo.png"
    os.mkfifo(fifo)
    result = {}
    reader = threading.Thread(target=lambda: result.update(error=_error_of(read_bounded, fifo, 100, "an image")))
    reader.start()
    reader.join(5)
    assert not reader.is_alive(), "reading a FIFO blocked"
    assert isinstance(result["error"], UserError) and "named pipe" in str(result["error"])


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_read_bounded_refuses_dev_zero_and_big_files(tmp_path):
    with pytest.raises(ImageError, match="character device"):
        read_bounded("/dev/zero", 100, "an image", ImageError)
    big = tmp_path / "big.png"
    big.write_bytes(b"\0" * 101)
    with pytest.raises(ImageError, match="larger than"):
        read_bounded(big, 100, "an image", ImageError)
    assert read_bounded(big, 101, "an image") == b"\0" * 101


@pytest.mark.parametrize(
    ("text", "words"),
    [("[" * 100_000 + "]" * 100_000, "nests"), ("1" * 5000, "not valid JSON"), ("[" * 40 + "]" * 40, "nests")],
)
def test_load_json_turns_recursion_and_huge_integers_into_the_given_error(text, words):
    with pytest.raises(OutputError, match=words):
        load_json(text, "the spec", OutputError)
    assert load_json(json.dumps({"a": [1, {"b": 2}]}), "the spec") == {"a": [1, {"b": 2}]}


def _error_of(function, *args):
    try:
        function(*args)
    except Exception as error:
        return error
    return None
