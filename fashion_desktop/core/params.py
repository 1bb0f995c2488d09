"""Declarative option schemas: one description of each setting serves validation, the CLI and the GUI forms."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Union

Value = Union[int, float, bool, str, tuple[int, ...]]


@dataclass(frozen=True)
class Param:
    """One named setting with its type, default and valid range.

    ``kind`` is one of ``int``, ``float``, ``bool``, ``choice`` or ``int_list``. ``minimum``/``maximum`` are
    inclusive unless ``exclusive_min``/``exclusive_max`` is set.
    """

    name: str
    kind: str
    default: Value
    minimum: float | None = None
    maximum: float | None = None
    exclusive_min: bool = False
    exclusive_max: bool = False
    choices: tuple[str, ...] = ()
    help: str = ""
    log_scale: bool = False  # a hint for GUI spin boxes (learning rates, epsilons)

    def coerce(self, value: Any) -> Value:
        """Convert a JSON or command-line value to this parameter's type."""
        if self.kind == "int":
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(f"{self.name} must be a whole number, not {value}")
            return int(value)
        if self.kind == "float":
            return float(value)
        if self.kind == "bool":
            if isinstance(value, str):
                return value.strip().lower() in ("1", "true", "yes", "on")
            return bool(value)
        if self.kind == "int_list":
            if isinstance(value, str):
                value = [v for v in value.replace(",", " ").split() if v]
            return tuple(int(v) for v in value)
        return str(value)

    def problem(self, value: Any) -> str | None:
        """Return why ``value`` is not valid for this parameter, or None when it is."""
        try:
            value = self.coerce(value)
        except (TypeError, ValueError):
            return f"{self.name} must be {_kind_words(self.kind)}, not {value!r}"
        if self.kind == "choice":
            if value not in self.choices:
                return f"{self.name} must be one of {', '.join(self.choices)}, not {value!r}"
            return None
        numbers = value if isinstance(value, tuple) else (value,)
        for number in numbers:
            if isinstance(number, bool):
                continue
            if isinstance(number, float) and not math.isfinite(number):
                return f"{self.name} must be a finite number, not {number}"
            if self.minimum is not None and (number < self.minimum or (self.exclusive_min and number == self.minimum)):
                bound = "greater than" if self.exclusive_min else "at least"
                return f"{self.name} must be {bound} {_fmt(self.minimum)}, not {_fmt(number)}"
            if self.maximum is not None and (number > self.maximum or (self.exclusive_max and number == self.maximum)):
                bound = "less than" if self.exclusive_max else "at most"
                return f"{self.name} must be {bound} {_fmt(self.maximum)}, not {_fmt(number)}"
        return None


@dataclass(frozen=True)
class Options:
    """Option values, each coerced to its declared type, with typed getters (``resolve`` gives plain values)."""

    values: Mapping[str, Value]

    @classmethod
    def of(cls, params: Sequence[Param], given: Mapping[str, Value]) -> Options:
        """Each option's given value, coerced to its type, or its default where the spec leaves it out.

        Values out of range are kept (the option check reports them); unknown names are left out.

        Raises:
            ValueError, TypeError: a value cannot be read as its type at all, such as ``"big"`` for a whole number.
        """
        values: dict[str, Value] = {}
        for param in params:
            raw = given.get(param.name)
            values[param.name] = param.default if raw is None else param.coerce(raw)
        return cls(values)

    def integer(self, name: str) -> int:
        value = self.values[name]
        if not isinstance(value, int):
            raise TypeError(f"{name} must be a whole number, not {value!r}")
        return value

    def number(self, name: str) -> float:
        value = self.values[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{name} must be a number, not {value!r}")
        return float(value)

    def flag(self, name: str) -> bool:
        value = self.values[name]
        if not isinstance(value, bool):
            raise TypeError(f"{name} must be true or false, not {value!r}")
        return value


def resolve(params: Sequence[Param], values: Mapping[str, Any]) -> tuple[dict[str, Value], list[str]]:
    """Fill in defaults and check ``values`` against ``params``.

    Returns the complete, coerced values and a list of problems (unknown names, out-of-range values).
    """
    known = {p.name: p for p in params}
    problems = [
        f"unknown option {name!r} (known: {', '.join(known) or 'none'})" for name in values if name not in known
    ]
    resolved: dict[str, Value] = {}
    for p in params:
        raw = values.get(p.name, p.default)
        problem = p.problem(raw)
        if problem:
            problems.append(problem)
            resolved[p.name] = p.default
        else:
            resolved[p.name] = p.coerce(raw)
    return resolved, problems


def _kind_words(kind: str) -> str:
    return {"int": "a whole number", "float": "a number", "int_list": "a list of whole numbers"}.get(kind, kind)


def _fmt(number: float) -> str:
    return f"{number:g}"
