"""The layer list: the network's layers in order, reordered by dragging or with its buttons."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QSize, Qt, Signal, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from fashion_desktop.core.layers import LAYER_TYPES
from fashion_desktop.core.params import Options, resolve
from fashion_desktop.core.spec import LayerSpec, ModelSpec
from fashion_desktop.gui.builder.buttons import push_button


class LayerList(QGroupBox):
    """One row per layer (``view``), with Up, Down, Duplicate and Remove for the selected one.

    It changes no network itself: it asks for each edit, and the tab makes it an undo step and shows the result.

    Signals:
        move_requested: (source, target) rows, from a drag-and-drop reorder or Up and Down.
        duplicate_requested: the row to copy below itself.
        remove_requested: the row to remove (Remove, or Delete in the list).
    """

    move_requested = Signal(int, int)
    duplicate_requested = Signal(int)
    remove_requested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Network (drag to reorder)", parent)
        self._editing = True
        self.view = QListWidget()
        self.view.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)
        self.view.setDefaultDropAction(Qt.DropAction.MoveAction)
        self.view.setAlternatingRowColors(True)
        self.view.setIconSize(QSize(16, 16))
        self.view.currentRowChanged.connect(self.update_buttons)
        # A drag-and-drop reorder moves the row in the list's model first; the spec follows it.
        self.view.model().rowsMoved.connect(self._on_model_rows_moved)
        delete = QAction("Remove layer", self.view, shortcut=QKeySequence(QKeySequence.StandardKey.Delete))
        delete.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        delete.triggered.connect(self._on_remove_button_clicked)
        self.view.addAction(delete)
        self._delete_action = delete

        self.up_button = push_button("U&p", self._on_up_button_clicked, "Move the layer up")
        self.down_button = push_button("Do&wn", self._on_down_button_clicked, "Move the layer down")
        self.duplicate_button = push_button("D&uplicate", self._on_duplicate_button_clicked, "Add a copy below")
        self.remove_button = push_button("&Remove", self._on_remove_button_clicked, "Remove the layer (Delete)")
        buttons = QHBoxLayout()
        for button in (self.up_button, self.down_button, self.duplicate_button, self.remove_button):
            buttons.addWidget(button)

        layout = QVBoxLayout(self)
        layout.addWidget(self.view)
        layout.addLayout(buttons)

    def show_layers(self, spec: ModelSpec) -> None:
        """One row per layer of ``spec``: its number, module name, kind and main options."""
        # Items are relabelled in place rather than recreated: a drag-and-drop move is still running when the
        # spec follows it, and the list must not lose the items it is moving.
        while self.view.count() > len(spec.layers):
            self.view.takeItem(self.view.count() - 1)
        while self.view.count() < len(spec.layers):
            self.view.addItem(QListWidgetItem())
        for index, (name, layer) in enumerate(zip(spec.module_names(), spec.layers, strict=True)):
            item = self.view.item(index)
            item.setText(f"{index + 1}.  {name}  ·  {layer.kind} {_layer_details(layer)}")

    def set_editing(self, editing: bool) -> None:
        """Allow reordering and the buttons, or refuse them while the network cannot be edited."""
        self._editing = editing
        mode = QAbstractItemView.DragDropMode.InternalMove if editing else QAbstractItemView.DragDropMode.NoDragDrop
        self.view.setDragDropMode(mode)
        self.update_buttons()

    @Slot()
    def update_buttons(self) -> None:
        row, count = self.view.currentRow(), self.view.count()
        editing = self._editing
        self.up_button.setEnabled(editing and row > 0)
        self.down_button.setEnabled(editing and 0 <= row < count - 1)
        self.duplicate_button.setEnabled(editing and row >= 0)
        self.remove_button.setEnabled(editing and row >= 0)
        self._delete_action.setEnabled(editing)

    @Slot()
    def _on_up_button_clicked(self) -> None:
        row = self.view.currentRow()
        self.move_requested.emit(row, row - 1)

    @Slot()
    def _on_down_button_clicked(self) -> None:
        row = self.view.currentRow()
        self.move_requested.emit(row, row + 1)

    @Slot()
    def _on_duplicate_button_clicked(self) -> None:
        if self.view.currentRow() >= 0:
            self.duplicate_requested.emit(self.view.currentRow())

    @Slot()
    def _on_remove_button_clicked(self) -> None:
        if self.view.currentRow() >= 0:
            self.remove_requested.emit(self.view.currentRow())

    @Slot(QModelIndex, int, int, QModelIndex, int)
    def _on_model_rows_moved(self, _parent, start: int, _end: int, _destination, row: int) -> None:
        target = row if row < start else row - 1  # ``row`` counts the rows before the move
        if target != start:
            self.move_requested.emit(start, target)


def _layer_details(layer: LayerSpec) -> str:
    """The options a reader wants to see at a glance in the layer list, in the registry's words."""
    if layer.kind not in LAYER_TYPES:
        return "(unknown)"
    try:
        options = layer.options()
    except (TypeError, ValueError):  # an option that is not even its type: the problems list says so
        options = Options(resolve(layer.type.params, layer.params)[0])
    return layer.type.details(options)
