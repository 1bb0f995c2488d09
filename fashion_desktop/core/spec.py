"""Model specifications as plain data: layers, weight initialisation, shape checking and summaries.

Nothing here imports torch, so the GUI can check and summarise a network before torch has loaded.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from fashion_desktop.core.errors import SpecError
from fashion_desktop.core.params import Param, Value, resolve

INPUT_SHAPE = (1, 28, 28)
NUM_CLASSES = 10
CLASS_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
SPEC_FORMAT = "fashion-desktop-spec"
SPEC_VERSION = 1

Shape = tuple[int, ...]  # (features,) or (channels, height, width)


@dataclass(frozen=True)
class LayerType:
    """What a layer kind is: its options, where it may stand and the module-name prefix in exported code."""

    kind: str
    category: str  # "layer", "activation", "regularisation", "head"
    params: tuple[Param, ...] = ()
    prefix: str = ""
    has_weights: bool = False  # weights that take a per-layer initialisation
    description: str = ""


_KERNEL = Param("kernel_size", "int", 3, minimum=1, maximum=28)
LAYER_TYPES: dict[str, LayerType] = {
    t.kind: t
    for t in (
        LayerType("Flatten", "layer", prefix="flatten", description="Reshape channels x height x width to features"),
        LayerType(
            "Linear",
            "layer",
            (Param("out_features", "int", 128, minimum=1, maximum=65536), Param("bias", "bool", True)),
            prefix="fc",
            has_weights=True,
            description="Fully connected layer",
        ),
        LayerType(
            "Conv2d",
            "layer",
            (
                Param("out_channels", "int", 32, minimum=1, maximum=4096),
                _KERNEL,
                Param("stride", "int", 1, minimum=1, maximum=28),
                Param("padding", "int", 1, minimum=0, maximum=28),
                Param("bias", "bool", True),
            ),
            prefix="conv",
            has_weights=True,
            description="2-D convolution",
        ),
        LayerType(
            "MaxPool2d",
            "layer",
            (replace(_KERNEL, default=2), Param("stride", "int", 0, minimum=0, maximum=28, help="0: same as kernel")),
            prefix="pool",
            description="Max pooling",
        ),
        LayerType(
            "BatchNorm",
            "regularisation",
            (Param("momentum", "float", 0.1, minimum=0, maximum=1, exclusive_min=True),),
            prefix="bn",
            description="Batch normalisation (1-D after Flatten, 2-D before)",
        ),
        LayerType(
            "Dropout",
            "regularisation",
            (Param("p", "float", 0.25, minimum=0, maximum=1, exclusive_max=True),),
            prefix="dropout",
            description="Zero a random fraction p of the inputs while training",
        ),
        LayerType("ReLU", "activation", prefix="relu"),
        LayerType(
            "LeakyReLU",
            "activation",
            (Param("negative_slope", "float", 0.01, minimum=0, maximum=1),),
            prefix="leaky_relu",
        ),
        LayerType("PReLU", "activation", (Param("init", "float", 0.25, minimum=0, maximum=1),), prefix="prelu"),
        LayerType(
            "ELU",
            "activation",
            (Param("alpha", "float", 1.0, minimum=0, exclusive_min=True, maximum=10),),
            prefix="elu",
        ),
        LayerType("GELU", "activation", prefix="gelu"),
        LayerType("SiLU", "activation", prefix="silu"),
        LayerType("Sigmoid", "activation", prefix="sigmoid"),
        LayerType("Tanh", "activation", prefix="tanh"),
        LayerType("Softmax", "head", prefix="softmax", description="Output probabilities"),
        LayerType("LogSoftmax", "head", prefix="log_softmax", description="Output log-probabilities (for NLLLoss)"),
    )
}
HEADS = ("logits", "Softmax", "LogSoftmax")

INIT_SCHEMES: dict[str, tuple[Param, ...]] = {
    "default": (),
    "uniform": (Param("a", "float", -0.05), Param("b", "float", 0.05)),
    "normal": (Param("mean", "float", 0.0), Param("std", "float", 0.01, minimum=0, exclusive_min=True)),
    "zeros": (),
    "ones": (),
    "constant": (Param("val", "float", 0.0),),
    "kaiming_normal": (),
    "kaiming_uniform": (),
    "xavier_normal": (Param("gain", "float", 1.0, minimum=0, exclusive_min=True),),
    "xavier_uniform": (Param("gain", "float", 1.0, minimum=0, exclusive_min=True),),
}
BIAS_INITS = ("default", "zeros")


@dataclass(frozen=True)
class LayerSpec:
    """One layer: its kind, options and (for Linear and Conv2d) weight initialisation."""

    kind: str
    params: Mapping[str, Value] = field(default_factory=dict)
    init: str = "default"
    init_params: Mapping[str, Value] = field(default_factory=dict)
    bias_init: str = "default"

    @property
    def type(self) -> LayerType:
        try:
            return LAYER_TYPES[self.kind]
        except KeyError:
            raise SpecError(f"unknown layer type {self.kind!r}; known: {', '.join(LAYER_TYPES)}") from None

    def option(self, name: str) -> Value:
        """The option's value, or its default when the spec leaves it out."""
        value = self.params.get(name)
        param = next(p for p in self.type.params if p.name == name)
        return param.default if value is None else param.coerce(value)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"type": self.kind, **{k: _jsonable(v) for k, v in self.params.items()}}
        if self.init != "default":
            data["init"] = {"scheme": self.init, **dict(self.init_params)}
        if self.bias_init != "default":
            data["bias_init"] = self.bias_init
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LayerSpec:
        """A layer from its JSON form, such as ``{"type": "Linear", "out_features": 10}``.

        Raises:
            SpecError: ``data`` is not such an object, or its ``type``, ``init`` or ``bias_init`` is malformed.
                Option values are checked later, by :meth:`ModelSpec.validate`, which names the layer.
        """
        if not isinstance(data, Mapping):
            raise SpecError(
                f'a layer must be a JSON object such as {{"type": "Linear", "out_features": 10}}, not {data!r}'
            )
        data = dict(data)
        if "type" not in data:
            raise SpecError(f"a layer has no 'type': {data}")
        kind = data.pop("type")
        if not isinstance(kind, str):
            raise SpecError(f"a layer's 'type' must be a name such as \"Linear\", not {kind!r}")
        init = data.pop("init", None) or {}
        if not isinstance(init, Mapping):
            raise SpecError(
                f'{kind}\'s "init" must be a JSON object such as {{"scheme": "xavier_uniform"}} '
                f"(schemes: {', '.join(INIT_SCHEMES)}), not {init!r}"
            )
        init = dict(init)
        scheme = init.pop("scheme", "default")
        bias_init = data.pop("bias_init", "default")
        for label, value in (("init scheme", scheme), ("bias_init", bias_init)):
            if not isinstance(value, str):
                raise SpecError(f'{kind}\'s {label} must be a name such as "default", not {value!r}')
        return cls(kind, data, scheme, init, bias_init)


def layer(kind: str, **params: Value) -> LayerSpec:
    """Shorthand: ``layer("Linear", out_features=256)``."""
    return LayerSpec(kind, params)


@dataclass(frozen=True)
class Problem:
    """A reason the network cannot train as specified. ``layer`` is the 0-based index, None for the whole net."""

    message: str
    layer: int | None = None
    severity: str = "error"  # "error" blocks training, "warning" does not


@dataclass(frozen=True)
class LayerSummary:
    index: int
    name: str
    kind: str
    output_shape: Shape | None
    trainable: int
    non_trainable: int


@dataclass(frozen=True)
class Summary:
    rows: tuple[LayerSummary, ...]
    trainable: int
    non_trainable: int

    @property
    def total(self) -> int:
        return self.trainable + self.non_trainable

    @property
    def size_mb(self) -> float:
        """float32 storage of parameters and buffers, in MiB as torchsummary reports it."""
        return self.total * 4 / 2**20

    def table(self) -> str:
        """A torchsummary-style text table."""
        lines = [f"{'Layer (type)':<28}{'Output Shape':>18}{'Param #':>14}", "=" * 60]
        for row in self.rows:
            shape = "x".join(map(str, row.output_shape)) if row.output_shape else "?"
            lines.append(f"{row.name + ' (' + row.kind + ')':<28}{shape:>18}{row.trainable + row.non_trainable:>14,}")
        lines += [
            "=" * 60,
            f"Total params: {self.total:,}",
            f"Trainable params: {self.trainable:,}",
            f"Non-trainable params: {self.non_trainable:,}",
            f"Params size (MB): {self.size_mb:.2f}",
        ]
        return "\n".join(lines)


@dataclass(frozen=True)
class ModelSpec:
    """An ordered stack of layers on a 1x28x28 input, plus the input normalisation it is trained with."""

    layers: tuple[LayerSpec, ...]
    mean: float = 0.5
    std: float = 0.5

    # -- editing: each returns a new spec, so an undo stack can simply keep the old ones --
    def with_layers(self, layers: Sequence[LayerSpec]) -> ModelSpec:
        return replace(self, layers=tuple(layers))

    def inserted(self, index: int, new: LayerSpec) -> ModelSpec:
        layers = list(self.layers)
        layers.insert(index, new)
        return self.with_layers(layers)

    def removed(self, index: int) -> ModelSpec:
        return self.with_layers(self.layers[:index] + self.layers[index + 1 :])

    def replaced(self, index: int, new: LayerSpec) -> ModelSpec:
        return self.with_layers(self.layers[:index] + (new,) + self.layers[index + 1 :])

    def moved(self, source: int, target: int) -> ModelSpec:
        layers = list(self.layers)
        layers.insert(target, layers.pop(source))
        return self.with_layers(layers)

    @property
    def head(self) -> str:
        """``logits``, ``Softmax`` or ``LogSoftmax``: what the network's output means."""
        last = self.layers[-1].kind if self.layers else ""
        return last if last in ("Softmax", "LogSoftmax") else "logits"

    def module_names(self) -> list[str]:
        """Attribute names in the built and exported module: fc1, relu1, dropout1, fc2, ..."""
        counts: dict[str, int] = {}
        names = []
        for spec in self.layers:
            prefix = LAYER_TYPES[spec.kind].prefix if spec.kind in LAYER_TYPES else "layer"
            counts[prefix] = counts.get(prefix, 0) + 1
            names.append(f"{prefix}{counts[prefix]}")
        return names

    # -- checking --
    def validate(self, loss: str | None = None) -> list[Problem]:
        """Every problem with this spec, in plain words naming the layer; an empty list means it can train.

        ``loss`` (``cross_entropy``, ``nll`` or ``label_smoothing``) adds checks of the head against the loss.
        """
        normalisation = self._normalisation_problems()
        if not self.layers:
            return [
                *normalisation,
                Problem("the network has no layers; start from a preset or add Flatten and Linear(10)"),
            ]
        return normalisation + self._layer_problems(loss)

    def _layer_problems(self, loss: str | None) -> list[Problem]:
        steps = self._walk()
        problems = [p for _, _, p in steps if p is not None]
        if problems:
            return problems
        output = steps[-1][1]
        if output is not None and output != (NUM_CLASSES,):
            described = _describe(output)
            fix = (
                "end with Flatten and Linear(out_features=10)"
                if len(output) == 3
                else "make the last Linear layer's out_features 10"
            )
            problems.append(
                Problem(
                    f"the network ends with {described} but Fashion-MNIST has {NUM_CLASSES} classes; {fix}",
                    len(self.layers) - 1,
                )
            )
        if loss == "nll" and self.head != "LogSoftmax":
            problems.append(
                Problem(
                    f"NLLLoss expects log-probabilities but the network ends with {self.head}; "
                    "end with LogSoftmax or choose the CrossEntropy loss",
                    len(self.layers) - 1,
                )
            )
        elif loss in ("cross_entropy", "label_smoothing") and self.head == "Softmax":
            problems.append(
                Problem(
                    "CrossEntropy applies softmax itself, so a Softmax head applies it twice and trains slowly; "
                    "remove the Softmax (or use LogSoftmax)",
                    len(self.layers) - 1,
                    "warning",
                )
            )
        return problems

    def _normalisation_problems(self) -> list[Problem]:
        """The inputs are (pixel - mean) / std: std 0 divides by zero, a negative std silently inverts the images."""
        problems = []
        if not isinstance(self.mean, (int, float)) or not math.isfinite(self.mean):
            problems.append(
                Problem(
                    f"the input normalisation's mean must be a finite number, not {self.mean!r}; "
                    "Fashion-MNIST's is 0.286, and 0.5 is a common choice"
                )
            )
        if not isinstance(self.std, (int, float)) or not (math.isfinite(self.std) and self.std > 0):
            problems.append(
                Problem(
                    f"the input normalisation's std must be a finite number above 0, not {self.std!r}; "
                    "Fashion-MNIST's is 0.353, and 0.5 is a common choice"
                )
            )
        return problems

    def errors(self, loss: str | None = None) -> list[Problem]:
        return [p for p in self.validate(loss) if p.severity == "error"]

    def check(self, loss: str | None = None) -> None:
        """Raise :class:`SpecError` listing every error, if there is one."""
        errors = self.errors(loss)
        if errors:
            raise SpecError("the network cannot be built:\n" + "\n".join(f"- {p.message}" for p in errors))

    def summary(self) -> Summary:
        """Output shape and parameter counts per layer, computed without building the network."""
        rows = []
        layer_input: Shape | None = INPUT_SHAPE
        for index, ((spec, shape, problem), name) in enumerate(zip(self._walk(), self.module_names(), strict=True)):
            trainable, buffers = (0, 0) if problem else _count(spec, layer_input)  # a layer that cannot be built
            rows.append(LayerSummary(index, name, spec.kind, shape, trainable, buffers))
            layer_input = shape
        return Summary(tuple(rows), sum(r.trainable for r in rows), sum(r.non_trainable for r in rows))

    def _walk(self) -> list[tuple[LayerSpec, Shape | None, Problem | None]]:
        """Each layer with its output shape (None once a shape is unknown) and its first problem, if any."""
        steps: list[tuple[LayerSpec, Shape | None, Problem | None]] = []
        shape: Shape | None = INPUT_SHAPE
        for index, spec in enumerate(self.layers):
            shape, problem = _step(index, spec, shape, last=index == len(self.layers) - 1)
            steps.append((spec, shape, problem))
        return steps

    # -- serialisation --
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": SPEC_FORMAT,
            "version": SPEC_VERSION,
            "input_shape": list(INPUT_SHAPE),
            "mean": self.mean,
            "std": self.std,
            "layers": [spec.to_dict() for spec in self.layers],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelSpec:
        """A spec from its JSON form (see :meth:`to_dict`).

        Raises:
            SpecError: the data is not a spec, is from a newer version, or a layer, the mean or the std is malformed;
                the message names the layer or the field.
        """
        if not isinstance(data, Mapping) or not isinstance(data.get("layers"), list):
            raise SpecError("this is not a model spec: expected a JSON object with a 'layers' list")
        version = data.get("version", SPEC_VERSION)
        if not isinstance(version, int) or isinstance(version, bool):
            raise SpecError(f"the spec's 'version' must be a whole number such as {SPEC_VERSION}, not {version!r}")
        if version > SPEC_VERSION:
            raise SpecError(f"this spec is format version {version}; update Fashion Desktop to read it")
        layers = []
        for index, item in enumerate(data["layers"]):
            try:
                layers.append(LayerSpec.from_dict(item))
            except SpecError as error:
                raise SpecError(f"layer {index + 1} of the spec is not valid: {error}") from None
            except (ValueError, TypeError, AttributeError, KeyError) as error:  # a shape nobody foresaw
                raise SpecError(f"layer {index + 1} of the spec is not valid ({error}): {item!r}") from None
        normalisation = []
        for name in ("mean", "std"):
            value = data.get(name, 0.5)
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                raise SpecError(f"the spec's '{name}' must be a number, not {value!r}")
            try:
                normalisation.append(float(value))
            except ValueError:
                raise SpecError(f"the spec's '{name}' must be a number, not {value!r}") from None
        return cls(tuple(layers), *normalisation)

    @classmethod
    def from_json(cls, text: str) -> ModelSpec:
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as error:
            raise SpecError(f"the spec is not valid JSON ({error})") from None


def _step(index: int, spec: LayerSpec, shape: Shape | None, last: bool) -> tuple[Shape | None, Problem | None]:
    """Infer one layer's output shape from its input shape, and report the layer's first problem.

    A bad option does not stop shape inference when the shape can still be worked out (a Dropout's p does
    not change its shape), so later layers are still checked.
    """
    if spec.kind not in LAYER_TYPES:
        unknown = f"is not a known layer type; use one of {', '.join(LAYER_TYPES)}"
        return None, Problem(f"layer {index + 1} ({spec.kind}) {unknown}", index)
    option_problem = _option_problem(spec, last)
    try:
        output, shape_problem = _output_shape(spec, shape)
    except (TypeError, ValueError):  # an option too broken to compute with; already reported
        output, shape_problem = None, None
    # Both at once: a user who fixes the option should not then meet a second problem that was there all along.
    message: str | None = option_problem or shape_problem
    if option_problem and shape_problem:
        message = f"{option_problem}; it also {shape_problem}"
    if message is None:
        return output, None
    separator = "" if message.startswith(":") else " "
    return output, Problem(f"layer {index + 1} ({spec.kind}){separator}{message}", index)


def _option_problem(spec: LayerSpec, last: bool) -> str | None:
    layer_type = spec.type
    _, problems = resolve(layer_type.params, spec.params)
    if spec.init not in INIT_SCHEMES:
        problems.append(f"unknown weight initialisation {spec.init!r}; use one of {', '.join(INIT_SCHEMES)}")
    elif spec.init != "default" and not layer_type.has_weights:
        return "has no weights to initialise; set the initialisation on a Linear or Conv2d layer"
    else:
        init_options, init_problems = resolve(INIT_SCHEMES[spec.init], spec.init_params)
        problems += init_problems
        if spec.init == "uniform" and not init_problems and init_options["a"] >= init_options["b"]:
            problems.append(f"uniform initialisation needs a < b, not a={init_options['a']:g}, b={init_options['b']:g}")
    if spec.bias_init not in BIAS_INITS:
        problems.append(f"bias initialisation must be one of {', '.join(BIAS_INITS)}")
    if problems:
        return ": " + "; ".join(problems)
    if layer_type.category == "head" and not last:
        return "must be the last layer; move it to the end or remove it"
    return None


def _output_shape(spec: LayerSpec, shape: Shape | None) -> tuple[Shape | None, str | None]:
    """The layer's output shape, or None and why it cannot take ``shape``."""
    if shape is None:
        return None, None  # an earlier layer failed; do not pile up follow-on messages
    flat, described = len(shape) == 1, _describe(shape)
    if spec.kind == "Flatten":
        return (math.prod(shape),), None
    if spec.kind in ("Linear", "Softmax", "LogSoftmax") and not flat:
        return None, f"needs a flat input but gets {described}; add a Flatten before it"
    if spec.kind in ("Conv2d", "MaxPool2d") and flat:
        return None, (
            f"needs a 3-D input (channels x height x width) but gets {described}; "
            "put convolution and pooling layers before the Flatten and any Linear layer"
        )
    if spec.kind == "Linear":
        return (int(spec.option("out_features")),), None
    if spec.kind in ("Conv2d", "MaxPool2d"):
        kernel = int(spec.option("kernel_size"))
        stride = int(spec.option("stride")) or kernel
        padding = int(spec.option("padding")) if spec.kind == "Conv2d" else 0
        height, width = ((size + 2 * padding - kernel) // stride + 1 for size in shape[1:])
        if height < 1 or width < 1 or kernel < 1:
            return None, (
                f"cannot apply a {kernel}x{kernel} kernel to a {shape[1]}x{shape[2]} input; "
                "use a smaller kernel, more padding or fewer pooling layers before it"
            )
        channels = int(spec.option("out_channels")) if spec.kind == "Conv2d" else shape[0]
        return (channels, height, width), None
    return shape, None  # activations, dropout, batch norm and heads keep the shape


def _count(spec: LayerSpec, shape: Shape | None) -> tuple[int, int]:
    """(trainable parameters, buffer values) of one layer on an input of ``shape``."""
    if shape is None or spec.kind not in LAYER_TYPES:
        return 0, 0
    if spec.kind == "Linear":
        out = int(spec.option("out_features"))
        return shape[0] * out + (out if spec.option("bias") else 0), 0
    if spec.kind == "Conv2d":
        out, kernel = int(spec.option("out_channels")), int(spec.option("kernel_size"))
        return shape[0] * out * kernel * kernel + (out if spec.option("bias") else 0), 0
    if spec.kind == "BatchNorm":
        return 2 * shape[0], 2 * shape[0]  # weight and bias; running mean and variance
    if spec.kind == "PReLU":
        return 1, 0
    return 0, 0


def _describe(shape: Shape) -> str:
    return f"{shape[0]} features" if len(shape) == 1 else "x".join(map(str, shape))


def _jsonable(value: Value) -> Any:
    return list(value) if isinstance(value, tuple) else value
