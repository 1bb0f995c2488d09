"""The Training tab: the settings, Start/Continue/Pause/Stop, the live curves, the results and the runs, laid out.

The parts do the work: ``SettingsPanel`` (the form and its persistence), ``TrainingController`` (the thread, the
worker and the running run's state), ``ResultsPanel`` (the matrix, its slider, the gallery) and ``RunsPanel``.
This class lays them out, decides when Start and Continue may run, and draws what the run reports.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, QSignalBlocker, Qt, Signal, Slot
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from fashion_desktop.core.config import TrainConfig
from fashion_desktop.core.layers import describe_shape
from fashion_desktop.core.metrics import BatchMetrics, EpochMetrics, FitInfo
from fashion_desktop.core.session import TrainingOutcome, TrainingRequest
from fashion_desktop.core.spec import ModelSpec
from fashion_desktop.gui.forms import DATA_FOLDER_HINT
from fashion_desktop.gui.plots.batch_loss import BatchLossPlot
from fashion_desktop.gui.plots.epochs import EpochPlots
from fashion_desktop.gui.runs_panel import RunsPanel
from fashion_desktop.gui.training.controller import TrainingController
from fashion_desktop.gui.training.inside import InsidePanel
from fashion_desktop.gui.training.progress import ProgressPanel
from fashion_desktop.gui.training.results import NO_RESULTS, ResultsPanel
from fashion_desktop.gui.training.settings import SettingsPanel, changed_setting_words
from fashion_desktop.gui.training_worker import DataProgress, DownloadOutcome

if TYPE_CHECKING:  # torch-dependent, imported where used so the window paints before torch loads
    from fashion_desktop.core.checkpoint import Checkpoint

SETTINGS_WIDTH = 390  # pixels; the plots take the rest
SIDE_BY_SIDE_SIZES = (380, 500)  # the batch-loss plot and the results, where they fit beside one another
STACKED_SIZES = (200, 320)  # the same, one above the other
BATCH_PLOT_HEIGHT = 150  # pixels, the least: lower, its loss labels ran into one another
PAUSE_TEXT, RESUME_TEXT = "&Pause", "&Resume"
STOP_TIP = "stop after the current batch, keeping the model trained so far"
STOP_TIMEOUT_MS = 10_000  # closing the tab on its own waits this long for the worker, then closes once it has stopped


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
    # (input_shape, classes) of the data chosen: the Builder checks the network against them; classes None: unknown
    data_shape_changed = Signal(object, object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._spec: ModelSpec | None = None
        self._core_ready = False
        self._checkpoint: Checkpoint | None = None
        self._model_path: Path | None = None  # the last run's model file, saved after every epoch
        self.settings = SettingsPanel()
        self.results = ResultsPanel(self.settings.data_root)
        self.runs_panel = RunsPanel()
        self.inside = InsidePanel()
        self.progress = ProgressPanel()
        self.controller = TrainingController(self)
        self._build_ui()
        self._connect_parts()
        self._update_problems()

    # -- the interface the main window uses --
    def set_spec(self, spec: ModelSpec) -> None:
        """Train this network next; a spec with errors disables Start and shows why."""
        self._spec = spec
        self._update_problems()

    def set_config(self, config: TrainConfig) -> None:
        """Fill every control from ``config`` (a preset's settings, say)."""
        self.settings.set_config(config)

    def config(self) -> TrainConfig:
        """The settings as the controls show them (possibly invalid: see ``TrainConfig.problems()``)."""
        return self.settings.config()

    def save_settings(self) -> None:
        """Remember the settings and data folder the controls show, for the next launch."""
        self.settings.save_settings()

    def data_shape(self) -> tuple[tuple[int, int, int], int | None]:
        """(input_shape, classes) of the data chosen, as ``data_shape_changed`` reports them."""
        return self.settings.data.input_shape(), self.settings.data.classes()

    def shutdown(self) -> None:
        """Stop the image-folder scan and wait for it: before the window closes."""
        self.settings.data.shutdown()

    def is_training(self) -> bool:
        """True while a worker thread runs: training, or a download."""
        return self.controller.is_running()

    def is_training_model(self) -> bool:
        """True while a network trains: not while the data downloads or loads, when there is no model to save."""
        return self.controller.is_training_model()

    def request_stop(self) -> None:
        """Ask the running worker to stop (training: after the current batch); returns at once."""
        if not self.is_training():
            return
        self.controller.stop()
        self.stop_button.setEnabled(False)
        self.pause_button.setEnabled(False)
        self._sync_actions()
        if not self.controller.is_training():
            self.status_message.emit("Stopping the download...")
        elif not self.controller.is_training_model() and self.settings.data.is_folder():
            self.status_message.emit("Stopping the import of the photos...")
        else:
            self.status_message.emit("Stopping after the current batch...")

    def wait_for_stop(self, timeout_ms: int) -> bool:
        """Process events until the worker thread has finished; True if it did within ``timeout_ms``."""
        return self.controller.wait_for_stop(timeout_ms)

    def checkpoint(self) -> Checkpoint | None:
        """The model trained so far (kept through stops and failures), or None before any training."""
        return self._checkpoint

    def model_path(self) -> Path | None:
        """The file the last run saved its model to; None before a run, or for a model opened from a file."""
        return self._model_path

    def has_results(self) -> bool:
        """Whether the tab shows a model, or curves of a run (a failed run leaves its curves but no model)."""
        return self._checkpoint is not None or bool(self.epoch_plots.epochs) or self.batch_plot.points > 0

    def clear_results(self) -> None:
        """Forget the model and clear its curves and results, as before any training (File > New).

        Does nothing while a training runs: the run owns them until it ends.
        """
        if self.is_training():
            return
        self._checkpoint = self._model_path = None
        self.batch_plot.clear()
        self.epoch_plots.clear()
        self.results.set_model(None)
        self.results.set_matrices((), None)
        self.results.set_text(NO_RESULTS)
        self.progress.reset()
        self.progress.speed_label.clear()
        self.inside.clear()
        self._update_problems()

    def set_checkpoint(self, checkpoint: Checkpoint) -> bool:
        """Show a model opened from a file (its curves, best epoch and test results) and let Continue train it on.

        Continue needs the file's optimizer state and its training settings; the main window fills the settings
        with ``set_config(checkpoint.config)``. Returns False, changing nothing, while a training runs.
        """
        if self.is_training():
            return False
        self._checkpoint, self._model_path = checkpoint, None
        self.results.set_model(checkpoint)
        self.progress.reset()
        self.progress.speed_label.clear()
        self.batch_plot.clear()  # a file keeps the epochs, not the batches
        self.epoch_plots.set_history(checkpoint.history)
        self.epoch_plots.set_best_epoch(checkpoint.best_epoch)
        if checkpoint.test is not None:
            self.results.set_text(
                f"Test accuracy {checkpoint.test.accuracy:.2%}, test loss "
                f"{checkpoint.test.loss:.4f} (the model as it was saved)"
            )
        else:
            self.results.set_text("This model was saved without test results.")
        self.results.set_matrices(checkpoint.history, checkpoint.test)
        self._update_problems()
        return True

    def on_core_ready(self) -> None:
        """Torch has loaded: list the devices, fill in the default data folder and draw the LR preview."""
        # Everything torch-dependent that this tab and its worker use, imported here once: a worker thread that
        # imports a module while this thread needs it too would hold the GUI behind Python's import lock.
        from fashion_desktop.core import engine, explain, optim, predictions, runs  # noqa: F401

        self._core_ready = True
        self.settings.on_core_ready()
        self._update_problems()
        self._show_data_classes()

    @Slot()
    def _show_data_classes(self) -> None:
        """An empty confusion matrix names the chosen data's classes; one holding a run's counts keeps that run's.

        It showed Fashion-MNIST's ten names while a 3-class folder was chosen. A torchvision dataset's names are in
        the core, which loads with torch: until then a dataset's matrix keeps the names it has.
        """
        view = self.results.confusion_view
        if view.confusion is not None:
            return
        data = self.settings.data
        names = data.folder_class_names()
        if names is None and not data.is_folder() and self._core_ready:
            from fashion_desktop.core.data import dataset_info

            names = dataset_info(data.dataset()).class_names
        if names is not None:
            view.set_classes(names)

    def show_warning(self, title: str, message: str) -> None:
        """Tell the user something went wrong; tests replace this to capture the message."""
        QMessageBox.warning(self, title, message)

    # -- building the widgets --
    def _build_ui(self) -> None:
        scroll = QScrollArea()
        scroll.setWidget(self.settings)
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
        self.problem_label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        # Room for two lines, kept while there is nothing to say: a label that appeared and vanished moved the
        # Start/Continue/Pause/Stop row by about 20 px under the mouse.
        self.problem_label.setMinimumHeight(2 * self.problem_label.fontMetrics().lineSpacing() + 4)
        left_layout.addWidget(self.problem_label)

        self.batch_plot = BatchLossPlot()
        # A plot view does not pass on its plot's minimum size: the splitter squeezed this one to 110 px and cut
        # its title at 1024x768.
        least = self.batch_plot.plot_item.effectiveSizeHint(Qt.SizeHint.MinimumSize).toSize()
        self.batch_plot.setMinimumSize(least.width(), max(least.height(), BATCH_PLOT_HEIGHT))
        self.epoch_plots = EpochPlots()
        self.results_tabs = QTabWidget()
        self.results_tabs.addTab(self.results, "Results")
        self.results_tabs.addTab(self.runs_panel, "Runs")
        self.results_tabs.setTabToolTip(1, "every training run, with its settings and results")
        self.results_tabs.addTab(self.inside, "Inside")
        self.results_tabs.setTabToolTip(2, "each layer while it trains: gradients, dead units, activations, weights")
        self.top_splitter = QSplitter(Qt.Orientation.Horizontal)  # turned vertical where both do not fit side by side
        self.top_splitter.addWidget(self.batch_plot)
        self.top_splitter.addWidget(self.results_tabs)
        self.top_splitter.setSizes(list(SIDE_BY_SIDE_SIZES))
        self.top_splitter.setChildrenCollapsible(False)
        plots = QSplitter(Qt.Orientation.Vertical)
        plots.addWidget(self.top_splitter)
        plots.addWidget(self.epoch_plots)
        plots.setSizes([420, 260])
        plots.setChildrenCollapsible(False)  # collapsed, the epoch plots were a strip at scale factor 2
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.progress)
        right_layout.addWidget(plots, 1)
        # Where the window is smaller than the plots and the matrix need (a small screen, scale factor 2), they
        # scroll rather than lose columns or collapse; the settings and the buttons stay in view.
        self.plots_scroll = QScrollArea()
        self.plots_scroll.setWidget(right)
        self.plots_scroll.setWidgetResizable(True)
        self.plots_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.plots_scroll.viewport().installEventFilter(self)
        self.top_splitter.installEventFilter(self)  # its parts' least sizes change: a matrix of 4-digit counts

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(self.plots_scroll)
        splitter.setStretchFactor(1, 1)
        splitter.setCollapsible(0, False)
        splitter.setSizes([SETTINGS_WIDTH, 10_000])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        resized = watched is self.plots_scroll.viewport() and event.type() == QEvent.Type.Resize
        if resized or (watched is self.top_splitter and event.type() == QEvent.Type.LayoutRequest):
            self._fit_plots_to(self.plots_scroll.viewport().width())
        return super().eventFilter(watched, event)

    def _fit_plots_to(self, width: int) -> None:
        """The batch-loss plot beside the results where both fit in ``width`` pixels, above them where not."""
        needed = self.batch_plot.minimumWidth() + self.top_splitter.handleWidth()
        needed += self.results_tabs.minimumSizeHint().width()
        orientation = Qt.Orientation.Horizontal if width >= needed else Qt.Orientation.Vertical
        if orientation != self.top_splitter.orientation():
            self.top_splitter.setOrientation(orientation)
            sizes = SIDE_BY_SIDE_SIZES if orientation == Qt.Orientation.Horizontal else STACKED_SIZES
            self.top_splitter.setSizes(list(sizes))  # in proportion to the room there is

    def _buttons(self) -> QHBoxLayout:
        # Mnemonics clear of the menus' (File, Edit, Training, Help): Alt+S, Alt+C, Alt+P (Alt+R), Alt+O.
        self.start_button = QPushButton("&Start")
        self.start_button.setDefault(True)
        self.continue_button = QPushButton("&Continue", enabled=False)
        self.pause_button = QPushButton(PAUSE_TEXT, checkable=True, enabled=False)
        self.stop_button = QPushButton("St&op", enabled=False)
        # The same controls as actions with shortcuts, for the window's Training menu. Added to the tab too, so
        # that the shortcuts work wherever the focus is in the window (a spin box, a plot), and on the tab alone.
        self.start_action = self._control_action(self.start_button, "Ctrl+Return")
        self.continue_action = self._control_action(self.continue_button, "Ctrl+Shift+Return")
        self.pause_action = self._control_action(self.pause_button, "Ctrl+P")
        self.stop_action = self._control_action(self.stop_button, "Ctrl+.")
        self.stop_button.setToolTip(_with_shortcut(STOP_TIP, self.stop_action))
        self.pause_button.setToolTip(_with_shortcut("pause after the current batch, or resume", self.pause_action))
        row = QHBoxLayout()
        for button in (self.start_button, self.continue_button, self.pause_button, self.stop_button):
            row.addWidget(button)
        return row

    def _control_action(self, button: QPushButton, shortcut: str) -> QAction:
        """An action that clicks ``button``, with its text and ``shortcut``; enabled with it (see _sync_actions)."""
        action = QAction(button.text(), self, shortcut=QKeySequence(shortcut), enabled=button.isEnabled())
        action.triggered.connect(button.click)  # a click on a disabled button does nothing
        self.addAction(action)
        return action

    def _sync_actions(self) -> None:
        """The actions follow their buttons: enabled with them, and Pause says Resume while paused."""
        for button, action in (
            (self.start_button, self.start_action),
            (self.continue_button, self.continue_action),
            (self.pause_button, self.pause_action),
            (self.stop_button, self.stop_action),
        ):
            action.setEnabled(button.isEnabled())
            action.setText(button.text())

    def _connect_parts(self) -> None:
        self.start_button.clicked.connect(self._on_start_clicked)
        self.continue_button.clicked.connect(self._on_continue_clicked)
        self.pause_button.toggled.connect(self._on_pause_toggled)
        self.stop_button.clicked.connect(self.request_stop)
        self.settings.changed.connect(self._update_problems)
        self.settings.data_root_changed.connect(self.data_root_changed)
        self.settings.download_requested.connect(self._on_download_requested)
        self.settings.data.shape_changed.connect(self.data_shape_changed)
        self.settings.data.changed.connect(self._show_data_classes)
        self.results.predict_requested.connect(self.predict_requested)
        self.results.status_message.connect(self.status_message)
        self.results.warning.connect(self._on_part_warning)
        self.results.matrix_epoch_changed.connect(self.epoch_plots.set_matrix_epoch)
        self.batch_plot.status_message.connect(self.status_message)
        self.epoch_plots.status_message.connect(self.status_message)
        self.runs_panel.status_message.connect(self.status_message)
        self.runs_panel.open_model_requested.connect(self.open_model_requested)
        controller = self.controller
        controller.data_progress.connect(self.progress.show_download)
        controller.import_progress.connect(self._on_import_progress)
        controller.fit_started.connect(self._on_fit_started)
        controller.batches_finished.connect(self.batch_plot.append)  # drawn as they come: the worker throttles
        controller.batches_finished.connect(self._on_batches_finished)
        controller.epoch_finished.connect(self._on_epoch_finished)
        controller.activity.connect(self.inside.add_snapshot)
        controller.warned.connect(self._on_warned)
        controller.training_ended.connect(self._on_training_ended)
        controller.download_ended.connect(self._on_download_ended)

    # -- when Start and Continue may run --
    def _problems(self, spec: ModelSpec | None = None) -> list[str]:
        """Everything that keeps training ``spec`` (by default the Builder's network) from starting, in words."""
        spec = spec or self._spec
        problems = []
        if not self._core_ready:
            problems.append("PyTorch is still loading")
        if spec is None:
            problems.append("build or choose a network in the Builder tab first")
        else:
            input_shape, classes = self.data_shape()
            problems += [f"the network: {p.message}" for p in spec.errors(self.config().loss, classes)]
            if spec.input_shape != input_shape:
                problems.append(
                    f"the network takes {describe_shape(spec.input_shape)} images but the data gives "
                    f"{describe_shape(input_shape)}: set the data's input size and colour to the network's"
                )
        return problems + self.settings.problems()

    @Slot()
    def _update_problems(self) -> None:
        """Show what keeps training from starting.

        One rule: any problem (the network, a setting, the folder) disables Start, and the label under the
        buttons and Start's tooltip say what it is, so a disabled button always says why.
        """
        problems = self._problems()
        self.problem_label.setText("\n".join(f"- {p}" for p in problems))
        self.start_button.setEnabled(not self.is_training() and not problems)
        self.start_button.setToolTip(
            f"Start is not available: {problems[0]}"
            if problems
            else _with_shortcut("train a new network from the first epoch", self.start_action)
        )
        cannot_continue = self._continue_problem()
        self.continue_button.setEnabled(cannot_continue is None)
        if cannot_continue is None:
            assert self._checkpoint is not None
            tip = f"train on from epoch {self._checkpoint.epoch} to epoch {self.config().epochs}, adding to the curves"
            self.continue_button.setToolTip(_with_shortcut(tip, self.continue_action))
        else:
            self.continue_button.setToolTip(f"Continue is not available: {cannot_continue}")
        self._sync_actions()

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
        changed = changed_setting_words(resume.config, self.config())
        if changed:
            return (
                f"the {', '.join(changed)} differ from the model's; set them back to continue, or press Start "
                "to train a new model with them"
            )
        if self.config().epochs <= resume.epoch:
            return f"the model has trained {resume.epoch} epochs: set Epochs above {resume.epoch} to train it further"
        return None

    # -- starting and controlling runs --
    @Slot()
    def _on_start_clicked(self) -> None:
        problems = self._problems()
        if problems:
            self.show_warning("Cannot start training", "Fix these first:\n" + "\n".join(f"- {p}" for p in problems))
            return
        assert self._spec is not None  # _problems() says so otherwise
        allow_download = self._missing_data_may_download()
        if allow_download is None:
            return
        self.batch_plot.clear()
        self.epoch_plots.clear()
        self.results.set_matrices((), None)
        self.results.set_text("Training...")
        self._start_training(self._spec, None, allow_download)

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
        self.results.set_matrices(resume.history, None)
        self.results.set_text(f"Continuing from epoch {resume.epoch}...")
        self._start_training(resume.spec, resume)

    def _missing_data_may_download(self) -> bool | None:
        """Whether a run may download its dataset: False when it is there, True when it is not and the user agrees.

        None: it is missing and the user said no. An image folder is never downloaded.
        """
        from fashion_desktop.core.data import find_raw_files
        from fashion_desktop.core.errors import DataError

        data = self.settings.data
        if data.is_folder():
            return False
        try:
            find_raw_files(self.settings.data_root(), data.dataset())
        except DataError:
            return True if self._ask_download(data.title(), self.settings.data_root()) else None
        return False

    def _ask_download(self, title: str, folder: Path) -> bool:
        """Whether to download the missing dataset into ``folder``; a method of its own so tests can answer it."""
        buttons = QMessageBox.StandardButton
        answer = QMessageBox.question(
            self,
            "Download the data?",
            f"{title} is not in {folder}.\n\nDownload it there now (about 30 MB, needs the internet)? To use a copy "
            "you already have, choose No, then its folder with Browse... next to Folder.",
            buttons.Yes | buttons.No,
            buttons.Yes,
        )
        return answer == buttons.Yes

    def _start_training(self, spec: ModelSpec, resume_from: Checkpoint | None, allow_download: bool = False) -> None:
        """Train ``spec`` with the settings shown, from scratch or on from ``resume_from``, on a worker thread."""
        from fashion_desktop.core.paths import new_checkpoint_path

        self.settings.commit_data_root()
        self.settings.save_settings()
        self.progress.show_busy()  # while the data loads
        data = self.settings.data
        data.cancel_scan()  # the run imports the folder itself, from what the scan has cached
        init_from, init_name = data.init_from() if resume_from is None else (None, "")
        request = TrainingRequest(
            spec,
            self.config(),
            self.settings.data_root(),
            resume_from,
            allow_download=allow_download,
            model_path=new_checkpoint_path(),
            dataset=data.dataset(),
            images=data.images(),
            framing=data.framing(),
            init_from=init_from,
            init_from_name=init_name,
        )
        self.controller.start_training(request)
        self.inside.clear()
        self.results.set_training(True)
        self._set_busy(True)
        self.status_message.emit("Loading the data...")
        self.training_started.emit()

    @Slot()
    def _on_download_requested(self) -> None:
        if not self.settings.has_data_folder():
            self.show_warning("No data folder", "Choose a folder to download Fashion-MNIST into.")
            return
        self.settings.commit_data_root()
        self.progress.show_busy()  # until the first progress report
        data = self.settings.data
        self.status_message.emit(f"Looking for {data.title()} in {self.settings.data_root()}...")
        self.controller.start_download(self.settings.data_root(), data.dataset())
        self._set_busy(True)

    @Slot(bool)
    def _on_pause_toggled(self, paused: bool) -> None:
        if not self.controller.is_training():
            return
        self.controller.set_paused(paused)
        self.status_message.emit("Paused after the current batch" if paused else "Training resumed")
        self.pause_button.setText(RESUME_TEXT if paused else PAUSE_TEXT)
        self._sync_actions()
        # Said where the eye is, and kept while paused: a status message fades after a few seconds.
        self.progress.set_paused(paused)

    def _set_busy(self, busy: bool) -> None:
        self.settings.setEnabled(not busy)
        self.stop_button.setEnabled(busy)
        with QSignalBlocker(self.pause_button):
            self.pause_button.setChecked(False)
            self.pause_button.setText(PAUSE_TEXT)
        self.pause_button.setEnabled(busy and self.controller.is_training())
        self._update_problems()

    # -- what the run reports --
    @Slot(object)
    def _on_fit_started(self, info: FitInfo) -> None:
        if info.class_names:  # each epoch's validation matrix is of these classes (an image folder's own)
            self.results.confusion_view.set_classes(info.class_names)
        self.results.set_training(True, info.epochs)
        self.progress.show_fit_start(info)
        self.status_message.emit(
            f"Training on {info.device}: {info.train_size:,} images, {info.batches_per_epoch} batches per epoch"
        )

    @Slot(object)
    def _on_import_progress(self, progress: DataProgress) -> None:
        bar = self.progress.run_bar
        bar.setRange(0, max(1, progress.total))
        bar.setValue(progress.done)
        bar.setFormat(f"Preparing photos {progress.done:,}/{progress.total:,}")

    @Slot(object)
    def _on_batches_finished(self, batches: Sequence[BatchMetrics]) -> None:
        """The progress the batches make (the plot draws them itself), and the speed and time left."""
        info = self.controller.info
        assert info is not None  # fit_started comes first
        self.progress.show_batch(info, batches[-1], self.controller.training_seconds())

    @Slot(object)
    def _on_epoch_finished(self, metrics: EpochMetrics) -> None:
        self.epoch_plots.append(metrics)
        self.results.add_epoch(metrics)
        info = self.controller.info
        epochs = info.epochs if info else metrics.epoch
        accuracy = f", validation accuracy {metrics.val_accuracy:.1%}" if metrics.val_accuracy is not None else ""
        self.status_message.emit(f"Epoch {metrics.epoch} of {epochs}: train loss {metrics.train_loss:.4f}{accuracy}")

    @Slot(object)
    def _on_training_ended(self, outcome: TrainingOutcome) -> None:
        result, failure = outcome.result, outcome.failure
        self._set_busy(False)
        model = outcome.new_model
        if model is not None:
            self._checkpoint, self._model_path = model, outcome.model_path
            self.results.set_model(model, outcome.test_predictions)
            self.model_ready.emit(model)
        elif self.controller.info is None and self._checkpoint is not None:
            self.set_checkpoint(self._checkpoint)  # it never began to train: the model shown before comes back
        self.settings.data.rescan_if_incomplete()
        if outcome.run_id is not None:
            self.runs_panel.refresh()
        self._show_result(outcome)
        self.results.set_training(False)  # the test matrix becomes clickable now the model is here
        self._update_problems()  # Continue, now that the model and its resume point are known
        if failure is not None:
            self.status_message.emit(f"Training failed: {failure.message}")
        elif result is not None and result.test is not None:
            early = not result.stopped and result.history and result.history[-1].epoch < outcome.request.config.epochs
            verb = "stopped" if result.stopped else "stopped early" if early else "finished"
            unrecorded = "".join(f"; {warning}" for warning in outcome.warnings)
            self.status_message.emit(f"Training {verb}: test accuracy {result.test.accuracy:.2%}{unrecorded}")
        else:
            self.status_message.emit("Training stopped")
        self.training_finished.emit(result)
        self.worker_finished.emit()
        if failure is not None:
            hint = f"\n\n{DATA_FOLDER_HINT}" if failure.error_type == "DataError" else ""
            self.show_warning("Training failed", failure.message + hint)

    def _show_result(self, outcome: TrainingOutcome) -> None:
        """The test results, the best epoch and the run's speed, or that there are none."""
        result = outcome.result
        if result is None and self.controller.info is None and self._checkpoint is not None:
            return  # the model shown before the run is back, with its results
        if self.controller.info is not None:
            self.progress.show_trained(self.controller.training_seconds())
        if result is None:
            failure = outcome.failure
            # A diverged run says why in the results too: the status line fades and the warning is dismissed.
            reason = f" {failure.message}" if failure is not None and failure.error_type == "TrainingDiverged" else ""
            self.results.set_text(f"No test results: training did not finish.{reason}")
            self.progress.reset()
            return
        self.epoch_plots.set_best_epoch(result.best_epoch)
        if result.test is None:
            return
        notes = []
        patience = outcome.request.config.early_stopping_patience
        planned = outcome.request.config.epochs
        last_epoch = result.history[-1].epoch if result.history else 0
        if result.stopped:
            notes.append(f"stopped after {len(result.history)} full epoch(s)")
        elif patience and last_epoch < planned:
            notes.append(f"stopped early at epoch {last_epoch}: no better validation loss for {patience} epochs")
            self.progress.run_bar.setValue(self.progress.run_bar.maximum())  # the run is over, not half done
        if result.best_epoch is not None and result.history and result.best_epoch != result.history[-1].epoch:
            notes.append(f"weights of epoch {result.best_epoch}, the best on validation")
        note = f" ({'; '.join(notes)})" if notes else ""
        warnings = "".join(f"\nNote: {warning}" for warning in outcome.warnings)  # e.g. the run was not recorded
        self.results.set_text(
            f"Test accuracy {result.test.accuracy:.2%}, test loss {result.test.loss:.4f}{note}{warnings}"
        )
        self.results.set_test(result.test)

    @Slot(object)
    def _on_download_ended(self, outcome: DownloadOutcome) -> None:
        self._set_busy(False)
        self.progress.reset()
        if outcome.failure is None and not outcome.stopped:
            verb = "downloaded into" if outcome.downloaded else "is already in"
            self.status_message.emit(f"{outcome.title} {verb} {outcome.data_root}")
        self.worker_finished.emit()
        if outcome.failure is not None:
            hint = f"\n\n{DATA_FOLDER_HINT}" if outcome.failure.error_type == "DataError" else ""
            self.show_warning("Download failed", outcome.failure.message + hint)

    @Slot(str)
    def _on_warned(self, message: str) -> None:
        """A problem that does not stop the run (the history cannot record it, a save failed), said at once.

        In the results as well as the status line, which fades.
        """
        self.status_message.emit(message)
        self.results.set_text(f"{self.results.results_label.text()}\nNote: {message}")

    @Slot(str, str)
    def _on_part_warning(self, title: str, message: str) -> None:
        self.show_warning(title, message)

    def closeEvent(self, event: QCloseEvent) -> None:
        """Closed on its own (the main window stops training itself): stop the worker; never close while it runs.

        A worker that takes longer than STOP_TIMEOUT_MS to stop keeps the tab open, and the tab closes itself once
        it has stopped: a QThread destroyed while it runs aborts the process, and ``quit()`` cannot end a thread
        busy in a Python loop.
        """
        self.shutdown()
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


def _with_shortcut(tip: str, action: QAction) -> str:
    """``tip (Ctrl+Return)``: a tooltip that names the action's shortcut."""
    return f"{tip} ({action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)})"
