"""The one bridge between the training session and Qt: workers that run on a QThread and report through signals.

Each worker reports its end once, through ``finished(outcome)``, with everything the GUI needs in the payload:
nothing reads a worker once its thread has finished (``thread.finished`` deletes it).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, QThread, Signal, SignalInstance, Slot

from fashion_desktop.core.errors import UserError
from fashion_desktop.core.metrics import BatchMetrics, EpochMetrics, FitInfo, FitResult
from fashion_desktop.core.session import (
    Failure,
    TrainingControl,
    TrainingObserver,
    TrainingRequest,
    TrainingStopped,
    describe_error,
)

if TYPE_CHECKING:  # torch-dependent: imported where they are used, so the window paints before torch loads
    from fashion_desktop.core.activity import ActivitySnapshot
    from fashion_desktop.core.engine import Trainer

_log = logging.getLogger(__name__)
# Seconds between batch-progress signals, the one place batch progress is throttled: the tab draws each signal
# at once. Each signal wakes the GUI thread, and its drawing takes the GIL from training (at 0.05 s, training
# from the GUI ran about 12% slower than `train`).
BATCH_SIGNAL_INTERVAL = 0.25


@dataclass(frozen=True)
class DataProgress:
    """Bytes of a dataset's download done so far, out of ``total`` (or photos of an image folder's import)."""

    done: int
    total: int
    title: str = "Fashion-MNIST"  # what is downloading


@dataclass(frozen=True)
class DownloadOutcome:
    """How a DataWorker ended: the data is in ``data_root`` (downloaded now, or already there), or ``failure``."""

    data_root: Path
    downloaded: bool  # False: it was there already, or the download failed or was stopped
    stopped: bool = False
    failure: Failure | None = None
    title: str = "Fashion-MNIST"  # the dataset's name, for messages


def start_in_thread(worker: QObject, on_finished: Callable[[], None]) -> QThread:
    """Move ``worker`` (a QObject with a ``run()`` slot and a ``finished`` signal) to a new QThread, start it.

    The thread is wired as in the design guide and returned.

    ``on_finished`` (a slot of a GUI-thread object) runs once the thread has finished; the caller keeps Python
    references to the thread and the worker until then, and must ``wait()`` on the thread before dropping them.
    Dropping them deletes both, on the GUI thread, so what the caller needs of the worker must come through its
    signals.

    The worker is not handed to ``deleteLater``: deleted by its thread's event loop as the thread ends, its
    destructor called into Python (PySide's ``disconnectNotify``) while holding a Qt connection lock, waiting for
    the GIL, while the GUI thread, holding the GIL, waited for that same lock inside a widget call such as
    ``setModel``. The test suite hung there; deleted from Python on the GUI thread, the GIL is held throughout.
    """
    thread = QThread()
    worker.moveToThread(thread)
    thread.started.connect(worker.run)
    # Direct: quit() is thread-safe, and a call queued to the GUI thread would never run once its event loop has
    # ended (the app quitting while PyTorch loads), leaving whoever waits on the thread waiting for ever.
    worker.finished.connect(thread.quit, Qt.ConnectionType.DirectConnection)
    thread.finished.connect(on_finished)  # before the start, so a worker that ends at once is still reported
    thread.start()
    return thread


class _DownloadReporter:
    """Turns the download's progress callback (every 64 KiB) into at most one signal per percent."""

    def __init__(self, signal: SignalInstance, title: str = "Fashion-MNIST") -> None:
        self.signal, self.title = signal, title
        self.percent_sent = -1
        self.reported = False

    def __call__(self, done: int, total: int) -> None:
        percent = 100 * done // max(1, total)
        if percent != self.percent_sent:
            self.percent_sent, self.reported = percent, True
            self.signal.emit(DataProgress(done, total, self.title))


class DataWorker(QObject):
    """Makes sure the dataset is in ``data_root``, downloading it when it is missing.

    Signals:
        data_progress: a DataProgress while downloading.
        finished: a DownloadOutcome, emitted once at the end.
    """

    data_progress = Signal(object)
    finished = Signal(object)

    def __init__(self, data_root: Path, dataset: str = "fashion-mnist") -> None:
        super().__init__()
        self.data_root = Path(data_root)
        self.dataset = dataset
        self._control = TrainingControl()  # only its stop: a download has nothing to pause

    @Slot()
    def run(self) -> None:
        from fashion_desktop.core.data import dataset_info, ensure_data

        title = dataset_info(self.dataset).title
        reporter = _DownloadReporter(self.data_progress, title)

        def progress(done: int, total: int) -> None:
            self._control.check_stop()  # raising abandons the download
            reporter(done, total)

        outcome = DownloadOutcome(self.data_root, downloaded=False, title=title)
        try:
            ensure_data(self.data_root, True, progress, self.dataset)
            self._control.check_stop()
            outcome = DownloadOutcome(self.data_root, downloaded=reporter.reported, title=title)
        except TrainingStopped:
            outcome = DownloadOutcome(self.data_root, downloaded=False, stopped=True, title=title)
        except Exception as error:  # every failure reaches the user as a message
            _log_unexpected(error)
            failure = Failure(describe_error(error, "this machine"), type(error).__name__)
            outcome = DownloadOutcome(self.data_root, downloaded=False, failure=failure, title=title)
        finally:
            self.finished.emit(outcome)

    def stop(self) -> None:
        """Abandon the download as soon as possible; safe from any thread."""
        self._control.stop()


class TrainingWorker(QObject):
    """Runs one ``core.session.run_training`` on its own QThread and reports it through signals.

    ``stop()``, ``pause()`` and ``resume()`` are called from the GUI thread and go straight to the session's
    thread-safe TrainingControl, because a queued slot would never run while ``run()`` is busy.

    Signals:
        data_progress: a DataProgress while the data downloads.
        import_progress: a DataProgress of photos while an image folder is imported.
        fit_started: the FitInfo, once the data is loaded.
        batches_finished: a tuple of BatchMetrics, every batch exactly once, at most every
            BATCH_SIGNAL_INTERVAL seconds and at epoch end.
        epoch_finished: an EpochMetrics.
        warned: something that went wrong without stopping the run, in words for the status bar.
        finished: the TrainingOutcome, emitted once at the end, whatever happened.
    """

    data_progress = Signal(object)
    import_progress = Signal(object)
    fit_started = Signal(object)
    batches_finished = Signal(object)
    epoch_finished = Signal(object)
    activity = Signal(object)  # an ActivitySnapshot: every layer measured, a few times an epoch
    warned = Signal(str)
    finished = Signal(object)

    def __init__(self, request: TrainingRequest) -> None:
        super().__init__()
        self.request = request
        self._control = TrainingControl()
        self._observer = _SignalObserver(self)

    @Slot()
    def run(self) -> None:
        from fashion_desktop.core.session import TrainingOutcome, run_training

        outcome = TrainingOutcome(self.request)  # what is reported if even KeyboardInterrupt went through
        try:
            outcome = run_training(self.request, self._observer, self._control)
            if outcome.error is not None:
                _log_unexpected(outcome.error)
        finally:
            self._observer.flush()
            self.finished.emit(outcome)

    def stop(self) -> None:
        """End training after the current batch, keeping the weights trained so far."""
        self._control.stop()

    def pause(self) -> None:
        self._control.pause()

    def resume(self) -> None:
        self._control.resume()


def _title(dataset: str) -> str:
    """The dataset's name for the download's progress (the worker runs after torch has loaded)."""
    from fashion_desktop.core.data import DATASETS

    return DATASETS[dataset].title if dataset in DATASETS else dataset


def _log_unexpected(error: BaseException) -> None:
    """A bug, or torch out of memory: keep the traceback in the log; a UserError's message says it all."""
    if not isinstance(error, UserError):
        _log.error("the worker failed", exc_info=error)


class _SignalObserver(TrainingObserver):
    """Turns the session's hooks into the worker's signals, batching the per-batch ones (Orange's TaskState)."""

    def __init__(self, worker: TrainingWorker) -> None:
        self.worker = worker
        self.download = _DownloadReporter(worker.data_progress, _title(worker.request.dataset))
        self.imported = _DownloadReporter(worker.import_progress, "photos")
        self.pending: list[BatchMetrics] = []
        self.last_sent = 0.0

    def on_download_progress(self, done: int, total: int) -> None:
        self.download(done, total)

    def on_import_progress(self, done: int, total: int) -> None:
        self.imported(done, total)

    def on_warning(self, message: str) -> None:
        self.worker.warned.emit(message)

    def on_fit_start(self, trainer: Trainer, info: FitInfo) -> None:
        self.worker.fit_started.emit(info)

    def on_batch_end(self, trainer: Trainer, metrics: BatchMetrics) -> None:
        self.pending.append(metrics)
        if metrics.batch == metrics.batches or time.monotonic() - self.last_sent >= BATCH_SIGNAL_INTERVAL:
            self.flush()

    def on_epoch_end(self, trainer: Trainer, metrics: EpochMetrics) -> None:
        self.worker.epoch_finished.emit(metrics)

    def on_activity(self, snapshot: ActivitySnapshot) -> None:
        self.worker.activity.emit(snapshot)

    def on_fit_end(self, trainer: Trainer, result: FitResult) -> None:
        self.flush()  # the batches of an epoch cut short by a stop

    def on_exception(self, trainer: Trainer, error: BaseException) -> None:
        self.flush()

    def flush(self) -> None:
        if self.pending:
            self.worker.batches_finished.emit(tuple(self.pending))
            self.pending = []
        self.last_sent = time.monotonic()
