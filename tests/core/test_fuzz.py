"""Fuzzing the readers: random and mutated images, model files and spec files either work or raise the app's errors.

Every input must end, quickly and within a memory bound, in one of two ways: it is accepted (and then usable), or
it raises a UserError subclass with a message. Any other exception, a hang or code running is a bug. A second
test checks that no model file or image can make the app run code: a marker file its payload would write never
appears.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import resource
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from safetensors.torch import save

from fashion_desktop.core.builder import build_model
from fashion_desktop.core.checkpoint import Checkpoint
from fashion_desktop.core.errors import UserError
from fashion_desktop.core.export import training_script
from fashion_desktop.core.imaging import open_image, to_model_input
from fashion_desktop.core.inference import Predictor
from fashion_desktop.core.presets import get_preset
from fashion_desktop.core.spec import ModelSpec

pytestmark = pytest.mark.slow

SEED = get_preset("seed")
FUZZ = settings(
    # Small enough for the suite (about 10 s in all); raise it for a longer hunt, e.g. FASHION_DESKTOP_FUZZ=2000
    max_examples=int(os.environ.get("FASHION_DESKTOP_FUZZ", "250")),
    deadline=2000,  # ms per input: a hang or a crawl fails the test
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
    database=None,
)
MAX_GROWTH_KIB = 1024 * 1024  # the whole fuzz run may not grow the process's peak memory by a gigabyte


@pytest.fixture(scope="module", autouse=True)
def _memory_bound():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    yield
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown < MAX_GROWTH_KIB, f"fuzzing grew peak memory by {grown / 1024:.0f} MiB"


def _seed_images() -> list[bytes]:
    """One small valid file of each supported format, for the mutations to start from."""
    pixels = np.random.default_rng(0).integers(0, 255, (24, 20, 3), dtype=np.uint8)
    images = []
    for fmt in ("PNG", "JPEG", "WEBP", "BMP", "GIF", "TIFF"):
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, fmt)
        images.append(buffer.getvalue())
    return images


SEED_IMAGES = _seed_images()


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """A valid file with bytes flipped, cut, repeated or spliced in: what damaged or hostile files look like."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 6))):
        action = draw(st.sampled_from(["flip", "cut", "insert", "big_number"]))
        position = draw(st.integers(0, max(0, len(data) - 1)))
        if action == "flip" and data:
            data[position] ^= draw(st.integers(1, 255))
        elif action == "cut":
            del data[position : position + draw(st.integers(1, 64))]
        elif action == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=32))
        else:  # a width, height, length or count field turned huge
            data[position : position + 4] = struct.pack(">I", draw(st.sampled_from([0, 2**31 - 1, 2**32 - 1, 65535])))
    return bytes(data)


def _accepted_or_user_error(function, *args):
    try:
        return function(*args)
    except UserError as error:
        assert str(error).strip(), "an error must say what is wrong"
        return None


@FUZZ
@given(data=st.one_of(mutated(SEED_IMAGES), st.binary(max_size=2048)))
def test_images_open_or_raise_an_image_error(data):
    image = _accepted_or_user_error(open_image, data)
    if image is None:
        return
    assert image.width > 0 and image.height > 0  # an image accepted is one that can be drawn
    model_input = _accepted_or_user_error(to_model_input, image)
    if model_input is not None:  # what the model sees is always Fashion-MNIST's shape and type
        assert model_input.shape == (28, 28) and model_input.dtype == np.uint8


# -- model files --


def _header_and_tensors(data: bytes) -> tuple[dict, bytes]:
    length = int.from_bytes(data[:8], "little")
    return json.loads(data[8 : 8 + length]), data[8 + length :]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@st.composite
def tampered_models(draw: st.DrawFn, good: bytes) -> bytes:
    """The model file with one metadata field replaced by random JSON, or its bytes mutated."""
    if draw(st.booleans()):
        return draw(mutated([good]))
    header, body = _header_and_tensors(good)
    metadata = header["__metadata__"]
    key = draw(st.sampled_from(sorted(metadata)))
    replacement = draw(json_values)
    if key in ("config", "spec") and isinstance(replacement, dict) and draw(st.booleans()):
        original = json.loads(metadata[key])  # keep the rest valid, so the check of one field is reached
        field = draw(st.sampled_from(sorted(original))) if isinstance(original, dict) and original else "x"
        replacement = {**(original or {}), field: draw(json_values)}
    metadata[key] = json.dumps(replacement)
    text = json.dumps(header).encode()
    return len(text).to_bytes(8, "little") + text + body


@pytest.fixture(scope="module")
def good_model(tmp_path_factory) -> bytes:
    """A model file with training settings, as `train` writes one."""
    path = tmp_path_factory.mktemp("fuzz") / "good.safetensors"
    Checkpoint(SEED.spec, build_model(SEED.spec, seed=0).state_dict(), config=SEED.config).save(path)
    return path.read_bytes()


@FUZZ
@given(choice=st.data())
@pytest.mark.slow
def test_model_files_load_or_raise_a_checkpoint_error(choice, good_model, tmp_path):
    path = tmp_path / "fuzz.safetensors"
    path.write_bytes(choice.draw(tampered_models(good_model)))
    checkpoint = _accepted_or_user_error(Checkpoint.load, path)
    if checkpoint is not None:  # what loads must be usable: predict, and export a script if it has settings
        predictor = Predictor(checkpoint.build_model(), checkpoint.spec, checkpoint.class_names)
        assert len(predictor.predict_array(np.zeros((1, 28, 28), np.uint8))[0].probabilities) == 10
        if checkpoint.config is not None:
            compile(training_script(checkpoint.spec, checkpoint.config), "train.py", "exec")


# -- spec files --


layer_dicts = st.fixed_dictionaries(
    {"type": st.sampled_from(["Flatten", "Linear", "Conv2d", "ReLU", "Dropout", "MaxPool2d", "BatchNorm", "Teleport"])},
    optional={
        "out_features": st.one_of(st.integers(-5, 70_000), st.text(max_size=3), st.floats()),
        "out_channels": st.one_of(st.integers(-5, 9000), st.none()),
        "kernel_size": st.integers(-2, 40),
        "padding": st.integers(-2, 40),
        "p": st.floats(),
        "init": st.sampled_from(["default", "constant", "normal", "nope"]),
        "init_params": st.dictionaries(st.sampled_from(["val", "std", "mean", "gain"]), st.floats(), max_size=2),
    },
)
spec_documents = st.one_of(
    st.fixed_dictionaries(
        {"layers": st.lists(layer_dicts, max_size=8)},
        optional={
            "mean": st.one_of(st.floats(), st.text(max_size=4)),
            "std": st.floats(),
            "format": st.text(max_size=5),
        },
    ),
    json_values,
)


@FUZZ
@given(document=spec_documents, nesting=st.integers(0, 3))
def test_spec_files_parse_validate_and_build_or_raise_a_spec_error(document, nesting):
    text = "[" * (nesting * 20_000) + json.dumps(document) + "]" * (nesting * 20_000)
    spec = _accepted_or_user_error(ModelSpec.from_json, text)
    if spec is None:
        return
    problems = spec.validate()
    assert all(p.message.strip() for p in problems)  # every problem says what is wrong
    assert len(spec.summary().rows) == len(spec.layers)  # a row per layer, even for a stack that cannot train
    if not [p for p in problems if p.severity == "error"]:
        with torch.device("meta"):  # validate() passed: the network must build (shapes only, no memory)
            build_model(spec)


# -- no code runs --


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "ran"))


def test_no_model_file_or_image_can_run_code(tmp_path, good_model):
    marker = tmp_path / "marker"
    code = f"__import__('pathlib').Path({str(marker)!r}).write_text('ran')"
    hostile_models = [
        pickle.dumps(_Payload(marker)),  # a torch.save-style pickle renamed .safetensors
        save({"model.w": torch.zeros(1)}, {"format": "fashion-desktop-model", "format_version": "1", "spec": code}),
    ]
    header, body = _header_and_tensors(good_model)
    for field in ("epochs", "batch_size", "seed", "val_size", "early_stopping_patience", "augment", "keep_best"):
        config = {**json.loads(header["__metadata__"]["config"]), field: f"64\n{code}  #"}
        text = json.dumps({**header, "__metadata__": {**header["__metadata__"], "config": json.dumps(config)}})
        hostile_models.append(len(text).to_bytes(8, "little") + text.encode() + body)
    for index, data in enumerate(hostile_models):
        path = tmp_path / f"hostile{index}.safetensors"
        path.write_bytes(data)
        with pytest.raises(UserError):
            Checkpoint.load(path)
    eps = f"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\n({marker}) (w) file closefile\nshowpage\n".encode()
    for name in ("photo.png", "photo.eps", "photo.jpg"):
        (tmp_path / name).write_bytes(eps)
        with pytest.raises(UserError):
            open_image(tmp_path / name)
    with pytest.raises(UserError):
        open_image(pickle.dumps(_Payload(marker)))
    assert not marker.exists()
