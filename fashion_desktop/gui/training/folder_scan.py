"""The Training tab's image-folder scan: a worker that reads one folder with one framing, off the GUI thread.

It reports three steps, each as soon as it is done: the folder's classes and image counts (a quick listing), a few
photos of each class framed as the model will see them (the core's ``frame_photo``), then the whole import
(``load_image_folder``, cached, so that Start finds it ready) with the exact splits and the skipped files.

The worker owns no thread: the data section starts it on one (``start_in_thread``), waits for it and lets it go.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, Signal, Slot

from fashion_desktop.core.errors import UserError
from fashion_desktop.core.folders import FramingSettings, display_name

if TYPE_CHECKING:  # torch-dependent, loaded where used
    from fashion_desktop.core.folders import ImageFolderData

SAMPLES_PER_CLASS = 4


@dataclass(frozen=True)
class FolderListing:
    """The classes of an image folder and how many images each holds (all splits), from a quick listing."""

    root: Path
    class_names: tuple[str, ...]
    counts: tuple[int, ...]
    split_folders: tuple[str, ...]  # "train" and, in the nested layout, "validation" and "test" where present


@dataclass(frozen=True)
class FolderImport:
    """What the whole import found: per class its (train, validation, test) counts, and the skipped files."""

    splits: tuple[tuple[int, int, int], ...]
    skipped: tuple[tuple[str, str], ...]  # (file name to show, reason)
    cached: int
    total: int

    @classmethod
    def of(cls, data: ImageFolderData) -> FolderImport:
        counts = [data.class_counts(split) for split in ("train", "validation", "test")]
        splits = tuple(tuple(c[name] for c in counts) for name in data.class_names)
        return cls(
            splits=splits,  # type: ignore[arg-type]  # three counts each
            skipped=tuple((display_name(os.path.relpath(s.path, data.root)), s.reason) for s in data.skipped),
            cached=data.cached,
            total=len(data.train_labels) + len(data.val_labels) + len(data.test_labels),
        )


class FolderScanWorker(QObject):
    """Reads one image folder with one framing on a worker thread: listing, samples, then the whole import.

    Signals:
        listed: the FolderListing.
        sampled: (class index, its framed samples: uint8 (H, W) or (H, W, 3)), class by class as they are made.
        progress: (done, total) photos of the import.
        imported: the FolderImport.
        failed: the core's message for a folder it refuses.
        finished: emitted once at the end, however it ended.
    """

    listed = Signal(object)
    sampled = Signal(int, object)
    progress = Signal(int, int)
    imported = Signal(object)
    failed = Signal(str)
    finished = Signal()

    def __init__(self, root: Path, settings: FramingSettings) -> None:
        super().__init__()
        self.root, self.settings = root, settings
        self.cancel = threading.Event()

    @Slot()
    def run(self) -> None:
        from fashion_desktop.core.folders import ImportCancelled, load_image_folder

        try:
            listing, files = _list_folder(self.root)
            self.listed.emit(listing)
            for index, paths in enumerate(files):  # a row at a time: GrabCut takes a while on a big photo
                self.sampled.emit(index, _frame_samples(paths, self.settings, self.cancel))
            if self.cancel.is_set():
                return
            last = [-1]

            def progress(done: int, total: int) -> None:
                percent = 100 * done // max(1, total)
                if percent != last[0]:  # at most one signal a percent: the GUI thread draws each
                    last[0] = percent
                    self.progress.emit(done, total)

            data = load_image_folder(self.root, self.settings, progress=progress, cancel=self.cancel)
            self.imported.emit(FolderImport.of(data))
        except ImportCancelled:
            pass
        except UserError as error:
            self.failed.emit(str(error))
        except Exception as error:  # a hostile folder must never end the app; the message says what happened
            self.failed.emit(f"the folder could not be read ({type(error).__name__}: {error})")
        finally:
            self.finished.emit()


def _list_folder(root: Path) -> tuple[FolderListing, list[list[Path]]]:
    """The layout (the core's checks and messages) and, per class, its training images and its image count."""
    from fashion_desktop.core.folders import discover_layout
    from fashion_desktop.core.imaging import list_image_files

    layout = discover_layout(root)
    counts, train_files = [], []
    for name in layout.class_names:
        total = 0
        for split, folder in layout.split_folders.items():
            try:
                found = list_image_files(folder / name) if (folder / name).is_dir() else []
            except OSError:
                found = []  # the import lists it among the skipped files, with the reason
            total += len(found)
            if split == "train":
                train_files.append(found)
        counts.append(total)
    listing = FolderListing(layout.root, layout.class_names, tuple(counts), tuple(layout.split_folders))
    return listing, train_files


def _frame_samples(paths: list[Path], settings: FramingSettings, cancel: threading.Event) -> list[np.ndarray]:
    """The first few photos that frame, framed exactly as the import frames them."""
    from fashion_desktop.core.imaging import PREVIEW_SIZE, open_image
    from fashion_desktop.core.segment import frame_photo

    samples: list[np.ndarray] = []
    for path in paths:
        if len(samples) == SAMPLES_PER_CLASS or cancel.is_set():
            break
        try:
            image = open_image(path, draft_size=max(PREVIEW_SIZE, settings.size))
            samples.append(
                frame_photo(
                    image,
                    separation=settings.separation,
                    size=settings.size,
                    color=settings.color,
                    framing=settings.framing,
                )
            )
        except Exception:  # an unreadable photo is left out here; the import lists it
            continue
    return samples
