"""Prediction: a user's image becomes the input the model sees, then one probability per class of the model.

A Fashion-MNIST model (and every version-1 model file) sees the 28x28 grey input of ``imaging.preprocess_file``.
An image-folder model sees its photos framed as it was trained (``core.folders.FramingSettings``: size, colour,
framing), by ``segment.frame_photo``. A calibrated model's probabilities are temperature-scaled and each
prediction says whether it is unsure (``core.calibration``); an uncalibrated one is never marked unsure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from fashion_desktop.core.calibration import Calibration, logit_function
from fashion_desktop.core.checkpoint import Checkpoint
from fashion_desktop.core.data import normalize
from fashion_desktop.core.folders import FramingSettings
from fashion_desktop.core.imaging import DEFAULT_OPTIONS, PreprocessOptions, open_image, preprocess_file
from fashion_desktop.core.spec import CLASS_NAMES, ModelSpec


@dataclass(frozen=True)
class Prediction:
    probabilities: tuple[float, ...]  # softmax, one per class, summing to 1
    seen: np.ndarray  # the uint8 image the model was given (before normalisation): (H, W) grey or (H, W, 3)
    class_names: tuple[str, ...] = CLASS_NAMES
    unsure: bool = False  # the calibrated top probability is low or the image is unlike the training data

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

    def __init__(
        self,
        model: torch.nn.Module,
        spec: ModelSpec,
        class_names: Sequence[str] = CLASS_NAMES,
        framing: FramingSettings | None = None,
        calibration: Calibration | None = None,
    ) -> None:
        self.model = model.eval()
        self.spec = spec
        self.class_names = tuple(class_names)
        self.framing = framing  # None: Fashion-MNIST's preprocessing (imaging.preprocess_file)
        self.calibration = calibration
        self.device = next(model.parameters()).device

    @classmethod
    def from_file(cls, path: str | Path) -> Predictor:
        checkpoint = Checkpoint.load(path)
        return cls(
            checkpoint.build_model(),
            checkpoint.spec,
            checkpoint.class_names,
            checkpoint.framing,
            checkpoint.calibration,
        )

    def predict(self, image: str | Path | bytes | Image.Image, options: PreprocessOptions | None = None) -> Prediction:
        """Preprocess one image (a path, its bytes or a PIL image) and return the class probabilities.

        For an image-folder model only ``options.separation`` applies (the rest is the model's own framing), and
        only when ``options`` is given; otherwise the separation it was trained with.
        """
        if self.framing is None:
            _, seen = preprocess_file(image, options or DEFAULT_OPTIONS)
        else:
            seen = self.frame(image, options)
        return self.predict_array(seen[None])[0]

    def frame(self, image: str | Path | bytes | Image.Image, options: PreprocessOptions | None = None) -> np.ndarray:
        """An image-folder model's input for ``image``: uint8 (size, size) grey or (size, size, 3) colour."""
        from fashion_desktop.core.segment import frame_photo, frame_side  # OpenCV: only for the models that need it

        settings = self.framing or FramingSettings()
        separation = options.separation if options is not None else settings.separation
        opened = open_image(image, draft_size=frame_side(settings.size))  # the draft the import used
        return frame_photo(
            opened, separation=separation, size=settings.size, color=settings.color, framing=settings.framing
        )

    @torch.inference_mode()
    def predict_array(self, images: np.ndarray) -> list[Prediction]:
        """Predict a batch of uint8 images already framed for this model: (N, H, W) grey or (N, H, W, 3) colour."""
        x = torch.from_numpy(np.ascontiguousarray(images)).to(self.device, torch.float32)
        x = x.permute(0, 3, 1, 2) if x.ndim == 4 else x.unsqueeze(1)
        x = normalize(x, self.spec.mean, self.spec.std)
        if self.calibration is None:  # exactly as before calibration existed: version-1 files predict the same
            probabilities = self.probabilities(self.model(x))
            unsure = [False] * len(images)
        else:
            logits = logit_function(self.model)(x).float()
            probabilities = self.calibration.probabilities(logits)
            unsure = self.calibration.unsure(logits).tolist()
        rows = zip(probabilities.tolist(), images, unsure, strict=True)
        return [Prediction(tuple(p), image, self.class_names, bool(u)) for p, image, u in rows]

    def probabilities(self, output: torch.Tensor) -> torch.Tensor:
        """The model's output as probabilities, whatever head it ends with."""
        if self.spec.head == "Softmax":
            return output
        return torch.softmax(output, dim=1)  # softmax(log_softmax(x)) == softmax(x), so LogSoftmax heads work too
