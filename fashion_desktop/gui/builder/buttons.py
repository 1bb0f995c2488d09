"""The Builder's push buttons, and the arrow icons drawn for them in the palette's colours."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap, QPolygonF
from PySide6.QtWidgets import QPushButton


def push_button(text: str, slot: Callable[[], object], tip: str, icon: QIcon | None = None) -> QPushButton:
    """A push button that calls ``slot`` when clicked, with ``tip`` as its tooltip."""
    button = QPushButton(icon or QIcon(), text)
    button.setToolTip(tip)
    button.clicked.connect(slot)
    return button


def arrow_icon(direction: str, colour: QColor, ratio: float) -> QIcon:
    """A filled triangle pointing ``direction`` in ``colour``, sharp at the screen's pixel ratio."""
    size = 16
    pixmap = QPixmap(round(size * ratio), round(size * ratio))
    pixmap.setDevicePixelRatio(ratio)
    pixmap.fill(Qt.GlobalColor.transparent)
    points = {
        "left": ((11, 3), (4, 8), (11, 13)),
        "right": ((5, 3), (12, 8), (5, 13)),
        "up": ((3, 11), (8, 4), (13, 11)),
        "down": ((3, 5), (8, 12), (13, 5)),
    }[direction]
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(colour)
    painter.drawPolygon(QPolygonF([QPointF(x, y) for x, y in points]))
    painter.end()
    return QIcon(pixmap)
