"""The Training tab's "Start from" row: the model file whose fitting weights a new run starts from (fine-tuning)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QMessageBox, QPushButton, QWidget

from fashion_desktop.core.errors import UserError
from fashion_desktop.gui.forms import capitalized, remember_folder, remembered_folder

if TYPE_CHECKING:  # torch-dependent, loaded where used
    from fashion_desktop.core.checkpoint import Checkpoint

FRESH_WEIGHTS = "fresh weights"
MODEL_FILTER = "Fashion Desktop models (*.safetensors);;All files (*)"


class StartFromModel(QWidget):
    """The chosen model's file name (or "fresh weights"), Choose... (once the core has loaded) and Clear.

    Signals:
        changed: a model was chosen or cleared.
    """

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._init_from: Checkpoint | None = None
        self._init_name = ""
        self.label = QLabel(FRESH_WEIGHTS, wordWrap=True)
        self.choose_button = QPushButton("Choose...", enabled=False)
        self.choose_button.setToolTip("start from the weights of a model file whose layers fit (fine-tuning)")
        self.clear_button = QPushButton("Clear", enabled=False)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.choose_button)
        layout.addWidget(self.clear_button)
        self.choose_button.clicked.connect(self._on_choose_button_clicked)
        self.clear_button.clicked.connect(self._on_clear_button_clicked)

    def init_from(self) -> tuple[Checkpoint | None, str]:
        """The model whose fitting weights a new run starts from, and its file name; (None, "") for fresh weights."""
        return self._init_from, self._init_name

    def on_core_ready(self) -> None:
        self.choose_button.setEnabled(True)

    @Slot()
    def _on_choose_button_clicked(self) -> None:
        from fashion_desktop.core.checkpoint import Checkpoint

        name, _ = QFileDialog.getOpenFileName(
            self, "Start from the weights of a model", remembered_folder("models"), MODEL_FILTER
        )
        if not name:
            return
        try:
            checkpoint = Checkpoint.load(name)
        except UserError as error:
            QMessageBox.critical(self, "Cannot start from this model", capitalized(str(error)))
            return
        remember_folder("models", name)
        self._init_from, self._init_name = checkpoint, Path(name).name
        self.label.setText(self._init_name)
        self.label.setToolTip(f"{name}: its layers whose shapes fit are copied; the others start fresh")
        self.clear_button.setEnabled(True)
        self.changed.emit()

    @Slot()
    def _on_clear_button_clicked(self) -> None:
        self._init_from, self._init_name = None, ""
        self.label.setText(FRESH_WEIGHTS)
        self.label.setToolTip("")
        self.clear_button.setEnabled(False)
        self.changed.emit()
