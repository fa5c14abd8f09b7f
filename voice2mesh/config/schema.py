"""The params schema machinery: typed, range-checked, frozen dataclasses built from YAML.

A section is a frozen dataclass deriving from ``Section``; a field's allowed values are part of
its type (``Annotated[int, Range(1)]``), so the same check runs whether the section comes from
params.yaml (``params_from_dict``: the message names the file and the dotted key) or is built in
code (``SupervisedParams(iterations=0)`` raises too). Unknown keys are errors, never ignored.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass
from typing import Annotated, Any, Literal


class ConfigError(ValueError):
    """A params file that does not match the schema; the message names file and key."""


class FieldError(ValueError):
    """One field's value is outside its allowed set (``Section`` raises it)."""

    def __init__(self, field: str, value: Any, allowed: str) -> None:
        super().__init__(f"{field} = {value!r}; allowed: {allowed}")
        self.field, self.value, self.allowed = field, value, allowed


@dataclass(frozen=True)
class Range:
    """Numbers in ``[low, high]``; ``open_low``/``open_high`` exclude the bound."""

    low: float | None = None
    high: float | None = None
    open_low: bool = False
    open_high: bool = False

    def allows(self, value: Any) -> bool:
        if not isinstance(value, int | float) or isinstance(value, bool):
            return True  # the type check reports it
        if isinstance(value, float) and not math.isfinite(value):
            return False
        low_ok = self.low is None or (value > self.low if self.open_low else value >= self.low)
        high_ok = self.high is None or (value < self.high if self.open_high else value <= self.high)
        return low_ok and high_ok

    def describe(self) -> str:
        parts = []
        if self.low is not None:
            parts.append(f"{'>' if self.open_low else '>='} {_number(self.low)}")
        if self.high is not None:
            parts.append(f"{'<' if self.open_high else '<='} {_number(self.high)}")
        return " and ".join(parts) or "any finite number"


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


@dataclass(frozen=True)
class Each:
    """Every item of a list/tuple satisfies ``check``."""

    check: Range

    def allows(self, value: Any) -> bool:
        return all(self.check.allows(v) for v in value)

    def describe(self) -> str:
        return f"items {self.check.describe()}"


@dataclass(frozen=True)
class Ordered:
    """A ``(low, high)`` pair with ``minimum <= low <= high <= maximum``."""

    minimum: float
    maximum: float

    def allows(self, value: Any) -> bool:
        return len(value) == 2 and self.minimum <= value[0] <= value[1] <= self.maximum

    def describe(self) -> str:
        low, high = _number(self.minimum), _number(self.maximum)
        return f"[low, high] with {low} <= low <= high <= {high}"


@dataclass(frozen=True)
class Pattern:
    """Strings matching ``regex`` entirely; ``text`` says what that means."""

    regex: str
    text: str

    def allows(self, value: Any) -> bool:
        return not isinstance(value, str) or re.fullmatch(self.regex, value) is not None

    def describe(self) -> str:
        return self.text


@dataclass(frozen=True)
class Choice:
    """One of ``values`` (a ``Literal`` field, checked also when a section is built in code)."""

    values: tuple[Any, ...]

    def allows(self, value: Any) -> bool:
        return value in self.values

    def describe(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values)


Count = Annotated[int, Range(1)]  # iterations, batch sizes, widths: >= 1
Steps = Annotated[int, Range(0)]  # a cadence where 0 means "never / only at the end"
Seed = Annotated[int, Range(0, 2**32 - 1)]  # numpy's SeedSequence takes non-negative ints
Positive = Annotated[float, Range(0, open_low=True)]  # learning rates, weights, widths
NonNegative = Annotated[float, Range(0)]
Probability = Annotated[float, Range(0, 1)]
Device = Annotated[str, Pattern(r"auto|cpu|cuda(:\d+)?", "auto, cpu, cuda or cuda:<index>")]
Widths = Annotated[tuple[int, ...], Each(Range(1))]
FrameRange = Annotated[tuple[int, int], Ordered(1, 1000)]  # crop lengths, log-mel frames
Betas = Annotated[tuple[float, float], Each(Range(0, 1, open_high=True))]


class Section:
    """Base of every params section: checks each field against its ``Annotated`` constraint."""

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self), include_extras=True)
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            for check in _constraints(hints[f.name]):
                if value is not None and not check.allows(value):
                    raise FieldError(f.name, value, check.describe())


def _constraints(tp: Any) -> list[Any]:
    """The constraints of a field type: ``Annotated`` metadata and ``Literal`` choices (also
    inside ``X | None``)."""
    if typing.get_origin(tp) is Annotated:
        return list(tp.__metadata__)
    if typing.get_origin(tp) is Literal:
        return [Choice(typing.get_args(tp))]
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return [c for option in typing.get_args(tp) for c in _constraints(option)]
    return []


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(value: Any, tp: Any, key: str, source: str) -> Any:
    """Check ``value`` against type ``tp`` and convert containers; raise ConfigError."""
    origin = typing.get_origin(tp)
    if origin is Annotated:
        return _convert(value, typing.get_args(tp)[0], key, source)  # ranges: Section checks
    if dataclasses.is_dataclass(tp):
        return build(tp, value, key, source)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        for option in (o for o in options if o is not type(None)):
            try:
                return _convert(value, option, key, source)
            except ConfigError:
                continue
        raise ConfigError(f"{source}: {key} = {value!r} is not a {_type_name(tp)}")
    if origin is Literal:
        if value not in typing.get_args(tp):
            choices = ", ".join(repr(c) for c in typing.get_args(tp))
            raise ConfigError(f"{source}: {key} = {value!r}; expected one of {choices}")
        return value
    if origin in (tuple, list):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{source}: {key} must be a list, got {value!r}")
        args = typing.get_args(tp) or (Any,)
        if origin is tuple and len(args) > 1 and args[1] is not Ellipsis:
            if len(value) != len(args):
                raise ConfigError(f"{source}: {key} = {value!r} must have {len(args)} items")
            item_types = list(args)
        else:
            item_types = [args[0]] * len(value)
        items = [
            _convert(v, t, f"{key}[{i}]", source)
            for i, (v, t) in enumerate(zip(value, item_types, strict=True))
        ]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: {key} must be a mapping, got {value!r}")
        _, val_tp = typing.get_args(tp)
        return {k: _convert(v, val_tp, f"{key}.{k}", source) for k, v in value.items()}
    if tp is Any:
        return value
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (int, float) and isinstance(value, bool):
        raise ConfigError(f"{source}: {key} = {value!r} must be a {tp.__name__}, not a bool")
    if not isinstance(value, tp):
        raise ConfigError(
            f"{source}: {key} = {value!r} must be a {tp.__name__}, got {type(value).__name__}"
        )
    return value


def build(cls: type, data: Any, prefix: str, source: str) -> Any:
    """A ``cls`` dataclass from a mapping; every error names ``source`` and the dotted key."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: {prefix or 'the top level'} must be a mapping")
    hints = typing.get_type_hints(cls, include_extras=True)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names, key=str)
    if unknown:
        dotted = ", ".join(f"{prefix}.{k}" if prefix else str(k) for k in unknown)
        raise ConfigError(f"{source}: unknown key(s) {dotted}; known: {', '.join(sorted(names))}")
    kwargs = {
        name: _convert(value, hints[name], f"{prefix}.{name}" if prefix else name, source)
        for name, value in data.items()
    }
    dotted = f"{prefix}." if prefix else ""
    try:
        return cls(**kwargs)
    except FieldError as error:
        raise ConfigError(f"{source}: {dotted}{error}") from error
    except ValueError as error:  # a section's own cross-field checks
        raise ConfigError(f"{source}: {dotted.rstrip('.') or 'params'}: {error}") from error


def as_dict(obj: Any) -> Any:
    """A plain, YAML/JSON-serialisable copy of a params dataclass (for checkpoints)."""
    if dataclasses.is_dataclass(obj):
        return {f.name: as_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, tuple | list):
        return [as_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: as_dict(v) for k, v in obj.items()}
    return obj
