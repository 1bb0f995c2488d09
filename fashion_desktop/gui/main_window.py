"""The main window: the Builder, Training and Predict tabs, the File and Help menus, and the wiring between them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import QCoreApplication, QObject, QSettings, Qt, QThread, Signal, Slot, qVersion
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDragMoveEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressDialog,
    QPushButton,
    QScrollArea,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from fashion_desktop import __version__
from fashion_desktop.core.errors import SpecError, UserError
from fashion_desktop.core.learn import OptimizerChoice, with_weight_init
from fashion_desktop.core.paths import checkpoints_dir
from fashion_desktop.core.presets import PRESETS
from fashion_desktop.core.spec import ModelSpec
from fashion_desktop.gui.builder import BuilderTab
from fashion_desktop.gui.forms import remember_folder, remembered_folder
from fashion_desktop.gui.learn import LearnTab
from fashion_desktop.gui.predict import PredictTab
from fashion_desktop.gui.training import TrainingTab

if TYPE_CHECKING:
    from fashion_desktop.core.checkpoint import Checkpoint
    from fashion_desktop.gui.mistakes import TestImage

MODEL_FILTER = "Fashion Desktop models (*.safetensors);;All files (*)"
MODEL_SUFFIX = ".safetensors"
LOCKED_WHILE_TRAINING = "A training is using this network: stop it (Training tab) to edit the network again."
WELCOME = (
    "<b>Welcome to Fashion Desktop.</b> 1. Pick a preset on the Builder tab (seed is a good start). "
    "2. Press <b>Start</b> on the Training tab. "
    "3. Drop a photo of a garment on the Predict tab to see what the network makes of it."
)
STATUS_TIMEOUT_MS = 6000
LAST_MODEL_KEY = "model/last_file"  # the model file open when the app closed, opened again at the next launch
# Quitting waits this long for the training to stop before it shows a "Stopping..." dialog; it never gives up
# while the thread runs, because a QThread destroyed while it runs aborts the process.
QUICK_STOP_MS = 1000


class MainWindow(QMainWindow):
    """The app's one window. Tabs talk to each other only through the connections made here.

    Signals:
        core_ready: PyTorch has loaded and every tab can train and predict.
        core_failed: PyTorch did not load; why, in words.
    """

    core_ready = Signal()
    core_failed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Fashion Desktop")
        self._device = ""  # described once PyTorch has loaded
        self._opened: Checkpoint | None = None  # the model last opened from a file
        self._closing = False  # set while closeEvent waits for the training to stop
        # The CoreLoader that imports PyTorch (see app.load_core_in_background) and its thread, referenced until the
        # thread has finished: a collected loader never runs, and a collected running QThread aborts the process.
        self.core_loader: QObject | None = None
        self.core_thread: QThread | None = None

        self.builder = BuilderTab()
        self.training = TrainingTab()
        self.predict = PredictTab()
        self.learn = LearnTab()
        self.tabs = PageTabs()
        self.tabs.setDocumentMode(True)
        for tab, name in (
            (self.builder, "Builder"),
            (self.training, "Training"),
            (self.predict, "Predict"),
            (self.learn, "Learn"),
        ):
            self.tabs.add_page(tab, name)
        self.welcome = self._welcome_banner()
        central = QWidget()
        column = QVBoxLayout(central)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.welcome)
        column.addWidget(self.tabs, 1)
        self.setCentralWidget(central)
        # Model files dropped anywhere open as a model; tabs that take other files (the Builder's JSON, the
        # Predict tab's images) accept those themselves, and what they ignore comes on to the window.
        self.setAcceptDrops(True)

        self.device_label = QLabel("Loading PyTorch...")
        self.statusBar().addPermanentWidget(self.device_label)
        self._build_menus()
        self._restore_settings()
        self._connect_tabs()
        self.builder.set_data(*self.training.data_shape())  # the network takes the data's input; then the spec
        self.training.set_spec(self.builder.spec())  # both were restored from the settings before the wiring
        self.builder.set_loss(self.training.config().loss)
        self._update_model_note()
        app = QCoreApplication.instance()
        if app is not None:  # a quit that bypasses closeEvent (the session ends, app.quit()) must stop threads too
            app.aboutToQuit.connect(self._on_app_about_to_quit)

    # -- start-up --
    @Slot()
    def on_core_ready(self) -> None:
        """PyTorch has loaded: show the device and let each tab finish its start-up."""
        from fashion_desktop.core.runtime import describe_device, keep_this_thread_on_one_core, pick_device

        keep_this_thread_on_one_core()  # before any torch work here: training gets the cores
        self._device = describe_device(pick_device())
        self.device_label.setText(f"Device: {self._device}")
        for tab in (self.builder, self.training, self.predict, self.learn):
            tab.on_core_ready()
        self.statusBar().showMessage("Ready", STATUS_TIMEOUT_MS)
        self._reopen_last_model()
        self.core_ready.emit()

    def _reopen_last_model(self) -> None:
        """Show the model that was open when the app last closed; a file gone since is skipped with a word."""
        from fashion_desktop.core.checkpoint import Checkpoint

        name = str(QSettings().value(LAST_MODEL_KEY, "") or "")
        if not name or self.training.is_training():
            return
        path = Path(name)
        try:
            if not path.is_file():
                raise UserError("the file is no longer there")
            checkpoint = Checkpoint.load(path)
        except UserError as error:
            QSettings().remove(LAST_MODEL_KEY)
            self._on_tab_status_message(f"The last model, {path.name}, was not opened again: {error}")
            return
        # The network and settings came back from the settings as they were left; the model joins them.
        self._show_model(checkpoint, path)
        self._on_tab_status_message(f"Opened the last model again: {_model_words(checkpoint, path)}")

    @Slot(str)
    def on_core_failed(self, message: str) -> None:
        """PyTorch did not load: say so, and why, rather than wait for it for ever.

        The message box is window-modal but does not block: a nested event loop inside this queued slot would
        hold up everything else queued, and a headless caller (the self-test) could never answer it.
        """
        self.device_label.setText("Device: none")
        box = QMessageBox(
            QMessageBox.Icon.Critical,
            "PyTorch did not load",
            f"Fashion Desktop cannot train or predict without PyTorch:\n{message}\n\n"
            "Reinstall it (see the README) and start Fashion Desktop again.",
            parent=self,
        )
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        self.core_failed.emit(message)

    @Slot()
    def on_core_thread_finished(self) -> None:
        """The CoreLoader's thread has ended: let it and the loader go."""
        if self.core_thread is not None:
            self.core_thread.wait()  # finished is emitted just before the thread ends
        self.core_loader = self.core_thread = None

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.new_action = self._action(
            file_menu,
            "&New",
            self._on_new_action_triggered,
            QKeySequence.StandardKey.New,
            "Start again from the seed network",
        )
        self.open_action = self._action(
            file_menu,
            "&Open model...",
            self._on_open_action_triggered,
            QKeySequence.StandardKey.Open,
            "Open a model file to try it",
        )
        self.save_action = self._action(
            file_menu,
            "&Save model...",
            self._on_save_action_triggered,
            QKeySequence.StandardKey.Save,
            "Save the model trained so far",
        )
        file_menu.addSeparator()
        file_menu.addAction(self.predict.scoring.action)  # the Predict tab's: scores a folder of class subfolders
        file_menu.addSeparator()
        self.export_action = self._action(
            file_menu,
            "&Export as Python...",
            self._on_export_action_triggered,
            QKeySequence("Ctrl+E"),
            "Write the network as a PyTorch module",
        )
        export_menu = file_menu.addMenu("Export &model")  # these need trained weights (or a training run's settings)
        self.model_export_actions: dict[str, QAction] = {}
        for name, label, tip in (
            ("onnx", "As &ONNX...", "For onnxruntime and other inference engines"),
            ("torchscript", "As &TorchScript...", "For torch.jit.load and libtorch (C++)"),
            ("script", "As a &training script...", "A plain PyTorch + torchvision script that reproduces the run"),
        ):
            action = export_menu.addAction(label)
            action.setStatusTip(tip)
            action.setData(name)
            self.model_export_actions[name] = action
        # One slot for the whole submenu, handed the action: a lambda on each action's triggered(bool) received the
        # checked flag in place of the format name, and every click ended in KeyError: False.
        export_menu.triggered.connect(self._on_export_menu_triggered)
        file_menu.addSeparator()
        self.quit_action = self._action(file_menu, "&Quit", self.close, QKeySequence("Ctrl+Q"), "Quit Fashion Desktop")

        edit_menu = self.menuBar().addMenu("&Edit")  # the builder's undo history; its shortcuts work in its tab
        edit_menu.addAction(self.builder.undo_action)
        edit_menu.addAction(self.builder.redo_action)

        # Start, Continue, Pause and Stop with their shortcuts (Ctrl+Return, ...), which work in every tab.
        training_menu = self.menuBar().addMenu("&Training")
        training = self.training
        training_menu.addActions([training.start_action, training.continue_action, training.pause_action])
        training_menu.addSeparator()
        training_menu.addAction(training.stop_action)

        help_menu = self.menuBar().addMenu("&Help")
        self.about_action = self._action(help_menu, "&About Fashion Desktop", self._on_about_action_triggered)

    def _action(
        self, menu: QMenu, text: str, slot: Callable[[], object], shortcut: object = None, tip: str = ""
    ) -> QAction:
        action = menu.addAction(text)
        action.triggered.connect(slot)
        if shortcut is not None:
            action.setShortcut(shortcut)
        action.setStatusTip(tip)
        return action

    def _connect_tabs(self) -> None:
        for tab in (self.builder, self.training, self.predict, self.learn):
            tab.status_message.connect(self._on_tab_status_message)
        self.builder.spec_changed.connect(self.training.set_spec)
        self.builder.spec_changed.connect(self._on_builder_spec_changed)
        # A preset sets the training settings through this link, and its undo puts the earlier ones back.
        self.builder.set_settings_link(self.training.config, self._apply_training_config)
        self.training.training_started.connect(self._on_training_started)
        self.training.worker_finished.connect(self._on_training_worker_finished)
        self.predict.model_file_dropped.connect(self._on_predict_model_file_dropped)
        self.training.model_ready.connect(self.predict.set_model)
        self.training.model_ready.connect(self._on_training_model_ready)
        self.training.data_root_changed.connect(self.predict.set_data_root)
        self.training.predict_requested.connect(self._on_training_predict_requested)
        self.training.open_model_requested.connect(self._on_training_open_model_requested)
        # The Builder checks the network's head against the loss (NLLLoss needs LogSoftmax), as it changes.
        self.training.settings.loss_changed.connect(self.builder.set_loss)
        # ... and against the data: its input shape (an image folder's size and colour) and its class count.
        self.training.data_shape_changed.connect(self.builder.set_data)
        self.learn.optimizer_chosen.connect(self._on_learn_optimizer_chosen)
        self.learn.init_chosen.connect(self._on_learn_init_chosen)

    # -- settings --
    def _restore_settings(self) -> None:
        settings = QSettings()
        screen = self.screen().availableGeometry()
        if not self.restoreGeometry(settings.value("main_window/geometry", b"")):
            self.resize(min(1280, screen.width()), min(800, screen.height()))
        elif self.width() > screen.width() or self.height() > screen.height():
            # Saved at another scale factor or on a bigger screen, where the platform does not fit it itself.
            self.resize(min(self.width(), screen.width()), min(self.height(), screen.height()))
            self.move(screen.topLeft())
        if not settings.value("welcome/dismissed", False, type=bool):
            self.welcome.show()
        self.tabs.setCurrentIndex(int(settings.value("main_window/tab", 0)))
        saved_spec = str(settings.value("builder/spec", ""))
        if saved_spec:
            try:
                self.builder.set_spec(ModelSpec.from_json(saved_spec), undoable=False)
            except (SpecError, TypeError, ValueError):
                pass  # a damaged settings file: start from the seed network instead

    def _save_settings(self) -> None:
        settings = QSettings()
        settings.setValue("main_window/geometry", self.saveGeometry())
        settings.setValue("main_window/tab", self.tabs.currentIndex())
        self.training.save_settings()  # the training settings and data folder, as the controls show them

    # -- models and files --
    def open_model(self, path: str | Path) -> bool:
        """Load a model file into every tab; a damaged file shows why and changes nothing."""
        from fashion_desktop.core.checkpoint import Checkpoint

        try:
            checkpoint = Checkpoint.load(path)
        except UserError as error:
            QMessageBox.critical(self, "Cannot open the model", str(error))
            return False
        if self.training.is_training():  # the network, settings and results belong to the run until it ends
            QMessageBox.information(
                self, "Cannot open a model now", "A training is running. Stop it first, then open the model again."
            )
            return False
        if not Path(path).absolute().is_relative_to(checkpoints_dir().absolute()):
            remember_folder("models", path)  # a run's own file (from the Runs page) is no place to save models
        self._opened = checkpoint
        self.training.settings.data.follow_model(checkpoint)  # first: the Builder fits the network to the data
        self.builder.set_spec(checkpoint.spec, text=f"Open {Path(path).name}")
        if checkpoint.config is not None:
            self._apply_training_config(checkpoint.config)
        self._show_model(checkpoint, Path(path))
        self._on_tab_status_message(f"Opened {_model_words(checkpoint, Path(path))}")
        return True

    def _show_model(self, checkpoint: Checkpoint, path: Path) -> None:
        """Make a model from a file the one Predict, Save, Export and Continue use, and remember its file."""
        self._opened = checkpoint
        self.predict.set_model(checkpoint, source=path.name)
        self.training.set_checkpoint(checkpoint)  # its curves and results, and Continue
        self._update_model_note()
        _remember_last_model(path)

    def _model_to_save(self) -> Checkpoint | None:
        """The model File > Save would save: the one trained last, else the one opened."""
        return self.training.checkpoint() or self._opened

    def save_model(self, checkpoint: Checkpoint | None = None) -> Path | None:
        """Ask for a file name and save the model; returns the file, or None when cancelled or there is no model."""
        checkpoint = checkpoint or self._model_to_save()
        if checkpoint is None:
            QMessageBox.information(
                self, "No model to save", "There is no trained model yet. Train one on the Training tab first."
            )
            return None
        default = str(Path(remembered_folder("models", Path.home())) / "model.safetensors")
        name, _ = QFileDialog.getSaveFileName(self, "Save model", default, MODEL_FILTER)
        if not name:
            return None
        path = Path(name) if Path(name).suffix else Path(name).with_suffix(".safetensors")
        remember_folder("models", path)
        try:
            checkpoint.save(path)
            _remember_last_model(path)
        except OSError as error:
            QMessageBox.critical(self, "Cannot save the model", f"Cannot write {path}: {error.strerror or error}")
            return None
        self._on_tab_status_message(f"Saved the model to {path}")
        return path

    def export_python(self) -> Path | None:
        """Write a network as a standalone PyTorch module; returns the file, or None.

        With a trained (or opened) model it is the model's own network, so the exported ``load_weights()`` fits
        the model file; when the Builder shows another network, the user chooses which one.
        """
        spec = self._network_to_export()
        if spec is None:
            return None
        errors = spec.errors(classes=None)  # any class count: an image folder's network has its own
        if errors:
            QMessageBox.warning(
                self, "Cannot export the network", "Fix these first:\n\n" + "\n".join(f"• {p.message}" for p in errors)
            )
            return None
        default = str(Path(remembered_folder("exports", Path.home())) / "fashion_network.py")
        name, _ = QFileDialog.getSaveFileName(self, "Export as Python", default, "Python files (*.py)")
        if not name:
            return None
        from fashion_desktop.core.builder import to_python
        from fashion_desktop.core.files import atomic_write

        path = Path(name) if Path(name).suffix else Path(name).with_suffix(".py")
        remember_folder("exports", path)
        try:
            atomic_write(path, to_python(spec).encode())
        except OSError as error:
            QMessageBox.critical(self, "Cannot export the network", f"Cannot write {path}: {error.strerror or error}")
            return None
        self._on_tab_status_message(f"Exported the network to {path}")
        return path

    def export_model(self, format_name: str) -> Path | None:
        """Export the trained (or opened) model in one of core.export's formats; returns the file, or None."""
        from fashion_desktop.core.export import EXPORT_FORMATS

        checkpoint = self.training.checkpoint() or self._opened
        if checkpoint is None:
            QMessageBox.information(
                self, "No model to export", "There is no trained model yet. Train one on the Training tab first."
            )
            return None
        export = EXPORT_FORMATS[format_name]
        default = str(Path(remembered_folder("exports", Path.home())) / ("fashion_network" + export.suffix))
        name, _ = QFileDialog.getSaveFileName(self, f"Export: {export.description}", default)
        if not name:
            return None
        remember_folder("exports", name)
        try:
            path = export.export(checkpoint, name)
        except (UserError, OSError) as error:
            QMessageBox.critical(self, "Cannot export the model", str(error))
            return None
        self._on_tab_status_message(f"Exported the model to {path}")
        return path

    def about_text(self) -> str:
        import torch

        from fashion_desktop.core.runtime import describe_device, pick_device

        device = self._device or describe_device(pick_device())
        return (
            f"<h3>Fashion Desktop {__version__}</h3>"
            "<p>Build, train and try neural networks on Fashion-MNIST, without writing code.</p>"
            f"<p>PyTorch {torch.__version__}<br>Qt {qVersion()} (PySide6 {pyside_version})<br>Device: {device}</p>"
        )

    def _network_to_export(self) -> ModelSpec | None:
        """The trained model's network, the Builder's, or None when the user cancelled the choice."""
        model = self._model_to_save()
        shown = self.builder.spec()
        if model is None or model.spec == shown:
            return shown
        answer = self._ask_which_network_to_export()
        if answer == "model":
            return model.spec
        return shown if answer == "builder" else None

    def _ask_which_network_to_export(self) -> str | None:
        """Which network to export: "model", "builder", or None to cancel; tests replace this to answer."""
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Export as Python",
            "The Builder shows a different network from the trained model's. Which one do you want to export?\n\n"
            "Only the trained model's network fits the model file's weights.",
            QMessageBox.StandardButton.Cancel,
            self,
        )
        model_button = box.addButton("The &trained model's", QMessageBox.ButtonRole.AcceptRole)
        builder_button = box.addButton("The &Builder's", QMessageBox.ButtonRole.AcceptRole)
        box.setDefaultButton(model_button)
        box.exec()
        clicked = box.clickedButton()
        return "model" if clicked is model_button else "builder" if clicked is builder_button else None

    def _ask_start_new(self) -> bool:
        """Whether to replace the network and the training settings; a method of its own so tests can answer it."""
        buttons = QMessageBox.StandardButton
        answer = QMessageBox.question(
            self,
            "New network",
            "Start again from the seed network and its training settings, and clear the curves and results?\n\n"
            "Edit > Undo brings back the network and the settings you have now. A trained model stays in the Runs "
            "list (and a saved one in its file), from where you can open it again.",
            buttons.Yes | buttons.Cancel,
            buttons.Cancel,
        )
        return answer == buttons.Yes

    def _update_model_note(self) -> None:
        """Tell the Builder which network the trained or opened model belongs to."""
        model = self._model_to_save()
        if model is None:
            self.builder.set_model_note("")
            return
        epochs, accuracy = _epochs_and_accuracy(model)
        if model.spec == self.builder.spec():
            text = f"The trained model ({epochs}{accuracy}) belongs to this network."
        else:
            text = (
                f"The trained model ({epochs}{accuracy}) belongs to another network. Your edits here are for the "
                "next training; Predict, File > Save model and Export use the trained model until then."
            )
        self.builder.set_model_note(text)

    def _welcome_banner(self) -> QFrame:
        banner = QFrame()
        banner.setObjectName("welcome")
        banner.setFrameShape(QFrame.Shape.StyledPanel)
        text = QLabel(WELCOME)
        text.setWordWrap(True)
        text.setTextFormat(Qt.TextFormat.RichText)
        self.welcome_button = QPushButton("&Got it")
        self.welcome_button.setToolTip("Hide this for good")
        self.welcome_button.clicked.connect(self._on_welcome_button_clicked)
        row = QHBoxLayout(banner)
        row.setContentsMargins(10, 6, 10, 6)
        row.addWidget(text, 1)
        row.addWidget(self.welcome_button)
        banner.hide()
        return banner

    def _apply_training_config(self, config: object) -> None:
        """Fill the Training tab's settings (a preset's, an undo's, a model's) and check the head against them."""
        self.training.set_config(config)  # type: ignore[arg-type]  # its loss reaches the Builder through loss_changed

    # -- drops: a model file opens wherever it is dropped --
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        self._accept_models(event)

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        self._accept_models(event)

    def dropEvent(self, event: QDropEvent) -> None:
        models = _model_files(event)
        if not models:
            event.ignore()
            self._on_tab_status_message("Drop a model file (.safetensors) here, images on the Predict tab")
            return
        event.setDropAction(Qt.DropAction.CopyAction)  # a file manager deletes the originals of a move
        event.accept()
        self.open_model(models[0])

    def _accept_models(self, event: QDragEnterEvent | QDragMoveEvent) -> None:
        if _model_files(event):
            event.setDropAction(Qt.DropAction.CopyAction)
            event.accept()
        else:
            event.ignore()

    # -- quitting --
    def _ask_save_before_quit(self) -> QMessageBox.StandardButton:
        """Save, Discard or Cancel; a method of its own so tests can answer it."""
        buttons = QMessageBox.StandardButton
        return QMessageBox.question(
            self,
            "Quit Fashion Desktop",
            "Training is running. Save the model trained so far before quitting?",
            buttons.Save | buttons.Discard | buttons.Cancel,
            buttons.Save,
        )

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._closing:  # a second close while the first waits for the training to stop
            event.ignore()
            return
        if self.training.is_training():
            save = False
            if self.training.is_training_model():  # a download, or data still loading, has nothing to save
                answer = self._ask_save_before_quit()
                if answer == QMessageBox.StandardButton.Cancel:
                    event.ignore()
                    return
                save = answer == QMessageBox.StandardButton.Save
            self._closing = True
            try:
                stopped = self._stop_training()
            finally:
                self._closing = False
            if not stopped:
                event.ignore()  # the user chose not to wait: stay open while the training stops
                return
            if save and self._model_to_save() is not None and self.save_model() is None:
                event.ignore()  # the save was cancelled: stay open so the trained model is not lost
                return
        self._save_settings()
        self.predict.shutdown()  # its photo workers must not outlive the window
        self.training.shutdown()  # nor the image-folder scan
        event.accept()

    def _stop_training(self) -> bool:
        """Stop the Training tab's worker and wait for its thread to end; False if the user chose not to wait.

        Never returns True while the thread runs: closing the window then would destroy a running QThread.
        """
        self._on_tab_status_message("Stopping the training...")
        self.training.request_stop()
        if self.training.wait_for_stop(QUICK_STOP_MS):
            return True
        dialog = self._stopping_dialog()
        self.training.worker_finished.connect(dialog.accept)
        try:
            # The thread is reported finished through this thread's event loop, so it cannot end unnoticed
            # between this check and exec().
            if self.training.is_training():
                dialog.exec()
        finally:
            self.training.worker_finished.disconnect(dialog.accept)
            dialog.deleteLater()
        return not self.training.is_training()

    def _stopping_dialog(self) -> QProgressDialog:
        """A modal "Stopping..." dialog, shown until the training thread ends; its button gives up waiting."""
        dialog = QProgressDialog("Stopping the training after the current batch...", "Don't quit", 0, 0, self)
        dialog.setWindowTitle("Quit Fashion Desktop")
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(0)
        dialog.setAutoClose(False)
        return dialog

    @Slot()
    def _on_app_about_to_quit(self) -> None:
        """The application is ending without closing this window first: stop every thread, never abandon one."""
        if self.training.is_training():
            self.training.request_stop()
            while not self.training.wait_for_stop(QUICK_STOP_MS):
                pass  # the training stops after its current batch; a running QThread must not be destroyed
        if self.core_thread is not None:
            self.core_thread.wait()  # importing PyTorch cannot be cut short, and ends soon
        self.predict.shutdown()
        self.training.shutdown()

    # -- slots --
    @Slot(str)
    def _on_tab_status_message(self, text: str) -> None:
        self.statusBar().showMessage(text, STATUS_TIMEOUT_MS)

    @Slot(object)
    def _on_builder_spec_changed(self, spec: ModelSpec) -> None:
        QSettings().setValue("builder/spec", spec.to_json())
        self._update_model_note()

    @Slot(object)
    def _on_training_model_ready(self, checkpoint: Checkpoint) -> None:
        self._opened = None  # the model trained now is the one Save, Export and Predict use
        path = self.training.model_path()
        if path is not None and path.is_file():  # the run's own model file, saved after every epoch
            _remember_last_model(path)
        self._update_model_note()
        accuracy = f" (test accuracy {checkpoint.test.accuracy:.1%})" if checkpoint.test else ""
        self._on_tab_status_message(f"The model is ready to try on the Predict tab{accuracy}")

    @Slot()
    def _on_training_started(self) -> None:
        self.builder.set_locked(LOCKED_WHILE_TRAINING)

    @Slot()
    def _on_training_worker_finished(self) -> None:
        self.builder.set_locked("")

    @Slot(object)
    def _on_predict_model_file_dropped(self, path: Path) -> None:
        self.open_model(path)

    @Slot(QAction)
    def _on_export_menu_triggered(self, action: QAction) -> None:
        self.export_model(action.data())

    @Slot()
    def _on_welcome_button_clicked(self) -> None:
        self.welcome.hide()
        self.centralWidget().layout().activate()  # the window may shrink into the room at once
        QSettings().setValue("welcome/dismissed", True)

    @Slot(object)
    def _on_training_predict_requested(self, image: TestImage) -> None:
        self.predict.show_image(image.image, f"Test image #{image.index}", image.true_class)
        self.tabs.setCurrentWidget(self.predict)

    @Slot(object)
    def _on_training_open_model_requested(self, path: Path) -> None:
        self.open_model(path)  # as File > Open model does

    @Slot(object)
    def _on_learn_optimizer_chosen(self, choice: OptimizerChoice) -> None:
        options = dict(choice.options)
        self.training.set_config(replace(self.training.config(), optimizer=choice.optimizer, optimizer_options=options))

    @Slot(str, object)
    def _on_learn_init_chosen(self, scheme: str, options: Mapping) -> None:
        self.builder.set_spec(with_weight_init(self.builder.spec(), scheme, options), text=f"Initialise with {scheme}")

    @Slot()
    def _on_new_action_triggered(self) -> None:
        if self.builder.is_locked():
            QMessageBox.information(self, "New network", "A training is running. Stop it first, then start again.")
            return
        if self._has_work_to_lose() and not self._ask_start_new():
            return
        self.builder.load_preset("seed")  # one undo step, which brings back the training settings too
        # The model and its curves belong to the old network: a new start shows none (the run stays in Runs).
        self.training.clear_results()
        self._opened = None
        QSettings().remove(LAST_MODEL_KEY)
        self._update_model_note()
        self._on_tab_status_message("Started again from the seed network (Edit > Undo brings the old one back)")

    def _has_work_to_lose(self) -> bool:
        """Whether File > New would change anything: a model or curves shown, or another network or settings."""
        seed = PRESETS["seed"]
        return (
            self._model_to_save() is not None
            or self.training.has_results()
            or self.builder.spec() != seed.spec
            or self.training.config() != seed.config
        )

    @Slot()
    def _on_open_action_triggered(self) -> None:
        # Never used yet: where every training run saves its model, else the home folder.
        runs_models = checkpoints_dir()
        start = remembered_folder("models", runs_models if runs_models.is_dir() else Path.home())
        name, _ = QFileDialog.getOpenFileName(self, "Open model", start, MODEL_FILTER)
        if name:
            self.open_model(name)

    @Slot()
    def _on_save_action_triggered(self) -> None:
        self.save_model()

    @Slot()
    def _on_export_action_triggered(self) -> None:
        self.export_python()

    @Slot()
    def _on_about_action_triggered(self) -> None:
        QMessageBox.about(self, "About Fashion Desktop", self.about_text())


class PageTabs(QTabWidget):
    """Tabs whose pages scroll when the window is smaller than a page needs.

    No page holds the window larger than the screen then (pages 985 pixels wide did, at scale factor 2). The
    scroll area around each page stays out of the way: ``currentWidget``, ``setCurrentWidget``, ``indexOf`` and
    ``widget`` deal in the pages themselves.
    """

    def add_page(self, page: QWidget, name: str) -> int:
        scroll = QScrollArea()
        scroll.setWidget(page)
        scroll.setWidgetResizable(True)  # as big as the window allows, never smaller than the page's minimum
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        return self.addTab(scroll, name)

    def widget(self, index: int) -> QWidget | None:
        scroll = super().widget(index)
        return scroll.widget() if isinstance(scroll, QScrollArea) else scroll

    def currentWidget(self) -> QWidget | None:
        return self.widget(self.currentIndex())

    def indexOf(self, page: QWidget) -> int:
        return next((i for i in range(self.count()) if self.widget(i) is page), -1)

    def setCurrentWidget(self, page: QWidget) -> None:
        self.setCurrentIndex(self.indexOf(page))


def _model_words(checkpoint: Checkpoint, path: Path) -> str:
    """``model.safetensors: 3 epochs trained, test accuracy 85.2%``."""
    epochs, accuracy = _epochs_and_accuracy(checkpoint)
    return f"{path.name}: {epochs} trained{accuracy}"


def _epochs_and_accuracy(checkpoint: Checkpoint) -> tuple[str, str]:
    """``("3 epochs", ", test accuracy 85.2%")``; the accuracy is empty for a model without test results."""
    epochs = f"{checkpoint.epoch} epoch" + ("" if checkpoint.epoch == 1 else "s")
    return epochs, f", test accuracy {checkpoint.test.accuracy:.1%}" if checkpoint.test else ""


def _remember_last_model(path: Path) -> None:
    QSettings().setValue(LAST_MODEL_KEY, str(path.absolute()))


def _model_files(event: QDragEnterEvent | QDragMoveEvent | QDropEvent) -> list[Path]:
    """The dropped local model files (.safetensors)."""
    mime = event.mimeData()
    if not mime.hasUrls():
        return []
    paths = [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()]
    return [path for path in paths if path.suffix.lower() == MODEL_SUFFIX]
