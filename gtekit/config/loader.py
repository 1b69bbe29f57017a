"""The one loader of gtekit's YAML files: the training recipe (``recipe``), the stages of a pipeline
(``gtekit.pipeline``) and a data mixture (``gtekit.data.mixture``) are all read through it.

- :func:`read_yaml`: ``yaml.safe_load`` of a file (plain values only); a missing file or broken YAML is a
  :class:`ConfigError` naming the file (for broken YAML, also PyYAML's line and column);
- :func:`apply_override`: one dotted ``section.key=value`` override, its value parsed as YAML;
- :func:`from_dict`: a dataclass from a mapping, checking every key (an unknown key lists the valid ones),
  every type, every enumerated option (an ``enum.Enum`` field gets the member its string names:
  :func:`parse_choice`) and every numeric range (:func:`ranged`). Errors name the file and the dotted field;
- :func:`plain_dict`: a dataclass back to the plain values YAML and JSON write (enum members as strings);
- :func:`matches_path`: whether a data path or glob names anything from the working directory (the loaders
  take one that does not relative to the file that names it).

Depends on PyYAML only: nothing else in gtekit.
"""

from __future__ import annotations

import dataclasses
import enum
import glob
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

Choice = TypeVar("Choice", bound=enum.Enum)


class ConfigError(ValueError):
    """A configuration that cannot be used: unknown key, wrong type, bad value."""


def read_yaml(path: str | Path, what: str = "recipe") -> Any:
    """The content of the YAML file at ``path`` (None when it is empty); ``what`` names the kind of file in the
    error for a missing one."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{what} file {path} does not exist") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from None


def apply_override(data: dict[str, Any], override: str) -> None:
    """Set ``a.b.c=value`` in a nested dict; the value is parsed as YAML (``1e-4``, ``true``, ``[a, b]``)."""
    key, sep, raw = override.partition("=")
    if not sep or not key:
        raise ConfigError(f"override {override!r} is not of the form section.key=value")
    *parents, leaf = key.split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {override!r}: {part!r} is not a section")
    node[leaf] = yaml.safe_load(raw) if raw.strip() else ""


def parse_choice(key: str, value: Any, choices: type[Choice], what: str = "value") -> Choice:
    """The member of enum ``choices`` that ``value`` is or names; anything else is a ConfigError naming ``key``
    and listing the valid values."""
    if isinstance(value, choices):
        return value
    try:
        return choices(value)
    except (ValueError, TypeError):
        valid = ", ".join(str(choice.value) for choice in choices)
        raise ConfigError(f"{key}: unknown {what} {value!r}; valid: {valid}") from None


# ------------------------------------------------------------------------------ numeric ranges
@dataclass(frozen=True)
class Range:
    """The values a numeric field allows: ``low <= x <= high`` (``<`` where open); None: unbounded."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False  # low < x instead of low <= x
    high_open: bool = False  # x < high instead of x <= high
    note: str = ""  # what the bounds or special values mean, e.g. "0: never"

    def contains(self, value: float) -> bool:
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or (value < self.high if self.high_open else value <= self.high)

    def describe(self) -> str:
        """``>= 1``, ``> 0``, ``in [0, 1]``, ``in [0, 1)``."""
        low, high = _number(self.low), _number(self.high)
        if self.high is None:
            return f"{'>' if self.low_open else '>='} {low}"
        if self.low is None:
            return f"{'<' if self.high_open else '<='} {high}"
        return f"in {'(' if self.low_open else '['}{low}, {high}{')' if self.high_open else ']'}"


def _number(value: float | None) -> str:
    return str(int(value)) if value is not None and float(value).is_integer() else str(value)


def ranged(default: Any, allowed: Range) -> Any:
    """A dataclass field with ``default`` whose values must lie in ``allowed`` (checked by ``check_ranges``)."""
    return field(default=default, metadata={"range": allowed})


AT_LEAST_0 = Range(0)
AT_LEAST_1 = Range(1)
POSITIVE = Range(0, low_open=True)
SHARE = Range(0, 1)


def check_number(key: str, value: Any, allowed: Range) -> None:
    """Raise a ConfigError naming ``key`` and the allowed range unless ``value`` is a finite number in it."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{key} must be a finite number {allowed.describe()}, got {value}")
    if not allowed.contains(value):
        note = f" ({allowed.note})" if allowed.note else ""
        raise ConfigError(f"{key} must be {allowed.describe()}{note}, got {value}")


def check_ranges(config: Any, section: str) -> None:
    """Check every field of dataclass ``config`` that declares a range; ``section`` prefixes the names."""
    for f in dataclasses.fields(config):
        allowed = f.metadata.get("range")
        value = getattr(config, f.name)
        if allowed is not None and value is not None:
            check_number(f"{section}.{f.name}", value, allowed)


# ------------------------------------------------------------------------------ mappings -> dataclasses
def from_dict(cls: type, data: Any, *, where: str = "recipe", prefix: str = "") -> Any:
    """Build dataclass ``cls`` from a dict, checking every key, type, enumerated option and range; an error
    names ``where`` (the file, or the file and the part of it) and the dotted key, after ``prefix``."""
    try:
        return _build(cls, data, prefix)
    except ConfigError as error:
        raise ConfigError(f"{where}: {error}") from None


def _build(cls: type, data: Any, prefix: str) -> Any:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'recipe'} must be a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    values = {}
    for key, value in data.items():
        if key not in names:
            raise ConfigError(f"unknown key {prefix + str(key)!r}; valid keys"
                              f"{' in ' + repr(prefix.rstrip('.')) if prefix else ''}: {', '.join(names)}")
        values[key] = _convert(hints[key], value, prefix + key)
    return cls(**values)  # a dataclass's own checks (__post_init__) raise ConfigErrors too


def _convert(hint: Any, value: Any, key: str) -> Any:
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, key + ".")
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        if issubclass(hint, str) and not isinstance(value, str):  # a StrEnum's value is written as a string
            raise _type_error(key, "str", value)
        return parse_choice(key, value, hint)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in args:
            return None
        (inner,) = [arg for arg in args if arg is not type(None)]
        return _convert(inner, value, key)
    if origin is list:
        if not isinstance(value, list):
            raise _type_error(key, f"list of {args[0].__name__}", value)
        return [_convert(args[0], item, f"{key}[{i}]") for i, item in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise _type_error(key, "mapping", value)
        return {_convert(args[0], k, key): _convert(args[1], v, f"{key}.{k}") for k, v in value.items()}
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, str):  # YAML 1.1 reads "1e-4" as a string
        try:
            return float(value)
        except ValueError:
            pass
    if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise _type_error(key, hint.__name__, value)
    return value


def _type_error(key: str, expected: str, value: Any) -> ConfigError:
    return ConfigError(f"{key}: expected {expected}, got {value!r} ({type(value).__name__})")


def plain_dict(config: Any) -> dict[str, Any]:
    """``dataclasses.asdict(config)`` with every enum member as its value: the plain values YAML and JSON write."""
    return dataclasses.asdict(config, dict_factory=lambda items: {key: _plain(value) for key, value in items})


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def matches_path(path: str | Path) -> bool:
    """Whether ``path`` (a file, a folder or a glob pattern) names anything from the working directory."""
    path = str(path)
    if any(c in path for c in "*?["):
        return bool(glob.glob(path))
    return Path(path).exists()
