"""Image-folder datasets: the user's own labelled photos, one subfolder per class, decoded and framed once.

Two layouts are recognised, the ones ``torchvision.datasets.ImageFolder`` users already have:

- ``ROOT/<class>/...``: one subfolder per class; validation and test images are split off the training images.
- ``ROOT/train/<class>/...`` with optional ``ROOT/validation/<class>/...`` (also ``val``, ``valid``) and
  ``ROOT/test/<class>/...``: a missing validation or test folder is split off ``train/``.

Classes are the subfolder names sorted by code point, exactly as ``ImageFolder``'s ``find_classes`` orders them, so
a model's class indices match a script that reads the same folder with torchvision. Images are found recursively
inside each class folder (ImageFolder does the same), with symbolic links followed but loops detected.

Every image is decoded (with :func:`fashion_desktop.core.imaging.open_image`'s safety checks) and framed once, in a
thread pool, and the framed pixels are cached on disk keyed by each file's size and modification time and by the
framing settings: a second import of an unchanged folder only reads the cache. Files that cannot be decoded are
skipped and listed, never fatal; what was framed before a cancel or an error stays in the cache.

Finding the layout, its classes and their files is :mod:`fashion_desktop.core.folder_layout`'s job.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import platformdirs

from fashion_desktop.core.errors import DataError, UserError
from fashion_desktop.core.folder_layout import FolderLayout, SkippedFile, discover_layout, display_name, image_files
from fashion_desktop.core.imaging import open_image
from fashion_desktop.core.segment import frame_photo, frame_side
from fashion_desktop.core.stages import stage

if TYPE_CHECKING:
    import torch

    from fashion_desktop.core.data import FashionData

# The choices of fashion_desktop.core.segment.frame_photo, repeated so a folder can be checked before it loads
SEPARATIONS: tuple[str, ...] = ("grabcut", "border", "none")
FRAMINGS: tuple[str, ...] = ("garment", "whole", "squash")
MIN_SIZE, MAX_SIZE = 8, 256
CACHE_VERSION = 3  # bump when the cache's layout or the meaning of its pixels changes (3: GrabCut at 128 px)

Progress = Callable[[int, int], None]  # (files done, files total)


@dataclass(frozen=True)
class FramingSettings:
    """How each photo becomes a model input; every field is part of the cache key.

    Attributes:
        size: Side of the square input in pixels (28 is Fashion-MNIST's).
        color: Three RGB channels instead of one grey channel.
        framing: "garment" crops to the separated garment, "whole" pads the whole photo to a square, "squash"
            resizes it to a square without keeping its aspect ratio.
        separation: How the garment is told from the background: "grabcut", "border" (a border-colour model,
            faster) or "none".
    """

    size: int = 28
    color: bool = False
    framing: str = "garment"
    separation: str = "grabcut"

    def __post_init__(self) -> None:
        if not MIN_SIZE <= self.size <= MAX_SIZE:
            raise DataError(f"the input size must be {MIN_SIZE} to {MAX_SIZE} pixels, not {self.size}")
        if self.framing not in FRAMINGS:
            raise DataError(f"framing must be one of {', '.join(FRAMINGS)}, not {self.framing!r}")
        if self.separation not in SEPARATIONS:
            raise DataError(f"garment separation must be one of {', '.join(SEPARATIONS)}, not {self.separation!r}")

    @property
    def channels(self) -> int:
        return 3 if self.color else 1


@dataclass(frozen=True, eq=False)
class ImageFolderData:
    """An imported image folder, in the shape the trainer uses: uint8 images (N, C, H, W) and int64 labels."""

    root: Path
    class_names: tuple[str, ...]
    settings: FramingSettings
    train_images: np.ndarray
    train_labels: np.ndarray
    val_images: np.ndarray
    val_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    skipped: tuple[SkippedFile, ...]
    from_folders: frozenset[str]  # the splits read from their own folders; the others were split off train/
    seconds: float = 0.0  # the import's wall time
    cached: int = 0  # images taken from the cache instead of being decoded

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of every image, for the model spec."""
        return (self.settings.channels, self.settings.size, self.settings.size)

    def class_counts(self, split: str = "train") -> dict[str, int]:
        """Images per class in one split ("train", "validation" or "test")."""
        labels = {"train": self.train_labels, "validation": self.val_labels, "test": self.test_labels}[split]
        counts = np.bincount(labels, minlength=len(self.class_names))
        return dict(zip(self.class_names, (int(c) for c in counts), strict=True))

    def to_fashion_data(self, device: torch.device | str = "cpu", mean: float = 0.5, std: float = 0.5) -> FashionData:
        """The data on ``device``, normalised like Fashion-MNIST, as the :class:`FashionData` the engine trains on."""
        import torch  # the folder import itself needs no torch, so a GUI worker can list classes before it loads

        from fashion_desktop.core.data import FashionData

        target = torch.device(device)

        def inputs(images: np.ndarray) -> torch.Tensor:
            # uint8 goes over, so the device does the float work (as load_fashion_mnist does)
            return torch.from_numpy(images).to(target).float().div_(255).sub_(mean).div_(std)

        def labels(values: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(values).to(target).long()

        shown = self.test_images.transpose(0, 2, 3, 1)  # (N, H, W, C) to display
        return FashionData(
            train_x=inputs(self.train_images),
            train_y=labels(self.train_labels),
            val_x=inputs(self.val_images),
            val_y=labels(self.val_labels),
            test_x=inputs(self.test_images),
            test_y=labels(self.test_labels),
            mean=mean,
            std=std,
            device=target,
            test_images=shown[..., 0] if self.settings.channels == 1 else shown,
            class_names=self.class_names,
        )


class ImportCancelled(Exception):
    """The import was cancelled; the images framed so far are in the cache, so the next import resumes."""


# --- Framing --------------------------------------------------------------------------------------------------


def _frame_file(path: str, settings: FramingSettings) -> np.ndarray | str:
    """Decode and frame one file: the (C, H, W) pixels, or the reason it was skipped (a worker's whole job)."""
    try:
        # JPEGs decode straight to about the size framing works at, not at full size (inference does the same)
        image = open_image(path, draft_size=frame_side(settings.size))
        framed = frame_photo(
            image, separation=settings.separation, size=settings.size, color=settings.color, framing=settings.framing
        )
    except UserError as error:
        return str(error)
    except Exception as error:  # a hostile file must never end the import: it is listed with its reason
        return f"cannot be framed ({type(error).__name__}: {error})"
    expected = (settings.size, settings.size, 3) if settings.color else (settings.size, settings.size)
    if framed.shape != expected or framed.dtype != np.uint8:
        return f"was framed to {framed.dtype} {framed.shape} instead of uint8 {expected}"
    return np.ascontiguousarray(framed.transpose(2, 0, 1) if settings.color else framed[None])


# --- Cache ----------------------------------------------------------------------------------------------------


def default_cache_dir() -> Path:
    """The per-user cache folder for imported image folders, e.g. ~/.cache/fashion-desktop/image-folders."""
    return platformdirs.user_cache_path("fashion-desktop", appauthor=False) / "image-folders"


def _settings_key(settings: FramingSettings) -> str:
    return json.dumps({"version": CACHE_VERSION, **asdict(settings)}, sort_keys=True)


def _cache_path(cache_dir: Path, root: Path, settings: FramingSettings) -> Path:
    identity = os.fsencode(root.resolve()) + b"\0" + _settings_key(settings).encode()
    return cache_dir / f"{hashlib.sha256(identity).hexdigest()[:24]}.npz"


@dataclass
class _Cache:
    """Framed images by relative path, each with the (size, mtime_ns) it was framed from; reasons for the skipped."""

    images: dict[str, tuple[int, int, np.ndarray]] = field(default_factory=dict)
    failures: dict[str, tuple[int, int, str]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path, settings: FramingSettings) -> _Cache:
        """The cache at ``path``, or an empty one when it is missing, damaged or from other settings."""
        try:
            with np.load(path, allow_pickle=False) as archive:
                if str(archive["key"]) != _settings_key(settings):
                    return cls()
                paths, stamps, pixels = archive["paths"], archive["stamps"], archive["pixels"]
                failed, failed_stamps, reasons = archive["failed"], archive["failed_stamps"], archive["reasons"]
        except (OSError, KeyError, ValueError, EOFError):
            return cls()  # a cache is only ever a shortcut: anything wrong with it means decoding again
        shape = (settings.channels, settings.size, settings.size)
        if pixels.shape[1:] != shape or len(paths) != len(pixels):
            return cls()
        cache = cls()
        for name, (size, mtime), image in zip(paths.tolist(), stamps.tolist(), pixels, strict=True):
            cache.images[name] = (size, mtime, image)
        for name, (size, mtime), reason in zip(failed.tolist(), failed_stamps.tolist(), reasons.tolist(), strict=True):
            cache.failures[name] = (size, mtime, reason)
        return cache

    def save(self, path: Path, settings: FramingSettings) -> None:
        """Write atomically (a crash never leaves half a cache); a cache that cannot be written is only slower."""
        names = sorted(self.images)
        shape = (0, settings.channels, settings.size, settings.size)
        failed = sorted(self.failures)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".import-", suffix=".npz")
            with os.fdopen(fd, "wb") as out:
                np.savez(
                    out,
                    key=np.array(_settings_key(settings)),
                    paths=np.array(names, dtype=str),
                    stamps=np.array([self.images[n][:2] for n in names], dtype=np.int64).reshape(-1, 2),
                    pixels=np.stack([self.images[n][2] for n in names]) if names else np.zeros(shape, np.uint8),
                    failed=np.array(failed, dtype=str),
                    failed_stamps=np.array([self.failures[n][:2] for n in failed], dtype=np.int64).reshape(-1, 2),
                    reasons=np.array([self.failures[n][2] for n in failed], dtype=str),
                )
            os.replace(tmp, path)
        except OSError:
            if "tmp" in locals() and os.path.exists(tmp):
                os.remove(tmp)


# --- Import ---------------------------------------------------------------------------------------------------


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


def load_image_folder(
    root: str | Path,
    settings: FramingSettings | None = None,
    *,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 0,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    cache_dir: Path | None = None,
    workers: int | None = None,
    executor: str = "thread",
) -> ImageFolderData:
    """Import an image folder: discover its layout, frame every image once (in parallel, cached), split, stack.

    Args:
        root: The folder (either layout of the module docstring).
        settings: The framing; Fashion-MNIST's 28x28 grey garment framing by default.
        val_fraction: Share of each class's training images held out for validation when there is no
            validation folder.
        test_fraction: The same for the test split when there is no test folder.
        seed: Seeds the splits: the same seed and files give the same splits.
        progress: Called on the calling thread with (files done, files total), cached files included.
        cancel: Set from any thread to stop; the import then raises :class:`ImportCancelled`.
        cache_dir: Where the cache lives; :func:`default_cache_dir` by default.
        workers: Pool size; the number of cores by default.
        executor: "thread" (the default: the decoders and OpenCV release the GIL) or "process".

    Returns:
        The framed images split into train, validation and test, with the skipped files listed.

    Raises:
        DataError: the layout is wrong (see :func:`discover_layout`), a class folder holds no images, or every
            image of a class was skipped; the message names the folder and says what to do.
        ImportCancelled: ``cancel`` was set.
    """
    started = time.perf_counter()
    settings = settings or FramingSettings()
    for name, value in (("validation", val_fraction), ("test", test_fraction)):
        if not 0 <= value < 1:
            raise DataError(f"the {name} share must be at least 0 and below 1, not {value}")
    skipped: list[SkippedFile] = []
    with stage("scan"):
        layout = discover_layout(root)
        files = image_files(layout, skipped)
    all_files = [path for split in files.values() for per_class in split for path in per_class]
    cache_path = _cache_path(cache_dir or default_cache_dir(), layout.root, settings)
    framed, failures, from_cache = _frame_all(
        all_files, layout.root, settings, cache_path, progress, cancel, workers, executor
    )
    skipped.extend(SkippedFile(path, failures[path]) for path in all_files if path in failures)
    data = _assemble(layout, settings, files, framed, val_fraction, test_fraction, seed)
    return ImageFolderData(
        root=layout.root,
        class_names=layout.class_names,
        settings=settings,
        skipped=tuple(skipped),
        from_folders=frozenset(layout.split_folders),
        seconds=time.perf_counter() - started,
        cached=from_cache,
        **data,
    )


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_size, info.st_mtime_ns) if stat.S_ISREG(info.st_mode) else None


def _frame_all(
    paths: Sequence[Path],
    root: Path,
    settings: FramingSettings,
    cache_path: Path,
    progress: Progress | None,
    cancel: threading.Event | None,
    workers: int | None,
    executor: str,
) -> tuple[dict[Path, np.ndarray], dict[Path, str], int]:
    """Frame every file, taking unchanged ones from the cache; returns (pixels, skip reasons, cache hits)."""
    with stage("cache read"):
        old = _Cache.load(cache_path, settings)
    new = _Cache()
    framed: dict[Path, np.ndarray] = {}
    failures: dict[Path, str] = {}
    todo: list[tuple[Path, str, tuple[int, int]]] = []
    for path in paths:
        name = os.path.relpath(path, root)
        stamp = _stamp(path)
        if stamp is None:
            failures[path] = "cannot be read (it vanished or is not a regular file)"
        elif (hit := old.images.get(name)) is not None and hit[:2] == stamp:
            framed[path] = hit[2]
            new.images[name] = hit
        elif (miss := old.failures.get(name)) is not None and miss[:2] == stamp:
            failures[path] = miss[2]
            new.failures[name] = miss
        else:
            todo.append((path, name, stamp))
    total, done = len(paths), len(paths) - len(todo)
    hits = len(framed)
    if progress is not None:
        progress(done, total)
    if todo:
        pool: Executor
        if executor == "process":
            pool = ProcessPoolExecutor(workers or default_workers())
        elif executor == "thread":
            pool = ThreadPoolExecutor(workers or default_workers(), thread_name_prefix="image-import")
        else:
            raise ValueError(f"executor must be 'thread' or 'process', not {executor!r}")
        try:
            futures: dict[Future[np.ndarray | str], tuple[Path, str, tuple[int, int]]] = {
                pool.submit(_frame_file, str(path), settings): (path, name, stamp) for path, name, stamp in todo
            }
            for future in as_completed(futures):
                path, name, stamp = futures[future]
                result = future.result()
                if isinstance(result, str):
                    failures[path] = result
                    new.failures[name] = (*stamp, result)
                else:
                    framed[path] = result
                    new.images[name] = (*stamp, result)
                done += 1
                if progress is not None:
                    progress(done, total)
                if cancel is not None and cancel.is_set():
                    raise ImportCancelled(f"the import of {display_name(root)} was cancelled after {done} of {total}")
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            # Whatever happened (a cancel, an error), the work done so far is kept: the next import resumes from it.
            with stage("cache write"):
                new.save(cache_path, settings)
    elif cancel is not None and cancel.is_set():
        raise ImportCancelled(f"the import of {display_name(root)} was cancelled")
    elif set(old.images) != set(new.images) or set(old.failures) != set(new.failures):
        with stage("cache write"):
            new.save(cache_path, settings)  # files were removed: keep the cache from growing with ghosts
    return framed, failures, hits


def _assemble(
    layout: FolderLayout,
    settings: FramingSettings,
    files: dict[str, list[list[Path]]],
    framed: dict[Path, np.ndarray],
    val_fraction: float,
    test_fraction: float,
    seed: int,
) -> dict[str, np.ndarray]:
    """Stack the framed images per split, splitting validation and test off train/ where they have no folder."""
    rng = np.random.default_rng(seed)
    members: dict[str, list[tuple[Path, int]]] = {"train": [], "validation": [], "test": []}
    for index, class_name in enumerate(layout.class_names):
        usable = [path for path in files["train"][index] if path in framed]
        if not usable:
            raise DataError(
                f"none of the images in {display_name(layout.split_folders['train'] / class_name)} could be read "
                "(see the skipped files); replace them with PNG or JPEG images"
            )
        # Stratified: each class gives the same share, so a small class still appears in every split.
        order = rng.permutation(len(usable))
        cuts = {}
        for split, fraction in (("validation", val_fraction), ("test", test_fraction)):
            cuts[split] = 0 if split in files else _share(len(usable), fraction)
        val_end = cuts["validation"]
        test_end = val_end + cuts["test"]
        picked = [usable[i] for i in order]
        members["validation"] += [(p, index) for p in picked[:val_end]]
        members["test"] += [(p, index) for p in picked[val_end:test_end]]
        members["train"] += [(p, index) for p in picked[test_end:]]
        for split in ("validation", "test"):
            if split in files:
                members[split] += [(p, index) for p in files[split][index] if p in framed]
    shape = (0, settings.channels, settings.size, settings.size)
    result: dict[str, np.ndarray] = {}
    for split, prefix in (("train", "train"), ("validation", "val"), ("test", "test")):
        ordered = sorted(members[split], key=lambda item: (item[1], item[0]))  # stable whatever the pool's order
        images = [framed[path] for path, _ in ordered]
        result[f"{prefix}_images"] = np.stack(images) if images else np.zeros(shape, np.uint8)
        result[f"{prefix}_labels"] = np.array([label for _, label in ordered], dtype=np.int64)
    return result


def _share(count: int, fraction: float) -> int:
    """Images of a class to hold out: the rounded share, at least one when asked for any, never all of them."""
    if fraction <= 0 or count < 3:
        return 0
    return min(count - 2, max(1, round(count * fraction)))
