"""The Predict tab's background work: photos are decoded and framed on a thread pool, never on the GUI thread.

GrabCut costs 30-50 ms a photo, so 341 dropped photos framed on the GUI thread froze the window for half a minute
(issue 11), and keeping every decoded photo added 3.6 GB for 5,000 of them (issue 14). Each job here decodes one
file, frames it as the model was trained (Fashion-MNIST's 28x28 grey, or an image-folder model's own size, colour and
framing) and hands back only what the tab's view needs: the model input and a small thumbnail. The decoded photo is
dropped on the worker thread.

Results travel to the GUI thread through a queued signal (the relay lives on the GUI thread, the job emits on a
pool thread). Every batch carries the tab's generation number: a result of a superseded switch setting, or of a
list that was cleared, is dropped by the tab.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image
from PySide6.QtCore import QObject, QRunnable, QThread, QThreadPool, Signal

from fashion_desktop.core.errors import ImageError
from fashion_desktop.core.imaging import PREVIEW_SIZE, PreprocessOptions, open_image, to_model_input
from fashion_desktop.core.segment import frame_photo

if TYPE_CHECKING:
    from fashion_desktop.core.folders import FramingSettings

THUMBNAIL_SIDE = 64  # the list's icons are 56 px: a thumbnail this big is all the list ever draws
PREVIEW_MAX_SIDE = 1024  # the selected photo is shown at most this big, so huge PNGs do not hold huge pixmaps


@dataclass(frozen=True)
class Prepared:
    """One photo made ready for the list, or why it could not be.

    Attributes:
        generation: The tab's generation when the job was queued; stale ones are dropped.
        key: The tab's identifier of the listed image.
        path: The file.
        seen: The uint8 model input, (28, 28) for a Fashion-MNIST model, or None when the file could not be opened.
        thumbnail: An RGBA uint8 array at most ``THUMBNAIL_SIDE`` a side, or None when only the input changed.
        error: The ImageError's message for a file that could not be opened.
    """

    generation: int
    key: int
    path: Path
    seen: np.ndarray | None
    thumbnail: np.ndarray | None
    error: str | None = None


@dataclass(frozen=True)
class Preview:
    """The selected photo decoded again, for the big view: an RGBA uint8 array at most ``PREVIEW_MAX_SIDE``."""

    key: int
    pixels: np.ndarray | None
    error: str | None = None


class Relay(QObject):
    """Lives on the GUI thread: its signals, emitted on pool threads, are delivered there queued."""

    prepared = Signal(object)  # Prepared
    previewed = Signal(object)  # Preview


class _PrepareJob(QRunnable):
    def __init__(
        self,
        relay: Relay,
        generation: int,
        key: int,
        path: Path,
        options: PreprocessOptions,
        thumbnail: bool,
        cancelled: threading.Event,
        framing: FramingSettings | None,
    ) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self._relay, self._generation, self._key, self._path = relay, generation, key, path
        self._options, self._thumbnail, self._cancelled, self._framing = options, thumbnail, cancelled, framing

    def run(self) -> None:
        if self._cancelled.is_set():  # cancelled or superseded while it waited in the queue: no work, no signal
            return
        prepared = prepare(self._generation, self._key, self._path, self._options, self._thumbnail, self._framing)
        self._relay.prepared.emit(prepared)


class _PreviewJob(QRunnable):
    def __init__(self, relay: Relay, key: int, path: Path) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self._relay, self._key, self._path = relay, key, path

    def run(self) -> None:
        try:
            image = open_image(self._path, draft_size=PREVIEW_SIZE)
        except ImageError as error:
            self._relay.previewed.emit(Preview(self._key, None, str(error)))
            return
        self._relay.previewed.emit(Preview(self._key, rgba_array(image, PREVIEW_MAX_SIDE)))


class _WarmUpJob(QRunnable):
    def run(self) -> None:
        # OpenCV takes about 0.35 s to import and holds the GIL all the while: imported by the first photo, it
        # froze the event loop for 200-250 ms of a drop. Imported here, ahead of any drop.
        import cv2  # noqa: F401


def prepare(
    generation: int,
    key: int,
    path: Path,
    options: PreprocessOptions,
    thumbnail: bool,
    framing: FramingSettings | None = None,
) -> Prepared:
    """Decode and frame one file (on a worker thread); only the model input and a thumbnail outlive the call.

    ``framing`` is an image-folder model's (``Checkpoint.framing``): its size, colour and framing, with the
    separation of ``options``, as ``Predictor.predict`` frames a photo; None is Fashion-MNIST's preprocessing.
    """
    try:
        # big JPEGs decode at a reduced, faster scale, never below the model's input
        image = open_image(path, draft_size=max(PREVIEW_SIZE, framing.size if framing is not None else 0))
        if framing is None:
            seen = to_model_input(image, options)
        else:
            seen = frame_photo(
                image, separation=options.separation, size=framing.size, color=framing.color, framing=framing.framing
            )
    except ImageError as error:
        return Prepared(generation, key, path, None, None, str(error))
    small = rgba_array(image, THUMBNAIL_SIDE) if thumbnail else None
    return Prepared(generation, key, path, seen, small)


def rgba_array(image: Image.Image, max_side: int) -> np.ndarray:
    """The image as a C-contiguous (h, w, 4) uint8 array, reduced to at most ``max_side`` pixels a side."""
    rgba = image.convert("RGBA")  # before reducing: thumbnail() does not take palette or 1-bit images well
    if max(rgba.size) > max_side:
        rgba.thumbnail((max_side, max_side), Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.ascontiguousarray(np.asarray(rgba, dtype=np.uint8))


class PrepareQueue:
    """The tab's thread pool: queues framing and preview jobs and stops them all when asked.

    The pool leaves one core to the GUI thread, so that painting and input never wait for GrabCut.
    """

    def __init__(self, relay: Relay) -> None:
        self._relay = relay
        self._pool = QThreadPool()
        self._pool.setMaxThreadCount(max(1, QThread.idealThreadCount() - 1))
        self._cancelled = threading.Event()

    def submit(
        self,
        generation: int,
        items: list[tuple[int, Path]],
        options: PreprocessOptions,
        thumbnails: bool,
        framing: FramingSettings | None = None,
    ) -> None:
        """Queue one framing job per ``(key, path)``, in order; ``framing`` as ``prepare`` takes it."""
        for key, path in items:
            job = _PrepareJob(self._relay, generation, key, path, options, thumbnails, self._cancelled, framing)
            self._pool.start(job)

    def warm_up(self) -> None:
        """Load the framing's libraries on a worker now, so the first drop does not wait for them."""
        self._pool.start(_WarmUpJob())

    def preview(self, key: int, path: Path) -> None:
        """Decode one photo for the big view, ahead of any queued framing."""
        self._pool.start(_PreviewJob(self._relay, key, path), 1)

    def cancel(self) -> None:
        """Drop the queued jobs; those running finish and their results are dropped by generation."""
        self._cancelled.set()
        self._pool.clear()
        self._cancelled = threading.Event()  # jobs queued from now on belong to the next batch

    def shutdown(self) -> None:
        """Cancel everything and wait until no job runs: no thread may outlive the tab."""
        self.cancel()
        self._pool.waitForDone()

    def active(self) -> int:
        """How many jobs are running now."""
        return self._pool.activeThreadCount()
