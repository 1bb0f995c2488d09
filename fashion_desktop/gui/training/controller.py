"""The Training tab's controller: the one owner of the worker thread and of the running run's state.

It starts a training (new or continued) or a download on a worker thread, hands stop, pause and resume to it,
keeps the run's clock (pauses left out) for the speed and time-left line, and reports the end once the thread
has finished, with the worker's outcome: nothing here reads the worker after its thread has ended.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QObject, QThread, Signal, Slot

from fashion_desktop.core.metrics import FitInfo
from fashion_desktop.core.session import TrainingOutcome, TrainingRequest
from fashion_desktop.gui.training_worker import DataWorker, DownloadOutcome, TrainingWorker, start_in_thread


class TrainingController(QObject):
    """Runs one worker at a time on its own QThread, and keeps that run's state.

    Signals:
        data_progress, fit_started, batches_finished, epoch_finished, warned: the TrainingWorker's (and the
            DataWorker's data_progress), passed on as they come.
        training_ended: the TrainingOutcome, once the training thread has finished.
        download_ended: the DownloadOutcome, once the download thread has finished.
    """

    data_progress = Signal(object)
    import_progress = Signal(object)  # the TrainingWorker's: photos of an image folder framed so far
    fit_started = Signal(object)
    batches_finished = Signal(object)
    epoch_finished = Signal(object)
    activity = Signal(object)  # the TrainingWorker's ActivitySnapshots
    warned = Signal(str)
    training_ended = Signal(object)
    download_ended = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: QThread | None = None  # the running worker's, referenced until it has finished
        self._worker: TrainingWorker | DataWorker | None = None
        self._outcome: TrainingOutcome | DownloadOutcome | None = None  # the worker's last word
        self.info: FitInfo | None = None  # the running training's, once its data has loaded
        self._started = 0.0
        self._paused_since: float | None = None
        self._paused_seconds = 0.0
        self.fit_started.connect(self._on_fit_started)

    # -- state --
    def is_running(self) -> bool:
        """True while a worker thread runs: training, or a download."""
        return self._thread is not None

    def is_training(self) -> bool:
        """True while a training worker runs (the data may still be loading)."""
        return isinstance(self._worker, TrainingWorker)

    def is_training_model(self) -> bool:
        """True while a network trains: not while the data downloads or loads, when there is no model to save."""
        return self.is_training() and self.info is not None

    def training_seconds(self) -> float:
        """Seconds since training started (after the data had loaded), pauses left out."""
        paused = self._paused_seconds + (time.monotonic() - self._paused_since if self._paused_since else 0.0)
        return time.monotonic() - self._started - paused

    # -- starting --
    def start_training(self, request: TrainingRequest) -> None:
        worker = TrainingWorker(request)
        worker.import_progress.connect(self.import_progress)
        worker.fit_started.connect(self.fit_started)
        worker.batches_finished.connect(self.batches_finished)
        worker.epoch_finished.connect(self.epoch_finished)
        worker.activity.connect(self.activity)
        worker.warned.connect(self.warned)
        self.info, self._paused_since, self._paused_seconds = None, None, 0.0
        self._start(worker)

    def start_download(self, data_root: Path, dataset: str = "fashion-mnist") -> None:
        self._start(DataWorker(data_root, dataset))

    def _start(self, worker: TrainingWorker | DataWorker) -> None:
        assert self._thread is None, "one worker at a time"
        worker.data_progress.connect(self.data_progress)
        worker.finished.connect(self._on_worker_finished)
        self._worker, self._outcome = worker, None
        self._thread = start_in_thread(worker, self._on_thread_finished)

    # -- control --
    def stop(self) -> None:
        """Ask the running worker to stop (training: after the current batch); returns at once."""
        if self._worker is not None:
            self._worker.stop()

    def set_paused(self, paused: bool) -> None:
        """Hold the training after the current batch, or let it go on; the clock leaves pauses out."""
        if not isinstance(self._worker, TrainingWorker):
            return
        if paused:
            self._worker.pause()
            self._paused_since = time.monotonic()
        else:
            self._worker.resume()
            self._account_pause()

    def wait_for_stop(self, timeout_ms: int) -> bool:
        """Process events until the worker thread has finished; True if it did within ``timeout_ms``."""
        deadline = time.monotonic() + timeout_ms / 1000
        while self._thread is not None and time.monotonic() < deadline:
            # The worker quits its thread directly; the end is reported back through this thread's event loop.
            QCoreApplication.processEvents()
            if self._thread is not None:
                self._thread.wait(20)
        return self._thread is None

    def _account_pause(self) -> None:
        if self._paused_since is not None:
            self._paused_seconds += time.monotonic() - self._paused_since
            self._paused_since = None

    # -- what the worker reports --
    @Slot(object)
    def _on_fit_started(self, info: FitInfo) -> None:
        self.info = info
        self._started, self._paused_seconds = time.monotonic(), 0.0
        if self._paused_since is not None:
            self._paused_since = self._started  # paused while the data loaded

    @Slot(object)
    def _on_worker_finished(self, outcome: TrainingOutcome | DownloadOutcome) -> None:
        # Queued from the worker's thread before that thread's finished signal, so it always comes first.
        self._outcome = outcome

    @Slot()
    def _on_thread_finished(self) -> None:
        thread, outcome = self._thread, self._outcome
        assert thread is not None and outcome is not None
        thread.wait()  # finished is emitted just before the thread ends; after wait() it is safe to let it go
        self._thread, self._worker, self._outcome = None, None, None  # deletes them here (see start_in_thread)
        self._account_pause()
        if isinstance(outcome, TrainingOutcome):
            self.training_ended.emit(outcome)
        else:
            self.download_ended.emit(outcome)
