"""Every layer kind the Builder offers, each declared once, in :data:`LAYER_TYPES`.

A :class:`LayerType` says everything the app knows about one kind: its options (defaults and ranges), the input it
takes, its output shape and parameter count as functions of the input shape, the torch.nn modules it builds, the
prefix of its module names (fc1, conv2, ...), its plain words for the Builder and its short label for run lists.
The spec's shape check and summary, the torch builder, the exported code, the run descriptions and the Builder's
palette all read it, so adding a kind means adding one entry here (and its tests).

Nothing here imports torch, so the GUI can list, check and summarise layers before torch has loaded: a kind names
its torch.nn classes and their arguments (:class:`TorchModule`), which the builder makes and the code export writes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from fashion_desktop.core.params import Options, Param, Value

Shape = tuple[int, ...]  # (features,) or (channels, height, width)
MAX_INPUT_SIDE = 512  # the largest image side a spec accepts, so also the largest kernel, stride or padding

CATEGORIES = {  # palette group titles, in palette order
    "layer": "Layers",
    "activation": "Activations",
    "regularisation": "Regularisation",
    "head": "Output heads",
}
LOGITS_WORDS = "raw scores (logits)"  # what the output of a network without a head layer means


class ShapeError(Exception):
    """A layer cannot take its input: the message says why and what to change, without naming the layer."""


@dataclass(frozen=True)
class TorchModule:
    """One module to make: ``getattr(torch.nn, class_name)(**kwargs)``.

    ``torch_defaults`` holds torch's own default of some arguments; exported code leaves out an argument that equals
    its default, so that it reads like code written by hand.
    """

    class_name: str
    kwargs: Mapping[str, object] = field(default_factory=dict)
    torch_defaults: Mapping[str, object] = field(default_factory=dict)

    def spelled_out(self) -> dict[str, object]:
        """The arguments exported code writes: those that differ from torch's defaults."""
        defaults = self.torch_defaults
        return {
            name: value
            for name, value in self.kwargs.items()
            if name not in defaults or type(defaults[name]) is not type(value) or defaults[name] != value
        }


def _same_shape(shape: Shape, _options: Options) -> Shape:
    return shape


def _no_parameters(_shape: Shape, _options: Options) -> tuple[int, int]:
    return 0, 0


def _option_words(options: Options) -> str:
    values = options.values.items()
    return ", ".join(f"{name}={value:g}" for name, value in values if not isinstance(value, (bool, str, tuple)))


@dataclass(frozen=True)
class LayerType:
    """What one layer kind is, in one place.

    Attributes:
        kind: The name in spec files and in the palette, such as ``Linear``.
        category: ``layer``, ``activation``, ``regularisation`` or ``head`` (a key of :data:`CATEGORIES`).
        description: Plain words for the palette's tooltip and the properties panel.
        prefix: The module names' stem: the second Linear layer is ``fc2`` in the built and exported module.
        params: The options, with defaults and valid ranges.
        input_rank: 1 for a flat input (features), 3 for channels x height x width, None for either.
        output_shape_of: The output shape for an input shape of ``input_rank``; raises :class:`ShapeError`.
        parameters_of: (trainable parameters, buffer values) for an input shape.
        modules_of: The torch.nn modules to make, in order; None makes ``torch.nn.<kind>(**options)``.
        details_of: The options a reader wants at a glance in the Builder's layer list.
        main_option: The option a short label shows without its name: ``Linear(256)``.
        has_weights: Whether the layer takes a weight and bias initialisation.
        head_output: For a head, what the network's output then means.
    """

    kind: str
    category: str
    description: str
    prefix: str
    params: tuple[Param, ...] = ()
    input_rank: int | None = None
    output_shape_of: Callable[[Shape, Options], Shape] = _same_shape
    parameters_of: Callable[[Shape, Options], tuple[int, int]] = _no_parameters
    modules_of: Callable[[Shape, Options], tuple[TorchModule, ...]] | None = None
    details_of: Callable[[Options], str] = _option_words
    main_option: str | None = None
    has_weights: bool = False
    head_output: str = ""

    @property
    def is_activation(self) -> bool:
        return self.category == "activation"

    @property
    def is_head(self) -> bool:
        """A head turns the scores into probabilities or log-probabilities, so it must be the last layer."""
        return self.category == "head"

    def options(self, given: Mapping[str, Value]) -> Options:
        """See :meth:`Options.of`."""
        return Options.of(self.params, given)

    def output_shape(self, shape: Shape, options: Options) -> Shape:
        """The output shape on an input of ``shape``.

        Raises:
            ShapeError: the layer cannot take that input.
        """
        described = describe_shape(shape)
        if self.input_rank == 1 and len(shape) != 1:
            raise ShapeError(f"needs a flat input but gets {described}; add a Flatten before it")
        if self.input_rank == 3 and len(shape) != 3:
            raise ShapeError(
                f"needs a 3-D input (channels x height x width) but gets {described}; "
                "put convolution and pooling layers before the Flatten and any Linear layer"
            )
        return self.output_shape_of(shape, options)

    def parameter_count(self, shape: Shape, options: Options) -> tuple[int, int]:
        """(trainable parameters, buffer values such as batch norm's running statistics) on an input of ``shape``."""
        return self.parameters_of(shape, options)

    def torch_modules(self, shape: Shape, options: Options) -> tuple[TorchModule, ...]:
        """The torch.nn modules this layer is made of on an input of ``shape``: one, or several run in sequence."""
        if self.modules_of is None:
            return (TorchModule(self.kind, dict(options.values)),)
        return self.modules_of(shape, options)

    def details(self, options: Options) -> str:
        return self.details_of(options)

    def label(self, options: Options, extra: Sequence[str] = ()) -> str:
        """A short label such as ``Linear(256)``, ``Conv2d(32, bias=False)`` or ``ReLU``.

        It shows the main option, then every other option that differs from its default, then ``extra``.
        """
        parts = [f"{options.values[self.main_option]!r}"] if self.main_option else []
        parts += [
            f"{p.name}={options.values[p.name]!r}"
            for p in self.params
            if p.name != self.main_option and options.values[p.name] != p.default
        ]
        parts += extra
        return f"{self.kind}({', '.join(parts)})" if parts else self.kind


def describe_shape(shape: Shape) -> str:
    """``256 features`` or ``1x28x28``, as messages name a shape."""
    return f"{shape[0]} features" if len(shape) == 1 else "x".join(map(str, shape))


# -- the shape arithmetic, parameter counts and words that several kinds share --


def _slide(shape: Shape, channels: int, kernel: int, stride: int, padding: int) -> Shape:
    """The output of a kernel x kernel window sliding over a channels x height x width input.

    Raises:
        ShapeError: the window does not fit.
        ValueError: the stride is below 1, an option already reported as out of range.
    """
    if stride < 1:
        raise ValueError(f"stride must be at least 1, not {stride}")
    height, width = ((size + 2 * padding - kernel) // stride + 1 for size in shape[1:])
    if height < 1 or width < 1 or kernel < 1:
        raise ShapeError(
            f"cannot apply a {kernel}x{kernel} kernel to a {shape[1]}x{shape[2]} input; "
            "use a smaller kernel, more padding or fewer pooling layers before it"
        )
    return channels, height, width


def _pool_stride(options: Options) -> int:
    return options.integer("stride") or options.integer("kernel_size")  # a stride of 0 means the kernel size


def _window_words(options: Options, usual_stride: int) -> list[str]:
    kernel, stride = options.integer("kernel_size"), options.integer("stride")
    words = [f"{kernel}x{kernel}"]
    if (stride or kernel) != usual_stride:
        words.append(f"stride {stride}")
    return words


def _bias(options: Options) -> int:
    return 1 if options.flag("bias") else 0


_KERNEL = Param("kernel_size", "int", 3, minimum=1, maximum=MAX_INPUT_SIDE)
_BIAS = Param("bias", "bool", True)
_CHANNELS = Param("out_channels", "int", 32, minimum=1, maximum=4096)
_POOL_PARAMS = (
    replace(_KERNEL, default=2),
    Param("stride", "int", 0, minimum=0, maximum=MAX_INPUT_SIDE, help="0: same as kernel"),
)
_DROPOUT_P = Param("p", "float", 0.25, minimum=0, maximum=1, exclusive_max=True)


def _pooling(kind: str, prefix: str, description: str) -> LayerType:
    """A kernel x kernel pooling layer such as MaxPool2d: its options, shapes and arguments."""
    return LayerType(
        kind,
        "layer",
        description,
        prefix,
        _POOL_PARAMS,
        input_rank=3,
        output_shape_of=lambda shape, o: _slide(shape, shape[0], o.integer("kernel_size"), _pool_stride(o), 0),
        modules_of=lambda _shape, o: (
            TorchModule(
                kind,
                {"kernel_size": o.integer("kernel_size"), "stride": o.integer("stride") or None},
                {"stride": None},
            ),
        ),
        details_of=lambda o: ", ".join(_window_words(o, usual_stride=o.integer("kernel_size"))),
        main_option="kernel_size",
    )


def _activation(kind: str, prefix: str, description: str, *params: Param) -> LayerType:
    return LayerType(kind, "activation", description, prefix, params)


def _head(kind: str, prefix: str, output: str, description: str) -> LayerType:
    return LayerType(
        kind,
        "head",
        description,
        prefix,
        input_rank=1,
        modules_of=lambda _shape, _options: (TorchModule(kind, {"dim": 1}),),
        head_output=output,
    )


LAYER_TYPES: dict[str, LayerType] = {
    t.kind: t
    for t in (
        LayerType(
            "Flatten",
            "layer",
            "Reshape channels x height x width into one row of features, for the Linear layers after it",
            "flatten",
            output_shape_of=lambda shape, _options: (math.prod(shape),),
        ),
        LayerType(
            "Linear",
            "layer",
            "Fully connected layer: every output is a weighted sum of all the inputs",
            "fc",
            (Param("out_features", "int", 128, minimum=1, maximum=65536), _BIAS),
            input_rank=1,
            output_shape_of=lambda _shape, o: (o.integer("out_features"),),
            parameters_of=lambda shape, o: ((shape[0] + _bias(o)) * o.integer("out_features"), 0),
            modules_of=lambda shape, o: (
                TorchModule(
                    "Linear",
                    {"in_features": shape[0], "out_features": o.integer("out_features"), "bias": o.flag("bias")},
                    {"bias": True},
                ),
            ),
            details_of=lambda o: f"{o.integer('out_features')} units" + ("" if o.flag("bias") else ", no bias"),
            main_option="out_features",
            has_weights=True,
        ),
        LayerType(
            "Conv2d",
            "layer",
            "2-D convolution: out_channels filters, each a kernel x kernel window slid over the image",
            "conv",
            (
                _CHANNELS,
                _KERNEL,
                Param("stride", "int", 1, minimum=1, maximum=MAX_INPUT_SIDE),
                Param("padding", "int", 1, minimum=0, maximum=MAX_INPUT_SIDE),
                _BIAS,
            ),
            input_rank=3,
            output_shape_of=lambda shape, o: _slide(
                shape, o.integer("out_channels"), o.integer("kernel_size"), o.integer("stride"), o.integer("padding")
            ),
            parameters_of=lambda shape, o: (
                (shape[0] * o.integer("kernel_size") ** 2 + _bias(o)) * o.integer("out_channels"),
                0,
            ),
            modules_of=lambda shape, o: (
                TorchModule(
                    "Conv2d",
                    {
                        "in_channels": shape[0],
                        **{n: o.values[n] for n in ("out_channels", "kernel_size", "stride", "padding", "bias")},
                    },
                    {"stride": 1, "padding": 0, "bias": True},
                ),
            ),
            details_of=lambda o: ", ".join([f"{o.integer('out_channels')} filters", *_window_words(o, usual_stride=1)]),
            main_option="out_channels",
            has_weights=True,
        ),
        _pooling("MaxPool2d", "pool", "Max pooling: keep the largest value of each kernel x kernel window"),
        _pooling("AvgPool2d", "avg_pool", "Average pooling: keep the mean of each kernel x kernel window"),
        LayerType(
            "GlobalAvgPool",
            "layer",
            "Global average pooling: the mean of each channel over the whole image, one feature per channel; "
            "in place of Flatten, it lets the classifier after it be small",
            "global_pool",
            input_rank=3,
            output_shape_of=lambda shape, _options: (shape[0],),
            modules_of=lambda _shape, _options: (
                TorchModule("AdaptiveAvgPool2d", {"output_size": 1}),
                TorchModule("Flatten"),
            ),
        ),
        LayerType(
            "BatchNorm",
            "regularisation",
            "Batch normalisation: rescale each feature or channel over the batch (1-D after Flatten, 2-D before)",
            "bn",
            (Param("momentum", "float", 0.1, minimum=0, maximum=1, exclusive_min=True),),
            parameters_of=lambda shape, _options: (2 * shape[0], 2 * shape[0]),  # weight, bias; mean, variance
            modules_of=lambda shape, o: (
                TorchModule(
                    "BatchNorm2d" if len(shape) == 3 else "BatchNorm1d",
                    {"num_features": shape[0], "momentum": o.number("momentum")},
                    {"momentum": 0.1},
                ),
            ),
        ),
        LayerType(
            "Dropout",
            "regularisation",
            "Zero a random fraction p of the inputs while training",
            "dropout",
            (_DROPOUT_P,),
            main_option="p",
        ),
        LayerType(
            "Dropout2d",
            "regularisation",
            "Zero whole channels at random, each with probability p, while training; for convolution blocks",
            "channel_dropout",
            (replace(_DROPOUT_P, default=0.1),),
            input_rank=3,
            main_option="p",
        ),
        _activation("ReLU", "relu", "max(0, x): the usual choice"),
        _activation(
            "LeakyReLU",
            "leaky_relu",
            "Like ReLU, but negative inputs keep a small slope, so no unit stops learning",
            Param("negative_slope", "float", 0.01, minimum=0, maximum=1),
        ),
        replace(
            _activation(
                "PReLU",
                "prelu",
                "Leaky ReLU whose negative slope is learnt; init is its starting value",
                Param("init", "float", 0.25, minimum=0, maximum=1),
            ),
            parameters_of=lambda _shape, _options: (1, 0),  # one slope shared by all inputs
        ),
        _activation(
            "ELU",
            "elu",
            "Smooth for negative inputs, which tend to -alpha",
            Param("alpha", "float", 1.0, minimum=0, exclusive_min=True, maximum=10),
        ),
        _activation("GELU", "gelu", "A smooth ReLU, weighted by the normal distribution; used in transformers"),
        _activation("SiLU", "silu", "x times sigmoid(x), also called swish: smooth, and dips slightly below 0"),
        _activation("Sigmoid", "sigmoid", "Squashes to (0, 1); its gradient fades for large inputs"),
        _activation("Tanh", "tanh", "Squashes to (-1, 1), centred on 0; its gradient fades for large inputs"),
        _head("Softmax", "softmax", "probabilities", "Output probabilities; the last layer"),
        _head(
            "LogSoftmax", "log_softmax", "log-probabilities", "Output log-probabilities (for NLLLoss); the last layer"
        ),
    )
}
WEIGHTED_KINDS = tuple(kind for kind, layer_type in LAYER_TYPES.items() if layer_type.has_weights)
