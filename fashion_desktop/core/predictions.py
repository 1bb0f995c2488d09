"""A model's predictions for the whole test set, computed once, behind the mistakes gallery's confusion-matrix cells.

Core, not GUI: the training session computes them on its own thread and device, where model and data already are,
and a model opened from a file computes them from the files on disk.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from fashion_desktop.core.checkpoint import Checkpoint
from fashion_desktop.core.data import load_arrays, normalize
from fashion_desktop.core.explain import Mistake, mistakes_from, predict_all
from fashion_desktop.core.spec import ModelSpec


@dataclass(frozen=True, eq=False)
class TestPredictions:
    """One model's class probabilities for every test image, with the labels and images: computed once per model.

    Only plain CPU tensors and arrays, so it is safe to hand from the training thread to the GUI.
    """

    __test__ = False  # not a pytest test class, whatever its name says

    probabilities: torch.Tensor  # (N, classes) float32, CPU
    targets: torch.Tensor  # (N,) int64, CPU
    images: np.ndarray  # (N, 28, 28) uint8

    def cell(self, true_class: int, predicted_class: int) -> list[Mistake]:
        """The images of one confusion-matrix cell, ordered as ``core.explain.mistakes_from`` orders them."""
        return mistakes_from(self.probabilities, self.targets, true_class, predicted_class)


def predict_test_set(
    model: nn.Module, spec: ModelSpec, test_x: torch.Tensor, test_y: torch.Tensor, images: np.ndarray
) -> TestPredictions:
    """Classify the whole (normalised) test set with ``model``, on the device where model and data are."""
    return TestPredictions(predict_all(model, test_x, spec), test_y.detach().cpu(), images)


def load_test_predictions(checkpoint: Checkpoint, data_root: Path) -> TestPredictions:
    """Read the test set from ``data_root`` and classify it with a saved model, on the CPU.

    Raises:
        DataError: The dataset is missing or damaged.
    """
    raw = load_arrays(data_root)
    x = normalize(torch.from_numpy(raw.test_images).unsqueeze(1), checkpoint.spec.mean, checkpoint.spec.std)
    targets = torch.from_numpy(raw.test_labels).long()
    return predict_test_set(checkpoint.build_model(), checkpoint.spec, x, targets, raw.test_images)
