"""Garment separation for users' photos, then Fashion-MNIST framing: the garment bright on black, centred.

A model trained on Fashion-MNIST has only ever seen a garment on pure black, its longest side filling the frame.
A photo of a T-shirt on parquet, cropped to a box, keeps the parquet as bright texture and the model answers
"Bag". A study on real photos (issue 11) found that separating the garment from the background is what matters:
GrabCut seeded with a centre rectangle took ``small-cnn`` from 0.33 to 0.55 top-1, a border-colour model with a
flood fill reached 0.44 at a tenth of the cost, and area resampling with plain negation beat silhouettes,
contrast stretches and Fashion-MNIST's own subsample-and-sharpen.

``frame_photo`` is the one entry point: image-folder import, the Predict tab and the command line all call it.
OpenCV is imported by the functions that use it, not here: it takes about 0.35 s to load, and the GUI imports this
module (through ``imaging``) before its window first paints.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from fashion_desktop.core.stages import stage

SEPARATIONS: tuple[str, ...] = ("grabcut", "border", "none")
FRAMINGS: tuple[str, ...] = ("garment", "whole", "squash")

WORK_SIDE = 160  # the garment is found and framed on a copy whose longer side is this long
_MARGIN = 0.05  # GrabCut's seed rectangle leaves this fraction of each side as sure background
# GrabCut's longer side. Its cost grows with area, and it is nearly all of an import's time: at 128 px it takes 0.6 of
# the time at 160. On the 2,631 mapped photos of the photos' train split, small-cnn scored 0.521 at 128 px against
# 0.526 at 160 and seed 0.342 against 0.338 (n = 2,631, so both within a standard error); the mask is scaled back to
# the working copy smoothly, so the garment's edge stays as sharp as at 160.
GRABCUT_SIDE = 128
_ITERATIONS = 4  # at most; GrabCut stops sooner once an iteration changes fewer than _SETTLED of the pixels
# Most photos settle after two or three iterations. Stopping once under 1% of the pixels change, not 0.2%, saved a
# tenth of the time and changed no accuracy (train split: 0.525 against 0.526, masks 0.997 the same)
_SETTLED = 0.01
_PART_RATIO = 0.30  # a separate part of the garment (a second shoe, a sleeve cut off by a fold) this big stays
_MIN_FRACTION = 0.01  # a garment smaller than this share of the photo is a failed separation, not a garment
_MAX_FRACTION = 0.95  # ... and one larger than this is the whole photo: nothing was separated
_BORDER_DEPTH = 0.04  # the border ring the background colours are learnt from, as a share of each side
_BORDER_COLOURS = 3  # background colours learnt from the ring: a floor, a wall and a shadow
# A background colour's tolerance: this many times the ring's own 90th-percentile spread around it. Chosen on the
# photos' train split (1.5, 2.5, 4 tried): a wider tolerance eats into garments close to the floor's colour
_BORDER_SPREAD = 1.5
_BORDER_MIN_DISTANCE = 18.0  # Lab units: closer than this to a background colour is background, however flat
_FLAT_SPREAD = 1.0  # grey levels of standard deviation: a rectangle this flat holds no garment
_LIGHT = 128  # a background whose median grey level reaches this is light
_FASHION_MNIST_SIDE = 28


@dataclass(frozen=True)
class Separation:
    """The garment found in a photo.

    Attributes:
        mask: True on the garment, at the working copy's size (longer side ``WORK_SIDE`` or the photo's own).
        method: The method that produced the mask: the one asked for, or the fallback taken when it found
            nothing sensible ("border" after "grabcut", "none" when the whole photo is kept).
    """

    mask: np.ndarray
    method: str

    @property
    def fraction(self) -> float:
        """The share of the photo the garment covers."""
        return float(self.mask.mean()) if self.mask.size else 0.0


def frame_photo(
    image: Image.Image,
    *,
    separation: str = "grabcut",
    size: int = 28,
    color: bool = False,
    framing: str = "garment",
) -> np.ndarray:
    """Turn a photo into a Fashion-MNIST-like model input: the garment bright on black.

    The background is set to 0, the photo negated (a product shot on white becomes a bright garment on black, as
    Zalando's were), the longer side area-resampled to ``size`` and the result centred on a black square. An image
    that is already Fashion-MNIST-like (28x28, grey, dark background) comes back unchanged, only resized or
    repeated into three channels when another size or colour is asked for.

    Args:
        image: A decoded image of any size and mode (transparency is flattened onto white).
        separation: "grabcut" (the best, about 30 ms a photo), "border" (a border-colour model, a few ms) or
            "none" (keep the whole photo). GrabCut falls back to the border method, and that to the whole photo,
            when it finds nothing sensible.
        size: The side of the square result in pixels.
        color: Return (size, size, 3) RGB instead of (size, size) grey.
        framing: "garment" (separated, cropped to the garment and centred), "whole" (the whole photo padded to a
            square, nothing separated) or "squash" (the whole photo resized to a square).

    Returns:
        A new C-contiguous uint8 array of shape (size, size) or (size, size, 3).

    Raises:
        ValueError: An unknown separation or framing, or a size below 1.
    """
    return frame(image, separation=separation, size=size, color=color, framing=framing)


def frame(
    image: Image.Image,
    *,
    separation: str = "grabcut",
    size: int = 28,
    color: bool = False,
    framing: str = "garment",
    negate: bool | None = None,
) -> np.ndarray:
    """``frame_photo`` with the negation chosen by the caller; see there.

    Args:
        image: A decoded image of any size and mode.
        separation: One of ``SEPARATIONS``.
        size: The side of the square result.
        color: RGB instead of grey.
        framing: One of ``FRAMINGS``.
        negate: Negate the photo (True), keep its tones (False), or None: negate a photo, but keep the tones of a
            grey image on a dark background, which is in Fashion-MNIST's form already (a scan, an enlarged
            Fashion-MNIST image). Negating every photo beat negating only those on a light background (on the
            photos' train split: small-cnn 0.52 against 0.52, seed 0.34 against 0.30).

    Returns:
        A new C-contiguous uint8 array of shape (size, size) or (size, size, 3).

    Raises:
        ValueError: An unknown separation or framing, or a size below 1.
    """
    import cv2

    if separation not in SEPARATIONS:
        raise ValueError(f"separation must be one of {', '.join(SEPARATIONS)}, not {separation!r}")
    if framing not in FRAMINGS:
        raise ValueError(f"framing must be one of {', '.join(FRAMINGS)}, not {framing!r}")
    if size < 1:
        raise ValueError(f"size must be at least 1 pixel, not {size}")
    with stage("working copy"):
        rgb = to_rgb(image)
        if negate is None and is_fashion_mnist_like(rgb):
            return _resized_as_is(rgb, size, color)
        frame_copy = _shrunk(rgb, frame_side(size))
        if negate is None:
            negate = not (_is_grey(frame_copy) and _background_level(frame_copy) < _LIGHT)
        tones = 255 - frame_copy if negate else frame_copy
        pixels = tones if color else cv2.cvtColor(tones, cv2.COLOR_RGB2GRAY)
    if framing == "squash":
        with stage("framing"):
            result = cv2.resize(pixels, (size, size), interpolation=cv2.INTER_AREA)
    elif framing == "whole" or separation == "none":
        with stage("framing"):
            result = _centred(pixels, size, fill=_corner_level(pixels))
    else:
        mask = separate(frame_copy, separation).mask  # the frame copy is small already: no second big resize
        with stage("framing"):
            mask = _resized_mask(mask, pixels.shape[:2])
            pixels = np.where(mask[..., None] if color else mask, pixels, 0).astype(np.uint8)
            rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
            pixels = pixels[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
            result = _centred(pixels, size, fill=0)
    return np.ascontiguousarray(result, dtype=np.uint8)


def frame_side(size: int) -> int:
    """The longer side of the copy a ``size``-pixel input is framed from, and so the least a photo is decoded at.

    The copy keeps a few pixels of detail for each output pixel and is big enough for garment separation
    (``WORK_SIDE``); more only costs time. A JPEG decoded in draft mode straight to about this size (both sides
    at least this long) is several times cheaper than a full decode followed by a resize.
    """
    return max(WORK_SIDE, 4 * size)


def separate(image: Image.Image | np.ndarray, method: str = "grabcut") -> Separation:
    """Find the garment in a photo, on a working copy whose longer side is at most ``WORK_SIDE``.

    Args:
        image: A PIL image or an (H, W, 3) uint8 RGB array.
        method: One of ``SEPARATIONS``; "none" keeps the whole photo.

    Returns:
        The garment mask and the method that produced it (a fallback when the one asked for found nothing).

    Raises:
        ValueError: An unknown method.
    """
    if method not in SEPARATIONS:
        raise ValueError(f"separation must be one of {', '.join(SEPARATIONS)}, not {method!r}")
    with stage("working copy"):
        rgb = to_rgb(image) if isinstance(image, Image.Image) else image
        work = _shrunk(rgb, WORK_SIDE)
    whole = np.ones(work.shape[:2], dtype=bool)
    if method == "none" or min(work.shape[:2]) < 8:  # too small to tell a garment from its background
        return Separation(whole, "none")
    if method == "grabcut":
        with stage("working copy"):
            small = _shrunk(work, GRABCUT_SIDE)
        with stage("grabcut"):
            found = _grabcut(small)
        with stage("clean-up"):
            mask = _resized_mask(_cleaned(found), work.shape[:2])
        if _sensible(mask):
            return Separation(mask, "grabcut")
    with stage("border"):
        found = _border(work)
    with stage("clean-up"):
        mask = _cleaned(found)
    if _sensible(mask):
        return Separation(mask, "border")
    return Separation(whole, "none")


def to_rgb(image: Image.Image) -> np.ndarray:
    """An (H, W, 3) uint8 RGB copy of any image: transparency flattened onto white, deep greys scaled to 8 bits."""
    mode = image.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        values = np.asarray(image, dtype=np.float64)
        # 16-bit PNGs arrive as "I" and float TIFFs are usually 0..1; plain 0..255 data stay as they are
        peak = float(values.max(initial=0.0))
        factor = 255.0 / 65535.0 if peak > 255 else (255.0 if mode == "F" and peak <= 1.0 else 1.0)
        grey = np.clip(np.rint(values * factor), 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    if image.has_transparency_data:
        with_alpha = image.convert("RGBA")
        white = Image.new("RGB", image.size, (255, 255, 255))
        white.paste(with_alpha, mask=with_alpha.getchannel("A"))
        return np.asarray(white, dtype=np.uint8).copy()
    return np.asarray(image if mode == "RGB" else image.convert("RGB"), dtype=np.uint8).copy()


def is_fashion_mnist_like(rgb: np.ndarray) -> bool:
    """28x28, grey and on a dark background: an image in Fashion-MNIST's own form, to be left as it is."""
    height, width = rgb.shape[:2]
    if (height, width) != (_FASHION_MNIST_SIDE, _FASHION_MNIST_SIDE):
        return False
    return _is_grey(rgb) and _background_level(rgb) < _LIGHT


def _is_grey(rgb: np.ndarray) -> bool:
    """No colour at all: a grey-level image, not a photo (a camera's JPEG always has some)."""
    return bool((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all())


def _resized_as_is(rgb: np.ndarray, size: int, color: bool) -> np.ndarray:
    import cv2

    pixels = rgb if color else rgb[..., 0]
    if pixels.shape[0] != size:
        shrinking = size < pixels.shape[0]
        pixels = cv2.resize(pixels, (size, size), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    return np.ascontiguousarray(pixels, dtype=np.uint8)


def _shrunk(rgb: np.ndarray, side: int) -> np.ndarray:
    """The image area-resampled so its longer side is at most ``side``; small images are left as they are."""
    import cv2

    height, width = rgb.shape[:2]
    longer = max(height, width)
    if longer <= side:
        return rgb
    size = (max(1, round(width * side / longer)), max(1, round(height * side / longer)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def _ring(pixels: np.ndarray, depth: float = 0.02) -> np.ndarray:
    """The outer ring of pixels, ``depth`` of each side deep (at least one pixel), one row per pixel."""
    height, width = pixels.shape[:2]
    dy, dx = max(1, round(height * depth)), max(1, round(width * depth))
    flat = pixels.reshape(height, width, -1)
    parts = [flat[:dy], flat[-dy:], flat[dy:-dy, :dx], flat[dy:-dy, -dx:]]
    return np.concatenate([part.reshape(-1, flat.shape[2]) for part in parts])


def _background_level(rgb: np.ndarray) -> float:
    """The median grey level of the photo's border, where a product photo shows its background."""
    return float(np.median(_ring(rgb).mean(axis=1)))


def _corner_level(pixels: np.ndarray) -> int:
    """The padding for a whole photo: black, or the border's own level when the photo kept a light background."""
    level = float(np.median(_ring(pixels).mean(axis=1)))
    return 0 if level < _LIGHT else round(level)


def _centred(pixels: np.ndarray, size: int, fill: int) -> np.ndarray:
    """Area-resample so the longer side is ``size`` (aspect kept), then centre on a ``fill``-coloured square."""
    import cv2

    height, width = pixels.shape[:2]
    longer = max(height, width)
    new_w, new_h = max(1, min(size, round(size * width / longer))), max(1, min(size, round(size * height / longer)))
    shrinking = longer > size
    scaled = cv2.resize(pixels, (new_w, new_h), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    canvas = np.full((size, size, *pixels.shape[2:]), fill, dtype=np.uint8)
    y0, x0 = (size - new_h) // 2, (size - new_w) // 2
    canvas[y0 : y0 + new_h, x0 : x0 + new_w] = scaled.reshape(new_h, new_w, *pixels.shape[2:])
    return canvas


def _grabcut(work: np.ndarray) -> np.ndarray:
    """GrabCut seeded with a centre rectangle (everything outside it is sure background): the garment, uncleaned."""
    import cv2

    height, width = work.shape[:2]
    mx, my = max(1, round(width * _MARGIN)), max(1, round(height * _MARGIN))
    rect = (mx, my, width - 2 * mx, height - 2 * my)
    if float(work[my : height - my, mx : width - mx].std(axis=(0, 1)).max()) < _FLAT_SPREAD:
        # Nothing to separate, and GrabCut's k-means takes seconds over identical colours
        return np.zeros((height, width), dtype=bool)
    labels = np.zeros((height, width), dtype=np.uint8)
    background_model = np.zeros((1, 65), dtype=np.float64)
    foreground_model = np.zeros((1, 65), dtype=np.float64)
    cv2.setRNGSeed(0)  # GrabCut's k-means starts from random centres: the same photo gives the same mask
    try:
        # One iteration a call, continuing from the models the last call left: the same as _ITERATIONS in one call,
        # but it can stop once the garment has settled
        cv2.grabCut(work, labels, rect, background_model, foreground_model, 1, cv2.GC_INIT_WITH_RECT)
        garment = (labels & 1).astype(bool)  # GC_FGD and GC_PR_FGD are the odd labels
        for _ in range(_ITERATIONS - 1):
            cv2.grabCut(work, labels, rect, background_model, foreground_model, 1, cv2.GC_EVAL)  # rect unread
            previous, garment = garment, (labels & 1).astype(bool)
            if np.count_nonzero(garment != previous) < _SETTLED * garment.size:
                break
    except cv2.error:  # a flat image leaves a colour model with no variance, which GrabCut refuses
        return np.zeros((height, width), dtype=bool)
    return garment


def _border(work: np.ndarray) -> np.ndarray:
    """A border-colour model: pixels like the border's few colours and connected to it are background.

    Returns:
        The rest, the garment, uncleaned.
    """
    import cv2

    lab = cv2.cvtColor(cv2.GaussianBlur(work, (3, 3), 0), cv2.COLOR_RGB2LAB).astype(np.float32)
    ring = _ring(lab, _BORDER_DEPTH)
    clusters = min(_BORDER_COLOURS, len(ring))
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 10, 1.0)
    cv2.setRNGSeed(0)
    no_labels = np.zeros((len(ring), 1), dtype=np.int32)  # k-means++ picks its own start; this is not read
    _, assigned, centres = cv2.kmeans(ring, clusters, no_labels, criteria, 2, cv2.KMEANS_PP_CENTERS)
    distances = np.linalg.norm(lab[:, :, None, :] - centres[None, None], axis=3)
    nearest, closest = distances.min(axis=2), distances.argmin(axis=2)
    # Each colour's tolerance follows how much the ring itself varies around it (a textured floor varies a lot)
    ring_distances = np.linalg.norm(ring - centres[assigned.ravel()], axis=1)
    tolerance = np.array(
        [
            max(_BORDER_MIN_DISTANCE, _BORDER_SPREAD * float(np.percentile(ring_distances[assigned.ravel() == k], 90)))
            if (assigned.ravel() == k).any()
            else _BORDER_MIN_DISTANCE
            for k in range(clusters)
        ],
        dtype=np.float32,
    )
    like_background = (nearest <= tolerance[closest]).astype(np.uint8)
    # Flood fill from the border: only background-coloured pixels reachable from the edge are background
    _, components = cv2.connectedComponents(like_background, connectivity=4)
    edge = np.unique(np.concatenate([components[0], components[-1], components[:, 0], components[:, -1]]))
    background = np.isin(components, edge[edge != 0])  # label 0 gathers the pixels unlike any background colour
    return ~background


def _resized_mask(mask: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A mask scaled to (height, width) ``shape``, or itself when it has that size already.

    Scaled bilinearly and cut at one half, an enlarged mask follows the garment's outline instead of the small
    mask's staircase (nearest neighbour left a garment's edge row dim).
    """
    import cv2

    if mask.shape == shape:
        return mask
    return cv2.resize(mask.astype(np.float32), (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR) > 0.5


def _cleaned(garment: np.ndarray) -> np.ndarray:
    """A small opening and closing, the holes filled, the largest part kept with any at least 30% its size."""
    import cv2

    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
    mask = cv2.morphologyEx(garment.astype(np.uint8), cv2.MORPH_OPEN, kernel)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel)
    count, components, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count <= 1:
        return np.zeros(garment.shape, dtype=bool)
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = 1 + np.flatnonzero(areas >= _PART_RATIO * areas.max())
    kept = np.isin(components, keep).astype(np.uint8)
    # Holes: draw each kept part's outer contour filled, so a print or a shadow inside the garment stays garment
    contours, _ = cv2.findContours(kept, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    filled = np.zeros_like(kept)
    cv2.drawContours(filled, contours, -1, 1, thickness=cv2.FILLED)
    return filled > 0


def _sensible(mask: np.ndarray) -> bool:
    """A garment covers some of the photo but not all of it."""
    fraction = float(mask.mean()) if mask.size else 0.0
    return _MIN_FRACTION <= fraction <= _MAX_FRACTION
