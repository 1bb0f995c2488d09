"""The layer registry: every kind it declares checks, summarises, builds, exports and reloads alike.

The tests over ``LAYER_TYPES`` pick up a new kind by themselves; the tests below them pin down what each kind
added after the registry does.
"""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fashion_desktop.core.builder import build_model, to_python
from fashion_desktop.core.checkpoint import Checkpoint
from fashion_desktop.core.layers import CATEGORIES, LAYER_TYPES, TorchModule
from fashion_desktop.core.params import Options
from fashion_desktop.core.runs import describe_layers
from fashion_desktop.core.spec import LayerSpec, ModelSpec, layer


def probe(kind: str, input_shape: tuple[int, int, int] = (1, 28, 28)) -> ModelSpec:
    """The smallest network that puts one ``kind`` layer where it belongs, with its default options."""
    layer_type = LAYER_TYPES[kind]
    if layer_type.is_head:
        layers = (layer("Flatten"), layer("Linear", out_features=10), layer(kind))
    elif layer_type.input_rank == 1:
        layers = (layer("Flatten"), layer(kind), layer("Linear", out_features=10))
    else:  # takes channels x height x width: after a convolution, so that it has several channels to work on
        layers = (layer("Conv2d", out_channels=4), layer(kind), layer("Flatten"), layer("Linear", out_features=10))
    return ModelSpec(layers, input_shape=input_shape)


def exec_exported(spec: ModelSpec) -> dict:
    namespace: dict = {}
    exec(compile(to_python(spec), "exported.py", "exec"), namespace)
    return namespace


def test_every_kind_is_declared_completely():
    prefixes = [t.prefix for t in LAYER_TYPES.values()]
    assert len(set(prefixes)) == len(prefixes)  # module names such as fc1 must not collide
    for kind, layer_type in LAYER_TYPES.items():
        assert layer_type.kind == kind and layer_type.category in CATEGORIES
        assert layer_type.description and layer_type.prefix.isidentifier()
        assert layer_type.input_rank in (None, 1, 3)
        assert not layer_type.main_option or layer_type.main_option in {p.name for p in layer_type.params}
        assert not layer_type.is_head or layer_type.head_output
        assert all(hasattr(torch.nn, m.class_name) for m in layer_type.torch_modules((4, 8, 8), probe_options(kind)))


def probe_options(kind: str) -> Options:
    return LAYER_TYPES[kind].options({})


@pytest.mark.parametrize("kind", list(LAYER_TYPES))
@pytest.mark.parametrize("input_shape", [(1, 28, 28), (3, 20, 24)])
def test_each_kinds_summary_matches_the_module_it_builds(kind, input_shape):
    spec = probe(kind, input_shape)
    assert spec.validate() == []
    summary = spec.summary()
    model = build_model(spec, seed=0).eval()
    assert sum(p.numel() for p in model.parameters()) == summary.trainable
    buffers = sum(b.numel() for n, b in model.named_buffers() if not n.endswith("num_batches_tracked"))
    assert buffers == summary.non_trainable
    x = torch.randn(2, *input_shape)
    for (name, module), row in zip(model.named_children(), summary.rows, strict=True):
        x = module(x)
        assert name == row.name and tuple(x.shape[1:]) == row.output_shape, name


@pytest.mark.parametrize("kind", list(LAYER_TYPES))
def test_each_kinds_exported_code_runs_and_loads_a_model_files_weights(kind, tmp_path):
    spec = probe(kind, (3, 16, 16))
    model = build_model(spec, seed=3).eval()
    path = Checkpoint(spec, model.state_dict()).save(tmp_path / "m.safetensors")
    namespace = exec_exported(spec)
    exported = namespace["load_weights"](namespace["FashionNetwork"](), str(path)).eval()
    x = torch.randn(4, *namespace["INPUT_SHAPE"])
    with torch.no_grad():
        assert torch.allclose(exported(x), model(x), atol=1e-6)
    again = Checkpoint.load(path)  # and the app reads its own file back, spec and input shape included
    assert again.spec == spec and torch.allclose(again.build_model()(x), model(x), atol=1e-6)


@pytest.mark.parametrize("kind", list(LAYER_TYPES))
def test_each_kind_has_a_short_label_and_a_module_name(kind):
    spec = probe(kind)
    index = 2 if LAYER_TYPES[kind].is_head else 1
    assert describe_layers(spec).split(", ")[index].startswith(kind)
    count = sum(other.kind == kind for other in spec.layers[: index + 1])
    assert spec.module_names()[index] == f"{LAYER_TYPES[kind].prefix}{count}"


def test_flat_layers_after_images_and_image_layers_after_flatten_say_what_to_do():
    for kind, layer_type in LAYER_TYPES.items():
        if layer_type.input_rank == 1:
            rest = () if layer_type.is_head else (layer("Flatten"), layer("Linear", out_features=10))
            spec = ModelSpec((layer(kind), *rest))
            assert "add a Flatten before it" in spec.validate()[0].message, kind
        elif layer_type.input_rank == 3:
            spec = ModelSpec((layer("Flatten"), layer(kind), layer("Linear", out_features=10)))
            assert "needs a 3-D input (channels x height x width) but gets 784 features" in spec.validate()[0].message


def test_exported_code_spells_out_only_what_differs_from_torchs_defaults():
    pooling = TorchModule("MaxPool2d", {"kernel_size": 2, "stride": 1}, {"stride": None})
    assert pooling.spelled_out() == {"kernel_size": 2, "stride": 1}  # stride 1 is not MaxPool2d's default
    spec = ModelSpec((layer("MaxPool2d", kernel_size=2, stride=1), layer("Flatten"), layer("Linear", out_features=10)))
    code = to_python(spec)
    assert "nn.MaxPool2d(kernel_size=2, stride=1)" in code
    assert spec.summary().rows[0].output_shape == (1, 27, 27)
    exported = exec_exported(spec)["FashionNetwork"]()
    assert tuple(exported.pool1(torch.zeros(1, 1, 28, 28)).shape) == (1, 1, 27, 27)


def test_options_are_typed():
    options = LAYER_TYPES["Linear"].options({"out_features": 5.0, "bias": "no"})
    assert options.integer("out_features") == 5 and options.flag("bias") is False
    with pytest.raises(TypeError, match="whole number"):
        LAYER_TYPES["Dropout"].options({}).integer("p")
    with pytest.raises(ValueError):
        LAYER_TYPES["Linear"].options({"out_features": "many"})


def test_a_broken_option_is_reported_without_breaking_the_summary():
    spec = ModelSpec(
        (layer("Flatten"), LayerSpec("Linear", {"out_features": "many"}), layer("Linear", out_features=10))
    )
    (problem,) = spec.validate()
    assert problem.message.startswith("layer 2 (Linear): out_features must be a whole number")
    assert [row.output_shape for row in spec.summary().rows] == [(784,), None, None]


def test_avgpool2d_averages_each_window_and_exports_as_torch_writes_it():
    spec = ModelSpec(
        (layer("AvgPool2d", kernel_size=2), layer("AvgPool2d", kernel_size=3, stride=1), layer("Flatten")),
        input_shape=(3, 28, 28),
    )
    rows = spec.summary().rows
    assert [r.output_shape for r in rows] == [(3, 14, 14), (3, 12, 12), (432,)] and spec.summary().total == 0
    assert spec.module_names()[:2] == ["avg_pool1", "avg_pool2"]
    assert describe_layers(spec) == "3x28x28 input, AvgPool2d(2), AvgPool2d(3, stride=1), Flatten"
    code = to_python(spec.with_layers((*spec.layers, layer("Linear", out_features=10))))
    assert "self.avg_pool1 = nn.AvgPool2d(kernel_size=2)" in code
    assert "self.avg_pool2 = nn.AvgPool2d(kernel_size=3, stride=1)" in code
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    pooled = build_model(ModelSpec((layer("AvgPool2d"), layer("Flatten"), layer("Linear", out_features=10)))).avg_pool1
    assert pooled(x).flatten().tolist() == [2.5, 4.5, 10.5, 12.5]
    (problem,) = ModelSpec((layer("AvgPool2d", kernel_size=30), layer("Flatten"))).validate()
    assert "cannot apply a 30x30 kernel to a 28x28 input" in problem.message


def test_global_average_pooling_gives_one_feature_per_channel_whatever_the_image_size():
    for input_shape in ((1, 28, 28), (3, 64, 48)):
        spec = ModelSpec(
            (layer("Conv2d", out_channels=6), layer("GlobalAvgPool"), layer("Linear", out_features=10)),
            input_shape=input_shape,
        )
        rows = spec.summary().rows
        assert rows[1].output_shape == (6,) and rows[1].trainable == 0 and rows[2].trainable == 6 * 10 + 10
        assert spec.validate() == []
    assert spec.module_names() == ["conv1", "global_pool1", "fc1"]
    assert describe_layers(spec) == "3x64x48 input, Conv2d(6), GlobalAvgPool, Linear(10)"
    code = to_python(spec)
    assert "self.global_pool1 = nn.Sequential(nn.AdaptiveAvgPool2d(output_size=1), nn.Flatten())" in code
    assert "x = self.global_pool1(x)  # -> Nx6" in code
    model = build_model(spec)
    x = torch.randn(2, 6, 5, 7)
    assert torch.allclose(model.global_pool1(x), x.mean(dim=(2, 3)))
    assert list(model.state_dict()) == ["conv1.weight", "conv1.bias", "fc1.weight", "fc1.bias"]
    (problem,) = ModelSpec((layer("Flatten"), layer("GlobalAvgPool"), layer("Linear", out_features=10))).validate()
    assert problem.message.startswith("layer 2 (GlobalAvgPool) needs a 3-D input")


def test_dropout2d_zeroes_whole_channels_while_training_only():
    spec = ModelSpec(
        (
            layer("Conv2d", out_channels=8),
            layer("Dropout2d", p=0.5),
            layer("Dropout2d"),
            layer("Flatten"),
            layer("Linear", out_features=10),
        )
    )
    rows = spec.summary().rows
    assert rows[1].output_shape == rows[2].output_shape == (8, 28, 28) and rows[1].trainable == 0
    assert spec.module_names()[1:3] == ["channel_dropout1", "channel_dropout2"]
    assert describe_layers(spec).split(", ")[1:3] == ["Dropout2d(0.5)", "Dropout2d(0.1)"]
    code = to_python(spec)
    assert "self.channel_dropout1 = nn.Dropout2d(p=0.5)" in code and "nn.Dropout2d(p=0.1)" in code
    dropout = build_model(spec, seed=0).channel_dropout1
    x = torch.ones(4, 8, 5, 5)
    torch.manual_seed(0)
    dropped = dropout.train()(x)
    assert torch.equal(dropped.amin(dim=(2, 3)), dropped.amax(dim=(2, 3)))  # each channel all dropped or all kept
    assert set(dropped.unique().tolist()) == {0.0, 2.0}  # and the kept ones scaled by 1 / (1 - p)
    assert torch.equal(dropout.eval()(x), x)
    (problem,) = ModelSpec((layer("Flatten"), layer("Dropout2d"), layer("Linear", out_features=10))).validate()
    assert problem.message.startswith("layer 2 (Dropout2d) needs a 3-D input")
    (problem,) = ModelSpec((layer("Dropout2d", p=1), layer("Flatten"), layer("Linear", out_features=10))).validate()
    assert "p must be less than 1" in problem.message


ANY_VALUE = st.one_of(st.none(), st.integers(-3, 70), st.floats(-2, 2), st.booleans(), st.text(max_size=3))


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(
    kinds=st.lists(st.sampled_from(sorted(LAYER_TYPES)), min_size=1, max_size=6),
    input_shape=st.tuples(st.integers(0, 4), st.integers(0, 40), st.integers(0, 40)),
    data=st.data(),
)
def test_any_stack_of_any_options_is_checked_and_summarised_without_crashing(kinds, input_shape, data):
    """What a hand-edited spec file can hold: every check answers in words, none raises."""
    layers = []
    for kind in kinds:
        values = {p.name: data.draw(ANY_VALUE) for p in LAYER_TYPES[kind].params}
        layers.append(LayerSpec(kind, {name: value for name, value in values.items() if value is not None}))
    spec = ModelSpec(tuple(layers), input_shape=input_shape)
    assert all(p.message for p in spec.validate("nll"))
    summary = spec.summary()
    assert len(summary.rows) == len(layers)
    if not spec.errors("nll"):
        assert summary.rows[-1].output_shape == (10,)
