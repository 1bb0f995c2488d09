"""The run history in the GUI: a table of recorded runs, their curves overlaid, and the settings two runs differ in.

Reads the same SQLite history the command line writes (``fashion_desktop.core.runs``); nothing here imports torch,
so the panel can paint before the engine has loaded.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import (
    QAbstractTableModel,
    QItemSelection,
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
    Slot,
)
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QColor,
    QFontMetrics,
    QIcon,
    QKeySequence,
    QPixmap,
    QResizeEvent,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QStackedLayout,
    QStackedWidget,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from fashion_desktop.core.errors import UserError
from fashion_desktop.core.metrics import EpochMetrics
from fashion_desktop.core.paths import resolve_runs_path
from fashion_desktop.core.runs import (
    RunRecord,
    RunStore,
    RunStoreError,
    describe_layers,
    preset_name,
)
from fashion_desktop.gui.plots import background_color, faint, percent_axis, style_plot, text_color

COLUMNS = ("Name", "Started", "Status", "Network", "Optimizer", "Epochs", "Best val.", "Test")
NAME, STARTED, STATUS, NETWORK, OPTIMIZER, EPOCHS, BEST_VAL, TEST = range(len(COLUMNS))
_HEADER_TIPS = (
    "the run's name: double-click it (or press F2) to rename the run",
    "when the run started",
    "finished, stopped (by the user or early stopping), failed, unfinished (the program ended mid-run) or running",
    "the preset the network matches, or its layers",
    "the optimizer and its learning rate",
    "epochs recorded of those planned",
    "the best validation accuracy of any epoch",
    "the accuracy on the test images, measured once the run ended",
)
RUN_ID_ROLE = Qt.ItemDataRole.UserRole + 1

# Matplotlib's tab10, the palette plots.py draws with, so a run's colour reads like the training plots.
RUN_COLORS = tuple(
    QColor(*rgb)
    for rgb in (
        (31, 119, 180),
        (255, 127, 14),
        (44, 160, 44),
        (214, 39, 40),
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
        (127, 127, 127),
        (188, 189, 34),
        (23, 190, 207),
    )
)
_STATUS_COLORS = {"failed": QColor(214, 39, 40), "unfinished": QColor(204, 102, 0), "running": QColor(31, 119, 180)}
_STATUS_TIPS = {
    "finished": "trained every planned epoch (or until early stopping)",
    "stopped": "stopped by the user before its last epoch",
    "failed": "training failed",
    "unfinished": "the program that trained it ended mid-run (a crash or a kill); its recorded epochs are kept",
    "running": "still training, in this window or another process",
}
_LEGEND_NAME_CHARS = 28  # longer run names are cut in the legend, which sits over the curves
_LOSS_TITLES = ("Validation loss (faint: train)", "Val. loss")  # (when there is room, when narrow)
_ACCURACY_TITLES = ("Validation accuracy (%)", "Val. acc. %")
_AXIS_WIDTH = 45  # pixels: a left axis with its tick labels, beside each title


@dataclass(frozen=True)
class _Row:
    """One run with its epochs and the texts the table shows, worked out once per refresh rather than per paint."""

    run: RunRecord
    epochs: tuple[EpochMetrics, ...]
    best_val_accuracy: float | None
    network: str
    layers: str

    @classmethod
    def of(cls, run: RunRecord, epochs: Sequence[EpochMetrics], texts: dict[int, tuple[str, str]]) -> _Row:
        """The row of ``run``; ``texts`` caches each run's (network, layers), which never change and cost the most."""
        accuracies = [m.val_accuracy for m in epochs if m.val_accuracy is not None]
        if run.id not in texts:
            layers = describe_layers(run.spec)
            texts[run.id] = (preset_name(run.spec) or layers, layers)
        return cls(run, tuple(epochs), max(accuracies, default=None), *texts[run.id])


class RunsTableModel(QAbstractTableModel):
    """The runs as table rows; editing a name renames the run in the store."""

    renamed = Signal(int, str)  # run id, new name
    rename_failed = Signal(str)  # why

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store: RunStore | None = None
        self._rows: list[_Row] = []
        self._colors: dict[int, QColor] = {}
        self._swatches: dict[int, QIcon] = {}

    # -- reading --
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        if role == Qt.ItemDataRole.ToolTipRole:
            return _HEADER_TIPS[section]
        return None

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        flags = super().flags(index)
        return flags | Qt.ItemFlag.ItemIsEditable if index.column() == NAME else flags

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row, column = self._rows[index.row()], index.column()
        run = row.run
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole):
            return self._text(row, column)
        if role == RUN_ID_ROLE:
            return run.id
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(row, column)
        if role == Qt.ItemDataRole.DecorationRole and column == NAME:
            return self._swatches.get(run.id)
        if role == Qt.ItemDataRole.ForegroundRole and column == STATUS:
            return _STATUS_COLORS.get(run.status)
        if role == Qt.ItemDataRole.TextAlignmentRole and column >= EPOCHS:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    @staticmethod
    def _text(row: _Row, column: int) -> str:
        run = row.run
        if column == NAME:
            return run.name
        if column == STARTED:
            return f"{run.started_at.astimezone():%Y-%m-%d %H:%M}"
        if column == STATUS:
            return run.status
        if column == NETWORK:
            return row.network
        if column == OPTIMIZER:
            return f"{run.config.optimizer}, lr {run.config.lr:g}"
        if column == EPOCHS:
            return f"{run.epochs_done}/{run.config.epochs}"
        value = row.best_val_accuracy if column == BEST_VAL else run.test_accuracy
        return "–" if value is None else f"{value:.2%}"

    @staticmethod
    def _tooltip(row: _Row, column: int) -> str | None:
        run, config = row.run, row.run.config
        if column == STARTED:
            ended = f"\nended {run.finished_at.astimezone():%Y-%m-%d %H:%M:%S}" if run.finished_at else ""
            return f"started {run.started_at.astimezone():%Y-%m-%d %H:%M:%S}{ended}\non {run.device}"
        if column == STATUS:
            tip = _STATUS_TIPS.get(run.status, run.status)
            return f"{tip}: {run.error}" if run.error else tip
        if column == NETWORK:
            return f"{row.layers}\n{run.spec.summary().total:,} trainable parameters"
        if column == OPTIMIZER:
            return (
                f"{config.optimizer}, learning rate {config.lr:g}, scheduler {config.scheduler}\n"
                f"loss {config.loss}, batch size {config.batch_size}"
            )
        if column == BEST_VAL and run.best_epoch is not None:
            return f"the weights kept are those of epoch {run.best_epoch}"
        if column == TEST and run.test_loss is not None:
            return f"test loss {run.test_loss:.4f}"
        return None

    def sort_key(self, row: int, column: int) -> tuple[Any, ...]:
        """The value a column sorts by; the run id breaks ties, so runs started in the same minute keep their order."""
        data, run = self._rows[row], self._rows[row].run
        keys: dict[int, tuple[Any, ...]] = {
            NAME: (run.name.casefold(),),
            STARTED: (run.started_at.timestamp(),),
            STATUS: (run.status,),
            NETWORK: (data.network.casefold(),),
            OPTIMIZER: (run.config.optimizer.casefold(), run.config.lr),
            EPOCHS: (run.epochs_done, run.config.epochs),
        }
        if column in keys:
            return (*keys[column], run.id)
        value = data.best_val_accuracy if column == BEST_VAL else run.test_accuracy
        return (value is not None, value or 0.0, run.id)  # runs without a value sort below every measured one

    # -- editing --
    def setData(
        self, index: QModelIndex | QPersistentModelIndex, value: Any, role: int = Qt.ItemDataRole.EditRole
    ) -> bool:
        if role != Qt.ItemDataRole.EditRole or index.column() != NAME or self.store is None:
            return False
        row = self._rows[index.row()]
        name = str(value).strip()
        if name == row.run.name:
            return False
        try:
            self.store.rename(row.run.id, name)
        except RunStoreError as error:
            self.rename_failed.emit(str(error))
            return False
        self._rows[index.row()] = replace(row, run=replace(row.run, name=name))
        self.dataChanged.emit(index, index)
        self.renamed.emit(row.run.id, name)
        return True

    # -- the panel's calls --
    def set_rows(self, rows: Sequence[_Row]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def rows(self) -> list[_Row]:
        return list(self._rows)

    def row_of(self, run_id: int) -> _Row | None:
        return next((row for row in self._rows if row.run.id == run_id), None)

    def set_colors(self, colors: dict[int, QColor]) -> None:
        """Show each plotted run's curve colour beside its name, so the table reads as the plots' legend too."""
        if colors == self._colors:
            return
        self._colors = dict(colors)
        self._swatches = {run_id: _swatch(color) for run_id, color in colors.items()}
        if self._rows:
            self.dataChanged.emit(
                self.index(0, NAME), self.index(len(self._rows) - 1, NAME), [Qt.ItemDataRole.DecorationRole]
            )


class _RunsSortProxy(QSortFilterProxyModel):
    """Sorts by the source model's typed keys: the shown texts ("9/10", "12.5%") would sort as strings."""

    def lessThan(self, left: QModelIndex | QPersistentModelIndex, right: QModelIndex | QPersistentModelIndex) -> bool:
        model = self.sourceModel()
        assert isinstance(model, RunsTableModel)
        return model.sort_key(left.row(), left.column()) < model.sort_key(right.row(), right.column())


class RunCurves(pg.GraphicsView):
    """The validation loss (train loss faint) and validation accuracy per epoch of several runs, overlaid.

    Not a pg.GraphicsLayoutWidget, which binds its layout's ``clear`` over ours (as in plots.py).
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, background=background_color())
        layout = pg.GraphicsLayout()
        self.setCentralItem(layout)
        self.loss_plot = layout.addPlot(row=0, col=0)
        self.accuracy_plot = layout.addPlot(row=0, col=1)
        percent_axis(self.accuracy_plot)
        style_plot(self.loss_plot, _LOSS_TITLES[0], "epoch")
        style_plot(self.accuracy_plot, _ACCURACY_TITLES[0], "epoch")
        self._short_titles = False
        self._longest = 0  # epochs of the longest run drawn
        self.setToolTip("solid: each run's validation loss and accuracy; faint: its training loss")
        # Under both plots rather than over one: inside, run names of any length would cover curves.
        self.legend = pg.LegendItem(labelTextColor=text_color(), colCount=3, frame=False, verSpacing=-6)
        layout.addItem(self.legend, row=1, col=0, colspan=2)
        layout.layout.setRowStretchFactor(0, 1)  # the plots take the height; the legend only what its rows need
        for column in (0, 1):
            layout.layout.setColumnStretchFactor(column, 1)
        self.legend.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self.legend.layout.setContentsMargins(6, 0, 0, 0)
        self.val_loss_curves: list[pg.PlotDataItem] = []
        self.train_loss_curves: list[pg.PlotDataItem] = []
        self.accuracy_curves: list[pg.PlotDataItem] = []

    def set_runs(self, runs: Sequence[tuple[str, Sequence[EpochMetrics], int]]) -> None:
        """Draw these runs, each a (name, epochs, colour slot), in place of those drawn before.

        Slot n draws in ``RUN_COLORS[n % 10]``; past ten runs the palette repeats, dashed to tell the rounds apart.
        """
        self.clear()
        longest = max((len(epochs) for _, epochs, _ in runs), default=0)
        dots = 5 if longest <= 30 else 0  # a dot per epoch helps on short runs and clutters long ones
        for name, epochs, slot in runs:
            color = slot_color(slot)
            style = Qt.PenStyle.SolidLine if slot < len(RUN_COLORS) else Qt.PenStyle.DashLine
            pen = pg.mkPen(color, width=2, style=style)
            epoch_numbers = [m.epoch for m in epochs]
            validated = [m for m in epochs if m.val_loss is not None]  # none when the validation size was 0
            val_x = [m.epoch for m in validated]
            label = name if len(name) <= _LEGEND_NAME_CHARS else name[: _LEGEND_NAME_CHARS - 1] + "…"
            # Faint beside a validation curve; a run trained without validation has only this one to show.
            train_pen = pg.mkPen(faint(color), width=1, style=style) if validated else pen
            train = self.loss_plot.plot(epoch_numbers, [m.train_loss for m in epochs], pen=train_pen)
            marks = {"symbol": "o", "symbolSize": dots, "symbolBrush": color, "symbolPen": color}
            val = self.loss_plot.plot(val_x, [m.val_loss for m in validated], pen=pen, **marks)
            self.legend.addItem(val, label)
            accuracy = self.accuracy_plot.plot(
                val_x, [100 * (m.val_accuracy or 0.0) for m in validated], pen=pen, **marks
            )
            self.train_loss_curves.append(train)
            self.val_loss_curves.append(val)
            self.accuracy_curves.append(accuracy)
        self._longest = longest
        for plot in (self.loss_plot, self.accuracy_plot):
            plot.enableAutoRange()
        self._fit_width(force=True)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if hasattr(self, "legend"):  # pg.GraphicsView.__init__ resizes before ours has made the legend
            self._fit_width()

    def _fit_width(self, force: bool = False) -> None:
        """Fit the titles and the legend's columns to the width, so both plots stay in view.

        A plot is never narrower than its title, and a legend row never narrower than its names: on the Runs
        page (often under 300 pixels wide) the long titles and a three-column legend pushed the accuracy plot out.
        """
        metrics = QFontMetrics(self.font())
        long_titles = sum(metrics.horizontalAdvance(title) for title in (_LOSS_TITLES[0], _ACCURACY_TITLES[0]))
        short = self.width() < long_titles + 4 * _AXIS_WIDTH
        if short != self._short_titles or force:
            self._short_titles = short
            # Whole epochs only (there is no epoch 1.5): about eight ticks, or four when narrow.
            step = max(1, math.ceil(self._longest / (4 if short else 8)))
            for plot, titles in ((self.loss_plot, _LOSS_TITLES), (self.accuracy_plot, _ACCURACY_TITLES)):
                style_plot(plot, titles[short], "epoch")
                axis = plot.getAxis("bottom")
                axis.setTickSpacing(step, step)
                axis.showLabel(not short)  # "epoch" goes without saying, and the height is short too
        # The labels' least widths (their text): once laid out, a label is as wide as its column.
        widths = [sample.boundingRect().width() + label.minimumWidth() + 12 for sample, label in self.legend.items]
        columns = max(1, min(3, int(self.width() // max(widths)))) if widths else 3
        if columns != self.legend.columnCount:
            self.legend.setColumnCount(columns)
        # A legend row that was wider has grown the layout past the view, and only a resize of the view shrinks it.
        self.centralWidget.setGeometry(self.range)

    def clear(self) -> None:
        for plot, curves in (
            (self.loss_plot, self.train_loss_curves),
            (self.loss_plot, self.val_loss_curves),
            (self.accuracy_plot, self.accuracy_curves),
        ):
            for curve in curves:
                plot.removeItem(curve)
            curves.clear()
        self.legend.clear()

    @property
    def legend_names(self) -> list[str]:
        return [label.text for _, label in self.legend.items]


class RunsPanel(QWidget):
    """The run history: pick runs in the table to overlay their curves; pick two to see which settings differ.

    The history file opens on the first ``refresh()`` or the first time the panel is shown. A damaged file is
    reported in the panel, with a button that moves it aside and starts a new history.
    """

    status_message = Signal(str)
    open_model_requested = Signal(object)  # Path: the selected run's model file, to open as File > Open model does

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._store: RunStore | None = None
        self._failed_path: Path | None = None  # the history that could not be opened, while the error page shows
        self._updating = False  # set while a refresh rebuilds the rows, so the plots redraw once, not per row
        self._slots: dict[int, int] = {}  # run id -> colour slot, for the runs drawn
        self._texts: dict[int, tuple[str, str]] = {}  # run id -> network column and layers, for this history file
        self.model = RunsTableModel(self)
        self.proxy = _RunsSortProxy(self)
        self.proxy.setSourceModel(self.model)
        self._build()
        self.model.renamed.connect(self._on_model_renamed)
        self.model.rename_failed.connect(self._on_model_rename_failed)
        self.view.selectionModel().selectionChanged.connect(self._on_view_selection_changed)
        self._update_buttons()

    # -- public interface --
    @property
    def store(self) -> RunStore | None:
        """The open run history; None before the first refresh and while the file cannot be opened."""
        return self._store

    def refresh(self) -> None:
        """Re-read the run history (opening it the first time); the selected runs stay selected."""
        if self._store is None and not self._open_store():
            return
        assert self._store is not None
        try:
            self._store.mark_unfinished()  # a command-line run that crashed since the last look
            rows = [_Row.of(run, self._store.epochs(run.id), self._texts) for run in self._store.list_runs()]
        except (UserError, ValueError, KeyError, TypeError) as error:  # a damaged page, or a row we cannot read
            self._show_store_error(self._store.path, str(error))
            return
        if rows != self.model.rows():  # unchanged: keep the scroll position, an open editor and the plots
            selected = self.selected_run_ids()
            self._updating = True
            try:
                self.model.set_rows(rows)
                self.select_runs(selected)
            finally:
                self._updating = False
            self._update_comparison()
        self._update_hint(len(self.selected_run_ids()))
        self._update_buttons()

    def selected_run_ids(self) -> list[int]:
        """The selected runs' ids, in the table's order."""
        rows = sorted(self.view.selectionModel().selectedRows(), key=lambda index: index.row())
        return [index.data(RUN_ID_ROLE) for index in rows]

    def select_runs(self, run_ids: Sequence[int]) -> None:
        """Select exactly these runs (ids no longer in the history are skipped)."""
        wanted = set(run_ids)
        selection = QItemSelection()
        for row in range(self.proxy.rowCount()):
            if self.proxy.index(row, 0).data(RUN_ID_ROLE) in wanted:
                selection.select(self.proxy.index(row, 0), self.proxy.index(row, len(COLUMNS) - 1))
        flags = QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
        self.view.selectionModel().select(selection, flags)

    def confirm_delete(self, names: Sequence[str]) -> bool:
        """Ask before deleting these runs; tests override this to answer without a dialog."""
        if len(names) == 1:
            question = f"Delete the run “{names[0]}” from the history?"
        else:
            listed = "\n".join(f"• {name}" for name in names[:10]) + ("\n…" if len(names) > 10 else "")
            question = f"Delete these {len(names)} runs from the history?\n\n{listed}"
        answer = QMessageBox.question(
            self,
            "Delete runs",
            f"{question}\n\nTheir saved model files, if any, are kept.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    def choose_export_path(self, suggested: str) -> str:
        """Ask where to write the CSV file; an empty string cancels. Tests override this."""
        path, _ = QFileDialog.getSaveFileName(self, "Export the runs' epochs", suggested, "CSV files (*.csv)")
        return path

    # -- building --
    def _build(self) -> None:
        self.rename_button = QPushButton("Rename")
        self.rename_button.setToolTip("rename the selected run (or double-click its name)")
        self.delete_button = QPushButton("Delete...")
        self.delete_button.setToolTip("forget the selected runs (their model files are kept)")
        self.export_button = QPushButton("Export CSV...")
        self.export_button.setToolTip("write the selected runs' per-epoch metrics to a CSV file")
        self.open_button = QPushButton("Open model")
        self.open_button.setToolTip("open the selected run's model file, as File > Open model does")
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("read the history again, with runs recorded from the command line")
        self.hint_label = QLabel()
        self.hint_label.setStyleSheet("color: palette(placeholder-text);")
        self.hint_label.setMinimumWidth(40)  # it may shrink to nothing: the buttons matter more
        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        for button in (self.open_button, self.rename_button, self.delete_button, self.export_button):
            buttons.addWidget(button)
        buttons.addWidget(self.hint_label, 1)
        buttons.addWidget(self.refresh_button)

        self.message_label = QLabel(wordWrap=True, visible=False)
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.view = QTableView()
        self.view.setModel(self.proxy)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(STARTED, Qt.SortOrder.DescendingOrder)  # newest first
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.setEditTriggers(
            QAbstractItemView.EditTrigger.DoubleClicked | QAbstractItemView.EditTrigger.EditKeyPressed
        )
        self.view.setWordWrap(False)
        self.view.setAlternatingRowColors(True)
        self.view.verticalHeader().hide()
        self.view.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        self.view.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self._size_columns()
        self.delete_action = QAction("Delete...", self.view, shortcut=QKeySequence(QKeySequence.StandardKey.Delete))
        self.delete_action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        self.rename_action = QAction("Rename", self.view)
        self.export_action = QAction("Export CSV...", self.view)
        self.open_action = QAction("Open model", self.view)
        self.view.addActions([self.open_action, self.rename_action, self.delete_action, self.export_action])
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)

        self.curves = RunCurves()
        self.curves.setMinimumSize(260, 150)
        self.diff_title = QLabel()
        self.diff_table = QTableWidget(0, 3)
        self.diff_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.diff_table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.diff_table.setWordWrap(False)
        self.diff_table.verticalHeader().hide()
        self.diff_table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        header = self.diff_table.horizontalHeader()
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        header.setTextElideMode(Qt.TextElideMode.ElideRight)  # run names are long: keep their beginnings
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(0, self.fontMetrics().horizontalAdvance("optimizer weight decay") + 12)
        self.diff_panel = QWidget()
        diff_layout = QVBoxLayout(self.diff_panel)
        diff_layout.setContentsMargins(0, 0, 0, 0)
        diff_layout.setSpacing(2)
        diff_layout.addWidget(self.diff_title)
        diff_layout.addWidget(self.diff_table, 1)
        self.diff_panel.setMinimumWidth(200)
        self.diff_panel.hide()

        # With no run selected, a line saying what to do instead of empty axes ranging 0 to 1.
        self.curves_placeholder = QLabel(alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True)
        self.curves_placeholder.setStyleSheet("color: palette(placeholder-text);")
        curves_box = QWidget()
        self.curves_pages = QStackedLayout(curves_box)
        self.curves_pages.addWidget(self.curves_placeholder)
        self.curves_pages.addWidget(self.curves)
        self.lower_splitter = QSplitter(Qt.Orientation.Horizontal)
        self.lower_splitter.addWidget(curves_box)
        self.lower_splitter.addWidget(self.diff_panel)
        self.lower_splitter.setStretchFactor(0, 1)
        self.lower_splitter.setSizes([560, 320])
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(self.view)
        self.splitter.addWidget(self.lower_splitter)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setSizes([150, 250])
        self.view.setMinimumHeight(90)

        history = QWidget()
        history_layout = QVBoxLayout(history)
        history_layout.setContentsMargins(0, 0, 0, 0)
        history_layout.addLayout(buttons)
        history_layout.addWidget(self.message_label)
        history_layout.addWidget(self.splitter, 1)

        self.error_label = QLabel(wordWrap=True)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.start_fresh_button = QPushButton("Start a new history")
        self.retry_button = QPushButton("Try again")
        self.retry_button.setToolTip("open the history again, after closing another program or fixing the file")
        error_buttons = QHBoxLayout()
        error_buttons.addWidget(self.start_fresh_button)
        error_buttons.addWidget(self.retry_button)
        error_buttons.addStretch(1)
        error_page = QWidget()
        error_layout = QVBoxLayout(error_page)
        error_layout.addWidget(self.error_label)
        error_layout.addLayout(error_buttons)
        error_layout.addStretch(1)

        self.pages = QStackedWidget()
        self.pages.addWidget(history)
        self.pages.addWidget(error_page)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.pages)

        self.rename_button.clicked.connect(self._on_rename_clicked)
        self.rename_action.triggered.connect(self._on_rename_clicked)
        self.delete_button.clicked.connect(self._on_delete_clicked)
        self.delete_action.triggered.connect(self._on_delete_clicked)
        self.export_button.clicked.connect(self._on_export_clicked)
        self.export_action.triggered.connect(self._on_export_clicked)
        self.refresh_button.clicked.connect(self._on_refresh_clicked)
        self.open_button.clicked.connect(self._on_open_clicked)
        self.open_action.triggered.connect(self._on_open_clicked)
        self.start_fresh_button.clicked.connect(self._on_start_fresh_clicked)
        self.retry_button.clicked.connect(self._on_retry_clicked)

    def _size_columns(self) -> None:
        """The name column takes what is left; the others fit their usual contents, and the user may resize them."""
        metrics, header = self.fontMetrics(), self.view.horizontalHeader()
        samples = {
            STARTED: "2025-12-31 23:59",
            STATUS: "unfinished",
            NETWORK: "seed-no-dropout",
            OPTIMIZER: "AdamW, lr 0.003",
            EPOCHS: "100/100",
            BEST_VAL: "Best val.",
            TEST: "100.00%",
        }
        header.setStretchLastSection(False)
        header.setMinimumSectionSize(40)
        for column, sample in samples.items():
            header.resizeSection(column, metrics.horizontalAdvance(sample) + 24)  # room for the sort arrow
        header.setSectionResizeMode(NAME, QHeaderView.ResizeMode.Stretch)

    # -- opening the history --
    def _open_store(self) -> bool:
        path = resolve_runs_path()
        try:
            self._store = RunStore(path)
        except RunStoreError as error:
            self._show_store_error(error.path, str(error))
            return False
        self._failed_path = None
        self._texts = {}  # a new history numbers its runs from 1 again
        self.model.store = self._store
        self.pages.setCurrentIndex(0)
        return True

    def _show_store_error(self, path: Path, message: str) -> None:
        """Say in the panel why the history cannot be used; no dialog, so a refresh on every show cannot loop."""
        if self._store is not None:
            self._store.close()
        self._store = self.model.store = None
        self._failed_path = path
        self.model.set_rows([])
        self._update_comparison()
        self.error_label.setText(
            f"<b>The run history cannot be used.</b><br>{html.escape(message[:1].upper() + message[1:])}.<br><br>"
            f"“Start a new history” renames <code>{html.escape(path.name)}</code> to "
            f"<code>{html.escape(path.name)}.damaged-&lt;date&gt;</code> in the same folder (nothing is deleted) "
            "and starts an empty history in its place."
        )
        self.pages.setCurrentIndex(1)
        self._update_buttons()
        self.status_message.emit("The run history cannot be opened")

    @Slot()
    def _on_start_fresh_clicked(self) -> None:
        path = self._failed_path or resolve_runs_path()
        # RunStore.start_fresh, in two steps: the panel must say where the old file went.
        try:
            moved = RunStore.move_aside(path) if path.exists() else None
        except OSError as error:
            self.error_label.setText(f"<b>The run history could not be moved aside.</b><br>{html.escape(str(error))}")
            return
        self.refresh()
        if self._store is not None:
            where = f"; the old one is now {moved}" if moved else ""
            self._show_message(f"Started a new, empty run history{where}.")
            self.status_message.emit(f"Started a new run history{where}")

    @Slot()
    def _on_retry_clicked(self) -> None:
        self.refresh()

    @Slot()
    def _on_refresh_clicked(self) -> None:
        self.refresh()

    # -- Qt events --
    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        # Each time the tab comes into view, not when the window is restored: runs may have been recorded meanwhile.
        if not event.spontaneous():
            self.refresh()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._store is not None:
            self._store.close()
            self._store = self.model.store = None
        super().closeEvent(event)

    # -- selection: curves and differences --
    @Slot(QItemSelection, QItemSelection)
    def _on_view_selection_changed(self, selected: QItemSelection, deselected: QItemSelection) -> None:
        if not self._updating:
            self._update_comparison()
        self._update_buttons()

    def _update_comparison(self) -> None:
        ids = self.selected_run_ids()
        # A run keeps its colour while it stays selected; a newly selected one takes the first colour free.
        self._slots = {run_id: slot for run_id, slot in self._slots.items() if run_id in ids}
        for run_id in ids:
            if run_id not in self._slots:
                self._slots[run_id] = next(s for s in range(len(ids)) if s not in self._slots.values())
        colors = {run_id: slot_color(slot) for run_id, slot in self._slots.items()}
        self.model.set_colors(colors)
        rows = [row for row in map(self.model.row_of, ids) if row is not None]
        self.curves.set_runs([(row.run.name, row.epochs, self._slots[row.run.id]) for row in rows])
        self.curves_pages.setCurrentWidget(self.curves if rows else self.curves_placeholder)
        if len(rows) == 2:
            self._show_differences(rows[0], rows[1], colors)
        else:
            self.diff_panel.hide()
        self._update_hint(len(ids))

    def _show_differences(self, a: _Row, b: _Row, colors: dict[int, QColor]) -> None:
        assert self._store is not None
        try:
            differences = self._store.setting_differences(a.run.id, b.run.id)
        except RunStoreError as error:
            self._show_message(str(error), error=True)
            self.diff_panel.hide()
            return
        table = self.diff_table
        table.clearContents()
        table.setRowCount(len(differences))
        for column, row in ((1, a), (2, b)):
            header = QTableWidgetItem(_swatch(colors[row.run.id]), row.run.name)
            header.setToolTip(row.run.name)
            table.setHorizontalHeaderItem(column, header)
        table.setHorizontalHeaderItem(0, QTableWidgetItem("Setting"))
        for index, (name, value_a, value_b) in enumerate(differences):
            # The words of the training form ("optimizer weight decay"); the tooltip keeps the config's own name.
            label = QTableWidgetItem(name.replace("_options.", " ").replace("_", " "))
            label.setToolTip(name)
            table.setItem(index, 0, label)
            for column, value in ((1, _format_setting(value_a)), (2, _format_setting(value_b))):
                item = QTableWidgetItem(value)
                item.setToolTip(value)
                table.setItem(index, column, item)
        count = len(differences)
        if not count:
            self.diff_title.setText("The two runs have the same settings")
        else:
            self.diff_title.setText(f"{count} setting{'s differ' if count > 1 else ' differs'}")
        self.diff_panel.show()

    def _update_hint(self, selected: int) -> None:
        if not self.model.rowCount():
            self.curves_placeholder.setText(
                "No runs yet: each training run is recorded here,\nwith its settings and its curves."
            )
        else:
            self.curves_placeholder.setText(
                "Select runs in the table to compare their curves;\nselect two to see which settings differ."
            )
        text = "Select two runs to see which settings differ." if selected and selected != 2 else ""
        self.hint_label.setText(text)
        self.hint_label.setToolTip(text)

    def selected_model_path(self) -> Path | None:
        """The model file of the one selected run, when it has one that still exists."""
        ids = self.selected_run_ids() if self._store is not None else []
        row = self.model.row_of(ids[0]) if len(ids) == 1 else None
        path = row.run.model_path if row is not None else None
        return path if path is not None and path.is_file() else None

    def _update_buttons(self) -> None:
        count = len(self.selected_run_ids()) if self._store is not None else 0
        path = self.selected_model_path()
        for action in (self.open_button, self.open_action):
            action.setEnabled(path is not None)
            action.setToolTip(
                f"open {path}, as File > Open model does"
                if path is not None
                else "open the selected run's model file (select one run that has one)"
            )
        for widget, enabled in (
            (self.rename_button, count == 1),
            (self.rename_action, count == 1),
            (self.delete_button, count > 0),
            (self.delete_action, count > 0),
            (self.export_button, count > 0),
            (self.export_action, count > 0),
            (self.refresh_button, self._store is not None),
        ):
            widget.setEnabled(enabled)

    def _show_message(self, text: str, error: bool = False) -> None:
        """A line above the table for what must stay readable after the status bar has moved on."""
        self.message_label.setStyleSheet("color: #c9302c;" if error else "")
        self.message_label.setText(text)
        self.message_label.setVisible(bool(text))

    # -- open, rename, delete, export --
    @Slot()
    def _on_open_clicked(self) -> None:
        path = self.selected_model_path()
        if path is not None:
            self.open_model_requested.emit(path)

    @Slot()
    def _on_rename_clicked(self) -> None:
        rows = self.view.selectionModel().selectedRows(NAME)
        if len(rows) == 1:
            self.view.setCurrentIndex(rows[0])
            self.view.edit(rows[0])

    @Slot(int, str)
    def _on_model_renamed(self, run_id: int, name: str) -> None:
        self._show_message("")
        self._update_comparison()  # the legend and the difference table show the name
        self.status_message.emit(f"Renamed the run to “{name}”")

    @Slot(str)
    def _on_model_rename_failed(self, message: str) -> None:
        self._show_message(f"The run could not be renamed: {message}", error=True)
        self.status_message.emit(f"The run could not be renamed: {message}")

    @Slot()
    def _on_delete_clicked(self) -> None:
        rows = [row for row in map(self.model.row_of, self.selected_run_ids()) if row is not None]
        if self._store is None or not rows:
            return
        running = [row.run.name for row in rows if row.run.status == "running"]
        if running:
            # Its recorder would lose the row it writes each epoch into, and stop recording mid-run.
            self._show_message(f"“{running[0]}” is still training: stop it before deleting it.", error=True)
            return
        if not self.confirm_delete([row.run.name for row in rows]):
            return
        try:
            for row in rows:
                self._store.delete(row.run.id)
        except RunStoreError as error:
            self._show_message(str(error), error=True)
        else:
            self._show_message("")
            self.status_message.emit(f"Deleted {_runs(len(rows))} from the history")
        self.refresh()

    @Slot()
    def _on_export_clicked(self) -> None:
        ids = self.selected_run_ids()
        if self._store is None or not ids:
            return
        path = self.choose_export_path(str(Path.home() / "fashion-runs.csv"))
        if not path:
            return
        target = Path(path) if Path(path).suffix else Path(path).with_suffix(".csv")
        try:
            written = self._store.export_csv(ids, target)
        except (UserError, OSError) as error:
            self._show_message(f"The CSV file could not be written: {error}", error=True)
            return
        self._show_message("")
        self.status_message.emit(f"Exported the epochs of {_runs(len(ids))} to {written}")


def slot_color(slot: int) -> QColor:
    return RUN_COLORS[slot % len(RUN_COLORS)]


def _runs(count: int) -> str:
    return f"{count} run{'s' if count != 1 else ''}"


def _format_setting(value: object) -> str:
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
        return ", ".join(map(_format_setting, value))
    return str(value)


def _swatch(color: QColor) -> QIcon:
    """A small square of a curve's colour, for the table and the difference table's headers."""
    pixmap = QPixmap(10, 10)
    pixmap.fill(color)
    return QIcon(pixmap)
