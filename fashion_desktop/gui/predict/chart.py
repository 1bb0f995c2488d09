"""The Predict tab's probability chart: one bar per class of the model."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QGuiApplication, QPalette
from PySide6.QtWidgets import QWidget

from fashion_desktop.core.spec import CLASS_NAMES

if TYPE_CHECKING:  # torch-backed modules: imported inside methods, so the window paints before torch loads
    from fashion_desktop.core.inference import Prediction


BAR_COLOUR = "#4c78a8"
TOP_BAR_COLOUR = "#e45756"


class ProbabilityChart(pg.PlotWidget):
    """One horizontal bar per class of the model (0..1), the most likely class in another colour.

    The classes are Fashion-MNIST's ten until ``set_class_names`` gives a model's own.
    """

    MAX_ROWS_TALL = 12  # the chart asks room for at most this many names: a 100-class model must not fill a screen

    def __init__(self, parent: QWidget | None = None) -> None:
        palette = QGuiApplication.palette()
        super().__init__(parent, background=palette.color(QPalette.ColorRole.Base))
        self._class_names: tuple[str, ...] = CLASS_NAMES
        plot = self.getPlotItem()
        plot.setMouseEnabled(x=False, y=False)
        plot.setMenuEnabled(False)
        plot.hideButtons()
        plot.showAxis("right")
        plot.showGrid(x=True, y=False, alpha=0.3)
        plot.invertY(True)  # the first class at the top, as in a table
        plot.setXRange(0, 1, padding=0.02)  # a little room, so the ticks at 0 and 1 are drawn
        plot.setLabel("bottom", "probability")
        text = palette.color(QPalette.ColorRole.Text)
        for name in ("left", "bottom", "right"):
            axis = plot.getAxis(name)
            axis.setPen(text)
            axis.setTextPen(text)
        plot.getAxis("bottom").setTicks([[(v, f"{v:g}") for v in (0, 0.25, 0.5, 0.75, 1)]])
        plot.getAxis("right").setWidth(60)  # room for "100.0%", so the bars do not move when the labels appear
        rows = np.arange(len(CLASS_NAMES))
        self.bars = pg.BarGraphItem(x0=0, y=rows, height=0.7, width=np.zeros(len(rows)), pen=pg.mkPen(None))
        plot.addItem(self.bars)
        self.set_class_names(CLASS_NAMES)

    def set_class_names(self, class_names: tuple[str, ...]) -> None:
        """Bars for these classes from now on, empty until a prediction; tall enough for their names."""
        self._class_names = tuple(class_names)
        # The names must fit one above another, however large the font (QT_SCALE_FACTOR=2 overlapped them)
        rows = min(len(class_names), self.MAX_ROWS_TALL)
        self.setMinimumHeight(rows * self.fontMetrics().height() + 30)
        self.clear_bars()

    @property
    def probabilities(self) -> tuple[float, ...]:
        """The bar lengths shown, one per class."""
        return tuple(float(w) for w in self.bars.opts["width"])

    def show_prediction(self, prediction: Prediction) -> None:
        self._draw(prediction.class_names, prediction.probabilities, prediction.top_index)

    def clear_bars(self) -> None:
        self._draw(self._class_names, (0.0,) * len(self._class_names), None)

    def _draw(self, class_names: tuple[str, ...], probabilities: tuple[float, ...], top: int | None) -> None:
        self._class_names = class_names
        rows = np.arange(len(class_names))
        colours = [TOP_BAR_COLOUR if i == top else BAR_COLOUR for i in rows]
        self.bars.setOpts(y=rows, width=np.asarray(probabilities, dtype=float), brushes=colours)
        plot = self.getPlotItem()
        plot.setYRange(-0.5, len(class_names) - 0.5, padding=0.02)
        left = plot.getAxis("left")
        left.setTicks([list(enumerate(class_names))])
        # Wide enough for the longest name from the start: pyqtgraph widens the axis only after a paint, and
        # until then drops every name that does not fit (a grab showed only "Coat", "Shirt" and "Bag").
        metrics = self.fontMetrics()
        left.setWidth(max(metrics.horizontalAdvance(name) for name in class_names) + metrics.height())
        percentages = [f"{p:.1%}" if top is not None else "" for p in probabilities]
        plot.getAxis("right").setTicks([list(enumerate(percentages))])
