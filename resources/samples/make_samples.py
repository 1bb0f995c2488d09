"""Regenerate the sample product shots from real Fashion-MNIST test images: python make_samples.py DATA_FOLDER.

Each sample is one test image (Fashion-MNIST, MIT licence, Copyright 2017 Zalando SE) scaled up, turned into a dark
garment on a light background like a shop's product photo, tinted, and placed with margins, some of them off centre.
DATA_FOLDER is the folder holding ``t10k-images-idx3-ubyte.gz`` and ``t10k-labels-idx1-ubyte.gz`` or a parent of
it in torchvision's layout (``FashionMNIST/raw``). The output is deterministic, so re-running changes no file.
"""

from __future__ import annotations

import argparse
import gzip
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
CLASS_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


@dataclass(frozen=True)
class Sample:
    """One product shot: which test image, its look, and where the garment sits on the canvas."""

    file: str
    label: int
    index: int  # the test image's index in t10k; chosen to be a typical, clearly recognisable example
    colour: tuple[int, int, int]  # the garment's darkest tint
    canvas: tuple[int, int]  # width, height in pixels
    garment: int  # the garment's longer side in pixels, after cropping the test image to its bounding box
    offset: tuple[int, int]  # the garment's centre relative to the canvas centre (x, y)
    background: int | None  # grey level of the background; None for a transparent one (RGBA)
    mode: str  # the PNG's mode: "L", "RGB" or "RGBA"


SAMPLES = (
    Sample("ankle_boot.png", 9, 0, (70, 45, 30), (320, 320), 240, (0, 0), 255, "RGB"),
    Sample("trouser.png", 1, 2, (35, 40, 70), (300, 360), 280, (-20, 0), 242, "RGB"),
    Sample("bag.png", 8, 0, (90, 25, 30), (340, 300), 220, (30, 20), None, "RGBA"),
    Sample("sneaker.png", 7, 0, (30, 30, 30), (360, 280), 260, (-25, 15), 236, "L"),
    Sample("t_shirt.png", 0, 0, (25, 70, 50), (300, 300), 230, (10, -15), 248, "RGB"),
    Sample("dress.png", 3, 0, (60, 30, 80), (280, 340), 270, (0, 10), 255, "RGB"),
)


def read_idx(path: Path) -> np.ndarray:
    """Read a gzip-compressed IDX file (big-endian header: magic 0x0000080N, then N dimensions) as uint8."""
    data = gzip.decompress(path.read_bytes())
    ndim = data[3]
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def find_raw(folder: Path) -> Path:
    """The folder holding the t10k files: ``folder`` itself, ``folder/raw`` or ``folder/FashionMNIST/raw``."""
    for candidate in (folder, folder / "raw", folder / "FashionMNIST" / "raw"):
        if (candidate / "t10k-images-idx3-ubyte.gz").is_file():
            return candidate
    raise SystemExit(f"no t10k-images-idx3-ubyte.gz in {folder}, {folder / 'raw'} or {folder / 'FashionMNIST/raw'}")


def pick(labels: np.ndarray, label: int, nth: int) -> int:
    """The test-set index of the nth image of a class."""
    return int(np.flatnonzero(labels == label)[nth])


def render(image: np.ndarray, sample: Sample) -> Image.Image:
    """Scale one 28x28 Fashion-MNIST image up and paint it as a tinted dark garment on the sample's background."""
    rows, cols = np.flatnonzero(image.any(axis=1)), np.flatnonzero(image.any(axis=0))
    cropped = image[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    scale = sample.garment / max(cropped.shape)
    size = (round(cropped.shape[1] * scale), round(cropped.shape[0] * scale))
    # Bicubic keeps the upscaled garment smooth rather than blocky, like a photo, and compresses well as PNG
    garment = Image.fromarray(cropped).resize(size, Image.Resampling.BICUBIC)
    coverage = np.asarray(garment, dtype=np.float64) / 255.0  # 1 where the garment is brightest in Fashion-MNIST
    width, height = sample.canvas
    amount = np.zeros((height, width))
    left = (width - size[0]) // 2 + sample.offset[0]
    top = (height - size[1]) // 2 + sample.offset[1]
    amount[top : top + size[1], left : left + size[0]] = coverage
    colour = np.asarray(sample.colour, dtype=np.float64)
    if sample.background is None:
        # Straight alpha: the tint is opaque where the garment is solid and fades out at its soft edges
        alpha = np.clip(amount * 3.0, 0.0, 1.0)
        shade = 255.0 - (255.0 - colour) * (amount / np.maximum(alpha, 1e-6))[..., None]
        rgba = np.dstack([np.where(alpha[..., None] > 0, shade, 255.0), alpha * 255.0])
        return Image.fromarray(np.rint(np.clip(rgba, 0, 255)).astype(np.uint8), "RGBA")
    light = np.full(3, float(sample.background))
    rgb = light + (colour - light) * amount[..., None]  # the garment darkens the background in proportion
    result = Image.fromarray(np.rint(rgb).astype(np.uint8), "RGB")
    return result.convert(sample.mode) if sample.mode != "RGB" else result


def main(argv: list[str] | None = None) -> None:
    """Write the sample PNGs beside this script (or into --out)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="folder with the Fashion-MNIST t10k files")
    parser.add_argument("--out", type=Path, default=HERE, help="where to write the PNGs (default: beside this script)")
    args = parser.parse_args(argv)
    raw = find_raw(args.data)
    images = read_idx(raw / "t10k-images-idx3-ubyte.gz")
    labels = read_idx(raw / "t10k-labels-idx1-ubyte.gz")
    args.out.mkdir(parents=True, exist_ok=True)
    for sample in SAMPLES:
        index = pick(labels, sample.label, sample.index)
        path = args.out / sample.file
        render(images[index], sample).save(path, optimize=True)
        print(f"{path.name}: test image {index} ({CLASS_NAMES[sample.label]}), {path.stat().st_size / 1024:.1f} KB")


if __name__ == "__main__":
    main()
