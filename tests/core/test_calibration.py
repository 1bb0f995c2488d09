"""Temperature scaling, expected calibration error and the unsure rule, on synthetic logits with known answers."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from fashion_desktop.core.calibration import (
    Calibration,
    calibrate,
    energy,
    expected_calibration_error,
    fit_temperature,
    logit_function,
    model_logits,
)


def logits_with_temperature(temperature: float, count: int = 20_000, classes: int = 10, seed: int = 0):
    """Labels drawn from softmax(true_logits), while the model reports true_logits * temperature."""
    generator = torch.Generator().manual_seed(seed)
    true_logits = torch.randn(count, classes, generator=generator, dtype=torch.float64) * 2.0
    labels = torch.multinomial(torch.softmax(true_logits, 1), 1, generator=generator).squeeze(1)
    return true_logits * temperature, labels


@pytest.mark.slow  # the first L-BFGS step in a process takes about a second (torch.optim imports)
@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.5])
def test_fit_temperature_recovers_a_known_temperature(temperature):
    logits, labels = logits_with_temperature(temperature)
    assert fit_temperature(logits, labels) == pytest.approx(temperature, rel=0.05)


def test_fit_temperature_refuses_bad_input():
    with pytest.raises(ValueError, match="matching"):
        fit_temperature(torch.zeros(3, 10), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="NaN or infinite"):
        fit_temperature(torch.full((2, 10), math.nan), torch.zeros(2, dtype=torch.long))


def test_ece_on_a_hand_example():
    # Confidences 0.9 (right), 0.9 (wrong), 0.6 (right), 0.4 (right), in 15 bins of width 1/15:
    # the two 0.9s share a bin: gap |0.9 - 0.5| = 0.4, weight 2/4 -> 0.2; 0.6 alone: gap 0.4, weight 1/4 -> 0.1;
    # 0.4 alone: gap 0.6, weight 1/4 -> 0.15. ECE = 0.45.
    probabilities = torch.tensor([[0.9, 0.1, 0.0], [0.9, 0.1, 0.0], [0.2, 0.6, 0.2], [0.4, 0.3, 0.3]])
    labels = torch.tensor([0, 1, 1, 0])
    assert expected_calibration_error(probabilities, labels) == pytest.approx(0.45)
    # One bin: the gap between mean confidence (0.7) and accuracy (0.75)
    assert expected_calibration_error(probabilities, labels, bins=1) == pytest.approx(0.05)
    assert expected_calibration_error(torch.eye(3), torch.arange(3)) == 0.0  # sure and right: perfectly calibrated
    assert math.isnan(expected_calibration_error(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long)))


def test_calibrate_lowers_the_ece_of_an_overconfident_model():
    val_logits, val_labels = logits_with_temperature(3.0, seed=1)
    test_logits, test_labels = logits_with_temperature(3.0, seed=2)
    calibration = calibrate(val_logits, val_labels, test_logits, test_labels)
    assert calibration.temperature == pytest.approx(3.0, rel=0.05)
    assert calibration.ece_after < 0.02 < 0.1 < calibration.ece_before
    # The energy line leaves 1% of the validation images below it
    below = (energy(val_logits) < calibration.min_energy).double().mean()
    assert float(below) == pytest.approx(0.01, abs=0.002)


def test_unsure_flags_low_probability_and_unfamiliar_inputs():
    val_logits, val_labels = logits_with_temperature(1.0, seed=3)
    val_logits = val_logits + 8.0  # a trained model's logits: high everywhere on images like its training data
    calibration = calibrate(val_logits, val_labels)
    confident = torch.tensor([[20.0, 8.0, 8.0, 8.0, 8.0, 8.0, 8.0, 8.0, 8.0, 8.0]])
    hesitant = torch.tensor([[10.0, 10.0, 8.0, 8.0, 8.0, 8.0, 8.0, 8.0, 8.0, 8.0]])
    unfamiliar = torch.tensor([[3.0, -5.0, -5.0, -5.0, -5.0, -5.0, -5.0, -5.0, -5.0, -5.0]])  # confident, but faint
    assert calibration.probabilities(unfamiliar).max() > 0.99
    assert calibration.unsure(torch.cat([confident, hesitant, unfamiliar])).tolist() == [False, True, True]
    # Out-of-distribution inputs: logits far weaker than on validation are flagged, nearly all validation is not
    ood = torch.randn(1000, 10, generator=torch.Generator().manual_seed(4))
    assert calibration.unsure(ood).double().mean() > 0.95
    assert float((energy(val_logits) < calibration.min_energy).double().mean()) == pytest.approx(0.01, abs=0.002)


def test_calibration_travels_as_plain_numbers():
    calibration = Calibration(temperature=1.7, min_probability=0.4, min_energy=3.25, ece_before=0.1, ece_after=0.02)
    text = json.dumps(calibration.to_dict())
    assert Calibration.from_dict({**json.loads(text), "added_later": 1.0}) == calibration
    default = Calibration()  # an uncalibrated model: T = 1 and no energy line, which json still writes
    assert Calibration.from_dict(json.loads(json.dumps(default.to_dict()))).min_energy == -math.inf


def test_logits_are_taken_before_a_softmax_head():
    body = nn.Linear(4, 3)
    with_head = nn.Sequential(body, nn.LogSoftmax(dim=1))
    x = torch.randn(5, 4)
    assert torch.allclose(model_logits(with_head, x, batch_size=2), body(x).detach())
    plain = nn.Sequential(body)
    assert logit_function(plain) is plain
    assert with_head.training and not model_logits(with_head, x[:0]).numel()  # training mode restored, empty ok
