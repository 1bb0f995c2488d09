"""Building torch modules from specs, initialisation, and the exported Python class."""

import pytest
import torch

from fashion_desktop.core.builder import activation_curve, build_model, to_python
from fashion_desktop.core.errors import SpecError
from fashion_desktop.core.presets import PRESETS, get_preset
from fashion_desktop.core.spec import INIT_SCHEMES, LayerSpec, ModelSpec, layer


@pytest.mark.parametrize("name", list(PRESETS))
def test_symbolic_summary_matches_the_built_module(name):
    spec = PRESETS[name].spec
    model = build_model(spec)
    summary = spec.summary()
    assert sum(p.numel() for p in model.parameters()) == summary.trainable
    buffers = sum(b.numel() for n, b in model.named_buffers() if not n.endswith("num_batches_tracked"))
    assert buffers == summary.non_trainable
    x = torch.zeros(3, *spec.input_shape)
    for (name_, module), row in zip(model.named_children(), summary.rows, strict=True):
        x = module.eval()(x)
        assert name_ == row.name and tuple(x.shape[1:]) == row.output_shape


def test_invalid_spec_does_not_build():
    with pytest.raises(SpecError, match="add a Flatten"):
        build_model(ModelSpec((layer("Linear", out_features=10),)))


def test_seeded_build_is_reproducible_and_does_not_touch_the_global_rng():
    spec = get_preset("seed").spec
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    a, b = build_model(spec, seed=5), build_model(spec, seed=5)
    assert torch.rand(1) == expected_next
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    c = build_model(spec, seed=6)
    assert not torch.equal(a.fc1.weight, c.fc1.weight)


@pytest.mark.parametrize("scheme", [s for s in INIT_SCHEMES if s != "default"])
def test_each_initialisation_is_applied(scheme):
    options = {"uniform": {"a": 0.2, "b": 0.3}, "normal": {"mean": 1.0, "std": 0.01}, "constant": {"val": 0.7}}
    spec = ModelSpec(
        (layer("Flatten"), LayerSpec("Linear", {"out_features": 10}, scheme, options.get(scheme, {}), "zeros"))
    )
    weight, bias = build_model(spec, seed=0).fc1.weight, build_model(spec, seed=0).fc1.bias
    assert torch.count_nonzero(bias) == 0
    checks = {
        "uniform": lambda w: 0.2 <= w.min() and w.max() <= 0.3,
        "normal": lambda w: abs(w.mean() - 1.0) < 0.01,
        "zeros": lambda w: torch.count_nonzero(w) == 0,
        "ones": lambda w: torch.all(w == 1),
        "constant": lambda w: torch.allclose(w, torch.full_like(w, 0.7)),
        "kaiming_normal": lambda w: abs(w.std() - (2 / 784) ** 0.5) < 0.005,
        "kaiming_uniform": lambda w: w.abs().max() <= (6 / 784) ** 0.5,
        "xavier_normal": lambda w: abs(w.std() - (2 / (784 + 10)) ** 0.5) < 0.005,
        "xavier_uniform": lambda w: w.abs().max() <= (6 / (784 + 10)) ** 0.5,
    }
    assert checks[scheme](weight)


def test_default_init_is_pytorchs():
    weight = build_model(get_preset("seed").spec).fc1.weight
    assert weight.abs().max() <= 1 / 784**0.5 and torch.count_nonzero(weight) > 0


@pytest.mark.parametrize("name", list(PRESETS))
def test_exported_code_runs_and_matches_the_app_model(name, tmp_path):
    spec = PRESETS[name].spec
    model = build_model(spec, seed=1).eval()
    code = to_python(spec)
    namespace: dict = {}
    exec(compile(code, "exported.py", "exec"), namespace)
    exported = namespace["FashionNetwork"]().eval()
    exported.load_state_dict(model.state_dict())
    x = torch.randn(4, *spec.input_shape)
    assert torch.allclose(exported(x), model(x))


def test_exported_code_reads_like_the_classic_network():
    code = to_python(get_preset("seed").spec)
    assert "class FashionNetwork(nn.Module):" in code
    assert "self.fc1 = nn.Linear(in_features=784, out_features=256)" in code
    assert "self.dropout1 = nn.Dropout(p=0.25)" in code
    assert "x = self.fc3(x)  # -> Nx10" in code
    assert "Normalize((0.5,), (0.5,))" in code


def test_exported_code_carries_initialisation():
    spec = ModelSpec((layer("Flatten"), LayerSpec("Linear", {"out_features": 10}, "xavier_uniform", {"gain": 2.0})))
    assert "nn.init.xavier_uniform_(self.fc1.weight, gain=2.0)" in to_python(spec)


def test_exported_code_starts_from_the_apps_initial_weights():
    """Layers draw their default and custom inits from one random stream: both must draw in the same order."""
    spec = ModelSpec(
        (
            LayerSpec("Conv2d", {"out_channels": 4, "kernel_size": 3}, "kaiming_normal"),
            layer("ReLU"),
            layer("MaxPool2d", kernel_size=2),
            LayerSpec("Conv2d", {"out_channels": 4, "kernel_size": 3}),
            layer("Flatten"),
            LayerSpec("Linear", {"out_features": 32}, "uniform", {"a": -0.1, "b": 0.2}, "zeros"),
            layer("ReLU"),
            LayerSpec("Linear", {"out_features": 16}),
            LayerSpec("Linear", {"out_features": 10}, "xavier_uniform", {"gain": 1.5}),
        )
    )
    namespace: dict = {}
    exec(compile(to_python(spec), "exported.py", "exec"), namespace)
    for seed in (0, 7):
        torch.manual_seed(seed)
        exported = namespace["FashionNetwork"]().state_dict()
        app = build_model(spec, seed=seed).state_dict()
        assert list(exported) == list(app)
        for name, tensor in app.items():
            assert torch.equal(exported[name], tensor), name


@pytest.mark.parametrize(
    ("kind", "x0", "y0", "dy0"),
    [("ReLU", 2.0, 2.0, 1.0), ("Sigmoid", 0.0, 0.5, 0.25), ("Tanh", 0.0, 0.0, 1.0), ("LeakyReLU", -2.0, -0.02, 0.01)],
)
def test_activation_curves(kind, x0, y0, dy0):
    x, y, dy = activation_curve(kind)
    assert x[0] == -6 and x[-1] == 6 and len(x) == len(y) == len(dy)
    i = min(range(len(x)), key=lambda j: abs(x[j] - x0))
    assert y[i] == pytest.approx(y0, abs=1e-4) and dy[i] == pytest.approx(dy0, abs=1e-4)


def test_exported_code_for_colour_photos_says_so_and_its_demo_runs(capsys):
    spec = ModelSpec(
        (layer("Conv2d", out_channels=4), layer("Flatten"), layer("Linear", out_features=10)),
        mean=0.4,
        std=0.2,
        input_shape=(3, 40, 32),
    )
    code = to_python(spec)
    assert "a batch of 3x40x32 colour (RGB) images" in code
    assert "transforms.Normalize((0.4, 0.4, 0.4), (0.2, 0.2, 0.2))" in code
    assert "x = self.conv1(x)  # -> Nx4x40x32" in code
    exec(compile(code, "exported.py", "exec"), {"__name__": "__main__"})  # the demo at the end of the file
    assert "output shape: (2, 10)" in capsys.readouterr().out
    model = build_model(spec)
    assert tuple(model(torch.zeros(2, 3, 40, 32)).shape) == (2, 10)
