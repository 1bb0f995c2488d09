"""Exports: ONNX and TorchScript give the same outputs as the model, the readable class and the training script run."""

import gzip
import importlib.util
import json
import os
import subprocess
import sys
from dataclasses import replace

import pytest
import torch

from fashion_desktop.core.builder import build_model
from fashion_desktop.core.checkpoint import Checkpoint
from fashion_desktop.core.config import LOSSES, OPTIMIZERS, SCHEDULERS, TrainConfig
from fashion_desktop.core.data import load_fashion_mnist
from fashion_desktop.core.errors import UserError
from fashion_desktop.core.export import (
    EXPORT_FORMATS,
    ExportError,
    default_export_path,
    export_onnx,
    export_python,
    export_torchscript,
    export_training_script,
    training_script,
)
from fashion_desktop.core.optim import make_loss, make_optimizer, make_scheduler
from fashion_desktop.core.presets import PRESETS, get_preset
from fashion_desktop.core.spec import LayerSpec, ModelSpec, layer
from fashion_desktop.core.synthetic import write_fashion_mnist


@pytest.fixture(scope="module")
def uncompressed_root(tmp_path_factory):
    """The synthetic data with uncompressed files, which is what torchvision's FashionMNIST reads."""
    return write_fashion_mnist(tmp_path_factory.mktemp("data"), compress=False)


def _checkpoint(preset_name):
    """A checkpoint of the preset with non-trivial batch-norm statistics, as a trained model has."""
    preset = get_preset(preset_name)
    model = build_model(preset.spec, seed=0)
    with torch.no_grad():
        model(torch.randn(16, 1, 28, 28))  # in training mode: updates the running mean and variance
    return Checkpoint(preset.spec, model.state_dict(), config=preset.config)


def _expected(checkpoint, x):
    with torch.inference_mode():
        return checkpoint.build_model()(x)


@pytest.mark.parametrize("preset_name", ["seed", "small-cnn"])
def test_onnx_matches_torch_for_any_batch_size(tmp_path, preset_name):
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime (a dev dependency) runs the exported ONNX file")
    checkpoint = _checkpoint(preset_name)
    path = export_onnx(checkpoint, tmp_path / "model.onnx")
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]  # no temporary file left behind
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["image"] and [o.name for o in session.get_outputs()] == ["output"]
    for batch in (3, 1):
        x = torch.randn(batch, 1, 28, 28)
        (output,) = session.run(None, {"image": x.numpy()})
        torch.testing.assert_close(torch.from_numpy(output), _expected(checkpoint, x), atol=1e-4, rtol=1e-4)
    metadata = session.get_modelmeta().custom_metadata_map
    assert json.loads(metadata["class_names"])[0] == "T-shirt/top"
    assert json.loads(metadata["normalization"]) == {"mean": 0.5, "std": 0.5}


def test_onnx_without_the_onnx_package_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # makes `import onnx` fail
    with pytest.raises(ExportError, match="pip install onnx"):
        export_onnx(_checkpoint("seed"), tmp_path / "model.onnx")


@pytest.mark.filterwarnings("ignore:`torch.jit:FutureWarning")
def test_torchscript_round_trip(tmp_path):
    checkpoint = _checkpoint("small-cnn")
    loaded = torch.jit.load(str(export_torchscript(checkpoint, tmp_path / "model.pt"))).eval()
    x = torch.randn(3, 1, 28, 28)
    with torch.inference_mode():
        torch.testing.assert_close(loaded(x), _expected(checkpoint, x))


@pytest.mark.parametrize("preset_name", ["seed", "small-cnn"])
def test_the_python_class_loads_the_model_file(tmp_path, preset_name):
    checkpoint = _checkpoint(preset_name)
    model_file = checkpoint.save(tmp_path / "model.safetensors")
    module = _import(export_python(checkpoint, tmp_path / "network.py"))
    model = module.load_weights(module.FashionNetwork(), str(model_file)).eval()
    x = torch.randn(3, 1, 28, 28)
    with torch.inference_mode():
        torch.testing.assert_close(model(x), _expected(checkpoint, x))


def test_the_training_script_builds_the_apps_loss_optimizer_and_scheduler():
    configs = [TrainConfig(optimizer=name) for name in OPTIMIZERS]
    configs += [TrainConfig(scheduler=name) for name in SCHEDULERS] + [TrainConfig(loss=name) for name in LOSSES]
    configs += [
        TrainConfig(optimizer="SGD", optimizer_options={"momentum": 0.9, "nesterov": True, "weight_decay": 1e-4}),
        TrainConfig(optimizer="Adam", optimizer_options={"beta1": 0.8, "beta2": 0.99, "amsgrad": True}),
        TrainConfig(optimizer="Rprop", optimizer_options={"eta_plus": 1.5, "step_max": 10.0}),
        TrainConfig(epochs=7, scheduler="CosineAnnealingLR", scheduler_options={"eta_min": 1e-5}),
        TrainConfig(scheduler="MultiStepLR", scheduler_options={"milestones": [2, 4], "gamma": 0.5}),
        TrainConfig(loss="label_smoothing", loss_options={"smoothing": 0.2}),
    ]
    for config in configs:
        namespace = {}
        exec(compile(training_script(get_preset("seed").spec, config), "train_fashion.py", "exec"), namespace)
        ours, theirs = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
        optimizer, expected_optimizer = namespace["make_optimizer"]([theirs]), make_optimizer(config, [ours])
        assert type(optimizer) is type(expected_optimizer) and optimizer.defaults == expected_optimizer.defaults
        scheduler = namespace["make_scheduler"](optimizer, config.epochs)
        expected_scheduler = make_scheduler(config, expected_optimizer)
        assert type(scheduler) is type(expected_scheduler)
        if scheduler is not None:
            assert scheduler.state_dict() == expected_scheduler.state_dict()
        loss, expected_loss = namespace["make_loss"](), make_loss(config)
        assert type(loss).__name__ == type(expected_loss).__name__  # the script writes out its own OneHotLoss
        for option in ("label_smoothing", "kind", "beta"):
            assert getattr(loss, option, None) == getattr(expected_loss, option, None)


def test_every_presets_training_script_compiles():
    for preset in PRESETS.values():
        code = training_script(preset.spec, preset.config)
        compile(code, "train_fashion.py", "exec")
        assert "fashion_desktop" not in code


def test_the_training_script_holds_out_the_apps_validation_images(uncompressed_root):
    preset = get_preset("seed")
    config = replace(preset.config, val_size=40, seed=3)
    namespace = {}
    exec(compile(training_script(preset.spec, config), "train_fashion.py", "exec"), namespace)
    _, val_set, _ = namespace["load_data"](str(uncompressed_root))
    ours = load_fashion_mnist(uncompressed_root, val_size=40, seed=3)
    theirs = torch.stack([val_set.dataset[i][0] for i in sorted(val_set.indices)])  # the app keeps file order
    torch.testing.assert_close(theirs, ours.val_x)


@pytest.mark.slow
def test_the_training_script_trains_on_its_own_from_gz_files_torchvision_would_download_again(tmp_path):
    # Only .gz files, recompressed (not torchvision's checksums, as in ../shared/data): the script unpacks them
    # rather than letting torchvision download the dataset, which fails offline.
    root = write_fashion_mnist(tmp_path / "data")
    preset = get_preset("seed")
    config = replace(preset.config, epochs=5, batch_size=32, val_size=50, keep_best=True)
    checkpoint = Checkpoint(preset.spec, build_model(preset.spec).state_dict(), config=config)
    script = export_training_script(checkpoint, tmp_path / "train_fashion.py")
    weights = tmp_path / "weights.pt"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, str(script), "--data", str(root), "--epochs", "1", "--out", str(weights)]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Downloading" not in done.stdout + done.stderr
    packed = sorted((root / "FashionMNIST" / "raw").glob("*.gz"))
    assert len(packed) == 4 and all(gzip.decompress(p.read_bytes()) == p.with_suffix("").read_bytes() for p in packed)
    assert not list(root.rglob("*.part"))
    assert "epoch 1: train loss " in done.stdout and "validation accuracy" in done.stdout
    assert "epoch 2" not in done.stdout and "kept the weights of epoch 1" in done.stdout
    accuracy = float(done.stdout.split("test accuracy ")[1].split()[0])
    assert 0 <= accuracy <= 1
    build_model(preset.spec).load_state_dict(torch.load(weights, weights_only=True))  # the same layer names


def test_the_training_script_starts_from_the_apps_initial_weights():
    spec = ModelSpec(
        (
            LayerSpec("Conv2d", {"out_channels": 4, "kernel_size": 3}, "kaiming_uniform"),
            layer("ReLU"),
            layer("Flatten"),
            LayerSpec("Linear", {"out_features": 16}),
            LayerSpec("Linear", {"out_features": 10}, "xavier_normal", {"gain": 0.5}, "zeros"),
        )
    )
    config = TrainConfig(seed=11)
    namespace = {}
    exec(compile(training_script(spec, config), "train_fashion.py", "exec"), namespace)
    torch.manual_seed(namespace["SEED"])  # as the script's main() does before building the network
    theirs = namespace["FashionNetwork"]().state_dict()
    ours = build_model(spec, seed=config.seed).state_dict()  # as the app's trainer does
    assert list(theirs) == list(ours) and all(torch.equal(theirs[k], ours[k]) for k in ours)


def test_a_model_without_training_settings_has_no_training_script(tmp_path):
    checkpoint = replace(_checkpoint("seed"), config=None)
    with pytest.raises(ExportError, match="no training settings"):
        export_training_script(checkpoint, tmp_path / "train.py")


@pytest.mark.filterwarnings("ignore:`torch.jit:FutureWarning")
def test_every_format_writes_to_its_default_path(tmp_path):
    model_file = _checkpoint("seed").save(tmp_path / "model.safetensors")
    checkpoint = Checkpoint.load(model_file)
    names = {name: default_export_path(model_file, name).name for name in EXPORT_FORMATS}
    assert names == {
        "onnx": "model.onnx",
        "torchscript": "model.torchscript.pt",
        "python": "model.py",
        "script": "model_train.py",
    }
    for name, export_format in EXPORT_FORMATS.items():
        path = export_format.export(checkpoint, default_export_path(model_file, name))
        assert path.stat().st_size > 0


def _import(path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# A model file whose config carries code in each field a script writes; TrainConfig does not check types when it
# is built directly, so these reach training_script as they would from a file read without validation.
_PAYLOAD = "64\nimport pathlib; pathlib.Path({marker!r}).write_text('ran')  #"
_SCRIPT_FIELDS = ("epochs", "batch_size", "seed", "val_size", "early_stopping_patience", "augment", "keep_best")


@pytest.mark.parametrize("field", _SCRIPT_FIELDS)
def test_a_payload_in_a_config_field_never_reaches_the_script(tmp_path, field):
    marker = tmp_path / "pwned"
    config = replace(get_preset("seed").config, **{field: _PAYLOAD.format(marker=str(marker))})
    checkpoint = replace(_checkpoint("seed"), config=config)
    with pytest.raises((ExportError, UserError)):
        export_training_script(checkpoint, tmp_path / "train.py")
    assert not (tmp_path / "train.py").exists() and not marker.exists()


@pytest.mark.parametrize("field", _SCRIPT_FIELDS)
def test_a_payload_in_a_model_file_is_refused_on_load_and_the_script_never_runs_it(tmp_path, field):
    """The path a user takes: a tampered file, then export --format script, then running the script's --help."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    marker = tmp_path / "pwned"
    good = _checkpoint("seed").save(tmp_path / "good.safetensors")
    with safe_open(good, "pt") as file:
        tensors = {k: file.get_tensor(k) for k in file.keys()}
        metadata = file.metadata()
    config = {**json.loads(metadata["config"]), field: _PAYLOAD.format(marker=str(marker))}
    bad = tmp_path / "bad.safetensors"
    save_file(tensors, bad, metadata={**metadata, "config": json.dumps(config)})
    with pytest.raises(UserError, match=field):
        Checkpoint.load(bad)
    assert not marker.exists()


def test_every_value_is_a_literal_in_the_script():
    import ast

    config = replace(get_preset("seed").config, epochs=3, batch_size=32, seed=7, augment=True)
    tree = ast.parse(training_script(get_preset("seed").spec, config))
    constants = {
        node.targets[0].id: node.value
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) and node.targets[0].id.isupper()
    }
    for name in ("EPOCHS", "BATCH_SIZE", "SEED", "VAL_SIZE", "AUGMENT", "KEEP_BEST", "EARLY_STOPPING_PATIENCE"):
        assert isinstance(constants[name], ast.Constant), name
    assert ast.literal_eval(constants["EPOCHS"]) == 3 and ast.literal_eval(constants["AUGMENT"]) is True
