"""The runs as a sortable table: one row per recorded run, its name editable in place."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QIcon, QResizeEvent
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QWidget

from fashion_desktop.core.metrics import EpochMetrics
from fashion_desktop.core.runs import RunRecord, RunStore, RunStoreError, describe_layers, preset_name
from fashion_desktop.gui.runs_panel.colors import swatch

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
# What each column is sized for: its usual longest text.
_SAMPLES = {
    STARTED: "yesterday 23:59",
    STATUS: "unfinished",
    NETWORK: "seed-no-dropout",
    OPTIMIZER: "AdamW, lr 0.003",
    EPOCHS: "100/100",
    BEST_VAL: "Best val.",
    TEST: "100.00%",
}
# When the table is too narrow for every column, these go first (a default name already says the network and the
# optimizer, and the name's tooltip shows them all); the name is never hidden, and is never cut while it fits.
_HIDDEN_FIRST = (NETWORK, OPTIMIZER, STARTED, BEST_VAL, STATUS, EPOCHS, TEST)

_STATUS_COLORS = {"failed": QColor(214, 39, 40), "unfinished": QColor(204, 102, 0), "running": QColor(31, 119, 180)}
_STATUS_TIPS = {
    "finished": "trained every planned epoch (or until early stopping)",
    "stopped": "stopped by the user before its last epoch",
    "failed": "training failed",
    "unfinished": "the program that trained it ended mid-run (a crash or a kill); its recorded epochs are kept",
    "running": "still training, in this window or another process",
}


@dataclass(frozen=True)
class Row:
    """One run with its epochs and the texts the table shows, worked out once per refresh rather than per paint."""

    run: RunRecord
    epochs: tuple[EpochMetrics, ...]
    best_val_accuracy: float | None
    network: str
    layers: str

    @classmethod
    def of(cls, run: RunRecord, epochs: Sequence[EpochMetrics], texts: dict[int, tuple[str, str]]) -> Row:
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
        self._rows: list[Row] = []
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
    def _text(row: Row, column: int) -> str:
        run = row.run
        if column == NAME:
            return run.name
        if column == STARTED:
            return _when(run.started_at)
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
    def _tooltip(row: Row, column: int) -> str | None:
        run, config = row.run, row.run.config
        if column == NAME:  # what the columns say, for those hidden on a narrow table
            best = "–" if row.best_val_accuracy is None else f"{row.best_val_accuracy:.2%}"
            test = "–" if run.test_accuracy is None else f"{run.test_accuracy:.2%}"
            return (
                f"{run.name}\n{run.status}, started {run.started_at.astimezone():%Y-%m-%d %H:%M}\n"
                f"{row.network}; {config.optimizer}, lr {config.lr:g}\n"
                f"{run.epochs_done} of {config.epochs} epochs; best validation accuracy {best}; test {test}\n"
                "double-click (or F2) to rename"
            )
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
    def set_rows(self, rows: Sequence[Row]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def rows(self) -> list[Row]:
        return list(self._rows)

    def row_of(self, run_id: int) -> Row | None:
        return next((row for row in self._rows if row.run.id == run_id), None)

    def set_colors(self, colors: dict[int, QColor]) -> None:
        """Show each plotted run's curve colour beside its name, so the table reads as the plots' legend too."""
        if colors == self._colors:
            return
        self._colors = dict(colors)
        self._swatches = {run_id: swatch(color) for run_id, color in colors.items()}
        if self._rows:
            self.dataChanged.emit(
                self.index(0, NAME), self.index(len(self._rows) - 1, NAME), [Qt.ItemDataRole.DecorationRole]
            )


class RunsSortProxy(QSortFilterProxyModel):
    """Sorts by the source model's typed keys: the shown texts ("9/10", "12.5%") would sort as strings."""

    def lessThan(self, left: QModelIndex | QPersistentModelIndex, right: QModelIndex | QPersistentModelIndex) -> bool:
        model = self.sourceModel()
        assert isinstance(model, RunsTableModel)
        return model.sort_key(left.row(), left.column()) < model.sort_key(right.row(), right.column())


class RunsTableView(QTableView):
    """The runs' table, fitted to its width: every column's usual text shows in full and nothing scrolls sideways.

    When the width is too small for every column, those in ``_HIDDEN_FIRST`` are hidden in turn; the name column
    takes what is left, at least its longest name.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSortingEnabled(True)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked | QAbstractItemView.EditTrigger.EditKeyPressed)
        self.setWordWrap(False)
        self.setAlternatingRowColors(True)
        self.verticalHeader().hide()
        self.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        self.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # the columns are fitted instead
        self._widths = {column: self.fontMetrics().horizontalAdvance(text) + 24 for column, text in _SAMPLES.items()}
        header = self.horizontalHeader()
        header.setStretchLastSection(False)
        header.setMinimumSectionSize(40)

    def setModel(self, model: Any) -> None:
        super().setModel(model)
        self.horizontalHeader().setSectionResizeMode(NAME, QHeaderView.ResizeMode.Stretch)
        for column, width in self._widths.items():
            self.horizontalHeader().resizeSection(column, width)  # room for the text and the sort arrow
        model.modelReset.connect(self.fit_columns)
        model.dataChanged.connect(self.fit_columns)  # a rename
        model.layoutChanged.connect(self.fit_columns)
        self.fit_columns()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.fit_columns()

    def name_width(self) -> int:
        """The width the name column needs for its longest name, with the colour swatch and the margins."""
        model, metrics = self.model(), self.fontMetrics()
        names = (str(model.index(row, NAME).data()) for row in range(model.rowCount()))
        longest = max(map(metrics.horizontalAdvance, names), default=0)
        return max(longest + 40, metrics.horizontalAdvance("Name") + 24, 80)

    def fit_columns(self) -> None:
        if self.model() is None:
            return
        shown = set(self._widths)
        room = self.viewport().width() - self.name_width()
        for column in _HIDDEN_FIRST:
            if sum(self._widths[c] for c in shown) <= room:
                break
            shown.discard(column)
        for column in self._widths:
            self.setColumnHidden(column, column not in shown)


def _when(moment: datetime) -> str:
    """A start time in few characters: "today 14:05", "yesterday 09:30", else the date."""
    local = moment.astimezone()
    days = (datetime.now().astimezone().date() - local.date()).days
    if days == 0:
        return f"today {local:%H:%M}"
    if days == 1:
        return f"yesterday {local:%H:%M}"
    return f"{local:%Y-%m-%d}"
