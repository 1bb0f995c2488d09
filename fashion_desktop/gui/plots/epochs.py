"""The plots of each epoch (loss, validation accuracy, learning rate) and the learning-rate preview, on epoch axes."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
import shiboken6
from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QColor, QResizeEvent
from PySide6.QtWidgets import QWidget

from fashion_desktop.core.metrics import EpochMetrics
from fashion_desktop.gui.plots.interactive import InteractivePlots, PlotView, ReadoutCurve, is_log_y
from fashion_desktop.gui.plots.style import (
    ACCURACY_COLOR,
    LR_COLOR,
    TRAIN_COLOR,
    VAL_COLOR,
    PowersOfTenAxis,
    coloured_title,
    faint,
    percent_axis,
    style_plot,
    text_color,
)

WHOLE_EPOCH_TICKS = 80  # up to this many epochs the axis is ticked at whole-epoch steps of our choosing
BEST_LABEL_PLACES = (0.92, 0.08, 0.5)  # where along the best-epoch line its label may go (0 bottom, 1 top)
EPOCH_ROW_HEIGHT = 150  # pixels: the least height of a row of epoch plots


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


class EpochPlots(InteractivePlots):
    """Three plots per epoch: train and validation loss, validation accuracy, and the learning rate.

    A dashed vertical line marks the best epoch (the lowest validation loss) once the engine has named it, a solid
    one the epoch whose validation matrix the results show. Hovering names the values of the epoch under the
    mouse; right-click a plot for a log scale (loss, learning rate) or to export it.
    Not a pg.GraphicsLayoutWidget, which binds its layout's ``clear`` (removing the plots) over ours.
    """

    LOSS_LOG_SETTING = "plots/log_epoch_loss"
    LR_LOG_SETTING = "plots/log_learning_rate"
    columns = 3  # how many plots side by side: as many as the width holds
    _plots: tuple[pg.PlotItem, ...] = ()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = pg.GraphicsLayout()
        self.setCentralItem(self._layout)
        self.loss_plot = self._layout.addPlot(row=0, col=0, axisItems={"left": PowersOfTenAxis("left")})
        self.accuracy_plot = self._layout.addPlot(row=0, col=1)
        self.lr_plot = self._layout.addPlot(row=0, col=2, axisItems={"left": PowersOfTenAxis("left")})
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
        self.matrix_epoch: int | None = None
        pen = pg.mkPen(text_color(), width=1, style=Qt.PenStyle.DashLine)
        label = {"position": 0.92, "color": text_color(), "anchors": [(0, 0.5), (1, 0.5)]}
        self._best_lines = {
            self.loss_plot: pg.InfiniteLine(angle=90, pen=pen, movable=False, label="best", labelOpts=label),
            self.accuracy_plot: pg.InfiniteLine(angle=90, pen=pen, movable=False),
        }
        # The epoch of the matrix shown beside: a band of the accuracy's colour behind the points, labelled there.
        band = pg.mkPen(faint(ACCURACY_COLOR), width=7)
        matrix_label = {"position": 0.08, "color": ACCURACY_COLOR, "anchors": [(0, 0.5), (1, 0.5)]}
        self._matrix_lines = {
            self.loss_plot: pg.InfiniteLine(angle=90, pen=band, movable=False),
            self.accuracy_plot: pg.InfiniteLine(
                angle=90, pen=band, movable=False, label="matrix", labelOpts=matrix_label
            ),
        }
        for plot, line in [*self._best_lines.items(), *self._matrix_lines.items()]:
            line.setVisible(False)
            plot.addItem(line, ignoreBounds=True)  # the line must not stretch the view to an epoch not plotted
        for line in self._matrix_lines.values():
            line.setZValue(-10)  # behind the curves
        # The best epoch's validation point, ringed, so the marker says which point it means.
        self._best_point = self.loss_plot.plot(
            pen=None, symbol="o", symbolSize=13, symbolBrush=None, symbolPen=pg.mkPen(VAL_COLOR, width=2)
        )
        self.add_readout(
            self.loss_plot,
            (ReadoutCurve("train", self._train, TRAIN_COLOR), ReadoutCurve("validation", self._val, VAL_COLOR)),
            _describe_epoch,
        )
        self.add_readout(
            self.accuracy_plot, (ReadoutCurve("accuracy", self._accuracy, ACCURACY_COLOR, "{:.1f}%"),), _describe_epoch
        )
        self.add_readout(self.lr_plot, (ReadoutCurve("learning rate", self._lr, LR_COLOR, "{:.3g}"),), _describe_epoch)
        self.add_plot_menu(self.loss_plot, "loss-per-epoch", self.LOSS_LOG_SETTING)
        self.add_plot_menu(self.accuracy_plot, "validation-accuracy")
        self.add_plot_menu(self.lr_plot, "learning-rate", self.LR_LOG_SETTING)
        self.log_scale_changed.connect(self._on_log_scale_changed)
        self.setToolTip("right-click a plot for a log scale or to export it")

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

    def set_matrix_epoch(self, epoch: int | None) -> None:
        """Mark ``epoch`` as the one whose validation matrix is shown; None (the test set's, or none) removes it."""
        self.matrix_epoch = epoch
        for line in self._matrix_lines.values():
            line.setVisible(epoch is not None)
            if epoch is not None:
                line.setValue(epoch)

    def _best_label_place(self, epoch: int) -> float:
        """Where along the best-epoch line its "best" label covers no loss point near that epoch.

        pyqtgraph puts the label on the side of the line with more room; this picks its height: the place in
        BEST_LABEL_PLACES clear of the points at that epoch and its neighbours, as fractions of the loss range.
        """
        log = is_log_y(self.loss_plot)

        def height(value: float | None) -> float | None:
            """The value as the axis places it (its logarithm on a log axis), None where it is not drawn."""
            if value is None or not math.isfinite(value) or (log and value <= 0):
                return None
            return math.log10(value) if log else value

        values = [h for m in self.epochs for v in (m.train_loss, m.val_loss) if (h := height(v)) is not None]
        if not values:
            return BEST_LABEL_PLACES[0]
        low, high = min(values), max(values)
        span = (high - low) or 1.0
        near = [
            (h - low) / span
            for m in self.epochs
            if abs(m.epoch - epoch) <= 1
            for v in (m.train_loss, m.val_loss)
            if (h := height(v)) is not None
        ]
        room = {place: min((abs(place - f) for f in near), default=1.0) for place in BEST_LABEL_PLACES}
        # The first place with room for the text (about a fifth of the height), so the label does not jump about.
        return next((place for place in BEST_LABEL_PLACES if room[place] >= 0.2), max(room, key=room.__getitem__))

    def _redraw(self) -> None:
        x = [m.epoch for m in self.epochs]
        self._train.setData(x, [m.train_loss for m in self.epochs])
        self._lr.setData(x, [m.lr for m in self.epochs])
        self._lr_range()
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
        self.set_matrix_epoch(None)
        self.hide_readouts()
        # A new run starts from a fresh view, not the last run's ranges (nor a zoom the user left behind).
        for plot in (self.loss_plot, self.accuracy_plot, self.lr_plot):
            plot.setYRange(0, 100 if plot is self.accuracy_plot else 1, padding=0)
            plot.enableAutoRange(y=True)  # after setYRange, which turns it off
            _epoch_range(plot, 1)

    def _lr_range(self) -> None:
        """From zero on a linear axis, so a constant rate does not sit mid-range; a decade either side on a log one."""
        rates = [m.lr for m in self.epochs if m.lr > 0]
        if is_log_y(self.lr_plot):
            # A decade either side: a constant rate's range of no height got a label on every minor tick, overlapping.
            if rates:
                self.lr_plot.setYRange(math.log10(min(rates)) - 1, math.log10(max(rates)) + 1, padding=0)
        else:
            _from_zero(self.lr_plot, [m.lr for m in self.epochs])

    @Slot(object)
    def _on_log_scale_changed(self, plot: pg.PlotItem) -> None:
        if plot is self.lr_plot:
            self._lr_range()
        else:
            plot.enableAutoRange(y=True)
        self.set_best_epoch(self.best_epoch)  # its label's place depends on the scale


def _describe_epoch(x: float) -> str:
    return f"epoch {round(x)}"


class LearningRatePreview(PlotView):
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
        if self.closed or not shiboken6.isValid(self._curve.scatter):
            return  # the window is closing: pyqtgraph's close() deleted the plot's items before a late preview redraw
        self._curve.setData(np.arange(1, len(self.rates) + 1), np.array(self.rates, dtype=float))
        self._curve.setSymbolSize(4 if len(self.rates) <= 60 else 0)
        _from_zero(self.plot_item, self.rates)
        _whole_epochs(self.plot_item, len(self.rates))

    def clear(self) -> None:
        self.set_rates(())
