"""One training session, start to end, for every front end: ``fashion-desktop train`` and the Training tab.

``run_training(request, observer, control)`` makes sure the data is there, builds the trainer, records the run in
the run history, saves the model after every epoch (whether or not the history opened: the file is the crash
protection, the history only points at it), fits, evaluates and classifies the test set for the mistakes gallery,
then returns one frozen ``TrainingOutcome``. It is Qt-free, in the style of Orange's ``run(data, state)``
functions: the front end passes a plain ``TrainingObserver`` (the engine's callback hooks, plus download progress
and warnings) and a ``TrainingControl`` that another thread may stop, pause and resume.

What a run trains on and starts from is a field of ``TrainingRequest``: a new choice (another dataset, weights
to start from, a calibration step) is a new field read here, and neither front end needs new plumbing for it.
"""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from fashion_desktop.core.callbacks import Callback, SaveCheckpoint
from fashion_desktop.core.config import TrainConfig
from fashion_desktop.core.errors import ConfigError, UserError
from fashion_desktop.core.folders import FramingSettings
from fashion_desktop.core.layers import describe_shape
from fashion_desktop.core.metrics import EpochMetrics, FitResult
from fashion_desktop.core.spec import NUM_CLASSES, ModelSpec

if TYPE_CHECKING:  # torch-dependent: imported where used, so that importing this module stays cheap
    from fashion_desktop.core.activity import ActivitySnapshot, NetworkActivity
    from fashion_desktop.core.calibration import Calibration
    from fashion_desktop.core.checkpoint import Checkpoint
    from fashion_desktop.core.data import FashionData
    from fashion_desktop.core.engine import Trainer
    from fashion_desktop.core.folders import ImageFolderData
    from fashion_desktop.core.predictions import TestPredictions
    from fashion_desktop.core.runs import RecordRun

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingRequest:
    """Everything one training run needs: the network, its settings, its data and what it starts from."""

    spec: ModelSpec
    config: TrainConfig
    data_root: Path  # the folder that holds (or will hold) FashionMNIST/raw
    resume_from: Checkpoint | None = None  # continue this model exactly from the end of its last finished epoch
    allow_download: bool = True  # fetch Fashion-MNIST into data_root when it is missing
    record: bool = True  # add the run to the run history (resolve_runs_path())
    run_name: str | None = None  # its name there; None: the history makes one up
    # The model file saved after every epoch and at the end; None: a new file in ``checkpoints_dir()``.
    model_path: Path | None = None
    # True where the model file is the product (the command line's --out): a failed save ends the run. False
    # (the GUI): the file is crash protection, so a full or read-only disk is a warning and training goes on.
    must_save_model: bool = False
    predict_test_set: bool = True  # classify the test set at the end, for the mistakes gallery
    watch_inside: bool = True  # measure every layer a few times an epoch (core.activity), shown and recorded
    dataset: str = "fashion-mnist"  # fashion-mnist, mnist, kmnist (core.data.DATASETS) or "folder"
    images: Path | None = None  # the image folder (one subfolder per class, or train/validation/test) for "folder"
    # How the folder's photos become inputs; None: 28x28 grey garment framing, or the spec's input shape's.
    framing: FramingSettings | None = None
    # Start from this model's weights (fine-tuning): layers whose shapes fit are copied, the rest (a head with
    # another class count) keep their fresh initialisation. Unlike resume_from, training starts at epoch 1.
    init_from: Checkpoint | None = None
    init_from_name: str = ""  # the file it came from, for the run's warnings
    calibrate: bool = True  # fit the temperature on the validation set at the end (core.calibration)

    @property
    def start_epoch(self) -> int:
        """The epochs already done before this run: a continued model's."""
        return self.resume_from.epoch if self.resume_from is not None else 0

    def check(self) -> None:
        """Refuse settings that cannot train, before any file is read or written.

        Raises:
            SpecError: The network cannot be built, or does not fit the loss.
            ConfigError: A setting is out of range, or the device does not exist.
        """
        from fashion_desktop.core.runtime import pick_device

        # An image folder's class count is only known once it is read; the trainer checks it then.
        self.spec.check(self.config.loss, classes=None if self.dataset == "folder" else NUM_CLASSES)
        self.config.check()
        pick_device(self.config.device)
        if self.init_from is not None and self.resume_from is not None:
            raise ConfigError("a run either continues a model or starts from one's weights, not both")
        if self.dataset == "folder":
            if self.images is None:
                raise ConfigError("an image-folder run needs the folder: give --images DIR (or pick the folder)")
            shape = self.folder_settings().channels, self.folder_settings().size, self.folder_settings().size
            if shape != self.spec.input_shape:
                raise ConfigError(
                    f"the network takes {describe_shape(self.spec.input_shape)} images but the folder's photos are "
                    f"framed to {describe_shape(shape)}; set the input size and colour to the network's, or "
                    "choose a network made for these images"
                )
        elif self.images is not None:
            raise ConfigError(f"an image folder ({self.images}) was given, so the dataset must be 'folder'")

    def folder_settings(self) -> FramingSettings:
        """The framing of an image-folder run: as asked, else the spec's input size and colour, garment framing."""
        if self.framing is not None:
            return self.framing
        channels, size, _ = self.spec.input_shape
        return FramingSettings(size=size, color=channels == 3)


@dataclass(frozen=True)
class Failure:
    """Why a run failed, in words meant for the user."""

    message: str
    error_type: str  # the exception's class name, e.g. "DataError"


def describe_error(error: BaseException, device: str) -> str:
    """The message to show for ``error``: a UserError speaks for itself, out-of-memory gets advice."""
    if isinstance(error, UserError):
        return str(error)
    text = str(error)
    # torch has one OOM class per backend (CUDA, MPS, the CPU allocator); their messages have these words in common.
    if isinstance(error, MemoryError) or "out of memory" in text.lower() or "can't allocate memory" in text:
        return f"out of memory on {device}: lower the batch size"
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


@dataclass(frozen=True, eq=False)
class TrainingOutcome:
    """What one run left behind. Plain values and CPU tensors only, safe to hand from the training thread.

    A stop before training began leaves everything None; a failure leaves ``error`` set and whatever the run had
    reached (the model of its last finished epoch, say).
    """

    request: TrainingRequest
    result: FitResult | None = None  # None: training did not finish (a failure, or a stop before it began)
    checkpoint: Checkpoint | None = None  # the model trained so far; None when no trainer was built
    test_predictions: TestPredictions | None = None  # None unless training finished
    run_id: int | None = None  # in the run history; None when the run is not recorded there
    model_path: Path | None = None  # the file saved after every epoch; None when training never started
    warnings: tuple[str, ...] = ()  # what went wrong without stopping the run, in words for the user
    error: BaseException | None = None  # why the run failed; None when it did not
    device: str = ""  # where it trained (or was to), for messages

    @property
    def failure(self) -> Failure | None:
        """The error in words for the user; None when the run did not fail."""
        if self.error is None:
            return None
        return Failure(describe_error(self.error, self.device), type(self.error).__name__)

    @property
    def calibration(self) -> Calibration | None:
        """The temperature and unsure rule fitted at the end of training, with the test set's ECE before and after."""
        return self.checkpoint.calibration if self.checkpoint is not None else None

    @property
    def new_model(self) -> Checkpoint | None:
        """The model this run trained, or None when it has nothing newer than what it started from.

        A run that failed or stopped before finishing an epoch is no better than the model it started with.
        """
        checkpoint = self.checkpoint
        if checkpoint is None or (self.result is None and checkpoint.epoch <= self.request.start_epoch):
            return None
        return checkpoint


class TrainingObserver(Callback):
    """What a front end hears of a run: the engine's hooks, plus the download's progress and the warnings.

    Every hook runs on the thread that called ``run_training``.
    """

    def on_download_progress(self, done: int, total: int) -> None:
        """``done`` of ``total`` bytes of Fashion-MNIST have arrived (called about every 64 KiB)."""

    def on_warning(self, message: str) -> None:
        """Something went wrong that does not stop the run (the history could not be opened, a save failed)."""

    def on_activity(self, snapshot: ActivitySnapshot) -> None:
        """Every layer was measured (a few times an epoch, and at its end), when the request watches inside."""

    def on_import_progress(self, done: int, total: int) -> None:
        """``done`` of ``total`` photos of an image folder have been framed (cached ones included)."""


class TrainingStopped(Exception):
    """Raised inside ``run_training`` to abandon a run stopped before its training began."""


class TrainingControl:
    """Stops, pauses and resumes a ``run_training`` from any thread, before or after its trainer exists."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # serialises the calls with run_training handing them to its new trainer
        self._stop_requested = threading.Event()
        self._paused = False
        self._trainer: Trainer | None = None

    def stop(self) -> None:
        """End the run as soon as possible: a download at once, training after the current batch."""
        with self._lock:
            self._stop_requested.set()
            if self._trainer is not None:
                self._trainer.stop()

    def pause(self) -> None:
        """Hold training after the current batch (a download goes on)."""
        with self._lock:
            self._paused = True
            if self._trainer is not None:
                self._trainer.pause()

    def resume(self) -> None:
        with self._lock:
            self._paused = False
            if self._trainer is not None:
                self._trainer.resume()

    @property
    def stop_event(self) -> threading.Event:
        """Set once a stop has been asked for: what an image-folder import polls to cancel."""
        return self._stop_requested

    @property
    def stop_requested(self) -> bool:
        return self._stop_requested.is_set()

    def check_stop(self) -> None:
        """Raise TrainingStopped once a stop has been asked for."""
        if self._stop_requested.is_set():
            raise TrainingStopped

    def attach(self, trainer: Trainer) -> None:
        """Hand the calls to ``trainer`` from now on, and the pause asked for before it existed."""
        with self._lock:
            self._trainer = trainer
            if self._paused:
                trainer.pause()
            if self._stop_requested.is_set():
                trainer.stop()


@dataclass
class _Run:
    """What ``run_training`` has reached so far, turned into the outcome however the run ends."""

    request: TrainingRequest
    observer: TrainingObserver
    warnings: list[str] = field(default_factory=list)
    trainer: Trainer | None = None
    result: FitResult | None = None
    predictions: TestPredictions | None = None
    run_id: int | None = None
    model_path: Path | None = None

    def warn(self, message: str) -> None:
        self.warnings.append(message)
        self.observer.on_warning(message)

    def outcome(self, error: BaseException | None = None) -> TrainingOutcome:
        trainer = self.trainer
        return TrainingOutcome(
            request=self.request,
            result=self.result,
            checkpoint=trainer.checkpoint() if trainer is not None else None,
            test_predictions=self.predictions,
            run_id=self.run_id,
            model_path=self.model_path,
            warnings=tuple(self.warnings),
            error=error,
            device=str(trainer.device) if trainer is not None else self.request.config.device,
        )


def run_training(
    request: TrainingRequest, observer: TrainingObserver | None = None, control: TrainingControl | None = None
) -> TrainingOutcome:
    """Train as ``request`` says, on this thread, and return what the run left behind.

    Failures come back as ``outcome.error`` (the model trained so far is still in the outcome), not raised;
    a front end that wants them raised raises ``outcome.error``. Only KeyboardInterrupt goes straight through,
    after the run history has been told.
    """
    from fashion_desktop.core.data import ensure_data
    from fashion_desktop.core.engine import Trainer
    from fashion_desktop.core.paths import new_checkpoint_path

    run = _Run(request, observer or TrainingObserver())
    control = control or TrainingControl()

    def on_download_progress(done: int, total: int) -> None:
        control.check_stop()  # raising abandons the download
        run.observer.on_download_progress(done, total)

    try:
        request.check()  # before a download: settings that cannot train are refused at once
        if request.dataset == "folder":
            folder = _import_folder(request, run, control)
        else:
            root = ensure_data(request.data_root, request.allow_download, on_download_progress, request.dataset)
        control.check_stop()
        run.trainer = trainer = Trainer(request.spec, request.config, [run.observer], _own_copy(request.resume_from))
        control.attach(trainer)
        if request.init_from is not None:
            run.warn(_copy_fitting_weights(trainer, request.init_from, request.init_from_name))
        if request.dataset == "folder":
            data = folder.to_fashion_data(trainer.device, request.spec.mean, request.spec.std)
            # The folder too, so that continuing the model finds its photos without being told again
            images = str(folder.root.resolve())
            trainer.data_settings = {"dataset": "folder", "images": images, **asdict(folder.settings)}
            del folder  # the uint8 copy: the device copy is what trains
        else:
            data = trainer.load_data(root, request.dataset)
            trainer.data_settings = {"dataset": request.dataset}
        control.check_stop()
        if request.calibrate:  # first: the model file saved at the end must hold the calibration
            trainer.callbacks.append(_Calibrate(data, run.warn))
        run.model_path = path = request.model_path or new_checkpoint_path()
        # Before the recorder, so the file of an epoch is on disk when the history records that epoch.
        saver = SaveCheckpoint(path) if request.must_save_model else _EpochCheckpoint(path, run.warn)
        recorder = _open_history(run)  # only now: a run that never starts leaves no trace in the history
        trainer.callbacks += [saver] if recorder is None else [saver, recorder]
        if request.watch_inside:
            trainer.callbacks.append(_watch_inside(data, run.observer, recorder))
        try:
            run.result = trainer.fit(data)
        finally:
            if recorder is not None:
                run.run_id = _close_history(recorder, run.warn)
        if request.predict_test_set:
            from fashion_desktop.core.predictions import predict_test_set

            # On the training thread and device, where the model and the data already are.
            run.predictions = predict_test_set(trainer.model, trainer.spec, data.test_x, data.test_y, data.test_images)
    except TrainingStopped:
        return run.outcome()
    except Exception as error:  # every failure reaches the user as a message, with what the run had reached
        return run.outcome(error)
    return run.outcome()


def _import_folder(request: TrainingRequest, run: _Run, control: TrainingControl) -> ImageFolderData:
    """The request's image folder, framed (in parallel, cached); the skipped files become the run's warnings."""
    from fashion_desktop.core.folders import ImportCancelled, display_name, load_image_folder

    assert request.images is not None  # request.check() refuses a folder run without one
    try:
        folder = load_image_folder(
            request.images,
            request.folder_settings(),
            seed=request.config.seed,
            progress=run.observer.on_import_progress,
            cancel=control.stop_event,
        )
    except ImportCancelled:
        raise TrainingStopped from None
    if folder.skipped:
        shown = "; ".join(f"{display_name(s.path)}: {s.reason}" for s in folder.skipped[:5])
        more = f" and {len(folder.skipped) - 5} more" if len(folder.skipped) > 5 else ""
        run.warn(f"{len(folder.skipped)} files of {display_name(request.images)} were skipped ({shown}{more})")
    return folder


def _copy_fitting_weights(trainer: Trainer, source: Checkpoint, name: str) -> str:
    """Copy into the trainer's fresh model every tensor of ``source`` whose name and shape fit; say what was kept."""
    import torch

    own = trainer.model.state_dict()
    fitting = {k: v for k, v in source.weights.items() if k in own and tuple(v.shape) == tuple(own[k].shape)}
    with torch.no_grad():
        for key, value in fitting.items():
            own[key].copy_(value.to(own[key].device, own[key].dtype))
    fresh = [k for k in own if k not in fitting]
    where = f" from {name}" if name else ""
    if not fresh:
        return f"started from the weights{where}: all {len(own)} weight tensors copied"
    shown = ", ".join(fresh[:4]) + (f" and {len(fresh) - 4} more" if len(fresh) > 4 else "")
    return (
        f"started from the weights{where}: {len(fitting)} of {len(own)} weight tensors copied; "
        f"re-initialised (their shapes differ, such as a head with another class count): {shown}"
    )


class _Calibrate(Callback):
    """At the end of training, fit the temperature and the unsure rule on the validation set; ECE on the test set."""

    def __init__(self, data: FashionData, warn: Callable[[str], None]) -> None:
        self.data, self.warn = data, warn

    def on_fit_end(self, trainer: Trainer, result: FitResult) -> None:
        from fashion_desktop.core.calibration import calibrate, model_logits

        data = self.data
        if not len(data.val_y):
            self.warn("the model is not calibrated: it has no validation images to fit the temperature on")
            return
        try:
            trainer.calibration = calibrate(
                model_logits(trainer.model, data.val_x),
                data.val_y,
                model_logits(trainer.model, data.test_x) if len(data.test_y) else None,
                data.test_y if len(data.test_y) else None,
            )
        except ValueError as error:  # logits that are not finite: the model is kept, uncalibrated
            self.warn(f"the model is not calibrated: {error}")


def _own_copy(checkpoint: Checkpoint | None) -> Checkpoint | None:
    """``checkpoint`` with an optimizer state of its own, so that training leaves the caller's as it was.

    The optimizer loads those tensors without copying them.
    """
    if checkpoint is None or checkpoint.optimizer_state is None:
        return checkpoint
    return replace(checkpoint, optimizer_state=copy.deepcopy(dict(checkpoint.optimizer_state)))


def _open_history(run: _Run) -> RecordRun | None:
    """A recorder of the run into the run history, or None (and a warning) when the history cannot be opened."""
    from fashion_desktop.core.paths import resolve_runs_path
    from fashion_desktop.core.runs import RecordRun, RunStore, RunStoreError

    if not run.request.record:
        return None
    try:
        store = RunStore(resolve_runs_path())
    except RunStoreError as error:  # the history is a convenience: train anyway, and say so
        run.warn(f"this run is not recorded: {error}")
        return None
    return RecordRun(store, run.model_path, run.request.run_name)


def _watch_inside(data: FashionData, observer: TrainingObserver, recorder: RecordRun | None) -> NetworkActivity:
    """The callback that measures every layer, on the first validation images (training images without any)."""
    from fashion_desktop.core.activity import NetworkActivity

    probe = data.val_x if len(data.val_x) else data.train_x
    listeners = [observer.on_activity] if recorder is None else [observer.on_activity, recorder.record_activity]
    return NetworkActivity(probe, listeners=listeners)


def _close_history(recorder: RecordRun, warn: Callable[[str], None]) -> int | None:
    """Close the history; the run's id there, or None when a write failed and the recorder gave up on it."""
    run_id = recorder.run_id
    try:
        recorder.store.close()
    except Exception as error:  # closing is best-effort too; sqlite3.Error, OSError
        _log.warning("closing the run history failed: %s", error)
    if recorder.error:
        warn(recorder.error)
    return run_id


class _EpochCheckpoint(SaveCheckpoint):
    """SaveCheckpoint, best-effort: a full or read-only disk is reported once and never stops the training."""

    def __init__(self, path: Path, warn: Callable[[str], None]) -> None:
        super().__init__(path)
        self.warn = warn
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
            self.warn(
                f"the model could not be saved after each epoch to {self.path} "
                f"({error.strerror or error}); training goes on"
            )
