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

No random-number state is stored: the engine seeds every epoch's generators from (seed, epoch), both saved.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load, save

from fashion_desktop.core.builder import build_model
from fashion_desktop.core.config import TrainConfig
from fashion_desktop.core.errors import CheckpointError, UserError
from fashion_desktop.core.metrics import EpochMetrics, Evaluation
from fashion_desktop.core.spec import CLASS_NAMES, NUM_CLASSES, ModelSpec

FORMAT = "fashion-desktop-model"
FORMAT_VERSION = 1


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
        try:
            data = path.read_bytes()
        except OSError as error:
            raise CheckpointError(f"cannot read {path}: {error.strerror or error}") from None
        try:
            tensors = load(data)
            metadata = _metadata(data)
        except (SafetensorError, ValueError, json.JSONDecodeError) as error:
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
        if not version.isdigit():
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
        except CheckpointError:
            raise
        except UserError as error:  # a spec or config this app refuses: say which file holds it
            raise CheckpointError(f"{path.name}: {error}") from None
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise CheckpointError(
                f"{path.name} is damaged: its metadata cannot be read ({error!r}); open another copy of the model, "
                "or train it again"
            ) from None
        return checkpoint

    def _check_fits(self, name: str) -> None:
        """Refuse a file whose class names or tensors do not fit its own network, before anything uses them."""
        if len(self.class_names) != NUM_CLASSES or not all(isinstance(c, str) for c in self.class_names):
            raise CheckpointError(
                f"{name} is damaged: it names {len(self.class_names)} classes instead of "
                f"{NUM_CLASSES}; open another copy of the model, or train it again"
            )
        with torch.device("meta"):  # shapes only: nothing is allocated or initialised
            expected = {k: tuple(v.shape) for k, v in build_model(self.spec).state_dict().items()}
        for prefix, weights in (("model", self.weights), ("best", self.best_weights), ("resume", self.resume_weights)):
            if weights is None:
                continue
            actual = {k: tuple(v.shape) for k, v in weights.items()}
            if actual != expected:
                wrong = sorted(set(actual) ^ set(expected)) or [k for k in expected if actual[k] != expected[k]]
                raise CheckpointError(
                    f"{name} is damaged: its {prefix} weights do not fit its network ({', '.join(wrong[:3])}); "
                    "open another copy of the model, or train it again"
                )

    @classmethod
    def _from_parts(cls, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> Checkpoint:
        spec = ModelSpec.from_dict(json.loads(metadata["spec"]))
        config = json.loads(metadata.get("config", "null"))
        test = json.loads(metadata.get("test", "null"))
        weights, best, resume = (_with_prefix(tensors, f"{prefix}.") for prefix in ("model", "best", "resume"))
        optimizer = None
        if "optimizer" in metadata:
            optimizer = _join_optimizer_state(tensors, json.loads(metadata["optimizer"]))
        return cls(
            spec=spec,
            weights=weights,
            config=TrainConfig.from_dict(config) if config else None,
            history=tuple(EpochMetrics.from_dict(m) for m in json.loads(metadata.get("history", "[]"))),
            test=Evaluation.from_dict(test) if test else None,
            epoch=int(metadata.get("epoch", "0")),
            optimizer_state=optimizer,
            scheduler_state=json.loads(metadata["scheduler"]) if "scheduler" in metadata else None,
            class_names=tuple(json.loads(metadata.get("class_names", json.dumps(CLASS_NAMES)))),
            best_epoch=json.loads(metadata.get("best_epoch", "null")),
            best_weights=best or None,
            resume_weights=resume or None,
        )


def atomic_write(path: Path, data: bytes) -> Path:
    """Write ``data`` to a temporary file beside ``path``, flush it to disk, then rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def _with_prefix(tensors: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k.removeprefix(prefix): v for k, v in tensors.items() if k.startswith(prefix)}


def _metadata(data: bytes) -> dict[str, str]:
    """The safetensors header's ``__metadata__``: the first 8 bytes give the JSON header's length."""
    length = int.from_bytes(data[:8], "little")
    return json.loads(data[8 : 8 + length]).get("__metadata__") or {}


def _split_optimizer_state(state: Mapping[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Tensors of ``optimizer.state_dict()`` go to safetensors, the rest (param groups, plain numbers) to JSON."""
    tensors, plain = {}, {}
    for param_id, values in state["state"].items():
        for name, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer.{param_id}.{name}"] = value.detach().cpu().contiguous()
            else:
                plain.setdefault(str(param_id), {})[name] = value
    return tensors, {"param_groups": state["param_groups"], "plain": plain}


def _join_optimizer_state(tensors: Mapping[str, torch.Tensor], rest: Mapping[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, param_id, name = key.split(".", 2)
            state.setdefault(int(param_id), {})[name] = value
    for param_id, values in rest["plain"].items():
        state.setdefault(int(param_id), {}).update(values)
    return {"state": state, "param_groups": rest["param_groups"]}
