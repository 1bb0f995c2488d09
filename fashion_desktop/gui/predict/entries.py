"""The images listed on the Predict tab, and what is said about them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtGui import QPixmap

from fashion_desktop.core.imaging import IMAGE_SUFFIXES, list_image_files

if TYPE_CHECKING:  # torch-backed modules: imported inside methods, so the window paints before torch loads
    from fashion_desktop.core.inference import Prediction


PREPARING = "Preparing..."
NO_MODEL_HINT = "No model yet: train one in the Training tab or open a model file (File > Open model...)"


@dataclass(eq=False)  # compared by identity: list.index() finds a result's row among thousands at C speed
class Entry:
    """One listed image and what became of it."""

    name: str
    key: int  # the tab's own identifier: results of the workers find their entry by it
    path: Path | None = None  # the file; None for an image given as an array (a test image)
    icon: QPixmap | None = None  # the thumbnail in the list, the only picture kept: never the decoded photo
    seen: np.ndarray | None = None  # the model input under the current options (28x28 grey for Fashion-MNIST)
    pending: bool = False  # queued for the workers: its input is not ready yet
    prediction: Prediction | None = None
    error: str | None = None
    true_label: str | None = None  # for test-set images
    fixed_input: bool = False  # already in the model's input form (a test image): the switches must not change it
    unfit: str | None = None  # why a fixed input cannot be classified: the model takes another size or colour
    heat: dict[str, np.ndarray] = field(default_factory=dict)  # saliency maps of the prediction, by method


def summary(entry: Entry) -> str:
    """The entry's result in words: top class and probability, or why there is none."""
    truth = f"   true: {entry.true_label}" if entry.true_label else ""
    if entry.pending:
        return PREPARING + truth
    prediction = entry.prediction
    if prediction is None:
        return f"Not classified: {entry.unfit or 'no model yet'}" + truth
    guess = f"{prediction.top_class} {prediction.top_probability:.1%}"
    if getattr(prediction, "unsure", False):  # the model's confidence is below its calibrated threshold
        return f"Not sure (perhaps {guess})" + truth
    return guess + truth


def count(number: int, noun: str, plural: str = "") -> str:
    """``number`` and ``noun``, in the plural (``plural``, else the noun and "s") unless it is one."""
    return f"{number} {noun if number == 1 else plural or noun + 's'}"


def added_message(added: int, failed: int) -> str:
    """What became of the files just added, in a sentence that fits every count."""
    if not failed:
        return f"Added {count(added, 'image')}."
    if failed == added:
        return "Could not read the file." if added == 1 else f"Could not read any of the {added} files."
    return f"Added {count(added - failed, 'image')}; {count(failed, 'file')} could not be read."


def no_images_message(folder: Path) -> str:
    kinds = ", ".join(suffix.lstrip(".").upper() for suffix in IMAGE_SUFFIXES)
    return f"{folder.name} holds no images ({kinds}), nor do its subfolders."


def shown_name(folder: Path, image: Path) -> str:
    """An image's name in the list: with its class subfolder when it came from one."""
    return image.name if image.parent == folder else f"{image.parent.name}/{image.name}"


def images_in(folder: Path) -> list[Path]:
    """The folder's images by the core's one rule (class subfolders included); none when it cannot be listed."""
    try:
        return list_image_files(folder)
    except OSError:
        return []
