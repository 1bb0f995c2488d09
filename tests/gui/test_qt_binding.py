"""Guards against a Qt binding that would crash a long session."""

import sys

from PySide6.QtGui import QImage, QPainter, QPen


def test_void_qt_calls_do_not_drop_references_to_none(qapp):
    """PySide6 6.12.0 loses a reference to None on every void call; Python 3.11 then aborts (none_dealloc)."""
    image = QImage(8, 8, QImage.Format.Format_RGB32)
    painter = QPainter(image)
    before = sys.getrefcount(None)
    for _ in range(1000):
        painter.setPen(QPen())
    after = sys.getrefcount(None)
    painter.end()
    assert after - before > -100, f"None lost {before - after} references in 1000 QPainter.setPen calls"
