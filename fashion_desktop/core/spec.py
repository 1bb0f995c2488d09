"""Model specifications as plain data: layers, weight initialisation, shape checking and summaries.

Nothing here imports torch, so the GUI can check and summarise a network before torch has loaded.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from fashion_desktop.core.config import LOSS_LABELS, ONE_HOT_LOSSES
from fashion_desktop.core.errors import SpecError
from fashion_desktop.core.files import load_json
from fashion_desktop.core.layers import (
    LAYER_TYPES,
    MAX_INPUT_SIDE,
    WEIGHTED_KINDS,
    LayerType,
    Shape,
    ShapeError,
    describe_shape,
)
from fashion_desktop.core.params import Options, Param, Value, resolve

INPUT_SHAPE = (1, 28, 28)  # Fashion-MNIST's greyscale 28x28 images: the input of a spec that names none
INPUT_CHANNELS = {1: "greyscale", 3: "colour (RGB)"}
MIN_INPUT_SIDE = 8
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

# Resource caps: far above every preset and any network that trains on Fashion-MNIST in reasonable time, far below
# what makes training fail in the allocator (8.6 billion parameters took 33 GB before the first batch).
MAX_PARAMETERS = 100_000_000  # 400 MB of float32 weights, 1.2 GB with Adam's two moments
MAX_ACTIVATIONS = 4_000_000  # values all layers output for one image: 16 MB, so 1 GB for a batch of 64

# Initial values beyond this cannot train (and near float32's 3.4e38 torch cannot even fill the weights)
_INIT_LIMIT = 1e6
INIT_SCHEMES: dict[str, tuple[Param, ...]] = {
    "default": (),
    "uniform": (
        Param("a", "float", -0.05, minimum=-_INIT_LIMIT, maximum=_INIT_LIMIT),
        Param("b", "float", 0.05, minimum=-_INIT_LIMIT, maximum=_INIT_LIMIT),
    ),
    "normal": (
        Param("mean", "float", 0.0, minimum=-_INIT_LIMIT, maximum=_INIT_LIMIT),
        Param("std", "float", 0.01, minimum=0, exclusive_min=True, maximum=_INIT_LIMIT),
    ),
    "zeros": (),
    "ones": (),
    "constant": (Param("val", "float", 0.0, minimum=-_INIT_LIMIT, maximum=_INIT_LIMIT),),
    "kaiming_normal": (),
    "kaiming_uniform": (),
    "xavier_normal": (Param("gain", "float", 1.0, minimum=0, exclusive_min=True, maximum=_INIT_LIMIT),),
    "xavier_uniform": (Param("gain", "float", 1.0, minimum=0, exclusive_min=True, maximum=_INIT_LIMIT),),
}
BIAS_INITS = ("default", "zeros")


@dataclass(frozen=True)
class LayerSpec:
    """One layer: its kind (a key of :data:`LAYER_TYPES`), options and (for Linear and Conv2d) weight initialisation."""

    kind: str
    params: Mapping[str, Value] = field(default_factory=dict)
    init: str = "default"
    init_params: Mapping[str, Value] = field(default_factory=dict)
    bias_init: str = "default"

    @property
    def type(self) -> LayerType:
        """What this kind of layer is.

        Raises:
            SpecError: the kind is not one of :data:`LAYER_TYPES`.
        """
        try:
            return LAYER_TYPES[self.kind]
        except KeyError:
            raise SpecError(f"unknown layer type {self.kind!r}; known: {', '.join(LAYER_TYPES)}") from None

    def options(self) -> Options:
        """Every option, typed, with its default where the spec leaves it out.

        Raises:
            SpecError: the kind is unknown.
            ValueError, TypeError: an option cannot be read as its type (``validate`` says so in words).
        """
        return self.type.options(self.params)

    def option(self, name: str) -> Value:
        """One option's value, or its default when the spec leaves it out."""
        return self.options().values[name]

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
    """An ordered stack of layers, the shape of the images it takes and the input normalisation it is trained with.

    ``input_shape`` is (channels, height, width): 1 channel for greyscale, 3 for colour. The normalisation is
    ``(pixel / 255 - mean) / std``, the same for every channel.
    """

    layers: tuple[LayerSpec, ...]
    mean: float = 0.5
    std: float = 0.5
    input_shape: tuple[int, int, int] = INPUT_SHAPE

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

    def with_classes(self, classes: int) -> ModelSpec:
        """This network with its last Linear layer's out_features set to ``classes`` (none: as it is).

        A preset is made for ten classes; this fits it to an image folder's own class count.
        """
        last = max((i for i, spec in enumerate(self.layers) if spec.kind == "Linear"), default=None)
        if last is None:
            return self
        head = self.layers[last]
        return self.replaced(last, replace(head, params={**head.params, "out_features": classes}))

    @property
    def head(self) -> str:
        """``logits``, ``Softmax`` or ``LogSoftmax``: what the network's output means."""
        last = LAYER_TYPES.get(self.layers[-1].kind) if self.layers else None
        return last.kind if last is not None and last.is_head else "logits"

    def module_names(self) -> list[str]:
        """Attribute names in the built and exported module: fc1, relu1, dropout1, fc2, ..."""
        counts: dict[str, int] = {}
        names: list[str] = []
        for spec in self.layers:
            prefix = LAYER_TYPES[spec.kind].prefix if spec.kind in LAYER_TYPES else "layer"
            counts[prefix] = counts.get(prefix, 0) + 1
            names.append(f"{prefix}{counts[prefix]}")
        return names

    # -- checking --
    def validate(self, loss: str | None = None, classes: int | None = NUM_CLASSES) -> list[Problem]:
        """Every problem with this spec, in plain words naming the layer; an empty list means it can train.

        ``loss`` (a name of ``config.LOSSES``) adds checks of the head against the loss. ``classes`` is the
        number of outputs the data needs (Fashion-MNIST's 10, an image folder's own count); None leaves the
        output size to be checked against the data once it is loaded.
        """
        normalisation, input_shape = self._normalisation_problems(), self._input_problems()
        if not self.layers:
            return [
                *normalisation,
                *input_shape,
                Problem("the network has no layers; start from a preset or add Flatten and Linear(10)"),
            ]
        if input_shape:  # every layer's shape follows from the input's, so their messages would only mislead
            return normalisation + input_shape
        return normalisation + self._layer_problems(loss, classes) + size_problems(self)

    def _layer_problems(self, loss: str | None, classes: int | None) -> list[Problem]:
        steps = self._walk()
        problems = [p for _, _, p in steps if p is not None]
        if problems:
            return problems
        output = steps[-1][1]
        if output is not None and classes is not None and output != (classes,):
            described = describe_shape(output)
            fix = (
                f"end with Flatten and Linear(out_features={classes})"
                if len(output) == 3
                else f"make the last Linear layer's out_features {classes}"
            )
            data = "Fashion-MNIST has" if classes == NUM_CLASSES else "the data has"
            problems.append(
                Problem(
                    f"the network ends with {described} but {data} {classes} classes; {fix}",
                    len(self.layers) - 1,
                )
            )
        if loss in ONE_HOT_LOSSES:
            problems += self._one_hot_head_problems(loss)
        elif loss == "nll" and self.head != "LogSoftmax":
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

    def _one_hot_head_problems(self, loss: str) -> list[Problem]:
        """The one-hot losses take raw outputs (logits): they apply softmax (or the sigmoid) themselves.

        A Softmax head squeezes the probabilities a second time, so they can never reach the one-hot target, and
        the sigmoid of log-probabilities (all below 0) never passes 0.5: both are errors. Softmax of log-softmax is
        the softmax itself, so a LogSoftmax head with MSE, L1 or Smooth L1 trains the same, but only a warning says so.
        """
        last, name = len(self.layers) - 1, LOSS_LABELS.get(loss, loss)
        if loss == "bce" and self.head != "logits":
            return [
                Problem(
                    f"{name} applies a sigmoid to each raw output, but the network ends with {self.head}, whose "
                    f"outputs can never give the true class a yes; remove the {self.head} so it ends with Linear(10)",
                    last,
                )
            ]
        if self.head == "Softmax":
            return [
                Problem(
                    f"{name} applies softmax to the network's output itself, so a Softmax head applies it twice and "
                    "the probabilities can never reach the target; remove the Softmax so it ends with Linear(10)",
                    last,
                )
            ]
        if self.head == "LogSoftmax":
            return [
                Problem(
                    f"{name} applies softmax to the network's output itself; after LogSoftmax that gives the same "
                    "probabilities, so it trains, but the LogSoftmax does nothing: remove it",
                    last,
                    "warning",
                )
            ]
        return []

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

    def _input_problems(self) -> list[Problem]:
        shape = self.input_shape
        if len(shape) != 3 or not all(isinstance(n, int) and not isinstance(n, bool) for n in shape):
            return [Problem(f"the input images must be channels x height x width, such as 1x28x28, not {shape!r}")]
        channels, height, width = shape
        problems = []
        if channels not in INPUT_CHANNELS:
            problems.append(
                Problem(
                    f"the input images must have 1 channel (greyscale) or 3 (colour), not {channels}; "
                    "set the input shape to 1x28x28 for Fashion-MNIST or 3xHxW for photos"
                )
            )
        if not all(MIN_INPUT_SIDE <= side <= MAX_INPUT_SIDE for side in (height, width)):
            problems.append(
                Problem(
                    f"the input images must be {MIN_INPUT_SIDE} to {MAX_INPUT_SIDE} pixels high and wide, "
                    f"not {height}x{width}; Fashion-MNIST's are 28x28, and 64x64 suits photos"
                )
            )
        return problems

    def errors(self, loss: str | None = None, classes: int | None = NUM_CLASSES) -> list[Problem]:
        return [p for p in self.validate(loss, classes) if p.severity == "error"]

    def check(self, loss: str | None = None, classes: int | None = NUM_CLASSES) -> None:
        """Raise :class:`SpecError` listing every error, if there is one (``classes`` as in :meth:`validate`)."""
        errors = self.errors(loss, classes)
        if errors:
            raise SpecError("the network cannot be built:\n" + "\n".join(f"- {p.message}" for p in errors))

    def summary(self) -> Summary:
        """Output shape and parameter counts per layer, computed without building the network."""
        rows = []
        layer_input: Shape | None = self.input_shape
        for index, ((spec, shape, problem), name) in enumerate(zip(self._walk(), self.module_names(), strict=True)):
            trainable, buffers = (0, 0) if problem else _count(spec, layer_input)  # a layer that cannot be built
            rows.append(LayerSummary(index, name, spec.kind, shape, trainable, buffers))
            layer_input = shape
        return Summary(tuple(rows), sum(r.trainable for r in rows), sum(r.non_trainable for r in rows))

    def _walk(self) -> list[tuple[LayerSpec, Shape | None, Problem | None]]:
        """Each layer with its output shape (None once a shape is unknown) and its first problem, if any."""
        steps: list[tuple[LayerSpec, Shape | None, Problem | None]] = []
        shape: Shape | None = self.input_shape
        for index, spec in enumerate(self.layers):
            shape, problem = _step(index, spec, shape, last=index == len(self.layers) - 1)
            steps.append((spec, shape, problem))
        return steps

    # -- serialisation --
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": SPEC_FORMAT,
            "version": SPEC_VERSION,
            "input_shape": list(self.input_shape),
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
            SpecError: the data is not a spec, is from a newer version, or a layer, the mean, the std or the input
                shape is malformed; the message names the layer or the field. A spec without an input shape, as
                older files are, takes Fashion-MNIST's 1x28x28.
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
        mean, std = normalisation
        return cls(tuple(layers), mean, std, _input_shape_from(data.get("input_shape", list(INPUT_SHAPE))))

    @classmethod
    def from_json(cls, text: str) -> ModelSpec:
        return cls.from_dict(load_json(text, "the spec", SpecError))


def size_problems(spec: ModelSpec) -> list[Problem]:
    """Refuse networks too big to train here: more than MAX_PARAMETERS weights or MAX_ACTIVATIONS per image.

    Sizes are whole numbers of any length (a padding of 1e308 makes one), so the messages divide as integers.
    """
    problems = []
    total = spec.summary().total
    if total > MAX_PARAMETERS:
        problems.append(
            Problem(
                f"the network has {total:,} parameters ({total * 4 // 2**30:,} GB), more than the "
                f"{MAX_PARAMETERS:,} this app trains; use fewer or smaller Linear and Conv2d layers"
            )
        )
    activations = sum(math.prod(shape) for _, shape, _ in spec._walk() if shape is not None)
    if activations > MAX_ACTIVATIONS:
        problems.append(
            Problem(
                f"the layers output {activations:,} values per image ({activations * 4 // 2**20:,} MB), more than "
                f"the {MAX_ACTIVATIONS:,} that training can hold for a batch; use fewer channels, or pool earlier"
            )
        )
    return problems


def _input_shape_from(value: object) -> tuple[int, int, int]:
    """The input shape of a spec file, such as ``[1, 28, 28]``; its range is checked by :meth:`ModelSpec.validate`."""
    if (
        isinstance(value, list)
        and len(value) == 3
        and all(isinstance(n, int) and not isinstance(n, bool) for n in value)
    ):
        channels, height, width = value
        return channels, height, width
    raise SpecError(
        f"the spec's 'input_shape' must be [channels, height, width] in whole numbers, such as [1, 28, 28], "
        f"not {value!r}"
    )


def _step(index: int, spec: LayerSpec, shape: Shape | None, last: bool) -> tuple[Shape | None, Problem | None]:
    """Infer one layer's output shape from its input shape, and report the layer's first problem.

    A bad option does not stop shape inference when the shape can still be worked out (a Dropout's p does
    not change its shape), so later layers are still checked.
    """
    if spec.kind not in LAYER_TYPES:
        unknown = f"is not a known layer type; use one of {', '.join(LAYER_TYPES)}"
        return None, Problem(f"layer {index + 1} ({spec.kind}) {unknown}", index)
    option_problem = _option_problem(spec, last)
    output: Shape | None = None
    shape_problem: str | None = None
    if shape is not None:  # None: an earlier layer failed; do not pile up follow-on messages
        try:
            output = spec.type.output_shape(shape, spec.options())
        except ShapeError as error:
            shape_problem = str(error)
        except (TypeError, ValueError, ZeroDivisionError, OverflowError):  # an option too broken to compute with
            pass
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
        return f"has no weights to initialise; set the initialisation on a {' or '.join(WEIGHTED_KINDS)} layer"
    else:
        init_values, init_problems = resolve(INIT_SCHEMES[spec.init], spec.init_params)
        problems += init_problems
        if spec.init == "uniform" and not init_problems:
            low, high = Options(init_values).number("a"), Options(init_values).number("b")
            if low >= high:
                problems.append(f"uniform initialisation needs a < b, not a={low:g}, b={high:g}")
    if spec.bias_init not in BIAS_INITS:
        problems.append(f"bias initialisation must be one of {', '.join(BIAS_INITS)}")
    if problems:
        return ": " + "; ".join(problems)
    if layer_type.is_head and not last:
        return "must be the last layer; move it to the end or remove it"
    return None


def _count(spec: LayerSpec, shape: Shape | None) -> tuple[int, int]:
    """(trainable parameters, buffer values) of one layer on an input of ``shape``."""
    if shape is None or spec.kind not in LAYER_TYPES:
        return 0, 0
    return spec.type.parameter_count(shape, spec.options())


def _jsonable(value: Value) -> Any:
    return list(value) if isinstance(value, tuple) else value
