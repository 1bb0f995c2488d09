"""Users' clothing photos: safe decoding and conversion to the 28x28 bright-on-black input the models expect."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from fashion_desktop.core.errors import ImageError
from fashion_desktop.core.files import read_bounded
from fashion_desktop.core.segment import SEPARATIONS, frame
from fashion_desktop.core.stages import stage

IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")
# The only decoders Pillow may use, whatever a file's name or first bytes say. Without this list Pillow tries
# every plugin it has, and its EPS plugin runs Ghostscript on the file: PostScript is a program, which could write
# files, print to stdout or loop for ever.
IMAGE_FORMATS: tuple[str, ...] = ("PNG", "JPEG", "WEBP", "BMP", "GIF", "TIFF")
MAX_IMAGE_BYTES = 256 * 2**20  # a 50-million-pixel RGBA TIFF stored without compression is 200 MB
MAX_PIXELS: int = 50_000_000  # decompression-bomb guard, stricter than Pillow's own 89 million
INVERT_MODES: tuple[str, ...] = ("auto", "on", "off")

MODEL_SIZE = 28
# The garment's longer side after scaling. In the Fashion-MNIST test set 98% of the garments touch two opposite
# edges (long side 28 px, the rest 26-27 px): Zalando trimmed each photo and scaled its longest edge to 28, so a
# margin here would make users' garments smaller than anything the model was trained on.
FIT_SIZE = 28
PREVIEW_SIZE = 512  # preprocess_file decodes JPEGs at 1/2, 1/4 or 1/8 scale while both sides stay at least this

_LIGHT = 128  # a background whose median grey level reaches this is light
_MIN_CONTRAST = 20  # grey levels above the background that make a pixel part of the garment (Zalando trimmed at 13)
_WORK_SIDE = 512  # statistics and the bounding box are found on a copy reduced to about this size
_REDUCING_GAP = 3.0  # resize() box-reduces by an integer factor first; at 3 the result matches plain LANCZOS
_HEIF_BRANDS = (b"ftypheic", b"ftypheix", b"ftypheif", b"ftypmif1", b"ftypmsf1", b"ftypavif")  # bytes 4..12


@dataclass(frozen=True)
class PreprocessOptions:
    """How a photo becomes the model's input.

    Attributes:
        invert: "auto" inverts every colour photo and any grey image on a light background (Fashion-MNIST's
            garments are Zalando's product shots negated; with ``separation="none"``, only images on a light
            background), "on" always inverts, "off" never does.
        crop: Frame the garment alone, as Fashion-MNIST did; off fits the whole image.
        contrast: Stretch the 28x28 result so its darkest pixel is 0 and its brightest 255. Off by default: on
            real photos a stretch did worse than plain negation (issue 11's study).
        separation: How the garment is told from the background (``segment.SEPARATIONS``): "grabcut" (the
            default and the most accurate), "border" (a border-colour model, several times faster) or "none",
            which keeps the earlier preprocessing: a crop to the box of pixels brighter than the background.
    """

    invert: str = "auto"
    crop: bool = True
    contrast: bool = False
    separation: str = "grabcut"

    def __post_init__(self) -> None:
        if self.invert not in INVERT_MODES:
            raise ValueError(f"invert must be one of {', '.join(INVERT_MODES)}, not {self.invert!r}")
        if self.separation not in SEPARATIONS:
            raise ValueError(f"separation must be one of {', '.join(SEPARATIONS)}, not {self.separation!r}")


DEFAULT_OPTIONS = PreprocessOptions()


def open_image(source: str | Path | bytes | Image.Image, *, draft_size: int | None = None) -> Image.Image:
    """Open and fully decode an image, upright and detached from any file.

    Args:
        source: A file path, the file's bytes, or an image already opened with Pillow.
        draft_size: For JPEG files and bytes: let the decoder scale by 1/2, 1/4 or 1/8 as long as both sides stay
            at least this many pixels, which is faster for big photos. None decodes at full size. An image passed
            in already opened is never drafted, as that would change the caller's object.

    Returns:
        The first frame of the image with its EXIF orientation applied.

    Raises:
        ImageError: The file is missing, empty, not an image, damaged, or has more than ``MAX_PIXELS`` pixels.
    """
    if isinstance(source, Image.Image):
        filename = getattr(source, "filename", "")
        name = Path(filename).name if isinstance(filename, str) and filename else "The image"
        if source.format is not None and source.format not in IMAGE_FORMATS:
            raise ImageError(f"{name} is a {source.format} image, which is not supported; {_SUPPORTED}.")
        if source.width * source.height > MAX_PIXELS:
            raise _too_big(name, source.width, source.height)
        _decode(source, name)
        return _upright(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        name, data = "The image data", bytes(source)
    else:
        path = Path(source)
        with stage("read"):
            name, data = path.name or str(path), _read(path)
    if not data:
        raise ImageError(f"{name} is empty (0 bytes); choose another image or save this one again.")
    with stage("decode"):
        return _decoded(data, name, draft_size)


def _decoded(data: bytes, name: str, draft_size: int | None) -> Image.Image:
    """``open_image`` of a file's bytes: identify, check the size, pick the first frame, draft, decode, upright."""
    image = _identify(data, name)
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise _too_big(name, width, height)
    try:  # counting frames reads every frame's header: a damaged later page of a TIFF fails here (KeyError)
        if getattr(image, "n_frames", 1) > 1:
            image.seek(0)  # animated GIF/WebP/APNG, multi-page TIFF: the first frame is the photo to classify
    except Exception as exc:
        raise _damaged(name, exc) from None
    if draft_size is not None:
        image.draft(None, (draft_size, draft_size))  # a no-op for every format but JPEG
    _decode(image, name)
    return _upright(image)


def to_model_input(image: Image.Image, options: PreprocessOptions = DEFAULT_OPTIONS) -> np.ndarray:
    """Turn a photo into the (28, 28) uint8 array a model takes: the garment bright on black, like Fashion-MNIST.

    Transparency is flattened onto white (a transparent product shot is a garment on white). By default the
    garment is separated from its background (``segment.frame``: GrabCut, or the border-colour model), the
    background set to black, the photo negated (unless it is a grey image on a dark background, in Fashion-MNIST's
    tones already), and the garment area-resampled so its longer side is ``FIT_SIZE`` pixels and centred. With
    ``separation="none"`` the earlier preprocessing runs instead: grey, inverted when the background is light,
    cropped to the box of pixels brighter than the background. An image that is already 28x28 is taken as
    framed by its maker: it is inverted or stretched only when asked, never cropped or resampled, so a
    Fashion-MNIST image comes back byte-identical with the default options.

    Args:
        image: A decoded image of any size and mode, as returned by ``open_image``.
        options: Inversion, cropping and contrast choices.

    Returns:
        A new, writable C-contiguous (28, 28) uint8 array.

    Raises:
        ImageError: The image has no pixels or a pixel format that cannot be converted to grey.
    """
    grey = _to_grey(image)
    if grey.size != (MODEL_SIZE, MODEL_SIZE) and options.separation != "none":
        negate = {"auto": None, "on": True, "off": False}[options.invert]
        framing = "garment" if options.crop else "whole"
        result = frame(image, separation=options.separation, size=MODEL_SIZE, framing=framing, negate=negate)
        return _stretch(result) if options.contrast else result
    work = _reduced(grey)
    pixels = np.asarray(work, dtype=np.uint8)
    ring = _ring(pixels)
    background = int(np.median(ring))
    invert = options.invert == "on" or (options.invert == "auto" and background >= _LIGHT)
    if grey.size == (MODEL_SIZE, MODEL_SIZE):
        result = np.array(grey, dtype=np.uint8)
        if invert:
            result = 255 - result
    else:
        if invert:
            pixels, ring, background = 255 - pixels, 255 - ring, 255 - background
        box = None
        if options.crop:
            box = _garment_box(pixels, ring, background, scale=(grey.width / work.width, grey.height / work.height))
        result = _fit(grey, box, invert, background)
    if options.contrast:
        result = _stretch(result)
    return np.ascontiguousarray(result, dtype=np.uint8)


def preprocess_file(
    source: str | Path | bytes | Image.Image,
    options: PreprocessOptions = DEFAULT_OPTIONS,
) -> tuple[Image.Image, np.ndarray]:
    """Open an image for preview and prepare the model's input from it.

    Big JPEGs are decoded at a reduced scale (both sides at least ``PREVIEW_SIZE``), which is ample for a preview
    and for a 28x28 input, and several times faster; call ``open_image`` for the full resolution.

    Args:
        source: A file path, the file's bytes, or an image already opened with Pillow.
        options: Inversion, cropping and contrast choices.

    Returns:
        The opened image and its (28, 28) uint8 model input.

    Raises:
        ImageError: The image cannot be opened or converted (see ``open_image``).
    """
    image = open_image(source, draft_size=PREVIEW_SIZE)
    return image, to_model_input(image, options)


_SUPPORTED = "use PNG, JPEG, WebP, BMP, GIF or TIFF"


def _read(path: Path) -> bytes:
    """Read a whole regular file of a bounded size, so that no handle stays open and every OS error names it."""
    return read_bounded(path, MAX_IMAGE_BYTES, "an image", ImageError)


def list_image_files(folder: str | Path) -> list[Path]:
    """The images in ``folder``, sorted by name: the one rule for a dropped or chosen folder.

    An image is a regular file whose suffix is in ``IMAGE_SUFFIXES`` (any case); hidden files (a leading dot,
    such as macOS's ``._photo.jpg``) are left out. A folder with no images of its own, such as a folder of class
    folders (Dress/, Shirt/...), gives the images of its subfolders, one level down.

    Raises:
        OSError: the folder cannot be listed.
    """
    children = sorted(Path(folder).iterdir(), key=lambda p: p.name)
    own = _images_among(children)
    if own:
        return own
    subfolders = [child for child in children if child.is_dir() and not child.name.startswith(".")]
    return [image for child in subfolders for image in _images_among(sorted(child.iterdir(), key=lambda p: p.name))]


def _images_among(paths: list[Path]) -> list[Path]:
    return [p for p in paths if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file()]


def _identify(data: bytes, name: str) -> Image.Image:
    """Read the image's header only, turning Pillow's decompression-bomb warning into an error."""
    try:
        # The filter change is process-wide while it lasts, but it only concerns this one warning category
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data), formats=IMAGE_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_big(name) from None
    except UnidentifiedImageError:
        raise ImageError(f"{name} is not an image this app opens ({_guess_kind(data)}); {_SUPPORTED}.") from None
    except Exception as exc:  # a plugin that recognised the format can fail on its header with any exception type
        raise _damaged(name, exc) from None


def _decode(image: Image.Image, name: str) -> None:
    """Decode all pixels now, so that damaged files fail here and not later in a worker or a paint event."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_big(name, *image.size) from None
    except Exception as exc:  # Pillow's decoders report truncated or corrupt data with many exception types
        raise _damaged(name, exc) from None


def _upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation; always returns a new image, so it never shares the caller's or a file's."""
    try:
        upright = ImageOps.exif_transpose(image)
    except Exception:  # broken EXIF must not stop an otherwise good photo from opening; it stays as stored
        return image.copy()
    return upright if upright is not None else image.copy()


def _guess_kind(data: bytes) -> str:
    """A short guess of what a file Pillow cannot identify holds, for the error message."""
    if data[4:12] in _HEIF_BRANDS:
        return "HEIC/AVIF photos are not supported; export the photo as JPEG"
    if data.startswith(b"%PDF"):
        return "it is a PDF document"
    if data.startswith((b"%!PS", b"\xc5\xd0\xd3\xc6")):
        return "it is PostScript (EPS), a program rather than an image, so it is never run"
    try:
        text = data[:4096].decode("utf-8")
    except UnicodeDecodeError:
        return "unknown file format"
    if "<svg" in text:
        return "SVG drawings are not supported"
    return "it contains text" if text.strip() else "unknown file format"


def _too_big(name: str, width: int | None = None, height: int | None = None) -> ImageError:
    size = f" ({width}x{height} pixels)" if width is not None and height is not None else ""
    return ImageError(
        f"{name} is too large to open safely{size}: the limit is {MAX_PIXELS // 1_000_000} million pixels; "
        "scale it down in an image editor first."
    )


def _damaged(name: str, exc: BaseException) -> ImageError:
    # The decoder's own words ("image file is truncated (32 bytes not processed)") mean nothing to a user.
    del exc
    return ImageError(
        f"{name} is damaged or incomplete; open and re-save it in an image editor, or choose another file."
    )


def _to_grey(image: Image.Image) -> Image.Image:
    """Flatten transparency onto white and convert to 8-bit grey ("L")."""
    if image.width == 0 or image.height == 0:
        raise ImageError("The image has no pixels; choose another image.")
    mode = image.mode
    try:
        if mode == "L":
            return image
        if mode.startswith("I;16"):
            return Image.fromarray((np.asarray(image).astype(np.uint16) >> 8).astype(np.uint8))
        if mode in ("I", "F"):
            values = np.asarray(image, dtype=np.float64)
            # 16-bit PNGs arrive as "I" and float TIFFs are usually 0..1; plain 0..255 data stay as they are
            peak = float(values.max(initial=0.0))
            factor = 255.0 / 65535.0 if peak > 255 else (255.0 if mode == "F" and peak <= 1.0 else 1.0)
            return Image.fromarray(np.clip(np.rint(values * factor), 0, 255).astype(np.uint8))
        if image.has_transparency_data:
            with_alpha = image.convert("RGBA").convert("LA")
            white = Image.new("L", image.size, 255)
            white.paste(with_alpha.getchannel("L"), mask=with_alpha.getchannel("A"))
            return white
        try:
            return image.convert("L")
        except ValueError:  # modes without a direct conversion to grey (LAB, HSV) go through RGB
            return image.convert("RGB").convert("L")
    except ImageError:
        raise
    except Exception as exc:
        raise ImageError(
            f"The image's pixel format ({mode}) cannot be converted to grey ({exc}); save it as an 8-bit PNG or JPEG."
        ) from None


def _reduced(grey: Image.Image) -> Image.Image:
    """A box-averaged copy of at most about _WORK_SIDE pixels a side, which also evens out sensor and JPEG noise."""
    factor = -(-max(grey.size) // _WORK_SIDE)
    return grey.reduce(factor) if factor > 1 else grey


def _ring(pixels: np.ndarray) -> np.ndarray:
    """The outer ring of pixels (about 2% of each side deep), where a product photo shows its background."""
    height, width = pixels.shape
    depth_y, depth_x = max(1, height // 50), max(1, width // 50)
    return np.concatenate(
        [
            pixels[:depth_y].ravel(),
            pixels[-depth_y:].ravel(),
            pixels[depth_y:-depth_y, :depth_x].ravel(),
            pixels[depth_y:-depth_y, -depth_x:].ravel(),
        ]
    )


def _garment_box(
    pixels: np.ndarray, ring: np.ndarray, background: int, scale: tuple[float, float]
) -> tuple[float, float, float, float] | None:
    """The bounding box, in full-size coordinates, of pixels clearly brighter than the background, or None.

    A pixel is garment when it exceeds the background by ``_MIN_CONTRAST`` or four robust standard deviations of
    the ring, whichever is larger. Rows and columns with only a speck or two of such pixels (dust, noise, a
    stray JPEG block) are ignored so they cannot stretch the box.
    """
    spread = 1.4826 * float(np.median(np.abs(ring.astype(np.int16) - background)))
    mask = pixels > background + max(_MIN_CONTRAST, 4.0 * spread)
    height, width = mask.shape
    rows = np.flatnonzero(mask.sum(axis=1) >= max(1, width // 200))
    cols = np.flatnonzero(mask.sum(axis=0) >= max(1, height // 200))
    if rows.size == 0 or cols.size == 0:
        return None
    scale_x, scale_y = scale
    full_width, full_height = width * scale_x, height * scale_y
    return (
        cols[0] * scale_x,
        rows[0] * scale_y,
        min(full_width, (cols[-1] + 1) * scale_x),
        min(full_height, (rows[-1] + 1) * scale_y),
    )


def _fit(grey: Image.Image, box: tuple[float, float, float, float] | None, invert: bool, background: int) -> np.ndarray:
    """Scale the box (or the whole image) so its longer side is FIT_SIZE, level the background, centre it."""
    left, top, right, bottom = box if box is not None else (0.0, 0.0, float(grey.width), float(grey.height))
    width, height = right - left, bottom - top
    # Without a crop the frame is the user's choice, so the whole image fills the square edge to edge
    side = FIT_SIZE if box is not None else MODEL_SIZE
    longer = max(width, height)
    size = (max(1, min(side, round(side * width / longer))), max(1, min(side, round(side * height / longer))))
    scaled = np.asarray(
        grey.resize(size, Image.Resampling.LANCZOS, box=(left, top, right, bottom), reducing_gap=_REDUCING_GAP),
        dtype=np.int32,
    )
    if invert:
        scaled = 255 - scaled
    fill = 0
    if background < _LIGHT:
        # The model was trained on garments against pure black: map the (inverted) background level to 0
        scaled = np.clip(np.rint((scaled - background) * (255.0 / (255 - background))), 0, 255)
    else:
        fill = background  # "off" on a light photo: pad with its own background rather than black bars
    canvas = np.full((MODEL_SIZE, MODEL_SIZE), fill, dtype=np.uint8)
    y0, x0 = (MODEL_SIZE - size[1]) // 2, (MODEL_SIZE - size[0]) // 2
    canvas[y0 : y0 + size[1], x0 : x0 + size[0]] = scaled.astype(np.uint8)
    return canvas


def _stretch(pixels: np.ndarray) -> np.ndarray:
    """Map the darkest pixel to 0 and the brightest to 255 linearly; a flat image is left as it is."""
    low, high = int(pixels.min()), int(pixels.max())
    if high <= low:
        return pixels
    return np.rint((pixels.astype(np.float64) - low) * (255.0 / (high - low))).astype(np.uint8)
