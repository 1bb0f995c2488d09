"""Calibrated probabilities and the "not sure" rule: temperature scaling, expected calibration error, energy.

Temperature scaling (Guo et al., 2017) divides a trained model's logits by one number T > 0, fitted by minimising
the negative log-likelihood on the validation set; it changes no prediction, only how confident each one is.

A prediction is *unsure* when either

- its calibrated top probability is below ``min_probability`` (the model hesitates between classes), or
- its energy score ``logsumexp(logits)`` (Liu et al., 2020) is below ``min_energy``, the 1st percentile of the
  validation images' scores: the image is unlike anything the model was trained on, such as a photo of a room.
  The logits are those entering the Softmax or LogSoftmax head (after a LogSoftmax every row's logsumexp is 0).

Everything kept is a plain number (:meth:`Calibration.to_dict`), to travel in a model file's metadata.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

ECE_BINS = 15
DEFAULT_MIN_PROBABILITY = 0.5
ENERGY_PERCENTILE = 1.0  # percent of the validation images that fall below the "unlike the training data" line
_LOG_T_BOUNDS = (math.log(0.05), math.log(20.0))  # temperatures outside these mean a broken model or bad logits
_BATCH = 1000


@dataclass(frozen=True)
class Calibration:
    """A model's calibration: its temperature and the two thresholds of the unsure rule, with measured ECEs.

    Attributes:
        temperature: Divides the logits before the softmax.
        min_probability: A calibrated top probability below this is unsure.
        min_energy: An energy score ``logsumexp(logits)`` below this is unsure (unlike the training data).
        ece_before: Expected calibration error of the raw probabilities on the set it was measured on (test).
        ece_after: The same after temperature scaling.
    """

    temperature: float = 1.0
    min_probability: float = DEFAULT_MIN_PROBABILITY
    min_energy: float = -math.inf
    ece_before: float = math.nan
    ece_after: float = math.nan

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Calibrated class probabilities, one row per image."""
        return torch.softmax(logits.double() / self.temperature, dim=1).to(logits.dtype)

    def unsure(self, logits: torch.Tensor) -> torch.Tensor:
        """A bool per image: the calibrated top probability is low or the image is unlike the training data."""
        top = self.probabilities(logits).max(dim=1).values
        return (top < self.min_probability) | (energy(logits) < self.min_energy)

    def to_dict(self) -> dict[str, float]:
        """Plain numbers (infinities and NaNs included, which ``json.dumps`` writes as Infinity and NaN)."""
        return {key: float(value) for key, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, values: Mapping[str, float]) -> Calibration:
        """Read what :meth:`to_dict` wrote; unknown keys are ignored, so a newer file still opens."""
        known = set(cls.__dataclass_fields__)
        return cls(**{key: float(value) for key, value in values.items() if key in known})


def energy(logits: torch.Tensor) -> torch.Tensor:
    """The negative free energy ``logsumexp(logits)`` per row: high for inputs like the training data."""
    return torch.logsumexp(logits.double(), dim=1).to(logits.dtype)


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """The temperature minimising the negative log-likelihood of ``labels`` under ``softmax(logits / T)``.

    Optimised with L-BFGS over log T (so T stays positive) and clamped to 0.05..20.

    Raises:
        ValueError: no logits, a label count that differs, or logits that are not finite.
    """
    if len(logits) == 0 or len(logits) != len(labels):
        raise ValueError(f"need matching logits and labels, got {len(logits)} and {len(labels)}")
    if not torch.isfinite(logits).all():
        raise ValueError("the logits hold NaN or infinite values; the model is broken")
    logits, labels = logits.detach().double().cpu(), labels.detach().long().cpu()
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=1.0, max_iter=100, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(logits / log_t.exp(), labels)
        loss.backward()
        return loss

    optimizer.step(closure)
    return float(math.exp(min(max(log_t.item(), _LOG_T_BOUNDS[0]), _LOG_T_BOUNDS[1])))


def expected_calibration_error(probabilities: torch.Tensor, labels: torch.Tensor, bins: int = ECE_BINS) -> float:
    """ECE: the mean gap between confidence and accuracy over ``bins`` equal-width confidence bins, weighted by size.

    A prediction with top probability p falls in bin ``ceil(p * bins) - 1`` (the bins are (0, 1/bins], ...,
    ((bins-1)/bins, 1]), the usual convention of Guo et al. and Naeini et al.
    """
    if len(probabilities) == 0:
        return math.nan
    confidence, predicted = probabilities.double().max(dim=1)
    correct = (predicted == labels.to(predicted.device)).double()
    index = (torch.ceil(confidence * bins).long() - 1).clamp(0, bins - 1)
    confidence_sum = torch.bincount(index, weights=confidence, minlength=bins)
    correct_sum = torch.bincount(index, weights=correct, minlength=bins)
    return float((confidence_sum - correct_sum).abs().sum() / len(labels))


def calibrate(
    val_logits: torch.Tensor,
    val_labels: torch.Tensor,
    test_logits: torch.Tensor | None = None,
    test_labels: torch.Tensor | None = None,
    min_probability: float = DEFAULT_MIN_PROBABILITY,
) -> Calibration:
    """Fit the temperature and the energy line on validation logits; measure ECE on the test logits when given.

    Without test logits the ECEs are measured on the validation set (optimistic, as the temperature was fitted
    there).
    """
    temperature = fit_temperature(val_logits, val_labels)
    min_energy = float(np.percentile(energy(val_logits.detach().cpu()).double().numpy(), ENERGY_PERCENTILE))
    logits, labels = val_logits, val_labels
    if test_logits is not None and test_labels is not None:
        logits, labels = test_logits, test_labels
    logits = logits.detach().cpu()
    scaled = Calibration(temperature=temperature)
    return Calibration(
        temperature=temperature,
        min_probability=min_probability,
        min_energy=min_energy,
        ece_before=expected_calibration_error(torch.softmax(logits.double(), dim=1), labels.cpu()),
        ece_after=expected_calibration_error(scaled.probabilities(logits.double()), labels.cpu()),
    )


def logit_function(model: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """A function giving the model's logits: its output, or the input of its last layer when that is a softmax.

    Temperature and energy need logits; a network ending with Softmax or LogSoftmax has them only before its head.
    """
    if not isinstance(model, nn.Sequential) or not len(model) or not isinstance(model[-1], (nn.Softmax, nn.LogSoftmax)):
        return model
    return nn.Sequential(*list(model)[:-1])  # shares the layers (a plain Sequential: subclasses may need more)


@torch.inference_mode()
def model_logits(model: nn.Module, inputs: torch.Tensor, batch_size: int = _BATCH) -> torch.Tensor:
    """The logits (see :func:`logit_function`) of ``inputs``, in eval mode and in batches, on the CPU."""
    was_training = model.training
    model.eval()
    forward = logit_function(model)
    try:
        parts = [
            forward(inputs[start : start + batch_size]).float().cpu() for start in range(0, len(inputs), batch_size)
        ]
    finally:
        model.train(was_training)
    if not parts:
        return torch.zeros((0, 0))
    return torch.cat(parts)
