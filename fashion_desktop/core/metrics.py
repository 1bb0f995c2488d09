"""What training reports: frozen dataclasses of plain Python numbers, safe to hand to another thread."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from fashion_desktop.core.spec import CLASS_NAMES


@dataclass(frozen=True)
class FitInfo:
    """Told to callbacks when a run starts."""

    epochs: int
    start_epoch: int  # epochs already done (non-zero when resuming)
    batches_per_epoch: int
    train_size: int
    val_size: int
    device: str


@dataclass(frozen=True)
class BatchMetrics:
    epoch: int  # 1-based
    batch: int  # 1-based within the epoch
    batches: int  # per epoch
    loss: float
    samples_seen: int  # in this epoch so far


@dataclass(frozen=True)
class EpochMetrics:
    epoch: int
    train_loss: float
    val_loss: float | None
    val_accuracy: float | None
    lr: float
    epoch_seconds: float
    samples_per_second: float
    val_confusion: tuple[tuple[int, ...], ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EpochMetrics:
        confusion = data.get("val_confusion")
        return cls(**{**data, "val_confusion": tuple(map(tuple, confusion)) if confusion else None})


@dataclass(frozen=True)
class Evaluation:
    loss: float
    accuracy: float
    confusion: tuple[tuple[int, ...], ...]  # rows: true class, columns: predicted class

    @property
    def per_class_accuracy(self) -> tuple[float, ...]:
        return tuple(row[i] / max(1, sum(row)) for i, row in enumerate(self.confusion))

    def to_dict(self) -> dict[str, Any]:
        # Keyed by Fashion-MNIST's names for its ten classes, by class index for another class count (a folder's)
        names = CLASS_NAMES if len(self.confusion) == len(CLASS_NAMES) else tuple(map(str, range(len(self.confusion))))
        return {**asdict(self), "per_class_accuracy": dict(zip(names, self.per_class_accuracy, strict=True))}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Evaluation:
        return cls(float(data["loss"]), float(data["accuracy"]), tuple(map(tuple, data["confusion"])))


@dataclass(frozen=True)
class FitResult:
    history: tuple[EpochMetrics, ...]
    test: Evaluation | None
    stopped: bool  # the user stopped the run before its last epoch
    best_epoch: int | None  # the epoch whose weights were kept by early stopping
