"""Inside the network while it trains: per-layer activations, dead units, gradient norms and weight histograms.

``NetworkActivity`` is a training callback. A few times an epoch (``per_epoch``) and at the end of every epoch it
measures each layer on one fixed probe batch (validation images): forward hooks are attached for that one
forward pass and removed at once, so the batches between measurements cost nothing. What it measures comes out
as frozen dataclasses of plain numbers, safe to hand to another thread, to store as JSON and to plot:

- the mean and standard deviation of the layer's output on the probe batch;
- for the ReLU family, the fraction of units (features, or channels of a convolution) that never fire (output
  above 0) on any probe image: "dead" units, whose gradient is 0 so they never learn again;
- the norm of the gradient of the layer's weights from the latest training batch, where the layer has weights;
- a histogram of those weights.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from fashion_desktop.core.callbacks import Callback
from fashion_desktop.core.metrics import BatchMetrics, EpochMetrics, FitInfo

if TYPE_CHECKING:
    from fashion_desktop.core.engine import Trainer

# Activations whose units "fire" when their output is above 0; a unit that never does is dead. For ReLU that means
# a zero gradient for good; the leaky ones still pass a little gradient, but a unit stuck below 0 says the same.
DEAD_KINDS = ("ReLU", "LeakyReLU", "PReLU", "ELU", "GELU", "SiLU")
# Layers whose output is their input (Flatten reshapes; Dropout is off while measuring): nothing new to show.
SKIPPED_KINDS = ("Flatten", "Dropout", "Dropout2d")
PROBE_SIZE = 256  # probe images: enough for a dead fraction and a std, a small cost next to an epoch's batches
HISTOGRAM_BINS = 30


@dataclass(frozen=True)
class WeightHistogram:
    """Counts of a layer's weights in ``len(counts)`` equal bins from ``low`` to ``high``."""

    low: float
    high: float
    counts: tuple[int, ...]

    @property
    def edges(self) -> list[float]:
        step = (self.high - self.low) / max(1, len(self.counts))
        return [self.low + i * step for i in range(len(self.counts) + 1)]


@dataclass(frozen=True)
class LayerActivity:
    """One layer at one moment. ``None``: the layer has no such thing (no weights, or not of the ReLU family)."""

    name: str  # the module's name: fc1, relu1, ...
    kind: str  # the layer registry's kind: Linear, ReLU, ...
    mean: float  # of the layer's output on the probe batch
    std: float
    dead_fraction: float | None  # units that never fire on the probe batch, of the ReLU family
    grad_norm: float | None  # L2 norm of the weights' gradient from the latest training batch
    weights: WeightHistogram | None


@dataclass(frozen=True)
class ActivitySnapshot:
    """Every measured layer after ``batch`` of ``batches`` of ``epoch``; ``batch == batches`` ends the epoch."""

    epoch: int
    batch: int
    batches: int
    layers: tuple[LayerActivity, ...]

    @property
    def position(self) -> float:
        """Epochs of training done when it was taken: 1.5 is halfway through the second epoch."""
        return self.epoch - 1 + self.batch / max(1, self.batches)

    @property
    def ends_epoch(self) -> bool:
        return self.batch >= self.batches

    def layer(self, name: str) -> LayerActivity:
        return next(layer for layer in self.layers if layer.name == name)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ActivitySnapshot:
        """The snapshot ``to_dict`` wrote (read back from the run history).

        Raises:
            ValueError: ``data`` is not a snapshot (a damaged or foreign record).
        """
        try:
            layers = tuple(_layer_from_dict(layer) for layer in data["layers"])
            return cls(int(data["epoch"]), int(data["batch"]), int(data["batches"]), layers)
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"not a record of the network's activity ({error})") from None


def _layer_from_dict(data: Mapping[str, Any]) -> LayerActivity:
    weights = data["weights"]
    histogram = None
    if weights is not None:
        histogram = WeightHistogram(float(weights["low"]), float(weights["high"]), tuple(map(int, weights["counts"])))
    return LayerActivity(
        str(data["name"]),
        str(data["kind"]),
        float(data["mean"]),
        float(data["std"]),
        None if data["dead_fraction"] is None else float(data["dead_fraction"]),
        None if data["grad_norm"] is None else float(data["grad_norm"]),
        histogram,
    )


class NetworkActivity(Callback):
    """Measures every layer ``per_epoch`` times during each epoch and once at its end, on ``probe`` images.

    ``listeners`` hear each snapshot on the training thread; ``snapshots`` keeps them all.
    """

    def __init__(
        self,
        probe: torch.Tensor,
        per_epoch: int = 4,
        listeners: Sequence[Callable[[ActivitySnapshot], None]] = (),
        bins: int = HISTOGRAM_BINS,
    ) -> None:
        self.probe = probe[:PROBE_SIZE]
        self.per_epoch, self.bins = per_epoch, bins
        self.listeners = list(listeners)
        self.snapshots: list[ActivitySnapshot] = []
        self._every = 0  # batches between measurements during an epoch; 0: only at the end of each epoch
        self._last_batch: BatchMetrics | None = None

    def on_fit_start(self, trainer: Trainer, info: FitInfo) -> None:
        self.probe = self.probe.to(trainer.device)
        # Spread evenly, the last one short of the epoch's end, which is measured anyway.
        self._every = (
            math.ceil(info.batches_per_epoch / (self.per_epoch + 1))
            if self.per_epoch and info.batches_per_epoch > 1
            else 0
        )

    def on_batch_end(self, trainer: Trainer, metrics: BatchMetrics) -> None:
        self._last_batch = metrics
        if self._every and metrics.batch % self._every == 0 and metrics.batch < metrics.batches:
            self._measure(trainer, metrics.epoch, metrics.batch, metrics.batches)

    def on_epoch_end(self, trainer: Trainer, metrics: EpochMetrics) -> None:
        batches = self._last_batch.batches if self._last_batch else 1
        self._measure(trainer, metrics.epoch, batches, batches)

    def _measure(self, trainer: Trainer, epoch: int, batch: int, batches: int) -> None:
        snapshot = ActivitySnapshot(epoch, batch, batches, measure_layers(trainer.model, self.probe, self.bins))
        self.snapshots.append(snapshot)
        for listener in self.listeners:
            listener(snapshot)


def measure_layers(model: nn.Module, probe: torch.Tensor, bins: int = HISTOGRAM_BINS) -> tuple[LayerActivity, ...]:
    """Each layer of ``model`` (a SpecNetwork, or any nn.Sequential) on ``probe``, in eval mode, hooks removed after.

    The gradients are whatever the latest backward pass left in the weights (none yet: no norm).
    """
    outputs: dict[str, torch.Tensor] = {}
    measured = [(name, module) for name, module in model.named_children() if _kind(module) not in SKIPPED_KINDS]

    def keep(name: str) -> Callable[[nn.Module, Any, torch.Tensor], None]:
        def hook(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
            outputs[name] = output

        return hook

    handles = [module.register_forward_hook(keep(name)) for name, module in measured]
    was_training = model.training
    try:
        model.eval()
        with torch.inference_mode():
            model(probe)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return tuple(_layer(name, module, outputs[name], bins) for name, module in measured if name in outputs)


def _kind(module: nn.Module) -> str:
    """The registry's kind of a built layer: the torch class name, except a head's (its last module's)."""
    return type(module).__name__


def _layer(name: str, module: nn.Module, output: torch.Tensor, bins: int) -> LayerActivity:
    kind = _kind(module)
    values = output.detach().float()
    nan = values.new_full((), math.nan)
    dead: torch.Tensor | None = None
    if kind in DEAD_KINDS and values.dim() >= 2:
        # A unit is a feature of a Linear layer's output, or a whole channel of a convolution's.
        fired = values.transpose(0, 1).reshape(values.shape[1], -1).amax(dim=1) > 0
        dead = 1.0 - fired.float().mean()
    weight = getattr(module, "weight", None)
    grad_norm: torch.Tensor | None = None
    histogram: WeightHistogram | None = None
    if isinstance(weight, torch.Tensor):
        flat = weight.detach().float().flatten()
        low, high = flat.aminmax()
        counts = torch.histc(flat, bins=bins, min=float(low), max=float(high))
        histogram = WeightHistogram(float(low), float(high), tuple(int(c) for c in counts.tolist()))
        if weight.grad is not None:
            grad_norm = weight.grad.detach().float().norm()
    # The other numbers in one read back from the device: on a GPU each read waits for it to catch up.
    std = values.std() if values.numel() > 1 else values.new_zeros(())
    numbers = torch.stack([values.mean(), std, nan if dead is None else dead, nan if grad_norm is None else grad_norm])
    mean_value, std_value, dead_value, grad_value = numbers.tolist()
    return LayerActivity(
        name,
        kind,
        mean_value,
        std_value,
        None if dead is None else dead_value,
        None if grad_norm is None else grad_value,
        histogram,
    )
