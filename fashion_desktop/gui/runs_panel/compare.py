"""The settings two runs differ in, as a table beside their curves."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from fashion_desktop.core.runs import RunRecord
from fashion_desktop.gui.runs_panel.colors import swatch


class SettingDifferences(QWidget):
    """A title ("3 settings differ") over a table of setting, value in one run, value in the other."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel()
        self.table = QTableWidget(0, 3)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setWordWrap(False)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # long values elide instead
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        header = self.table.horizontalHeader()
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        header.setTextElideMode(Qt.TextElideMode.ElideRight)  # run names are long: keep their beginnings
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        self._label_width = 0  # the widest setting name shown
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.title)
        layout.addWidget(self.table, 1)
        self.setMinimumWidth(200)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit_label_column()

    def _fit_label_column(self) -> None:
        """The setting names as wide as they need, up to half the table: the two values share the rest."""
        room = self.table.viewport().width() // 2
        self.table.horizontalHeader().resizeSection(0, max(60, min(self._label_width, room)))

    def show_differences(
        self, a: RunRecord, b: RunRecord, differences: Sequence[tuple[str, Any, Any]], colors: dict[int, QColor]
    ) -> None:
        """List ``differences`` (from ``RunStore.setting_differences``) under the two runs' names and colours."""
        table = self.table
        table.clearContents()
        table.setRowCount(len(differences))
        for column, run in ((1, a), (2, b)):
            header = QTableWidgetItem(swatch(colors[run.id]), run.name)
            header.setToolTip(run.name)
            table.setHorizontalHeaderItem(column, header)
        table.setHorizontalHeaderItem(0, QTableWidgetItem("Setting"))
        widest = self.fontMetrics().horizontalAdvance("Setting") + 16
        for index, (name, value_a, value_b) in enumerate(differences):
            # The words of the training form ("optimizer weight decay"); the tooltip keeps the config's own name.
            label = QTableWidgetItem(name.replace("_options.", " ").replace("_", " "))
            widest = max(widest, self.fontMetrics().horizontalAdvance(label.text()) + 16)
            label.setToolTip(name)
            table.setItem(index, 0, label)
            for column, value in ((1, format_setting(value_a)), (2, format_setting(value_b))):
                item = QTableWidgetItem(value)
                item.setToolTip(value)
                table.setItem(index, column, item)
        self._label_width = widest
        self._fit_label_column()
        count = len(differences)
        if not count:
            self.title.setText("The two runs have the same settings")
        else:
            self.title.setText(f"{count} setting{'s differ' if count > 1 else ' differs'}")


def format_setting(value: object) -> str:
    """A setting's value as the difference table shows it; a setting one run does not have shows as a dash."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(format_setting, value))
    return str(value)
