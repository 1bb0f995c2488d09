"""The Predict tab's image views: a pixmap that keeps its aspect ratio, and numpy arrays as pixmaps."""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QColor, QGuiApplication, QImage, QPainter, QPalette, QPixmap, QResizeEvent
from PySide6.QtWidgets import QFrame, QLabel, QSizePolicy, QWidget

from fashion_desktop.core.imaging import MODEL_SIZE
from fashion_desktop.gui.forms import blend, is_dark

ICON_SIZE = 56  # the image list's thumbnails
# Banner kinds by their tint, mixed into the palette's window colour under its text, so they read in a dark theme
HINT_STYLE, ERROR_STYLE, DONE_STYLE = "hint", "error", "done"
_BANNER_TINTS = {HINT_STYLE: QColor(255, 193, 7), ERROR_STYLE: QColor(220, 53, 69), DONE_STYLE: QColor(25, 135, 84)}


class PixmapView(QLabel):
    """A pixmap scaled to fit with its aspect ratio kept; enlarged by whole pixels so small images stay sharp."""

    def __init__(self, placeholder: str, parent: QWidget | None = None) -> None:
        super().__init__(placeholder, parent)
        self._placeholder = placeholder
        self._text = placeholder  # shown while there is no pixmap
        self._source = QPixmap()
        self.setWordWrap(True)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)  # the pixmap follows the layout
        self.setMinimumSize(110, 110)

    def source(self) -> QPixmap:
        """The pixmap at its own size, before scaling."""
        return self._source

    def set_source(self, pixmap: QPixmap | None, text: str | None = None) -> None:
        """Show ``pixmap``; without one, ``text`` (why there is none), else the placeholder."""
        self._source = pixmap if pixmap is not None else QPixmap()
        self._text = text if text is not None else self._placeholder
        self._rescale()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._rescale()

    def _rescale(self) -> None:
        if self._source.isNull():
            self.setText(self._text)
            return
        room = self.contentsRect().size()
        scale = min(room.width() / self._source.width(), room.height() / self._source.height())
        mode = Qt.TransformationMode.SmoothTransformation
        if scale >= 2:  # nearest neighbour at a whole factor: every model pixel shows as a crisp square
            scale = math.floor(scale)
            mode = Qt.TransformationMode.FastTransformation
        size = QSize(max(1, round(self._source.width() * scale)), max(1, round(self._source.height() * scale)))
        self.setPixmap(self._source.scaled(size, Qt.AspectRatioMode.KeepAspectRatio, mode))


def saliency_scale(overlay: object, height: int) -> QPixmap:
    """The overlay's colours from no effect (grey) to the most (yellow), drawn by the core's own ``overlay``."""
    grey = np.full((MODEL_SIZE, MODEL_SIZE), 128, np.uint8)
    heat = np.tile(np.linspace(0.0, 1.0, MODEL_SIZE, dtype=np.float32), (MODEL_SIZE, 1))
    row = overlay(grey, heat)[:1]  # type: ignore[operator]
    strip = rgb_pixmap(np.ascontiguousarray(np.repeat(row, 2, axis=0)))
    strip = strip.scaled(
        200, max(8, height // 2), Qt.AspectRatioMode.IgnoreAspectRatio, Qt.TransformationMode.SmoothTransformation
    )
    labelled = QPixmap(strip.width(), strip.height() + height + 2)
    labelled.fill(Qt.GlobalColor.transparent)
    painter = QPainter(labelled)
    painter.drawPixmap(0, 0, strip)
    painter.setPen(QGuiApplication.palette().color(QPalette.ColorRole.WindowText))
    below = labelled.rect().adjusted(0, strip.height() + 2, 0, 0)
    painter.drawText(below, Qt.AlignmentFlag.AlignLeft, "no effect")
    painter.drawText(below, Qt.AlignmentFlag.AlignRight, "the most")
    painter.end()
    return labelled


def list_icon(pixmap: QPixmap) -> QPixmap:
    """The pixmap scaled into a square, centred, so that every item's text starts at the same place."""
    icon = QPixmap(ICON_SIZE, ICON_SIZE)
    icon.fill(Qt.GlobalColor.transparent)
    scaled = pixmap.scaled(
        ICON_SIZE, ICON_SIZE, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
    )
    painter = QPainter(icon)
    painter.drawPixmap((ICON_SIZE - scaled.width()) // 2, (ICON_SIZE - scaled.height()) // 2, scaled)
    painter.end()
    return icon


def grey_pixmap(pixels: np.ndarray) -> QPixmap:
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    height, width = pixels.shape
    qimage = QImage(pixels.tobytes(), width, height, width, QImage.Format.Format_Grayscale8)
    return QPixmap.fromImage(qimage.copy())


def rgb_pixmap(pixels: np.ndarray) -> QPixmap:
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    height, width, _ = pixels.shape
    qimage = QImage(pixels.tobytes(), width, height, 3 * width, QImage.Format.Format_RGB888)
    return QPixmap.fromImage(qimage.copy())


def rgba_pixmap(pixels: np.ndarray) -> QPixmap:
    height, width, _ = pixels.shape
    qimage = QImage(pixels.tobytes(), width, height, 4 * width, QImage.Format.Format_RGBA8888)
    return QPixmap.fromImage(qimage.copy())  # copy: the QImage only borrows the bytes object


def style_banner(label: QLabel, kind: str, palette: QPalette) -> None:
    """Tint a banner label by its kind (``HINT_STYLE``, ...) within ``palette``; call again when the palette changes."""
    window = palette.color(QPalette.ColorRole.Window)
    tint = _BANNER_TINTS[kind]
    background = blend(window, tint, 0.3 if is_dark(palette) else 0.18)
    border = blend(window, tint, 0.6)
    text = palette.color(QPalette.ColorRole.WindowText)
    label.setStyleSheet(
        f"background: {background.name()}; color: {text.name()}; border: 1px solid {border.name()};"
        " border-radius: 4px; padding: 6px;"
    )


def input_pixmap(pixels: np.ndarray) -> QPixmap:
    """A model input as a pixmap: (H, W) grey or (H, W, 3) colour uint8."""
    return grey_pixmap(pixels) if pixels.ndim == 2 else rgb_pixmap(pixels)
