"""The Predict tab: drop clothing photos or pick test images, see what the model makes of them and why."""

from __future__ import annotations

import random
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QEvent, QSettings, QSize, Qt, QTimer, Signal, Slot
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QFont,
    QGuiApplication,
    QKeySequence,
    QPixmap,
)
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressDialog,
    QPushButton,
    QSplitter,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from fashion_desktop.core.errors import DataError, ImageError
from fashion_desktop.core.imaging import IMAGE_SUFFIXES, INVERT_MODES, PreprocessOptions
from fashion_desktop.core.spec import CLASS_NAMES, INPUT_SHAPE
from fashion_desktop.gui.forms import DATA_FOLDER_HINT, remember_folder, remembered_folder
from fashion_desktop.gui.predict.chart import ProbabilityChart
from fashion_desktop.gui.predict.entries import (
    NO_MODEL_HINT,
    Entry,
    added_message,
    count,
    images_in,
    no_images_message,
    shown_name,
    summary,
)
from fashion_desktop.gui.predict.saliency import SaliencyView
from fashion_desktop.gui.predict.scoring import FolderScoring
from fashion_desktop.gui.predict.views import (
    DONE_STYLE,
    ERROR_STYLE,
    HINT_STYLE,
    ICON_SIZE,
    PixmapView,
    input_pixmap,
    list_icon,
    rgba_pixmap,
    style_banner,
)
from fashion_desktop.gui.predict.worker import Prepared, PrepareQueue, Preview, Relay
from fashion_desktop.resources import resource_path

if TYPE_CHECKING:  # torch-backed modules: imported inside methods, so the window paints before torch loads
    from fashion_desktop.core.checkpoint import Checkpoint
    from fashion_desktop.core.folders import FramingSettings
    from fashion_desktop.core.inference import Prediction, Predictor

CANNOT_READ = "Cannot read this file"  # the image views' words for an unreadable file; the error is beneath them
SEEN_CAPTION = "What the model sees ({})"  # the input's size, and "colour" for a colour model
MODEL_SUFFIXES = (".safetensors",)  # dropped with images, these open as the model instead
BATCH_CSV_NAME = "predictions.csv"
# segment.SEPARATIONS in the user's words; GrabCut is the most accurate and costs about 30 ms a photo
SEPARATION_CHOICES: tuple[tuple[str, str, str], ...] = (
    ("grabcut", "GrabCut", "The most accurate: about 30 ms a photo, done in the background"),
    ("border", "Fast (border colour)", "Learns the background from the photo's border: several times faster"),
    ("none", "Off", "No separation: crop to the pixels brighter than the background, as before"),
)
SEPARATION_SETTING = "predict/separation"
CANCELLED = "Not prepared: cancelled. Change a switch or drop the file again to prepare it."
LIST_CHUNK = 40  # images listed per turn of the event loop
FLUSH_MS = 30  # results arriving within this long are classified together: one batch is far cheaper than many


class PredictTab(QWidget):
    """Lists dropped or opened images with their predicted class and shows the selected one in detail.

    Attributes:
        image_list: One item per image: its thumbnail, name and top class, or why it could not be opened.
        original_view: The selected image as the user gave it.
        seen_view: The image the model is given (28x28 grey for Fashion-MNIST), enlarged.
        seen_caption: Says what ``seen_view`` shows.
        saliency: Beside the model's input, the same input tinted where its pixels drove a class, when asked.
        batch_button: Predicts every image of a folder and writes the results to a CSV file.
        result_label: The top class and its probability (and the true class of a test image).
        chart: The class probabilities of the selected image, one bar per class of the model.
        scoring: Scores a folder of class subfolders, chosen with its ``action`` or dropped, in the background;
            its button and progress row sit under the list, the result opens in its ``dialog``.
        model_hint: Shown while there is no model.
        notice: News that is not about one image: a missing test set, or what a batch prediction wrote.
    """

    status_message = Signal(str)
    model_file_dropped = Signal(object)  # Path: a model file dropped with (or instead of) images, to open it

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self._entries: list[Entry] = []  # in the rows of image_list
        self._by_key: dict[int, Entry] = {}  # the same entries by key, for the workers' results
        self._predictor: Predictor | None = None
        self._framing: FramingSettings | None = None  # the model's own framing; None: Fashion-MNIST's
        self._input_shape: tuple[int, int, int] = INPUT_SHAPE  # what the model takes: (channels, height, width)
        self.scoring = FolderScoring(self, lambda: self._predictor, self._options, self._images_folder)
        self.scoring.notice.connect(self._on_scoring_notice)
        self.scoring.status_message.connect(self.status_message)
        self.scoring.images_requested.connect(self._add_paths)
        self._data_root: Path | None = None
        self._test_set: tuple[np.ndarray, np.ndarray] | None = None  # images and labels, loaded on first use
        self._banners: dict[QLabel, str] = {}  # each banner and its kind, restyled when the palette changes
        self._next_key = 0
        self._core_ready = False
        self._generation = 0  # bumped by every switch change and clear: results of older ones are dropped
        self._queued = 0  # images sent to the workers in this generation
        self._done = 0  # ... and back
        self._announce: list[int] = []  # keys of the images added since the last "Added ..." message
        self._to_classify: list[Entry] = []  # prepared, waiting for the next batched prediction
        self._preview: tuple[int, QPixmap] | None = None  # the selected photo decoded again, by entry key
        self._preview_asked = 0  # the key whose preview is on its way
        self._relay = Relay(self)
        self._relay.prepared.connect(self._on_prepared)
        self._relay.previewed.connect(self._on_previewed)
        self._queue = PrepareQueue(self._relay)
        self._to_list: list[Entry] = []  # added, waiting for their turn to be listed
        self._select_row: int | None = None
        self._list_timer = QTimer(self)
        self._list_timer.setSingleShot(True)
        self._list_timer.timeout.connect(self._list_some)
        self._flush_timer = QTimer(self)
        self._flush_timer.setSingleShot(True)
        self._flush_timer.setInterval(FLUSH_MS)
        self._flush_timer.timeout.connect(self._classify_arrived)

        self.open_button = QPushButton("&Open...")
        self.open_button.setToolTip("Choose image files to classify (or drop files and folders on this tab)")
        self.random_button = QPushButton("Ra&ndom test image")
        self.random_button.setToolTip("Available once the core libraries have loaded")
        self.random_button.setEnabled(False)
        self.clear_button = QPushButton("C&lear")
        self.batch_button = QPushButton("Predict folder to CS&V...")
        self.batch_button.setToolTip(
            "Classify every image in a folder with the current preprocessing and save the probabilities as CSV"
        )
        self.image_list = QListWidget()
        self.image_list.setIconSize(QSize(ICON_SIZE, ICON_SIZE))
        self.image_list.setWordWrap(True)
        self.image_list.setSpacing(2)
        self.remove_action = QAction("&Remove from the list", self.image_list)
        self.remove_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Delete))
        self.remove_action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        self.image_list.addAction(self.remove_action)
        self.image_list.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)  # right-click: Remove

        self.model_label = QLabel("Model: none yet")
        self.model_label.setWordWrap(True)
        self.model_hint = self._banner(NO_MODEL_HINT, HINT_STYLE)
        self.notice = self._banner("", ERROR_STYLE)
        self.notice.hide()
        self.invert_box = QComboBox()
        self.invert_box.addItems(INVERT_MODES)
        self.invert_box.setToolTip("Fashion-MNIST garments are bright on black: auto inverts photos on a light ground")
        self.crop_box = QCheckBox("Crop to garment")
        self.crop_box.setChecked(True)
        self.contrast_box = QCheckBox("Stretch contrast")
        self.separation_box = QComboBox()
        for row, (method, label, tip) in enumerate(SEPARATION_CHOICES):
            self.separation_box.addItem(label, method)
            self.separation_box.setItemData(row, tip, Qt.ItemDataRole.ToolTipRole)
        self.separation_box.setToolTip("How the garment is told from its background before it is framed")
        saved = self.separation_box.findData(QSettings().value(SEPARATION_SETTING, "grabcut"))
        self.separation_box.setCurrentIndex(max(0, saved))
        self.progress_label = QLabel()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop preparing the images still waiting; those done stay listed")
        self.progress_label.hide()
        self.cancel_button.hide()
        self.original_view = PixmapView("Drop images here\nor click Open...")
        self.seen_view = PixmapView("The model's input")
        self.seen_caption = QLabel(SEEN_CAPTION.format(_input_words(INPUT_SHAPE)))
        self.seen_caption.setWordWrap(True)
        self.saliency = SaliencyView(self)
        self.saliency.changed.connect(self._show_current)
        self.saliency.failed.connect(self._show_notice)
        self.result_label = QLabel()
        self.result_label.setWordWrap(True)
        self.result_label.setTextFormat(Qt.TextFormat.PlainText)
        font = QFont(self.result_label.font())
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setBold(True)
        self.result_label.setFont(font)
        self.chart = ProbabilityChart()

        self._lay_out()
        self.open_button.clicked.connect(self._on_open_clicked)
        self.random_button.clicked.connect(self._on_random_clicked)
        self.clear_button.clicked.connect(self._on_clear_clicked)
        self.batch_button.clicked.connect(self._on_batch_clicked)
        self.image_list.currentRowChanged.connect(self._on_image_list_current_row_changed)
        self.invert_box.currentIndexChanged.connect(self._on_options_changed)
        self.crop_box.toggled.connect(self._on_options_changed)
        self.contrast_box.toggled.connect(self._on_options_changed)
        self.separation_box.currentIndexChanged.connect(self._on_separation_changed)
        self.cancel_button.clicked.connect(self._on_cancel_clicked)
        self.remove_action.triggered.connect(self._on_remove_action_triggered)
        self._show_current()

    def _lay_out(self) -> None:
        buttons = QHBoxLayout()
        for button in (self.open_button, self.random_button, self.clear_button):
            buttons.addWidget(button)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addLayout(buttons)
        left_layout.addWidget(self.image_list)
        progress = QHBoxLayout()
        progress.addWidget(self.progress_label, stretch=1)
        progress.addWidget(self.cancel_button)
        left_layout.addLayout(progress)
        left_layout.addWidget(self.batch_button)
        left_layout.addWidget(self.scoring.button)
        scoring = QHBoxLayout()
        scoring.addWidget(self.scoring.progress, stretch=1)
        scoring.addWidget(self.scoring.cancel_button)
        left_layout.addLayout(scoring)

        options = QHBoxLayout()
        options.addWidget(QLabel("Invert:"))
        options.addWidget(self.invert_box)
        options.addWidget(self.crop_box)
        options.addWidget(self.contrast_box)
        options.addWidget(QLabel("Separate the garment:"))
        options.addWidget(self.separation_box)
        options.addStretch()
        images = QGridLayout()
        images.addWidget(QLabel("Image"), 0, 0)
        images.addWidget(self.seen_caption, 0, 1)
        images.addWidget(self.saliency.caption, 0, 2)
        images.addWidget(self.original_view, 1, 0)
        images.addWidget(self.seen_view, 1, 1)
        images.addWidget(self.saliency.view, 1, 2)
        images.addWidget(self.saliency.scale, 2, 2)
        saliency = QHBoxLayout()
        saliency.addWidget(self.saliency.box)
        saliency.addWidget(self.saliency.method)
        saliency.addWidget(QLabel("for"))
        saliency.addWidget(self.saliency.explain_class)
        saliency.addStretch()
        images.addLayout(saliency, 3, 0, 1, 3)
        images.setRowStretch(1, 1)
        for column in range(3):  # equal thirds: the saliency controls must not widen one view
            images.setColumnStretch(column, 1)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.model_label)
        right_layout.addWidget(self.model_hint)
        right_layout.addWidget(self.notice)
        right_layout.addLayout(options)
        right_layout.addLayout(images, stretch=4)
        right_layout.addWidget(self.result_label)
        right_layout.addWidget(self.chart, stretch=5)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([340, 900])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

    def set_model(self, checkpoint: Checkpoint, source: str = "") -> None:
        """Classify with this model from now on, and classify again every listed image.

        ``source`` says where it came from (a file name); empty means the model just trained. A checkpoint whose
        weights do not fit its network leaves the tab without a model and says why.
        """
        from fashion_desktop.core.inference import Predictor

        try:
            self._predictor = Predictor(
                checkpoint.build_model(),
                checkpoint.spec,
                checkpoint.class_names,
                checkpoint.framing,
                checkpoint.calibration,
            )
        except RuntimeError as error:  # load_state_dict's report of missing, unexpected or mis-shaped weights
            self._predictor = None
            detail = textwrap.shorten(str(error), 300)  # the full report lists every mismatched tensor
            self._show_notice(f"This model cannot be used: its weights do not fit its network ({detail})")
        else:
            self.notice.hide()
        self.model_hint.setVisible(self._predictor is None)
        self.model_label.setText(_model_words(checkpoint, source) if self._predictor is not None else "Model: none")
        names = self._predictor.class_names if self._predictor is not None else CLASS_NAMES
        self.saliency.set_class_names(names)
        self.chart.set_class_names(names)
        self._follow_input(
            checkpoint.framing if self._predictor is not None else None,
            checkpoint.spec.input_shape if self._predictor is not None else INPUT_SHAPE,
        )
        self._classify(self._entries)
        self._refresh_all()
        if self._predictor is not None and self._entries:
            self.status_message.emit(f"Classified {count(self._count_classified(), 'image')} with the new model")

    def set_data_root(self, root: Path) -> None:
        """Take random test images from the Fashion-MNIST in ``root`` from now on."""
        if self._data_root != Path(root):
            self._data_root = Path(root)
            self._test_set = None

    def show_image(
        self,
        image: np.ndarray,
        title: str,
        true_class: int | None = None,
        class_names: tuple[str, ...] | None = None,
    ) -> None:
        """Add an image already in the model's input form to the list, select it and classify it as it is.

        The preprocessing switches do not apply: the image is exactly what the model sees, as a test image was
        during evaluation. One of another shape than the model takes is listed, saying so.

        Args:
            image: A uint8 image: (28, 28), bright garment on black, for a Fashion-MNIST model, or (H, W) grey or
                (H, W, 3) colour; copied, so the caller may reuse its array.
            title: The image's name in the list, such as "Test image #17".
            true_class: Its class index, shown as "true: <class>", or None when it is not known.
            class_names: What ``true_class`` indexes; None: the model's classes (Fashion-MNIST's without one).

        Raises:
            ValueError: The image is not (H, W) or (H, W, 3) uint8, or the class is not an index of the classes.
        """
        pixels = np.array(image, copy=True)
        if pixels.dtype != np.uint8 or not (pixels.ndim == 2 or (pixels.ndim == 3 and pixels.shape[2] == 3)):
            raise ValueError(f"expected an (H, W) or (H, W, 3) uint8 image, not {pixels.shape} {pixels.dtype}")
        names = class_names or (self._predictor.class_names if self._predictor is not None else CLASS_NAMES)
        if true_class is not None and not 0 <= true_class < len(names):
            raise ValueError(f"true_class must be a class index from 0 to {len(names) - 1}, not {true_class}")
        truth = names[int(true_class)] if true_class is not None else None
        entry = Entry(title, self._new_key(), icon=list_icon(input_pixmap(pixels)), seen=pixels, true_label=truth)
        entry.fixed_input = True
        self.notice.hide()
        self._add_entries([entry])

    def on_core_ready(self) -> None:
        """Torch and the core have loaded: enable what needs them."""
        self._core_ready = True
        self._queue.warm_up()  # after torch, which the window's first paint waited for; before the first drop
        self._update_random_button()

    def _update_random_button(self) -> None:
        """Fashion-MNIST test images are 28x28 grey: offered while the model takes those (or there is none)."""
        if not self._core_ready:
            return
        fits = self._input_shape == INPUT_SHAPE
        self.random_button.setEnabled(fits)
        self.random_button.setToolTip(
            "Classify a random image from the Fashion-MNIST test set"
            if fits
            else f"Fashion-MNIST test images are 28x28 grey; this model takes {_input_words(self._input_shape)} images"
        )

    # Drag and drop: local files and folders only

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        self._accept_files(event)

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        self._accept_files(event)

    def dropEvent(self, event: QDropEvent) -> None:
        paths = _local_paths(event)
        if not paths:
            event.ignore()
            return
        _accept_as_copy(event)
        self._add_paths(paths)

    def _accept_files(self, event: QDragEnterEvent | QDragMoveEvent) -> None:
        if _local_paths(event):
            _accept_as_copy(event)
        else:
            event.ignore()

    # Slots

    @Slot()
    def _on_open_clicked(self) -> None:
        patterns = " ".join(f"*{suffix}" for suffix in IMAGE_SUFFIXES)
        files, _ = QFileDialog.getOpenFileNames(
            self, "Open images", self._images_folder(), f"Images ({patterns});;All files (*)"
        )
        if files:
            remember_folder("images", files[0])
            self._add_paths([Path(f) for f in files])

    def _images_folder(self) -> str:
        """Where the image dialogs start: the folder last used, else the sample photos."""
        samples = resource_path("samples")
        return remembered_folder("images", samples if samples.is_dir() else "")

    @Slot()
    def _on_remove_action_triggered(self) -> None:
        row = self.image_list.currentRow()
        if not 0 <= row < len(self._entries):
            return
        entry = self._entries.pop(row)
        del self._by_key[entry.key]
        self.image_list.takeItem(row)
        self._show_current()
        self.status_message.emit(f"Removed {entry.name} from the list")

    @Slot()
    def _on_random_clicked(self) -> None:
        try:
            images, labels = self._load_test_set()
        except DataError as error:
            self._show_notice(f"No test set for a random image: {error}. {DATA_FOLDER_HINT}")
            return
        index = random.randrange(len(images))
        self.show_image(images[index], f"Test image #{index}", int(labels[index]), CLASS_NAMES)

    @Slot()
    def _on_clear_clicked(self) -> None:
        self._stop_preparing()
        self._entries.clear()
        self._by_key.clear()
        self._preview = None
        self.image_list.clear()
        self._show_current()

    @Slot(int)
    def _on_image_list_current_row_changed(self, _row: int) -> None:
        self._show_current()

    @Slot()
    def _on_batch_clicked(self) -> None:
        predictor = self._predictor  # kept: a model arriving from training during the run must not mix in
        if predictor is None:
            self.status_message.emit(NO_MODEL_HINT)
            return
        folder = QFileDialog.getExistingDirectory(self, "Predict every image in a folder", self._images_folder())
        if not folder:
            return
        remember_folder("images", folder)
        self.notice.hide()
        # Listed before asking where to write, with the rules dropped folders follow: a folder with nothing to
        # predict is reported at once, and the progress dialog knows how many are coming.
        files = images_in(Path(folder))
        if not files:
            self._show_notice(no_images_message(Path(folder)) + " Nothing was written.")
            return
        csv_path, _ = QFileDialog.getSaveFileName(
            self, "Save the predictions as", str(Path(folder) / BATCH_CSV_NAME), "CSV files (*.csv);;All files (*)"
        )
        if not csv_path:
            return
        rows = self._predict_files(predictor, files)
        if rows is None:
            self.status_message.emit("Predicting the folder was cancelled; nothing was written")
            return
        from fashion_desktop.core.explain import write_predictions_csv

        try:
            write_predictions_csv(rows, csv_path, predictor.class_names)
        except OSError as error:
            self._show_notice(f"Could not write {csv_path}: {error.strerror or error}. Choose another place.")
            return
        failed = sum(isinstance(result, ImageError) for _, result in rows)
        message = f"Wrote {count(len(rows) - failed, 'prediction')} to {csv_path}"
        if failed:
            message += f"; {count(failed, 'file')} could not be read (see the error column)"
        self._show_notice(message, DONE_STYLE)

    @Slot()
    def _on_options_changed(self) -> None:
        """Prepare every listed photo again under the new switches, in the background, keeping its thumbnail."""
        self._stop_preparing(keep_unlisted=True)
        photos = [entry for entry in self._entries if entry.path is not None and not entry.fixed_input]
        for entry in photos:
            entry.pending, entry.seen, entry.prediction, entry.error = True, None, None, None
            entry.heat.clear()
        self._submit(photos, thumbnails=False)
        self._refresh_all()

    @Slot(int)
    def _on_separation_changed(self, _index: int) -> None:
        QSettings().setValue(SEPARATION_SETTING, self.separation_box.currentData())
        self._on_options_changed()

    @Slot()
    def _on_cancel_clicked(self) -> None:
        self._stop_preparing()
        for entry in self._entries:
            if entry.pending:
                entry.pending, entry.error = False, CANCELLED
        self._refresh_all()
        self.status_message.emit("Stopped preparing the images; those already prepared stay listed")

    @Slot(object)
    def _on_prepared(self, result: Prepared) -> None:
        """A worker's result: fill its entry (if the entry is still listed and the result is current)."""
        if result.generation != self._generation:
            return  # of a switch setting since changed, or of a list since cleared
        self._done += 1
        row, entry = self._find(result.key)
        if entry is not None and entry.pending:
            entry.pending, entry.seen, entry.error = False, result.seen, result.error
            if result.thumbnail is not None:
                entry.icon = list_icon(rgba_pixmap(result.thumbnail))
            if entry.seen is not None:
                self._to_classify.append(entry)
                if not self._flush_timer.isActive():
                    self._flush_timer.start()
            self._refresh_item(self.image_list.item(row), entry)
            if row == self.image_list.currentRow():
                self._show_current()
        self._update_progress()
        if not self.is_preparing():
            self._report_added()

    @Slot(object)
    def _on_previewed(self, preview: Preview) -> None:
        row, entry = self._find(preview.key)
        if entry is None or preview.pixels is None:
            return
        self._preview = (preview.key, rgba_pixmap(preview.pixels))
        if row == self.image_list.currentRow():
            self.original_view.set_source(self._preview[1])

    @Slot()
    def _classify_arrived(self) -> None:
        """Classify, in one batch, the images prepared since the last batch (on this thread: a few ms)."""
        ready = [entry for entry in self._to_classify if entry.seen is not None and not entry.pending]
        self._to_classify.clear()
        ready = [entry for entry in ready if self._by_key.get(entry.key) is entry]
        self._classify(ready)
        current = self.image_list.currentRow()
        for entry in ready:
            row, _ = self._find(entry.key)
            self._refresh_item(self.image_list.item(row), entry)
            if row == current:
                self._show_current()
        if not self.is_preparing():
            self._report_added()

    # Work

    def _options(self) -> PreprocessOptions:
        return PreprocessOptions(
            invert=self.invert_box.currentText(),
            crop=self.crop_box.isChecked(),
            contrast=self.contrast_box.isChecked(),
            separation=self.separation_box.currentData(),
        )

    def is_preparing(self) -> bool:
        """Whether images are still being prepared or waiting for their batched prediction."""
        return self._done < self._queued or bool(self._to_list or self._to_classify) or self._flush_timer.isActive()

    def shutdown(self) -> None:
        """Stop the background work and wait for it: called when the tab or the application closes."""
        self._stop_preparing()
        self._queue.shutdown()
        self.scoring.shutdown()

    @Slot(str, str)
    def _on_scoring_notice(self, message: str, style: str) -> None:
        if message:
            self._show_notice(message, style)
        else:
            self.notice.hide()

    def _follow_input(self, framing: FramingSettings | None, shape: tuple[int, int, int]) -> None:
        """Prepare the listed photos again when the model takes another input than the last one."""
        if (framing, shape) == (self._framing, self._input_shape):
            return
        self._framing, self._input_shape = framing, shape
        self.seen_caption.setText(SEEN_CAPTION.format(_input_words(shape)))
        self._update_random_button()
        self._on_options_changed()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.shutdown()
        super().closeEvent(event)

    def _new_key(self) -> int:
        self._next_key += 1
        return self._next_key

    def _find(self, key: int) -> tuple[int, Entry | None]:
        """The row and entry of ``key``, or (-1, None) once it has been removed."""
        entry = self._by_key.get(key)
        return (self._entries.index(entry), entry) if entry is not None else (-1, None)

    def _submit(self, entries: list[Entry], thumbnails: bool) -> None:
        if not entries:
            return
        items = [(entry.key, entry.path) for entry in entries if entry.path is not None]
        self._queued += len(items)
        self._queue.submit(self._generation, items, self._options(), thumbnails, self._framing)
        self._update_progress()

    def _stop_preparing(self, keep_unlisted: bool = False) -> None:
        """Drop the queued work and every result still to come; a new generation starts.

        Images added but not listed yet are dropped too, as if never added, unless ``keep_unlisted`` (a switch
        changed: they are still to be listed, and prepared under the new switches).
        """
        self._queue.cancel()
        self._generation += 1
        self._queued = self._done = 0
        if keep_unlisted:
            self._queued = sum(entry.pending for entry in self._to_list)
        else:
            self._list_timer.stop()
            self._to_list.clear()
        self._to_classify.clear()
        self._flush_timer.stop()
        self._update_progress()

    def _update_progress(self) -> None:
        busy = self._done < self._queued
        self.progress_label.setVisible(busy)
        self.cancel_button.setVisible(busy)
        if busy:
            self.progress_label.setText(f"Preparing {self._done + 1} of {self._queued}...")
        elif self._queued:
            self._queued = self._done = 0  # all back: the next drop counts from one again

    def _add_paths(self, paths: list[Path]) -> None:
        self.notice.hide()
        models = [path for path in paths if path.suffix.lower() in MODEL_SUFFIXES and path.is_file()]
        if models:
            self.model_file_dropped.emit(models[0])  # the main window opens it, as File > Open model does
        files: list[tuple[Path, str]] = []
        for path in paths:
            if path in models:
                continue
            labelled = self.scoring.labelled(path) if path.is_dir() else None
            if labelled is not None:
                self.scoring.start(path, labelled)
            elif path.is_dir():
                found = images_in(path)
                if not found:
                    self._show_notice(no_images_message(path))
                files.extend((image, shown_name(path, image)) for image in found)
            else:
                files.append((path, path.name))
        self._add_entries([Entry(name, self._new_key(), path=path, pending=True) for path, name in files])

    def _add_entries(self, entries: list[Entry]) -> None:
        """List the entries, photos saying "Preparing..." until the workers send their input back.

        They are listed ``LIST_CHUNK`` at a time, one chunk per turn of the event loop: a list item costs up to
        half a millisecond, so 341 at once held the loop for 250 ms.
        """
        if not entries:
            return
        if not self._to_list:
            self._select_row = len(self._entries)  # the first of the new ones is selected as soon as it is listed
        self._to_list.extend(entries)
        self._queued += sum(entry.pending for entry in entries)
        self._list_some()

    @Slot()
    def _list_some(self) -> None:
        chunk, self._to_list = self._to_list[:LIST_CHUNK], self._to_list[LIST_CHUNK:]
        self._classify([entry for entry in chunk if not entry.pending])
        for entry in chunk:
            self._entries.append(entry)
            self._by_key[entry.key] = entry
            item = QListWidgetItem()
            self._refresh_item(item, entry)  # before adding: a listed item's every change relays the list out
            self.image_list.addItem(item)
        self._announce.extend(entry.key for entry in chunk)
        photos = [(entry.key, entry.path) for entry in chunk if entry.pending and entry.path is not None]
        self._queue.submit(self._generation, photos, self._options(), True, self._framing)
        if self._select_row is not None and self._select_row < len(self._entries):
            self.image_list.setCurrentRow(self._select_row)
            self._select_row = None
        self._update_progress()
        if self._to_list:
            self._list_timer.start()
        elif not self.is_preparing():
            self._report_added()

    def _report_added(self) -> None:
        """Say what became of the images added since the last report, once all of them are prepared."""
        listed = {entry.key: entry for entry in self._entries}
        entries = [listed[key] for key in self._announce if key in listed]
        self._announce.clear()
        if not entries:
            return
        failed = sum(entry.error is not None for entry in entries)
        message = added_message(len(entries), failed)
        if self._predictor is None and failed < len(entries):
            message += " There is no model yet to classify them."
        self.status_message.emit(message)

    def _classify(self, entries: list[Entry]) -> None:
        for entry in entries:
            entry.prediction = entry.unfit = None
            entry.heat.clear()  # the maps explain a prediction, so they go with it
        if self._predictor is None:
            return
        channels, height, width = self._input_shape
        wanted = (height, width) if channels == 1 else (height, width, channels)
        ready = []
        for entry in entries:
            if entry.seen is not None and entry.seen.shape == wanted:
                ready.append(entry)
            elif entry.seen is not None:  # a test image of another model
                entry.unfit = (
                    f"the model takes {_input_words(self._input_shape)} images, not {_array_words(entry.seen)}"
                )
        if not ready:
            return
        predictions = self._predictor.predict_array(np.stack([entry.seen for entry in ready]))  # one batch: faster
        for entry, prediction in zip(ready, predictions, strict=True):
            entry.prediction = prediction

    def _predict_files(
        self, predictor: Predictor, files: list[Path]
    ) -> list[tuple[Path, Prediction | ImageError]] | None:
        """Predict the files one by one under a progress dialog; None when the user cancelled."""
        from fashion_desktop.core.explain import predict_folder

        progress = QProgressDialog(f"Classifying {count(len(files), 'image')}...", "Cancel", 0, len(files), self)
        progress.setWindowTitle("Predict folder to CSV")
        progress.setWindowModality(Qt.WindowModality.WindowModal)  # the window repaints but takes no clicks
        progress.setMinimumDuration(500)  # a few images finish before a dialog would flash up
        rows: list[tuple[Path, Prediction | ImageError]] = []
        try:
            for done, row in enumerate(predict_folder(predictor, files, self._options()), start=1):
                rows.append(row)
                progress.setValue(done)  # once the dialog shows, this processes events: the window stays alive
                if progress.wasCanceled():
                    return None
        finally:
            progress.close()
            progress.deleteLater()
        return rows

    def _load_test_set(self) -> tuple[np.ndarray, np.ndarray]:
        if self._test_set is None:
            from fashion_desktop.core.data import load_arrays
            from fashion_desktop.core.paths import resolve_data_dir

            QGuiApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
            try:
                raw = load_arrays(self._data_root or resolve_data_dir(None))
            finally:
                QGuiApplication.restoreOverrideCursor()
            if not len(raw.test_images):
                raise DataError("the test set holds no images")
            self._test_set = (raw.test_images, raw.test_labels)
        return self._test_set

    def _count_classified(self) -> int:
        return sum(entry.prediction is not None for entry in self._entries)

    # Display

    def _refresh_all(self) -> None:
        for row, entry in enumerate(self._entries):
            self._refresh_item(self.image_list.item(row), entry)
        self._show_current()

    def _refresh_item(self, item: QListWidgetItem, entry: Entry) -> None:
        if entry.error is not None:
            item.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning))
            item.setText(f"{entry.name}\n{entry.error}")
            item.setToolTip(entry.error)
            return
        if entry.icon is not None:  # none yet while a photo is first prepared (setting an empty one costs 0.6 ms)
            item.setIcon(entry.icon)
        said = summary(entry)
        item.setText(f"{entry.name}\n{said}")
        item.setToolTip(f"{entry.name}: {said}")

    def _show_current(self) -> None:
        row = self.image_list.currentRow()
        entry = self._entries[row] if 0 <= row < len(self._entries) else None
        unreadable = CANNOT_READ if entry is not None and entry.error is not None else None
        self.original_view.set_source(self._original(entry), unreadable)
        self.seen_view.set_source(
            input_pixmap(entry.seen) if entry is not None and entry.seen is not None else None, unreadable
        )
        self.saliency.show_entry(entry, self._predictor)
        if entry is None:
            self.result_label.setText("Drop image files or folders anywhere on this tab, or click Open...")
        elif entry.error is not None:
            self.result_label.setText(entry.error)
        else:
            self.result_label.setText(summary(entry))
        if entry is not None and entry.prediction is not None:
            self.chart.show_prediction(entry.prediction)
        else:
            self.chart.clear_bars()

    def _original(self, entry: Entry | None) -> QPixmap | None:
        """The selected image for the big view: the photo decoded again in the background, its thumbnail till then."""
        if entry is None or entry.error is not None:
            return None
        if entry.path is None:
            return input_pixmap(entry.seen) if entry.seen is not None else None
        if self._preview is not None and self._preview[0] == entry.key:
            return self._preview[1]
        if self._preview_asked != entry.key:
            self._preview_asked = entry.key
            self._queue.preview(entry.key, entry.path)  # only the selected photo's pixels are ever held at this size
        return entry.icon

    def _show_notice(self, message: str, style: str = ERROR_STYLE) -> None:
        self._banners[self.notice] = style
        self._style_banner(self.notice)
        self.notice.setText(message)
        self.notice.show()
        self.status_message.emit(message)

    def _banner(self, text: str, style: str) -> QLabel:
        label = QLabel(text)
        label.setWordWrap(True)
        self._banners[label] = style
        self._style_banner(label)
        return label

    def _style_banner(self, label: QLabel) -> None:
        style_banner(label, self._banners[label], QWidget.palette(self))

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "_banners"):
            for label in self._banners:
                self._style_banner(label)


def _input_words(shape: tuple[int, int, int]) -> str:
    """A model input in words: "28x28" (grey), "64x64 colour"."""
    channels, height, width = shape
    return f"{width}x{height}" + (" colour" if channels == 3 else "")


def _array_words(pixels: np.ndarray) -> str:
    """An image array's size in the same words, "28x28 grey" or "64x64 colour"."""
    height, width = pixels.shape[:2]
    return f"{width}x{height} " + ("grey" if pixels.ndim == 2 else "colour")


def _model_words(checkpoint: Checkpoint, source: str) -> str:
    epochs = f"{checkpoint.epoch} epoch" + ("" if checkpoint.epoch == 1 else "s")
    accuracy = f", test accuracy {checkpoint.test.accuracy:.1%}" if checkpoint.test else ""
    where = source or "the model trained on the Training tab"
    return f"Model: {where} ({epochs}{accuracy})"


def _accept_as_copy(event: QDragEnterEvent | QDragMoveEvent | QDropEvent) -> None:
    """Accept as a copy whatever the source proposed: a file manager deletes the originals of an accepted move."""
    event.setDropAction(Qt.DropAction.CopyAction)
    event.accept()


def _local_paths(event: QDragEnterEvent | QDragMoveEvent | QDropEvent) -> list[Path]:
    mime = event.mimeData()
    if not mime.hasUrls():
        return []
    return [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()]
