"""Prediction: a user's image becomes the 28x28 input the model sees, then ten class probabilities."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from fashion_desktop.core.checkpoint import Checkpoint
from fashion_desktop.core.data import normalize
from fashion_desktop.core.imaging import DEFAULT_OPTIONS, PreprocessOptions, preprocess_file
from fashion_desktop.core.spec import CLASS_NAMES, ModelSpec


@dataclass(frozen=True)
class Prediction:
    probabilities: tuple[float, ...]  # softmax, one per class, summing to 1
    seen: np.ndarray  # the 28x28 uint8 image the model was given (before normalisation)
    class_names: tuple[str, ...] = CLASS_NAMES

    @property
    def top_index(self) -> int:
        return int(np.argmax(self.probabilities))

    @property
    def top_class(self) -> str:
        return self.class_names[self.top_index]

    @property
    def top_probability(self) -> float:
        return self.probabilities[self.top_index]

    def as_dict(self) -> dict[str, float]:
        return dict(zip(self.class_names, self.probabilities, strict=True))


class Predictor:
    """Wraps a trained model for prediction on the CPU or the model's own device."""

    def __init__(self, model: torch.nn.Module, spec: ModelSpec, class_names: Sequence[str] = CLASS_NAMES) -> None:
        self.model = model.eval()
        self.spec = spec
        self.class_names = tuple(class_names)
        self.device = next(model.parameters()).device

    @classmethod
    def from_file(cls, path: str | Path) -> Predictor:
        checkpoint = Checkpoint.load(path)
        return cls(checkpoint.build_model(), checkpoint.spec, checkpoint.class_names)

    def predict(self, image: str | Path | bytes | Image.Image, options: PreprocessOptions | None = None) -> Prediction:
        """Preprocess one image (a path, its bytes or a PIL image) and return the class probabilities."""
        _, seen = preprocess_file(image, options or DEFAULT_OPTIONS)
        return self.predict_array(seen[None])[0]

    @torch.inference_mode()
    def predict_array(self, images: np.ndarray) -> list[Prediction]:
        """Predict a batch of (N, 28, 28) uint8 images already in Fashion-MNIST form."""
        x = torch.from_numpy(np.ascontiguousarray(images)).to(self.device, torch.float32)
        x = normalize(x.unsqueeze(1), self.spec.mean, self.spec.std)
        probabilities = self.probabilities(self.model(x))
        rows = zip(probabilities.tolist(), images, strict=True)
        return [Prediction(tuple(p), image, self.class_names) for p, image in rows]

    def probabilities(self, output: torch.Tensor) -> torch.Tensor:
        """The model's output as probabilities, whatever head it ends with."""
        if self.spec.head == "Softmax":
            return output
        return torch.softmax(output, dim=1)  # softmax(log_softmax(x)) == softmax(x), so LogSoftmax heads work too
