"""What training reports: frozen dataclasses of plain Python numbers, safe to hand to another thread."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from fashion_desktop.core.spec import CLASS_NAMES


def default_class_names(count: int) -> tuple[str, ...]:
    """Names for ``count`` classes whose own names are not known: Fashion-MNIST's for ten, else the numbers."""
    return CLASS_NAMES if count == len(CLASS_NAMES) else tuple(str(label) for label in range(count))


@dataclass(frozen=True)
class FitInfo:
    """Told to callbacks when a run starts."""

    epochs: int
    start_epoch: int  # epochs already done (non-zero when resuming)
    batches_per_epoch: int
    train_size: int
    val_size: int
    device: str
    class_names: tuple[str, ...] = ()  # the data's, in label order


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
    class_names: tuple[str, ...] = ()  # in label order; () for Fashion-MNIST's when there are ten rows

    @property
    def per_class_accuracy(self) -> tuple[float, ...]:
        return tuple(row[i] / max(1, sum(row)) for i, row in enumerate(self.confusion))

    @property
    def names(self) -> tuple[str, ...]:
        """One name per class: the data's, else Fashion-MNIST's for ten classes, else the class numbers."""
        if len(self.class_names) == len(self.confusion):
            return self.class_names
        return default_class_names(len(self.confusion))

    def to_dict(self) -> dict[str, Any]:
        """Loss, accuracy, confusion and the per-class accuracy keyed by class name (the names travel in the keys)."""
        return {
            "loss": self.loss,
            "accuracy": self.accuracy,
            "confusion": [list(row) for row in self.confusion],
            "per_class_accuracy": dict(zip(self.names, self.per_class_accuracy, strict=True)),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Evaluation:
        confusion = tuple(map(tuple, data["confusion"]))
        per_class = data.get("per_class_accuracy")
        names = tuple(per_class) if isinstance(per_class, dict) and len(per_class) == len(confusion) else ()
        return cls(float(data["loss"]), float(data["accuracy"]), confusion, names)


@dataclass(frozen=True)
class FitResult:
    history: tuple[EpochMetrics, ...]
    test: Evaluation | None
    stopped: bool  # the user stopped the run before its last epoch
    best_epoch: int | None  # the epoch whose weights were kept by early stopping
