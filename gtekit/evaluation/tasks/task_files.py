"""Tasks defined by local files: a BEIR folder, or a small YAML/JSON file pointing at JSONL/CSV/TSV.

Users bring MTEB/BEIR data they downloaded; nothing here touches the network. A task file:

    name: MyPairs
    type: PairClassification          # STS | PairClassification | Classification | Clustering |
                                      # Reranking | ZeroShotClassification | CodeSearch | Retrieval | Summarization
    license: CC-BY-4.0
    data: {path: pairs.csv, text1: sentence1, text2: sentence2, label: is_duplicate}

Paths are relative to the task file. Errors name the file, the line and the column.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from .beir import json_rows, load_beir
from .task_types import (
    TASK_TYPES,
    ClassificationTask,
    CodeSearchData,
    LabelledSplits,
    LabelledTexts,
    RerankingData,
    SentencePairs,
    SummarizationData,
    Task,
    TaskInfo,
    ZeroShotData,
)

TABLE_SUFFIXES = (".jsonl", ".jsonl.gz", ".csv", ".tsv")


class TaskFileError(ValueError):
    """A task definition or one of its data files that cannot be used."""


def beir_task(folder: Path, split: str = "test") -> Task:
    """A BEIR folder as a retrieval task named after the folder."""
    info = TaskInfo(name=folder.name, type="Retrieval", description=f"BEIR folder {folder} ({split})",
                    source=str(folder), license="see the dataset", split=split)
    data = load_beir(folder, split)  # read now, so a bad folder fails before any model runs
    return TASK_TYPES["Retrieval"](info, lambda: data)


def load_task_file(path: Path) -> Task:
    """Build the task a YAML/JSON file describes; its data are read and checked at once."""
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TaskFileError(f"task file {path} does not exist") from None
    except yaml.YAMLError as error:
        raise TaskFileError(f"{path}: not valid YAML/JSON: {error}") from None
    if not isinstance(spec, dict):
        raise TaskFileError(f"{path}: a task file is a mapping with name, type and data")
    kind = _required(spec, "type", path)
    if kind not in TASK_TYPES:
        raise TaskFileError(f"{path}: unknown task type {kind!r}; valid: {', '.join(TASK_TYPES)}")
    base = path.parent
    info = TaskInfo(name=str(spec.get("name") or path.stem), type=kind,
                    description=str(spec.get("description", f"local task {path}")), source=str(path),
                    license=str(spec.get("license", "unknown")), split=str(spec.get("split", "test")))
    if kind == "Retrieval":
        return beir_task(base / _required(spec, "beir", path), info.split)
    data = _LOADERS[kind](spec, base, path)
    if kind == "Classification":
        return ClassificationTask(info, lambda: data, n_experiments=int(spec.get("n_experiments", 10)),
                                  samples_per_label=int(spec.get("samples_per_label", 8)))
    return TASK_TYPES[kind](info, lambda: data)


# ------------------------------------------------------------------------------ per type
def _pairs(spec, base, path, target: str) -> SentencePairs:
    section = _section(spec, "data", path)
    t1, t2, y = (section.get(k, k) for k in ("text1", "text2", target))
    rows = read_table(base / _required(section, "path", path), [t1, t2, y], numbers=(y,))
    return SentencePairs([r[t1] for r in rows], [r[t2] for r in rows], np.asarray([r[y] for r in rows]))


def _labelled(section: dict, base: Path, path: Path) -> LabelledTexts:
    text, label = section.get("text", "text"), section.get("label", "label")
    rows = read_table(base / _required(section, "path", path), [text, label])
    return LabelledTexts([r[text] for r in rows], [str(r[label]) for r in rows])


def _classification(spec, base, path) -> LabelledSplits:
    train = _labelled(_section(spec, "train", path), base, path)
    test = _labelled(_section(spec, "test", path), base, path)
    return LabelledSplits(train.texts, train.labels, test.texts, test.labels)


def _reranking(spec, base, path) -> RerankingData:
    section = _section(spec, "data", path)
    q, pos, neg = (section.get(k, k) for k in ("query", "positive", "negative"))
    rows = read_table(base / _required(section, "path", path), [q, pos, neg], lists=(pos, neg))
    return RerankingData([r[q] for r in rows], [r[pos] + r[neg] for r in rows],
                         [[1] * len(r[pos]) + [0] * len(r[neg]) for r in rows])


def _zero_shot(spec, base, path) -> ZeroShotData:
    texts = _labelled(_section(spec, "data", path), base, path)
    label_texts = spec.get("label_texts") or {label: label for label in sorted(set(texts.labels))}
    missing = sorted(set(texts.labels) - set(map(str, label_texts)))
    if missing:
        raise TaskFileError(f"{path}: label_texts has no text for labels {missing}")
    return ZeroShotData(texts.texts, texts.labels, {str(k): str(v) for k, v in label_texts.items()})


def _code_search(spec, base, path) -> CodeSearchData:
    section = _section(spec, "data", path)
    q, code = section.get("query", "query"), section.get("code", "code")
    rows = read_table(base / _required(section, "path", path), [q, code])
    distractors = []
    if "distractors" in spec:
        extra = _section(spec, "distractors", path)
        column = extra.get("code", "code")
        distractors = [r[column] for r in read_table(base / _required(extra, "path", path), [column])]
    return CodeSearchData([r[q] for r in rows], [r[code] for r in rows], distractors)


def _summarization(spec, base, path) -> SummarizationData:
    section = _section(spec, "data", path)
    m, h, s = (section.get(k, k) for k in ("machine_summaries", "human_summaries", "relevance"))
    rows = read_table(base / _required(section, "path", path), [m, h, s], lists=(m, h, s))
    return SummarizationData([r[m] for r in rows], [r[h] for r in rows], [[float(x) for x in r[s]] for r in rows])


_LOADERS = {
    "STS": lambda spec, base, path: _pairs(spec, base, path, "score"),
    "PairClassification": lambda spec, base, path: _pairs(spec, base, path, "label"),
    "Classification": _classification,
    "Clustering": lambda spec, base, path: _labelled(_section(spec, "data", path), base, path),
    "Reranking": _reranking,
    "ZeroShotClassification": _zero_shot,
    "CodeSearch": _code_search,
    "Summarization": _summarization,
}


# ------------------------------------------------------------------------------ tables
def read_table(path: Path, columns: list[str], lists: tuple[str, ...] = (),
               numbers: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Rows of a JSONL(.gz)/CSV/TSV file with the named columns; texts must be non-empty strings,
    ``lists`` columns lists (JSONL only), ``numbers`` columns numbers (converted to float)."""
    if not path.is_file():
        raise TaskFileError(f"data file {path} does not exist")
    if not path.name.endswith(TABLE_SUFFIXES):
        raise TaskFileError(f"{path}: unsupported data file type; valid: {', '.join(TABLE_SUFFIXES)}")
    rows = []
    for line, row in _rows(path):
        for column in columns:
            if column not in row:
                raise TaskFileError(f"{path}:{line}: missing column {column!r} (columns: {', '.join(map(str, row))})")
            value = row[column]
            if column in lists:
                if not isinstance(value, list):
                    raise TaskFileError(f"{path}:{line}: column {column!r} must be a list, got {value!r}")
            elif isinstance(value, str) and not value.strip():
                raise TaskFileError(f"{path}:{line}: column {column!r} is empty")
            elif value is None:
                raise TaskFileError(f"{path}:{line}: column {column!r} is null")
            if column in numbers:
                try:
                    row[column] = float(value)
                except (TypeError, ValueError):
                    raise TaskFileError(f"{path}:{line}: column {column!r} must be a number, got {value!r}") from None
        rows.append(row)
    if not rows:
        raise TaskFileError(f"{path}: no rows")
    return rows


def _rows(path: Path) -> Iterator[tuple[int, dict]]:
    try:
        if path.name.endswith((".jsonl", ".jsonl.gz")):
            yield from json_rows(path)
            return
        with open(path, encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle, delimiter="\t" if path.suffix == ".tsv" else ",")
            for row in reader:
                yield reader.line_num, row
    except UnicodeDecodeError as error:
        raise TaskFileError(f"{path}: not valid UTF-8 ({error.reason} at byte {error.start})") from None


def _section(spec: dict, key: str, path: Path) -> dict:
    section = spec.get(key)
    if not isinstance(section, dict):
        raise TaskFileError(f"{path}: missing section {key!r} (a mapping with path and column names)")
    return section


def _required(spec: dict, key: str, path: Path) -> Any:
    if key not in spec or spec[key] in (None, ""):
        raise TaskFileError(f"{path}: missing key {key!r}")
    return spec[key]
