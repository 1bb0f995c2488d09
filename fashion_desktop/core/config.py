"""Training settings: the TrainConfig dataclass and the option schema of every loss, optimizer and scheduler.

Torch-free, so the GUI can build its forms and check values before torch has loaded; ``optim.py`` turns the
names into torch objects.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from fashion_desktop.core.errors import ConfigError
from fashion_desktop.core.params import Options, Param, Value, resolve

_WD = Param("weight_decay", "float", 0.0, minimum=0, maximum=1, help="L2 penalty")
_EPS = Param("eps", "float", 1e-8, minimum=0, exclusive_min=True, maximum=1, log_scale=True)
_BETA1 = Param("beta1", "float", 0.9, minimum=0, maximum=1, exclusive_max=True)
_BETA2 = Param("beta2", "float", 0.999, minimum=0, maximum=1, exclusive_max=True)

# The learning rate is a top-level TrainConfig field; these are each optimizer's other options.
OPTIMIZERS: dict[str, tuple[Param, ...]] = {
    "SGD": (
        Param("momentum", "float", 0.0, minimum=0, maximum=1, exclusive_max=True),
        Param("dampening", "float", 0.0, minimum=0, maximum=1),
        Param("nesterov", "bool", False, help="needs momentum > 0 and dampening 0"),
        _WD,
    ),
    "Adam": (_BETA1, _BETA2, _EPS, _WD, Param("amsgrad", "bool", False)),
    "AdamW": (_BETA1, _BETA2, _EPS, replace(_WD, default=0.01), Param("amsgrad", "bool", False)),
    "Adagrad": (Param("lr_decay", "float", 0.0, minimum=0, maximum=1), replace(_EPS, default=1e-10), _WD),
    "RMSprop": (
        Param("alpha", "float", 0.99, minimum=0, maximum=1, exclusive_max=True),
        _EPS,
        Param("momentum", "float", 0.0, minimum=0, maximum=1, exclusive_max=True),
        Param("centered", "bool", False),
        _WD,
    ),
    "Adadelta": (
        Param("rho", "float", 0.9, minimum=0, maximum=1, exclusive_max=True),
        replace(_EPS, default=1e-6),
        _WD,
    ),
    "Adamax": (_BETA1, _BETA2, _EPS, _WD),
    "NAdam": (_BETA1, _BETA2, _EPS, Param("momentum_decay", "float", 4e-3, minimum=0, maximum=1), _WD),
    "RAdam": (_BETA1, _BETA2, _EPS, _WD),
    "ASGD": (
        Param("lambd", "float", 1e-4, minimum=0, maximum=1),
        Param("alpha", "float", 0.75, minimum=0, maximum=1),
        Param("t0", "float", 1e6, minimum=0),
        _WD,
    ),
    "Rprop": (
        Param("eta_minus", "float", 0.5, minimum=0, maximum=1, exclusive_min=True, exclusive_max=True),
        Param("eta_plus", "float", 1.2, minimum=1, exclusive_min=True, maximum=10),
        Param("step_min", "float", 1e-6, minimum=0, log_scale=True),
        Param("step_max", "float", 50.0, minimum=0, exclusive_min=True),
    ),
}

# Schedulers step once per epoch. ``epochs`` for CosineAnnealingLR comes from the config.
SCHEDULERS: dict[str, tuple[Param, ...]] = {
    "none": (),
    "StepLR": (
        Param("step_size", "int", 5, minimum=1, help="epochs between decays"),
        Param("gamma", "float", 0.1, minimum=0, maximum=1, exclusive_min=True),
    ),
    "MultiStepLR": (
        Param("milestones", "int_list", (5, 8), minimum=1, help="epochs at which to decay"),
        Param("gamma", "float", 0.1, minimum=0, maximum=1, exclusive_min=True),
    ),
    "ExponentialLR": (Param("gamma", "float", 0.9, minimum=0, maximum=1, exclusive_min=True),),
    "CosineAnnealingLR": (Param("eta_min", "float", 0.0, minimum=0, log_scale=True),),
    "ReduceLROnPlateau": (
        Param("factor", "float", 0.1, minimum=0, maximum=1, exclusive_min=True, exclusive_max=True),
        Param("patience", "int", 2, minimum=0, help="epochs without improvement of the validation loss"),
        Param("min_lr", "float", 0.0, minimum=0, log_scale=True),
    ),
}

LOSSES: dict[str, tuple[Param, ...]] = {
    "cross_entropy": (),
    "nll": (),
    "label_smoothing": (Param("smoothing", "float", 0.1, minimum=0, maximum=1, exclusive_max=True),),
    # The one-hot losses: each sample's loss is the sum over its 10 classes, averaged over the batch, so the
    # validation loss (a sum over samples divided by their count) means the same as the training loss.
    "mse": (),
    "l1": (),
    # torch's default beta of 1 would make it plain MSE / 2 here: probabilities differ from the target by at most 1.
    "smooth_l1": (
        Param("beta", "float", 0.1, minimum=0, exclusive_min=True, maximum=1, help="squared below, absolute above"),
    ),
    "bce": (),
}
LOSS_LABELS = {
    "cross_entropy": "CrossEntropy",
    "nll": "NLLLoss",
    "label_smoothing": "CrossEntropy + label smoothing",
    "mse": "MSE (L2) on probabilities",
    "l1": "L1 (MAE) on probabilities",
    "smooth_l1": "Smooth L1 on probabilities",
    "bce": "Binary cross-entropy (with logits)",
}
# What each loss compares, in plain words, for the loss picker; the head each expects is checked by ModelSpec.
LOSS_NOTES = {
    "cross_entropy": "The usual choice: softmax turns the raw outputs into probabilities and the loss is "
    "-log(probability of the true class). End the network with Linear(10), no Softmax.",
    "nll": "-log(probability of the true class) from a network that already ends with LogSoftmax.",
    "label_smoothing": "CrossEntropy against a target that gives the true class 1 - smoothing and spreads the rest "
    "over all classes, so the network is not pushed to be ever more certain.",
    "mse": "Squared distance between the softmax probabilities and the one-hot target (1 for the true class, 0 for "
    "the rest), as in regression. Learns more slowly than CrossEntropy. End with Linear(10): it applies softmax.",
    "l1": "Absolute distance between the softmax probabilities and the one-hot target; its gradient does not "
    "shrink near the target. End with Linear(10): it applies softmax itself.",
    "smooth_l1": "Squared distance for differences below beta, absolute beyond it, between the softmax "
    "probabilities and the one-hot target. End with Linear(10): it applies softmax itself.",
    "bce": "Ten yes/no questions, one per class: sigmoid of each raw output against the one-hot target. "
    "End with Linear(10): it applies the sigmoid itself.",
}
ONE_HOT_LOSSES = ("mse", "l1", "smooth_l1", "bce")  # compare the output with the one-hot target
PROBABILITY_LOSSES = ("mse", "l1", "smooth_l1")  # ...after softmax of the raw outputs
_DEVICE = re.compile(r"(cpu|cuda|mps)(?::(\d+))?|auto")
MAX_DEVICE_INDEX = 1023  # far more GPUs than one machine holds; torch refuses indices beyond a C int
MAX_EPOCHS = 10_000
# torch.manual_seed takes up to 2**64 - 1, but the seed is also multiplied per epoch and written into exported
# scripts that may seed numpy, which takes 0..2**32 - 1.
MAX_SEED = 2**32 - 1
# Settings a run may change when it continues another: the rest shape what training does, so continuing with them
# changed would not be the run the user asked for (and a new optimizer could not take the old one's state).
CONTINUE_MAY_CHANGE = ("epochs", "device", "early_stopping_patience", "keep_best")


def device_problem(name: object) -> str | None:
    """Why ``name`` is not a device name (``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``), or None."""
    match = _DEVICE.fullmatch(name.strip().lower()) if isinstance(name, str) else None
    if match and match.group(2) is not None and int(match.group(2)) > MAX_DEVICE_INDEX:
        return f"device number {match.group(2)[:12]} in {match.group(0)[:20]!r} is too large; cuda:0 is the first GPU"
    if match:
        return None
    return f"unknown device {name!r}; choose auto, cpu, cuda, cuda:N (N = 0 for the first GPU) or mps"


def normalize_device(name: str) -> str:
    """The canonical spelling of a device name: ``CPU`` and ``cpu:0`` are ``cpu``, ``cuda:01`` is ``cuda:1``.

    Raises:
        ConfigError: ``name`` is not a device name.
    """
    problem = device_problem(name)
    if problem:
        raise ConfigError(problem)
    match = _DEVICE.fullmatch(name.strip().lower())
    assert match is not None
    kind, index = match.group(1), match.group(2)
    if kind is None or kind == "cpu" or index is None:  # every index of the CPU is the same device
        return kind or "auto"
    return f"{kind}:{int(index)}"


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of one training run; plain data with a JSON round-trip."""

    epochs: int = 10
    batch_size: int = 64
    lr: float = 3e-3
    loss: str = "nll"
    loss_options: Mapping[str, Value] = field(default_factory=dict)
    optimizer: str = "Adam"
    optimizer_options: Mapping[str, Value] = field(default_factory=dict)
    scheduler: str = "none"
    scheduler_options: Mapping[str, Value] = field(default_factory=dict)
    seed: int = 0
    device: str = "auto"
    val_size: int = 5000
    augment: bool = False  # random horizontal flips and shifts of up to 2 pixels
    early_stopping_patience: int = 0  # 0: off
    keep_best: bool = False  # end with the weights of the epoch with the lowest validation loss

    def problems(self) -> list[str]:
        """Every setting that is out of range, in plain words; empty when the config can train."""
        problems = []
        checks = (
            Param("epochs", "int", 1, minimum=1, maximum=MAX_EPOCHS),
            Param("batch size", "int", 1, minimum=1, maximum=60_000),
            Param("learning rate", "float", 1e-3, minimum=0, exclusive_min=True, maximum=100),
            Param("validation size", "int", 0, minimum=0, maximum=59_000),
            Param("early-stopping patience", "int", 0, minimum=0),
        )
        values = (self.epochs, self.batch_size, self.lr, self.val_size, self.early_stopping_patience)
        problems += [p for p in (param.problem(v) for param, v in zip(checks, values, strict=True)) if p]
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed <= MAX_SEED:
            problems.append(f"seed must be a whole number from 0 to {MAX_SEED}, not {self.seed!r}")
        for label, name, schemas, options in (
            ("loss", self.loss, LOSSES, self.loss_options),
            ("optimizer", self.optimizer, OPTIMIZERS, self.optimizer_options),
            ("scheduler", self.scheduler, SCHEDULERS, self.scheduler_options),
        ):
            if name not in schemas:
                problems.append(f"unknown {label} {name!r}; choose one of {', '.join(schemas)}")
            else:
                problems += [f"{label} {name}: {p}" for p in resolve(schemas[name], options)[1]]
        if self.optimizer == "SGD" and not problems:
            sgd = Options(self.resolved_optimizer_options())
            if sgd.flag("nesterov") and (sgd.number("momentum") <= 0 or sgd.number("dampening") != 0):
                problems.append("SGD with Nesterov momentum needs momentum > 0 and dampening 0")
        if (problem := device_problem(self.device)) is not None:
            problems.append(problem)
        problems += self._validation_problems()
        return problems

    def _validation_problems(self) -> list[str]:
        """Settings that watch the validation loss do nothing without a validation set, so refuse them."""
        if self.val_size != 0:
            return []
        users = []
        if self.early_stopping_patience:
            users.append("early stopping")
        if self.keep_best:
            users.append("keeping the best epoch")
        if self.scheduler == "ReduceLROnPlateau":
            users.append("the ReduceLROnPlateau schedule")
        return [f"{user} needs a validation set: set a validation size above 0" for user in users]

    def check(self) -> None:
        """Raise :class:`ConfigError` listing every problem, if there is one."""
        problems = self.problems()
        if problems:
            raise ConfigError("the training settings are not valid:\n" + "\n".join(f"- {p}" for p in problems))

    def resolved_optimizer_options(self) -> dict[str, Value]:
        return resolve(OPTIMIZERS[self.optimizer], self.optimizer_options)[0]

    def resolved_scheduler_options(self) -> dict[str, Value]:
        return resolve(SCHEDULERS[self.scheduler], self.scheduler_options)[0]

    def resolved_loss_options(self) -> dict[str, Value]:
        return resolve(LOSSES[self.loss], self.loss_options)[0]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("loss_options", "optimizer_options", "scheduler_options"):
            data[key] = {k: list(v) if isinstance(v, tuple) else v for k, v in data[key].items()}
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        """The config that ``to_dict`` wrote, with every value's type checked (ranges are ``problems``' job).

        Raises:
            ConfigError: ``data`` is not an object, names an unknown setting, or holds a value of the wrong type
                (a text where a number belongs, a float batch size, a list where options belong).
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"the training settings must be an object, not {data!r:.60}")
        known = {f.name: f for f in fields(cls)}
        unknown = set(data) - set(known)
        if unknown:
            raise ConfigError(f"unknown training settings: {', '.join(sorted(map(str, unknown)))}")
        wrong = [problem for key, value in data.items() if (problem := _type_problem(key, value))]
        if wrong:
            raise ConfigError("the training settings are not valid:\n" + "\n".join(f"- {p}" for p in wrong))
        values = dict(data)
        for key in _OPTION_FIELDS:
            if key in values:
                values[key] = {k: tuple(v) if isinstance(v, list) else v for k, v in values[key].items()}
        if "lr" in values:
            values["lr"] = float(values["lr"])
        return cls(**values)


# The JSON type of each TrainConfig field, as to_dict writes it; option values are checked by their schemas.
_FIELD_TYPES: dict[str, str] = {
    "epochs": "int",
    "batch_size": "int",
    "lr": "number",
    "loss": "str",
    "optimizer": "str",
    "scheduler": "str",
    "seed": "int",
    "device": "str",
    "val_size": "int",
    "augment": "bool",
    "early_stopping_patience": "int",
    "keep_best": "bool",
}
_OPTION_FIELDS = ("loss_options", "optimizer_options", "scheduler_options")
_KIND_WORDS = {"int": "a whole number", "number": "a number", "str": "a text", "bool": "true or false"}


def _is_kind(value: object, kind: str) -> bool:
    if kind == "bool":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if kind == "int":
        return isinstance(value, int)
    if kind == "number":
        return isinstance(value, (int, float))
    return isinstance(value, str)


def _type_problem(key: str, value: object) -> str | None:
    """Why ``value`` cannot be the setting ``key`` as JSON holds it, or None."""
    if key in _OPTION_FIELDS:
        if not isinstance(value, Mapping) or not all(isinstance(name, str) for name in value):
            return f"{key} must be an object of named options, not {value!r:.60}"
        for name, option in value.items():
            if isinstance(option, list) and all(_is_kind(v, "int") for v in option):
                continue
            if not isinstance(option, (bool, int, float, str)):
                return f"{key}.{name} must be a number, true/false or a list of whole numbers, not {option!r:.60}"
        return None
    kind = _FIELD_TYPES[key]
    if not _is_kind(value, kind):
        return f"{key} must be {_KIND_WORDS[kind]}, not {value!r:.60}"
    return None


def changed_settings(trained: TrainConfig, current: TrainConfig) -> list[str]:
    """The names of the settings (``lr``, ``optimizer_options``, ...) that differ, ignoring CONTINUE_MAY_CHANGE.

    Options are compared with their defaults filled in, since a config may spell a default out or leave it out.
    """

    def effective(config: TrainConfig) -> dict[str, Any]:
        values = {key: value for key, value in config.to_dict().items() if key not in CONTINUE_MAY_CHANGE}
        for key, name, schemas in (
            ("loss_options", config.loss, LOSSES),
            ("optimizer_options", config.optimizer, OPTIMIZERS),
            ("scheduler_options", config.scheduler, SCHEDULERS),
        ):
            if key in values and name in schemas:
                values[key] = resolve(schemas[name], values[key])[0]
        return values

    before, after = effective(trained), effective(current)
    return [key for key in before if before[key] != after.get(key)]
