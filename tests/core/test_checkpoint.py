"""Model files: round trip, atomic writes, no pickle, clear errors for damaged or foreign files."""

import json
import os
from dataclasses import replace

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from fashion_desktop.core import files as files_module
from fashion_desktop.core.builder import build_model
from fashion_desktop.core.checkpoint import Checkpoint
from fashion_desktop.core.engine import train
from fashion_desktop.core.errors import CheckpointError, ImageError
from fashion_desktop.core.inference import Predictor
from fashion_desktop.core.presets import get_preset

SEED = get_preset("seed")


@pytest.fixture(scope="module")
def trained(fashion_root):
    return train(SEED.spec, replace(SEED.config, epochs=1, val_size=50, device="cpu"), fashion_root)


def test_round_trip_keeps_weights_metadata_and_optimizer_state(trained, tmp_path):
    path = trained.checkpoint().save(tmp_path / "m.safetensors")
    loaded = Checkpoint.load(path)
    assert loaded.spec == SEED.spec and loaded.config == trained.config and loaded.epoch == 1
    assert loaded.history == tuple(trained.history) and loaded.test == trained.test
    model = loaded.build_model()
    expected = trained.model.state_dict()
    assert all(torch.equal(v, expected[k]) for k, v in model.state_dict().items())
    optimizer = trained.optimizer.state_dict()
    assert loaded.optimizer_state["param_groups"][0]["lr"] == optimizer["param_groups"][0]["lr"]
    assert torch.equal(loaded.optimizer_state["state"][0]["exp_avg"], optimizer["state"][0]["exp_avg"])


def test_file_is_plain_safetensors_with_readable_metadata(trained, tmp_path):
    path = trained.checkpoint().save(tmp_path / "m.safetensors")
    length = int.from_bytes(path.read_bytes()[:8], "little")
    header = json.loads(path.read_bytes()[8 : 8 + length])
    metadata = header["__metadata__"]
    assert metadata["format"] == "fashion-desktop-model" and metadata["format_version"] == "2"
    assert json.loads(metadata["normalization"]) == {"mean": 0.5, "std": 0.5}
    assert json.loads(metadata["class_names"])[0] == "T-shirt/top"
    assert "model.fc1.weight" in header and any(k.startswith("optimizer.") for k in header)


def test_loading_never_unpickles(trained, tmp_path, monkeypatch):
    import pickle

    path = trained.checkpoint().save(tmp_path / "m.safetensors")
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("unpickled"))
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("torch.load"))
    Checkpoint.load(path)


def test_save_is_atomic_a_failed_write_leaves_the_old_file(trained, tmp_path, monkeypatch):
    path = trained.checkpoint().save(tmp_path / "m.safetensors")
    before = path.read_bytes()

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(files_module.os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        trained.checkpoint().save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]  # no temporary file left behind


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", "not a Fashion Desktop model file"),
        (b"hello, I am a text file", "not a Fashion Desktop model file"),
        (b"\x80\x04\x95pickle", "not a Fashion Desktop model file"),
    ],
)
def test_foreign_files_get_a_clear_error(tmp_path, content, words):
    path = tmp_path / "x.safetensors"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=words):
        Checkpoint.load(path)


def test_truncated_file(trained, tmp_path):
    path = trained.checkpoint().save(tmp_path / "m.safetensors")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="m.safetensors is not a Fashion Desktop model file, or it is damaged"):
        Checkpoint.load(path)


def test_other_safetensors_files_and_newer_versions(tmp_path):
    other = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, other)
    with pytest.raises(CheckpointError, match="not a Fashion Desktop model"):
        Checkpoint.load(other)
    newer = tmp_path / "newer.safetensors"
    save_file({"model.w": torch.zeros(2)}, newer, metadata={"format": "fashion-desktop-model", "format_version": "9"})
    with pytest.raises(CheckpointError, match="version 9, newer than this app reads"):
        Checkpoint.load(newer)


def test_damaged_metadata(tmp_path):
    path = tmp_path / "bad.safetensors"
    save_file(
        {"model.w": torch.zeros(2)},
        path,
        metadata={"format": "fashion-desktop-model", "format_version": "1", "spec": "{not json"},
    )
    with pytest.raises(CheckpointError, match="bad.safetensors"):
        Checkpoint.load(path)


def rewrite(source, target, change_tensors=lambda t: t, **metadata_changes):
    """Copy a model file with some tensors or metadata changed, as a damaged or tampered file would be."""
    from safetensors import safe_open

    with safe_open(source, "pt") as file:
        tensors = {k: file.get_tensor(k) for k in file.keys()}
        metadata = {**file.metadata(), **metadata_changes}
    save_file(change_tensors(tensors), target, metadata=metadata)
    return target


@pytest.mark.parametrize(
    ("change_tensors", "metadata", "words"),
    [
        (lambda t: {**t, "model.fc1.weight": torch.zeros(3, 3)}, {}, r"model weights do not fit its network \(fc1"),
        (lambda t: {k: v for k, v in t.items() if k != "model.fc2.bias"}, {}, "do not fit its network"),
        (lambda t: t, {"class_names": json.dumps(["a", "b"])}, r"network has \(10,\) outputs but it names 2 classes"),
        (lambda t: t, {"format_version": "one"}, "format version 'one' is not a number"),
        (lambda t: t, {"history": json.dumps([{"epoch": "x"}])}, "metadata cannot be read"),
    ],
)
def test_files_that_do_not_fit_their_own_network_are_refused(trained, tmp_path, change_tensors, metadata, words):
    good = trained.checkpoint().save(tmp_path / "good.safetensors")
    damaged = rewrite(good, tmp_path / "damaged.safetensors", change_tensors, **metadata)
    with pytest.raises(CheckpointError, match=words) as error:
        Checkpoint.load(damaged)
    assert "damaged.safetensors is damaged" in str(error.value) and "open another copy" in str(error.value)


@pytest.mark.parametrize(
    ("layers", "words"),
    [
        ([{"type": "Teleport"}], "Teleport"),  # refused while reading the spec
        ([{"type": "Linear", "out_features": 10}], r"layer 1 \(Linear\) needs a flat input"),  # by building
    ],
)
def test_a_file_whose_network_cannot_be_built_is_named_in_the_error(trained, tmp_path, layers, words):
    good = trained.checkpoint().save(tmp_path / "good.safetensors")
    spec = json.dumps({"layers": layers})
    with pytest.raises(CheckpointError, match=rf"(?s)^odd.safetensors: .*{words}"):
        Checkpoint.load(rewrite(good, tmp_path / "odd.safetensors", spec=spec))


def test_missing_file():
    with pytest.raises(CheckpointError, match="model.safetensors was not found"):
        Checkpoint.load("/nonexistent/model.safetensors")


def test_exported_class_loads_the_file_weights_and_matches(trained, tmp_path):
    from fashion_desktop.core.builder import to_python

    path = trained.checkpoint().save(tmp_path / "m.safetensors")
    namespace: dict = {}
    exec(to_python(SEED.spec), namespace)
    exported = namespace["load_weights"](namespace["FashionNetwork"](), str(path)).eval()
    x = torch.randn(5, 1, 28, 28)
    with torch.no_grad():
        assert torch.allclose(exported(x), trained.model.eval()(x))


def test_predictor_probabilities_sum_to_one_and_match_the_model(trained, tmp_path):
    path = trained.checkpoint().save(tmp_path / "m.safetensors")
    predictor = Predictor.from_file(path)
    images = (np.random.default_rng(0).random((4, 28, 28)) * 255).astype(np.uint8)
    predictions = predictor.predict_array(images)
    for prediction, image in zip(predictions, images, strict=True):
        assert sum(prediction.probabilities) == pytest.approx(1.0, abs=1e-5)
        assert prediction.top_class in prediction.class_names and np.array_equal(prediction.seen, image)
    x = (torch.from_numpy(images).float().unsqueeze(1) / 255 - 0.5) / 0.5
    with torch.no_grad():
        expected = torch.exp(trained.model.eval()(x))
    assert np.allclose([p.probabilities for p in predictions], expected.numpy(), atol=1e-5)


def test_predictor_on_files_and_bad_files(trained, tmp_path):
    from PIL import Image

    predictor = Predictor(trained.model, SEED.spec)
    Image.fromarray(np.full((28, 28), 200, np.uint8)).save(tmp_path / "a.png")
    assert sum(predictor.predict(tmp_path / "a.png").probabilities) == pytest.approx(1.0, abs=1e-5)
    (tmp_path / "b.png").write_bytes(b"garbage")
    with pytest.raises(ImageError, match="b.png"):
        predictor.predict(tmp_path / "b.png")


def test_softmax_head_probabilities_are_not_softmaxed_twice():
    from fashion_desktop.core.spec import ModelSpec, layer

    spec = ModelSpec((layer("Flatten"), layer("Linear", out_features=10), layer("Softmax")))
    predictor = Predictor(build_model(spec, seed=0), spec)
    (prediction,) = predictor.predict_array(np.zeros((1, 28, 28), np.uint8))
    with torch.no_grad():
        expected = predictor.model(torch.full((1, 1, 28, 28), -1.0))[0]
    assert np.allclose(prediction.probabilities, expected.numpy(), atol=1e-6)


def _config_with(trained, **changes):
    return json.dumps({**trained.config.to_dict(), **changes})


def _optimizer_with(path, change):
    from safetensors import safe_open

    with safe_open(path, "pt") as file:
        rest = json.loads(file.metadata()["optimizer"])
    change(rest)
    return json.dumps(rest)


# Each is a model file an audit tampered with; every one used to load, then fail later with a traceback (in
# --resume, File > Open or predict). One validation on load refuses them all with a message naming the file.
TAMPERED_METADATA = [
    ({"best_epoch": "999"}, "best epoch must be a whole number from 1 to 1"),
    ({"best_epoch": "1.5"}, "best epoch"),
    ({"best_epoch": '"x"'}, "best epoch"),
    ({"epoch": "-5"}, "epoch count must be a whole number"),
    ({"epoch": "²"}, "epoch count"),
    ({"format_version": "²"}, "format version '²' is not a number"),
    ({"format_version": "1" * 5000}, "format version"),
    ({"history": "[" * 50_000 + "]" * 50_000}, "nests"),
    ({"history": json.dumps([{"epoch": 1, "train_loss": "x"}])}, "metadata cannot be read|train_loss"),
    ({"test": json.dumps({"loss": 1, "accuracy": 2, "confusion": [[1] * 10] * 9})}, "test results are damaged"),
    ({"epoch": "9" * 5000}, "epoch count"),
    ({"class_names": json.dumps([1] * 10)}, "class names must be 2 to 100 non-empty texts"),
    ({"scheduler": json.dumps({"step": "evil"})}, "scheduler state but its settings use no scheduler"),
]


@pytest.mark.parametrize(("metadata", "words"), TAMPERED_METADATA)
def test_tampered_metadata_is_refused_on_load(trained, tmp_path, metadata, words):
    good = trained.checkpoint().save(tmp_path / "good.safetensors")
    with pytest.raises(CheckpointError, match=words) as caught:
        Checkpoint.load(rewrite(good, tmp_path / "bad.safetensors", **metadata))
    assert "bad.safetensors" in str(caught.value)


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ({"batch_size": 64.0}, "batch_size must be a whole number"),
        ({"batch_size": "64\n__import__('os').system('touch pwned')  #"}, "batch_size must be a whole number"),
        ({"lr": "0.01"}, "lr must be a number"),
        ({"epochs": True}, "epochs must be a whole number"),
        ({"augment": "yes"}, "augment must be true or false"),
        ({"keep_best": 1}, "keep_best must be true or false"),
        ({"optimizer_options": []}, "optimizer_options must be an object"),
        ({"optimizer": "Teleport"}, "unknown optimizer"),
        ({"epochs": 10**9}, "epochs must be at most"),
        ({"device": "cuda:99999999999999999999"}, "too large"),
    ],
)
def test_every_config_field_is_checked_for_type_and_range_on_load(trained, tmp_path, config, words):
    good = trained.checkpoint().save(tmp_path / "good.safetensors")
    with pytest.raises(CheckpointError, match=words):
        Checkpoint.load(rewrite(good, tmp_path / "bad.safetensors", config=_config_with(trained, **config)))


def test_optimizer_state_of_the_wrong_shape_or_groups_is_refused(trained, tmp_path):
    good = trained.checkpoint().save(tmp_path / "good.safetensors")

    def wrong_shape(tensors):
        key = next(k for k in tensors if k.startswith("optimizer.") and k.endswith("exp_avg"))
        return {**tensors, key: torch.zeros(3)}

    with pytest.raises(CheckpointError, match="wrong shape"):
        Checkpoint.load(rewrite(good, tmp_path / "a.safetensors", wrong_shape))
    cases = [
        (lambda rest: rest["param_groups"].append(dict(rest["param_groups"][0])), "parameter group"),
        (lambda rest: rest["param_groups"][0].update(params=[0, 1]), "parameter groups do not fit"),
        (lambda rest: rest["param_groups"][0].update(lr="0.01"), "optimizer.lr"),
        (lambda rest: rest["param_groups"][0].update(betas=[0.9]), "optimizer.betas"),
        (lambda rest: rest["plain"].update({"99": {"step": 1}}), "parameter 99"),
        (lambda rest: rest["plain"].update({"x": {"step": 1}}), "parameter 'x'"),
    ]
    for change, words in cases:
        bad = rewrite(good, tmp_path / "b.safetensors", optimizer=_optimizer_with(good, change))
        with pytest.raises(CheckpointError, match=words):
            Checkpoint.load(bad)


def test_scheduler_state_must_be_the_schedulers_own(trained, fashion_root, tmp_path):
    config = replace(trained.config, scheduler="StepLR")
    scheduled = train(SEED.spec, config, fashion_root)
    good = scheduled.checkpoint().save(tmp_path / "good.safetensors")
    assert Checkpoint.load(good).scheduler_state is not None
    for state, words in [
        ({"step": "evil"}, "unknown entries"),
        ({"last_epoch": 1.5}, "last_epoch"),
        ({"base_lrs": [0.1, 0.2]}, "base_lrs"),
    ]:
        with pytest.raises(CheckpointError, match=words):
            Checkpoint.load(rewrite(good, tmp_path / "bad.safetensors", scheduler=json.dumps(state)))


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused(trained, tmp_path, value):
    good = trained.checkpoint().save(tmp_path / "good.safetensors")

    def poison(tensors):
        weight = tensors["model.fc1.weight"].clone()
        weight[0, 0] = value
        return {**tensors, "model.fc1.weight": weight}

    with pytest.raises(CheckpointError, match="NaN or infinite"):
        Checkpoint.load(rewrite(good, tmp_path / "bad.safetensors", poison))


def test_weights_of_another_dtype_are_refused(trained, tmp_path):
    good = trained.checkpoint().save(tmp_path / "good.safetensors")
    halves = rewrite(good, tmp_path / "bad.safetensors", lambda t: {k: v.double() for k, v in t.items()})
    with pytest.raises(CheckpointError, match="do not fit its network"):
        Checkpoint.load(halves)


def test_a_file_that_loads_can_resume(trained, fashion_root, tmp_path):
    """What the validation accepts is what the trainer can take: continuing a saved run works."""
    from fashion_desktop.core.engine import Trainer

    path = trained.checkpoint().save(tmp_path / "m.safetensors")
    checkpoint = Checkpoint.load(path)
    more = Trainer(checkpoint.spec, replace(checkpoint.config, epochs=2), resume_from=checkpoint)
    more.fit(more.load_data(fashion_root))
    assert more.epoch == 2


def test_a_model_file_fifo_or_device_is_refused_without_reading(tmp_path):
    fifo = tmp_path / "m.safetensors"
    os.mkfifo(fifo)
    with pytest.raises(CheckpointError, match="named pipe"):
        Checkpoint.load(fifo)
    with pytest.raises(CheckpointError, match="character device"):
        Checkpoint.load("/dev/zero")


def test_checkpoint_module_no_longer_defines_atomic_write():
    from fashion_desktop.core import checkpoint, files

    assert checkpoint.atomic_write is files.atomic_write  # kept importable from its old home
