"""The layer palette: the layer kinds by category, to add after the selected layer."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, Signal, Slot
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QGroupBox, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from fashion_desktop.core.layers import CATEGORIES, LAYER_TYPES
from fashion_desktop.gui.builder.buttons import push_button


class LayerPalette(QGroupBox):
    """The layer kinds under their categories' titles, and Add.

    Signals:
        kind_chosen: the kind double-clicked, or current when Enter or Add was pressed.
    """

    kind_chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Layer kinds", parent)
        self._editing = True
        self.tree = QTreeWidget()
        self.tree.setHeaderHidden(True)
        self.tree.setToolTip("Double-click a layer, or press Enter, to add it after the selected one")
        for category, title in CATEGORIES.items():
            group = QTreeWidgetItem(self.tree, [title])
            group.setFlags(Qt.ItemFlag.ItemIsEnabled)
            font = group.font(0)
            font.setBold(True)
            group.setFont(0, font)
            for layer_type in LAYER_TYPES.values():
                if layer_type.category == category:
                    item = QTreeWidgetItem(group, [layer_type.kind])
                    item.setToolTip(0, layer_type.description or layer_type.kind)
        self.tree.expandAll()
        linear = self.tree.findItems("Linear", Qt.MatchFlag.MatchExactly | Qt.MatchFlag.MatchRecursive)[0]
        self.tree.setCurrentItem(linear)  # so that Add works at once
        self.tree.itemDoubleClicked.connect(self._on_tree_item_double_clicked)
        self.tree.currentItemChanged.connect(self._update_add_button)
        self.tree.installEventFilter(self)  # Enter adds the current kind

        self.add_button = push_button("&Add", self._on_add_button_clicked, "Add this kind after the selected layer")
        layout = QVBoxLayout(self)
        layout.addWidget(self.tree)
        layout.addWidget(self.add_button)
        # As wide as its longest entry ("Regularisation" in bold was cut), however large the font.
        self.setMinimumWidth(self.tree.sizeHintForColumn(0) + 2 * self.tree.frameWidth() + 24)

    def set_editing(self, editing: bool) -> None:
        """Offer the kinds, or refuse them while the network cannot be edited."""
        self._editing = editing
        self.tree.setEnabled(editing)
        self._update_add_button()

    def current_kind(self) -> str | None:
        """The kind of the current item; None on a category's title."""
        item = self.tree.currentItem()
        return item.text(0) if item is not None and item.parent() is not None else None

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (
            watched is self.tree
            and event.type() == QEvent.Type.KeyPress
            and isinstance(event, QKeyEvent)
            and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        ):
            kind = self.current_kind()
            if kind is not None:
                self.kind_chosen.emit(kind)
                return True
        return super().eventFilter(watched, event)

    @Slot()
    def _update_add_button(self) -> None:
        self.add_button.setEnabled(self._editing and self.current_kind() is not None)

    @Slot(QTreeWidgetItem, int)
    def _on_tree_item_double_clicked(self, item: QTreeWidgetItem, _column: int) -> None:
        if item.parent() is not None:
            self.kind_chosen.emit(item.text(0))

    @Slot()
    def _on_add_button_clicked(self) -> None:
        kind = self.current_kind()
        if kind is not None:
            self.kind_chosen.emit(kind)
