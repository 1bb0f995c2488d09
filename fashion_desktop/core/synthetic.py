"""A small synthetic Fashion-MNIST in valid IDX files: learnable, so tests and the self-test can check training."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from fashion_desktop.core.data import FILES


def make_images(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each class is a bright bar at its own place on a noisy dark background."""
    images = rng.integers(0, 40, size=(len(labels), 28, 28), dtype=np.uint8)
    for i, label in enumerate(labels):
        row = 2 + 2 * int(label)
        images[i, row : row + 4, 4:24] = rng.integers(180, 256, size=(4, 20), dtype=np.uint8)
    return images


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array in the IDX format (big-endian header, magic 0x0000080N)."""
    header = struct.pack(">I", 0x0800 + array.ndim) + b"".join(struct.pack(">I", n) for n in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_fashion_mnist(root: Path, train: int = 300, test: int = 100, compress: bool = True, seed: int = 0) -> Path:
    """Write the four files into ``root/FashionMNIST/raw`` and return ``root``."""
    rng = np.random.default_rng(seed)
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for split, count in (("train", train), ("test", test)):
        labels = np.arange(count, dtype=np.uint8) % 10
        rng.shuffle(labels)
        for part, array in (("images", make_images(labels, rng)), ("labels", labels)):
            name = FILES[f"{split}_{part}"]
            data = idx_bytes(array)
            if compress:
                (raw / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (raw / name).write_bytes(data)
    return root
