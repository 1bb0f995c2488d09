"""Turn a ModelSpec into a torch module, initialise its weights, and export it as readable PyTorch code.

The built module and the exported class name their layers alike (fc1, relu1, ...), so the weights in a model
file load into either.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence

import torch
from torch import nn

from fashion_desktop.core.errors import SpecError
from fashion_desktop.core.layers import LAYER_TYPES, LOGITS_WORDS, Shape, TorchModule
from fashion_desktop.core.metrics import default_class_names
from fashion_desktop.core.params import resolve
from fashion_desktop.core.spec import CLASS_NAMES, INIT_SCHEMES, INPUT_CHANNELS, LayerSpec, ModelSpec


class SpecNetwork(nn.Sequential):
    """The network a ModelSpec describes: an ``nn.Sequential`` whose children are named fc1, relu1, ..."""

    def __init__(self, spec: ModelSpec) -> None:
        spec.check(classes=None)  # the output size is the spec's own: the data's class count is checked in training
        super().__init__(OrderedDict(_modules(spec)))
        self.spec = spec


def build_model(spec: ModelSpec, seed: int | None = None) -> SpecNetwork:
    """Build and initialise the network; with ``seed`` the initial weights are reproducible."""
    if seed is None:
        return SpecNetwork(spec)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return SpecNetwork(spec)


def _modules(spec: ModelSpec) -> list[tuple[str, nn.Module]]:
    modules = []
    for name, layer_spec, shape in zip(spec.module_names(), spec.layers, _input_shapes(spec), strict=True):
        module = _module(layer_spec, shape)
        _initialise(module, layer_spec)
        modules.append((name, module))
    return modules


def _input_shapes(spec: ModelSpec) -> list[Shape]:
    """Each layer's input shape; call it on a spec that has passed :meth:`ModelSpec.check`, so all are known."""
    shapes = [spec.input_shape, *(row.output_shape for row in spec.summary().rows)]
    return [s for s in shapes[:-1] if s is not None]


def _torch_modules(layer_spec: LayerSpec, shape: Shape) -> tuple[TorchModule, ...]:
    """What one layer is made of in torch.nn, as the registry declares it: shared by building and code export."""
    return layer_spec.type.torch_modules(shape, layer_spec.options())


def _module(layer_spec: LayerSpec, shape: Shape) -> nn.Module:
    made = [getattr(nn, m.class_name)(**m.kwargs) for m in _torch_modules(layer_spec, shape)]
    return made[0] if len(made) == 1 else nn.Sequential(*made)  # one child per layer keeps the names fc1, ...


def _module_code(modules: tuple[TorchModule, ...]) -> str:
    """``nn.Linear(in_features=784, out_features=256)``, or an ``nn.Sequential(...)`` of several."""
    calls = [
        f"nn.{m.class_name}({', '.join(f'{name}={value!r}' for name, value in m.spelled_out().items())})"
        for m in modules
    ]
    return calls[0] if len(calls) == 1 else f"nn.Sequential({', '.join(calls)})"


_INITIALISERS: dict[str, Callable[..., object]] = {
    "uniform": nn.init.uniform_,
    "normal": nn.init.normal_,
    "zeros": nn.init.zeros_,
    "ones": nn.init.ones_,
    "constant": nn.init.constant_,
    "kaiming_normal": lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu"),
    "kaiming_uniform": lambda w: nn.init.kaiming_uniform_(w, nonlinearity="relu"),
    "xavier_normal": nn.init.xavier_normal_,
    "xavier_uniform": nn.init.xavier_uniform_,
}


def _initialise(module: nn.Module, layer_spec: LayerSpec) -> None:
    """Apply the layer's weight and bias initialisation; ``default`` keeps PyTorch's own."""
    weight, bias = getattr(module, "weight", None), getattr(module, "bias", None)
    with torch.no_grad():
        if layer_spec.init != "default" and weight is not None:
            options = resolve(INIT_SCHEMES[layer_spec.init], layer_spec.init_params)[0]
            _INITIALISERS[layer_spec.init](weight, **options)
        if layer_spec.bias_init == "zeros" and isinstance(bias, torch.Tensor):
            bias.zero_()


def activation_curve(kind: str, params: dict[str, float] | None = None, points: int = 241) -> tuple[list[float], ...]:
    """(x, f(x), f'(x)) over [-6, 6] for an activation layer, computed with autograd."""
    layer_spec = LayerSpec(kind, params or {})
    module = _module(layer_spec, (points,))
    x = torch.linspace(-6, 6, points, requires_grad=True)
    y = module(x)
    (grad,) = torch.autograd.grad(y.sum(), x)
    return x.detach().tolist(), y.detach().tolist(), grad.tolist()


def to_python(spec: ModelSpec, class_name: str = "FashionNetwork", class_names: Sequence[str] | None = None) -> str:
    """The spec as a standalone, readable PyTorch module, runnable with only torch installed.

    ``class_names`` (the model's, in label order; None: Fashion-MNIST's for ten outputs, else the class numbers)
    go into the code as a list literal, never as source text.
    """
    spec.check(classes=None if class_names is None else len(class_names))
    outputs = [row.output_shape or () for row in spec.summary().rows]
    if class_names is None:
        class_names = default_class_names(outputs[-1][0] if len(outputs[-1]) == 1 else len(CLASS_NAMES))
    layer_lines, forward_lines = [], []
    layers = zip(spec.module_names(), spec.layers, _input_shapes(spec), outputs, strict=True)
    for name, layer_spec, shape, output in layers:
        layer_lines.append(f"        self.{name} = {_module_code(_torch_modules(layer_spec, shape))}")
        # Initialised right after it is made, as the app does: creating a layer and a random initialisation draw
        # from the same random numbers, so this order gives the app's starting weights for the same seed.
        layer_lines += _init_code(name, layer_spec)
        forward_lines.append(f"        x = self.{name}(x)  # -> {'x'.join(map(str, ('N', *output)))}")
    body = "\n".join(layer_lines)
    channels, height, width = spec.input_shape
    images = f"{channels}x{height}x{width} {INPUT_CHANNELS.get(channels, f'{channels}-channel')}"
    mean, std = _per_channel(spec.mean, channels), _per_channel(spec.std, channels)
    head = spec.head
    output_words = LAYER_TYPES[head].head_output if head in LAYER_TYPES else LOGITS_WORDS
    return f'''"""{class_name}: exported from Fashion Desktop.

Input: a batch of {images} images, scaled to [0, 1] and normalised with
mean {spec.mean:g} and std {spec.std:g}, i.e. transforms.Normalize({mean}, {std}).
Output: {output_words} for the {len(class_names)} classes of CLASS_NAMES, in that order.
"""

import torch
from torch import nn

CLASS_NAMES = {class_names_literal(class_names)}
INPUT_SHAPE = {tuple(spec.input_shape)!r}  # channels, height, width


class {class_name}(nn.Module):
    def __init__(self):
        super().__init__()
{body}

    def forward(self, x):
{chr(10).join(forward_lines)}
        return x


def load_weights(model, path):
    """Load the weights of a Fashion Desktop model file (.safetensors) into ``model``."""
    from safetensors.torch import load_file

    tensors = load_file(path)
    model.load_state_dict({{k.removeprefix("model."): v for k, v in tensors.items() if k.startswith("model.")}})
    return model


if __name__ == "__main__":
    model = {class_name}()
    print(model)
    print("parameters:", sum(p.numel() for p in model.parameters()))
    print("output shape:", tuple(model(torch.zeros(2, *INPUT_SHAPE)).shape))
'''


def class_names_literal(class_names: Sequence[str]) -> str:
    """The class names as a list literal; anything but texts is refused rather than written into code."""
    if not all(isinstance(name, str) for name in class_names):
        raise SpecError(f"class names must be texts, not {list(class_names)!r:.60}")
    return repr(list(class_names))


def _per_channel(value: float, channels: int) -> str:
    """``(0.5,)`` or ``(0.5, 0.5, 0.5)``: one value for every channel, as transforms.Normalize takes it."""
    return f"({', '.join([f'{value:g}'] * channels)}{',' if channels == 1 else ''})"


def _init_code(name: str, layer_spec: LayerSpec) -> list[str]:
    lines = []
    if layer_spec.init != "default":
        options = resolve(INIT_SCHEMES[layer_spec.init], layer_spec.init_params)[0]
        if layer_spec.init.startswith("kaiming"):
            options = {"nonlinearity": "relu"}
        args = "".join(f", {k}={v!r}" for k, v in options.items())
        lines.append(f"        nn.init.{layer_spec.init}_(self.{name}.weight{args})")
    if layer_spec.bias_init == "zeros" and layer_spec.options().values.get("bias", True):
        lines.append(f"        nn.init.zeros_(self.{name}.bias)")
    return lines
