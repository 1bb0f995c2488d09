"""The colour each run draws in, shared by the table (a swatch beside its name), the curves and the comparison."""

from __future__ import annotations

from PySide6.QtGui import QColor, QIcon, QPixmap

# Matplotlib's tab10, the palette of plots/style.py, so a run's colour reads like the training plots.
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


def slot_color(slot: int) -> QColor:
    return RUN_COLORS[slot % len(RUN_COLORS)]


def swatch(color: QColor) -> QIcon:
    """A small square of a curve's colour, for the table and the difference table's headers."""
    pixmap = QPixmap(10, 10)
    pixmap.fill(color)
    return QIcon(pixmap)
