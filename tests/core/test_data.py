"""Finding, checking, downloading, loading and batching Fashion-MNIST."""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import struct
import urllib.error
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from fashion_desktop.core import data
from fashion_desktop.core.data import (
    FILES,
    OFFICIAL,
    augment_batch,
    download,
    ensure_data,
    find_raw_files,
    iterate_batches,
    load_arrays,
    load_fashion_mnist,
    read_idx,
)
from fashion_desktop.core.errors import DataError, UserError
from fashion_desktop.core.paths import default_data_dir, resolve_data_dir
from fashion_desktop.core.synthetic import idx_bytes, write_fashion_mnist


def raw_dir(root: Path) -> Path:
    return root / "FashionMNIST" / "raw"


def test_reads_synthetic_gz(fashion_root):
    raw = load_arrays(fashion_root)
    assert raw.train_images.shape == (300, 28, 28) and raw.train_images.dtype == np.uint8
    assert raw.train_labels.shape == (300,) and raw.test_labels.shape == (100,)
    assert raw.test_images.shape == (100, 28, 28)
    assert set(raw.train_labels.tolist()) == set(range(10))


def test_uncompressed_matches_gz(tmp_path, fashion_root):
    write_fashion_mnist(tmp_path, compress=False)
    paths = find_raw_files(tmp_path)
    assert all(p.suffix != ".gz" for p in paths.values())
    plain, packed = load_arrays(tmp_path), load_arrays(fashion_root)
    assert np.array_equal(plain.train_images, packed.train_images)
    assert np.array_equal(plain.test_labels, packed.test_labels)


def test_gzip_is_detected_by_content_not_name(tmp_path, fashion_root):
    path = tmp_path / "labels-without-suffix"
    path.write_bytes((raw_dir(fashion_root) / "train-labels-idx1-ubyte.gz").read_bytes())
    assert read_idx(path, 1).shape == (300,)


@pytest.mark.parametrize("layout", ["flat", "raw"])
def test_other_folder_layouts(tmp_path, fashion_root, layout):
    target = tmp_path if layout == "flat" else tmp_path / "raw"
    shutil.copytree(raw_dir(fashion_root), target, dirs_exist_ok=True)
    assert find_raw_files(tmp_path)["train_images"].parent == target
    assert len(load_arrays(tmp_path).train_labels) == 300


def test_missing_file_message_names_file_and_folder(tmp_path, fashion_root):
    shutil.copytree(raw_dir(fashion_root), raw_dir(tmp_path))
    (raw_dir(tmp_path) / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError) as info:
        find_raw_files(tmp_path)
    message = str(info.value)
    missing = message.split(" missing in ")[0]
    assert "t10k-labels-idx1-ubyte" in missing and "train-images" not in missing
    assert str(raw_dir(tmp_path)) in message and isinstance(info.value, UserError)
    # Shown by the command line and the GUI alike: it names every file and both layouts, and no CLI option.
    assert all(name in message for name in FILES.values()) and f"directly in {tmp_path} or in" in message
    assert "--data" not in message and "let Fashion Desktop download them (needs internet)" in message


def test_empty_folder_lists_all_files(tmp_path):
    with pytest.raises(DataError) as info:
        load_arrays(tmp_path / "nowhere")
    assert all(name in str(info.value) for name in FILES.values())


def test_truncated_file_names_the_file(tmp_path):
    write_fashion_mnist(tmp_path, compress=False)
    path = raw_dir(tmp_path) / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match="truncated") as info:
        load_arrays(tmp_path)
    assert str(path) in str(info.value) and "download it again" in str(info.value)


def test_too_long_and_truncated_gzip(tmp_path):
    long = tmp_path / "train-labels-idx1-ubyte"
    long.write_bytes(idx_bytes(np.zeros(5, np.uint8)) + b"\0")
    with pytest.raises(DataError, match="too long"):
        read_idx(long, 1)
    cut = tmp_path / "t10k-labels-idx1-ubyte.gz"
    cut.write_bytes(gzip.compress(idx_bytes(np.zeros(500, np.uint8)))[:-20])
    with pytest.raises(DataError, match="gzip") as info:
        read_idx(cut, 1)
    assert str(cut) in str(info.value)


def test_wrong_magic(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(idx_bytes(np.zeros(5, np.uint8)))  # a label file where images belong
    with pytest.raises(DataError, match="magic number") as info:
        read_idx(path, 3)
    assert str(path) in str(info.value)


def test_official_count_with_wrong_content_fails_checksum(tmp_path):
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(struct.pack(">IIII", 0x803, 10000, 28, 28) + bytes(10000 * 784))
    assert path.stat().st_size == OFFICIAL["test_images"][1]
    with pytest.raises(DataError, match="published checksum") as info:
        read_idx(path, 3)
    assert str(path) in str(info.value)


def test_bad_labels_and_mismatched_counts(tmp_path):
    write_fashion_mnist(tmp_path, compress=False)
    labels = raw_dir(tmp_path) / "t10k-labels-idx1-ubyte"
    labels.write_bytes(idx_bytes(np.full(100, 10, np.uint8)))
    with pytest.raises(DataError, match="0..9"):
        load_arrays(tmp_path)
    labels.write_bytes(idx_bytes(np.zeros(99, np.uint8)))
    with pytest.raises(DataError, match="99 labels"):
        load_arrays(tmp_path)


def test_resolve_data_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("FASHION_DESKTOP_DATA", str(tmp_path / "env"))
    assert resolve_data_dir(tmp_path / "cli") == tmp_path / "cli"
    assert resolve_data_dir(str(tmp_path / "cli")) == tmp_path / "cli"
    assert resolve_data_dir() == tmp_path / "env"
    monkeypatch.delenv("FASHION_DESKTOP_DATA")
    assert resolve_data_dir() == default_data_dir()
    assert default_data_dir().name == "data" and "fashion-desktop" in str(default_data_dir())


def _member_ids(x: torch.Tensor, reference: torch.Tensor) -> set[int]:
    """Indices into ``reference`` of the images in ``x`` (synthetic images are all distinct)."""
    flat = reference.flatten(1)
    return {int((flat == row).all(1).nonzero()[0]) for row in x.flatten(1)}


def test_split_sizes_determinism_and_no_overlap(fashion_root):
    a = load_fashion_mnist(fashion_root, val_size=50, seed=1)
    assert a.train_x.shape == (250, 1, 28, 28) and a.val_x.shape == (50, 1, 28, 28)
    assert a.test_x.shape == (100, 1, 28, 28)
    assert a.train_x.dtype == torch.float32 and a.train_y.dtype == torch.int64 and a.device == torch.device("cpu")
    assert a.test_images.shape == (100, 28, 28) and a.test_images.dtype == np.uint8
    b, c = load_fashion_mnist(fashion_root, val_size=50, seed=1), load_fashion_mnist(fashion_root, val_size=50, seed=2)
    assert torch.equal(a.val_x, b.val_x) and torch.equal(a.train_y, b.train_y)
    assert not torch.equal(a.val_x, c.val_x)
    everything = torch.cat([a.train_x, a.val_x])
    train_ids, val_ids = _member_ids(a.train_x, everything), _member_ids(a.val_x, everything)
    assert len(train_ids) == 250 and len(val_ids) == 50 and not train_ids & val_ids
    assert load_fashion_mnist(fashion_root, val_size=0).val_x.shape == (0, 1, 28, 28)


def test_val_size_too_large(fashion_root):
    with pytest.raises(DataError, match="300 training images"):
        load_fashion_mnist(fashion_root, val_size=300)


def test_normalisation(tmp_path):
    write_fashion_mnist(tmp_path, train=20, test=10, compress=False)
    path = raw_dir(tmp_path) / "t10k-images-idx3-ubyte"
    images = np.zeros((10, 28, 28), np.uint8)
    images[0, 0, 0], images[0, 0, 1] = 255, 51
    path.write_bytes(idx_bytes(images))
    loaded = load_fashion_mnist(tmp_path, val_size=5, mean=0.5, std=0.5)
    assert loaded.test_x[0, 0, 0, 0] == 1.0 and loaded.test_x[0, 0, 1, 1] == -1.0
    assert loaded.test_x[0, 0, 0, 1] == pytest.approx((0.2 - 0.5) / 0.5)
    other = load_fashion_mnist(tmp_path, val_size=5, mean=0.2860, std=0.3530)
    assert other.test_x[0, 0, 1, 1] == pytest.approx(-0.2860 / 0.3530) and other.mean == 0.2860


@pytest.mark.parametrize("shuffle", [False, True])
def test_iterate_batches_covers_every_sample_once(shuffle):
    x, y = torch.arange(23.0).reshape(23, 1, 1, 1), torch.arange(23)
    generator = torch.Generator().manual_seed(0) if shuffle else None
    batches = list(iterate_batches(x, y, 5, generator))
    assert [len(b[1]) for b in batches] == [5, 5, 5, 5, 3]
    order = torch.cat([b[1] for b in batches])
    assert sorted(order.tolist()) == list(range(23)) and (order.tolist() != list(range(23))) == shuffle
    assert all(torch.equal(bx.flatten(), by.float()) for bx, by in batches)


@pytest.mark.parametrize("shuffle", [False, True])
def test_iterate_batches_leaves_out_a_last_batch_of_one_sample(shuffle):
    # BatchNorm cannot train on a batch of one ("Expected more than 1 value per channel").
    x, y = torch.arange(21.0).reshape(21, 1, 1, 1), torch.arange(21)
    generator = torch.Generator().manual_seed(0) if shuffle else None
    batches = list(iterate_batches(x, y, 5, generator))
    assert [len(b[1]) for b in batches] == [5, 5, 5, 5]
    assert len(set(torch.cat([b[1] for b in batches]).tolist())) == 20
    assert data.batches_per_epoch(21, 5) == (4, 20) and data.batches_per_epoch(23, 5) == (5, 23)
    # Not when it is the only batch, nor when every batch holds one sample by choice.
    assert [len(b[1]) for b in iterate_batches(x[:1], y[:1], 5)] == [1]
    assert [len(b[1]) for b in iterate_batches(x[:3], y[:3], 1)] == [1, 1, 1]


def test_a_batchnorm_network_trains_when_one_sample_is_left_over(fashion_root):
    from fashion_desktop.core.engine import Trainer
    from fashion_desktop.core.presets import get_preset

    preset = get_preset("deep-mlp")  # 300 images - 50 held out = 250 = 249 + 1
    config = replace(preset.config, epochs=1, batch_size=249, val_size=50, device="cpu")
    trainer = Trainer(preset.spec, config)
    result = trainer.fit(trainer.load_data(fashion_root))
    assert len(result.history) == 1 and result.test is not None


def test_iterate_batches_reproducible_with_augmentation():
    x, y = torch.randn(10, 1, 28, 28), torch.arange(10)

    def run(seed: int) -> list[torch.Tensor]:
        return [b for b, _ in iterate_batches(x, y, 4, torch.Generator().manual_seed(seed), augment=True)]

    assert all(torch.equal(a, b) for a, b in zip(run(3), run(3), strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(run(3), run(4), strict=True))


def test_augment_batch_shape_reproducibility_and_content():
    x = torch.rand(64, 1, 28, 28) + 1  # all above the fill value
    a = augment_batch(x, torch.Generator().manual_seed(7), background=-1.0)
    b = augment_batch(x, torch.Generator().manual_seed(7), background=-1.0)
    assert a.shape == x.shape and a.dtype == x.dtype and torch.equal(a, b)
    assert not torch.equal(a, x)
    flipped = torch.flip(x, dims=[3])
    for original, mirrored, out in zip(x, flipped, a, strict=True):
        kept = out[out != -1.0]
        # Any shift keeps at least 26x26 pixels; all of them come from the image or its mirror image.
        assert kept.numel() >= 26 * 26
        assert set(kept.tolist()) <= set(original.flatten().tolist())
        assert any(
            torch.equal(out[:, 2:-2, 2:-2], torch.roll(img, (dy, dx), (1, 2))[:, 2:-2, 2:-2])
            for img in (original, mirrored)
            for dy in range(-2, 3)
            for dx in range(-2, 3)
        )


def test_augment_batch_flips_and_shifts_everything_eventually():
    x = torch.zeros(400, 1, 28, 28)
    x[:, 0, 10, 5] = 1.0  # a single bright pixel left of centre
    out = augment_batch(x, torch.Generator().manual_seed(0), background=0.0)
    where = out[:, 0].flatten(1).argmax(1)
    assert torch.equal(out.sum((1, 2, 3)), torch.ones(400))  # shifts of at most 2 never push the pixel out
    assert {int(i) // 28 for i in where} == set(range(8, 13))
    assert {int(i) % 28 for i in where} == set(range(3, 8)) | set(range(20, 25))  # 22 = 27 - 5: flipped


def _mirror(tmp_path: Path) -> tuple[str, list[tuple[str, str]]]:
    source = raw_dir(write_fashion_mnist(tmp_path / "mirror"))
    names = [f"{name}.gz" for name in FILES.values()]
    resources = [(name, hashlib.md5((source / name).read_bytes()).hexdigest()) for name in names]
    return source.as_uri(), resources


def test_download_from_file_mirror(tmp_path):
    mirror, resources = _mirror(tmp_path)
    calls: list[tuple[int, int]] = []
    root = tmp_path / "dest"
    assert download(root, lambda done, total: calls.append((done, total)), [mirror], resources) == root
    assert sorted(p.name for p in raw_dir(root).iterdir()) == sorted(name for name, _ in resources)
    umask = os.umask(0)
    os.umask(umask)
    assert {p.stat().st_mode & 0o777 for p in raw_dir(root).iterdir()} == {0o666 & ~umask}  # not 0600
    assert calls and calls[-1][0] == calls[-1][1] == sum(p.stat().st_size for p in raw_dir(root).iterdir())
    assert all(done <= total for done, total in calls)
    assert len(load_arrays(root).train_labels) == 300
    calls.clear()  # a second run finds every file valid and fetches nothing
    download(root, lambda done, total: calls.append((done, total)), ["file:///nonexistent"], resources)
    assert calls[-1][0] == calls[-1][1]


def test_download_tries_the_next_mirror(tmp_path):
    mirror, resources = _mirror(tmp_path)
    download(tmp_path / "dest", None, [(tmp_path / "empty").as_uri(), mirror], resources)
    assert len(find_raw_files(tmp_path / "dest")) == 4


def test_download_wrong_md5_leaves_nothing(tmp_path):
    mirror, resources = _mirror(tmp_path)
    resources[0] = (resources[0][0], "0" * 32)
    with pytest.raises(DataError, match="could not download Fashion-MNIST") as info:
        download(tmp_path / "dest", None, [mirror], resources)
    message = str(info.value)
    assert "checksum" in message and "--data" not in message and "choose another data folder" in message
    assert all(name in message for name in FILES.values()) and str(raw_dir(tmp_path / "dest")) in message
    assert list(raw_dir(tmp_path / "dest").iterdir()) == []


def test_ensure_data(tmp_path, fashion_root):
    assert ensure_data(fashion_root, allow_download=False) == fashion_root
    with pytest.raises(DataError, match="not found"):
        ensure_data(tmp_path, allow_download=False)
    assert not raw_dir(tmp_path).exists()


def test_ensure_data_downloads_when_missing(tmp_path, monkeypatch):
    mirror, resources = _mirror(tmp_path)
    monkeypatch.setattr(data, "download", lambda root, progress: download(root, progress, [mirror], resources))
    assert ensure_data(tmp_path / "dest") == tmp_path / "dest"
    assert len(load_arrays(tmp_path / "dest").test_labels) == 100


def test_a_failed_download_leaves_no_folders_it_created_and_keeps_those_that_were_there(tmp_path, monkeypatch):
    mirror, resources = _mirror(tmp_path)
    offline = [(tmp_path / "nowhere").as_uri()]
    monkeypatch.setattr(data, "download", lambda root, progress: download(root, progress, offline, resources))
    with pytest.raises(DataError, match="could not download"):
        ensure_data(tmp_path / "new" / "data")
    assert not (tmp_path / "new" / "data").exists() and (tmp_path / "new").is_dir()  # only what it created
    kept = tmp_path / "kept"
    (kept / "FashionMNIST").mkdir(parents=True)
    (kept / "FashionMNIST" / "notes.txt").write_text("mine")
    with pytest.raises(DataError):
        ensure_data(kept)
    assert sorted(p.name for p in (kept / "FashionMNIST").iterdir()) == ["notes.txt"]  # raw/ was the download's

    def stopped(done: int, total: int) -> None:
        raise KeyboardInterrupt  # a stop raised from the progress callback, as the GUI's Stop does

    monkeypatch.setattr(data, "download", lambda root, progress: download(root, progress, [mirror], resources))
    with pytest.raises(KeyboardInterrupt):
        ensure_data(tmp_path / "stopped", progress=stopped)
    assert not (tmp_path / "stopped").exists()


def test_an_unreachable_mirror_is_said_in_plain_words():
    offline = urllib.error.URLError(OSError(-3, "Temporary failure in name resolution"))
    assert data._download_failure("https://example.org/a.gz", offline) == (
        "example.org could not be reached: no internet connection?"
    )


@pytest.mark.real_data
def test_real_data_checksums(real_data_root):
    raw = load_arrays(real_data_root)  # files with the official counts are checked against the published md5s
    assert raw.train_images.shape == (60000, 28, 28) and raw.test_images.shape == (10000, 28, 28)
    assert np.bincount(raw.train_labels).tolist() == [6000] * 10
    assert np.bincount(raw.test_labels).tolist() == [1000] * 10


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_augment_batch_same_on_gpu():
    x = torch.randn(32, 1, 28, 28)
    cpu = augment_batch(x, torch.Generator().manual_seed(5), background=-1.0)
    gpu = augment_batch(x.cuda(), torch.Generator().manual_seed(5), background=-1.0)
    assert torch.equal(cpu, gpu.cpu())


def test_a_gzip_bomb_is_refused_without_inflating_it(tmp_path, monkeypatch):
    """An 8 MB .gz that inflates to 8 GiB gave a MemoryError traceback; the inflation now stops at the cap."""
    import resource

    monkeypatch.setattr(data, "MAX_IDX_BYTES", 1 << 20)
    header = struct.pack(">IIII", 0x803, 1 << 20, 28, 28)  # promises far more than the cap
    bomb = tmp_path / "train-images-idx3-ubyte.gz"
    with gzip.open(bomb, "wb", compresslevel=9) as out:
        out.write(header)
        for _ in range(64):
            out.write(bytes(1 << 20))  # 64 MiB of zeros: a few dozen KiB compressed
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(DataError, match="unpacks to more than 1 MiB"):
        read_idx(bomb, 3)
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 32 * 1024  # never near the 64 MiB it would inflate to


def test_concatenated_gzip_members_still_read(tmp_path):
    payload = idx_bytes(np.zeros((2, 28, 28), dtype=np.uint8))
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(payload[:100]) + gzip.compress(payload[100:]))
    assert read_idx(path, 3).shape == (2, 28, 28)


def test_a_data_file_that_is_a_fifo_is_refused(tmp_path):
    import os

    fifo = tmp_path / "train-images-idx3-ubyte"
    os.mkfifo(fifo)
    with pytest.raises(DataError, match="named pipe"):
        read_idx(fifo, 3)


@pytest.mark.parametrize(("train", "test"), [(0, 100), (300, 0)])
def test_an_empty_split_is_refused_with_a_clear_message(tmp_path, train, test):
    root = write_fashion_mnist(tmp_path, train=train, test=test)
    with pytest.raises(DataError, match="holds no images") as caught:
        load_fashion_mnist(root, val_size=0)
    assert "0 to -1" not in str(caught.value)
