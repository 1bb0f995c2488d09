"""Image-folder models of any class count and input shape, end to end: train, check, continue, export; and MNIST.

The folders are generated (bars at a class-specific height, see ``test_photo_training.write_folder``) and framed
with "squash" or "whole", so no garment separation runs.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from fashion_desktop.cli import main
from fashion_desktop.core.builder import build_model
from fashion_desktop.core.checkpoint import Checkpoint
from fashion_desktop.core.data import DATASETS
from fashion_desktop.core.export import (
    export_onnx,
    export_python,
    export_torchscript,
    export_training_script,
    training_script,
)
from fashion_desktop.core.metrics import Evaluation
from fashion_desktop.core.presets import get_preset
from fashion_desktop.core.spec import CLASS_NAMES
from tests.core.test_datasets import as_dataset
from tests.core.test_photo_training import write_folder


def classes(count: int) -> tuple[str, ...]:
    return tuple(f"kind {c:02d}" for c in range(count))  # a space, as folder names have


def with_outputs(spec, count: int):
    """``spec`` whose last Linear layer has ``count`` outputs."""
    last = max(i for i, layer in enumerate(spec.layers) if layer.kind == "Linear")
    return spec.replaced(last, replace(spec.layers[last], params={"out_features": count}))


def run(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def train_folder(capsys, folder: Path, out: Path, *extra) -> tuple[int, str, str]:
    """``train --images`` with the default preset, 16x16 grey squashed photos, one epoch."""
    options = ["--input-size", 16, "--framing", "squash", "--epochs", 1, "--batch-size", 16]
    return run(capsys, "train", "--images", folder, *options, "--out", out, "--no-record", "--json", *extra)


@pytest.mark.slow
@pytest.mark.parametrize("count", [3, 12])
def test_a_folder_of_any_class_count_trains_with_the_default_preset_and_predicts_its_classes(capsys, tmp_path, count):
    names = classes(count)
    folder = write_folder(tmp_path / "photos", per_class=5, classes=names)
    out = tmp_path / "model.safetensors"
    code, stdout, err = train_folder(capsys, folder, out)
    assert code == 0, err
    assert json.loads(stdout.splitlines()[-1])["event"] == "finished"
    model = Checkpoint.load(out)
    assert model.class_names == names and model.spec.input_shape == (1, 16, 16)
    assert model.spec.summary().rows[-1].output_shape == (count,)  # the preset's head follows the folder
    assert len(model.test.confusion) == count and model.test.class_names == names
    assert list(model.test.to_dict()["per_class_accuracy"]) == list(names)

    code, stdout, _ = run(capsys, "predict", "--model", out, "--json", folder / names[-1] / "0.png")
    prediction = json.loads(stdout)
    assert code == 0 and prediction["top_class"] in names and list(prediction["probabilities"]) == list(names)


def test_an_evaluation_of_three_classes_keeps_their_names_through_the_model_file():
    evaluation = Evaluation(0.5, 2 / 3, ((1, 0, 0), (0, 1, 0), (1, 0, 0)), ("a", "b", "c"))
    data = evaluation.to_dict()
    assert data["per_class_accuracy"] == {"a": 1.0, "b": 1.0, "c": 0.0}
    assert Evaluation.from_dict(json.loads(json.dumps(data))) == evaluation
    assert list(Evaluation(0.1, 1.0, ((1,) * 10,) * 10).to_dict()["per_class_accuracy"]) == list(CLASS_NAMES)


def test_summary_images_checks_the_network_against_the_folders_classes_and_framing(capsys, tmp_path):
    folder = write_folder(tmp_path / "photos", per_class=1, classes=classes(3))
    code, stdout, _ = run(capsys, "summary", "--images", folder, "--input-size", 20, "--color", "--json")
    report = json.loads(stdout)
    assert code == 0 and report["classes"] == list(classes(3)) and report["input_shape"] == [3, 20, 20]
    assert report["layers"][-1]["output_shape"] == [3] and report["problems"] == []  # as train would build it

    spec_file = tmp_path / "spec.json"
    spec_file.write_text(get_preset("small-cnn").spec.to_json())  # the user's own network: ten outputs
    code, stdout, _ = run(capsys, "summary", "--spec", spec_file, "--images", folder)
    assert code == 1 and f"{folder}: 3 classes (kind 00, kind 01, kind 02), framed to 1x28x28" in stdout
    assert "ends with 10 features but the data has 3 classes" in stdout


@pytest.mark.slow
def test_a_folder_model_continues_on_its_own_folder_and_says_what_to_do_when_it_is_gone(capsys, tmp_path):
    folder = write_folder(tmp_path / "photos", per_class=4, classes=classes(3))
    out = tmp_path / "model.safetensors"
    assert train_folder(capsys, folder, out)[0] == 0
    assert Checkpoint.load(out).data["images"] == str(folder.resolve())

    code, _, err = run(capsys, "train", "--resume", out, "--epochs", 2, "--no-record")
    assert code == 0, err
    model = Checkpoint.load(out)
    assert model.epoch == 2 and model.framing.framing == "squash" and model.class_names == classes(3)

    moved = folder.rename(tmp_path / "moved")
    code, _, err = run(capsys, "train", "--resume", out, "--epochs", 3, "--no-record")
    assert code == 2 and f"the image folder {folder.resolve()}, which is no longer there" in err
    assert "give its new place with --images DIR" in err and "Traceback" not in err
    assert run(capsys, "train", "--resume", out, "--epochs", 3, "--images", moved, "--no-record")[0] == 0

    shutil.rmtree(moved / "kind 02")
    code, _, err = run(capsys, "train", "--resume", out, "--epochs", 4, "--images", moved, "--no-record")
    assert code == 2 and "was trained on the classes kind 00, kind 01, kind 02 but" in err


def test_a_model_file_from_before_folders_were_recorded_asks_for_the_folder(capsys, tmp_path):
    spec = with_outputs(replace(get_preset("seed").spec, input_shape=(1, 16, 16)), 3)
    data = {"dataset": "folder", "size": 16, "color": False, "framing": "squash", "separation": "none"}
    config = replace(get_preset("seed").config, epochs=1)
    old = Checkpoint(spec, build_model(spec).state_dict(), config=config, class_names=classes(3), data=data, epoch=1)
    code, _, err = run(capsys, "train", "--resume", old.save(tmp_path / "old.safetensors"), "--epochs", 2)
    assert code == 2 and "does not say which" in err and "--images DIR" in err


def _colour_model() -> Checkpoint:
    """A 64x64 colour, 5-class photo-cnn with trained-looking batch-norm statistics."""
    spec = with_outputs(get_preset("photo-cnn").spec, 5)
    model = build_model(spec, seed=0)
    with torch.no_grad():
        model(torch.randn(8, 3, 64, 64))  # training mode: the running statistics move
    data = {"dataset": "folder", "size": 64, "color": True, "framing": "whole", "separation": "border"}
    return Checkpoint(
        spec, model.state_dict(), class_names=classes(5), data=data, config=get_preset("photo-cnn").config
    )


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:`torch.jit:FutureWarning")
def test_a_colour_64px_five_class_model_exports_in_every_format_and_runs_on_its_input(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    checkpoint = _colour_model()
    x = torch.randn(1, 3, 64, 64)
    with torch.inference_mode():
        expected = checkpoint.build_model()(x)
    assert expected.shape == (1, 5)

    session = ort.InferenceSession(
        str(export_onnx(checkpoint, tmp_path / "m.onnx")), providers=["CPUExecutionProvider"]
    )
    (output,) = session.run(None, {"image": x.numpy()})
    torch.testing.assert_close(torch.from_numpy(output), expected, atol=1e-4, rtol=1e-4)
    metadata = session.get_modelmeta().custom_metadata_map
    assert json.loads(metadata["class_names"]) == list(classes(5)) and json.loads(metadata["input_shape"]) == [
        3,
        64,
        64,
    ]
    assert json.loads(metadata["framing"])["framing"] == "whole"

    files = {"class_names": "", "input_shape": ""}
    scripted = torch.jit.load(str(export_torchscript(checkpoint, tmp_path / "m.pt")), _extra_files=files).eval()
    with torch.inference_mode():
        torch.testing.assert_close(scripted(x), expected)
    assert json.loads(files["class_names"]) == list(classes(5)) and json.loads(files["input_shape"]) == [3, 64, 64]

    path = export_python(checkpoint, tmp_path / "network.py")
    loader = importlib.util.spec_from_file_location("network", path)
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    assert module.CLASS_NAMES == list(classes(5)) and module.INPUT_SHAPE == (3, 64, 64)
    assert "for the 5 classes of CLASS_NAMES" in path.read_text()
    network = module.load_weights(module.FashionNetwork(), str(checkpoint.save(tmp_path / "m.safetensors"))).eval()
    with torch.inference_mode():
        torch.testing.assert_close(network(x), expected)


def test_the_training_script_says_plainly_that_it_does_not_crop_to_the_garment(tmp_path):
    garment = replace(_colour_model(), data={"dataset": "folder", "size": 64, "color": True, "framing": "garment"})
    script = export_training_script(garment, tmp_path / "garment.py").read_text()
    assert "NOT REPRODUCED" in script and "GrabCut" in script and "FRAMING = 'whole'" in script
    whole = export_training_script(_colour_model(), tmp_path / "whole.py").read_text()
    assert "NOT REPRODUCED" not in whole and "ImageFolder" in whole and "fashion_desktop" not in whole
    assert "CLASS_NAMES = ['kind 00', 'kind 01'" in whole and "IMAGE_SIZE = 64" in whole and "COLOR = True" in whole


@pytest.mark.slow
def test_the_training_script_of_a_three_class_folder_model_trains_on_the_folder_with_image_folder(capsys, tmp_path):
    folder = write_folder(tmp_path / "photos", per_class=5, classes=classes(3))  # with one unreadable file
    model = tmp_path / "model.safetensors"
    assert train_folder(capsys, folder, model)[0] == 0
    script = export_training_script(Checkpoint.load(model), tmp_path / "train.py")
    weights = tmp_path / "weights.pt"
    command = [sys.executable, str(script), "--data", str(folder), "--epochs", "1", "--out", str(weights)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "skipped" in done.stdout and "broken.png" in done.stdout
    assert "epoch 1: train loss " in done.stdout and "test accuracy" in done.stdout
    build_model(Checkpoint.load(model).spec).load_state_dict(torch.load(weights, weights_only=True))

    (tmp_path / "other" / "a").mkdir(parents=True)
    namespace: dict = {}
    exec(compile(script.read_text(), str(script), "exec"), namespace)
    with pytest.raises(SystemExit, match="holds the classes \\['a'\\].*give the folder it was trained on"):
        namespace["load_data"](str(tmp_path / "other"))


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["mnist", "kmnist"])
def test_mnist_and_kmnist_train_from_idx_files_and_the_model_names_their_classes(capsys, tmp_path, dataset):
    root = as_dataset(tmp_path, DATASETS[dataset].folder)
    out = tmp_path / "model.safetensors"
    args = ["--dataset", dataset, "--data", root, "--epochs", 1, "--val-size", 50, "--out", out, "--no-record"]
    code, _, err = run(capsys, "train", *args)
    assert code == 0, err
    model = Checkpoint.load(out)
    assert model.class_names == DATASETS[dataset].class_names and model.data == {"dataset": dataset}
    assert list(model.test.to_dict()["per_class_accuracy"]) == list(DATASETS[dataset].class_names)
    code, _, err = run(capsys, "train", "--resume", out, "--epochs", 2, "--data", root, "--no-record")
    assert code == 0 and Checkpoint.load(out).data == {"dataset": dataset}, err  # continued on the same data


def test_the_training_script_of_an_mnist_model_reads_mnist():
    info = DATASETS["kmnist"]
    script = training_script(
        get_preset("seed").spec, get_preset("seed").config, info.class_names, {"dataset": "kmnist"}
    )
    compile(script, "train_kmnist.py", "exec")
    assert "datasets.KMNIST(" in script and '"KMNIST" / "raw"' in script and "FashionMNIST" not in script
    assert script.startswith('"""Train a network on KMNIST') and f"CLASS_NAMES = {list(info.class_names)!r}" in script
