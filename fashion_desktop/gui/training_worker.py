"""The one bridge between the training engine and Qt: workers that run on a QThread and report through signals."""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from fashion_desktop.core.callbacks import Callback, SaveCheckpoint
from fashion_desktop.core.config import TrainConfig
from fashion_desktop.core.errors import UserError
from fashion_desktop.core.metrics import BatchMetrics, EpochMetrics, FitInfo, FitResult
from fashion_desktop.core.spec import ModelSpec

if TYPE_CHECKING:  # torch-dependent: imported where they are used, so the window paints before torch loads
    from fashion_desktop.core.checkpoint import Checkpoint
    from fashion_desktop.core.data import FashionData
    from fashion_desktop.core.engine import Trainer
    from fashion_desktop.core.runs import RecordRun
    from fashion_desktop.gui.mistakes import TestPredictions

_log = logging.getLogger(__name__)
# Seconds between batch-progress signals: the tab redraws at this rate anyway, and each signal wakes the GUI
# thread and takes the GIL from training (at 0.05 s, training from the GUI ran about 12% slower than `train`).
BATCH_SIGNAL_INTERVAL = 0.25


def checkpoints_dir() -> Path:
    """Where the GUI's runs save their model after every epoch: ``checkpoints/`` beside the run history.

    That is the user data folder (``core.paths``), unless ``$FASHION_DESKTOP_RUNS`` puts the history elsewhere:
    the files stay with the records that point at them.
    """
    from fashion_desktop.core.paths import resolve_runs_path

    return resolve_runs_path().parent / "checkpoints"


def new_checkpoint_path() -> Path:
    """A file name in ``checkpoints_dir()`` for a run starting now; microseconds keep quick runs apart."""
    return checkpoints_dir() / f"{datetime.now():%Y-%m-%d_%H-%M-%S-%f}.safetensors"


@dataclass(frozen=True)
class DataProgress:
    """Bytes of the Fashion-MNIST download done so far, out of ``total``."""

    done: int
    total: int


@dataclass(frozen=True)
class Failure:
    """Why a worker failed, in words meant for the user."""

    message: str
    error_type: str  # the exception's class name, e.g. "DataError"


class _Stopped(Exception):
    """Raised from the download's progress callback to abandon it when the user stops."""


def describe_error(error: BaseException, device: str) -> str:
    """The message to show for ``error``: a UserError speaks for itself, out-of-memory gets advice."""
    if isinstance(error, UserError):
        return str(error)
    text = str(error)
    # torch has one OOM class per backend (CUDA, MPS, the CPU allocator); their messages have these words in common.
    if isinstance(error, MemoryError) or "out of memory" in text.lower() or "can't allocate memory" in text:
        return f"out of memory on {device}: lower the batch size"
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def start_in_thread(worker: QObject, on_finished: Callable[[], None]) -> QThread:
    """Move ``worker`` (a QObject with a ``run()`` slot and a ``finished`` signal) to a new QThread, start it.

    The thread is wired as in the design guide and returned.

    ``on_finished`` (a slot of a GUI-thread object) runs once the thread has finished; the caller keeps Python
    references to the thread and the worker until then, and should ``wait()`` on the thread before dropping them.
    """
    thread = QThread()
    worker.moveToThread(thread)
    thread.started.connect(worker.run)
    # Direct: quit() is thread-safe, and a call queued to the GUI thread would never run once its event loop has
    # ended (the app quitting while PyTorch loads), leaving whoever waits on the thread waiting for ever.
    worker.finished.connect(thread.quit, Qt.ConnectionType.DirectConnection)
    thread.finished.connect(on_finished)  # before the start, so a worker that ends at once is still reported
    thread.finished.connect(worker.deleteLater)
    thread.start()
    return thread


class DataWorker(QObject):
    """Makes sure the dataset is in ``data_root``, downloading it when it is missing.

    Signals:
        data_progress: a DataProgress while downloading.
        failed: a Failure.
        finished: always emitted last, after success, failure or a stop.
    """

    data_progress = Signal(object)
    failed = Signal(object)
    finished = Signal()

    def __init__(self, data_root: Path, allow_download: bool = True) -> None:
        super().__init__()
        self.data_root = Path(data_root)
        self.allow_download = allow_download
        self._stop_requested = threading.Event()
        self._percent_sent = -1

    @Slot()
    def run(self) -> None:
        try:
            self._work()
        except _Stopped:
            pass
        except Exception as error:  # every failure reaches the user as a message
            if not isinstance(error, UserError):
                _log.exception("%s failed", type(self).__name__)  # a bug, or torch out of memory: keep the traceback
            self.failed.emit(Failure(describe_error(error, self._device_name()), type(error).__name__))
        finally:
            self.finished.emit()

    def stop(self) -> None:
        """Abandon the work as soon as possible; safe from any thread."""
        self._stop_requested.set()

    def _work(self) -> None:
        self._ensure_data()

    def _ensure_data(self) -> None:
        from fashion_desktop.core.data import ensure_data

        ensure_data(self.data_root, self.allow_download, self._on_download_progress)
        self._check_stop()

    def _on_download_progress(self, done: int, total: int) -> None:
        self._check_stop()
        percent = 100 * done // max(1, total)
        if percent != self._percent_sent:  # called every 64 KiB: a signal each time would flood the GUI thread
            self._percent_sent = percent
            self.data_progress.emit(DataProgress(done, total))

    def _check_stop(self) -> None:
        if self._stop_requested.is_set():
            raise _Stopped

    def _device_name(self) -> str:
        return "this machine"


class TrainingWorker(DataWorker):
    """Fetches the data if needed, then trains one network with the core engine and records the run.

    Runs on its own QThread; ``stop()``, ``pause()`` and ``resume()`` are called from the GUI thread and go
    straight to the Trainer's thread-safe methods, because a queued slot would never run while ``run()`` is busy.
    The run goes into the run history (``resolve_runs_path()``) on the way, best-effort: a history that cannot be
    opened or written never stops the training, it is reported through ``recording_failed`` instead. A recorded
    run also saves its model after every epoch to ``model_path`` (in ``checkpoints_dir()``), which the history
    records, so a run cut short by a crash can still be opened and continued; that too is best-effort.

    Signals (besides DataWorker's):
        fit_started: the FitInfo, once the data is loaded.
        batches_finished: a tuple of BatchMetrics, every batch exactly once, at most every 50 ms and at epoch end.
        epoch_finished: an EpochMetrics.
        fit_finished: the FitResult, after the test set has been evaluated (also after a stop).
        run_recorded: the run's id in the run history, once it is recorded (also for a failed or stopped run).
        recording_failed: why the run could not be recorded (or only in part), in words for the status bar.
    """

    fit_started = Signal(object)
    batches_finished = Signal(object)
    epoch_finished = Signal(object)
    fit_finished = Signal(object)
    run_recorded = Signal(object)
    recording_failed = Signal(str)

    def __init__(
        self,
        spec: ModelSpec,
        config: TrainConfig,
        data_root: Path,
        resume_from: Checkpoint | None = None,
        allow_download: bool = True,
        record: bool = True,
    ) -> None:
        super().__init__(data_root, allow_download)
        self.spec, self.config, self.resume_from, self.record = spec, config, resume_from, record
        self.model_path: Path | None = None  # the file saved after every epoch, once training has started
        self._trainer: Trainer | None = None
        self._callback = _SignalCallback(self)
        self._predictions: TestPredictions | None = None
        self._paused = False
        # Serialises the GUI's stop/pause/resume with run() handing them on to the trainer it has just built.
        self._control_lock = threading.Lock()

    def stop(self) -> None:
        """End training after the current batch, keeping the weights trained so far."""
        with self._control_lock:
            super().stop()
            if self._trainer is not None:
                self._trainer.stop()

    def pause(self) -> None:
        with self._control_lock:
            self._paused = True
            if self._trainer is not None:
                self._trainer.pause()

    def resume(self) -> None:
        with self._control_lock:
            self._paused = False
            if self._trainer is not None:
                self._trainer.resume()

    def checkpoint(self) -> Checkpoint | None:
        """The model trained so far, or None when no trainer was built. Call only after the thread has finished.

        It continues exactly from the end of its last finished epoch, whatever weights the model ended with.
        """
        return self._trainer.checkpoint() if self._trainer is not None else None

    def test_predictions(self) -> TestPredictions | None:
        """The final model's probabilities for every test image, or None when training did not finish.

        Call only after the thread has finished.
        """
        return self._predictions

    def _work(self) -> None:
        from fashion_desktop.core.engine import Trainer

        self._ensure_data()
        resume_from = self.resume_from
        if resume_from is not None and resume_from.optimizer_state is not None:
            # The optimizer loads these tensors without copying them; training would then change the caller's
            # checkpoint behind its back.
            resume_from = replace(resume_from, optimizer_state=copy.deepcopy(dict(resume_from.optimizer_state)))
        trainer = Trainer(self.spec, self.config, [self._callback], resume_from)
        with self._control_lock:
            self._trainer = trainer
            if self._paused:
                trainer.pause()
        data = trainer.load_data(self.data_root)
        self._check_stop()
        recorder = self._open_recorder()  # only now: a run that never starts leaves no trace in the history
        if recorder is not None:
            assert self.model_path is not None  # chosen with the recorder
            # Before the recorder, so the file of an epoch is on disk when the history records that epoch.
            trainer.callbacks += [_EpochCheckpoint(self.model_path, self), recorder]
        try:
            trainer.fit(data)
        finally:
            if recorder is not None:
                self._close_recorder(recorder)
        self._predictions = _predict_test_set(trainer, data)

    def _open_recorder(self) -> RecordRun | None:
        from fashion_desktop.core.paths import resolve_runs_path
        from fashion_desktop.core.runs import RecordRun, RunStore, RunStoreError

        if not self.record:
            return None
        try:
            store = RunStore(resolve_runs_path())
        except RunStoreError as error:
            self.recording_failed.emit(f"this run is not recorded in the run history: {error}")
            return None
        self.model_path = new_checkpoint_path()
        return RecordRun(store, model_path=self.model_path)

    def _close_recorder(self, recorder: RecordRun) -> None:
        run_id = recorder.run_id  # None when a write failed: the recorder then gave up on this run
        try:
            recorder.store.close()
        except Exception as error:  # closing is best-effort too; sqlite3.Error, OSError
            _log.warning("closing the run history failed: %s", error)
        if recorder.error:
            self.recording_failed.emit(recorder.error)
        if run_id is not None:
            self.run_recorded.emit(run_id)

    def _device_name(self) -> str:
        return str(self._trainer.device) if self._trainer is not None else self.config.device


def _predict_test_set(trainer: Trainer, data: FashionData) -> TestPredictions:
    """Every test image's probabilities, on the training thread and device, where the model and data already are."""
    from fashion_desktop.gui.mistakes import predict_test_set

    return predict_test_set(trainer.model, trainer.spec, data.test_x, data.test_y, data.test_images)


class _EpochCheckpoint(SaveCheckpoint):
    """SaveCheckpoint, best-effort: a full or read-only disk is reported once and never stops the training."""

    def __init__(self, path: Path, worker: TrainingWorker) -> None:
        super().__init__(path)
        self.worker = worker
        self.failed = False

    def on_epoch_end(self, trainer: Trainer, metrics: EpochMetrics) -> None:
        self._save(lambda: super(_EpochCheckpoint, self).on_epoch_end(trainer, metrics))

    def on_fit_end(self, trainer: Trainer, result: FitResult) -> None:
        self._save(lambda: super(_EpochCheckpoint, self).on_fit_end(trainer, result))

    def _save(self, save: Callable[[], None]) -> None:
        if self.failed:
            return
        try:
            save()
        except OSError as error:
            self.failed = True
            self.worker.recording_failed.emit(
                f"the model could not be saved after each epoch to {self.path} "
                f"({error.strerror or error}); training goes on"
            )


class _SignalCallback(Callback):
    """Turns the engine's hooks into the worker's signals, batching the per-batch ones."""

    def __init__(self, worker: TrainingWorker) -> None:
        self.worker = worker
        self.pending: list[BatchMetrics] = []
        self.last_sent = 0.0

    def on_fit_start(self, trainer: Trainer, info: FitInfo) -> None:
        self.worker.fit_started.emit(info)

    def on_batch_end(self, trainer: Trainer, metrics: BatchMetrics) -> None:
        self.pending.append(metrics)
        if metrics.batch == metrics.batches or time.monotonic() - self.last_sent >= BATCH_SIGNAL_INTERVAL:
            self._flush()

    def on_epoch_end(self, trainer: Trainer, metrics: EpochMetrics) -> None:
        self.worker.epoch_finished.emit(metrics)

    def on_fit_end(self, trainer: Trainer, result: FitResult) -> None:
        self._flush()  # the batches of an epoch cut short by a stop
        self.worker.fit_finished.emit(result)

    def on_exception(self, trainer: Trainer, error: BaseException) -> None:
        self._flush()

    def _flush(self) -> None:
        if self.pending:
            self.worker.batches_finished.emit(tuple(self.pending))
            self.pending = []
        self.last_sent = time.monotonic()
