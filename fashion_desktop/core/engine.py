"""The training engine: one loop for the GUI, the command line, the tests and the benchmark.

The dataset stays resident on the device as tensors and is batched by index, so an epoch costs little more
than the model's own arithmetic.
"""

from __future__ import annotations

import copy
import math
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fashion_desktop.core.builder import build_model
from fashion_desktop.core.calibration import Calibration
from fashion_desktop.core.callbacks import Callback
from fashion_desktop.core.checkpoint import Checkpoint
from fashion_desktop.core.config import TrainConfig
from fashion_desktop.core.data import (
    DEFAULT_DATASET,
    FashionData,
    batches_per_epoch,
    iterate_batches,
    load_fashion_mnist,
)
from fashion_desktop.core.errors import ConfigError, TrainingDiverged
from fashion_desktop.core.layers import describe_shape
from fashion_desktop.core.metrics import BatchMetrics, EpochMetrics, Evaluation, FitInfo, FitResult
from fashion_desktop.core.optim import load_scheduler_state, make_loss, make_optimizer, make_scheduler, step_scheduler
from fashion_desktop.core.runtime import describe_device, pick_device
from fashion_desktop.core.spec import CLASS_NAMES, ModelSpec

EVAL_BATCH = 2048
GPU_SYNC_EVERY = 32  # batches between reading losses back from a GPU; each read waits for the GPU to catch up
# A batch loss this many times the run's first one (or 1, if that was lower) means training has diverged even
# while the loss stays finite: Adam at lr 100 jumps from 2.3 to 4e11 in one step, then ends "finished" at 10 %.
EXPLODING_LOSS_FACTOR = 1e3


@dataclass(frozen=True)
class TrainingState:
    """The model's weights and the optimizer's state at one moment, copied so that training on leaves them be."""

    weights: dict[str, torch.Tensor]
    optimizer_state: dict[str, Any]


class Trainer:
    """Trains one network. ``stop()``, ``pause()`` and ``resume()`` are safe to call from any thread."""

    def __init__(
        self,
        spec: ModelSpec,
        config: TrainConfig,
        callbacks: Sequence[Callback] = (),
        resume_from: Checkpoint | None = None,
    ) -> None:
        # The output size is checked against the data once it is loaded (load_data, fit).
        spec.check(config.loss, classes=len(resume_from.class_names) if resume_from is not None else None)
        config.check()
        self.spec, self.config, self.callbacks = spec, config, list(callbacks)
        self.device = pick_device(config.device)
        self.model: nn.Module = build_model(spec, seed=config.seed).to(self.device)
        self.optimizer = make_optimizer(config, self.model.parameters())
        self.scheduler = make_scheduler(config, self.optimizer)
        self.loss_fn = make_loss(config)
        # The label order of the data being trained on (set by fit); a model file keeps it.
        self.class_names: tuple[str, ...] = resume_from.class_names if resume_from is not None else CLASS_NAMES
        # What the data is ({"dataset": ..., framing}) and the calibration fitted at the end: kept in the model file.
        self.data_settings: dict[str, Any] | None = dict(resume_from.data) if resume_from and resume_from.data else None
        self.calibration: Calibration | None = resume_from.calibration if resume_from is not None else None
        self.epoch = 0  # epochs completed
        self.history: list[EpochMetrics] = []
        self.test: Evaluation | None = None
        self.best_epoch: int | None = None  # lowest validation loss so far, tracked with keep_best or early stopping
        self.best_weights: dict[str, torch.Tensor] | None = None
        # The end of the last finished epoch, where continuing must start, kept while the model holds other
        # weights: the best epoch's (keep-best, early stopping) or a partly trained epoch's (stopped mid-epoch).
        self.resume_point: TrainingState | None = None
        self.paused_seconds = 0.0  # spent paused in the current epoch, left out of its time and speed
        self.start_loss: float | None = None  # this fit's first batch loss, what an exploding loss is measured by
        self._stop_requested = threading.Event()
        self._running = threading.Event()
        self._running.set()
        if resume_from is not None:
            self._restore(resume_from)

    # -- control, from any thread --
    def stop(self) -> None:
        """End training after the current batch; the weights trained so far are kept."""
        self._stop_requested.set()
        self._running.set()  # a paused loop must wake up to see the stop

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    # -- training --
    def load_data(self, root: str | Path, dataset: str = DEFAULT_DATASET) -> FashionData:
        """The dataset, resident on this trainer's device, split and normalised as the config and spec say."""
        return load_fashion_mnist(
            Path(root), self.device, self.config.val_size, self.config.seed, self.spec.mean, self.spec.std, dataset
        )

    def fit(self, data: FashionData) -> FitResult:
        """Train for the remaining epochs, then evaluate on the test set."""
        if data.train_x.device != self.device:
            raise ConfigError(
                f"the data is on {data.train_x.device} but the model on {self.device}; load it with load_data"
            )
        images = tuple(data.train_x.shape[1:])
        if images != self.spec.input_shape:  # torch would fail mid-batch with a matrix-size message
            raise ConfigError(
                f"the network takes {describe_shape(self.spec.input_shape)} images but the data's are "
                f"{describe_shape(images)}; choose a network made for these images, or set its input shape"
            )
        rows = self.spec.summary().rows
        outputs = rows[-1].output_shape if rows else None
        if outputs is not None and outputs != (len(data.class_names),):
            raise ConfigError(
                f"the network ends with {describe_shape(outputs)} outputs but the data has "
                f"{len(data.class_names)} classes ({', '.join(data.class_names[:5])}"
                f"{', ...' if len(data.class_names) > 5 else ''}); make its last layer's output size "
                f"{len(data.class_names)}"
            )
        self.class_names = tuple(data.class_names)
        batches, samples = batches_per_epoch(len(data.train_y), self.config.batch_size)
        info = FitInfo(
            self.config.epochs,
            self.epoch,
            batches,
            len(data.train_y),
            len(data.val_y),
            describe_device(self.device),
            self.class_names,
        )
        self.start_loss = None
        self._emit("on_fit_start", info)
        try:
            self._train_epochs(data, batches, samples)
            if self.best_weights is not None:
                if self.resume_point is None and self.best_epoch != self.epoch:
                    self.resume_point = self._training_state()
                self.model.load_state_dict(self.best_weights)
            self.test = self.evaluate(data.test_x, data.test_y)
            result = FitResult(tuple(self.history), self.test, self._stop_requested.is_set(), self.best_epoch)
            self._emit("on_fit_end", result)
            return result
        except BaseException as error:
            self._emit("on_exception", error)
            raise

    def _train_epochs(self, data: FashionData, batches: int, samples: int) -> None:
        """Train epoch after epoch; ``samples`` is how many training samples a whole epoch sees."""
        patience = self.config.early_stopping_patience
        for epoch in range(self.epoch + 1, self.config.epochs + 1):
            if self._stop_requested.is_set():
                break
            self._emit("on_epoch_start", epoch)
            started, self.paused_seconds = time.perf_counter(), 0.0
            before = self._training_state()  # where a stopped or failed epoch goes back to
            try:
                train_loss, seen = self.train_epoch(epoch, data, batches)
            except TrainingDiverged:
                self._load_training_state(before)
                raise
            train_seconds = time.perf_counter() - started - self.paused_seconds
            if self._stop_requested.is_set() and seen < samples:
                self.resume_point = before  # keep the partial epoch's weights, but continue by replaying it whole
                break
            val = self.evaluate(data.val_x, data.val_y) if len(data.val_y) else None
            lr = self.optimizer.param_groups[0]["lr"]
            step_scheduler(self.scheduler, val.loss if val else None)
            self.epoch = epoch
            metrics = EpochMetrics(
                epoch,
                train_loss,
                val.loss if val else None,
                val.accuracy if val else None,
                lr,
                time.perf_counter() - started - self.paused_seconds,
                seen / train_seconds,
                val.confusion if val else None,
            )
            self.history.append(metrics)
            best_loss = self.history[self.best_epoch - 1].val_loss if self.best_epoch else None
            if self.tracks_best and val is not None and (best_loss is None or val.loss < best_loss):
                self.best_epoch, self.best_weights = epoch, copy.deepcopy(self.model.state_dict())
            self._emit("on_epoch_end", metrics)  # after the best is known: a checkpoint saved now must hold it
            if patience and self.best_epoch is not None and epoch - self.best_epoch >= patience:
                break

    @property
    def tracks_best(self) -> bool:
        """Whether this run keeps its best epoch's weights: for keep-best, or for early stopping."""
        return self.config.keep_best or self.config.early_stopping_patience > 0

    def train_epoch(self, epoch: int, data: FashionData, batches: int) -> tuple[float, int]:
        """One pass over the training set; returns (mean loss, samples seen)."""
        self.model.train()
        # Every epoch draws from generators seeded by (seed, epoch), so resuming at an epoch boundary replays
        # exactly what an uninterrupted run would have done.
        torch.manual_seed(self.config.seed * 1_000_003 + epoch)
        generator = torch.Generator().manual_seed(self.config.seed * 1_000_003 + epoch)
        background = (0.0 - self.spec.mean) / self.spec.std
        sync_every = 1 if self.device.type == "cpu" else GPU_SYNC_EVERY
        pending: list[tuple[int, int, int, torch.Tensor]] = []  # (batch, size, seen, mean loss) not yet read back
        total_loss, seen = 0.0, 0
        batch_iter = iterate_batches(
            data.train_x, data.train_y, self.config.batch_size, generator, self.config.augment, background
        )
        for batch, (inputs, targets) in enumerate(batch_iter, start=1):
            if not self._running.is_set():  # paused: the time waited is no training, and no epoch's speed
                paused_at = time.perf_counter()
                self._running.wait()
                self.paused_seconds += time.perf_counter() - paused_at
            if self._stop_requested.is_set():
                break
            self.optimizer.zero_grad(set_to_none=True)
            loss = self.loss_fn(self.model(inputs), targets)
            loss.backward()
            self.optimizer.step()
            seen += len(targets)
            pending.append((batch, len(targets), seen, loss.detach()))
            if len(pending) >= sync_every or batch == batches:
                total_loss += self._report(epoch, batches, pending)
                pending = []
        if pending:
            total_loss += self._report(epoch, batches, pending)
        return total_loss / max(1, seen), seen

    def _report(self, epoch: int, batches: int, pending: list[tuple[int, int, int, torch.Tensor]]) -> float:
        """Read back the pending batch losses, stop on a non-finite one, tell the callbacks.

        Returns the sum of the losses over the samples of these batches.
        """
        losses = torch.stack([entry[-1] for entry in pending]).tolist()
        total = 0.0
        for (batch, size, seen, _), loss in zip(pending, losses, strict=True):
            if self.start_loss is None:
                self.start_loss = loss
            if not math.isfinite(loss):
                raise self._diverged(f"The loss became {loss} at epoch {epoch}, batch {batch}")
            if loss > EXPLODING_LOSS_FACTOR * max(1.0, self.start_loss):
                raise self._diverged(
                    f"The loss exploded to {loss:.3g} at epoch {epoch}, batch {batch} (it started at "
                    f"{self.start_loss:.3g})"
                )
            total += loss * size
            self._emit("on_batch_end", BatchMetrics(epoch, batch, batches, loss, seen))
        return total

    def _diverged(self, what_happened: str) -> TrainingDiverged:
        """The error for a loss gone non-finite or exploding, with advice on the learning rate."""
        lr = self.optimizer.param_groups[0]["lr"]
        return TrainingDiverged(
            f"{what_happened}, so training stopped: the learning rate {lr:g} is probably too high, try "
            f"{lr / 10:g}. The weights from before this epoch were kept."
        )

    @torch.inference_mode()
    def evaluate(self, inputs: torch.Tensor, targets: torch.Tensor) -> Evaluation:
        """Mean loss, accuracy and confusion matrix over a whole split."""
        self.model.eval()
        classes = len(self.class_names)
        total_loss = torch.zeros((), device=self.device)
        confusion = torch.zeros(classes * classes, dtype=torch.long, device=self.device)
        loss_fn = copy.copy(self.loss_fn)
        loss_fn.reduction = "sum"  # type: ignore[assignment]  # every torch loss has it; nn.Module does not say so
        for start in range(0, len(targets), EVAL_BATCH):
            x, y = inputs[start : start + EVAL_BATCH], targets[start : start + EVAL_BATCH]
            output = self.model(x)
            total_loss += loss_fn(output, y)
            confusion += torch.bincount(y * classes + output.argmax(1), minlength=classes**2)
        matrix = confusion.view(classes, classes).tolist()
        count = max(1, len(targets))
        correct = sum(matrix[i][i] for i in range(classes))
        return Evaluation(total_loss.item() / count, correct / count, tuple(map(tuple, matrix)), self.class_names)

    # -- checkpoints --
    def checkpoint(self) -> Checkpoint:
        """The model with everything needed to continue training exactly from the end of its last finished epoch."""
        scheduler_state = self.scheduler.state_dict() if self.scheduler else None
        if scheduler_state:
            scheduler_state = {k: v for k, v in scheduler_state.items() if k != "milestones"}  # rebuilt from config
        resume = self.resume_point
        return Checkpoint(
            spec=self.spec,
            weights=self.model.state_dict(),
            config=self.config,
            history=tuple(self.history),
            test=self.test,
            epoch=self.epoch,
            optimizer_state=resume.optimizer_state if resume else self.optimizer.state_dict(),
            scheduler_state=scheduler_state,
            best_epoch=self.best_epoch,
            best_weights=self.best_weights,
            resume_weights=resume.weights if resume else None,
            class_names=self.class_names,
            data=self.data_settings,
            calibration=self.calibration,
        )

    def _training_state(self) -> TrainingState:
        return TrainingState(copy.deepcopy(self.model.state_dict()), copy.deepcopy(self.optimizer.state_dict()))

    def _load_training_state(self, state: TrainingState) -> None:
        self.model.load_state_dict(state.weights)
        self.optimizer.load_state_dict(state.optimizer_state)

    def _restore(self, checkpoint: Checkpoint) -> None:
        weights = checkpoint.resume_weights if checkpoint.resume_weights is not None else checkpoint.weights
        self.model.load_state_dict(weights)
        if checkpoint.optimizer_state is not None:
            self.optimizer.load_state_dict(_to_device(checkpoint.optimizer_state, self.device))
        if self.scheduler is not None and checkpoint.scheduler_state is not None:
            load_scheduler_state(self.scheduler, checkpoint.scheduler_state, self.config)
        self.epoch = checkpoint.epoch
        self.history = list(checkpoint.history)
        if self.tracks_best:  # a run continued without keep-best or early stopping ends on its last epoch
            self.best_epoch = checkpoint.best_epoch
            self.best_weights = dict(checkpoint.best_weights) if checkpoint.best_weights else None

    def _emit(self, hook: str, *args: Any) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(self, *args)


def _to_device(state: Any, device: torch.device) -> Any:
    if isinstance(state, torch.Tensor):
        return state.to(device)
    if isinstance(state, dict):
        return {k: _to_device(v, device) for k, v in state.items()}
    return state


def train(spec: ModelSpec, config: TrainConfig, data_root: str | Path, callbacks: Iterable[Callback] = ()) -> Trainer:
    """Convenience for scripts and tests: build a trainer, load the data, fit, and return the trainer."""
    trainer = Trainer(spec, config, list(callbacks))
    trainer.fit(trainer.load_data(data_root))
    return trainer
