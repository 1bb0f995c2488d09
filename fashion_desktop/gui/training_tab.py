"""The Training tab: data folder and hyperparameters, start/continue/pause/stop, live curves, results and runs."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QCoreApplication, QSettings, QSignalBlocker, Qt, QThread, QTimer, Signal, Slot
from PySide6.QtGui import QCloseEvent, QFont
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSlider,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from fashion_desktop.core.config import LOSS_LABELS, LOSSES, OPTIMIZERS, SCHEDULERS, TrainConfig, changed_settings
from fashion_desktop.core.errors import DataError, UserError
from fashion_desktop.core.metrics import BatchMetrics, EpochMetrics, Evaluation, FitInfo, FitResult
from fashion_desktop.core.params import Param, Value, resolve
from fashion_desktop.core.presets import get_preset
from fashion_desktop.core.spec import ModelSpec
from fashion_desktop.gui.forms import DATA_FOLDER_HINT, INVALID_STYLE, OptionsForm
from fashion_desktop.gui.mistakes import MistakesGallery, TestImage, TestPredictions
from fashion_desktop.gui.plots import BatchLossPlot, ConfusionMatrixView, EpochPlots, LearningRatePreview
from fashion_desktop.gui.runs_panel import RunsPanel
from fashion_desktop.gui.training_worker import DataProgress, DataWorker, Failure, TrainingWorker, start_in_thread

if TYPE_CHECKING:  # torch-dependent, imported where used so the window paints before torch loads
    from fashion_desktop.core.checkpoint import Checkpoint

SETTINGS_CONFIG = "training/config"
SETTINGS_DATA_FOLDER = "data/folder"
SETTINGS_WIDTH = 390  # pixels; the plots take the rest
PREVIEW_DELAY_MS = 150  # typing "100" into the epochs box recomputes the LR preview once, not three times
# Painting holds the GIL that the training thread needs between torch calls, so new batches are drawn at most
# four times a second; the worker's signals come up to five times as often and only queue them.
REDRAW_INTERVAL_MS = 250
STOP_TIMEOUT_MS = 10_000  # closing the tab on its own waits this long for the worker, then closes once it has stopped
SETTING_WORDS = {
    "batch_size": "batch size",
    "lr": "learning rate",
    "loss": "loss",
    "optimizer": "optimizer",
    "scheduler": "LR schedule",
    "seed": "seed",
    "val_size": "validation images",
    "augment": "augmentation",
}


class ChoiceEditor(QWidget):
    """A combo box of named choices (optimizers, schedulers, losses) with an OptionsForm for the chosen one."""

    changed = Signal()

    def __init__(
        self,
        schemas: Mapping[str, Sequence[Param]],
        labels: Mapping[str, str] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.schemas = schemas
        self.combo = QComboBox()
        for name in schemas:
            self.combo.addItem((labels or {}).get(name, name), name)
        self.form = OptionsForm(schemas[self.name()])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.combo)
        layout.addWidget(self.form)
        self.combo.currentIndexChanged.connect(self._on_combo_changed)
        self.form.values_changed.connect(self.changed)

    def name(self) -> str:
        return self.combo.currentData()

    def options(self) -> dict[str, Value]:
        """The valid options that differ from their defaults, so a config round-trips as it was written."""
        defaults = {param.name: param.default for param in self.schemas[self.name()]}
        return {name: value for name, value in self.form.values().items() if value != defaults[name]}

    def problems(self) -> list[str]:
        return self.form.problems()

    def set_choice(self, name: str, options: Mapping[str, Value]) -> None:
        with QSignalBlocker(self.combo):
            self.combo.setCurrentIndex(self.combo.findData(name))
        # resolve() turns JSON lists back into tuples and fills in the defaults.
        self.form.set_params(self.schemas[name], resolve(self.schemas[name], options)[0])

    @Slot()
    def _on_combo_changed(self) -> None:
        self.form.set_params(self.schemas[self.name()])
        self.changed.emit()


class TrainingTab(QWidget):
    """Trains the Builder's network on a worker thread and shows its progress as it goes."""

    status_message = Signal(str)
    model_ready = Signal(object)  # Checkpoint
    data_root_changed = Signal(object)  # Path
    training_started = Signal()
    training_finished = Signal(object)  # FitResult, or None when training failed or was stopped before it began
    predict_requested = Signal(object)  # TestImage: a test image chosen in the mistakes gallery, to try it
    open_model_requested = Signal(object)  # Path: a run's model file, chosen on the Runs page, to open it
    worker_finished = Signal()  # a training or download thread has ended and the tab is idle again

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._spec: ModelSpec | None = None
        self._core_ready = False
        self._checkpoint: Checkpoint | None = None
        self._predictions: TestPredictions | None = None  # the test set as classified by _predictions_model
        self._predictions_model: Checkpoint | None = None
        self._matrix_epochs: list[EpochMetrics] = []  # the epochs whose validation matrix the slider can show
        self._matrix_test: Evaluation | None = None  # the slider's last position, when there is a test result
        self._recording_error: str | None = None
        self.gallery: MistakesGallery | None = None  # made on the first click of a cell
        self._thread: QThread | None = None  # the running worker's, referenced until it has finished
        self._worker: DataWorker | None = None
        self._info: FitInfo | None = None
        self._result: FitResult | None = None
        self._failure: Failure | None = None
        self._downloaded = False
        self._run_started = 0.0
        self._paused_since: float | None = None
        self._paused_seconds = 0.0
        self._last_data_root: Path | None = None
        self._pending_batches: list[BatchMetrics] = []  # arrived, not drawn yet
        self._redraw_timer = QTimer(self, singleShot=True, interval=REDRAW_INTERVAL_MS)
        self._redraw_timer.timeout.connect(self._on_redraw_timer_timeout)
        self._preview_timer = QTimer(self, singleShot=True, interval=PREVIEW_DELAY_MS)
        self._preview_timer.timeout.connect(self._on_preview_timer_timeout)
        self._build_ui()
        self._restore_settings()
        self._update_problems()

    # -- the interface the main window uses --
    def set_spec(self, spec: ModelSpec) -> None:
        """Train this network next; a spec with errors disables Start and shows why."""
        self._spec = spec
        self._update_problems()

    def set_config(self, config: TrainConfig) -> None:
        """Fill every control from ``config`` (a preset's settings, say)."""
        self.epochs_spin.setValue(config.epochs)
        self.batch_spin.setValue(config.batch_size)
        self.lr_edit.setText(str(config.lr))  # repr-exact, so config() gives back the same float
        self.loss_editor.set_choice(config.loss, config.loss_options)
        self.optimizer_editor.set_choice(config.optimizer, config.optimizer_options)
        self.scheduler_editor.set_choice(config.scheduler, config.scheduler_options)
        self.seed_spin.setValue(config.seed)
        self.val_spin.setValue(config.val_size)
        self.augment_check.setChecked(config.augment)
        self.patience_spin.setValue(config.early_stopping_patience)
        self.keep_best_check.setChecked(config.keep_best)
        self._select_device(config.device)
        self._on_settings_edited()

    def config(self) -> TrainConfig:
        """The settings as the controls show them (possibly invalid: see ``TrainConfig.problems()``)."""
        return TrainConfig(
            epochs=self.epochs_spin.value(),
            batch_size=self.batch_spin.value(),
            lr=self._lr(),
            loss=self.loss_editor.name(),
            loss_options=self.loss_editor.options(),
            optimizer=self.optimizer_editor.name(),
            optimizer_options=self.optimizer_editor.options(),
            scheduler=self.scheduler_editor.name(),
            scheduler_options=self.scheduler_editor.options(),
            seed=self.seed_spin.value(),
            device=self.device_combo.currentData(),
            val_size=self.val_spin.value(),
            augment=self.augment_check.isChecked(),
            early_stopping_patience=self.patience_spin.value(),
            keep_best=self.keep_best_check.isChecked(),
        )

    def is_training(self) -> bool:
        """True while a worker thread runs: training, or a download."""
        return self._thread is not None

    def is_training_model(self) -> bool:
        """True while a network trains: not while the data downloads or loads, when there is no model to save."""
        return isinstance(self._worker, TrainingWorker) and self._info is not None

    def request_stop(self) -> None:
        """Ask the running worker to stop (training: after the current batch); returns at once."""
        if self._worker is None:
            return
        self._worker.stop()
        self.stop_button.setEnabled(False)
        self.pause_button.setEnabled(False)
        training = isinstance(self._worker, TrainingWorker)
        self.status_message.emit("Stopping after the current batch..." if training else "Stopping the download...")

    def wait_for_stop(self, timeout_ms: int) -> bool:
        """Process events until the worker thread has finished; True if it did within ``timeout_ms``."""
        deadline = time.monotonic() + timeout_ms / 1000
        while self._thread is not None and time.monotonic() < deadline:
            # The worker quits its thread directly; the end is reported back through this thread's event loop.
            QCoreApplication.processEvents()
            if self._thread is not None:
                self._thread.wait(20)
        return self._thread is None

    def checkpoint(self) -> Checkpoint | None:
        """The model trained so far (kept through stops and failures), or None before any training."""
        return self._checkpoint

    def set_checkpoint(self, checkpoint: Checkpoint) -> bool:
        """Show a model opened from a file (its curves, best epoch and test results) and let Continue train it on.

        Continue needs the file's optimizer state and its training settings; the main window fills the settings
        with ``set_config(checkpoint.config)``. Returns False, changing nothing, while a training runs.
        """
        if self.is_training():
            return False
        self._checkpoint = checkpoint
        self._predictions = self._predictions_model = None
        self._info, self._result = None, None
        self._hide_gallery()
        self._reset_progress()
        self.speed_label.clear()
        self.batch_plot.clear()  # a file keeps the epochs, not the batches
        self.epoch_plots.set_history(checkpoint.history)
        self.epoch_plots.set_best_epoch(checkpoint.best_epoch)
        if checkpoint.test is not None:
            self.results_label.setText(
                f"Test accuracy {checkpoint.test.accuracy:.2%}, test loss "
                f"{checkpoint.test.loss:.4f} (the model as it was saved)"
            )
        else:
            self.results_label.setText("This model was saved without test results.")
        self._set_matrices(checkpoint.history, checkpoint.test)
        self._update_problems()
        return True

    def on_core_ready(self) -> None:
        """Torch has loaded: list the devices, fill in the default data folder and draw the LR preview."""
        # Everything torch-dependent that this tab and its worker use, imported here once: a worker thread that
        # imports a module while this thread needs it too would hold the GUI behind Python's import lock.
        from fashion_desktop.core import engine, explain, optim, runs  # noqa: F401
        from fashion_desktop.core.paths import resolve_data_dir
        from fashion_desktop.core.runtime import available_devices

        self._core_ready = True
        current = self.device_combo.currentData()
        with QSignalBlocker(self.device_combo):
            self.device_combo.clear()
            for value, label in available_devices():
                self.device_combo.addItem(label, value)
        self._select_device(current if self.device_combo.findData(current) >= 0 else "auto")
        if not self.folder_edit.text().strip():
            self.folder_edit.setText(str(resolve_data_dir(None)))
        self._update_problems()
        # Now rather than after the usual delay: torch's first optimizer imports torch._dynamo (a second or more),
        # and one longer pause while the core loads is better than a second one just after it.
        self._preview_timer.stop()
        self._on_preview_timer_timeout()

    def show_warning(self, title: str, message: str) -> None:
        """Tell the user something went wrong; tests replace this to capture the message."""
        QMessageBox.warning(self, title, message)

    # -- building the widgets --
    def _build_ui(self) -> None:
        settings = QWidget()
        settings_layout = QVBoxLayout(settings)
        settings_layout.addWidget(self._data_group())
        settings_layout.addWidget(self._hyperparameter_group())
        settings_layout.addStretch(1)
        self.settings_panel = settings
        scroll = QScrollArea()
        scroll.setWidget(settings)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(SETTINGS_WIDTH)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(scroll, 1)
        left_layout.addLayout(self._buttons())
        self.problem_label = QLabel(wordWrap=True)
        self.problem_label.setStyleSheet("color: #c9302c;")
        left_layout.addWidget(self.problem_label)

        self.batch_plot = BatchLossPlot()
        self.epoch_plots = EpochPlots()
        self.runs_panel = RunsPanel()
        self.runs_panel.status_message.connect(self.status_message)
        self.runs_panel.open_model_requested.connect(self.open_model_requested)
        self.results_tabs = QTabWidget()
        self.results_tabs.addTab(self._results_page(), "Results")
        self.results_tabs.addTab(self.runs_panel, "Runs")
        self.results_tabs.setTabToolTip(1, "every training run, with its settings and results")
        top = QSplitter(Qt.Orientation.Horizontal)
        top.addWidget(self.batch_plot)
        top.addWidget(self.results_tabs)
        top.setSizes([380, 500])
        plots = QSplitter(Qt.Orientation.Vertical)
        plots.addWidget(top)
        plots.addWidget(self.epoch_plots)
        plots.setSizes([420, 260])

        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self._progress_group())
        right_layout.addWidget(plots, 1)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setCollapsible(0, False)
        splitter.setSizes([SETTINGS_WIDTH, 10_000])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

    def _results_page(self) -> QWidget:
        """The test results and the confusion matrix, with a slider back through the epochs' validation matrices."""
        self.results_label = QLabel("Train a network to see its accuracy on the test images.", wordWrap=True)
        font = QFont(self.results_label.font())
        font.setBold(True)
        self.results_label.setFont(font)
        self.matrix_label = QLabel(wordWrap=True)
        self.confusion_view = ConfusionMatrixView()
        self.confusion_view.cell_clicked.connect(self._on_confusion_view_cell_clicked)
        self.matrix_slider = QSlider(Qt.Orientation.Horizontal, pageStep=1)
        self.matrix_slider.setTickPosition(QSlider.TickPosition.TicksBelow)
        self.matrix_slider.setToolTip(
            "how the validation confusion matrix changed epoch by epoch; the last position is the test set"
        )
        self.matrix_slider.valueChanged.connect(self._on_matrix_slider_value_changed)
        self.matrix_slider.hide()
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.addWidget(self.results_label)
        layout.addWidget(self.matrix_label)
        layout.addWidget(self.confusion_view, 1)
        layout.addWidget(self.matrix_slider)
        return page

    def _data_group(self) -> QGroupBox:
        self.folder_edit = QLineEdit(placeholderText="the folder that holds (or will hold) FashionMNIST/")
        self.folder_edit.setToolTip("Fashion-MNIST is read from FashionMNIST/raw inside this folder")
        self.browse_button = QPushButton("Browse...")
        self.download_button = QPushButton("Download")
        self.download_button.setToolTip("Download Fashion-MNIST (about 30 MB) into this folder, if it is not there")
        self.val_spin = QSpinBox(minimum=0, maximum=59_000, singleStep=1000)
        self.val_spin.setToolTip("training images held out to measure the validation loss and accuracy each epoch")
        buttons = QHBoxLayout()
        buttons.addWidget(self.browse_button)
        buttons.addWidget(self.download_button)
        group = QGroupBox("Data")
        form = QFormLayout(group)
        form.addRow("Folder", self.folder_edit)
        form.addRow("", buttons)
        form.addRow("Validation images", self.val_spin)
        self.browse_button.clicked.connect(self._on_browse_clicked)
        self.download_button.clicked.connect(self._on_download_clicked)
        self.folder_edit.editingFinished.connect(self._on_folder_edit_editing_finished)
        self.folder_edit.textChanged.connect(self._on_settings_edited)
        self.val_spin.valueChanged.connect(self._on_settings_edited)
        return group

    def _hyperparameter_group(self) -> QGroupBox:
        self.epochs_spin = QSpinBox(minimum=1, maximum=10_000)
        self.batch_spin = QSpinBox(minimum=1, maximum=60_000)
        self.lr_edit = QLineEdit()
        self.lr_edit.setToolTip("e.g. 0.003 or 3e-3")
        self.loss_editor = ChoiceEditor(LOSSES, LOSS_LABELS)
        self.optimizer_editor = ChoiceEditor(OPTIMIZERS)
        self.scheduler_editor = ChoiceEditor(SCHEDULERS)
        self.lr_preview = LearningRatePreview()
        self.lr_preview.setToolTip("the learning rate of each epoch, as the scheduler will set it")
        self.seed_spin = QSpinBox(minimum=0, maximum=2**31 - 1)
        self.augment_check = QCheckBox("Random flips and shifts")
        self.patience_spin = QSpinBox(minimum=0, maximum=10_000, specialValueText="off")
        self.patience_spin.setToolTip("stop when the validation loss has not improved for this many epochs")
        self.keep_best_check = QCheckBox("End with the best epoch's weights")
        self.keep_best_check.setToolTip("the epoch with the lowest validation loss")
        self.device_combo = QComboBox()
        self.device_combo.addItem("Auto", "auto")
        group = QGroupBox("Hyperparameters")
        form = QFormLayout(group)
        form.addRow("Epochs", self.epochs_spin)
        form.addRow("Batch size", self.batch_spin)
        form.addRow("Learning rate", self.lr_edit)
        form.addRow("Loss", self.loss_editor)
        form.addRow("Optimizer", self.optimizer_editor)
        form.addRow("LR schedule", self.scheduler_editor)
        form.addRow("LR per epoch", self.lr_preview)
        form.addRow("Seed", self.seed_spin)
        form.addRow("Augmentation", self.augment_check)
        form.addRow("Early stopping", self.patience_spin)
        form.addRow("", self.keep_best_check)
        form.addRow("Device", self.device_combo)
        for spin in (self.epochs_spin, self.batch_spin, self.seed_spin, self.patience_spin):
            spin.valueChanged.connect(self._on_settings_edited)
        for editor in (self.loss_editor, self.optimizer_editor, self.scheduler_editor):
            editor.changed.connect(self._on_settings_edited)
        for check in (self.augment_check, self.keep_best_check):
            check.toggled.connect(self._on_settings_edited)
        self.lr_edit.textChanged.connect(self._on_settings_edited)
        self.device_combo.currentIndexChanged.connect(self._on_settings_edited)
        return group

    def _buttons(self) -> QHBoxLayout:
        self.start_button = QPushButton("Start")
        self.start_button.setDefault(True)
        self.start_button.setToolTip("train a new network from the first epoch")
        self.continue_button = QPushButton("Continue", enabled=False)
        self.pause_button = QPushButton("Pause", checkable=True, enabled=False)
        self.stop_button = QPushButton("Stop", enabled=False)
        self.stop_button.setToolTip("stop after the current batch, keeping the model trained so far")
        self.start_button.clicked.connect(self._on_start_clicked)
        self.continue_button.clicked.connect(self._on_continue_clicked)
        self.pause_button.toggled.connect(self._on_pause_toggled)
        self.stop_button.clicked.connect(self.request_stop)
        row = QHBoxLayout()
        for button in (self.start_button, self.continue_button, self.pause_button, self.stop_button):
            row.addWidget(button)
        return row

    def _progress_group(self) -> QGroupBox:
        self.epoch_bar = QProgressBar()
        self.run_bar = QProgressBar()
        self.speed_label = QLabel()
        self.speed_label.setMinimumWidth(230)
        self.speed_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        group = QGroupBox("Progress")
        layout = QFormLayout(group)
        layout.addRow("Epoch", self.epoch_bar)
        run_row = QHBoxLayout()
        run_row.addWidget(self.run_bar, 1)
        run_row.addWidget(self.speed_label)
        layout.addRow("Run", run_row)
        return group

    # -- settings --
    def _restore_settings(self) -> None:
        settings = QSettings()
        self.folder_edit.setText(str(settings.value(SETTINGS_DATA_FOLDER, "") or ""))
        first_run = get_preset("seed").config  # the settings of the network the Builder starts with
        saved = str(settings.value(SETTINGS_CONFIG, "") or "")
        try:
            self.set_config(TrainConfig.from_dict(json.loads(saved)) if saved else first_run)
        except (ValueError, TypeError, KeyError, UserError):
            self.set_config(first_run)  # settings from another version, or edited by hand: start afresh

    def save_settings(self) -> None:
        """Remember the settings and data folder the controls show, for the next launch.

        Settings with problems (a learning rate of "fast", say) are not saved: the last good ones are kept.
        """
        config = self.config()
        settings = QSettings()
        if not config.problems() and not self._option_problems():
            settings.setValue(SETTINGS_CONFIG, json.dumps(config.to_dict()))
        settings.setValue(SETTINGS_DATA_FOLDER, self.folder_edit.text().strip())

    def _data_root(self) -> Path:
        return Path(self.folder_edit.text().strip()).expanduser()

    def _commit_data_root(self) -> None:
        """Remember the folder and tell the window, once per change."""
        if not self.folder_edit.text().strip():
            return
        root = self._data_root()
        QSettings().setValue(SETTINGS_DATA_FOLDER, str(root))
        if root != self._last_data_root:
            self._last_data_root = root
            self.data_root_changed.emit(root)

    def _lr(self) -> float:
        try:
            return float(self.lr_edit.text())
        except ValueError:
            return math.nan  # TrainConfig.problems() reports it

    def _select_device(self, device: str) -> None:
        if self.device_combo.findData(device) < 0:
            self.device_combo.addItem(device, device)  # "cuda" before torch has listed the GPUs, say
        self.device_combo.setCurrentIndex(self.device_combo.findData(device))

    def _problems(self, spec: ModelSpec | None = None) -> list[str]:
        """Everything that keeps training ``spec`` (by default the Builder's network) from starting, in words."""
        spec = spec or self._spec
        problems = []
        if not self._core_ready:
            problems.append("PyTorch is still loading")
        if spec is None:
            problems.append("build or choose a network in the Builder tab first")
        else:
            problems += [f"the network: {p.message}" for p in spec.errors(self.loss_editor.name())]
        if not self.folder_edit.text().strip():
            problems.append("choose a data folder")
        config_problems = self.config().problems()
        if math.isnan(self._lr()):
            problems.append(f"learning rate must be a number such as 0.003 or 3e-3, not {self.lr_edit.text()!r}")
            config_problems = [p for p in config_problems if not p.startswith("learning rate")]
        problems += self._option_problems() + config_problems
        return problems

    def _option_problems(self) -> list[str]:
        """Options typed into the loss, optimizer and scheduler forms that are out of range."""
        editors = {"loss": self.loss_editor, "optimizer": self.optimizer_editor, "scheduler": self.scheduler_editor}
        return [f"{label} {editor.name()}: {p}" for label, editor in editors.items() for p in editor.problems()]

    def _update_problems(self) -> None:
        """Show what keeps training from starting.

        Only a network that cannot be built disables Start: other problems are explained when Start is pressed,
        so the button never silently does nothing.
        """
        problems = self._problems()
        self.problem_label.setText("\n".join(f"- {p}" for p in problems))
        self.problem_label.setVisible(bool(problems))
        blocking = not self._core_ready or self._spec is None or bool(self._spec.errors(self.loss_editor.name()))
        self.start_button.setEnabled(not self.is_training() and not blocking)
        lr_ok = TrainConfig(lr=self._lr()).problems() == []
        self.lr_edit.setStyleSheet("" if lr_ok else INVALID_STYLE)
        cannot_continue = self._continue_problem()
        self.continue_button.setEnabled(cannot_continue is None)
        if cannot_continue is None:
            assert self._checkpoint is not None
            self.continue_button.setToolTip(
                f"train on from epoch {self._checkpoint.epoch} to epoch "
                f"{self.epochs_spin.value()}, adding to the curves"
            )
        else:
            self.continue_button.setToolTip(f"Continue is not available: {cannot_continue}")

    def _continue_problem(self) -> str | None:
        """Why Continue cannot train the current model on, in words; None when it can."""
        resume = self._checkpoint
        if self.is_training():
            return "training is running"
        if not self._core_ready:
            return "PyTorch is still loading"
        if resume is None:
            return "train a model first, or open one saved by Fashion Desktop"
        if resume.optimizer_state is None or resume.config is None:
            return "the model was saved without its optimizer state, so it can only be trained anew with Start"
        changed = _changed_settings(resume.config, self.config())
        if changed:
            return (
                f"the {', '.join(changed)} differ from the model's; set them back to continue, or press Start "
                "to train a new model with them"
            )
        if self.epochs_spin.value() <= resume.epoch:
            return f"the model has trained {resume.epoch} epochs: set Epochs above {resume.epoch} to train it further"
        return None

    @Slot()
    def _on_settings_edited(self) -> None:
        self._update_problems()
        if self._core_ready:
            self._preview_timer.start()

    @Slot()
    def _on_preview_timer_timeout(self) -> None:
        from fashion_desktop.core.optim import preview_learning_rates

        config = self.config()
        if config.problems() or self._option_problems():
            self.lr_preview.clear()
        else:
            self.lr_preview.set_rates(preview_learning_rates(config))

    @Slot()
    def _on_browse_clicked(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose the data folder", self.folder_edit.text())
        if folder:
            self.folder_edit.setText(folder)
            self._commit_data_root()

    @Slot()
    def _on_folder_edit_editing_finished(self) -> None:
        self._commit_data_root()

    # -- running workers --
    def _start_worker(self, worker: DataWorker) -> None:
        worker.data_progress.connect(self._on_worker_data_progress)
        worker.failed.connect(self._on_worker_failed)
        self._worker, self._failure, self._downloaded = worker, None, False
        self._thread = start_in_thread(worker, self._on_thread_finished)
        self._set_busy(True)

    def _set_busy(self, busy: bool) -> None:
        training = busy and isinstance(self._worker, TrainingWorker)
        self.settings_panel.setEnabled(not busy)
        self.stop_button.setEnabled(busy)
        with QSignalBlocker(self.pause_button):
            self.pause_button.setChecked(False)
            self.pause_button.setText("Pause")
        self.pause_button.setEnabled(training)
        self._update_problems()

    @Slot()
    def _on_download_clicked(self) -> None:
        if not self.folder_edit.text().strip():
            self.show_warning("No data folder", "Choose a folder to download Fashion-MNIST into.")
            return
        self._commit_data_root()
        self.run_bar.setRange(0, 0)  # busy until the first progress report
        self.status_message.emit(f"Looking for Fashion-MNIST in {self._data_root()}...")
        self._start_worker(DataWorker(self._data_root()))

    @Slot()
    def _on_start_clicked(self) -> None:
        problems = self._problems()
        if problems:
            self.show_warning("Cannot start training", "Fix these first:\n" + "\n".join(f"- {p}" for p in problems))
            return
        assert self._spec is not None  # _problems() says so otherwise
        self.batch_plot.clear()
        self.epoch_plots.clear()
        self._set_matrices((), None)
        self.results_label.setText("Training...")
        self._start_training(self._spec, None)

    @Slot()
    def _on_continue_clicked(self) -> None:
        resume = self._checkpoint
        problems = self._problems(resume.spec) if resume is not None else []
        reason = self._continue_problem()
        if reason is not None or problems:
            problems = [reason] if reason is not None else problems
            self.show_warning("Cannot continue training", "Fix these first:\n" + "\n".join(f"- {p}" for p in problems))
            return
        assert resume is not None  # _continue_problem() says so otherwise
        # The curves go on from the epoch the model stopped at. Batches drawn past it (an epoch cut short by Stop)
        # are trained again, and curves of another run (one that failed since) make way for the model's own.
        same_run = tuple(self.epoch_plots.epochs[: len(resume.history)]) == tuple(resume.history)
        if same_run:
            self.batch_plot.truncate(resume.epoch)
        else:
            self.batch_plot.clear()
        self.epoch_plots.set_history(resume.history)
        self.epoch_plots.set_best_epoch(resume.best_epoch)
        self._set_matrices(resume.history, None)
        self.results_label.setText(f"Continuing from epoch {resume.epoch}...")
        self._start_training(resume.spec, resume)

    def _start_training(self, spec: ModelSpec, resume_from: Checkpoint | None) -> None:
        """Train ``spec`` with the settings shown, from scratch or on from ``resume_from``, on a worker thread."""
        config = self.config()
        self._commit_data_root()
        self.save_settings()
        self._info, self._result, self._pending_batches = None, None, []
        self._recording_error = None
        self._hide_gallery()  # it shows the images of a model that is about to change
        self.epoch_bar.reset()
        self.run_bar.setRange(0, 0)  # busy while the data loads
        self.speed_label.clear()
        worker = TrainingWorker(spec, config, self._data_root(), resume_from)
        worker.fit_started.connect(self._on_worker_fit_started)
        worker.batches_finished.connect(self._on_worker_batches_finished)
        worker.epoch_finished.connect(self._on_worker_epoch_finished)
        worker.fit_finished.connect(self._on_worker_fit_finished)
        worker.run_recorded.connect(self._on_worker_run_recorded)
        worker.recording_failed.connect(self._on_worker_recording_failed)
        self._start_worker(worker)
        self.status_message.emit("Loading the data...")
        self.training_started.emit()

    @Slot(bool)
    def _on_pause_toggled(self, paused: bool) -> None:
        if not isinstance(self._worker, TrainingWorker):
            return
        if paused:
            self._worker.pause()
            self._paused_since = time.monotonic()
            self.status_message.emit("Paused after the current batch")
        else:
            self._worker.resume()
            self._account_pause()
            self.status_message.emit("Training resumed")
        self.pause_button.setText("Resume" if paused else "Pause")

    def _training_seconds(self) -> float:
        """Seconds since training started (after the data had loaded), pauses left out."""
        return time.monotonic() - self._run_started - self._paused_seconds

    def _account_pause(self) -> None:
        if self._paused_since is not None:
            self._paused_seconds += time.monotonic() - self._paused_since
            self._paused_since = None

    # -- what the worker reports --
    @Slot(object)
    def _on_worker_data_progress(self, progress: DataProgress) -> None:
        self._downloaded = True
        self.run_bar.setRange(0, 1000)
        self.run_bar.setValue(progress.done * 1000 // max(1, progress.total))
        self.run_bar.setFormat(f"Downloading Fashion-MNIST: {progress.done / 1e6:.1f} of {progress.total / 1e6:.1f} MB")

    @Slot(object)
    def _on_worker_fit_started(self, info: FitInfo) -> None:
        self._info = info
        self._run_started, self._paused_seconds = time.monotonic(), 0.0
        if self._paused_since is not None:
            self._paused_since = self._run_started  # paused while the data loaded
        self.epoch_bar.setRange(0, info.train_size)
        self.epoch_bar.setFormat(f"Epoch {info.start_epoch + 1} of {info.epochs}: %p%")
        self.run_bar.setRange(0, max(1, (info.epochs - info.start_epoch) * info.train_size))
        self.run_bar.setValue(0)
        self.run_bar.setFormat("%p%")
        self.status_message.emit(
            f"Training on {info.device}: {info.train_size:,} images, {info.batches_per_epoch} batches per epoch"
        )

    @Slot(object)
    def _on_worker_batches_finished(self, batches: Sequence[BatchMetrics]) -> None:
        self._pending_batches += batches
        if not self._redraw_timer.isActive():
            self._redraw_timer.start()

    @Slot()
    def _on_redraw_timer_timeout(self) -> None:
        """Draw the batches that arrived since the last time, and the progress they make."""
        self._redraw_timer.stop()
        if not self._pending_batches:
            return
        batches, self._pending_batches = self._pending_batches, []
        self.batch_plot.append(batches)
        info, last = self._info, batches[-1]
        assert info is not None  # fit_started comes first
        done = (last.epoch - 1 - info.start_epoch) * info.train_size + last.samples_seen
        self.epoch_bar.setFormat(f"Epoch {last.epoch} of {info.epochs}: %p%")
        self.epoch_bar.setValue(last.samples_seen)
        self.run_bar.setValue(done)
        seconds = self._training_seconds()
        if done and seconds > 0:
            rate = done / seconds
            left = (self.run_bar.maximum() - done) / rate
            self.speed_label.setText(f"{rate:,.0f} images/s, {_duration(left)} left")

    @Slot(object)
    def _on_worker_epoch_finished(self, metrics: EpochMetrics) -> None:
        self._on_redraw_timer_timeout()  # the epoch's last batches, so its bar ends full
        self.epoch_plots.append(metrics)
        self._add_matrix_epoch(metrics)
        epochs = self._info.epochs if self._info else metrics.epoch
        accuracy = f", validation accuracy {metrics.val_accuracy:.1%}" if metrics.val_accuracy is not None else ""
        self.status_message.emit(f"Epoch {metrics.epoch} of {epochs}: train loss {metrics.train_loss:.4f}{accuracy}")

    @Slot(object)
    def _on_worker_fit_finished(self, result: FitResult) -> None:
        self._on_redraw_timer_timeout()  # the batches of an epoch cut short by a stop
        self._result = result
        self.epoch_plots.set_best_epoch(result.best_epoch)
        if result.test is None:
            return
        notes = []
        if result.stopped:
            notes.append(f"stopped after {len(result.history)} full epoch(s)")
        if result.best_epoch is not None and result.history and result.best_epoch != result.history[-1].epoch:
            notes.append(f"weights of epoch {result.best_epoch}, the best on validation")
        note = f" ({'; '.join(notes)})" if notes else ""
        self.results_label.setText(f"Test accuracy {result.test.accuracy:.2%}, test loss {result.test.loss:.4f}{note}")
        self._set_matrix_test(result.test)

    @Slot(object)
    def _on_worker_run_recorded(self, run_id: object) -> None:
        self.runs_panel.refresh()

    @Slot(str)
    def _on_worker_recording_failed(self, message: str) -> None:
        self._recording_error = message
        self.status_message.emit(message)

    @Slot(object)
    def _on_worker_failed(self, failure: Failure) -> None:
        self._failure = failure

    @Slot()
    def _on_thread_finished(self) -> None:
        thread, worker = self._thread, self._worker
        assert thread is not None and worker is not None
        thread.wait()  # finished is emitted just before the thread ends; after wait() it is safe to let it go
        self._thread, self._worker = None, None
        self._on_redraw_timer_timeout()  # batches before a failure
        self._account_pause()
        self._set_busy(False)
        if isinstance(worker, TrainingWorker):
            self._finish_training(worker)
        else:
            self._finish_download(worker)
        self._show_matrix(self.matrix_slider.value())  # the test matrix becomes clickable now the model is here
        self.worker_finished.emit()
        if self._failure is not None:
            hint = f"\n\n{DATA_FOLDER_HINT}" if self._failure.error_type == "DataError" else ""
            self.show_warning(
                "Training failed" if isinstance(worker, TrainingWorker) else "Download failed",
                self._failure.message + hint,
            )

    def _finish_training(self, worker: TrainingWorker) -> None:
        checkpoint = worker.checkpoint()
        # A run that failed before finishing an epoch has nothing better than the model we already have.
        started_at = worker.resume_from.epoch if worker.resume_from is not None else 0
        if checkpoint is not None and (self._result is not None or checkpoint.epoch > started_at):
            self._checkpoint = checkpoint
            self._predictions, self._predictions_model = worker.test_predictions(), checkpoint
            self.model_ready.emit(checkpoint)
        self._update_problems()  # Continue, now that the model and its resume point are known
        if self._info is not None:
            seconds, images = self._training_seconds(), self.run_bar.value()
            rate = f"{images / seconds:,.0f} images/s, " if seconds > 0 and images > 0 else ""
            self.speed_label.setText(f"{rate}trained for {_duration(seconds)}")
        if self._result is None:
            self.results_label.setText("No test results: training did not finish.")
            self._reset_progress()
        if self._failure is not None:
            self.status_message.emit(f"Training failed: {self._failure.message}")
        elif self._result is not None and self._result.test is not None:
            verb = "stopped" if self._result.stopped else "finished"
            unrecorded = f"; {self._recording_error}" if self._recording_error else ""
            self.status_message.emit(f"Training {verb}: test accuracy {self._result.test.accuracy:.2%}{unrecorded}")
        else:
            self.status_message.emit("Training stopped")
        self.training_finished.emit(self._result)

    def _finish_download(self, worker: DataWorker) -> None:
        self._reset_progress()
        if self._failure is None:
            verb = "downloaded into" if self._downloaded else "is already in"
            self.status_message.emit(f"Fashion-MNIST {verb} {worker.data_root}")

    def _reset_progress(self) -> None:
        """Empty bars without text, as before any training."""
        self.epoch_bar.reset()
        self.run_bar.setRange(0, 1)
        self.run_bar.reset()

    # -- the confusion matrix and its slider --
    def _set_matrices(self, history: Sequence[EpochMetrics], test: Evaluation | None) -> None:
        """Let the slider go through these epochs' validation matrices, then the test matrix; show the last."""
        self._matrix_epochs = [m for m in history if m.val_confusion is not None]
        self._matrix_test = test
        self._update_slider(follow=True)

    def _add_matrix_epoch(self, metrics: EpochMetrics) -> None:
        if metrics.val_confusion is None:
            return
        self._matrix_epochs.append(metrics)
        # Follow the newest epoch, unless the user has moved back to look at an earlier one.
        self._update_slider(follow=self.matrix_slider.value() >= self.matrix_slider.maximum())

    def _set_matrix_test(self, test: Evaluation) -> None:
        self._matrix_test = test
        self._update_slider(follow=True)

    def _matrix_positions(self) -> int:
        return len(self._matrix_epochs) + (self._matrix_test is not None)

    def _update_slider(self, follow: bool) -> None:
        positions = self._matrix_positions()
        with QSignalBlocker(self.matrix_slider):
            self.matrix_slider.setRange(0, max(0, positions - 1))
            if follow:
                self.matrix_slider.setValue(positions - 1)
        self.matrix_slider.setVisible(positions > 1)
        self._show_matrix(self.matrix_slider.value())

    @Slot(int)
    def _on_matrix_slider_value_changed(self, position: int) -> None:
        self._show_matrix(position)

    def _show_matrix(self, position: int) -> None:
        """Show the matrix at a slider position, and say what it is."""
        if self._matrix_positions() == 0:
            self.confusion_view.clear()
            self.matrix_label.clear()
            self.matrix_label.hide()
            return
        self.matrix_label.show()
        if position >= len(self._matrix_epochs):
            test = self._matrix_test
            assert test is not None
            clickable = not self.is_training()
            self.confusion_view.set_evaluation(test, clickable=clickable)
            hint = ": click a count to see those images" if clickable else ""
            self.matrix_label.setText(f"Test set, {self.confusion_view.total:,} images{hint}")
            return
        metrics = self._matrix_epochs[position]
        assert metrics.val_confusion is not None
        self.confusion_view.set_confusion(metrics.val_confusion)
        planned = self._info.epochs if self._info is not None and self.is_training() else self._matrix_epochs[-1].epoch
        accuracy = f", {metrics.val_accuracy:.1%} right" if metrics.val_accuracy is not None else ""
        self.matrix_label.setText(
            f"Validation, epoch {metrics.epoch} of {max(planned, metrics.epoch)}: "
            f"{self.confusion_view.total:,} images{accuracy}"
        )

    # -- the images behind a cell --
    @Slot(int, int)
    def _on_confusion_view_cell_clicked(self, true_class: int, predicted_class: int) -> None:
        predictions = self._test_predictions()
        if predictions is None:
            return
        if self.gallery is None:
            self.gallery = MistakesGallery(self)
            self.gallery.test_image_chosen.connect(self._on_gallery_test_image_chosen)
        assert self._checkpoint is not None  # there are predictions only for a model
        mistakes = predictions.cell(true_class, predicted_class)
        self.gallery.show_cell(true_class, predicted_class, mistakes, predictions.images, self._checkpoint.class_names)

    def _test_predictions(self) -> TestPredictions | None:
        """The current model's probabilities for the test set: kept from training, or computed once for a file."""
        checkpoint = self._checkpoint
        if checkpoint is None or self.is_training():
            return None
        if self._predictions is None or self._predictions_model is not checkpoint:
            from fashion_desktop.gui.mistakes import load_test_predictions

            self.status_message.emit("Classifying the test images...")
            QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
            try:
                self._predictions = load_test_predictions(checkpoint, self._data_root())
            except UserError as error:
                hint = f"\n\n{DATA_FOLDER_HINT}" if isinstance(error, DataError) else ""
                self.show_warning("Cannot show the test images", f"{error}{hint}")
                return None
            finally:
                QApplication.restoreOverrideCursor()
            self._predictions_model = checkpoint
        return self._predictions

    @Slot(object)
    def _on_gallery_test_image_chosen(self, image: TestImage) -> None:
        self.predict_requested.emit(image)

    def _hide_gallery(self) -> None:
        if self.gallery is not None:
            self.gallery.hide()

    def closeEvent(self, event: QCloseEvent) -> None:
        """Closed on its own (the main window stops training itself): stop the worker; never close while it runs.

        A worker that takes longer than STOP_TIMEOUT_MS to stop keeps the tab open, and the tab closes itself once
        it has stopped: a QThread destroyed while it runs aborts the process, and ``quit()`` cannot end a thread
        busy in a Python loop.
        """
        if self.is_training():
            self.request_stop()
            if not self.wait_for_stop(STOP_TIMEOUT_MS):
                self.worker_finished.connect(self._on_stopped_close, Qt.ConnectionType.SingleShotConnection)
                event.ignore()
                return
        super().closeEvent(event)

    @Slot()
    def _on_stopped_close(self) -> None:
        self.close()


def _changed_settings(trained: TrainConfig, current: TrainConfig) -> list[str]:
    """The settings, in words, that differ between a model's training and the controls, ignoring CONTINUE_MAY_CHANGE."""
    words = [SETTING_WORDS.get(key.removesuffix("_options"), key) for key in changed_settings(trained, current)]
    return list(dict.fromkeys(words))


def _duration(seconds: float) -> str:
    """``1:05`` or ``2:03:09``."""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
