"""Build the loss, optimizer and learning-rate scheduler that a TrainConfig names."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from fashion_desktop.core.config import ONE_HOT_LOSSES, TrainConfig
from fashion_desktop.core.params import Options

# Options that torch takes as one tuple but our forms show as separate numbers.
_PAIRS = {
    "beta1": ("betas", 0),
    "beta2": ("betas", 1),
    "eta_minus": ("etas", 0),
    "eta_plus": ("etas", 1),
    "step_min": ("step_sizes", 0),
    "step_max": ("step_sizes", 1),
}


class OneHotLoss(nn.Module):
    """A loss between the network's raw outputs (logits) and the one-hot target of the true class.

    ``mse``, ``l1`` and ``smooth_l1`` compare the softmax probabilities with the one-hot target, as a regression
    would; ``bce`` asks ten yes/no questions, binary cross-entropy of the sigmoid of each output (with logits, so it
    stays exact for large outputs). A sample's loss is the sum over its classes; ``reduction`` ("mean" or "sum")
    then averages or sums over the samples, so the engine's summed validation loss divides back to the same scale.
    """

    def __init__(self, kind: str, beta: float = 1.0, reduction: str = "mean") -> None:
        super().__init__()
        if kind not in ONE_HOT_LOSSES:
            raise ValueError(f"unknown one-hot loss {kind!r}; choose one of {', '.join(ONE_HOT_LOSSES)}")
        self.kind, self.beta, self.reduction = kind, beta, reduction

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        one_hot = nn.functional.one_hot(targets, logits.shape[1]).to(logits.dtype)
        functional = nn.functional
        if self.kind == "bce":
            per_class = functional.binary_cross_entropy_with_logits(logits, one_hot, reduction="none")
        else:
            probabilities = logits.softmax(dim=1)
            if self.kind == "mse":
                per_class = functional.mse_loss(probabilities, one_hot, reduction="none")
            elif self.kind == "l1":
                per_class = functional.l1_loss(probabilities, one_hot, reduction="none")
            else:
                per_class = functional.smooth_l1_loss(probabilities, one_hot, reduction="none", beta=self.beta)
        per_sample = per_class.sum(dim=1)
        return per_sample.sum() if self.reduction == "sum" else per_sample.mean()

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}" + (f", beta={self.beta!r}" if self.kind == "smooth_l1" else "")


def make_loss(config: TrainConfig) -> nn.Module:
    if config.loss == "nll":
        return nn.NLLLoss()
    options = Options(config.resolved_loss_options())
    if config.loss in ONE_HOT_LOSSES:
        return OneHotLoss(config.loss, beta=options.number("beta") if "beta" in options.values else 1.0)
    smoothing = options.number("smoothing") if "smoothing" in options.values else 0.0
    return nn.CrossEntropyLoss(label_smoothing=smoothing)


def make_optimizer(config: TrainConfig, parameters: Any) -> torch.optim.Optimizer:
    return getattr(torch.optim, config.optimizer)(parameters, **optimizer_kwargs(config))


def optimizer_kwargs(config: TrainConfig) -> dict[str, Any]:
    """The keyword arguments of the torch optimizer, with paired options joined (beta1, beta2 -> betas)."""
    kwargs: dict[str, Any] = {"lr": config.lr}
    pairs: dict[str, list[float]] = {}
    options = Options(config.resolved_optimizer_options())
    for name, value in options.values.items():
        if name in _PAIRS:
            target, position = _PAIRS[name]
            pairs.setdefault(target, [0.0, 0.0])[position] = options.number(name)
        else:
            kwargs[name] = value
    kwargs.update({name: tuple(pair) for name, pair in pairs.items()})
    return kwargs


def make_scheduler(config: TrainConfig, optimizer: torch.optim.Optimizer) -> Any:
    """The epoch-level scheduler, or None. ReduceLROnPlateau steps on the validation loss."""
    options: dict[str, Any] = dict(config.resolved_scheduler_options())
    schedulers = torch.optim.lr_scheduler
    if config.scheduler == "none":
        return None
    if config.scheduler == "CosineAnnealingLR":
        return schedulers.CosineAnnealingLR(optimizer, T_max=config.epochs, **options)
    if config.scheduler == "MultiStepLR":
        options["milestones"] = list(options["milestones"])
    return getattr(schedulers, config.scheduler)(optimizer, **options)


def load_scheduler_state(scheduler: Any, state: Mapping[str, Any], config: TrainConfig) -> None:
    """Restore a scheduler's saved state; a cosine schedule continued for more epochs stretches to the new length."""
    scheduler.load_state_dict(dict(state))
    if isinstance(scheduler, torch.optim.lr_scheduler.CosineAnnealingLR) and scheduler.T_max != config.epochs:
        scheduler.T_max = config.epochs
        # torch steps a cosine schedule from the current rate, so put each rate where the longer curve has it now.
        progress = math.cos(math.pi * scheduler.last_epoch / scheduler.T_max)
        for group, base_lr in zip(scheduler.optimizer.param_groups, scheduler.base_lrs, strict=True):
            group["lr"] = scheduler.eta_min + (base_lr - scheduler.eta_min) * (1 + progress) / 2


def step_scheduler(scheduler: Any, val_loss: float | None) -> None:
    if scheduler is None:
        return
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        if val_loss is not None:
            scheduler.step(val_loss)
    else:
        scheduler.step()


def preview_learning_rates(config: TrainConfig) -> list[float]:
    """The learning rate of each epoch, as the scheduler will set it (a plateau schedule is shown flat)."""
    optimizer = make_optimizer(config, [nn.Parameter(torch.zeros(1))])
    scheduler = make_scheduler(config, optimizer)
    rates = []
    for _ in range(config.epochs):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()  # a no-op without gradients; schedulers warn when stepped before their optimizer
        step_scheduler(scheduler, None)
    return rates
