"""What every Learn experiment page shares: a title, a two-line explanation, the formula, controls and a plot."""

from __future__ import annotations

import time
from collections.abc import Sequence

import pyqtgraph as pg
from PySide6.QtCore import QSignalBlocker, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QColor, QFont, QShowEvent
from PySide6.QtWidgets import QFormLayout, QFrame, QHBoxLayout, QLabel, QScrollArea, QSlider, QVBoxLayout, QWidget

from fashion_desktop.gui.plots.style import background_color, style_plot, text_color

# Distinct colours for curves drawn side by side (Tableau 10), so a legend tells them apart.
PALETTE = (
    QColor(31, 119, 180),
    QColor(255, 127, 14),
    QColor(44, 160, 44),
    QColor(214, 39, 40),
    QColor(148, 103, 189),
    QColor(140, 86, 75),
    QColor(227, 119, 194),
    QColor(127, 127, 127),
    QColor(188, 189, 34),
    QColor(23, 190, 207),
)
CONTROLS_WIDTH = 300  # pixels; the plot takes the rest


def colour(index: int) -> QColor:
    return PALETTE[index % len(PALETTE)]


class ValueSlider(QWidget):
    """A slider over a list of values (evenly spaced or logarithmic) with the chosen value shown beside it.

    Signals:
        value_changed: the new value, as the slider moves.
    """

    value_changed = Signal(float)

    def __init__(self, values: Sequence[float], value: float, decimals: int = 2, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._values = list(values)
        self._decimals = decimals
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, len(self._values) - 1)
        self.slider.setPageStep(max(1, len(self._values) // 10))
        self.label = QLabel()
        self.label.setMinimumWidth(56)
        self.label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.label)
        self.slider.valueChanged.connect(self._on_slider_value_changed)
        self.set_value(value)

    def value(self) -> float:
        return self._values[self.slider.value()]

    def set_value(self, value: float) -> None:
        """Move to the listed value nearest ``value``, without emitting ``value_changed``."""
        nearest = min(range(len(self._values)), key=lambda i: abs(self._values[i] - value))
        with QSignalBlocker(self.slider):
            self.slider.setValue(nearest)
        self._show()

    def _show(self) -> None:
        value = self.value()
        self.label.setText(f"{value:.{self._decimals}f}" if self._decimals >= 0 else f"{value:g}")

    @Slot(int)
    def _on_slider_value_changed(self, _position: int) -> None:
        self._show()
        self.value_changed.emit(self.value())


def linear_values(start: float, stop: float, step: float) -> list[float]:
    count = round((stop - start) / step)
    return [round(start + i * step, 10) for i in range(count + 1)]


def log_values(start: float, stop: float, per_decade: int = 12) -> list[float]:
    """Values from ``start`` to ``stop`` spaced evenly on a log scale, rounded to 3 significant digits."""
    import math

    count = round(math.log10(stop / start) * per_decade)
    return [float(f"{start * 10 ** (i / per_decade):.3g}") for i in range(count + 1)]


class ExperimentPage(QWidget):
    """One experiment: explanation and formula on top, controls on the left, plots on the right.

    Subclasses build their controls into ``self.controls`` and their plots into ``self.plots``, and draw in
    ``redraw()``; settings changes call ``schedule_update()``, which coalesces a slider's bursts into one
    redraw on the next turn of the event loop. Pages that need PyTorch wait for ``on_core_ready()``.
    """

    title = ""
    explanation = ""
    formula = ""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.core_ready = False
        self.slowest_update_ms = 0.0  # the longest redraw so far, for the benchmarks and the report
        self.last_update_ms = 0.0
        self._stale = True
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self.update_now)

        heading = QLabel(self.title)
        font = QFont(heading.font())
        font.setPointSizeF(font.pointSizeF() * 1.3)
        font.setBold(True)
        heading.setFont(font)
        self.explanation_label = QLabel(self.explanation)
        self.explanation_label.setWordWrap(True)
        self.formula_label = QLabel(self.formula)
        self.formula_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        formula_font = QFont("DejaVu Serif")
        formula_font.setStyleHint(QFont.StyleHint.Serif)
        formula_font.setPointSizeF(self.formula_label.font().pointSizeF() * 1.1)
        self.formula_label.setFont(formula_font)
        self.formula_label.setWordWrap(True)
        self.status_label = QLabel()  # the numbers the plot shows, in words
        self.status_label.setWordWrap(True)

        self.controls = QFormLayout()
        controls_widget = QWidget()
        controls_column = QVBoxLayout(controls_widget)
        controls_column.setContentsMargins(0, 0, 0, 0)
        controls_column.addLayout(self.controls)
        self.controls_column = controls_column
        self.plots = pg.GraphicsLayoutWidget()
        self.plots.setBackground(None)
        self.plots.setMinimumSize(320, 240)

        # The controls scroll rather than set a minimum height: the window may be made smaller than they are.
        controls_scroll = QScrollArea()
        controls_scroll.setWidget(controls_widget)
        controls_scroll.setWidgetResizable(True)
        controls_scroll.setFrameShape(QFrame.Shape.NoFrame)
        controls_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        controls_scroll.setFixedWidth(CONTROLS_WIDTH + controls_scroll.verticalScrollBar().sizeHint().width())
        body = QHBoxLayout()
        body.addWidget(controls_scroll)
        body.addWidget(self.plots, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addWidget(self.explanation_label)
        layout.addWidget(self.formula_label)
        layout.addLayout(body, 1)
        layout.addWidget(self.status_label)

    # -- the interface the tab uses --
    def on_core_ready(self) -> None:
        self.core_ready = True
        if self.isVisible():
            self.schedule_update()

    def schedule_update(self) -> None:
        """Redraw soon: now if the page is shown, else when it is next shown."""
        self._stale = True
        if self.isVisible():
            self._timer.start()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._stale:
            self._timer.start()

    @Slot()
    def update_now(self) -> None:
        """Redraw at once, timing it."""
        self._timer.stop()
        if not self.isVisible():  # hidden since the update was scheduled: redraw when shown again
            self._stale = True
            return
        if self.needs_core and not self.core_ready:
            self.status_label.setText("Waiting for PyTorch to load...")
            return
        started = time.perf_counter()
        self.redraw()
        self._stale = False
        self.last_update_ms = (time.perf_counter() - started) * 1000
        self.slowest_update_ms = max(self.slowest_update_ms, self.last_update_ms)

    # -- for the subclasses --
    needs_core = True

    def redraw(self) -> None:
        raise NotImplementedError

    def add_plot(
        self,
        title: str,
        x_label: str,
        y_label: str = "",
        row: int | None = None,
        col: int | None = None,
        rowspan: int = 1,
        legend: bool = True,
    ) -> pg.PlotItem:
        """A styled plot in the page's plot area, with a legend unless ``legend`` is False."""
        plot = self.plots.addPlot(row=row, col=col, rowspan=rowspan)
        style_plot(plot, title, x_label, y_label)
        plot.setMouseEnabled(x=False, y=False)
        if legend:
            item = plot.addLegend(offset=(-8, 8), labelTextColor=text_color())
            shade = background_color()
            shade.setAlpha(210)  # over the grid, so the labels stay readable
            item.setBrush(pg.mkBrush(shade))
        return plot

    @staticmethod
    def show_in_legend(plot: pg.PlotItem, items: list[tuple[pg.PlotDataItem, str]]) -> None:
        """List only these curves in the plot's legend (the others are hidden or empty)."""
        plot.legend.clear()
        for item, name in items:
            plot.legend.addItem(item, name)

    def add_row(self, label: str, widget: QWidget) -> QWidget:
        self.controls.addRow(label, widget)
        return widget
