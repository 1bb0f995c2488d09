"""The Predict tab's saliency view: the model's input tinted where its pixels drove a class, with its switches."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import QCheckBox, QComboBox, QLabel, QWidget

from fashion_desktop.core.spec import CLASS_NAMES
from fashion_desktop.gui.predict.entries import Entry
from fashion_desktop.gui.predict.views import PixmapView, rgb_pixmap, saliency_scale

if TYPE_CHECKING:  # torch-backed modules: imported inside methods, so the window paints before torch loads
    from fashion_desktop.core.inference import Predictor

SALIENCY_CAPTION = "What drove the prediction"
TOP_CLASS = -1  # the class chooser's "the top class" entry
# explain.SALIENCY_METHODS with the words the user reads; spelt out here because explain imports torch, which must
# not load before the window paints (a test checks that the two lists agree)
SALIENCY_CHOICES: tuple[tuple[str, str, str], ...] = (
    (
        "gradient_x_input",
        "gradient \u00d7 input",
        "How strongly each pixel pushed the class's score: one backward pass, sharp but noisy",
    ),
    (
        "occlusion",
        "occlusion",
        "How much the class's probability drops when each 4x4 patch is blacked out: smoother, easier to trust",
    ),
)


class SaliencyView(QObject):
    """The saliency map of the selected image, its caption and colour scale, and the switches that choose it.

    The widgets are laid out by the tab (the view beside the model's input, the switches under the images).

    Attributes:
        view: The model's input tinted by the map; shown while ``box`` is on.
        caption: What ``view`` shows (the class explained).
        scale: The overlay's colours, from no effect to the most.
        box: Shows the map.
        method: How the map is measured (``explain.SALIENCY_METHODS``, in words).
        explain_class: The class explained: the top class, or one of the model's.

    Signals:
        changed: A switch changed: show the selected image again.
        failed: Why a map could not be made, a sentence for the tab's notice.
    """

    changed = Signal()
    failed = Signal(str)

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self._parent = parent
        self.view = PixmapView("Turn on \u201cShow what drove the prediction\u201d")
        self.caption = QLabel(SALIENCY_CAPTION)
        self.caption.setWordWrap(True)
        self.scale = QLabel()
        self.scale.setToolTip("Grey: no effect on the class; red: some; yellow: the most")
        self.box = QCheckBox("&Show what drove the prediction")
        self.box.setToolTip(
            "Beside the model's input, tint it where its pixels drove the chosen class most: yellow most, red less"
        )
        self.method = QComboBox()
        for row, (method, label, tip) in enumerate(SALIENCY_CHOICES):
            self.method.addItem(label, method)
            self.method.setItemData(row, tip, Qt.ItemDataRole.ToolTipRole)
        self.method.setEnabled(False)  # until the overlay is on
        self.explain_class = QComboBox()
        self.explain_class.setToolTip("The class to explain: why the model does (or does not) see this class here")
        self.explain_class.setEnabled(False)
        self.set_class_names(CLASS_NAMES)
        self.box.toggled.connect(self._on_box_toggled)
        self.method.currentIndexChanged.connect(self.changed)
        self.explain_class.currentIndexChanged.connect(self.changed)

    def set_class_names(self, names: tuple[str, ...]) -> None:
        """The class chooser lists the model's own classes; the choice is kept where the class still exists."""
        current = self.explain_class.currentData()
        self.explain_class.blockSignals(True)
        self.explain_class.clear()
        self.explain_class.addItem("the top class", TOP_CLASS)
        for index, name in enumerate(names):
            self.explain_class.addItem(name, index)
        self.explain_class.setCurrentIndex(max(0, self.explain_class.findData(current)))
        self.explain_class.blockSignals(False)

    def show_entry(self, entry: Entry | None, predictor: Predictor | None) -> None:
        """Show the map of ``entry``'s prediction for the chosen class, when asked; why not, when there is none."""
        wanted = self.box.isChecked()
        for widget in (self.view, self.caption, self.scale):
            widget.setVisible(wanted)
        self.caption.setText(SALIENCY_CAPTION)
        if not wanted:
            return
        if entry is None or entry.seen is None or entry.prediction is None or predictor is None:
            self.view.set_source(None, "No model yet to explain" if predictor is None else "Nothing to explain")
            return
        from fashion_desktop.core.explain import overlay

        if self.scale.pixmap().isNull():
            self.scale.setPixmap(saliency_scale(overlay, self._parent.fontMetrics().height()))
        # The top class is the class shown, even where a tie could resolve otherwise.
        chosen = self.explain_class.currentData()
        target = entry.prediction.top_index if chosen == TOP_CLASS else int(chosen)
        name = predictor.class_names[target]
        try:
            heat = _heat(predictor, entry, self.method.currentData(), target)
        except RuntimeError as error:  # autograd refusing an unusual network: show the input, say why
            self.failed.emit(f"Cannot show what drove this prediction: {textwrap.shorten(str(error), 200)}")
            self.view.set_source(None, "Cannot explain this network")
            return
        if heat.any():
            self.caption.setText(f"What drove {name}: yellow most, red less")
        else:
            self.caption.setText(f"No pixel changed the {name} probability")
        self.view.set_source(rgb_pixmap(overlay(entry.seen, heat)))

    @Slot(bool)
    def _on_box_toggled(self, checked: bool) -> None:
        self.method.setEnabled(checked)
        self.explain_class.setEnabled(checked)
        self.changed.emit()


def _heat(predictor: Predictor, entry: Entry, method: str, target: int) -> np.ndarray:
    """The entry's saliency map for class ``target``, computed once per prediction, method and class."""
    key = f"{method}:{target}"
    heat = entry.heat.get(key)
    if heat is None:
        from fashion_desktop.core.explain import saliency

        assert entry.seen is not None
        heat = entry.heat[key] = saliency(predictor, entry.seen, method, target)
    return heat
