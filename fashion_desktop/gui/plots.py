"""Training plots: pyqtgraph widgets that own their curves, fed with the engine's metrics on the GUI thread."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
import shiboken6
from PySide6.QtCore import QModelIndex, QRect, QRectF, Qt, Signal, Slot
from PySide6.QtGui import QColor, QGuiApplication, QPainter, QPalette, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from fashion_desktop.core.metrics import BatchMetrics, EpochMetrics, Evaluation
from fashion_desktop.core.spec import CLASS_NAMES, NUM_CLASSES

TRAIN_COLOR = QColor(31, 119, 180)
VAL_COLOR = QColor(255, 127, 14)
ACCURACY_COLOR = QColor(44, 160, 44)
LR_COLOR = QColor(148, 103, 189)
EMA_SPAN_EPOCHS = 0.05  # the batch loss is smoothed over about a twentieth of an epoch
WHOLE_EPOCH_TICKS = 80  # up to this many epochs the axis is ticked at whole-epoch steps of our choosing
BEST_LABEL_PLACES = (0.92, 0.08, 0.5)  # where along the best-epoch line its label may go (0 bottom, 1 top)
EPOCH_ROW_HEIGHT = 150  # pixels: the least height of a row of epoch plots


def style_plot(plot: pg.PlotItem, title: str, x_label: str, y_label: str = "") -> None:
    """Title, axis labels and grid in the application palette's colours, so the plots follow a dark theme too."""
    text = text_color()
    plot.setTitle(title, color=text, size="10pt")
    for name, label in (("bottom", x_label), ("left", y_label)):
        axis = plot.getAxis(name)
        axis.setPen(text)
        axis.setTextPen(text)
        # Ticks point outwards: inward ones reach into the data area, so every curve update repainted the axes.
        axis.setStyle(tickLength=5)
        if label:
            axis.setLabel(label)
    plot.showGrid(x=True, y=True, alpha=0.25)
    plot.setMenuEnabled(False)
    plot.hideButtons()


def text_color() -> QColor:
    return QGuiApplication.palette().color(QPalette.ColorRole.Text)


def use_palette_colours() -> None:
    """Make pyqtgraph's defaults the palette's, for what no plot colours itself (legend text, labels)."""
    pg.setConfigOptions(background=background_color(), foreground=text_color())


def batch_legend_color() -> QColor:
    """The colour naming the faint per-batch curve in its title: darker on a light ground, lighter on a dark one."""
    if background_color().lightness() < 128:  # faded towards near-black, the curve's own colour could not be read
        return TRAIN_COLOR.lighter(150)
    return faint(TRAIN_COLOR).darker(130)


def background_color() -> QColor:
    return QGuiApplication.palette().color(QPalette.ColorRole.Base)


def faint(color: QColor) -> QColor:
    """``color`` a third of the way from the background: solid, because blending a translucent pen costs more."""
    pairs = zip(color.getRgb()[:3], background_color().getRgb()[:3], strict=True)
    return QColor(*(round(c + (b - c) * 2 / 3) for c, b in pairs))


def _line_with_dots(plot: pg.PlotItem, color: QColor, name: str | None = None) -> pg.PlotDataItem:
    """A curve with a dot on each point: the per-epoch plots have few points, each of them an epoch."""
    return plot.plot(
        pen=pg.mkPen(color, width=2), symbol="o", symbolSize=6, symbolBrush=color, symbolPen=color, name=name
    )


def _from_zero(plot: pg.PlotItem, values: Sequence[float]) -> None:
    """Show 0 to a little above the largest value; a constant learning rate would otherwise sit mid-range."""
    if values:
        plot.setYRange(0, 1.1 * max(values), padding=0)


def _whole_epochs(plot: pg.PlotItem, epochs: int) -> None:
    """Tick the epoch axis at whole epochs only (about eight ticks at most): there is no epoch 1.5.

    Past WHOLE_EPOCH_TICKS epochs pyqtgraph picks the ticks: its steps are whole numbers there, and it drops
    labels that would overlap (fixed steps of 1250 ran "0 1250 2500..." into one another on a narrow plot).
    """
    axis = plot.getAxis("bottom")
    if epochs > WHOLE_EPOCH_TICKS:
        axis.setTickSpacing()
        return
    step = max(1, math.ceil(epochs / 8))
    axis.setTickSpacing(step, step)


def _epoch_range(plot: pg.PlotItem, last_epoch: int) -> None:
    """Show epochs 1 to ``last_epoch`` with half an epoch either side: auto-range ran one epoch from -2 to 4.

    Panning or zooming out stops at epoch 0 too: there are no negative epochs.
    """
    plot.setLimits(xMin=0)
    plot.setXRange(0.5, last_epoch + 0.5, padding=0)


def percent_axis(plot: pg.PlotItem) -> None:
    """Keep a percentage plot within 0..100: auto-range padding showed an accuracy axis up to 100.4%.

    Call it before ``style_plot``: it replaces the left axis.
    """
    plot.setAxisItems({"left": _EdgeLabelAxis("left")})
    plot.setLimits(yMin=0, yMax=100)


class _EdgeLabelAxis(pg.AxisItem):
    """An axis that draws the label of a tick on the very end of its range (100%, once the range stops there).

    With a grid, pyqtgraph skips any label reaching past the axis, so half a line of text above the plot hid it.
    """

    def boundingRect(self) -> QRectF:
        margin = 8 if self.orientation in ("left", "right") else 0
        return super().boundingRect().adjusted(0, -margin, 0, margin)


def coloured_title(title: str, names: Sequence[tuple[str, QColor]]) -> str:
    """``title: a, b`` with each name in its curve's colour: a legend above the plot, never over its curves."""
    words = ", ".join(f'<span style="color: {color.name()}; font-weight: bold;">{name}</span>' for name, color in names)
    return f"{title}: {words}"


class _Columns:
    """Growable float columns: appending a few rows costs amortised O(1) and the plots get views, not copies."""

    def __init__(self, columns: int, capacity: int = 4096) -> None:
        self._data = np.empty((columns, capacity))
        self.size = 0

    def extend(self, rows: np.ndarray) -> None:
        """Append ``rows``, an array of shape (columns, n)."""
        end = self.size + rows.shape[1]
        if end > self._data.shape[1]:
            grown = np.empty((self._data.shape[0], max(end, 2 * self._data.shape[1])))
            grown[:, : self.size] = self._data[:, : self.size]
            self._data = grown
        self._data[:, self.size : end] = rows
        self.size = end

    def column(self, index: int) -> np.ndarray:
        return self._data[index, : self.size]

    def truncate(self, size: int) -> None:
        """Keep only the first ``size`` rows."""
        self.size = min(self.size, max(0, size))

    def clear(self) -> None:
        self.size = 0


class _PlotView(pg.GraphicsView):
    """A view of one PlotItem.

    Not a pg.PlotWidget: that binds the PlotItem's ``clear`` (which removes every curve) over the subclass's own.
    """

    def __init__(self, title: str, x_label: str, parent: QWidget | None = None) -> None:
        use_palette_colours()
        super().__init__(parent, background=background_color())
        self.plot_item = pg.PlotItem()
        self.setCentralItem(self.plot_item)
        style_plot(self.plot_item, title, x_label)


class BatchLossPlot(_PlotView):
    """The loss of every training batch (faint) and its exponentially weighted moving average, x in epochs.

    It redraws several times a second while training, holding the GIL the training thread needs, so it is kept
    cheap: no grid (the grid belongs to the axes, which would then repaint with every curve update), solid thin
    pens, and a view range that changes once an epoch rather than with every batch.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Training loss per batch", "epoch", parent)
        plot = self.plot_item
        plot.showGrid(x=False, y=False)
        # The legend in the title: in the plot it covered the curve whenever the loss rose to its corner.
        plot.setTitle(
            coloured_title("Training loss", (("each batch", batch_legend_color()), ("smoothed", TRAIN_COLOR))),
            color=text_color(),
            size="10pt",
        )
        # Only the visible range is drawn, and at most a few points per pixel, so 100k batches stay cheap.
        plot.setClipToView(True)
        plot.setDownsampling(auto=True, mode="peak")
        plot.disableAutoRange()
        self._raw = plot.plot(pen=pg.mkPen(faint(TRAIN_COLOR)), name="batch")
        self._smooth = plot.plot(pen=pg.mkPen(TRAIN_COLOR, width=1.5), name="smoothed")
        self._columns = _Columns(3)  # x, loss, moving average
        self._average: float | None = None
        self._range: tuple[float, float, float] | None = None  # first epoch, last epoch, highest loss

    @property
    def points(self) -> int:
        """How many batches are plotted."""
        return self._columns.size

    def append(self, batches: Sequence[BatchMetrics]) -> None:
        if not batches:
            return
        alpha = min(0.5, 1 / max(1.0, EMA_SPAN_EPOCHS * batches[0].batches))
        rows = np.empty((3, len(batches)))
        average = self._average
        for i, metrics in enumerate(batches):
            average = metrics.loss if average is None else average + alpha * (metrics.loss - average)
            rows[:, i] = (metrics.epoch - 1 + metrics.batch / metrics.batches, metrics.loss, average)
        self._average = average
        self._columns.extend(rows)
        x = self._columns.column(0)
        self._raw.setData(x, self._columns.column(1))
        self._smooth.setData(x, self._columns.column(2))
        first, _, top = self._range or (batches[0].epoch - 1, 0, 0.0)
        wanted = (first, batches[-1].epoch, max(top, float(rows[1].max())))
        if wanted != self._range:
            self._range = wanted
            self.plot_item.setRange(xRange=wanted[:2], yRange=(0, wanted[2]), padding=0.02)

    def truncate(self, epochs: int) -> None:
        """Keep the batches of the first ``epochs`` epochs only: a run continued from there draws the rest again."""
        x = self._columns.column(0)
        # Batches of epoch e lie in (e - 1, e]; a small tolerance keeps an epoch's last batch despite rounding.
        kept = int(np.searchsorted(x, epochs + 1e-9, side="right"))
        if kept == self._columns.size:
            return
        if kept == 0:
            self.clear()
            return
        self._columns.truncate(kept)
        self._average = float(self._columns.column(2)[-1])
        x = self._columns.column(0)
        self._raw.setData(x, self._columns.column(1))
        self._smooth.setData(x, self._columns.column(2))
        first = math.floor(x[0])
        self._range = (first, epochs, float(self._columns.column(1).max()))
        self.plot_item.setRange(xRange=self._range[:2], yRange=(0, self._range[2]), padding=0.02)

    def clear(self) -> None:
        self._columns.clear()
        self._average = None
        self._range = None
        self._raw.setData([], [])
        self._smooth.setData([], [])


class EpochPlots(pg.GraphicsView):
    """Three plots per epoch: train and validation loss, validation accuracy, and the learning rate.

    A dashed vertical line marks the best epoch (the lowest validation loss) once the engine has named it.
    Not a pg.GraphicsLayoutWidget, which binds its layout's ``clear`` (removing the plots) over ours.
    """

    columns = 3  # how many plots side by side: as many as the width holds
    _plots: tuple[pg.PlotItem, ...] = ()

    def __init__(self, parent: QWidget | None = None) -> None:
        use_palette_colours()
        super().__init__(parent, background=background_color())
        self._layout = pg.GraphicsLayout()
        self.setCentralItem(self._layout)
        self.loss_plot = self._layout.addPlot(row=0, col=0)
        self.accuracy_plot = self._layout.addPlot(row=0, col=1)
        self.lr_plot = self._layout.addPlot(row=0, col=2)
        self._plots = (self.loss_plot, self.accuracy_plot, self.lr_plot)  # in their order, laid out by resizeEvent
        # The legend in the title: inside the plot it covered the validation loss whenever that rose at the end.
        style_plot(
            self.loss_plot,
            coloured_title("Loss", (("train", TRAIN_COLOR), ("validation", VAL_COLOR))),  # short: three fit in 560 px
            "epoch",
        )
        percent_axis(self.accuracy_plot)
        style_plot(self.accuracy_plot, "Validation accuracy (%)", "epoch")
        style_plot(self.lr_plot, "Learning rate", "epoch")
        self._train = _line_with_dots(self.loss_plot, TRAIN_COLOR, "train")
        self._val = _line_with_dots(self.loss_plot, VAL_COLOR, "validation")
        self._accuracy = _line_with_dots(self.accuracy_plot, ACCURACY_COLOR)
        self._lr = _line_with_dots(self.lr_plot, LR_COLOR)
        self.epochs: list[EpochMetrics] = []
        self.best_epoch: int | None = None
        pen = pg.mkPen(text_color(), width=1, style=Qt.PenStyle.DashLine)
        label = {"position": 0.92, "color": text_color(), "anchors": [(0, 0.5), (1, 0.5)]}
        self._best_lines = {
            self.loss_plot: pg.InfiniteLine(angle=90, pen=pen, movable=False, label="best", labelOpts=label),
            self.accuracy_plot: pg.InfiniteLine(angle=90, pen=pen, movable=False),
        }
        for plot, line in self._best_lines.items():
            line.setVisible(False)
            plot.addItem(line, ignoreBounds=True)  # the line must not stretch the view to an epoch not plotted
        # The best epoch's validation point, ringed, so the marker says which point it means.
        self._best_point = self.loss_plot.plot(
            pen=None, symbol="o", symbolSize=13, symbolBrush=None, symbolPen=pg.mkPen(VAL_COLOR, width=2)
        )

        # The view does not pass on its plots' minimum sizes: a narrow one cut the learning-rate plot off.
        self.setMinimumSize(max(self._plot_widths()), EPOCH_ROW_HEIGHT)

    def _plot_widths(self) -> list[int]:
        spacing = self._layout.layout.horizontalSpacing()
        return [math.ceil(p.effectiveSizeHint(Qt.SizeHint.MinimumSize).width() + spacing) for p in self._plots]

    def resizeEvent(self, event: QResizeEvent) -> None:
        """Lay the plots out in as many columns as fit the width (3, 2 or 1), each row at least EPOCH_ROW_HEIGHT."""
        if not self.closed:  # pyqtgraph's close() deletes the plots, then resizes the view
            self._fit_columns(self.width())  # first: the layout then takes the view's size
        super().resizeEvent(event)

    def _fit_columns(self, room: int) -> None:
        plots = self._plots
        if not plots:  # pyqtgraph's own __init__ resizes the view before the plots exist
            return
        widths = self._plot_widths()
        left, _, right, _ = self._layout.layout.getContentsMargins()
        room -= math.ceil(left + right)
        columns = next((n for n in (3, 2) if all(sum(widths[i : i + n]) <= room for i in range(0, 3, n))), 1)
        if columns == self.columns:
            return
        self.columns = columns
        # Moved within the grid itself: pyqtgraph's removeItem takes a plot out of the scene and its own records,
        # which only its addPlot reads, and nothing here calls that again.
        grid = self._layout.layout
        for plot in plots:
            grid.removeItem(plot)
        for i, plot in enumerate(plots):
            alone = i == len(plots) - 1 and i % columns == 0  # the last plot, alone in its row, takes the row
            grid.addItem(plot, i // columns, i % columns, 1, columns if alone else 1)
        self.setMinimumHeight(math.ceil(len(plots) / columns) * EPOCH_ROW_HEIGHT)

    def append(self, metrics: EpochMetrics) -> None:
        self.epochs.append(metrics)
        self._redraw()

    def set_history(self, history: Sequence[EpochMetrics]) -> None:
        """Show exactly these epochs (a saved model's history, or the epochs a continued run starts from)."""
        self.epochs = list(history)
        if self.epochs:
            self._redraw()
        else:
            self.clear()

    def set_best_epoch(self, epoch: int | None) -> None:
        """Mark ``epoch`` as the best one (its weights are the model's); None removes the mark."""
        self.best_epoch = epoch
        best = next((m for m in self.epochs if m.epoch == epoch and m.val_loss is not None), None)
        for line in self._best_lines.values():
            line.setVisible(epoch is not None)
            if epoch is not None:
                line.setValue(epoch)
        if best is None:
            self._best_point.setData([], [])
        else:
            self._best_point.setData([best.epoch], [best.val_loss])
        if epoch is not None:
            self._best_lines[self.loss_plot].label.setPosition(self._best_label_place(epoch))

    def _best_label_place(self, epoch: int) -> float:
        """Where along the best-epoch line its "best" label covers no loss point near that epoch.

        pyqtgraph puts the label on the side of the line with more room; this picks its height: the place in
        BEST_LABEL_PLACES clear of the points at that epoch and its neighbours, as fractions of the loss range.
        """
        values = [v for m in self.epochs for v in (m.train_loss, m.val_loss) if v is not None and math.isfinite(v)]
        if not values:
            return BEST_LABEL_PLACES[0]
        low, high = min(values), max(values)
        span = (high - low) or 1.0
        near = [
            (v - low) / span
            for m in self.epochs
            if abs(m.epoch - epoch) <= 1
            for v in (m.train_loss, m.val_loss)
            if v is not None and math.isfinite(v)
        ]
        room = {place: min((abs(place - f) for f in near), default=1.0) for place in BEST_LABEL_PLACES}
        # The first place with room for the text (about a fifth of the height), so the label does not jump about.
        return next((place for place in BEST_LABEL_PLACES if room[place] >= 0.2), max(room, key=room.__getitem__))

    def _redraw(self) -> None:
        x = [m.epoch for m in self.epochs]
        self._train.setData(x, [m.train_loss for m in self.epochs])
        self._lr.setData(x, [m.lr for m in self.epochs])
        _from_zero(self.lr_plot, [m.lr for m in self.epochs])
        for plot in (self.loss_plot, self.accuracy_plot, self.lr_plot):
            _whole_epochs(plot, x[-1])
            _epoch_range(plot, x[-1])
        validated = [m for m in self.epochs if m.val_loss is not None]  # none when the validation size is 0
        val_x = [m.epoch for m in validated]
        self._val.setData(val_x, [m.val_loss for m in validated])
        self._accuracy.setData(val_x, [100 * (m.val_accuracy or 0.0) for m in validated])
        self.set_best_epoch(self.best_epoch)  # its ringed point follows the epochs shown

    def clear(self) -> None:
        self.epochs = []
        for curve in (self._train, self._val, self._accuracy, self._lr):
            curve.setData([], [])
        self.set_best_epoch(None)
        # A new run starts from a fresh view, not the last run's ranges (nor a zoom the user left behind).
        for plot in (self.loss_plot, self.accuracy_plot, self.lr_plot):
            plot.setYRange(0, 100 if plot is self.accuracy_plot else 1, padding=0)
            plot.enableAutoRange(y=True)  # after setYRange, which turns it off
            _epoch_range(plot, 1)


class LearningRatePreview(_PlotView):
    """The learning rate of each epoch as the chosen scheduler will set it, shown before training."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("", "", parent)
        plot = self.plot_item
        plot.hideButtons()
        plot.setTitle(None)  # an empty title still took 30 of its 150 pixels, and the rates crowded together below
        self._curve = _line_with_dots(plot, LR_COLOR)
        self.rates: tuple[float, ...] = ()
        self.setMinimumHeight(100)
        self.setMaximumHeight(130)

    def set_rates(self, rates: Sequence[float]) -> None:
        self.rates = tuple(rates)
        if not shiboken6.isValid(self._curve.scatter):
            return  # the window is closing: pyqtgraph's close() deleted the plot's items before a late preview redraw
        self._curve.setData(np.arange(1, len(self.rates) + 1), np.array(self.rates, dtype=float))
        self._curve.setSymbolSize(4 if len(self.rates) <= 60 else 0)
        _from_zero(self.plot_item, self.rates)
        _whole_epochs(self.plot_item, len(self.rates))

    def clear(self) -> None:
        self.set_rates(())


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

    Cells are shaded by their share of the row: the diagonal in blue, mistakes in red. When the matrix is
    ``clickable`` (the test set's, whose images can be shown), clicking a count emits ``cell_clicked``.

    Signals:
        cell_clicked: (true class, predicted class) of the count clicked.
    """

    ACCURACY_COLUMN = NUM_CLASSES
    cell_clicked = Signal(int, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(NUM_CLASSES, NUM_CLASSES + 1, parent)
        # Columns are numbered like the rows: class names over ten count columns would not fit beside the plots.
        self.setHorizontalHeaderLabels([*map(str, range(NUM_CLASSES)), "Accuracy"])
        self.setVerticalHeaderLabels([f"{i}  {name}" for i, name in enumerate(CLASS_NAMES)])
        for column, name in enumerate(CLASS_NAMES):
            self.horizontalHeaderItem(column).setToolTip(f"predicted {name}")
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(self.ACCURACY_COLUMN, QHeaderView.ResizeMode.Fixed)
        header.resizeSection(self.ACCURACY_COLUMN, 64)
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.verticalHeader().setMinimumSectionSize(18)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setCornerButtonEnabled(False)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setItemDelegateForColumn(self.ACCURACY_COLUMN, _AccuracyBarDelegate(self))
        self.setToolTip("rows: the true class; columns: the class the network predicted")
        self._fit_counts(3)
        self.evaluation: Evaluation | None = None  # set when the matrix shown is an evaluation's (the test set's)
        self.confusion: tuple[tuple[int, ...], ...] | None = None
        self.clickable = False
        self.cellClicked.connect(self._on_cell_clicked)

    def _fit_counts(self, digits: int) -> None:
        """Columns wide enough for counts of ``digits`` digits in this font, and the view for every column.

        At 30 pixels a count of 1000 showed as "1..."; the splitter beside the view must not clip the accuracies.
        """
        header = self.horizontalHeader()
        header.setMinimumSectionSize(max(30, self.fontMetrics().horizontalAdvance("0" * digits) + 8))
        counts_width = NUM_CLASSES * header.minimumSectionSize() + header.sectionSize(self.ACCURACY_COLUMN)
        self.setMinimumWidth(self.verticalHeader().sizeHint().width() + counts_width + 2 * self.frameWidth() + 2)
        rows_height = NUM_CLASSES * self.verticalHeader().minimumSectionSize()  # and tall enough for every row
        self.setMinimumHeight(header.sizeHint().height() + rows_height + 2 * self.frameWidth())

    @property
    def total(self) -> int:
        """How many images the matrix counts."""
        return sum(map(sum, self.confusion)) if self.confusion else 0

    def set_evaluation(self, evaluation: Evaluation, clickable: bool = False) -> None:
        """Show an evaluation's matrix (the test set's, usually)."""
        self.set_confusion(evaluation.confusion, clickable)
        self.evaluation = evaluation

    def set_confusion(self, confusion: Sequence[Sequence[int]], clickable: bool = False) -> None:
        """Show a matrix of counts, e.g. an epoch's validation matrix; ``clickable`` when its images can be shown."""
        self.evaluation = None
        self.confusion = tuple(tuple(row) for row in confusion)
        self.clickable = clickable
        self._fit_counts(max(3, *(len(str(count)) for counts in self.confusion for count in counts)))
        hint = "; click it to see those test images" if clickable else ""
        for row, counts in enumerate(self.confusion):
            row_total = sum(counts)
            for column, count in enumerate(counts):
                self.setItem(row, column, self._count_item(row, column, count, count / max(1, row_total), hint))
            accuracy = counts[row] / max(1, row_total)
            item = QTableWidgetItem(f"{accuracy:.0%}")
            item.setData(Qt.ItemDataRole.UserRole, accuracy)
            item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
            self.setItem(row, self.ACCURACY_COLUMN, item)
        cursor = Qt.CursorShape.PointingHandCursor if clickable else Qt.CursorShape.ArrowCursor
        self.viewport().setCursor(cursor)

    def clear(self) -> None:
        self.evaluation = None
        self.confusion = None
        self.clickable = False
        self.viewport().unsetCursor()
        self.clearContents()

    @Slot(int, int)
    def _on_cell_clicked(self, row: int, column: int) -> None:
        if self.clickable and self.confusion is not None and column < self.ACCURACY_COLUMN:
            self.cell_clicked.emit(row, column)

    @staticmethod
    def _count_item(row: int, column: int, count: int, share: float, hint: str) -> QTableWidgetItem:
        item = QTableWidgetItem(str(count))
        item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
        item.setToolTip(
            f"{count} {CLASS_NAMES[row]} predicted as {CLASS_NAMES[column]} ({share:.1%} of the row)"
            f"{hint if count else ''}"
        )
        if count:
            # Mistakes are rarely more than a fifth of a row, so they get a steeper scale to stand out.
            strength = share if row == column else min(1.0, 4 * share)
            base = QColor(31, 119, 180) if row == column else QColor(214, 39, 40)
            item.setBackground(QColor(base.red(), base.green(), base.blue(), round(40 + 200 * strength)))
            if strength > 0.55:
                item.setForeground(QColor("white"))
        return item
