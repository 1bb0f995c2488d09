"""The Training tab's data section: the dataset, an image folder's framing, and the model a run starts from.

Fashion-MNIST, MNIST and KMNIST come from the data folder (the settings panel's Folder row). An image folder (one
subfolder per class, or train/validation/test holding them) is read on a worker thread (``folder_scan``), its steps
shown as they are reported. A folder the core refuses shows the core's message, and the tab's problem rule keeps
Start disabled with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QRect, QSettings, QSignalBlocker, Qt, QThread, QTimer, Signal, Slot
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from fashion_desktop.core.folders import FramingSettings
from fashion_desktop.core.spec import INPUT_SHAPE, NUM_CLASSES
from fashion_desktop.gui.forms import capitalized, error_text_colour, remember_folder, remembered_folder
from fashion_desktop.gui.training.class_table import ClassTable, sample_strip
from fashion_desktop.gui.training.folder_scan import FolderImport, FolderListing, FolderScanWorker
from fashion_desktop.gui.training.start_from import StartFromModel
from fashion_desktop.gui.training_worker import start_in_thread

if TYPE_CHECKING:  # torch-dependent, loaded where used
    from fashion_desktop.core.checkpoint import Checkpoint

FOLDER = "folder"  # TrainingRequest.dataset for an image folder
# key: (name, its folder under the data folder: torchvision's, as core.data.DATASETS has it, what it holds)
IDX_DATASETS = {
    "fashion-mnist": ("Fashion-MNIST", "FashionMNIST", "clothing"),
    "mnist": ("MNIST", "MNIST", "handwritten digits"),
    "kmnist": ("KMNIST", "KMNIST", "Japanese characters"),
}
INPUT_SIZES = (28, 32, 48, 64, 96, 128)
# (framing, separation, label): FramingSettings' choices as a person picks them
FRAMING_CHOICES = (
    ("garment", "grabcut", "Garment, cut out of the background"),
    ("garment", "border", "Garment, faster cut-out (plain backgrounds)"),
    ("whole", "none", "Whole photo, padded to a square"),
    ("squash", "none", "Whole photo, squashed to a square (no framing)"),
)
SKIPPED_HEIGHT = 110  # pixels, at most, for the list of skipped files; it scrolls beyond
SCAN_DELAY_MS = 250  # a burst of changes (typing a size, toggling colour) reads the folder once

SETTINGS_DATASET = "data/dataset"
SETTINGS_IMAGES = "data/images"
SETTINGS_SIZE = "data/input_size"
SETTINGS_COLOR = "data/color"
SETTINGS_FRAMING = "data/framing"  # "garment/grabcut": the framing and separation of FRAMING_CHOICES


@dataclass
class _FolderState:
    """What the data section knows of the image folder shown; replaced for every new scan."""

    listing: FolderListing | None = None
    strips: dict[int, QPixmap] = field(default_factory=dict)  # class index -> its framed samples, side by side
    imported: FolderImport | None = None
    error: str = ""
    progress: tuple[int, int] | None = None


class DataSection(QWidget):
    """The dataset picker and the image folder's choices, classes, preview and skipped files.

    Signals:
        changed: anything that the tab's problems or the run's request depend on.
        shape_changed: (input_shape, classes) whenever the data's input shape or class count changes; classes is
            None while an image folder's classes are not known.
    """

    changed = Signal()
    shape_changed = Signal(object, object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._thread: QThread | None = None
        self._worker: FolderScanWorker | None = None
        self._rescan = False  # a scan was asked for while one ran: start it once that one has ended
        self._state = _FolderState()
        self._scanned: tuple[Path, FramingSettings] | None = None  # what _state describes
        self._shape: tuple[object, object] | None = None  # the last (input_shape, classes) emitted
        self._scan_timer = QTimer(self, singleShot=True, interval=SCAN_DELAY_MS)
        self._scan_timer.timeout.connect(self.scan)
        self._build_ui()
        self.restore_settings()

    # -- building --
    def _build_ui(self) -> None:
        self.dataset_combo = QComboBox()
        for key, (title, _, what) in IDX_DATASETS.items():
            self.dataset_combo.addItem(f"{title} ({what})", key)
        self.dataset_combo.addItem("Image folder (your own photos)", FOLDER)
        self.dataset_combo.setToolTip("what the network learns from")
        self.images_edit = QLineEdit(placeholderText="one subfolder of photos per class")
        self.images_edit.setToolTip(
            "one subfolder per class (shirt/, shoes/...), or train/, validation/ and test/ folders that hold them"
        )
        self.images_button = QPushButton("Browse...")
        self.size_combo = QComboBox()
        for size in INPUT_SIZES:
            self.size_combo.addItem(f"{size} x {size}", size)
        self.size_combo.setToolTip("the side of the square image the network takes; 28 x 28 is Fashion-MNIST's")
        self.color_check = QCheckBox("Colour")
        self.color_check.setToolTip("three colour channels instead of one grey channel")
        self.framing_combo = QComboBox()
        for framing, separation, label in FRAMING_CHOICES:
            self.framing_combo.addItem(label, f"{framing}/{separation}")
        self.framing_combo.setToolTip("how each photo becomes the network's input")
        self.status_label = QLabel(wordWrap=True)
        self.message_label = QLabel(wordWrap=True)
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.class_table = ClassTable()
        self.skipped_button = QToolButton(checkable=True)
        self.skipped_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.skipped_button.setArrowType(Qt.ArrowType.RightArrow)
        self.skipped_button.setAutoRaise(True)
        self.skipped_list = QListWidget(visible=False)
        self.skipped_list.setWordWrap(True)  # a long name and its reason wrap instead of scrolling sideways
        self.skipped_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        for combo in (self.dataset_combo, self.framing_combo):  # long choices must not widen the settings column
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(16)

        self.folder_panel = QWidget()
        form = QFormLayout(self.folder_panel)
        form.setContentsMargins(0, 0, 0, 0)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.images_edit, 1)
        folder_row.addWidget(self.images_button)
        form.addRow("Photos", folder_row)
        shape_row = QHBoxLayout()
        shape_row.addWidget(self.size_combo)
        shape_row.addWidget(self.color_check)
        shape_row.addStretch(1)
        form.addRow("Input size", shape_row)
        form.addRow("Framing", self.framing_combo)
        column = QVBoxLayout()
        column.addWidget(self.status_label)
        column.addWidget(self.message_label)
        column.addWidget(self.class_table)
        column.addWidget(self.skipped_button)
        column.addWidget(self.skipped_list)
        form.addRow(column)

        layout = QFormLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addRow("Dataset", self.dataset_combo)
        layout.addRow(self.folder_panel)

        # "Start from a model": a row of its own, which the settings panel places at the end of its Data group
        self.init_row = StartFromModel()

        self.dataset_combo.currentIndexChanged.connect(self._on_choice_changed)
        self.size_combo.currentIndexChanged.connect(self._on_choice_changed)
        self.color_check.toggled.connect(self._on_choice_changed)
        self.framing_combo.currentIndexChanged.connect(self._on_choice_changed)
        self.images_edit.editingFinished.connect(self._on_choice_changed)
        self.images_button.clicked.connect(self._on_images_button_clicked)
        self.skipped_button.toggled.connect(self._on_skipped_button_toggled)
        self.init_row.changed.connect(self.changed)
        self.message_label.setStyleSheet(f"color: {error_text_colour().name()};")

    # -- what the run trains on --
    def dataset(self) -> str:
        """fashion-mnist, mnist, kmnist or "folder"."""
        return str(self.dataset_combo.currentData())

    def is_folder(self) -> bool:
        return self.dataset() == FOLDER

    def title(self) -> str:
        """The dataset's name in messages: "Fashion-MNIST", or "the image folder"."""
        return IDX_DATASETS[self.dataset()][0] if not self.is_folder() else "the image folder"

    def idx_folder(self) -> str:
        """The IDX dataset's folder under the data folder ("FashionMNIST"); "" for an image folder."""
        return IDX_DATASETS[self.dataset()][1] if not self.is_folder() else ""

    def images(self) -> Path | None:
        """The image folder, for an image-folder run; None otherwise."""
        text = self.images_edit.text().strip()
        return Path(text).expanduser() if self.is_folder() and text else None

    def framing(self) -> FramingSettings | None:
        """How the folder's photos are framed, for an image-folder run; None otherwise."""
        if not self.is_folder():
            return None
        framing, separation = str(self.framing_combo.currentData()).split("/")
        return FramingSettings(
            size=int(self.size_combo.currentData()),
            color=self.color_check.isChecked(),
            framing=framing,
            separation=separation,
        )

    def input_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of the images the network will take."""
        settings = self.framing()
        return INPUT_SHAPE if settings is None else (settings.channels, settings.size, settings.size)

    def classes(self) -> int | None:
        """The data's class count; None while an image folder's classes are not known."""
        if not self.is_folder():
            return NUM_CLASSES
        listing = self._state.listing if self._describes_shown() else None
        return len(listing.class_names) if listing is not None and not self._state.error else None

    def folder_class_names(self) -> tuple[str, ...] | None:
        """The image folder's class names in label order; None for a torchvision dataset or while not known."""
        if not self.is_folder():
            return None
        listing = self._state.listing if self._describes_shown() else None
        return listing.class_names if listing is not None and not self._state.error else None

    def init_from(self) -> tuple[Checkpoint | None, str]:
        """The model whose fitting weights a new run starts from, and its file name; (None, "") for fresh weights."""
        return self.init_row.init_from()

    def problems(self) -> list[str]:
        """What keeps a run on this data from starting, in words (none for the IDX datasets: see the folder row)."""
        if not self.is_folder():
            return []
        if self.images() is None:
            return ["choose an image folder: one subfolder of photos per class"]
        if self._state.error:
            return [self._state.error]
        if self._state.listing is None or not self._describes_shown():
            return ["the image folder is still being read"]
        return []

    # -- reading the folder --
    def on_core_ready(self) -> None:
        self.init_row.on_core_ready()

    @Slot()
    def scan(self) -> None:
        """Read the folder shown with the framing shown, on a worker thread (after the one running, if any)."""
        self._scan_timer.stop()
        if not self.is_folder() or self.images() is None:
            return
        if self._thread is not None:
            self._rescan = True
            self.cancel_scan()
            return
        root, settings = self.images(), self.framing()
        assert root is not None and settings is not None
        self._scanned, self._state = (root, settings), _FolderState()
        self._show_state()
        self._emit_shape()  # the class count is not known until the folder is listed
        worker = FolderScanWorker(root, settings)
        worker.listed.connect(self._on_listed)
        worker.sampled.connect(self._on_sampled)
        worker.progress.connect(self._on_progress)
        worker.imported.connect(self._on_imported)
        worker.failed.connect(self._on_failed)
        self._worker = worker
        self._thread = start_in_thread(worker, self._on_thread_finished)
        self.changed.emit()

    def is_scanning(self) -> bool:
        """True while the folder is being read, or about to be (a change waits SCAN_DELAY_MS for the next)."""
        return self._thread is not None or self._scan_timer.isActive()

    def cancel_scan(self) -> None:
        """Stop the running scan soon (what it framed stays in the cache); returns at once."""
        if self._worker is not None:
            self._worker.cancel.set()

    def shutdown(self) -> None:
        """Stop the scan and wait for its thread: before the window closes (a running QThread must not die)."""
        self._scan_timer.stop()
        self._rescan = False
        thread = self._thread
        if thread is not None:
            self.cancel_scan()
            thread.wait()
            self._thread = self._worker = None

    def rescan_if_incomplete(self) -> None:
        """Read the folder again when its import was cut short (by Start): from the cache, it is quick."""
        if self.is_folder() and self._state.imported is None and not self._state.error:
            self._scan_timer.start()

    def _describes_shown(self) -> bool:
        """Whether the scan state is of the folder and framing the controls show now."""
        root = self.images()
        return root is not None and self._scanned == (root, self.framing())

    @Slot()
    def _on_thread_finished(self) -> None:
        if self._thread is None:  # shutdown() has waited for it already
            return
        self._thread.wait()
        self._thread = self._worker = None
        self._state.progress = None  # a cancelled import's count would go stale
        if self._rescan or not self._describes_shown():
            self._rescan = False
            self.scan()
        else:
            self._show_state()

    @Slot(object)
    def _on_listed(self, listing: FolderListing) -> None:
        self._state.listing = listing
        self._show_state()
        self._emit_shape()
        self.changed.emit()

    @Slot(int, object)
    def _on_sampled(self, index: int, samples: list[np.ndarray]) -> None:
        if samples:
            self._state.strips[index] = sample_strip(samples)
            self._show_state()

    @Slot(int, int)
    def _on_progress(self, done: int, total: int) -> None:
        self._state.progress = (done, total)
        self.status_label.setText(self._status_text())  # only the count changes

    @Slot(object)
    def _on_imported(self, imported: FolderImport) -> None:
        self._state.imported, self._state.progress = imported, None
        self._show_state()

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self._state.error = message
        self._show_state()
        self._emit_shape()
        self.changed.emit()

    # -- showing what is known --
    def _show_state(self) -> None:
        state, folder = self._state, self.is_folder()
        self.folder_panel.setVisible(folder)
        listing = state.listing
        self.message_label.setText(capitalized(state.error))
        self.message_label.setVisible(bool(state.error))
        self.class_table.setVisible(listing is not None and not state.error)
        self.status_label.setText(self._status_text())
        self.status_label.setVisible(bool(self.status_label.text()))
        skipped = state.imported.skipped if state.imported is not None and not state.error else ()
        self.skipped_button.setVisible(bool(skipped))
        self.skipped_button.setText(f"{len(skipped)} file{'' if len(skipped) == 1 else 's'} skipped")
        self.skipped_list.clear()
        self.skipped_list.addItems([f"{name}: {reason}" for name, reason in skipped])
        self.skipped_list.setVisible(bool(skipped) and self.skipped_button.isChecked())
        self._fit_skipped_list()
        self.class_table.show_classes(listing, state.imported, state.strips)

    def _fit_skipped_list(self) -> None:
        """As tall as its rows, up to SKIPPED_HEIGHT: one skipped file must not leave a tall empty box."""
        listing = self.skipped_list
        # The rows wrap at the list's width, which is the class table's (the list may not be laid out yet)
        width = max(100, self.class_table.width() - 2 * listing.frameWidth() - 8)
        metrics, wrap = listing.fontMetrics(), Qt.TextFlag.TextWordWrap
        rows = sum(
            metrics.boundingRect(QRect(0, 0, width, 10_000), wrap, listing.item(row).text()).height() + 2
            for row in range(listing.count())
        )
        listing.setFixedHeight(min(SKIPPED_HEIGHT, rows + 2 * listing.frameWidth() + 4))

    def _status_text(self) -> str:
        state = self._state
        if state.error or self.images() is None:
            return ""
        if state.listing is None:
            return "Reading the folder..."
        listing = state.listing
        found = f"{len(listing.class_names)} classes, {sum(listing.counts):,} images"
        if len(listing.split_folders) > 1:
            found += f" in {', '.join(f'{name}/' for name in listing.split_folders)}"
        if state.imported is not None:
            cached = " (from the cache)" if state.imported.cached == state.imported.total else ""
            return f"{found}: ready to train{cached}."
        if state.progress is not None:
            done, total = state.progress
            return f"{found}. Preparing photos {done:,}/{total:,}..."
        return f"{found}. Preparing the photos..." if self.is_scanning() else f"{found}."

    def _emit_shape(self) -> None:
        shape = (self.input_shape(), self.classes())
        if shape != self._shape:
            self._shape = shape
            self.shape_changed.emit(*shape)

    # -- settings --
    def restore_settings(self) -> None:
        settings = QSettings()
        blockers = [QSignalBlocker(w) for w in (self.dataset_combo, self.size_combo, self.color_check)]
        blockers.append(QSignalBlocker(self.framing_combo))
        self.dataset_combo.setCurrentIndex(max(0, self.dataset_combo.findData(settings.value(SETTINGS_DATASET))))
        self.images_edit.setText(str(settings.value(SETTINGS_IMAGES, "") or ""))
        size = self.size_combo.findData(int(settings.value(SETTINGS_SIZE, 28) or 28))
        self.size_combo.setCurrentIndex(max(0, size))
        self.color_check.setChecked(settings.value(SETTINGS_COLOR, False, type=bool))
        self.framing_combo.setCurrentIndex(max(0, self.framing_combo.findData(settings.value(SETTINGS_FRAMING))))
        del blockers
        self._on_choice_changed()

    def save_settings(self) -> None:
        settings = QSettings()
        settings.setValue(SETTINGS_DATASET, self.dataset())
        settings.setValue(SETTINGS_IMAGES, self.images_edit.text().strip())
        settings.setValue(SETTINGS_SIZE, int(self.size_combo.currentData()))
        settings.setValue(SETTINGS_COLOR, self.color_check.isChecked())
        settings.setValue(SETTINGS_FRAMING, self.framing_combo.currentData())

    def follow_model(self, checkpoint: Checkpoint) -> None:
        """Show the data a model file was trained on (its dataset, and a folder model's size, colour and framing)."""
        data = dict(checkpoint.data or {})
        dataset = str(data.get("dataset", "fashion-mnist"))
        if self.dataset_combo.findData(dataset) < 0:
            return
        with QSignalBlocker(self.dataset_combo), QSignalBlocker(self.size_combo), QSignalBlocker(self.color_check):
            self.dataset_combo.setCurrentIndex(self.dataset_combo.findData(dataset))
            if dataset == FOLDER:
                channels, size, _ = checkpoint.spec.input_shape
                if self.size_combo.findData(size) < 0:
                    self.size_combo.addItem(f"{size} x {size}", size)
                self.size_combo.setCurrentIndex(self.size_combo.findData(size))
                self.color_check.setChecked(channels == 3)
                key = f"{data.get('framing', 'garment')}/{data.get('separation', 'grabcut')}"
                if self.framing_combo.findData(key) >= 0:
                    with QSignalBlocker(self.framing_combo):
                        self.framing_combo.setCurrentIndex(self.framing_combo.findData(key))
        self._on_choice_changed()

    # -- reactions --
    @Slot()
    def _on_choice_changed(self) -> None:
        self._show_state()
        self._emit_shape()
        if self.is_folder() and self.images() is not None and not self._describes_shown():
            self._scan_timer.start()
        self.changed.emit()

    @Slot()
    def _on_images_button_clicked(self) -> None:
        start = self.images_edit.text() or remembered_folder("images")
        folder = QFileDialog.getExistingDirectory(self, "Choose the folder of photos (one subfolder per class)", start)
        if folder:
            remember_folder("images", folder)
            self.images_edit.setText(folder)
            self._on_choice_changed()

    @Slot(bool)
    def _on_skipped_button_toggled(self, shown: bool) -> None:
        self.skipped_button.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)
        self.skipped_list.setVisible(shown)
        self._fit_skipped_list()  # the rows have their width, so their wrapped height, once shown
