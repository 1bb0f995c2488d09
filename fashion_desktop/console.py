"""Console reporting for ``fashion-desktop train``: progress bars, or one JSON object per line."""

from __future__ import annotations

import json
import sys

from fashion_desktop.core.engine import Trainer
from fashion_desktop.core.metrics import BatchMetrics, EpochMetrics, FitInfo
from fashion_desktop.core.session import TrainingObserver

BAR = 30


def console_observer(as_json: bool) -> TrainingObserver:
    """How ``train`` reports a run: one JSON object per line, or progress bars and lines of metrics."""
    return JsonProgress() if as_json else ConsoleProgress()


class _WarningsOnStderr(TrainingObserver):
    def on_warning(self, message: str) -> None:
        print(f"fashion-desktop: warning: {message}", file=sys.stderr, flush=True)


class JsonProgress(_WarningsOnStderr):
    """One JSON object per finished epoch on stdout; warnings on stderr."""

    def on_epoch_end(self, trainer: Trainer, m: EpochMetrics) -> None:
        print(
            json.dumps(
                {
                    "event": "epoch",
                    "epoch": m.epoch,
                    "train_loss": m.train_loss,
                    "val_loss": m.val_loss,
                    "val_accuracy": m.val_accuracy,
                    "lr": m.lr,
                    "epoch_seconds": m.epoch_seconds,
                    "samples_per_second": m.samples_per_second,
                }
            ),
            flush=True,
        )


class ConsoleProgress(_WarningsOnStderr):
    """The download's and each epoch's progress bar on stderr, then one line of metrics per epoch on stdout."""

    def on_download_progress(self, done: int, total: int) -> None:
        download_progress(done, total)

    def on_import_progress(self, done: int, total: int) -> None:
        if done % 50 and done != total:  # an image folder's photos arrive by the thousand: no need to redraw each
            return
        filled = round(BAR * done / max(1, total))
        end = "\n" if done == total else ""
        print(f"\rframing photos [{'=' * filled}{' ' * (BAR - filled)}] {done}/{total}", end=end, file=sys.stderr)

    def on_fit_start(self, trainer: Trainer, info: FitInfo) -> None:
        print(
            f"training on {info.train_size:,} images ({info.val_size:,} held out for validation), {info.device}",
            flush=True,
        )

    def on_batch_end(self, trainer: Trainer, metrics: BatchMetrics) -> None:
        if metrics.batch % 20 and metrics.batch != metrics.batches:
            return
        filled = round(BAR * metrics.batch / metrics.batches)
        print(
            f"\repoch {metrics.epoch:>3} [{'=' * filled}{' ' * (BAR - filled)}] loss {metrics.loss:.4f}",
            end="",
            file=sys.stderr,
            flush=True,
        )

    def on_epoch_end(self, trainer: Trainer, m: EpochMetrics) -> None:
        print("\r" + " " * (BAR + 30) + "\r", end="", file=sys.stderr)
        val = f"val loss {m.val_loss:.4f}  val acc {m.val_accuracy:.4f}  " if m.val_loss is not None else ""
        print(
            f"epoch {m.epoch:>3}  train loss {m.train_loss:.4f}  {val}lr {m.lr:.2g}  "
            f"{m.epoch_seconds:.1f} s  {m.samples_per_second:,.0f} img/s",
            flush=True,
        )


def download_progress(done: int, total: int) -> None:
    print(
        f"\rdownloading Fashion-MNIST: {done / max(1, total):6.1%}",
        end="" if done < total else "\n",
        file=sys.stderr,
        flush=True,
    )
