"""What a run folder says about the model it trained, as plain data for its model card.

A run folder holds ``recipe.yaml`` (the settings), ``train_log.jsonl`` (every step and validation) and
``sources.json``, written by the trainer when the run starts::

    {"sources": [{"name": "gcide", "path": "data/mix/manifest.json", "count": 105000,
                  "kind": "knowledge_base", "licence": "GPL-3.0-or-later (...)",
                  "provenance": {"package": "...", "version": "...", "files": "...", "reader": "gcide"}},
                 {"name": "qa", "path": "data/qa.jsonl", "count": 5000}, ...]}

``count`` is the pairs a source holds; ``kind``, ``licence`` and ``provenance`` come from a built mixture's
``manifest.json`` (``gtekit.data.manifest``) and are absent for a plain pair file. A ``replay:`` name is a
``data.replay`` source. ``run_summary`` joins the three into the dict ``gtekit.model.model_card`` renders:
the recipe's training settings, per source its pairs, licence, steps drawn and mean loss, and the best
validation. A run without ``sources.json`` (started by an older gtekit) falls back to the mixtures'
manifests and to the source names in the log.

Depends on yaml, ``train_log``, ``run_folder``, ``gtekit.data.manifest`` and ``gtekit.io.atomic``; not on torch.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import yaml

from ..data.manifest import MANIFEST_NAME
from ..io.atomic import atomic_path
from .run_folder import RECIPE_FILE, SOURCES_FILE
from .train_log import LOG_FILE, read_log

MANIFEST_FIELDS = ("kind", "licence", "provenance")  # what sources.json keeps of a manifest entry
TRAINING_FIELDS = {  # card field -> (recipe section, key)
    "loss": ("loss", "name"), "temperature": ("loss", "temperature"), "batch_size": ("train", "batch_size"),
    "lr": ("train", "lr"), "warmup_ratio": ("train", "warmup_ratio"), "weight_decay": ("train", "weight_decay"),
    "max_seq_length": ("model", "max_seq_length"), "negatives_per_query": ("data", "negatives_per_query"),
    "alpha": ("data", "alpha"), "chunk_size": ("train", "chunk_size"), "bf16": ("train", "bf16"),
    "seed": ("train", "seed"), "distill_teacher": ("loss", "distill_teacher"),
}


def source_facts(sources: list) -> list[dict[str, Any]]:
    """``sources.json``'s entries for the loaded training sources (``gtekit.data.pairs.load_sources``)."""
    facts = []
    for source in sources:
        metadata = getattr(source, "metadata", None) or {}
        facts.append({"name": source.name, "path": str(source.path), "count": int(sum(source.shard_sizes)),
                      **{key: metadata[key] for key in MANIFEST_FIELDS if key in metadata}})
    return facts


def write_sources_file(output_dir: Path, sources: list) -> Path:
    """Write ``output_dir/sources.json`` (atomically) for ``sources``."""
    path = Path(output_dir) / SOURCES_FILE
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps({"sources": source_facts(sources)}, indent=2) + "\n", encoding="utf-8")
    return path


def run_summary(run_dir: str | Path) -> dict[str, Any]:
    """The card data of the run in ``run_dir`` (see the module docstring): ``start_model`` (the model it
    started from), ``random_init``, ``training`` (settings, steps trained and planned, final loss),
    ``sources`` and ``validation`` (None when the run did not validate). Raises FileNotFoundError when the
    folder holds neither a recipe nor a log."""
    run_dir = Path(run_dir)
    if not (run_dir / RECIPE_FILE).is_file() and not (run_dir / LOG_FILE).is_file():
        raise FileNotFoundError(f"{run_dir} is not a training run folder (no {RECIPE_FILE}, no {LOG_FILE})")
    recipe = _read_recipe(run_dir / RECIPE_FILE)
    records = read_log(run_dir / LOG_FILE)
    steps = [record for record in records if "source" in record and isinstance(record.get("step"), int)]
    training: dict[str, Any] = {key: recipe.get(section, {}).get(name) for key, (section, name)
                                in TRAINING_FIELDS.items() if recipe.get(section, {}).get(name) is not None}
    training["steps"] = steps[-1]["step"] if steps else 0
    training["planned_steps"] = recipe.get("train", {}).get("steps")
    losses = [record["loss"] for record in steps[-20:] if _number(record.get("loss"))]
    if losses:
        training["final_loss"] = round(sum(losses) / len(losses), 4)  # mean over the last (up to) 20 steps
    model = recipe.get("model", {})
    return {"run_dir": str(run_dir), "start_model": model.get("name"), "random_init": bool(model.get("random_init")),
            "training": training, "sources": _sources(run_dir, recipe, steps), "validation": _validation(records)}


def _read_recipe(path: Path) -> dict[str, Any]:
    try:
        recipe = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except yaml.YAMLError as error:
        raise ValueError(f"{path}: not valid YAML ({error})") from None
    return recipe if isinstance(recipe, dict) else {}


def _sources(run_dir: Path, recipe: dict[str, Any], steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every source with what the log says of it: steps drawn, pairs trained on, mean loss."""
    facts = _source_file(run_dir / SOURCES_FILE)
    if facts is None:
        data = recipe.get("data", {})
        facts = [entry for location in [*data.get("sources", []), *data.get("replay", [])]
                 for entry in _manifest_sources(Path(location))]
    by_name = {entry["name"]: dict(entry) for entry in facts}
    batch = recipe.get("train", {}).get("batch_size")
    for record in steps:
        entry = by_name.setdefault(record["source"], {"name": record["source"]})
        entry["steps"] = entry.get("steps", 0) + 1
        if _number(record.get("loss")):
            entry["loss_total"] = entry.get("loss_total", 0.0) + record["loss"]
    for entry in by_name.values():
        entry.setdefault("steps", 0)
        if isinstance(batch, int):
            entry["pairs_trained"] = entry["steps"] * batch
        total = entry.pop("loss_total", None)
        if total is not None:
            entry["mean_loss"] = round(total / entry["steps"], 4)
    return list(by_name.values())


def _source_file(path: Path) -> list[dict[str, Any]] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error.msg} at line {error.lineno})") from None
    entries = data.get("sources") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not all(isinstance(e, dict) and isinstance(e.get("name"), str)
                                                for e in entries):
        raise ValueError(f"{path}: expected {{\"sources\": [{{\"name\": ..., ...}}, ...]}}")
    return entries


def _manifest_sources(location: Path) -> list[dict[str, Any]]:
    """The entries of a mixture's manifest as ``sources.json`` records them; none for a pair file."""
    manifest = location if location.name == MANIFEST_NAME else location / MANIFEST_NAME
    try:
        entries = json.loads(manifest.read_text(encoding="utf-8")).get("sources", [])
    except (OSError, ValueError, AttributeError):
        return []
    return [{"name": entry["name"], "path": str(manifest), "count": entry.get("count"),
             **{key: entry[key] for key in MANIFEST_FIELDS if key in entry}}
            for entry in entries if isinstance(entry, dict) and isinstance(entry.get("name"), str)]


def _validation(records: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The best validation of the run: its step, scores and mean (the one ``best_model`` holds)."""
    scored = [record for record in records if isinstance(record.get("validation"), dict)
              and _number(record.get("validation_mean"))]
    if not scored:
        return None
    best = max(scored, key=lambda record: record["validation_mean"])  # the first of equal means, as training keeps
    return {"step": best["step"], "scores": best["validation"], "mean": best["validation_mean"],
            "validations": len(scored)}


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
