"""The data of a model card (``model_card.render_card``), gathered from a model folder and what is known of it.

``build_card`` joins: the folder's own settings (dimension, pooling, prefixes, ``gtekit_config.json``),
``merge.json`` when ``gtekit merge`` wrote the folder, a run summary when a training run made it (a plain
dict: ``gtekit.training.run_summary``), evaluation results files (``gtekit eval -o``: ``{model, tasks}``
or a list of them) and, for what nothing else tells, the folder's current card (``base_model``,
``datasets``), so regenerating a card never loses them.

``base_model`` is a Hugging Face hub id: a bundled model is named by its hub id, a local folder by the
``base_model`` of its own card (the hub model it descends from), and otherwise only described.

Depends on ``model_card`` and ``model_files``; reads JSON, never weights.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from .model_card import read_front_matter
from .model_files import BUNDLED_MODELS, ST_PREFIX, read_settings

MERGE_FILE = "merge.json"  # written by weight_merge.merge_models
# sentence-transformers models gtekit names without their prefix: the bundled one, and embedder.CONVERTED_MODELS
SENTENCE_TRANSFORMERS_MODELS = (*BUNDLED_MODELS, "paraphrase-MiniLM-L3-v2")
NOT_METRICS = ("main_score", "evaluation_time")


def build_card(folder: str | Path, *, name: str | None = None, model_id: str | None = None,
               run: dict[str, Any] | None = None, results: list[dict[str, Any]] | None = None,
               base_model: str | None = None, merge: dict[str, Any] | None = None,
               inherited: dict[str, Any] | None = None) -> dict[str, Any]:
    """The card data of the model in ``folder`` (see the module docstring). ``name``: the card's title and
    model-index name (default: the folder's name); ``model_id``: what its code samples load (default:
    ``name``); ``base_model``: the model training started from, instead of what the run or merge says;
    ``inherited``: front matter to fall back on (default: the folder's current card)."""
    folder = Path(folder)
    inherited = read_front_matter(folder) if inherited is None else inherited
    merge = merge if merge is not None else _read_json(folder / MERGE_FILE)
    card: dict[str, Any] = {"name": name or folder.resolve().name, "model": model_facts(folder)}
    if model_id:
        card["model_id"] = model_id
    start = base_model or (run or {}).get("start_model") or (merge or {}).get("start")
    if run and run.get("random_init") and not base_model:
        card["base_model"] = None
        card["base_model_note"] = f"random initialisation (the tokenizer of `{start}`)"
    elif start:
        card["base_model"], card["base_model_note"] = resolve_base_model(str(start))
    else:
        card["base_model"] = inherited.get("base_model")
    if run:
        card["training"] = {**run.get("training", {}), "run_dir": run.get("run_dir")}
        card["sources"] = run.get("sources") or []
        card["validation"] = run.get("validation")
    if merge:
        card["merge"] = {key: merge.get(key) for key in ("start", "trained", "weight")}
    if not card.get("sources") and isinstance(inherited.get("datasets"), list):
        card["datasets"] = [str(dataset) for dataset in inherited["datasets"]]
    card["results"] = results or []
    return card


def model_facts(folder: Path) -> dict[str, Any]:
    """Dimension, max length, pooling, normalisation and prefixes of the model folder."""
    settings = read_settings(folder)
    config = _read_json(folder / "config.json") or {}
    return {"dimension": config.get("hidden_size", "?"), "max_seq_length": settings.max_seq_length,
            "pooling": settings.pooling, "normalize": settings.normalize,
            "query_prefix": settings.query_prefix, "document_prefix": settings.document_prefix}


def resolve_base_model(name: str) -> tuple[str | None, str | None]:
    """(hub id or None, a note on where training started when that is not just the hub id)."""
    short = name.removeprefix(ST_PREFIX)
    if short in SENTENCE_TRANSFORMERS_MODELS:
        return ST_PREFIX + short, None
    path = Path(name).expanduser()
    if path.is_dir():
        return read_front_matter(path).get("base_model"), f"local folder `{name}`"
    if not name.startswith((".", "/", "~")) and name.count("/") <= 1:
        return name, None
    return None, f"`{name}`"


def load_results(paths: list[str | Path], folder: str | Path) -> list[dict[str, Any]]:
    """The results of the model in ``folder`` from evaluation results files, one row per task (a later file
    wins for a task in two): ``{task, type, split, main_score, metrics}``. A file with several models must
    name this one (its path or folder name); otherwise the error lists the models it holds."""
    rows: dict[str, dict[str, Any]] = {}
    for path in paths:
        data = _read_json(Path(path))
        if data is None:
            raise FileNotFoundError(f"results file {path} does not exist")
        entry = _entry_for(data if isinstance(data, list) else [data], Path(folder), Path(path))
        for task, scores in entry["tasks"].items():
            if isinstance(scores, dict) and _number(scores.get("main_score")):
                rows[task] = {"task": task, "type": scores.get("type", ""), "split": scores.get("split", "test"),
                              "main_score": float(scores["main_score"]),
                              "metrics": {key: float(value) for key, value in scores.items()
                                          if key not in NOT_METRICS and _number(value)}}
    return list(rows.values())


def _entry_for(entries: list[Any], folder: Path, path: Path) -> dict[str, Any]:
    valid = [entry for entry in entries if isinstance(entry, dict) and isinstance(entry.get("tasks"), dict)]
    if not valid:
        raise ValueError(f"{path}: not a gtekit results file ({{\"model\": ..., \"tasks\": {{...}}}} or a list)")
    if len(valid) == 1:
        return valid[0]
    for entry in valid:
        model = str(entry.get("model", ""))
        if model == folder.name or (Path(model).exists() and Path(model).resolve() == folder.resolve()):
            return entry
    names = ", ".join(str(entry.get("model")) for entry in valid)
    raise ValueError(f"{path} holds results of several models ({names}) and none is {folder}")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error.msg} at line {error.lineno})") from None


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
