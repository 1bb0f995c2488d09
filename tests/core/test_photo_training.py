"""Training on image folders, model files of format 2, fine-tuning, unsure predictions and labelled-folder scores.

Every folder here is generated: ten classes of small coloured bars at a class-specific height, framed without
garment separation (so no OpenCV work), at 16x16.
"""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fashion_desktop.cli import main
from fashion_desktop.core.checkpoint import Checkpoint
from fashion_desktop.core.errors import ConfigError
from fashion_desktop.core.explain import match_folder, score_labelled_folder
from fashion_desktop.core.folders import FramingSettings
from fashion_desktop.core.inference import Predictor
from fashion_desktop.core.presets import get_preset
from fashion_desktop.core.session import TrainingObserver, TrainingRequest, run_training
from fashion_desktop.core.spec import CLASS_NAMES, LayerSpec, ModelSpec

DATA = Path(__file__).parent.parent / "data"
CLASSES = tuple(f"kind{c}" for c in range(10))
FRAMING = FramingSettings(size=16, color=False, framing="squash", separation="none")
SPEC = replace(get_preset("seed").spec, input_shape=(1, 16, 16))
CONFIG = replace(get_preset("seed").config, epochs=2, batch_size=16, device="cpu")


def write_folder(root: Path, per_class: int = 8, classes: tuple[str, ...] = CLASSES) -> Path:
    """A class folder of 24x24 photos per class: a bright bar on a dark ground whose height tells the class."""
    rng = np.random.default_rng(0)
    for c, name in enumerate(classes):
        folder = root / name
        folder.mkdir(parents=True)
        row = 1 + c * 20 // len(classes)
        for i in range(per_class):
            pixels = rng.integers(0, 30, (24, 24, 3)).astype(np.uint8)
            pixels[row : row + 3, 3:21] = 220
            Image.fromarray(pixels).save(folder / f"{i}.png")
    (root / classes[0] / "broken.png").write_bytes(b"not a png")
    return root


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return write_folder(tmp_path_factory.mktemp("photos") / "photos")


class Heard(TrainingObserver):
    def __init__(self):
        self.warnings, self.imported = [], []

    def on_warning(self, message):
        self.warnings.append(message)

    def on_import_progress(self, done, total):
        self.imported.append((done, total))


@pytest.fixture(scope="module")
def trained(folder, tmp_path_factory):
    """One image-folder run through run_training, its outcome and what it heard."""
    heard = Heard()
    path = tmp_path_factory.mktemp("model") / "folder.safetensors"
    request = TrainingRequest(
        SPEC,
        CONFIG,
        Path("unused"),
        record=False,
        model_path=path,
        dataset="folder",
        images=folder,
        framing=FRAMING,
        watch_inside=False,
    )
    outcome = run_training(request, heard)
    assert outcome.error is None, outcome.failure
    return outcome, heard


@pytest.mark.slow
def test_an_image_folder_trains_end_to_end_and_its_model_keeps_classes_framing_and_calibration(trained):
    outcome, heard = trained
    assert heard.imported and heard.imported[-1][0] == heard.imported[-1][1] == 81
    assert any("1 files of" in w and "broken.png" in w for w in heard.warnings)  # skipped, listed, not fatal
    loaded = Checkpoint.load(outcome.model_path)
    assert loaded.class_names == CLASSES and loaded.spec.input_shape == (1, 16, 16)
    assert loaded.framing == FRAMING and loaded.data["dataset"] == "folder"
    assert loaded.calibration is not None and loaded.calibration.temperature > 0
    assert outcome.calibration == loaded.calibration  # the outcome reports what the file holds (ECE included)
    assert len(outcome.result.test.confusion) == 10


@pytest.mark.slow
def test_a_folder_model_predicts_its_own_classes_from_its_own_framing(trained, folder):
    outcome, _ = trained
    predictor = Predictor.from_file(outcome.model_path)
    prediction = predictor.predict(folder / CLASSES[3] / "0.png")
    assert prediction.top_class in CLASSES and prediction.seen.shape == (16, 16)
    assert isinstance(prediction.unsure, bool) and sum(prediction.probabilities) == pytest.approx(1, abs=1e-5)


def test_a_network_whose_input_differs_from_the_folders_framing_is_refused_before_the_import(folder):
    request = TrainingRequest(
        get_preset("seed").spec, CONFIG, Path("unused"), record=False, dataset="folder", images=folder, framing=FRAMING
    )
    with pytest.raises(ConfigError, match=r"network takes .*28.* but the folder's photos are framed to .*16"):
        request.check()


def test_a_version_1_file_from_the_old_writer_still_predicts_the_same():
    predictor = Predictor.from_file(DATA / "v1-linear.safetensors")  # written by main before format 2
    assert predictor.class_names == CLASS_NAMES and predictor.framing is None and predictor.calibration is None
    images = np.load(DATA / "v1-linear-inputs.npy")
    expected = np.array(json.loads((DATA / "v1-linear-probabilities.json").read_text()))
    predictions = predictor.predict_array(images)
    got = np.array([p.probabilities for p in predictions])
    # The same classes and probabilities to float32 rounding: CPUs with other vector units (AVX2, AVX-512) sum
    # the matrix products in another order, which moves the last bits (about 1e-8 was seen between machines).
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
    assert (got.argmax(1) == expected.argmax(1)).all() and not any(p.unsure for p in predictions)


def test_a_version_2_file_round_trips_classes_data_and_calibration(tmp_path):
    from fashion_desktop.core.builder import build_model
    from fashion_desktop.core.calibration import Calibration

    spec = ModelSpec((LayerSpec("Flatten"), LayerSpec("Linear", {"out_features": 10})), input_shape=(3, 12, 12))
    calibration = Calibration(temperature=1.7, min_energy=0.25, ece_before=0.1, ece_after=0.02)
    data = {"dataset": "folder", "size": 12, "color": True, "framing": "whole", "separation": "border"}
    saved = Checkpoint(spec, build_model(spec).state_dict(), class_names=CLASSES, data=data, calibration=calibration)
    loaded = Checkpoint.load(saved.save(tmp_path / "m.safetensors"))
    assert loaded.class_names == CLASSES and loaded.spec.input_shape == (3, 12, 12)
    assert loaded.calibration == calibration and loaded.framing == FramingSettings(12, True, "whole", "border")


def test_init_from_copies_the_layers_that_fit_and_reinitialises_the_rest(tmp_path):
    from fashion_desktop.core.builder import build_model
    from fashion_desktop.core.engine import Trainer
    from fashion_desktop.core.session import _copy_fitting_weights

    conv = (
        LayerSpec("Conv2d", {"out_channels": 4, "kernel_size": 3, "padding": 1}),
        LayerSpec("ReLU"),
        LayerSpec("Flatten"),
        LayerSpec("Linear", {"out_features": 10}),
        LayerSpec("LogSoftmax"),  # for the seed preset's NLL loss
    )
    source_spec, target_spec = ModelSpec(conv), ModelSpec(conv, input_shape=(1, 16, 16))
    source = Checkpoint(source_spec, build_model(source_spec, seed=5).state_dict())
    trainer = Trainer(target_spec, CONFIG)
    fresh = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    note = _copy_fitting_weights(trainer, source, "source.safetensors")
    weights = trainer.model.state_dict()
    first, head = next(iter(weights)), list(weights)[-2]  # the conv's weight; the Linear's weight
    assert torch.equal(weights[first], source.weights[first]) and not torch.equal(weights[first], fresh[first])
    assert torch.equal(weights[head], fresh[head])  # 28x28's Linear cannot take 16x16 inputs: re-initialised
    assert "source.safetensors" in note and "3 of 4 weight tensors copied" in note and head in note


@pytest.mark.slow
def test_a_run_started_from_a_model_says_so_in_its_warnings(tmp_path):
    source = Checkpoint(SPEC, seeded_weights(SPEC))
    request = TrainingRequest(
        SPEC,
        replace(CONFIG, epochs=1),
        Path("unused"),
        record=False,
        model_path=tmp_path / "tuned.safetensors",
        dataset="folder",
        images=write_folder(tmp_path / "photos", per_class=4),
        framing=FRAMING,
        init_from=source,
        init_from_name="source.safetensors",
        watch_inside=False,
    )
    outcome = run_training(request)
    assert outcome.error is None, outcome.failure
    assert any(w.startswith("started from the weights from source.safetensors: all") for w in outcome.warnings)


def seeded_weights(spec: ModelSpec) -> dict[str, torch.Tensor]:
    from fashion_desktop.core.builder import build_model

    return build_model(spec, seed=9).state_dict()


def test_folder_names_map_onto_fashion_mnist_classes_and_any_footwear_counts_for_shoes():
    assert [CLASS_NAMES[i] for i in match_folder("shoes", CLASS_NAMES)] == ["Sandal", "Sneaker", "Ankle boot"]
    assert [CLASS_NAMES[i] for i in match_folder("T-Shirt", CLASS_NAMES)] == ["T-shirt/top"]
    assert match_folder("hat", CLASS_NAMES) == () and match_folder("Kind3", CLASSES) == (3,)
    assert match_folder("shoes", CLASSES) == ()  # the Fashion-MNIST names only count for a Fashion-MNIST model


@pytest.mark.slow
def test_train_images_then_predict_json_csv_and_labelled_on_the_command_line(folder, tmp_path, capsys):
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(SPEC.to_dict()))
    out = tmp_path / "cli.safetensors"
    args = ["train", "--images", folder, "--spec", spec_file, "--input-size", "16", "--framing", "squash"]
    assert main([str(a) for a in [*args, "--epochs", "1", "--out", out, "--no-record", "--json"]]) == 0
    finished = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert finished["event"] == "finished" and {"temperature", "ece_before", "ece_after"} <= set(finished)
    assert Checkpoint.load(out).class_names == CLASSES

    image = folder / CLASSES[2] / "1.png"
    assert main(["predict", "--model", str(out), "--json", str(image)]) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["top_class"] in CLASSES and isinstance(line["unsure"], bool)

    table = tmp_path / "p.csv"
    assert main(["predict", "--model", str(out), "--csv", str(table), str(folder / CLASSES[2])]) == 0
    assert "wrote 8 predictions" in capsys.readouterr().out
    rows = list(csv.DictReader(table.open()))
    assert rows[0]["unsure"] in ("true", "false") and rows[0]["top_class"] in CLASSES

    assert main(["predict", "--model", str(out), "--labelled", str(folder), "--json"]) == 0
    score = json.loads(capsys.readouterr().out)
    assert score["images"] == 80 and len(score["confusion"]["counts"]) == 10
    assert 0 <= score["accuracy"] <= 1 and set(score["per_class_accuracy"]) == set(CLASSES)
    assert score["failed"][0]["file"].endswith("broken.png")


def test_folder_options_without_images_are_refused(capsys):
    assert main(["train", "--input-size", "64", "--no-record"]) == 2
    assert "add --images DIR" in capsys.readouterr().err


@pytest.mark.slow
def test_scoring_a_labelled_folder_counts_only_the_matching_folders(trained, folder, tmp_path):
    outcome, _ = trained
    predictor = Predictor.from_file(outcome.model_path)
    (tmp_path / "labelled" / "kind1").mkdir(parents=True)
    (tmp_path / "labelled" / "hats").mkdir()
    for source, target in ((folder / "kind1" / "0.png", "kind1"), (folder / "kind1" / "1.png", "hats")):
        (tmp_path / "labelled" / target / source.name).write_bytes(source.read_bytes())
    score = score_labelled_folder(predictor, tmp_path / "labelled")
    assert score.folders == ("kind1",) and score.unmatched == ("hats",) and score.counts == (1,)
