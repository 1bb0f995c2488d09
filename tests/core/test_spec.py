"""ModelSpec: shape inference, validation messages, summaries and JSON."""

import json
import math
from dataclasses import replace

import pytest

from fashion_desktop.core.errors import SpecError
from fashion_desktop.core.presets import PRESETS, get_preset
from fashion_desktop.core.spec import LayerSpec, ModelSpec, layer


def seed_spec() -> ModelSpec:
    return get_preset("seed").spec


def test_seed_network_has_the_classic_parameter_count():
    summary = seed_spec().summary()
    assert summary.total == 235_146
    assert summary.trainable == 235_146 and summary.non_trainable == 0
    shapes = [(784,), (256,), (256,), (256,), (128,), (128,), (128,), (10,), (10,)]
    assert [r.output_shape for r in summary.rows] == shapes
    assert summary.size_mb == pytest.approx(235_146 * 4 / 2**20)
    assert "Total params: 235,146" in summary.table()


def test_conv_shapes_and_batchnorm_counts():
    spec = ModelSpec(
        (
            layer("Conv2d", out_channels=8, kernel_size=5, padding=0),
            layer("BatchNorm"),
            layer("ReLU"),
            layer("MaxPool2d"),
            layer("Flatten"),
            layer("Linear", out_features=10),
        )
    )
    rows = spec.summary().rows
    assert rows[0].output_shape == (8, 24, 24)
    assert rows[0].trainable == 8 * 25 + 8
    assert (rows[1].trainable, rows[1].non_trainable) == (16, 16)
    assert rows[3].output_shape == (8, 12, 12)
    assert rows[4].output_shape == (8 * 12 * 12,)
    assert spec.validate("cross_entropy") == []


def test_conv_after_linear_is_reported_on_that_layer():
    spec = ModelSpec(
        (
            layer("Flatten"),
            layer("Linear", out_features=256),
            layer("ReLU"),
            layer("Conv2d"),
            layer("Flatten"),
            layer("Linear", out_features=10),
        )
    )
    problems = spec.validate()
    assert len(problems) == 1
    assert problems[0].layer == 3
    assert problems[0].message.startswith("layer 4 (Conv2d) needs a 3-D input")
    assert "gets 256 features" in problems[0].message
    assert spec.summary().rows[3].trainable == 0  # a layer that cannot be built has no parameters


def test_linear_without_flatten_says_to_add_one():
    (problem,) = ModelSpec((layer("Linear", out_features=10),)).validate()
    assert problem.layer == 0 and "add a Flatten before it" in problem.message and "1x28x28" in problem.message


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        (layer("Dropout", p=1.0), "p must be less than 1"),
        (layer("Dropout", p=-0.1), "p must be at least 0"),
        (layer("Linear", out_features=0), "out_features must be at least 1"),
        (layer("Softmax"), "must be the last layer"),
        (layer("Conv2d", kernel_size=600), "kernel_size must be at most 512"),
        (LayerSpec("ReLU", init="normal"), "has no weights to initialise"),
        (LayerSpec("Linear", {"out_features": 5}, "uniform", {"a": 1, "b": 0}), "needs a < b"),
        (layer("Bogus"), "not a known layer type"),
    ],
)
def test_bad_layers_are_named_with_their_position(bad, words):
    spec = ModelSpec((layer("Flatten"), bad, layer("Linear", out_features=10)))
    messages = [p.message for p in spec.validate()]
    assert any(words in m and m.startswith(f"layer 2 ({bad.kind})") for m in messages), messages


def test_output_must_be_ten_classes():
    (problem,) = ModelSpec((layer("Flatten"), layer("Linear", out_features=7))).validate()
    assert "ends with 7 features" in problem.message and "10 classes" in problem.message


def test_output_size_follows_the_class_count_of_the_data():
    last_linear = len(seed_spec().layers) - 2  # before the LogSoftmax head
    five_way = seed_spec().replaced(last_linear, layer("Linear", out_features=5))
    assert five_way.summary().rows[-1].output_shape == (5,)
    (ten,) = five_way.errors()  # Fashion-MNIST's ten, by default
    assert "Fashion-MNIST has 10 classes" in ten.message and "out_features 10" in ten.message
    assert five_way.errors(classes=5) == []  # an image folder of five classes
    (three,) = five_way.errors(classes=3)
    assert "the data has 3 classes" in three.message and "out_features 3" in three.message
    assert five_way.errors(classes=None) == []  # checked against the data once it is loaded


def test_with_classes_fits_the_last_linear_layer_to_a_folders_class_count():
    three_way = get_preset("photo-cnn").spec.with_classes(3)
    assert three_way.summary().rows[-1].output_shape == (3,) and three_way.errors(classes=3) == []
    assert seed_spec().with_classes(3).layers[-1].kind == "LogSoftmax"  # the head stays, the Linear before it changes
    assert ModelSpec((layer("Flatten"),)).with_classes(3) == ModelSpec((layer("Flatten"),))  # no Linear: unchanged


def test_kernel_that_shrinks_to_nothing():
    spec = ModelSpec((layer("MaxPool2d", kernel_size=16), layer("Conv2d", kernel_size=5, padding=0)))
    assert "cannot apply a 5x5 kernel to a 1x1 input" in spec.validate()[0].message


def test_head_and_loss_pairing():
    softmax = ModelSpec((layer("Flatten"), layer("Linear", out_features=10), layer("Softmax")))
    (nll,) = softmax.validate("nll")
    assert nll.severity == "error" and "NLLLoss expects log-probabilities" in nll.message
    (ce,) = softmax.validate("cross_entropy")
    assert ce.severity == "warning"
    assert seed_spec().validate("nll") == []
    assert seed_spec().errors("cross_entropy") == []


def test_check_raises_with_every_error():
    spec = ModelSpec((layer("Dropout", p=2), layer("Linear", out_features=10)))
    with pytest.raises(SpecError) as error:
        spec.check()
    assert "layer 1 (Dropout)" in str(error.value) and "layer 2 (Linear)" in str(error.value)


def test_empty_spec():
    assert "no layers" in ModelSpec(()).validate()[0].message


@pytest.mark.parametrize("name", list(PRESETS))
def test_presets_round_trip_through_json_and_train_with_their_loss(name):
    preset = PRESETS[name]
    text = preset.spec.to_json()
    assert json.loads(text)["format"] == "fashion-desktop-spec"
    assert ModelSpec.from_json(text) == preset.spec
    assert preset.spec.errors(preset.config.loss) == []
    assert preset.config.problems() == []


def test_json_keeps_initialisation():
    spec = ModelSpec((layer("Flatten"), LayerSpec("Linear", {"out_features": 10}, "normal", {"std": 0.1}, "zeros")))
    again = ModelSpec.from_json(spec.to_json())
    assert again.layers[1].init == "normal" and again.layers[1].init_params == {"std": 0.1}
    assert again.layers[1].bias_init == "zeros"


@pytest.mark.parametrize("text", ["not json", "[]", '{"layers": 3}', '{"version": 99, "layers": []}'])
def test_bad_spec_json_is_a_clear_error(text):
    with pytest.raises(SpecError):
        ModelSpec.from_json(text)


def _seed_dict_with(**changes) -> dict:
    data = seed_spec().to_dict()
    layers = data["layers"]
    for key, value in changes.items():
        if key.startswith("layer"):  # layer2={"init": "xavier"} merges into the second layer
            index = int(key.removeprefix("layer")) - 1
            layers[index] = value if not isinstance(value, dict) else {**layers[index], **value}
        else:
            data[key] = value
    return data


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"layer1": "Flatten"}, "layer 1 of the spec is not valid: a layer must be a JSON object"),
        ({"layer2": {"init": "xavier"}}, 'layer 2 of the spec is not valid: Linear\'s "init" must be a JSON object'),
        ({"layer2": {"init": {"scheme": ["normal"]}}}, "layer 2 of the spec is not valid: Linear's init scheme"),
        ({"layer2": {"bias_init": 0}}, "layer 2 of the spec is not valid: Linear's bias_init"),
        ({"layer3": {"type": ["ReLU"]}}, "layer 3 of the spec is not valid: a layer's 'type' must be a name"),
        ({"layer1": None}, "layer 1 of the spec is not valid"),
        ({"mean": "grey"}, "the spec's 'mean' must be a number, not 'grey'"),
        ({"std": [0.5]}, "the spec's 'std' must be a number"),
        ({"version": "1"}, "'version' must be a whole number"),
    ],
)
def test_malformed_spec_json_names_the_layer_or_field(changes, words):
    with pytest.raises(SpecError) as info:
        ModelSpec.from_json(json.dumps(_seed_dict_with(**changes)))
    assert words in str(info.value)


@pytest.mark.parametrize(
    ("mean", "std", "words"),
    [
        (0.5, 0.0, "std must be a finite number above 0, not 0.0"),
        (0.5, -0.5, "std must be a finite number above 0, not -0.5"),
        (0.5, math.inf, "std must be a finite number above 0"),
        (math.nan, 0.5, "mean must be a finite number, not nan"),
    ],
)
def test_normalisation_must_be_finite_with_a_positive_std(mean, std, words):
    spec = replace(seed_spec(), mean=mean, std=std)
    (problem,) = spec.validate("nll")
    assert words in problem.message and problem.layer is None and problem.severity == "error"
    with pytest.raises(SpecError, match="std|mean"):
        spec.check("nll")
    again = ModelSpec.from_dict(spec.to_dict())  # a spec file with std 0 reads, then validates with the message
    assert [p.message for p in again.validate("nll")] == [problem.message]
    assert [p.message for p in replace(spec, layers=()).validate()][0] == problem.message


def test_editing_returns_new_specs():
    spec = seed_spec()
    moved = spec.moved(3, 1)
    assert moved.layers[1].kind == "Dropout" and spec.layers[1].kind == "Linear"
    assert spec.removed(0).layers == spec.layers[1:]
    assert spec.inserted(0, layer("ReLU")).layers[0].kind == "ReLU"
    assert spec.replaced(1, layer("Linear", out_features=3)).layers[1].params == {"out_features": 3}
    assert spec.module_names()[:3] == ["flatten1", "fc1", "relu1"]


def test_the_input_shape_defaults_to_fashion_mnist_and_old_files_without_one_read_as_that():
    spec = seed_spec()
    assert spec.input_shape == (1, 28, 28) and spec.to_dict()["input_shape"] == [1, 28, 28]
    old = spec.to_dict()
    del old["input_shape"]  # written before specs could say
    assert ModelSpec.from_dict(old) == spec
    colour = replace(spec, input_shape=(3, 64, 64))
    assert ModelSpec.from_json(colour.to_json()) == colour
    assert ModelSpec.from_json(colour.to_json()).input_shape == (3, 64, 64)


@pytest.mark.parametrize("bad", [[3, 64], "28x28", [1, 28.5, 28], [True, 28, 28], None])
def test_a_malformed_input_shape_in_a_file_is_named(bad):
    with pytest.raises(SpecError, match=r"the spec's 'input_shape' must be \[channels, height, width\]"):
        ModelSpec.from_json(json.dumps(_seed_dict_with(input_shape=bad)))


@pytest.mark.parametrize(
    ("shape", "words"),
    [
        ((2, 28, 28), "must have 1 channel (greyscale) or 3 (colour), not 2"),
        ((1, 4, 4), "must be 8 to 512 pixels high and wide, not 4x4"),
        ((3, 28, 600), "not 28x600"),
    ],
)
def test_an_input_shape_out_of_range_is_one_problem_for_the_whole_network(shape, words):
    problems = replace(seed_spec(), input_shape=shape).validate("nll")
    assert [p.layer for p in problems] == [None] and words in problems[0].message  # no follow-on layer messages


def test_the_summary_and_checks_follow_the_input_shape():
    spec = replace(seed_spec(), input_shape=(3, 32, 32))
    rows = spec.summary().rows
    assert rows[0].output_shape == (3 * 32 * 32,) and rows[1].trainable == 3 * 32 * 32 * 256 + 256
    conv = ModelSpec((layer("Conv2d", out_channels=8), layer("MaxPool2d")), input_shape=(3, 64, 48))
    assert [r.output_shape for r in conv.summary().rows] == [(8, 64, 48), (8, 32, 24)]
    assert conv.summary().rows[0].trainable == 3 * 8 * 9 + 8
    (problem,) = ModelSpec((layer("Linear", out_features=10),), input_shape=(3, 16, 16)).validate()
    assert "gets 3x16x16" in problem.message


def test_photo_cnn_takes_colour_photos_and_the_others_fashion_mnist():
    for name, preset in PRESETS.items():
        assert preset.spec.input_shape == ((3, 64, 64) if name == "photo-cnn" else (1, 28, 28)), name
    summary = get_preset("photo-cnn").spec.summary()
    assert 200_000 < summary.total < 300_000
    assert summary.rows[-1].output_shape == (10,)
