"""Model files: safetensors weights plus JSON metadata, written atomically and read without unpickling.

Layout of a ``.safetensors`` model file:

- tensors ``model.<name>``: the network's state dict (``model.fc1.weight``, ...): the weights to predict with;
- tensors ``optimizer.<param>.<name>``: the optimizer's state at the end of epoch ``epoch``, when the file can
  continue training;
- tensors ``best.<name>``: the weights of the best epoch so far, for runs that keep them;
- tensors ``resume.<name>``: the weights at the end of epoch ``epoch``, where continuing starts, when they are
  not ``model.*`` (the model holds the best epoch's weights, or those of an epoch stopped half-way);
- metadata (strings): ``format``, ``format_version``, and JSON for ``spec``, ``config``, ``class_names``,
  ``normalization``, ``history``, ``test``, ``epoch``, ``best_epoch`` and ``optimizer`` / ``scheduler`` (their
  non-tensor state).

Format version 2 adds ``input_shape`` (channels, height, width; also inside ``spec``), ``data`` (the dataset,
and for an image folder its path ``images`` and framing: size, colour, framing, separation) and ``calibration``
(the temperature and the unsure rule's thresholds, :class:`~fashion_desktop.core.calibration.Calibration`); its
class names may be any 2 to 100 texts (an image folder's). A version-1 file has none of them: it is read as
Fashion-MNIST, 28x28 grey, uncalibrated, and predicts exactly as it did.

No random-number state is stored: the engine seeds every epoch's generators from (seed, epoch), both saved.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load, save

from fashion_desktop.core.builder import build_model
from fashion_desktop.core.calibration import Calibration
from fashion_desktop.core.config import MAX_EPOCHS, TrainConfig
from fashion_desktop.core.errors import CheckpointError, UserError
from fashion_desktop.core.files import atomic_write, load_json, read_bounded
from fashion_desktop.core.folders import FramingSettings
from fashion_desktop.core.metrics import EpochMetrics, Evaluation
from fashion_desktop.core.optim import make_optimizer, make_scheduler
from fashion_desktop.core.spec import CLASS_NAMES, MAX_PARAMETERS, ModelSpec

__all__ = ["FORMAT", "FORMAT_VERSION", "MAX_MODEL_BYTES", "Checkpoint", "atomic_write"]  # atomic_write: old import

FORMAT = "fashion-desktop-model"
FORMAT_VERSION = 2
MIN_CLASSES, MAX_CLASSES = 2, 100
# A file holds at most five copies of the weights (model, best, resume and two optimizer moments) plus metadata.
MAX_MODEL_BYTES = 5 * 4 * MAX_PARAMETERS + 64 * 2**20


@dataclass(frozen=True)
class Checkpoint:
    """Everything a model file holds. ``optimizer_state`` is set when the file can continue training."""

    spec: ModelSpec
    weights: Mapping[str, torch.Tensor]
    config: TrainConfig | None = None
    history: tuple[EpochMetrics, ...] = ()
    test: Evaluation | None = None
    epoch: int = 0  # epochs completed
    optimizer_state: Mapping[str, Any] | None = None
    scheduler_state: Mapping[str, Any] | None = None
    class_names: tuple[str, ...] = field(default=CLASS_NAMES)
    best_epoch: int | None = None
    best_weights: Mapping[str, torch.Tensor] | None = None
    resume_weights: Mapping[str, torch.Tensor] | None = None  # see the module docstring: ``resume.*``
    # What the model was trained on: {"dataset": name} plus, for an image folder, FramingSettings' fields.
    data: Mapping[str, Any] | None = None
    calibration: Calibration | None = None  # None: uncalibrated (a version-1 file, or a run without validation)

    def build_model(self) -> torch.nn.Module:
        model = build_model(self.spec)
        model.load_state_dict(self.weights)
        model.eval()
        return model

    def save(self, path: str | Path) -> Path:
        """Write the file atomically: a crash leaves the old file or the new one, never half of one."""
        tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in self.weights.items()}
        metadata = {
            "format": FORMAT,
            "format_version": str(FORMAT_VERSION),
            "spec": json.dumps(self.spec.to_dict()),
            "config": json.dumps(self.config.to_dict() if self.config else None),
            "class_names": json.dumps(list(self.class_names)),
            "normalization": json.dumps({"mean": self.spec.mean, "std": self.spec.std}),
            "history": json.dumps([m.to_dict() for m in self.history]),
            "test": json.dumps(self.test.to_dict() if self.test else None),
            "epoch": str(self.epoch),
            "best_epoch": json.dumps(self.best_epoch),
            "input_shape": json.dumps(list(self.spec.input_shape)),
            "data": json.dumps(dict(self.data) if self.data is not None else None),
            "calibration": json.dumps(self.calibration.to_dict() if self.calibration else None),
        }
        for prefix, extra in (("best", self.best_weights), ("resume", self.resume_weights)):
            if extra is not None:
                tensors.update({f"{prefix}.{k}": v.detach().cpu().contiguous() for k, v in extra.items()})
        if self.optimizer_state is not None:
            optimizer_tensors, optimizer_rest = _split_optimizer_state(self.optimizer_state)
            tensors.update(optimizer_tensors)
            metadata["optimizer"] = json.dumps(optimizer_rest)
        if self.scheduler_state is not None:
            metadata["scheduler"] = json.dumps(self.scheduler_state)
        return atomic_write(Path(path), save(tensors, metadata))

    @classmethod
    def load(cls, path: str | Path) -> Checkpoint:
        path = Path(path)
        data = read_bounded(path, MAX_MODEL_BYTES, "a model file", CheckpointError)
        try:
            tensors = load(data)
            metadata = _metadata(data, path.name)
        except (SafetensorError, ValueError, OverflowError) as error:
            raise CheckpointError(
                f"{path.name} is not a Fashion Desktop model file, or it is damaged ({error}); "
                "open a .safetensors file saved by Fashion Desktop"
            ) from None
        if metadata.get("format") != FORMAT:
            raise CheckpointError(
                f"{path.name} is a safetensors file but not a Fashion Desktop model (no '{FORMAT}' marker); "
                "open a model saved by Fashion Desktop or `fashion-desktop train`"
            )
        version = metadata.get("format_version", "0")
        if not (version.isascii() and version.isdigit() and len(version) <= 6):  # "²" is a digit to isdigit()
            raise CheckpointError(
                f"{path.name} is damaged: its format version {version!r} is not a number; "
                "open another copy of the model, or train it again"
            )
        if int(version) > FORMAT_VERSION:
            raise CheckpointError(
                f"{path.name} is model format version {version}, newer than this app reads ({FORMAT_VERSION}); "
                "update Fashion Desktop"
            )
        try:
            checkpoint = cls._from_parts(tensors, metadata)
            checkpoint._check_fits(path.name)
        except CheckpointError as error:
            message = str(error)
            raise CheckpointError(message if message.startswith(path.name) else f"{path.name}: {message}") from None
        except UserError as error:  # a spec or config this app refuses: say which file holds it
            raise CheckpointError(f"{path.name}: {error}") from None
        except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError, RecursionError) as error:
            raise CheckpointError(
                f"{path.name} is damaged: its metadata cannot be read ({error!r}); open another copy of the model, "
                "or train it again"
            ) from None
        return checkpoint

    def _check_fits(self, name: str) -> None:
        """The one validation of a model file's content, before anything uses it: refuse what does not fit.

        Class names, every tensor's name, shape, dtype and finiteness against the network the spec builds, the
        epoch counters against the history, and the optimizer's and scheduler's state against those the config
        builds. Raises CheckpointError naming ``name``.
        """
        count = len(self.class_names)
        if not MIN_CLASSES <= count <= MAX_CLASSES or not all(isinstance(c, str) and c for c in self.class_names):
            raise _damaged(
                name,
                f"its class names must be {MIN_CLASSES} to {MAX_CLASSES} non-empty texts, not {self.class_names!r}",
            )
        rows = self.spec.summary().rows
        outputs = rows[-1].output_shape if rows else None
        if outputs is not None and outputs != (count,):
            raise _damaged(name, f"its network has {outputs} outputs but it names {count} classes")
        with torch.device("meta"):  # shapes only: nothing is allocated or initialised
            model = build_model(self.spec)
        expected = {k: (tuple(v.shape), v.dtype) for k, v in model.state_dict().items()}
        for prefix, weights in (("model", self.weights), ("best", self.best_weights), ("resume", self.resume_weights)):
            if weights is None:
                continue
            actual = {k: (tuple(v.shape), v.dtype) for k, v in weights.items()}
            if actual != expected:
                wrong = sorted(set(actual) ^ set(expected)) or [k for k in expected if actual[k] != expected[k]]
                raise _damaged(name, f"its {prefix} weights do not fit its network ({', '.join(wrong[:3])})")
            broken = [k for k, v in weights.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
            if broken:
                raise _damaged(name, f"its {prefix} weights hold NaN or infinite values ({', '.join(broken[:3])})")
        self._check_counters(name)
        if self.optimizer_state is not None or self.scheduler_state is not None:
            if self.config is None:
                raise _damaged(name, "it holds an optimizer state but no training settings")
            shapes = [tuple(p.shape) for p in model.parameters()]
            optimizer = make_optimizer(self.config, model.parameters())
            if self.optimizer_state is not None:
                _check_optimizer_state(name, self.optimizer_state, optimizer.state_dict(), shapes)
            scheduler = make_scheduler(self.config, optimizer)
            if self.scheduler_state is not None:
                if scheduler is None:
                    raise _damaged(name, "it holds a scheduler state but its settings use no scheduler")
                expected_state = {k: v for k, v in scheduler.state_dict().items() if k != "milestones"}
                problem = _mismatch(expected_state, self.scheduler_state, "scheduler", allow_infinite=True)
                if problem:
                    raise _damaged(name, problem)

    def _check_counters(self, name: str) -> None:
        """Epoch, best epoch, history and test results must be numbers of the right kind, in range."""
        if not _is_int(self.epoch) or not 0 <= self.epoch <= MAX_EPOCHS:
            raise _damaged(name, f"its epoch count must be a whole number from 0 to {MAX_EPOCHS}, not {self.epoch!r}")
        for position, metrics in enumerate(self.history, start=1):
            if metrics.epoch != position:
                raise _damaged(name, f"its history's epoch {position} is numbered {metrics.epoch!r}")
            for field_name in ("train_loss", "lr", "epoch_seconds", "samples_per_second"):
                if not _is_number(getattr(metrics, field_name)):
                    raise _damaged(
                        name, f"its history's epoch {position} has {field_name} {getattr(metrics, field_name)!r}"
                    )
            for field_name in ("val_loss", "val_accuracy"):
                value = getattr(metrics, field_name)
                if value is not None and not _is_number(value):
                    raise _damaged(name, f"its history's epoch {position} has {field_name} {value!r}")
            if metrics.val_confusion is not None and not _is_confusion(metrics.val_confusion):
                raise _damaged(name, f"its history's epoch {position} has a damaged confusion matrix")
        if self.best_epoch is not None and (
            not _is_int(self.best_epoch) or not 1 <= self.best_epoch <= min(self.epoch, len(self.history))
        ):
            raise _damaged(
                name,
                f"its best epoch must be a whole number from 1 to {min(self.epoch, len(self.history))}, "
                f"not {self.best_epoch!r}",
            )
        if self.test is not None and not (
            _is_number(self.test.loss) and _is_number(self.test.accuracy) and _is_confusion(self.test.confusion)
        ):
            raise _damaged(name, "its test results are damaged")

    @classmethod
    def _from_parts(cls, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> Checkpoint:
        def parse(key: str, default: str) -> Any:
            return load_json(metadata.get(key, default), f"the model's {key} metadata", CheckpointError)

        spec = ModelSpec.from_dict(parse("spec", "null"))
        config = parse("config", "null")
        test = parse("test", "null")
        weights, best, resume = (_with_prefix(tensors, f"{prefix}.") for prefix in ("model", "best", "resume"))
        optimizer = None
        if "optimizer" in metadata:
            optimizer = _join_optimizer_state(tensors, parse("optimizer", "null"))
        scheduler = parse("scheduler", "null")
        if scheduler is not None and not isinstance(scheduler, dict):
            raise CheckpointError(f"the scheduler state must be an object, not {scheduler!r}")
        epoch = metadata.get("epoch", "0")
        if not (epoch.isascii() and epoch.isdigit() and len(epoch) <= 6):
            raise CheckpointError(f"its epoch count must be a whole number, not {epoch!r}")
        history = parse("history", "[]")
        if not isinstance(history, list) or not all(isinstance(m, dict) for m in history):
            raise CheckpointError("its training history is damaged")
        if config is not None and not isinstance(config, dict):
            raise CheckpointError(f"its training settings must be an object, not {config!r}")
        if test is not None and not isinstance(test, dict):
            raise CheckpointError(f"its test results must be an object, not {test!r}")
        class_names = parse("class_names", json.dumps(CLASS_NAMES))
        if not isinstance(class_names, list):
            raise CheckpointError(f"its class names must be a list, not {class_names!r}")
        data = parse("data", "null")
        if data is not None and not isinstance(data, dict):
            raise CheckpointError(f"its dataset settings must be an object, not {data!r}")
        if data is not None and "size" in data:
            FramingSettings(**{k: v for k, v in data.items() if k in FramingSettings.__dataclass_fields__})
        calibration = parse("calibration", "null")
        if calibration is not None and not (
            isinstance(calibration, dict) and all(_is_number(v, allow_infinite=True) for v in calibration.values())
        ):
            raise CheckpointError(f"its calibration must be an object of numbers, not {calibration!r}")
        train_config = TrainConfig.from_dict(config) if config else None
        if train_config is not None:
            train_config.check()
        # Buildable; a head that does not suit the loss is for training to refuse, and the output size is checked
        # against the class names in _check_fits.
        spec.check(classes=None)
        return cls(
            spec=spec,
            weights=weights,
            config=train_config,
            history=tuple(EpochMetrics.from_dict(m) for m in history),
            test=Evaluation.from_dict(test) if test else None,
            epoch=int(epoch),
            optimizer_state=optimizer,
            scheduler_state=scheduler,
            class_names=tuple(class_names),
            best_epoch=parse("best_epoch", "null"),
            best_weights=best or None,
            resume_weights=resume or None,
            data=data,
            calibration=Calibration.from_dict(calibration) if calibration else None,
        )

    @property
    def framing(self) -> FramingSettings | None:
        """How an image-folder model's photos were framed; None for a Fashion-MNIST-style model."""
        if self.data is None or "size" not in self.data:
            return None
        return FramingSettings(**{k: v for k, v in self.data.items() if k in FramingSettings.__dataclass_fields__})


def _with_prefix(tensors: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k.removeprefix(prefix): v for k, v in tensors.items() if k.startswith(prefix)}


def _metadata(data: bytes, name: str) -> dict[str, str]:
    """The safetensors header's ``__metadata__``: the first 8 bytes give the JSON header's length."""
    length = int.from_bytes(data[:8], "little")
    header = load_json(data[8 : 8 + length], f"{name}'s header", CheckpointError)
    metadata = header.get("__metadata__") if isinstance(header, dict) else None
    if metadata is None:
        return {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise CheckpointError(f"{name}'s metadata must map names to texts")
    return metadata


def _damaged(name: str, problem: str) -> CheckpointError:
    return CheckpointError(f"{name} is damaged: {problem}; open another copy of the model, or train it again")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object, allow_infinite: bool = False) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return allow_infinite and not math.isnan(value) or math.isfinite(value)


def _is_confusion(matrix: object) -> bool:
    """A square table (one row per class, MIN_CLASSES to MAX_CLASSES of them) of non-negative whole numbers."""
    return (
        isinstance(matrix, (list, tuple))
        and MIN_CLASSES <= len(matrix) <= MAX_CLASSES
        and all(
            isinstance(row, (list, tuple)) and len(row) == len(matrix) and all(_is_int(c) and c >= 0 for c in row)
            for row in matrix
        )
    )


def _mismatch(expected: Any, actual: Any, where: str, allow_infinite: bool = False) -> str | None:
    """Why ``actual`` (read from JSON) is not shaped like ``expected`` (what this torch builds), or None.

    Objects may leave keys out (they keep the fresh value) but not add any: a scheduler's state is loaded into its
    attributes, where an unknown key could replace a method.
    """
    if expected is None:  # an option left unset, such as foreach or fused
        ok = actual is None or isinstance(actual, bool)
    elif isinstance(expected, bool):
        ok = isinstance(actual, bool)
    elif isinstance(expected, int):
        ok = _is_int(actual)
    elif isinstance(expected, float):
        ok = _is_number(actual, allow_infinite)
    elif isinstance(expected, str):
        ok = isinstance(actual, str)
    elif isinstance(expected, (list, tuple)):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return f"its {where} state has {actual!r} where a list of {len(expected)} is expected"
        for index, (want, got) in enumerate(zip(expected, actual, strict=True)):
            if problem := _mismatch(want, got, f"{where}[{index}]", allow_infinite):
                return problem
        return None
    elif isinstance(expected, Mapping):
        if not isinstance(actual, Mapping):
            return f"its {where} state has {actual!r} where an object is expected"
        unknown = set(actual) - set(expected)
        if unknown:
            return f"its {where} state has unknown entries ({', '.join(sorted(map(str, unknown))[:3])})"
        for key, value in actual.items():
            if problem := _mismatch(expected[key], value, f"{where}.{key}", allow_infinite):
                return problem
        return None
    else:
        ok = type(actual) is type(expected)
    return None if ok else f"its {where} state has {actual!r} where {type(expected).__name__} is expected"


def _check_optimizer_state(
    name: str, state: Mapping[str, Any], fresh: Mapping[str, Any], shapes: list[tuple[int, ...]]
) -> None:
    """The saved optimizer state must have the fresh optimizer's groups and one state per parameter of its shape."""
    groups = state.get("param_groups")
    fresh_groups = fresh["param_groups"]
    if not isinstance(groups, list) or len(groups) != len(fresh_groups):
        raise _damaged(name, f"its optimizer state must have {len(fresh_groups)} parameter group(s)")
    for group, fresh_group in zip(groups, fresh_groups, strict=True):
        if not isinstance(group, dict) or group.get("params") != fresh_group["params"]:
            raise _damaged(name, "its optimizer's parameter groups do not fit its network")
        known = {k: v for k, v in group.items() if k in fresh_group}
        if problem := _mismatch(fresh_group, known, "optimizer"):
            raise _damaged(name, problem)
        for key, value in group.items():  # options of another torch version: plain values only
            if key not in fresh_group and not (value is None or isinstance(value, (bool, int, float, str))):
                raise _damaged(name, f"its optimizer option {key!r} is {value!r}")
    for param_id, values in state["state"].items():
        if not _is_int(param_id) or not 0 <= param_id < len(shapes):
            raise _damaged(name, f"its optimizer state names parameter {param_id!r}, which its network lacks")
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                if not value.is_floating_point() or not bool(torch.isfinite(value).all()):
                    raise _damaged(name, f"its optimizer's {key} of parameter {param_id} is not finite numbers")
                if value.numel() != 1 and tuple(value.shape) != shapes[param_id]:
                    raise _damaged(name, f"its optimizer's {key} of parameter {param_id} has the wrong shape")
            elif not _is_number(value):
                raise _damaged(name, f"its optimizer's {key} of parameter {param_id} is {value!r}")


def _split_optimizer_state(state: Mapping[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Tensors of ``optimizer.state_dict()`` go to safetensors, the rest (param groups, plain numbers) to JSON."""
    tensors: dict[str, torch.Tensor] = {}
    plain: dict[str, dict[str, Any]] = {}
    for param_id, values in state["state"].items():
        for name, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer.{param_id}.{name}"] = value.detach().cpu().contiguous()
            else:
                plain.setdefault(str(param_id), {})[name] = value
    return tensors, {"param_groups": state["param_groups"], "plain": plain}


def _join_optimizer_state(tensors: Mapping[str, torch.Tensor], rest: Any) -> dict[str, Any]:
    if not isinstance(rest, dict) or not isinstance(rest.get("plain"), dict):
        raise CheckpointError("its optimizer state is damaged")
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, param_id, name = key.split(".", 2)
            state.setdefault(_param_id(param_id), {})[name] = value
    for param_id, values in rest["plain"].items():
        if not isinstance(values, dict):
            raise CheckpointError("its optimizer state is damaged")
        state.setdefault(_param_id(param_id), {}).update(values)
    return {"state": state, "param_groups": rest["param_groups"]}


def _param_id(text: str) -> int:
    if not (text.isascii() and text.isdigit() and len(text) <= 9):
        raise CheckpointError(f"its optimizer state names parameter {text!r}")
    return int(text)
