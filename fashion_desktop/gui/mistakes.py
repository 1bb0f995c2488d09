"""The gallery of the test images behind a cell of the confusion matrix (``core.predictions`` computes them)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QEvent, QObject, QSize, Qt, Signal, Slot
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from fashion_desktop.core.spec import CLASS_NAMES

if TYPE_CHECKING:  # torch-dependent, imported where used so the window paints before torch loads
    from fashion_desktop.core.explain import Mistake

MAX_SHOWN = 200  # a cell of the real test set can hold 900 images; more than a few hundred is only scrolling
SCALE = 3  # each of the 28x28 pixels drawn as a crisp 3x3 block
IMAGE_SIZE = 28


@dataclass(frozen=True)
class TestImage:
    """A test image chosen in the gallery, to try on the Predict tab."""

    __test__ = False  # not a pytest test class, whatever its name says

    image: np.ndarray  # (28, 28) uint8, as stored in Fashion-MNIST: a bright garment on black
    true_class: int
    index: int  # in the test set


class MistakesGallery(QDialog):
    """A non-modal window of the test images of one confusion-matrix cell, each with the model's top three classes.

    Off the diagonal, the model's most confident mistakes come first; on it, the correct answers it was least
    sure of. Clicking an image emits ``test_image_chosen``.

    Signals:
        test_image_chosen: the TestImage clicked.
    """

    test_image_chosen = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setModal(False)
        self.setWindowTitle("Test images")
        self.summary_label = QLabel(wordWrap=True)
        self.summary_label.setTextFormat(Qt.TextFormat.PlainText)
        side = IMAGE_SIZE * SCALE
        self.image_list = QListWidget()
        self.image_list.setViewMode(QListView.ViewMode.IconMode)
        self.image_list.setMovement(QListView.Movement.Static)
        self.image_list.setResizeMode(QListView.ResizeMode.Adjust)
        self.image_list.setIconSize(QSize(side, side))
        # Room for the image and three lines of "Ankle boot 100%" below it: as wide as the widest caption in
        # this font ("Shirt <1%..." was cut in a 124-pixel cell), never narrower than the image.
        metrics = self.image_list.fontMetrics()
        caption = max(
            metrics.horizontalAdvance(f"{name} {percent}") for name in CLASS_NAMES for percent in ("100%", "<1%")
        )
        self._least_cell = QSize(max(side, caption) + 16, side + 3 * metrics.height() + 18)
        self.image_list.setGridSize(self._least_cell)
        self.image_list.viewport().installEventFilter(self)  # the columns follow its width
        # Not uniform: every item took the first one's size, and a wider caption further on was cut ("Ankle boot ...").
        self.image_list.setUniformItemSizes(False)
        # No wrapping: below an icon Qt wraps (and elides) text at the icon's width, which cut "Ankle boot 1%".
        self.image_list.setWordWrap(False)
        self.image_list.setSpacing(4)
        self.image_list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.image_list.setCursor(Qt.CursorShape.PointingHandCursor)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary_label)
        layout.addWidget(self.image_list, 1)
        layout.addWidget(buttons)
        self.resize(760, 600)
        self.image_list.itemClicked.connect(self._on_image_list_item_clicked)
        self.mistakes: tuple[Mistake, ...] = ()  # every image of the cell, in the gallery's order
        self.cell: tuple[int, int] | None = None
        self._images: np.ndarray = np.zeros((0, IMAGE_SIZE, IMAGE_SIZE), np.uint8)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.image_list.viewport() and event.type() == QEvent.Type.Resize:
            self._fit_columns(self.image_list.viewport().width())
        return super().eventFilter(watched, event)

    def _fit_columns(self, width: int) -> None:
        """As many columns as ``width`` holds, the room left over shared among them.

        A fixed cell width left an empty strip beside the grid.
        """
        spacing = self.image_list.spacing()  # Qt adds it to every cell of the grid, and once more at the edge
        columns = max(1, (width - spacing) // (self._least_cell.width() + spacing))
        cell = QSize(max(self._least_cell.width(), (width - spacing) // columns - spacing), self._least_cell.height())
        if cell != self.image_list.gridSize():
            self.image_list.setGridSize(cell)

    @property
    def shown(self) -> int:
        """How many images the gallery shows (at most MAX_SHOWN)."""
        return self.image_list.count()

    def show_cell(
        self,
        true_class: int,
        predicted_class: int,
        mistakes: Sequence[Mistake],
        images: np.ndarray,
        class_names: Sequence[str] = CLASS_NAMES,
    ) -> None:
        """Fill the gallery with one cell's images and bring it to the front.

        Args:
            true_class: The cell's row.
            predicted_class: The cell's column.
            mistakes: The cell's images, in order, from ``mistakes_from``.
            images: The whole test set's images, (N, 28, 28) uint8; ``Mistake.index`` points into it.
            class_names: The names of the classes, in class order.
        """
        self.cell, self.mistakes, self._images = (true_class, predicted_class), tuple(mistakes), images
        true_name, predicted_name = class_names[true_class], class_names[predicted_class]
        self.setWindowTitle(f"{true_name} predicted as {predicted_name}")
        diagonal = true_class == predicted_class
        self.summary_label.setText(_summary(len(self.mistakes), true_name, predicted_name, diagonal))
        self.image_list.clear()
        ratio = self.devicePixelRatioF()
        for mistake in self.mistakes[:MAX_SHOWN]:
            item = QListWidgetItem(QIcon(_pixmap(images[mistake.index], ratio)), _top3_text(mistake, class_names))
            item.setData(Qt.ItemDataRole.UserRole, mistake.index)
            item.setToolTip(_tooltip(mistake, class_names))
            item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
            self.image_list.addItem(item)
        self.image_list.scrollToTop()
        self.show()
        self.raise_()
        self.activateWindow()

    @Slot(QListWidgetItem)
    def _on_image_list_item_clicked(self, item: QListWidgetItem) -> None:
        if self.cell is None:
            return
        index = int(item.data(Qt.ItemDataRole.UserRole))
        # A copy: the receiver may keep the image while the gallery moves on to another model's test set.
        self.test_image_chosen.emit(TestImage(self._images[index].copy(), self.cell[0], index))


def _a(name: str) -> str:
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


def _summary(count: int, true_name: str, predicted_name: str, diagonal: bool) -> str:
    if count == 0:
        return f"No test image of {_a(true_name)} was predicted as {predicted_name}."
    images = "image" if count == 1 else "images"
    if diagonal:
        text = (
            f"{count:,} test {images} of {_a(true_name)}, predicted correctly; the ones the model was least "
            "sure of come first."
        )
    else:
        text = (
            f"{count:,} test {images} of {_a(true_name)}, predicted as {predicted_name}; the most confident "
            "mistakes come first."
        )
    if count > MAX_SHOWN:
        text += f" Showing the first {MAX_SHOWN}."
    return text + " Click an image to try it on the Predict tab."


def _percent(probability: float) -> str:
    return "<1%" if probability < 0.005 else f"{probability:.0%}"


def _top3_text(mistake: Mistake, class_names: Sequence[str]) -> str:
    return "\n".join(f"{class_names[c]} {_percent(p)}" for c, p in mistake.top3)


def _tooltip(mistake: Mistake, class_names: Sequence[str]) -> str:
    top = ", ".join(f"{class_names[c]} {p:.1%}" for c, p in mistake.top3)
    garment = _a(class_names[mistake.true_class])
    return f"test image {mistake.index}, {garment}: {top}. Click to try it on the Predict tab."


def _pixmap(image: np.ndarray, ratio: float) -> QPixmap:
    """The 28x28 image scaled up with nearest-neighbour sampling, so every pixel stays a sharp square."""
    pixels = np.ascontiguousarray(image, dtype=np.uint8)
    qimage = QImage(pixels.tobytes(), IMAGE_SIZE, IMAGE_SIZE, IMAGE_SIZE, QImage.Format.Format_Grayscale8).copy()
    side = round(IMAGE_SIZE * SCALE * ratio)  # device pixels, so a high-DPI screen does not blur it again
    pixmap = QPixmap.fromImage(
        qimage.scaled(side, side, Qt.AspectRatioMode.IgnoreAspectRatio, Qt.TransformationMode.FastTransformation)
    )
    pixmap.setDevicePixelRatio(ratio)
    return pixmap
