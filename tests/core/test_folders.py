"""Image-folder datasets: both layouts, seeded splits, the cache, cancel, and a clear DataError for each bad input."""

from __future__ import annotations

import io
import os
import struct
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fashion_desktop.core import folders, segment
from fashion_desktop.core.errors import DataError
from fashion_desktop.core.folders import (
    FramingSettings,
    ImportCancelled,
    discover_layout,
    load_image_folder,
)
from fashion_desktop.core.imaging import IMAGE_SUFFIXES

SHARED_PHOTOS = Path(os.environ.get("FASHION_DESKTOP_PHOTOS", "/work/shared/data/clothing-photos"))


def garment_photo(label: int, index: int, size: tuple[int, int] = (60, 80), mode: str = "RGB") -> Image.Image:
    """A dark shape on a light background; its shape depends on the class, its position a little on ``index``."""
    width, height = size
    pixels = np.full((height, width, 3), 235, dtype=np.uint8)
    left, top = width // 4 + index % 3, height // 5 + index % 2
    right = width - width // 4 if label % 2 == 0 else width // 2
    pixels[top : height - height // 5, left:right] = (30 + 40 * label, 40, 90)
    return Image.fromarray(pixels).convert(mode)


def make_classes(folder: Path, classes: dict[str, int], suffix: str = ".png", size: tuple[int, int] = (60, 80)) -> None:
    for label, (name, count) in enumerate(classes.items()):
        (folder / name).mkdir(parents=True, exist_ok=True)
        for index in range(count):
            garment_photo(label, index, size).save(folder / name / f"{index:03d}{suffix}")


@pytest.fixture
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")  # outside tmp_path, where it would look like a class folder


def load(root: Path, cache: Path, **kwargs) -> folders.ImageFolderData:
    return load_image_folder(root, cache_dir=cache, workers=2, **kwargs)


# --- layouts and splits ---------------------------------------------------------------------------------------


def test_flat_layout_gives_classes_from_folders_and_stratified_splits(tmp_path, cache):
    make_classes(tmp_path / "photos", {"shirt": 20, "Shoes": 10, "bag": 10})
    data = load(tmp_path / "photos", cache)
    assert data.class_names == ("Shoes", "bag", "shirt")  # code-point order, as torchvision's find_classes
    assert data.train_images.shape[1:] == (1, 28, 28) and data.train_images.dtype == np.uint8
    assert data.input_shape == (1, 28, 28)
    # 10% of each class for validation and for test: 2 of the 20 shirts, 1 of each 10
    assert data.class_counts("validation") == {"Shoes": 1, "bag": 1, "shirt": 2}
    assert data.class_counts("test") == {"Shoes": 1, "bag": 1, "shirt": 2}
    assert data.class_counts("train") == {"Shoes": 8, "bag": 8, "shirt": 16}
    assert len(data.train_labels) == len(data.train_images) and data.train_labels.dtype == np.int64
    assert data.skipped == () and data.from_folders == {"train"}
    # The fallback framing puts the dark garment bright on black
    assert data.train_images[:, 0, 0, 0].max() == 0 and data.train_images.max() > 150


def test_splits_are_deterministic_by_seed(tmp_path, cache):
    make_classes(tmp_path, {"a": 15, "b": 15})
    first, again = load(tmp_path, cache, seed=3), load(tmp_path, cache, seed=3)
    other = load(tmp_path, cache, seed=4)
    for split in ("train_images", "val_images", "test_images"):
        assert np.array_equal(getattr(first, split), getattr(again, split))
    assert not np.array_equal(first.val_images, other.val_images)


def test_nested_layout_reads_validation_folder_and_splits_test_off_train(tmp_path, cache):
    make_classes(tmp_path / "train", {"dress": 10, "hat": 10})
    make_classes(tmp_path / "validation", {"dress": 3, "hat": 2})
    layout = discover_layout(tmp_path)
    assert layout.nested and set(layout.split_folders) == {"train", "validation"}
    data = load(tmp_path, cache, test_fraction=0.2)
    assert data.class_counts("validation") == {"dress": 3, "hat": 2}  # the folder's own, nothing split off
    assert data.class_counts("test") == {"dress": 2, "hat": 2}
    assert data.class_counts("train") == {"dress": 8, "hat": 8}
    assert data.from_folders == {"train", "validation"}


def test_nested_layout_with_test_folder_and_a_class_missing_there(tmp_path, cache):
    make_classes(tmp_path / "Train", {"a": 6, "b": 6})  # folder names match case-insensitively
    make_classes(tmp_path / "test", {"a": 2})
    data = load(tmp_path, cache, val_fraction=0.0)
    assert data.class_counts("test") == {"a": 2, "b": 0}
    assert len(data.val_images) == 0 and data.val_images.shape[1:] == (1, 28, 28)


def test_colour_and_size_settings_and_fashion_data(tmp_path, cache):
    make_classes(tmp_path, {"a": 5, "b": 5})
    data = load(tmp_path, cache, settings=FramingSettings(size=32, color=True, framing="whole"))
    assert data.train_images.shape[1:] == (3, 32, 32)
    fashion = data.to_fashion_data("cpu", mean=0.5, std=0.5)
    assert fashion.class_names == ("a", "b") and fashion.train_x.shape[1:] == (3, 32, 32)
    assert float(fashion.train_x.min()) == -1.0 and fashion.train_y.dtype.is_floating_point is False
    assert fashion.test_images.shape[1:] == (32, 32, 3)


def test_images_found_in_nested_subfolders_of_a_class(tmp_path, cache):
    make_classes(tmp_path, {"a": 3, "b": 3})
    make_classes(tmp_path / "a" / "more", {"deeper": 2})
    data = load(tmp_path, cache, val_fraction=0, test_fraction=0)
    assert data.class_counts() == {"a": 5, "b": 3}


def test_mixed_sizes_and_colour_modes(tmp_path, cache):
    make_classes(tmp_path, {"a": 1, "b": 1})
    base = garment_photo(0, 0, (90, 50))
    base.convert("RGBA").save(tmp_path / "a" / "rgba.png")
    base.convert("P").save(tmp_path / "a" / "palette.gif")
    base.convert("L").resize((400, 300)).save(tmp_path / "a" / "grey.jpg")
    base.convert("CMYK").save(tmp_path / "b" / "cmyk.jpg")
    Image.fromarray(np.asarray(base.convert("L")).astype(np.uint16) * 257).save(tmp_path / "b" / "sixteen.png")
    base.convert("1").save(tmp_path / "b" / "bilevel.bmp")
    for settings in (FramingSettings(), FramingSettings(size=40, color=True)):
        data = load(tmp_path, cache, settings=settings, val_fraction=0, test_fraction=0)
        assert data.skipped == ()
        assert data.class_counts() == {"a": 4, "b": 4}
        assert data.train_images.shape[1:] == (settings.channels, settings.size, settings.size)


# --- cache, progress, cancel ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_second_load_comes_from_the_cache_much_faster_and_equal(tmp_path, cache):
    make_classes(tmp_path, {"a": 30, "b": 30}, suffix=".jpg", size=(900, 1200))
    started = time.perf_counter()
    first = load(tmp_path, cache)
    first_seconds = time.perf_counter() - started
    started = time.perf_counter()
    second = load(tmp_path, cache)
    second_seconds = time.perf_counter() - started
    assert first.cached == 0 and second.cached == 60
    assert second_seconds < first_seconds / 3
    for split in ("train_images", "train_labels", "val_images", "test_images", "test_labels"):
        assert np.array_equal(getattr(first, split), getattr(second, split))


def test_changed_file_is_framed_again_and_other_settings_miss_the_cache(tmp_path, cache):
    make_classes(tmp_path, {"a": 4, "b": 4})
    load(tmp_path, cache)
    changed = tmp_path / "a" / "000.png"
    garment_photo(1, 1).save(changed)
    os.utime(changed, ns=(1, 1))  # a different mtime even on file systems with coarse timestamps
    again = load(tmp_path, cache)
    assert again.cached == 7
    assert load(tmp_path, cache, settings=FramingSettings(size=30)).cached == 0


def test_progress_reaches_the_total(tmp_path, cache):
    make_classes(tmp_path, {"a": 5, "b": 5})
    calls: list[tuple[int, int]] = []
    load(tmp_path, cache, progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (10, 10) and all(done <= total for done, total in calls)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


def test_cancel_stops_and_keeps_what_was_framed(tmp_path, cache):
    make_classes(tmp_path, {"a": 20, "b": 20})
    cancel = threading.Event()

    def progress(done: int, total: int) -> None:
        if done >= 5:
            cancel.set()

    with pytest.raises(ImportCancelled, match="cancelled"):
        load(tmp_path, cache, progress=progress, cancel=cancel)
    resumed = load(tmp_path, cache)
    assert 5 <= resumed.cached < 40  # the work before the cancel was kept, the rest was done now
    assert load(tmp_path, cache).cached == 40


def test_big_jpegs_are_decoded_near_the_framing_size_with_the_same_result(tmp_path, cache, monkeypatch):
    make_classes(tmp_path, {"a": 2, "b": 2}, suffix=".jpg", size=(1200, 1600))
    decoded: list[tuple[int, int]] = []
    real_open = folders.open_image

    def spy(path, **kwargs):
        image = real_open(path, **kwargs)
        decoded.append(image.size)
        return image

    monkeypatch.setattr(folders, "open_image", spy)
    data = load(tmp_path, cache)
    side = segment.frame_side(28)
    assert len(decoded) == 4
    assert all(side <= min(size) and max(size) <= 1600 // 4 for size in decoded)  # a quarter scale, not full
    # The framing barely notices: the same garment, a few grey levels apart at its edges
    full = segment.frame_photo(Image.open(tmp_path / "a" / "000.jpg"))
    drafted = data.train_images[data.train_labels == 0][0, 0]
    assert np.mean(np.abs(full.astype(int) - drafted)) < 4


def test_damaged_cache_is_ignored(tmp_path, cache):
    make_classes(tmp_path, {"a": 3, "b": 3})
    load(tmp_path, cache)
    for path in cache.iterdir():
        path.write_bytes(b"not an npz")
    assert load(tmp_path, cache).cached == 0


def test_process_pool_gives_the_same_images(tmp_path, cache):
    make_classes(tmp_path, {"a": 3, "b": 3})
    threads = load(tmp_path, cache / "t")
    processes = load(tmp_path, cache / "p", executor="process")
    assert np.array_equal(threads.train_images, processes.train_images)


# --- bad input ------------------------------------------------------------------------------------------------


def test_no_class_subfolders(tmp_path, cache):
    garment_photo(0, 0).save(tmp_path / "loose.png")
    with pytest.raises(DataError, match=rf"{tmp_path} has no class subfolders \(its images lie directly in it\)"):
        load(tmp_path, cache)


def test_a_single_class(tmp_path, cache):
    make_classes(tmp_path, {"only": 3})
    with pytest.raises(DataError, match=rf"{tmp_path} holds a single class folder \(only\).*at least 2"):
        load(tmp_path, cache)


def test_an_empty_class_folder(tmp_path, cache):
    make_classes(tmp_path, {"a": 3})
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    with pytest.raises(DataError, match=rf"{tmp_path / 'empty'} holds no images.*add images to it or remove"):
        load(tmp_path, cache)


@pytest.mark.slow
def test_ten_thousand_tiny_classes(tmp_path, cache):
    for index in range(10_000):
        (tmp_path / f"c{index}").mkdir()
    with pytest.raises(DataError, match=rf"{tmp_path} holds 10000 class folders, more than the 100 supported"):
        load(tmp_path, cache)


def test_a_class_folder_that_is_a_symlink_loop(tmp_path, cache):
    make_classes(tmp_path, {"a": 3, "b": 3})
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    with pytest.raises(DataError, match=rf"{tmp_path / 'loop'} cannot be opened .*symbolic link that loops"):
        load(tmp_path, cache)


def test_a_link_back_to_a_parent_inside_a_class_is_read_once(tmp_path, cache):
    make_classes(tmp_path, {"a": 3, "b": 3})
    (tmp_path / "a" / "again").symlink_to(tmp_path / "a")
    data = load(tmp_path, cache, val_fraction=0, test_fraction=0)
    assert data.class_counts() == {"a": 3, "b": 3}
    assert [s.path.name for s in data.skipped] == ["again"] and "loop" in data.skipped[0].reason


def png_claiming(width: int, height: int) -> bytes:
    """A tiny valid PNG whose header claims other dimensions, as in a decompression bomb."""
    buffer = io.BytesIO()
    Image.new("L", (8, 8)).save(buffer, "PNG")
    png = buffer.getvalue()
    ihdr = b"IHDR" + struct.pack(">II", width, height) + png[24:29]
    return png[:12] + ihdr + struct.pack(">I", zlib.crc32(ihdr)) + png[33:]


def test_hostile_and_unreadable_images_are_skipped_and_listed(tmp_path, cache):
    make_classes(tmp_path, {"a": 3, "b": 3})
    good = (tmp_path / "a" / "000.png").read_bytes()
    (tmp_path / "a" / "truncated.png").write_bytes(good[: len(good) // 2])
    (tmp_path / "a" / "empty.jpg").write_bytes(b"")
    (tmp_path / "b" / "text.jpg").write_text("hello, I am not a photo")
    (tmp_path / "b" / "huge.png").write_bytes(png_claiming(60_000, 60_000))
    started = time.perf_counter()
    data = load(tmp_path, cache, val_fraction=0, test_fraction=0)
    assert time.perf_counter() - started < 10  # the 60,000 x 60,000 PNG is refused from its header
    assert data.class_counts() == {"a": 3, "b": 3}
    reasons = {s.path.name: s.reason for s in data.skipped}
    assert set(reasons) == {"truncated.png", "empty.jpg", "text.jpg", "huge.png"}
    assert reasons["huge.png"].startswith("huge.png is too large to open safely")
    assert "empty" in reasons["empty.jpg"] and "not an image" in reasons["text.jpg"]
    # The skipped files stay listed when the rest comes from the cache
    assert {s.path.name for s in load(tmp_path, cache, val_fraction=0, test_fraction=0).skipped} == set(reasons)


def test_a_class_whose_images_are_all_unreadable(tmp_path, cache):
    make_classes(tmp_path, {"a": 3})
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with pytest.raises(DataError, match=rf"none of the images in {tmp_path / 'b'} could be read"):
        load(tmp_path, cache)


def test_a_validation_class_that_train_lacks(tmp_path, cache):
    make_classes(tmp_path / "train", {"a": 3, "b": 3})
    make_classes(tmp_path / "val", {"a": 1, "c": 1})
    with pytest.raises(DataError, match=rf"{tmp_path / 'val'} has class folders that .*train lacks: c"):
        load(tmp_path, cache)


def test_a_folder_that_does_not_exist_or_is_a_file(tmp_path, cache):
    with pytest.raises(DataError, match=rf"{tmp_path / 'missing'} does not exist"):
        load(tmp_path / "missing", cache)
    (tmp_path / "file.png").write_bytes(b"x")
    with pytest.raises(DataError, match="is a file, not a folder"):
        load(tmp_path / "file.png", cache)


def test_non_utf8_names(tmp_path, cache):
    make_classes(tmp_path, {"a": 3, "b": 3})
    odd_file = os.fsdecode(os.fsencode(tmp_path / "a") + b"/caf\xe9.png")  # Latin-1 bytes, not UTF-8
    garment_photo(0, 5).save(odd_file, "PNG")
    data = load(tmp_path, cache, val_fraction=0, test_fraction=0)
    assert data.class_counts() == {"a": 4, "b": 3}  # a file's name only has to be openable
    os.mkdir(os.fsencode(tmp_path) + b"/\xff\xfeclass")
    with pytest.raises(DataError, match="\ufffd\ufffdclass has a name that is not valid UTF-8 text.*rename it"):
        load(tmp_path, cache)


@pytest.mark.parametrize(
    ("settings", "message"),
    [({"size": 4}, "input size must be 8 to 256"), ({"framing": "zoom"}, "framing must be one of")],
)
def test_bad_settings(settings, message):
    with pytest.raises(DataError, match=message):
        FramingSettings(**settings)


def test_hidden_folders_are_not_classes(tmp_path, cache):
    make_classes(tmp_path, {"a": 2, "b": 2, ".thumbnails": 2, "__MACOSX": 1})
    assert discover_layout(tmp_path).class_names == ("a", "b")


# --- the real photos ------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.real_data
def test_real_clothing_photos(tmp_path):
    if not (SHARED_PHOTOS / "train").is_dir():
        pytest.skip(f"the clothing photos are not in {SHARED_PHOTOS}")
    data = load_image_folder(SHARED_PHOTOS, cache_dir=tmp_path)
    assert len(data.class_names) == 10 and "t-shirt" in data.class_names
    assert data.from_folders == {"train", "validation"}
    files = [path for path in SHARED_PHOTOS.rglob("*") if path.suffix.lower() in IMAGE_SUFFIXES]
    total = len(data.train_images) + len(data.val_images) + len(data.test_images) + len(data.skipped)
    assert total == len(files)
    assert min(data.class_counts("train").values()) > 0
