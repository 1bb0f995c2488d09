"""The confusion matrix: counts shaded by their share of the row, each class's accuracy as a bar, a CSV export."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QModelIndex, QRect, Qt, Signal, Slot
from PySide6.QtGui import QAction, QColor, QPainter
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHeaderView,
    QMessageBox,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from fashion_desktop.core.metrics import Evaluation, default_class_names
from fashion_desktop.core.spec import CLASS_NAMES
from fashion_desktop.gui.forms import remember_folder, remembered_folder
from fashion_desktop.gui.plots.style import ACCURACY_COLOR


class _AccuracyBarDelegate(QStyledItemDelegate):
    """Draws a cell's accuracy (its UserRole value, 0..1) as a bar behind the text."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        value = index.data(Qt.ItemDataRole.UserRole)
        if value is not None:
            rect = QRect(option.rect).adjusted(2, 3, -2, -3)
            rect.setWidth(round(rect.width() * float(value)))
            painter.fillRect(rect, QColor(ACCURACY_COLOR.red(), ACCURACY_COLOR.green(), ACCURACY_COLOR.blue(), 110))
        super().paint(painter, option, index)


class ConfusionMatrixView(QTableWidget):
    """A confusion matrix (rows: true class, columns: prediction) and each class's accuracy.

    Cells are shaded by their share of the row: the diagonal in blue, mistakes in red. The matrix is ``clickable``
    when its own images can be shown (the test set's); clicking any count emits ``cell_clicked``, and the owner
    says what a click does through ``set_confusion``'s ``click_hint``. Its context menu exports it as CSV.

    Signals:
        cell_clicked: (true class, predicted class) of the count clicked.
        status_message: a line for the status bar (the matrix exported).
    """

    cell_clicked = Signal(int, int)
    status_message = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.class_names: tuple[str, ...] = ()
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.verticalHeader().setMinimumSectionSize(18)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setCornerButtonEnabled(False)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._accuracy_delegate = _AccuracyBarDelegate(self)
        self.setToolTip("rows: the true class; columns: the class the network predicted")
        self.evaluation: Evaluation | None = None  # set when the matrix shown is an evaluation's (the test set's)
        self.confusion: tuple[tuple[int, ...], ...] | None = None
        self.clickable = False
        self.export_name = "confusion-matrix"  # the file name the CSV export suggests, without its suffix
        self.cellClicked.connect(self._on_cell_clicked)
        self.export_action = QAction("Export as CSV...", self)
        self.export_action.setToolTip("write the counts to a CSV file, with the class names as its header")
        self.export_action.setEnabled(False)
        self.export_action.triggered.connect(self._on_export_action_triggered)
        self.addAction(self.export_action)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        self.set_classes(CLASS_NAMES)

    @property
    def accuracy_column(self) -> int:
        return len(self.class_names)

    def set_classes(self, class_names: Sequence[str]) -> None:
        """Rows and columns for these classes (a model's, in label order); clears the counts when they change."""
        names = tuple(class_names)
        if names == self.class_names:
            return
        self.clear()
        self.class_names = names
        count = len(names)
        self.setRowCount(count)
        self.setColumnCount(count + 1)
        # Columns are numbered like the rows: class names over ten count columns would not fit beside the plots.
        self.setHorizontalHeaderLabels([*map(str, range(count)), "Accuracy"])
        self.setVerticalHeaderLabels([f"{i}  {name}" for i, name in enumerate(names)])
        for column, name in enumerate(names):
            self.horizontalHeaderItem(column).setToolTip(f"predicted {name}")
        header = self.horizontalHeader()
        header.setSectionResizeMode(self.accuracy_column, QHeaderView.ResizeMode.Fixed)
        header.resizeSection(self.accuracy_column, 64)
        for column in range(count):
            self.setItemDelegateForColumn(column, None)
        self.setItemDelegateForColumn(self.accuracy_column, self._accuracy_delegate)
        self._fit_counts(3)

    def _fit_counts(self, digits: int) -> None:
        """Columns wide enough for counts of ``digits`` digits in this font, and the view for every column.

        At 30 pixels a count of 1000 showed as "1..."; the splitter beside the view must not clip the accuracies.
        """
        header = self.horizontalHeader()
        header.setMinimumSectionSize(max(30, self.fontMetrics().horizontalAdvance("0" * digits) + 8))
        counts_width = len(self.class_names) * header.minimumSectionSize() + header.sectionSize(self.accuracy_column)
        self.setMinimumWidth(self.verticalHeader().sizeHint().width() + counts_width + 2 * self.frameWidth() + 2)
        rows_height = len(self.class_names) * self.verticalHeader().minimumSectionSize()  # tall enough for every row
        self.setMinimumHeight(header.sizeHint().height() + rows_height + 2 * self.frameWidth())

    @property
    def total(self) -> int:
        """How many images the matrix counts."""
        return sum(map(sum, self.confusion)) if self.confusion else 0

    def set_evaluation(self, evaluation: Evaluation, clickable: bool = False) -> None:
        """Show an evaluation's matrix (the test set's, usually), with its classes' names."""
        self.set_classes(evaluation.names)
        self.set_confusion(evaluation.confusion, clickable)
        self.evaluation = evaluation

    def set_confusion(self, confusion: Sequence[Sequence[int]], clickable: bool = False, click_hint: str = "") -> None:
        """Show a matrix of counts, e.g. an epoch's validation matrix; ``clickable`` when its images can be shown.

        ``click_hint`` ends each count's tooltip (what clicking it does); by default, for a clickable matrix, that
        it shows the count's test images.
        """
        if len(confusion) != len(self.class_names):  # an epoch's counts, of data whose names were not given
            self.set_classes(default_class_names(len(confusion)))
        self.evaluation = None
        self.confusion = tuple(tuple(row) for row in confusion)
        self.clickable = clickable
        self._fit_counts(max(3, *(len(str(count)) for counts in self.confusion for count in counts)))
        self.export_action.setEnabled(True)
        hint = click_hint or ("; click it to see those test images" if clickable else "")
        for row, counts in enumerate(self.confusion):
            row_total = sum(counts)
            for column, count in enumerate(counts):
                self.setItem(row, column, self._count_item(row, column, count, count / max(1, row_total), hint))
            accuracy = counts[row] / max(1, row_total)
            item = QTableWidgetItem(f"{accuracy:.0%}")
            item.setData(Qt.ItemDataRole.UserRole, accuracy)
            item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
            self.setItem(row, self.accuracy_column, item)
        cursor = Qt.CursorShape.PointingHandCursor if hint else Qt.CursorShape.ArrowCursor
        self.viewport().setCursor(cursor)

    def clear(self) -> None:
        self.evaluation = None
        self.confusion = None
        self.clickable = False
        self.export_action.setEnabled(False)
        self.viewport().unsetCursor()
        self.clearContents()

    def to_csv(self) -> str:
        """The counts as CSV: a header of the predicted classes' names, then a row per true class, named first."""
        assert self.confusion is not None
        names = self.class_names
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["true class \\ predicted", *names])
        for name, counts in zip(names, self.confusion, strict=True):
            writer.writerow([name, *counts])
        return out.getvalue()

    def ask_export_path(self, suggested: str) -> str:
        """Ask where to write the CSV file; an empty string cancels."""
        path, _ = QFileDialog.getSaveFileName(self, "Export the confusion matrix", suggested, "CSV files (*.csv)")
        return path

    @Slot()
    def _on_export_action_triggered(self) -> None:
        if self.confusion is None:
            return
        suggested = str(Path(remembered_folder("tables", Path.home())) / f"{self.export_name}.csv")
        chosen = self.ask_export_path(suggested)
        if not chosen:
            return
        path = Path(chosen) if Path(chosen).suffix else Path(chosen).with_suffix(".csv")
        remember_folder("tables", path)
        from fashion_desktop.core.files import atomic_write

        try:
            atomic_write(path, self.to_csv().encode())
        except OSError as error:
            QMessageBox.critical(self, "Cannot export the matrix", f"Cannot write {path}: {error.strerror or error}")
            return
        self.status_message.emit(f"Exported the confusion matrix to {path}")

    @Slot(int, int)
    def _on_cell_clicked(self, row: int, column: int) -> None:
        if self.confusion is not None and column < self.accuracy_column:
            self.cell_clicked.emit(row, column)

    def _count_item(self, row: int, column: int, count: int, share: float, hint: str) -> QTableWidgetItem:
        item = QTableWidgetItem(str(count))
        item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
        names = self.class_names
        item.setToolTip(
            f"{count} {names[row]} predicted as {names[column]} ({share:.1%} of the row){hint if count else ''}"
        )
        if count:
            # Mistakes are rarely more than a fifth of a row, so they get a steeper scale to stand out.
            strength = share if row == column else min(1.0, 4 * share)
            base = QColor(31, 119, 180) if row == column else QColor(214, 39, 40)
            item.setBackground(QColor(base.red(), base.green(), base.blue(), round(40 + 200 * strength)))
            if strength > 0.55:
                item.setForeground(QColor("white"))
        return item
