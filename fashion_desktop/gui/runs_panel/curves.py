"""The overlaid curves of the selected runs: validation loss (train loss faint) and validation accuracy per epoch."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QFontMetrics, QResizeEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from fashion_desktop.core.metrics import EpochMetrics
from fashion_desktop.gui.plots.style import background_color, faint, percent_axis, style_plot, text_color
from fashion_desktop.gui.runs_panel.colors import RUN_COLORS, slot_color

_LEGEND_NAME_CHARS = 28  # longer run names are cut in the legend, which sits over the curves
_LOSS_TITLES = ("Validation loss (faint: train)", "Val. loss")  # (when there is room, when narrow)
_ACCURACY_TITLES = ("Validation accuracy (%)", "Val. acc. %")
_AXIS_WIDTH = 45  # pixels: a left axis with its tick labels, beside each title


class RunCurves(pg.GraphicsView):
    """The validation loss (train loss faint) and validation accuracy per epoch of several runs, overlaid.

    Not a pg.GraphicsLayoutWidget, which binds its layout's ``clear`` over ours (as in plots/epochs.py).
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
