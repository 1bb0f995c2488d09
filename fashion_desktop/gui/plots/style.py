"""The plots' look: the curves' colours, and titles, grids and value axes that follow the application palette."""

from __future__ import annotations

from collections.abc import Sequence

import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor, QGuiApplication, QPalette

TRAIN_COLOR = QColor(31, 119, 180)
VAL_COLOR = QColor(255, 127, 14)
ACCURACY_COLOR = QColor(44, 160, 44)
LR_COLOR = QColor(148, 103, 189)


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


def background_color() -> QColor:
    return QGuiApplication.palette().color(QPalette.ColorRole.Base)


def faint(color: QColor) -> QColor:
    """``color`` a third of the way from the background: solid, because blending a translucent pen costs more."""
    pairs = zip(color.getRgb()[:3], background_color().getRgb()[:3], strict=True)
    return QColor(*(round(c + (b - c) * 2 / 3) for c, b in pairs))


def percent_axis(plot: pg.PlotItem) -> None:
    """Keep a percentage plot within 0..100: auto-range padding showed an accuracy axis up to 100.4%.

    Call it before ``style_plot``: it replaces the left axis.
    """
    plot.setAxisItems({"left": _EdgeLabelAxis("left")})
    plot.setLimits(yMin=0, yMax=100)


class PowersOfTenAxis(pg.AxisItem):
    """A value axis that, on a log scale, labels only the powers of ten (0.001, 0.01, ...).

    pyqtgraph labels the minor ticks (2, 3, ... 9 times a power) too, and on a short plot spanning a decade or two
    their labels ran into one another.
    """

    def logTickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        labels = super().logTickStrings(values, scale, spacing)
        return [label if abs(value - round(value)) < 1e-6 else "" for value, label in zip(values, labels, strict=True)]


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
