"""Garment separation and Fashion-MNIST framing, on synthetic photos made here (and a few real ones when present)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from fashion_desktop.core import segment
from fashion_desktop.core.segment import FRAMINGS, SEPARATIONS, frame_photo, separate
from fashion_desktop.core.synthetic import make_images

PHOTOS = Path(__file__).resolve().parents[3] / "shared" / "data" / "clothing-photos" / "validation"


def tshirt_polygon(width: int, height: int, centre: tuple[float, float] = (0.5, 0.5), scale: float = 0.6):
    """A T-shirt outline (body, two sleeves, a neckline) as an (N, 2) int32 polygon in pixel coordinates."""
    unit = np.array(
        [
            (-0.2, -0.5), (-0.08, -0.5), (0.0, -0.42), (0.08, -0.5), (0.2, -0.5), (0.5, -0.25), (0.38, -0.08),
            (0.25, -0.2), (0.25, 0.5), (-0.25, 0.5), (-0.25, -0.2), (-0.38, -0.08), (-0.5, -0.25),
        ]
    )  # fmt: skip
    side = scale * min(width, height)
    points = unit * side + (centre[0] * width, centre[1] * height)
    return np.rint(points).astype(np.int32)


def garment_truth(width: int, height: int, centre: tuple[float, float] = (0.5, 0.5)) -> np.ndarray:
    mask = np.zeros((height, width), dtype=np.uint8)
    cv2.fillPoly(mask, [tshirt_polygon(width, height, centre)], 1)
    return mask > 0


def parquet(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """Brown planks of varying shade with grain and noise: the kind of floor the old crop kept as texture."""
    floor = np.zeros((height, width, 3), dtype=np.float64)
    plank = 40
    for left in range(0, width, plank):
        shade = rng.uniform(0.8, 1.2)
        floor[:, left : left + plank] = np.array([150, 100, 60]) * shade
        floor[:, left] = (90, 60, 35)  # the gap between planks
    grain = 12 * np.sin(np.arange(height)[:, None] / 3.0 + rng.uniform(0, 6, width)[None, :])
    floor += grain[..., None] + rng.normal(0, 6, floor.shape)
    return np.clip(floor, 0, 255).astype(np.uint8)


def photo_of(
    background: np.ndarray, colour: tuple[int, int, int], centre: tuple[float, float] = (0.5, 0.5)
) -> tuple[Image.Image, np.ndarray]:
    height, width = background.shape[:2]
    truth = garment_truth(width, height, centre)
    pixels = background.copy()
    pixels[truth] = colour
    return Image.fromarray(pixels), truth


def flat(width: int, height: int, colour: tuple[int, int, int]) -> np.ndarray:
    return np.full((height, width, 3), colour, dtype=np.uint8)


def iou(found: np.ndarray, truth: np.ndarray) -> float:
    if found.shape != truth.shape:
        truth = cv2.resize(truth.astype(np.uint8), found.shape[::-1], interpolation=cv2.INTER_NEAREST) > 0
    return float((found & truth).sum() / (found | truth).sum())


SCENES = {
    "yellow T-shirt on parquet": lambda rng: photo_of(parquet(400, 534, rng), (235, 200, 40), centre=(0.45, 0.55)),
    "navy T-shirt on a grey floor": lambda rng: photo_of(flat(534, 400, (170, 170, 165)), (30, 40, 90)),
    "white shirt on magenta": lambda rng: photo_of(flat(400, 534, (200, 30, 160)), (250, 250, 250)),
}


# --- separation ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scene", SCENES)
@pytest.mark.parametrize("method", ["grabcut", "border"])
def test_mask_covers_the_garment_and_not_the_floor(scene, method):
    image, truth = SCENES[scene](np.random.default_rng(0))
    found = separate(image, method)
    assert found.method == method  # no fallback was needed
    assert max(found.mask.shape) == segment.WORK_SIDE
    assert iou(found.mask, truth) >= 0.85


def test_separation_none_keeps_the_whole_photo():
    image, _ = SCENES["white shirt on magenta"](np.random.default_rng(0))
    found = separate(image, "none")
    assert found.method == "none" and found.mask.all()


def test_grabcut_that_finds_nothing_falls_back_to_the_border_method(monkeypatch):
    image, truth = SCENES["navy T-shirt on a grey floor"](np.random.default_rng(0))
    monkeypatch.setattr(segment, "_grabcut", lambda work: np.zeros(work.shape[:2], dtype=bool))
    found = separate(image, "grabcut")
    assert found.method == "border"
    assert iou(found.mask, truth) >= 0.85


def test_a_uniform_image_falls_back_to_the_whole_photo_without_crashing():
    for colour in ((255, 255, 255), (0, 0, 0), (120, 60, 200)):
        image = Image.fromarray(flat(300, 200, colour))
        assert separate(image, "grabcut").method == "none"
        result = frame_photo(image)
        assert result.shape == (28, 28) and result.dtype == np.uint8
    assert frame_photo(Image.fromarray(flat(300, 200, (255, 255, 255)))).max() == 0  # white negated: black


def test_the_same_photo_gives_the_same_input():
    image, _ = SCENES["yellow T-shirt on parquet"](np.random.default_rng(0))
    np.testing.assert_array_equal(frame_photo(image), frame_photo(image))


# --- framing -------------------------------------------------------------------------------------------------


def bright_box(result: np.ndarray, threshold: int = 40) -> tuple[int, int, int, int]:
    """Top, left, bottom, right (exclusive) of the pixels above ``threshold``."""
    grey = result if result.ndim == 2 else result.max(axis=2)
    rows, cols = np.flatnonzero((grey > threshold).any(axis=1)), np.flatnonzero((grey > threshold).any(axis=0))
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1


@pytest.mark.parametrize("scene", SCENES)
@pytest.mark.parametrize("color", [False, True])
def test_garment_framing_is_bright_on_black_centred_and_fills_the_frame(scene, color):
    image, _ = SCENES[scene](np.random.default_rng(1))
    size = 28
    result = frame_photo(image, size=size, color=color)
    assert result.dtype == np.uint8 and result.flags.c_contiguous
    assert result.shape == ((size, size, 3) if color else (size, size))
    top, left, bottom, right = bright_box(result, threshold=0)
    assert max(bottom - top, right - left) == size  # the longer side fills the frame, as in Fashion-MNIST
    assert abs((left + right) / 2 - size / 2) <= 1 and abs((top + bottom) / 2 - size / 2) <= 1  # centred
    corner_block = result[:3, :3]
    assert corner_block.max() == 0  # between the sleeves and the edge: background, black
    garment = result[size // 2, size // 2]
    assert int(np.max(garment)) >= 5  # the garment itself is not cut away


def test_dark_garment_on_a_light_floor_becomes_bright():
    image, _ = SCENES["navy T-shirt on a grey floor"](np.random.default_rng(0))
    result = frame_photo(image)
    assert result[14, 14] >= 180  # navy negated: bright, as Fashion-MNIST's dark garments are
    assert result[:3, :3].max() == 0


def test_a_larger_colour_input_keeps_its_colours_negated():
    image, _ = SCENES["white shirt on magenta"](np.random.default_rng(0))
    result = frame_photo(image, size=64, color=True)
    assert result.shape == (64, 64, 3)
    assert result[32, 32].max() <= 15  # a white shirt negated is near black, as white garments are in Fashion-MNIST
    yellow, _ = SCENES["yellow T-shirt on parquet"](np.random.default_rng(0))
    red, green, blue = (int(v) for v in frame_photo(yellow, size=64, color=True)[40, 32])
    assert blue > red and blue > green  # yellow's negative is blue


def test_whole_and_squash_framings_keep_the_whole_photo():
    pixels = np.full((200, 400, 3), 255, dtype=np.uint8)  # a wide photo on white
    pixels[:, :20] = (0, 0, 0)  # a dark band at its left edge, which a separation would have cut away
    image = Image.fromarray(pixels)
    whole = frame_photo(image, framing="whole")
    assert whole.shape == (28, 28)
    top, left, bottom, right = bright_box(whole)
    assert (top, bottom) == (7, 21) and left == 0 and right <= 2  # the band, 1.4 px wide, padded above and below
    assert whole[:7].max() == 0 and whole[21:].max() == 0
    squashed = frame_photo(image, framing="squash", size=32)
    assert squashed.shape == (32, 32)
    assert squashed[:, 0].min() >= 250 and squashed[:, 2:].max() == 0  # the band, top to bottom at the left edge


def test_fashion_mnist_like_images_pass_through_unchanged():
    images = make_images(np.arange(10), np.random.default_rng(4))
    for image in images:
        np.testing.assert_array_equal(frame_photo(Image.fromarray(image)), image)
        for separation in SEPARATIONS:
            np.testing.assert_array_equal(frame_photo(Image.fromarray(image), separation=separation), image)
    coloured = frame_photo(Image.fromarray(images[0]), color=True)
    assert coloured.shape == (28, 28, 3) and all((coloured[..., c] == images[0]).all() for c in range(3))
    assert frame_photo(Image.fromarray(images[0]), size=56).shape == (56, 56)


def test_a_28x28_photo_on_white_is_not_taken_as_fashion_mnist():
    light = np.full((28, 28), 250, dtype=np.uint8)
    light[6:22, 8:20] = 30
    result = frame_photo(Image.fromarray(light))
    assert result[:2, :2].max() == 0 and result[14, 14] >= 200


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "LA", "CMYK", "I;16", "F"])
def test_every_common_pixel_format_frames(mode):
    image, _ = SCENES["navy T-shirt on a grey floor"](np.random.default_rng(0))
    if mode == "I;16":
        converted = Image.fromarray(np.asarray(image.convert("L")).astype(np.uint16) * 257)
    elif mode == "F":
        converted = Image.fromarray(np.asarray(image.convert("L")).astype(np.float32) / 255.0)
    else:
        converted = image.convert(mode)
    result = frame_photo(converted)
    assert result.shape == (28, 28) and result.dtype == np.uint8
    assert result[:2, :2].max() == 0 and result[14, 14] >= 150


def test_bad_arguments_are_refused_with_the_choices():
    image = Image.new("RGB", (50, 50))
    with pytest.raises(ValueError, match="separation must be one of grabcut, border, none"):
        frame_photo(image, separation="magic")
    with pytest.raises(ValueError, match="framing must be one of garment, whole, squash"):
        frame_photo(image, framing="crop")
    with pytest.raises(ValueError, match="size"):
        frame_photo(image, size=0)
    assert FRAMINGS == ("garment", "whole", "squash")


# --- real photos ---------------------------------------------------------------------------------------------


@pytest.mark.real_data
@pytest.mark.slow
def test_real_photos_frame_with_a_garment_that_is_neither_nothing_nor_everything():
    if not PHOTOS.is_dir():
        pytest.skip("the clothing photos are not in ../shared/data")
    folders = sorted(folder for folder in PHOTOS.iterdir() if folder.is_dir())
    files = [path for folder in folders for path in sorted(folder.glob("*.jpg"))[:2]]
    assert files, f"no photos in {PHOTOS}"
    sensible = 0
    for path in files:
        with Image.open(path) as opened:
            image = opened.convert("RGB")
        for color, shape in ((False, (28, 28)), (True, (28, 28, 3))):
            result = frame_photo(image, color=color)
            assert result.shape == shape and result.dtype == np.uint8
        found = separate(image)
        sensible += found.method == "grabcut" and 0.02 <= found.fraction <= 0.9
    assert sensible >= 0.8 * len(files)


def test_grabcut_stops_once_the_garment_settles_with_the_mask_of_all_iterations(monkeypatch):
    image, _ = SCENES["navy T-shirt on a grey floor"](np.random.default_rng(0))
    work = segment._shrunk(segment.to_rgb(image), segment.GRABCUT_SIDE)
    calls = []
    real = cv2.grabCut

    def counted(*args):
        calls.append(args[-2])  # the iteration count
        return real(*args)

    monkeypatch.setattr(cv2, "grabCut", counted)
    settled = segment._grabcut(work)
    assert 2 <= len(calls) < segment._ITERATIONS and set(calls) == {1}
    labels = np.zeros(work.shape[:2], np.uint8)
    height, width = work.shape[:2]
    mx, my = round(width * segment._MARGIN), round(height * segment._MARGIN)
    cv2.setRNGSeed(0)
    models = np.zeros((1, 65)), np.zeros((1, 65))
    real(work, labels, (mx, my, width - 2 * mx, height - 2 * my), *models, segment._ITERATIONS, cv2.GC_INIT_WITH_RECT)
    assert iou(settled, (labels & 1).astype(bool)) >= 0.99
