"""Training callbacks: a base class of typed no-op hooks, plus the history and checkpoint callbacks."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from fashion_desktop.core.metrics import BatchMetrics, EpochMetrics, FitInfo, FitResult

if TYPE_CHECKING:
    from fashion_desktop.core.engine import Trainer


class Callback:
    """Override the hooks you need. Hooks run on the training thread, between batches."""

    def on_fit_start(self, trainer: Trainer, info: FitInfo) -> None:
        """Training is about to start (or resume)."""

    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None:
        """An epoch (1-based) is about to start."""

    def on_batch_end(self, trainer: Trainer, metrics: BatchMetrics) -> None:
        """A training batch finished; ``metrics.loss`` is that batch's loss."""

    def on_epoch_end(self, trainer: Trainer, metrics: EpochMetrics) -> None:
        """An epoch and its validation finished."""

    def on_fit_end(self, trainer: Trainer, result: FitResult) -> None:
        """Training finished, was stopped, or stopped early; the test set has been evaluated."""

    def on_exception(self, trainer: Trainer, error: BaseException) -> None:
        """Training failed; ``error`` is re-raised after the callbacks have run."""


class History(Callback):
    """Keeps every batch loss and epoch's metrics, for tests and scripts."""

    def __init__(self) -> None:
        self.batches: list[BatchMetrics] = []
        self.epochs: list[EpochMetrics] = []
        self.result: FitResult | None = None
        self.error: BaseException | None = None

    def on_batch_end(self, trainer: Trainer, metrics: BatchMetrics) -> None:
        self.batches.append(metrics)

    def on_epoch_end(self, trainer: Trainer, metrics: EpochMetrics) -> None:
        self.epochs.append(metrics)

    def on_fit_end(self, trainer: Trainer, result: FitResult) -> None:
        self.result = result

    def on_exception(self, trainer: Trainer, error: BaseException) -> None:
        self.error = error


class SaveCheckpoint(Callback):
    """Saves the model with its full training state after every epoch, so ``train --resume`` can continue.

    A run stopped before its first epoch ended has nothing worth keeping, so it writes no file.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def on_epoch_end(self, trainer: Trainer, metrics: EpochMetrics) -> None:
        trainer.checkpoint().save(self.path)

    def on_fit_end(self, trainer: Trainer, result: FitResult) -> None:
        if trainer.epoch == 0:
            return
        trainer.checkpoint().save(self.path)  # adds the test metrics (and the best weights, if they were restored)
