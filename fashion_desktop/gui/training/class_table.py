"""The data section's table of an image folder's classes, with the first photos of each as the network sees them."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QImage, QPainter, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

from fashion_desktop.gui.training.folder_scan import SAMPLES_PER_CLASS, FolderImport, FolderListing

SAMPLE_SIDE = 30  # pixels each sample is drawn at in the class table
STRIP_WIDTH = SAMPLES_PER_CLASS * (SAMPLE_SIDE + 2) - 2  # the samples of a class side by side, 2 pixels apart


class ClassTable(QTableWidget):
    """A row per class of the folder listed: its name, its images (the exact splits once imported), its samples."""

    def __init__(self) -> None:
        super().__init__(0, 3)
        self.setHorizontalHeaderLabels(("Class", "Images", "As the network sees them"))
        self.horizontalHeaderItem(2).setToolTip("the first photos of each class, framed for the network")
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.verticalHeader().hide()
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        header = self.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.setIconSize(QSize(STRIP_WIDTH, SAMPLE_SIDE))
        self.setMinimumHeight(120)

    def show_classes(
        self, listing: FolderListing | None, imported: FolderImport | None, strips: dict[int, QPixmap]
    ) -> None:
        """The listing's classes, their counts (``imported``'s splits where known) and the strips made so far."""
        if listing is None:
            self.setRowCount(0)
            return
        self.setRowCount(len(listing.class_names))
        for row, (name, count) in enumerate(zip(listing.class_names, listing.counts, strict=True)):
            if imported is not None:
                train, val, test = imported.splits[row]
                images = f"{train + val + test:,}"
                tip = f"{train:,} to train on, {val:,} to validate, {test:,} to test"
            else:
                images, tip = f"{count:,}", "images found; the exact split follows once the photos are read"
            for column, text in enumerate((name, images)):
                item = QTableWidgetItem(text)
                item.setToolTip(tip if column else name)
                if column:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.setItem(row, column, item)
            strip = QTableWidgetItem()
            if row in strips:
                strip.setData(Qt.ItemDataRole.DecorationRole, strips[row])
                strip.setToolTip(f"the first photos of {name}, framed as the network will see them")
            self.setItem(row, 2, strip)
            self.setRowHeight(row, SAMPLE_SIDE + 6)
        rows = min(len(listing.class_names), 8)
        self.setFixedHeight(self.horizontalHeader().height() + rows * (SAMPLE_SIDE + 6) + 2 * self.frameWidth())


def sample_strip(samples: list[np.ndarray]) -> QPixmap:
    """The samples side by side, each drawn SAMPLE_SIDE pixels square, 2 pixels apart."""
    side, gap = SAMPLE_SIDE, 2
    strip = QPixmap(STRIP_WIDTH, side)
    strip.fill(Qt.GlobalColor.transparent)
    painter = QPainter(strip)
    for index, pixels in enumerate(samples):
        pixels = np.ascontiguousarray(pixels)
        height, width = pixels.shape[:2]
        colour = pixels.ndim == 3
        image = QImage(
            pixels.data,
            width,
            height,
            width * (3 if colour else 1),
            QImage.Format.Format_RGB888 if colour else QImage.Format.Format_Grayscale8,
        )
        scaled = image.scaled(side, side)  # nearest pixel: the pixels as the network gets them
        painter.drawImage(index * (side + gap), 0, scaled)
    painter.end()
    return strip
