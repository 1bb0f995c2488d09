"""Image decoding and preprocessing: users' photos become Fashion-MNIST-like 28x28 inputs, bad files clear errors."""

from __future__ import annotations

import gzip
import io
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fashion_desktop.core.errors import ImageError, UserError
from fashion_desktop.core.imaging import (
    FIT_SIZE,
    IMAGE_SUFFIXES,
    MAX_PIXELS,
    PREVIEW_SIZE,
    PreprocessOptions,
    open_image,
    preprocess_file,
    to_model_input,
)
from fashion_desktop.core.synthetic import make_images

SAMPLES = Path(__file__).resolve().parents[2] / "resources" / "samples"


def garment_mask(size: tuple[int, int], box: tuple[int, int, int, int]) -> np.ndarray:
    """A T-shirt-like silhouette filling ``box`` (left, top, right, bottom) on a canvas of ``size`` (w, h)."""
    width, height = size
    left, top, right, bottom = box
    ys, xs = np.mgrid[0:height, 0:width]
    body = (xs >= left + (right - left) // 4) & (xs < right - (right - left) // 4) & (ys >= top) & (ys < bottom)
    sleeves = (xs >= left) & (xs < right) & (ys >= top) & (ys < top + (bottom - top) // 3)
    return body | sleeves


def dark_on_light(size: tuple[int, int], box: tuple[int, int, int, int], garment: int = 40, background: int = 250):
    pixels = np.full((size[1], size[0]), background, dtype=np.uint8)
    pixels[garment_mask(size, box)] = garment
    return Image.fromarray(pixels)


def bright_box(result: np.ndarray, threshold: int = 64) -> tuple[int, int]:
    """Height and width of the bounding box of the bright pixels."""
    rows, cols = np.flatnonzero((result > threshold).any(axis=1)), np.flatnonzero((result > threshold).any(axis=0))
    return int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)


def centre_of_mass(result: np.ndarray) -> tuple[float, float]:
    weights = result.astype(np.float64)
    ys, xs = np.mgrid[0:28, 0:28]
    return float((ys * weights).sum() / weights.sum()), float((xs * weights).sum() / weights.sum())


def corners(result: np.ndarray) -> np.ndarray:
    return np.array([result[0, 0], result[0, -1], result[-1, 0], result[-1, -1]])


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def with_ihdr_size(png: bytes, width: int, height: int) -> bytes:
    """The same PNG with the IHDR chunk claiming other dimensions (and a matching CRC), as a decompression bomb."""
    assert png[12:16] == b"IHDR"
    ihdr = b"IHDR" + struct.pack(">II", width, height) + png[24:29]
    return png[:12] + ihdr + struct.pack(">I", zlib.crc32(ihdr)) + png[33:]


# --- Fashion-MNIST images pass through --------------------------------------------------------------------------


def test_fashion_mnist_like_images_come_back_byte_identical(tmp_path):
    images = make_images(np.arange(20) % 10, np.random.default_rng(1))  # garment bars on a noisy dark background
    for image in images:
        result = to_model_input(Image.fromarray(image))
        assert result.dtype == np.uint8 and result.shape == (28, 28)
        np.testing.assert_array_equal(result, image)
    path = tmp_path / "digit.png"
    Image.fromarray(images[0]).save(path)
    np.testing.assert_array_equal(preprocess_file(path)[1], images[0])


@pytest.mark.real_data
def test_real_fashion_mnist_test_images_come_back_byte_identical(real_data_root):
    raw = real_data_root / "FashionMNIST" / "raw" / "t10k-images-idx3-ubyte.gz"
    images = np.frombuffer(gzip.decompress(raw.read_bytes()), dtype=np.uint8, offset=16).reshape(-1, 28, 28)
    for image in images[:500]:
        np.testing.assert_array_equal(to_model_input(Image.fromarray(image)), image)


def test_result_is_a_fresh_writable_array():
    image = make_images(np.array([3]), np.random.default_rng(0))[0]
    source = Image.fromarray(image)
    result = to_model_input(source)
    result[:] = 0  # must not write through to the caller's image
    assert result.flags.c_contiguous and result.flags.writeable
    np.testing.assert_array_equal(np.asarray(source), image)


# --- photos are inverted, cropped, scaled and centred ---------------------------------------------------------


def test_dark_garment_on_white_is_inverted_cropped_and_centred():
    photo = dark_on_light((400, 300), (40, 30, 200, 250))  # 160 x 220, off centre towards the top left
    result = to_model_input(photo)
    assert result.shape == (28, 28) and result.dtype == np.uint8
    assert corners(result).max() == 0  # the white background became pure black, like Fashion-MNIST's
    assert result.max() >= 200  # the dark garment became bright
    height, width = bright_box(result)
    assert height == FIT_SIZE  # the longer side fills the frame, as in Fashion-MNIST
    assert abs(width - round(FIT_SIZE * 160 / 220)) <= 1
    row, col = centre_of_mass(result)
    assert abs(col - 13.5) < 1.0 and abs(row - 13.5) < 3.0  # the T-shirt's sleeves pull the mass up a little


def test_grey_background_is_levelled_to_black():
    box = (50, 50, 250, 200)
    result = to_model_input(dark_on_light((300, 300), box, garment=30, background=205))
    on_white = to_model_input(dark_on_light((300, 300), box, garment=30, background=255))
    assert corners(result).max() == 0
    assert abs(int(result[14, 14]) - int(on_white[14, 14])) <= 10  # the garment as bright as on a white background


def test_tall_thin_object_keeps_its_aspect_ratio():
    pixels = np.full((500, 500), 255, dtype=np.uint8)
    pixels[100:400, 230:270] = 0  # 300 tall, 40 wide
    height, width = bright_box(to_model_input(Image.fromarray(pixels)))
    assert height == FIT_SIZE
    assert abs(width - FIT_SIZE * 40 / 300) <= 1


def test_noise_specks_do_not_stretch_the_crop():
    rng = np.random.default_rng(0)
    pixels = np.clip(rng.normal(245, 3, (400, 400)), 0, 255).astype(np.uint8)
    pixels[150:250, 100:300] = 30  # 200 wide, 100 tall
    pixels[5, 5] = pixels[390, 20] = 0  # dust on the scan
    height, width = bright_box(to_model_input(Image.fromarray(pixels)))
    assert width == FIT_SIZE and abs(height - FIT_SIZE // 2) <= 1


def test_transparent_background_is_flattened_onto_white_then_inverted():
    mask = garment_mask((300, 300), (60, 40, 240, 260))
    rgba = np.zeros((300, 300, 4), dtype=np.uint8)  # transparent black: wrong unless the alpha is honoured
    rgba[mask] = (50, 40, 120, 255)
    result = to_model_input(Image.fromarray(rgba, "RGBA"))
    assert corners(result).max() == 0
    assert result.max() >= 180
    opaque = Image.fromarray(rgba[..., :3], "RGB").convert("RGBA")
    opaque.putalpha(255)
    on_white = Image.new("RGB", (300, 300), "white")
    on_white.paste(opaque, mask=Image.fromarray((mask * 255).astype(np.uint8)))
    np.testing.assert_allclose(result, to_model_input(on_white), atol=1)


def test_exif_orientation_is_applied(tmp_path):
    pixels = np.full((100, 200, 3), 255, dtype=np.uint8)  # stored landscape
    pixels[:30, :30] = 0  # a dark marker in the stored top-left corner
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: the camera was turned, display rotated 90 degrees clockwise
    path = tmp_path / "phone.jpg"
    Image.fromarray(pixels).save(path, exif=exif, quality=95)
    image = open_image(path)
    assert image.size == (100, 200)  # shown portrait
    upright = np.asarray(image.convert("L"))
    assert upright[:30, -30:].mean() < 30  # a clockwise quarter turn takes top-left to top-right
    assert upright[:30, :30].mean() > 220
    assert to_model_input(image).shape == (28, 28)


def test_invert_off_keeps_the_garments_tones():
    photo = dark_on_light((300, 300), (50, 80, 250, 220))
    auto, off = to_model_input(photo), to_model_input(photo, PreprocessOptions(invert="off"))
    assert corners(auto).max() == 0 and auto[14, 14] >= 200
    assert corners(off).max() == 0  # the separated background is black whatever the inversion
    assert 20 <= off[14, 14] < 100  # the dark garment stays dark
    unseparated = to_model_input(photo, PreprocessOptions(invert="off", separation="none"))
    assert corners(unseparated).min() >= 240  # without separation it is left as it was: dark on light
    assert unseparated[14, 14] < 100


def test_invert_on_flips_a_dark_background():
    pixels = np.zeros((200, 200), dtype=np.uint8)
    pixels[40:160, 60:140] = 220  # already bright on black
    auto = to_model_input(Image.fromarray(pixels))
    on = to_model_input(Image.fromarray(pixels), PreprocessOptions(invert="on"))
    assert corners(auto).max() == 0 and auto[14, 14] >= 200  # a dark background is not inverted
    assert corners(on).max() == 0 and on[14, 14] < 60  # the garment is, its separated background stays black
    unseparated = to_model_input(Image.fromarray(pixels), PreprocessOptions(invert="on", separation="none"))
    assert corners(unseparated).min() == 255 and unseparated[14, 14] < 60


def test_invert_on_for_a_28x28_image_is_the_negative():
    image = make_images(np.array([5]), np.random.default_rng(2))[0]
    np.testing.assert_array_equal(to_model_input(Image.fromarray(image), PreprocessOptions(invert="on")), 255 - image)


def test_crop_off_keeps_the_framing():
    photo = dark_on_light((400, 400), (150, 150, 250, 250))  # a 100-pixel garment in a 400-pixel photo
    cropped = to_model_input(photo)
    framed = to_model_input(photo, PreprocessOptions(crop=False))
    assert max(bright_box(cropped)) == FIT_SIZE
    assert abs(max(bright_box(framed)) - 7) <= 1  # 100/400 of 28 pixels
    assert corners(framed).max() <= 10  # the whole photo, its white background negated
    old = to_model_input(photo, PreprocessOptions(crop=False, separation="none"))
    assert abs(max(bright_box(old)) - 7) <= 1 and corners(old).max() == 0  # the old path levels it to 0


def test_contrast_stretch_reaches_0_and_255():
    pixels = np.full((300, 300), 170, dtype=np.uint8)  # a faint garment on a light grey background
    pixels[50:250, 80:220] = 120
    plain = to_model_input(Image.fromarray(pixels))
    stretched = to_model_input(Image.fromarray(pixels), PreprocessOptions(contrast=True))
    assert plain.max() < 255
    assert stretched.min() == 0 and stretched.max() == 255
    low = make_images(np.array([1]), np.random.default_rng(3))[0] // 2  # a dim 28x28 image
    stretched = to_model_input(Image.fromarray(low), PreprocessOptions(contrast=True))
    assert stretched.min() == 0 and stretched.max() == 255


def test_invalid_options_are_rejected():
    with pytest.raises(ValueError, match="invert"):
        PreprocessOptions(invert="yes")
    with pytest.raises(ValueError, match="separation must be one of grabcut, border, none"):
        PreprocessOptions(separation="magic")


@pytest.mark.parametrize("separation", ["grabcut", "border", "none"])
def test_every_separation_frames_a_photo_bright_on_black(separation):
    photo = dark_on_light((400, 300), (40, 30, 200, 250))
    result = to_model_input(photo, PreprocessOptions(separation=separation))
    assert result.shape == (28, 28) and result.dtype == np.uint8
    assert corners(result).max() == 0 and result.max() >= 200
    assert max(bright_box(result)) == FIT_SIZE


@pytest.mark.parametrize("mode", ["1", "L", "P", "RGB", "RGBA", "LA", "PA", "CMYK", "I;16", "I", "F"])
def test_every_common_pixel_format_gives_a_bright_on_black_input(mode):
    photo = dark_on_light((120, 90), (20, 10, 100, 80), garment=0, background=255)
    if mode in ("I;16", "I"):
        converted = Image.fromarray(np.asarray(photo).astype(np.uint16) * 257)  # full 16-bit range
        converted = converted if mode == "I;16" else converted.convert("I")
    elif mode == "F":
        converted = Image.fromarray(np.asarray(photo).astype(np.float32) / 255.0)  # floats in 0..1
    else:
        converted = photo.convert(mode)
    result = to_model_input(converted)
    assert result.shape == (28, 28) and result.dtype == np.uint8
    assert corners(result).max() == 0 and result.max() >= 250


def test_bytes_and_pil_sources_open_like_files(tmp_path):
    photo = dark_on_light((200, 150), (20, 20, 120, 130))
    path = tmp_path / "shirt.png"
    photo.save(path)
    expected = preprocess_file(path)[1]
    np.testing.assert_array_equal(preprocess_file(path.read_bytes())[1], expected)
    np.testing.assert_array_equal(preprocess_file(str(path))[1], expected)
    np.testing.assert_array_equal(preprocess_file(Image.open(path))[1], expected)


def test_gif_uses_the_first_frame(tmp_path):
    first = np.full((60, 60), 255, dtype=np.uint8)
    first[:20, :20] = 0
    second = np.full((60, 60), 255, dtype=np.uint8)
    second[-20:, -20:] = 0
    path = tmp_path / "spin.gif"
    Image.fromarray(first).save(path, save_all=True, append_images=[Image.fromarray(second)], duration=100, loop=0)
    assert Image.open(path).n_frames == 2
    image = np.asarray(open_image(path).convert("L"))
    assert image[:20, :20].mean() < 10 and image[-20:, -20:].mean() > 245


def test_jpeg_bytes_in_a_png_named_file_still_open(tmp_path):
    path = tmp_path / "really_a_jpeg.png"
    dark_on_light((200, 200), (30, 50, 170, 150)).convert("RGB").save(path, "JPEG")
    image = open_image(path)
    assert image.size == (200, 200)
    assert corners(to_model_input(image)).max() == 0


def test_big_jpeg_is_drafted_for_the_preview_with_the_same_input(tmp_path):
    path = tmp_path / "big.jpg"
    dark_on_light((2000, 1600), (300, 200, 1500, 1500)).convert("RGB").save(path, quality=90)
    preview, drafted = preprocess_file(path)
    assert PREVIEW_SIZE <= min(preview.size) and max(preview.size) <= 1000  # decoded at 1/2 scale
    full = to_model_input(open_image(path))
    assert open_image(path).size == (2000, 1600)
    assert np.abs(drafted.astype(int) - full).max() <= 8


def test_suffixes_cover_what_pillow_reads():
    assert {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"} == set(IMAGE_SUFFIXES)
    assert all(suffix in Image.registered_extensions() for suffix in IMAGE_SUFFIXES)


def test_imaging_loads_neither_torch_nor_qt():
    code = (
        "import sys, fashion_desktop.core.imaging; "
        "print(sorted(m for m in ('torch', 'PySide6', 'pyqtgraph') if m in sys.modules))"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"


# --- files that cannot be used --------------------------------------------------------------------------------


def assert_image_error(source, name: str, *words: str) -> ImageError:
    with pytest.raises(ImageError) as caught:
        open_image(source)
    message = str(caught.value)
    assert isinstance(caught.value, UserError)
    assert name in message
    for word in words:
        assert word in message
    assert ";" in message  # what is wrong; what to do
    return caught.value


def test_missing_file(tmp_path):
    assert_image_error(tmp_path / "gone.png", "gone.png", "not found")


def test_folder_instead_of_a_file(tmp_path):
    (tmp_path / "photos.png").mkdir()
    assert_image_error(tmp_path / "photos.png", "photos.png", "folder")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    assert_image_error(path, "empty.jpg", "empty")


def test_text_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("a shopping list, not a picture\n")
    assert_image_error(path, "notes.txt", "not an image", "PNG, JPEG")


def test_truncated_png(tmp_path):
    rng = np.random.default_rng(0)
    data = png_bytes(Image.fromarray(rng.integers(0, 256, (200, 200, 3), dtype=np.uint8)))
    path = tmp_path / "half.png"
    path.write_bytes(data[: len(data) // 2])
    assert_image_error(path, "half.png", "damaged or incomplete")


def test_truncated_jpeg(tmp_path):
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (200, 200, 3), dtype=np.uint8)).save(buffer, "JPEG")
    path = tmp_path / "half.jpg"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    assert_image_error(path, "half.jpg", "damaged or incomplete")


@pytest.mark.parametrize(
    "side",
    [
        8_000,  # 64 million pixels: over our limit, under Pillow's
        10_000,  # 100 million: Pillow only warns
        20_000,  # 400 million: Pillow refuses
    ],
)
def test_decompression_bomb_is_refused_from_the_header(tmp_path, side):
    assert side * side > MAX_PIXELS
    path = tmp_path / "bomb.png"
    path.write_bytes(with_ihdr_size(png_bytes(Image.new("1", (8, 8))), side, side))
    assert_image_error(path, "bomb.png", "too large")


def test_real_big_1_bit_png_is_refused(tmp_path):
    path = tmp_path / "huge.png"
    Image.new("1", (10_000, 10_000)).save(path)  # compresses to a few kilobytes
    assert path.stat().st_size < 100_000
    assert_image_error(path, "huge.png", "too large")
    assert_image_error(path.read_bytes(), "The image data", "too large")


# --- the samples that ship with the app ----------------------------------------------------------------------


def sample_files() -> list[Path]:
    return sorted(SAMPLES.glob("*.png"))


def test_samples_are_few_and_small():
    files = sample_files()
    assert 4 <= len(files) <= 6
    assert all(path.stat().st_size < 60_000 for path in files)
    assert any(Image.open(path).mode == "RGBA" for path in files)


@pytest.mark.parametrize("path", sample_files(), ids=lambda path: path.stem)
def test_sample_opens_as_a_bright_garment_on_black(path):
    image, result = preprocess_file(path)
    assert min(image.size) >= 200
    assert result.shape == (28, 28) and result.dtype == np.uint8
    assert corners(result).max() == 0
    assert result.max() >= 150
    # The garment's longer side fills the frame. Its outermost line is only partly covered after area resampling,
    # so it can be dim (15 to 33 of 255 on these samples, with the GrabCut copy at 128 to 160 px) but never empty.
    assert max(bright_box(result, threshold=10)) == FIT_SIZE


def _eps_payload(marker: Path) -> bytes:
    """A real EPS file whose PostScript writes ``marker`` (Ghostscript would run it) and then loops for ever."""
    program = f"({marker}) (w) file dup (ran) writestring closefile\n{{}} loop\n"
    return (
        b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n%%EndComments\n" + program.encode() + b"showpage\n%%EOF\n"
    )


@pytest.mark.parametrize("name", ["photo.png", "photo.jpg", "photo.eps"])
def test_postscript_named_as_an_image_is_never_run(tmp_path, monkeypatch, name):
    from PIL import EpsImagePlugin

    ran = []
    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", lambda *args, **kwargs: ran.append(args))
    monkeypatch.setattr(subprocess, "check_call", lambda *args, **kwargs: ran.append(args))
    marker = tmp_path / "marker"
    path = tmp_path / name
    path.write_bytes(_eps_payload(marker))
    error = assert_image_error(path, name, "PostScript", "PNG, JPEG")
    assert "is not an image this app opens" in str(error)
    assert ran == [] and not marker.exists()
    with pytest.raises(ImageError):
        open_image(path.read_bytes())  # bytes go through the same decoders


def test_only_the_supported_decoders_are_used(tmp_path):
    from fashion_desktop.core.imaging import IMAGE_FORMATS

    assert set(IMAGE_FORMATS) == {"PNG", "JPEG", "WEBP", "BMP", "GIF", "TIFF"}
    for fmt, suffix in (("ICO", ".ico"), ("PCX", ".pcx"), ("TGA", ".tga"), ("PPM", ".ppm")):
        path = tmp_path / f"x{suffix}"
        Image.new("RGB", (16, 16), "red").save(path, fmt)
        assert_image_error(path, path.name, "not an image this app opens")
    with Image.open(tmp_path / "x.ico") as opened:  # an image opened elsewhere is held to the same list
        assert_image_error(opened, "x.ico", "not supported")


def test_a_fifo_named_png_is_refused_without_blocking(tmp_path):
    import os
    import threading

    fifo = tmp_path / "photo.png"
    os.mkfifo(fifo)
    errors = []

    def open_it():
        try:
            open_image(fifo)
        except ImageError as error:
            errors.append(error)

    reader = threading.Thread(target=open_it)
    reader.start()
    reader.join(5)
    assert not reader.is_alive() and "named pipe" in str(errors[0])


def test_an_image_file_over_the_size_cap_is_refused_before_it_is_read(tmp_path, monkeypatch):
    from fashion_desktop.core import imaging

    monkeypatch.setattr(imaging, "MAX_IMAGE_BYTES", 1000)
    path = tmp_path / "big.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)).save(path)
    assert_image_error(path, "big.png", "larger than")


def test_list_image_files_is_the_one_rule_for_a_folder(tmp_path):
    from fashion_desktop.core.imaging import list_image_files

    for name in ("b.PNG", "a.jpg", ".hidden.png", "notes.txt", "c.tiff"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub.png").mkdir()
    assert [p.name for p in list_image_files(tmp_path)] == ["a.jpg", "b.PNG", "c.tiff"]


def test_a_tiff_whose_second_page_is_damaged_is_an_image_error():
    """The fuzz test found it: counting a TIFF's pages reads each page's header, and a broken one raised KeyError."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (8, 8), 200).save(buffer, format="TIFF", save_all=True, append_images=[Image.new("L", (8, 8), 50)])
    data = bytearray(buffer.getvalue())
    widths = [  # ImageWidth entries (tag 256, SHORT or LONG, one value), little-endian: one per page
        at
        for at in range(len(data) - 8)
        if data[at : at + 2] == b"\x00\x01"
        and data[at + 2 : at + 4] in (b"\x03\x00", b"\x04\x00")
        and data[at + 4 : at + 8] == b"\x01\x00\x00\x00"
    ]
    assert len(widths) == 2
    second = widths[1]
    data[second : second + 2] = b"\x99\x99"  # renamed to an unknown tag: the page has no width any more
    with pytest.raises(ImageError, match="damaged|incomplete"):
        open_image(bytes(data))
