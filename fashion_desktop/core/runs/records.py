"""What the run history holds: a run's record, its error, the statuses and the columns of an epoch."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from fashion_desktop.core.config import TrainConfig
from fashion_desktop.core.errors import UserError
from fashion_desktop.core.spec import ModelSpec

STATUSES = ("running", "finished", "stopped", "failed", "unfinished")
EPOCH_COLUMNS = ("epoch", "train_loss", "val_loss", "val_accuracy", "lr", "epoch_seconds", "samples_per_second")


class RunStoreError(UserError):
    """The run history cannot be opened or updated; ``path`` is its file."""

    def __init__(self, message: str, path: Path) -> None:
        super().__init__(message)
        self.path = path
        self.locked = False  # another process holds the database's lock: trying again later may succeed


@dataclass(frozen=True)
class RunRecord:
    """One recorded run. ``epochs_done`` counts the epochs recorded so far."""

    id: int
    name: str
    started_at: datetime
    finished_at: datetime | None
    status: str
    spec: ModelSpec
    config: TrainConfig
    device: str
    test_loss: float | None
    test_accuracy: float | None
    best_epoch: int | None
    model_path: Path | None
    error: str | None
    epochs_done: int
    dataset: str | None = None  # None: recorded by a version that did not say (Fashion-MNIST, most likely)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data, for ``fashion-desktop runs --json``."""
        return {
            "id": self.id,
            "name": self.name,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "status": self.status,
            "spec": self.spec.to_dict(),
            "config": self.config.to_dict(),
            "device": self.device,
            "test_loss": self.test_loss,
            "test_accuracy": self.test_accuracy,
            "best_epoch": self.best_epoch,
            "model_path": str(self.model_path) if self.model_path else None,
            "error": self.error,
            "epochs_done": self.epochs_done,
            "dataset": self.dataset,
        }
