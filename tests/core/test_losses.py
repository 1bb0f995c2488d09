"""The one-hot losses (MSE, L1 and Smooth L1 on softmax probabilities, BCE with logits): values, heads, export."""

import os
import subprocess
import sys
from dataclasses import replace

import pytest
import torch
from torch import nn

from fashion_desktop.cli import main
from fashion_desktop.core.builder import build_model
from fashion_desktop.core.checkpoint import Checkpoint
from fashion_desktop.core.config import LOSS_LABELS, LOSS_NOTES, LOSSES, ONE_HOT_LOSSES, TrainConfig
from fashion_desktop.core.engine import Trainer
from fashion_desktop.core.export import ONE_HOT_LOSS_CODE, export_python, export_training_script
from fashion_desktop.core.optim import OneHotLoss, make_loss
from fashion_desktop.core.presets import get_preset
from fashion_desktop.core.spec import layer
from fashion_desktop.core.synthetic import write_fashion_mnist

SEED = get_preset("seed")
# The seed network ends with LogSoftmax: a warning for the probability losses, an error for BCE-with-logits.
SEED_LOGITS = SEED.spec.with_layers(SEED.spec.layers[:-1])
FAST = replace(SEED.config, epochs=3, batch_size=32, val_size=50, device="cpu")


def _spec_for(loss):
    return SEED_LOGITS if loss == "bce" else SEED.spec


def test_every_loss_has_a_label_and_a_plain_words_note():
    assert set(LOSS_LABELS) == set(LOSSES) == set(LOSS_NOTES)
    assert all(len(note) > 40 for note in LOSS_NOTES.values())


def test_the_losses_compute_what_their_formulas_say():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]])
    targets = torch.tensor([0, 1])
    one_hot = torch.tensor([[1.0, 0, 0], [0, 1, 0]])
    p = logits.softmax(1)
    expected = {
        "mse": ((p - one_hot) ** 2).sum(1).mean(),
        "l1": (p - one_hot).abs().sum(1).mean(),
        "bce": -(one_hot * torch.sigmoid(logits).log() + (1 - one_hot) * (1 - torch.sigmoid(logits)).log())
        .sum(1)
        .mean(),
    }
    for kind, value in expected.items():
        torch.testing.assert_close(OneHotLoss(kind)(logits, targets), value)
    difference = (p - one_hot).abs()
    smooth = torch.where(difference < 0.1, 0.5 * difference**2 / 0.1, difference - 0.05).sum(1).mean()
    torch.testing.assert_close(OneHotLoss("smooth_l1", beta=0.1)(logits, targets), smooth)
    # The engine evaluates with reduction "sum" and divides by the number of samples: the same scale as training.
    summed = OneHotLoss("mse", reduction="sum")(logits, targets)
    torch.testing.assert_close(summed / 2, expected["mse"])


def test_make_loss_builds_the_one_hot_losses_with_their_options():
    loss = make_loss(TrainConfig(loss="smooth_l1", loss_options={"beta": 0.25}))
    assert isinstance(loss, OneHotLoss) and loss.kind == "smooth_l1" and loss.beta == 0.25
    assert all(make_loss(TrainConfig(loss=name)).kind == name for name in ONE_HOT_LOSSES)


@pytest.mark.parametrize(
    ("head", "loss", "severity", "words"),
    [
        ("Softmax", "bce", "error", "applies a sigmoid to each raw output, but the network ends with Softmax"),
        ("LogSoftmax", "bce", "error", "ends with LogSoftmax"),
        ("Softmax", "mse", "error", "a Softmax head applies it twice"),
        ("Softmax", "smooth_l1", "error", "a Softmax head applies it twice"),
        ("LogSoftmax", "mse", "warning", "the LogSoftmax does nothing: remove it"),
        ("LogSoftmax", "l1", "warning", "the LogSoftmax does nothing: remove it"),
    ],
)
def test_a_head_that_does_not_fit_the_loss_is_named(head, loss, severity, words):
    spec = SEED_LOGITS.with_layers((*SEED_LOGITS.layers, layer(head)))
    problems = [p for p in spec.validate(loss) if words in p.message]
    assert len(problems) == 1 and problems[0].severity == severity
    assert problems[0].layer == len(spec.layers) - 1  # the head is the layer named
    assert not SEED_LOGITS.validate(loss)  # raw logits fit every one-hot loss


@pytest.mark.slow
@pytest.mark.parametrize("loss", ONE_HOT_LOSSES)
def test_each_one_hot_loss_trains_the_seed_network(loss, fashion_root):
    trainer = Trainer(_spec_for(loss), replace(FAST, loss=loss))
    result = trainer.fit(trainer.load_data(fashion_root))
    first, last = result.history[0], result.history[-1]
    assert last.train_loss < first.train_loss
    assert last.val_accuracy > 0.3 and result.test.accuracy > 0.3  # chance is 0.1


def test_train_on_the_command_line_takes_each_one_hot_loss(capsys, fashion_root, tmp_path):
    for loss in ONE_HOT_LOSSES:
        out = tmp_path / f"{loss}.safetensors"
        spec_args = ["--preset", "seed"]
        if loss == "bce":
            spec_file = tmp_path / "logits.json"
            spec_file.write_text(SEED_LOGITS.to_json())
            spec_args = ["--spec", str(spec_file)]
        args = [*spec_args, "--loss", loss, "--data", fashion_root, "--epochs", 1, "--val-size", 50, "--out", out]
        code = main(["train", *map(str, args), "--json", "--no-record"])
        assert code == 0, capsys.readouterr().err
        assert Checkpoint.load(out).config.loss == loss
    capsys.readouterr()
    code = main(["train", "--preset", "seed", "--loss", "bce", "--data", str(fashion_root), "--out", str(out)])
    assert code == 2 and "ends with LogSoftmax" in capsys.readouterr().err


def test_the_exported_one_hot_loss_gives_the_apps_values_and_gradients():
    namespace = {"nn": nn}
    exec(compile(ONE_HOT_LOSS_CODE, "exported", "exec"), namespace)
    targets = torch.tensor([3, 0, 9, 9])
    for kind in ONE_HOT_LOSSES:
        for reduction in ("mean", "sum"):
            ours_logits = torch.randn(4, 10, requires_grad=True)
            theirs_logits = ours_logits.detach().clone().requires_grad_()
            ours = OneHotLoss(kind, beta=0.2, reduction=reduction)(ours_logits, targets)
            theirs = namespace["OneHotLoss"](kind, beta=0.2, reduction=reduction)(theirs_logits, targets)
            ours.backward(), theirs.backward()
            torch.testing.assert_close(ours, theirs)
            torch.testing.assert_close(ours_logits.grad, theirs_logits.grad)


def test_the_exported_python_class_carries_the_loss_it_was_trained_with(tmp_path):
    config = TrainConfig(loss="smooth_l1", loss_options={"beta": 0.3})
    checkpoint = Checkpoint(SEED.spec, build_model(SEED.spec).state_dict(), config=config)
    namespace = {}
    code = export_python(checkpoint, tmp_path / "network.py").read_text()
    exec(compile(code, "network.py", "exec"), namespace)
    loss = namespace["make_loss"]()
    assert loss.kind == "smooth_l1" and loss.beta == 0.3


@pytest.mark.slow
@pytest.mark.parametrize("loss", ONE_HOT_LOSSES)
def test_the_exported_training_script_runs_with_each_one_hot_loss(loss, tmp_path):
    root = write_fashion_mnist(tmp_path / "data")  # the script unpacks the files beside themselves
    config = replace(FAST, epochs=1, loss=loss)
    spec = _spec_for(loss)
    checkpoint = Checkpoint(spec, build_model(spec).state_dict(), config=config)
    script = export_training_script(checkpoint, tmp_path / "train_fashion.py")
    assert f"OneHotLoss({loss!r}" in script.read_text()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, str(script), "--data", str(root), "--out", str(tmp_path / "w.pt")]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "epoch 1: train loss " in done.stdout and "test accuracy" in done.stdout
