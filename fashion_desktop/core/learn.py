"""The maths behind the Learn tab's experiments: activations, initialisation, losses, averages, optimizers, schedules.

Each experiment is a plain function of plain settings that returns plain numbers, so the tests check the numbers
and the GUI only draws them. Importing this module does not import torch (the window paints first); the functions
that need torch import it when called, and use the real ``torch.nn.init``, ``torch.nn.functional``,
``torch.optim`` and ``torch.optim.lr_scheduler`` code rather than formulas of our own.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from fashion_desktop.core.config import OPTIMIZERS, SCHEDULERS, TrainConfig
from fashion_desktop.core.layers import LAYER_TYPES
from fashion_desktop.core.params import Value
from fashion_desktop.core.spec import INIT_SCHEMES, LayerSpec, ModelSpec

if TYPE_CHECKING:
    import torch

# Where |f'(x)| is below this, a unit passes almost no gradient back: the activations plot shades it.
VANISHING_SLOPE = 0.05


# -- 1. activations --
def activation_kinds() -> list[str]:
    """Every activation layer the Builder offers, in its order (the one place the Learn tab takes them from)."""
    return [kind for kind, layer_type in LAYER_TYPES.items() if layer_type.is_activation]


@dataclass(frozen=True)
class ActivationCurve:
    """An activation on [-6, 6]: x, f(x), f'(x) and the intervals of x where the slope vanishes."""

    kind: str
    x: list[float]
    y: list[float]
    slope: list[float]
    vanishing: list[tuple[float, float]]


def activation_curve(kind: str, params: Mapping[str, Value] | None = None, points: int = 241) -> ActivationCurve:
    """The Builder's own activation plot data (autograd derivative), with the vanishing-slope intervals."""
    from fashion_desktop.core.builder import activation_curve as builder_curve

    options = dict(params or {})  # activations' options are all numbers
    x, y, slope = builder_curve(kind, options, points)  # type: ignore[arg-type]
    return ActivationCurve(kind, x, y, slope, vanishing_intervals(x, slope))


def vanishing_intervals(
    x: Sequence[float], slope: Sequence[float], threshold: float = VANISHING_SLOPE
) -> list[tuple[float, float]]:
    """The runs of ``x`` over which ``|slope| < threshold``, as (start, end) pairs."""
    intervals: list[tuple[float, float]] = []
    start: float | None = None
    for xi, si in zip(x, slope, strict=True):
        if abs(si) < threshold:
            start = xi if start is None else start
            end = xi
        elif start is not None:
            intervals.append((start, end))
            start = None
    if start is not None:
        intervals.append((start, end))
    return intervals


# -- 2. initialisation --
def init_schemes() -> list[str]:
    """The weight initialisations the Builder offers (``default`` is PyTorch's own for Linear)."""
    return list(INIT_SCHEMES)


@dataclass(frozen=True)
class Histogram:
    """Counts over equal-width bins between ``edges[0]`` and ``edges[-1]``."""

    counts: list[int]
    edges: list[float]


@dataclass(frozen=True)
class LayerStatistics:
    """One layer of the initialisation experiment: its activations and its weights' gradients."""

    layer: int  # 1-based
    activation_mean: float
    activation_std: float
    gradient_std: float
    activations: Histogram
    gradients: Histogram


@dataclass(frozen=True)
class InitExperiment:
    """What the user chose, and the statistics of every layer from the first to the last."""

    layers: int
    width: int
    activation: str
    init: str
    init_params: Mapping[str, Value]
    statistics: list[LayerStatistics]


def init_experiment(
    layers: int,
    width: int,
    activation: str,
    init: str,
    init_params: Mapping[str, Value] | None = None,
    *,
    batch: int = 512,
    bins: int = 40,
    seed: int = 0,
    histogram_layers: Sequence[int] | None = None,
) -> InitExperiment:
    """Feed a batch of random N(0, 1) inputs of ``width`` features through ``layers`` Linear+activation pairs.

    Each Linear layer's weights are initialised as the Builder would (the same ``torch.nn.init`` call and
    options), biases at zero. The gradients are those of the loss ``sum(output * g)`` for a random N(0, 1)
    ``g``: an upstream gradient of unit scale, so what happens to it on the way back is the network's doing.
    Histograms are made for the 1-based ``histogram_layers`` only (all when None); the others' are empty.

    Raises:
        ValueError: a setting is out of range or names no activation or initialisation.
    """
    import torch
    from torch import nn

    from fashion_desktop.core.builder import _initialise  # the Builder's own, so "Use in Builder" is faithful

    if not 1 <= layers <= 100 or not 1 <= width <= 4096:
        raise ValueError(f"choose 1 to 100 layers of 1 to 4096 units, not {layers} of {width}")
    if activation not in activation_kinds() or init not in INIT_SCHEMES:
        raise ValueError(f"unknown activation {activation!r} or initialisation {init!r}")
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # the default init and PReLU draw from the global generator
        linears = []
        for _ in range(layers):
            linear = nn.Linear(width, width)
            _initialise(linear, LayerSpec("Linear", {}, init, dict(init_params or {}), bias_init="zeros"))
            linears.append(linear)
        activations = [_activation_module(activation) for _ in range(layers)]
    outputs = []
    h = torch.randn(batch, width, generator=generator)
    for linear, act in zip(linears, activations, strict=True):
        h = act(linear(h))
        outputs.append(h)
    upstream = torch.randn(h.shape, generator=generator)
    (h * upstream).sum().backward()
    statistics = []
    empty = Histogram([], [])
    for index, (linear, output) in enumerate(zip(linears, outputs, strict=True), start=1):
        values, grads = output.detach(), linear.weight.grad
        assert grads is not None
        histograms = histogram_layers is None or index in histogram_layers
        statistics.append(
            LayerStatistics(
                index,
                float(values.mean()),
                float(values.std()),
                float(grads.std()),
                _histogram(values, bins) if histograms else empty,
                _histogram(grads, bins) if histograms else empty,
            )
        )
    return InitExperiment(layers, width, activation, init, dict(init_params or {}), statistics)


def _activation_module(kind: str) -> torch.nn.Module:
    from torch import nn

    layer = LayerSpec(kind)
    return getattr(nn, kind)(**{p.name: layer.option(p.name) for p in layer.type.params})


def _histogram(values: torch.Tensor, bins: int) -> Histogram:
    """A histogram over the values' range; non-finite values (an exploded network) are left out."""
    data = values.detach().flatten().double().numpy()
    data = data[np.isfinite(data)]
    if data.size == 0:
        return Histogram([0] * bins, list(np.linspace(-1, 1, bins + 1)))
    low, high = float(data.min()), float(data.max())
    if high - low < 1e-12:  # every value the same (zeros stall): one bin around it
        low, high = low - 0.5, high + 0.5
    counts, edges = np.histogram(data, bins=bins, range=(low, high))
    return Histogram([int(c) for c in counts], [float(e) for e in edges])


def with_weight_init(spec: ModelSpec, init: str, init_params: Mapping[str, Value] | None = None) -> ModelSpec:
    """``spec`` with every layer that has weights (Linear, Conv2d) initialised by ``init``, biases at zero."""
    params = dict(init_params or {})
    layers = [
        LayerSpec(layer.kind, layer.params, init, params, "zeros")
        if layer.kind in LAYER_TYPES and LAYER_TYPES[layer.kind].has_weights
        else layer
        for layer in spec.layers
    ]
    return spec.with_layers(layers)


# -- 3. losses --
CLASSIFICATION_LOSSES = {
    "cross_entropy": "Cross-entropy (softmax)",
    "bce": "BCE (a sigmoid per class)",
    "mse_softmax": "MSE on softmax",
}
REGRESSION_LOSSES = {"l1": "L1 / MAE", "mse": "L2 / MSE", "smooth_l1": "Smooth L1"}
NUM_CLASSES = 10


@dataclass(frozen=True)
class LossCurve:
    """A loss against one input (a probability or a prediction), with its gradient."""

    name: str
    label: str
    x: list[float]
    loss: list[float]
    gradient: list[float]


def classification_loss_curves(points: int = 199) -> list[LossCurve]:
    """Each classification loss of one 10-class sample against p, the probability given to the true class.

    The other nine classes share 1 - p evenly. The gradient is that of the loss with respect to the true class's
    logit (the input to softmax or sigmoid), the signal that trains the network: cross-entropy's is p - 1, large
    while the prediction is wrong; MSE on softmax's fades as p approaches 0, so a confident mistake barely trains.
    Every loss is torch's own (``F.cross_entropy``, ``F.binary_cross_entropy_with_logits``, ``F.mse_loss``), with
    the mean over the ten outputs that a training batch of one would take.
    """
    import torch
    import torch.nn.functional as F

    p = torch.linspace(0.005, 0.995, points, dtype=torch.float64)
    others = (1 - p) / (NUM_CLASSES - 1)
    probabilities = torch.cat([p[:, None], others[:, None].expand(-1, NUM_CLASSES - 1)], dim=1)
    target = torch.zeros(points, dtype=torch.long)  # the true class is class 0
    one_hot = F.one_hot(target, NUM_CLASSES).double()

    def softmax_logits() -> torch.Tensor:
        return probabilities.log().requires_grad_()  # softmax of log p is p

    def sigmoid_logits() -> torch.Tensor:
        return torch.logit(probabilities).requires_grad_()  # sigmoid of logit p is p

    losses: dict[str, tuple[Callable[[], torch.Tensor], Callable[[torch.Tensor], torch.Tensor]]] = {
        "cross_entropy": (softmax_logits, lambda z: F.cross_entropy(z, target, reduction="none")),
        "bce": (
            sigmoid_logits,
            lambda z: F.binary_cross_entropy_with_logits(z, one_hot, reduction="none").mean(dim=1),
        ),
        "mse_softmax": (softmax_logits, lambda z: F.mse_loss(z.softmax(dim=1), one_hot, reduction="none").mean(dim=1)),
    }
    curves = []
    for name, (make_logits, loss_of) in losses.items():
        logits = make_logits()
        loss = loss_of(logits)
        (gradient,) = torch.autograd.grad(loss.sum(), logits)  # samples are independent: row i's gradient is its own
        curves.append(LossCurve(name, CLASSIFICATION_LOSSES[name], p.tolist(), loss.tolist(), gradient[:, 0].tolist()))
    return curves


def regression_loss_curves(
    target: float = 0.0, beta: float = 1.0, span: float = 3.0, points: int = 241
) -> list[LossCurve]:
    """L1, L2 and Smooth L1 (``beta``) of one prediction against ``target``, with d loss / d prediction."""
    import torch
    import torch.nn.functional as F

    if beta <= 0:
        raise ValueError(f"Smooth L1's beta must be above 0, not {beta}")
    truth = torch.full((points,), float(target), dtype=torch.float64)
    functions: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
        "l1": lambda y: F.l1_loss(y, truth, reduction="none"),
        "mse": lambda y: F.mse_loss(y, truth, reduction="none"),
        "smooth_l1": lambda y: F.smooth_l1_loss(y, truth, reduction="none", beta=beta),
    }
    curves = []
    for name, function in functions.items():
        prediction = torch.linspace(target - span, target + span, points, dtype=torch.float64, requires_grad=True)
        loss = function(prediction)
        (gradient,) = torch.autograd.grad(loss.sum(), prediction)
        curves.append(LossCurve(name, REGRESSION_LOSSES[name], prediction.tolist(), loss.tolist(), gradient.tolist()))
    return curves


# -- 4. exponentially weighted average --
def noisy_temperatures(days: int = 30, seed: int = 0) -> list[float]:
    """Daily temperatures (°C) of a warming month with day-to-day noise, the same for the same seed."""
    rng = np.random.default_rng(seed)
    trend = 8.0 + 10.0 * np.linspace(0, 1, days)
    return [round(float(t), 1) for t in trend + rng.normal(0.0, 3.0, days)]


def ewma(values: Sequence[float], beta: float, bias_correction: bool = False) -> list[float]:
    """``S_t = beta * S_(t-1) + (1 - beta) * Y_t`` from ``S_0 = 0``; corrected, ``S_t / (1 - beta^t)``.

    Without the correction the first days are pulled towards 0, because S starts there.
    """
    if not 0 <= beta < 1:
        raise ValueError(f"beta must be at least 0 and below 1, not {beta}")
    average, result = 0.0, []
    for t, value in enumerate(values, start=1):
        average = beta * average + (1 - beta) * value
        result.append(average / (1 - beta**t) if bias_correction else average)
    return result


# -- 5. optimizers --
@dataclass(frozen=True)
class Surface:
    """A 2-D loss surface: its function (of torch tensors or numpy arrays), start point and view."""

    name: str
    label: str
    formula: str
    function: Callable[[Any, Any], Any]
    start: tuple[float, float]
    x_range: tuple[float, float]
    y_range: tuple[float, float]
    minimum: tuple[float, float] | None
    suggested_lr: float

    def grid(self, points: int = 120) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(x, y, z) on a ``points`` x ``points`` grid over the view, for a contour or image plot."""
        x = np.linspace(*self.x_range, points)
        y = np.linspace(*self.y_range, points)
        xx, yy = np.meshgrid(x, y, indexing="ij")
        return x, y, self.function(xx, yy)


SURFACES: dict[str, Surface] = {
    s.name: s
    for s in (
        Surface(
            name="bowl",
            label="Bowl",
            formula="f(w) = (w₁² + w₂²) / 2",
            function=lambda x, y: (x**2 + y**2) / 2,
            start=(1.5, 1.2),
            x_range=(-2, 2),
            y_range=(-2, 2),
            minimum=(0, 0),
            suggested_lr=0.1,
        ),
        Surface(
            name="valley",
            label="Elongated valley",
            formula="f(w) = (w₁² + 25 w₂²) / 2",
            function=lambda x, y: (x**2 + 25 * y**2) / 2,
            start=(-1.8, 0.6),
            x_range=(-2, 2),
            y_range=(-1, 1),
            minimum=(0, 0),
            suggested_lr=0.03,  # plain SGD diverges above 2 / 25 = 0.08 along the steep w₂
        ),
        Surface(
            name="rosenbrock",
            label="Rosenbrock",
            formula="f(w) = (1 − w₁)² + 100 (w₂ − w₁²)²",
            function=lambda x, y: (1 - x) ** 2 + 100 * (y - x**2) ** 2,
            start=(-1.5, 2.0),
            x_range=(-2, 2),
            y_range=(-1, 3),
            minimum=(1, 1),
            suggested_lr=0.001,  # its walls are steep: plain SGD overshoots at much more
        ),
        Surface(
            name="saddle",
            label="Saddle",
            formula="f(w) = (w₁² − w₂²) / 2",
            function=lambda x, y: (x**2 - y**2) / 2,
            start=(1.5, 0.001),  # just off the ridge: how fast does each optimizer escape it?
            x_range=(-2, 2),
            y_range=(-2, 2),
            minimum=None,
            suggested_lr=0.1,
        ),
    )
}
# A point this far out has left every view: the optimizer has diverged.
DIVERGED = 1e6


@dataclass(frozen=True)
class OptimizerChoice:
    """An optimizer of the training registry with its options, as the optimizer experiment runs it."""

    label: str
    optimizer: str
    options: Mapping[str, Value] = field(default_factory=dict)

    def torch_kwargs(self, lr: float) -> dict[str, Any]:
        """The keyword arguments of the torch optimizer, exactly as training builds them."""
        from fashion_desktop.core.optim import optimizer_kwargs

        return optimizer_kwargs(TrainConfig(lr=lr, optimizer=self.optimizer, optimizer_options=dict(self.options)))


def optimizer_choices() -> list[OptimizerChoice]:
    """The classic line-up (SGD, momentum, Nesterov, AdaGrad, RMSProp, Adam), then every other registry optimizer."""
    classics = [
        OptimizerChoice("SGD", "SGD"),
        OptimizerChoice("SGD + momentum", "SGD", {"momentum": 0.9}),
        OptimizerChoice("Nesterov", "SGD", {"momentum": 0.9, "nesterov": True}),
        OptimizerChoice("AdaGrad", "Adagrad"),
        OptimizerChoice("RMSProp", "RMSprop", {"alpha": 0.9}),
        OptimizerChoice("Adam", "Adam"),
    ]
    shown = {c.optimizer for c in classics}
    return classics + [OptimizerChoice(name, name) for name in OPTIMIZERS if name not in shown]


class OptimizerRun:
    """One optimizer walking a surface from its start point, a step at a time, with the real torch optimizer.

    Kept between calls, so a timer can step it live and draw each new point.
    """

    def __init__(self, surface: Surface, choice: OptimizerChoice, lr: float) -> None:
        import torch

        self.surface, self.choice, self.lr = surface, choice, lr
        self._w = torch.nn.Parameter(torch.tensor(surface.start, dtype=torch.float64))
        self._optimizer = getattr(torch.optim, choice.optimizer)([self._w], **choice.torch_kwargs(lr))
        self.points: list[tuple[float, float]] = [surface.start]
        self.losses: list[float] = []
        self.diverged = False

    def step(self, steps: int = 1) -> list[tuple[float, float]]:
        """Take up to ``steps`` steps (none once diverged); returns the new points."""
        new = []
        for _ in range(steps):
            if self.diverged:
                break
            self._optimizer.zero_grad()
            loss = self.surface.function(self._w[0], self._w[1])
            loss.backward()
            self.losses.append(loss.item())
            self._optimizer.step()
            x, y = (float(v) for v in self._w.detach())
            if not (math.isfinite(x) and math.isfinite(y)) or max(abs(x), abs(y)) > DIVERGED:
                self.diverged = True
                break
            new.append((x, y))
        self.points += new
        return new


def optimizer_trajectory(surface: str, choice: OptimizerChoice, lr: float, steps: int) -> list[tuple[float, float]]:
    """The start point and the ``steps`` points an optimizer visits on a surface (fewer if it diverges)."""
    run = OptimizerRun(SURFACES[surface], choice, lr)
    run.step(steps)
    return run.points


# The first steps on w^2 / 2 from w = 1, lr 0.01, with the settings the classic tutorials quote.
FIRST_STEP_CHOICES = (
    OptimizerChoice("SGD", "SGD"),
    OptimizerChoice("SGD, momentum 0.9", "SGD", {"momentum": 0.9}),
    OptimizerChoice("AdaGrad", "Adagrad"),
    OptimizerChoice("RMSProp, alpha 0.9", "RMSprop", {"alpha": 0.9}),
    OptimizerChoice("Adam, betas (0.9, 0.99)", "Adam", {"beta1": 0.9, "beta2": 0.99}),
)


def first_steps(choice: OptimizerChoice, steps: int = 2, lr: float = 0.01, start: float = 1.0) -> list[float]:
    """W after each of the first ``steps`` steps of the torch optimizer on the toy loss ``w^2 / 2``.

    With torch's defaults (the registry's): SGD's momentum is ``v = momentum * v + g`` (no dampening), Adagrad
    starts its accumulator at 0 with eps 1e-10, RMSprop and Adam add eps 1e-8, and Adam corrects its bias; these
    give the tutorials' values (SGD momentum 0.9: 0.99, 0.9711; AdaGrad 0.99, 0.982965; ...).
    """
    import torch

    w = torch.nn.Parameter(torch.tensor([start], dtype=torch.float64))
    optimizer = getattr(torch.optim, choice.optimizer)([w], **choice.torch_kwargs(lr))
    values = []
    for _ in range(steps):
        optimizer.zero_grad()
        (w.pow(2).sum() / 2).backward()
        optimizer.step()
        values.append(float(w.detach()[0]))
    return values


# -- 6. learning-rate schedules --
def scheduler_names() -> list[str]:
    """Every scheduler of the training registry but "none"."""
    return [name for name in SCHEDULERS if name != "none"]


def schedule(name: str, epochs: int, lr: float = 0.1, options: Mapping[str, Value] | None = None) -> list[float]:
    """The learning rate of each epoch, set by the real torch scheduler exactly as training builds it.

    Raises:
        ConfigError: the settings are not valid (with every problem in words).
    """
    from fashion_desktop.core.optim import preview_learning_rates

    config = TrainConfig(epochs=epochs, lr=lr, optimizer="SGD", scheduler=name, scheduler_options=dict(options or {}))
    config.check()
    return preview_learning_rates(config)


# -- 7. batches and iterations --
@dataclass(frozen=True)
class BatchPlan:
    """How ``samples`` split into batches of ``batch_size``, for one epoch and for ``epochs``."""

    samples: int
    batch_size: int
    epochs: int
    full_batches: int
    last_batch: int  # the size of the last, partial batch; 0 when the batches divide the samples exactly
    app_skips_last: bool  # the app leaves out a last batch of one sample (BatchNorm cannot normalise one value)

    @property
    def iterations_per_epoch(self) -> int:
        return self.full_batches + (1 if self.last_batch else 0)

    @property
    def iterations(self) -> int:
        return self.iterations_per_epoch * self.epochs


def batch_plan(samples: int, batch_size: int, epochs: int = 1) -> BatchPlan:
    """Iterations per epoch = ceil(samples / batch size): 50,000 samples at 256 make 195 full batches and one of 80.

    Raises:
        ValueError: a number is below 1.
    """
    if samples < 1 or batch_size < 1 or epochs < 1:
        raise ValueError(
            f"samples, batch size and epochs must each be at least 1, not {samples}, {batch_size}, {epochs}"
        )
    full, last = divmod(samples, batch_size)
    # The rule of data.batches_per_epoch, restated without torch so this page works before torch has loaded.
    skips = batch_size > 1 and samples > batch_size and last == 1
    return BatchPlan(samples, batch_size, epochs, full, last, skips)
