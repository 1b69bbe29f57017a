"""The multi-stage recipe: stages declared in order in one YAML file, parsed and checked before anything runs.

``load_pipeline("recipes/multistage-example.yaml", ["pretrain.train.steps=2"])`` -> ``Pipeline``::

    output_dir: runs/multistage         # each stage writes to output_dir/<stage name>/
    stages:
      - name: corpus
        kind: data                      # `gtekit data build` of a mixture YAML (DataSettings)
        mixture: data/offline-mix.yaml
      - name: pretrain
        kind: train                     # data | train | mine | eval
        model: {name: all-MiniLM-L6-v2}  # a train stage is a training recipe: model, data, loss, train, eval
        data: {sources: [{from: corpus}]}   # = output_dir/corpus/mixture (a built mixture folder)
      - name: mine
        kind: mine                      # `gtekit mine` settings (MineSettings)
        model: {from: pretrain}         # = output_dir/pretrain/model
        pairs: [data/finetune.jsonl]
      - name: finetune
        kind: train
        model: {from: pretrain}         # shorthand for model: {name: {from: pretrain}}
        data: {sources: [{from: mine}], negatives_per_query: 15}   # = output_dir/mine/triples.jsonl
      - name: compare
        kind: eval                      # EvalSettings
        models: [all-MiniLM-L6-v2, {label: PT+FT, model: {from: finetune}}]
        tasks: [STSBenchmark]

``{from: STAGE}`` names the output of an earlier stage: a train stage's model folder (where a model
goes: ``model.name`` of a train stage, ``model`` of a mine stage, ``models[i].model`` of an eval
stage), a mine stage's ``triples.jsonl`` or a data stage's built mixture folder (where pair files go:
``data.sources`` of a train stage, ``pairs`` of a mine stage). A data stage's config hash includes the
content of its mixture YAML, so editing that file makes the stage (and those reading it) run again.
References are resolved to paths here; a stage's config hash (``Stage.config_hash``) records them as
``from:STAGE``, and its completion marker records which run of STAGE it read (``state``). Data files
(mixtures, sources, pairs, corpus, task files, BEIR folders) that do not exist from the working
directory are taken relative to the recipe file, as ``gtekit train`` does; model names and output
folders are relative to the working directory.

Depends on ``gtekit.config`` and the option types of ``gtekit.negatives``; running stages is ``stages``.
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from ..config import ConfigError, Recipe, apply_override, from_dict
from .settings import DataSettings, EvalSettings, MineSettings

STAGE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
TOP_LEVEL_KEYS = ("output_dir", "stages")
TRIPLES = "triples.jsonl"  # gtekit.negatives.mine.TRIPLES
MIXTURE = "mixture"  # the folder a data stage builds into its output_dir
MODEL = "model"  # the model folder a Trainer writes into train.output_dir


class StageKind(StrEnum):
    DATA = "data"
    TRAIN = "train"
    MINE = "mine"
    EVAL = "eval"


# what ``{from: STAGE}`` gives, by the referenced stage's kind
REFERENCE_GIVES = {StageKind.TRAIN: "a model folder", StageKind.MINE: "a pair file (triples.jsonl)",
                   StageKind.DATA: "a built mixture folder of pairs"}
PAIR_STAGES = (StageKind.MINE, StageKind.DATA)  # the stages whose output is pairs

# settings that say where and how a stage runs, not what it computes: left out of the config hash, so
# a finished stage stays finished on another device, with quieter logs, or with the run folder moved
UNHASHED_KEYS = {StageKind.TRAIN: ("train.output_dir", "train.device", "train.log_every", "train.data_workers",
                                   "train.prefetch"),
                 StageKind.MINE: ("output_dir", "device", "samples"), StageKind.EVAL: ("output_dir", "use_cache"),
                 StageKind.DATA: ("output_dir",)}
SLOT_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")  # "models[2].model" -> models, 2, model


@dataclass(frozen=True)
class Reference:
    """``{from: stage}`` at ``slot`` of a stage's settings, resolved to ``path``."""

    stage: str
    slot: str
    path: str


@dataclass
class Stage:
    name: str
    kind: StageKind
    settings: Recipe | DataSettings | MineSettings | EvalSettings
    output_dir: Path  # where the stage writes its outputs
    state_dir: Path  # <pipeline output_dir>/<name>: where its completion marker goes
    references: list[Reference] = field(default_factory=list)

    def outputs(self) -> dict[str, Path]:
        """What the stage leaves behind; the first is what ``{from: name}`` gives."""
        if self.kind is StageKind.TRAIN:
            return {"model": self.output_dir / MODEL, "checkpoints": self.output_dir / "checkpoints"}
        if self.kind is StageKind.MINE:
            return {"triples": self.output_dir / TRIPLES, "report": self.output_dir / "report.json"}
        if self.kind is StageKind.DATA:
            return {"mixture": self.output_dir / MIXTURE, "manifest": self.output_dir / MIXTURE / "manifest.json"}
        return {"results": self.output_dir / "results.json", "table": self.output_dir / "results.md"}

    def config(self) -> dict[str, Any]:
        """The resolved settings, every default filled in and every reference a path (and for a data stage,
        the hash of its mixture file's content)."""
        config = {"kind": self.kind.value, **dataclasses.asdict(self.settings)}
        if self.kind is StageKind.DATA:
            mixture = Path(self.settings.mixture)
            config["mixture_sha256"] = hashlib.sha256(mixture.read_bytes()).hexdigest() if mixture.is_file() else None
        return config

    def config_hash(self) -> str:
        return hashlib.sha256(json.dumps(hashed_config(self), sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class Pipeline:
    path: Path | None
    output_dir: Path
    stages: list[Stage]

    def stage(self, name: str) -> Stage:
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise ConfigError(f"{self.path or 'pipeline'}: no stage {name!r}; stages: {', '.join(self.names())}")

    def names(self) -> list[str]:
        return [stage.name for stage in self.stages]


def hashed_config(stage: Stage) -> dict[str, Any]:
    """``stage.config()`` with each reference as ``from:STAGE`` instead of its path and without its
    ``UNHASHED_KEYS``: what the stage computes. (Whether the stages it reads were rerun since is the
    business of the markers' run ids, see ``state``.)"""
    config = json.loads(json.dumps(stage.config()))
    for reference in stage.references:
        *parents, leaf = _slot_parts(reference.slot)
        node = config
        for part in parents:
            node = node[part]
        node[leaf] = f"from:{reference.stage}"
    for key in UNHASHED_KEYS[stage.kind]:
        *parents, leaf = key.split(".")
        node = config
        for part in parents:
            node = node[part]
        node.pop(leaf, None)
    return config


def _slot_parts(slot: str) -> list[str | int]:
    return [int(index) if index else key for key, index in SLOT_PART.findall(slot)]


# ------------------------------------------------------------------------------ loading
def load_pipeline(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Pipeline:
    """Read a multi-stage recipe and apply ``STAGE.KEY=VALUE`` (or ``output_dir=DIR``) overrides."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"recipe file {path} does not exist") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from None
    return pipeline_from_dict(data, where=str(path), base=path.parent, overrides=overrides, path=path)


def pipeline_from_dict(data: Any, *, where: str = "pipeline", base: Path | None = None,
                       overrides: list[str] | tuple[str, ...] = (), path: Path | None = None) -> Pipeline:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: a multi-stage recipe is a mapping with {' and '.join(TOP_LEVEL_KEYS)}")
    unknown = [key for key in data if key not in TOP_LEVEL_KEYS]
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; valid keys: {', '.join(TOP_LEVEL_KEYS)} (stage "
                          f"settings go inside a stage)")
    raw_stages = data.get("stages")
    if not isinstance(raw_stages, list) or not raw_stages:
        raise ConfigError(f"{where}: stages must be a non-empty list of stages, each with a name and a kind")
    stages = [_named_stage(raw, i, where) for i, raw in enumerate(raw_stages)]
    names = [name for name, _ in stages]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ConfigError(f"{where}: stage names must be unique; repeated: {', '.join(duplicates)}")
    top = {"output_dir": data.get("output_dir"), **dict(stages)}
    for override in overrides:
        _apply_stage_override(top, override, names, where)
    output_dir = top["output_dir"]
    if not isinstance(output_dir, str) or not output_dir:
        raise ConfigError(f"{where}: output_dir (a folder for the stages' outputs) is required")
    pipeline = Pipeline(path, Path(output_dir), [])
    for name in names:
        pipeline.stages.append(_build_stage(name, top[name], pipeline, names, where, base))
    folders = [stage.output_dir.resolve() for stage in pipeline.stages]
    shared = [stage.name for stage, folder in zip(pipeline.stages, folders, strict=True) if folders.count(folder) > 1]
    if shared:
        raise ConfigError(f"{where}: stages {', '.join(shared)} write to the same folder; give each its own")
    _check_task_names(pipeline, where)
    return pipeline


def _named_stage(raw: Any, index: int, where: str) -> tuple[str, dict]:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: stages[{index}] must be a mapping with name, kind and settings, got {raw!r}")
    name = raw.get("name")
    if not isinstance(name, str) or not STAGE_NAME.fullmatch(name) or name in TOP_LEVEL_KEYS:
        raise ConfigError(f"{where}: stages[{index}]: name must be letters, digits, '-' or '_' (no dots, not "
                          f"{' or '.join(TOP_LEVEL_KEYS)}), got {name!r}")
    kind = raw.get("kind")
    if kind not in set(StageKind):
        raise ConfigError(f"{where}: stage {name!r}: unknown kind {kind!r}; valid: "
                          f"{', '.join(k.value for k in StageKind)}")
    return name, dict(raw)


def _apply_stage_override(top: dict, override: str, names: list[str], where: str) -> None:
    key = override.partition("=")[0]
    head, _, rest = key.partition(".")
    if head == "output_dir" and not rest:
        apply_override(top, override)
        return
    if head not in names or not rest:
        raise ConfigError(f"override {override!r}: expected STAGE.KEY=VALUE (e.g. {names[0]}.train.steps=10) or "
                          f"output_dir=DIR; stages: {', '.join(names)}")
    if rest in ("name", "kind"):
        raise ConfigError(f"override {override!r}: a stage's {rest} cannot be overridden; edit {where}")
    apply_override(top[head], override[len(head) + 1:])


def _build_stage(name: str, raw: dict, pipeline: Pipeline, names: list[str], where: str,
                 base: Path | None) -> Stage:
    kind = StageKind(raw["kind"])
    settings = {key: value for key, value in raw.items() if key not in ("name", "kind")}
    context = _Context(pipeline, names, name, f"{where}: stage {name!r}", base)
    state_dir = pipeline.output_dir / name
    if kind is StageKind.TRAIN:
        recipe = _train_settings(settings, context, state_dir)
        return Stage(name, kind, recipe, Path(recipe.train.output_dir), state_dir, context.references)
    if kind is StageKind.DATA:
        data = _data_settings(settings, context)
        return Stage(name, kind, data, Path(data.output_dir or state_dir), state_dir, context.references)
    if kind is StageKind.MINE:
        mine = _mine_settings(settings, context)
        return Stage(name, kind, mine, Path(mine.output_dir or state_dir), state_dir, context.references)
    evaluation = _eval_settings(settings, context)
    return Stage(name, kind, evaluation, Path(evaluation.output_dir or state_dir), state_dir, context.references)


@dataclass
class _Context:
    """What resolving one stage's references and paths needs."""

    pipeline: Pipeline
    names: list[str]
    stage: str
    where: str
    base: Path | None
    references: list[Reference] = field(default_factory=list)

    def reference(self, value: Any, slot: str, wanted: StageKind | tuple[StageKind, ...]) -> Any:
        """``{from: STAGE}`` -> the path of that earlier stage's output; any other value is returned as is."""
        if not (isinstance(value, dict) and "from" in value):
            return value
        if set(value) != {"from"}:
            raise ConfigError(f"{self.where}: {slot}: a reference is {{from: STAGE}} alone, got {value!r}")
        target = value["from"]
        if target not in self.names:
            raise ConfigError(f"{self.where}: {slot} refers to unknown stage {target!r}; stages: "
                              f"{', '.join(self.names)}")
        earlier = {stage.name: stage for stage in self.pipeline.stages}
        if target not in earlier:
            when = "itself" if target == self.stage else f"stage {target!r}, which comes later"
            raise ConfigError(f"{self.where}: {slot} refers to {when}; a stage can only use the outputs of the "
                              f"stages before it")
        stage = earlier[target]
        wanted = wanted if isinstance(wanted, tuple) else (wanted,)
        if stage.kind not in wanted:
            gives = REFERENCE_GIVES.get(stage.kind, "no file to use")
            needs = " or ".join(f"{REFERENCE_GIVES[kind]} (a {kind.value} stage)" for kind in wanted)
            raise ConfigError(f"{self.where}: {slot} needs {needs}, but {target!r} is a {stage.kind.value} stage "
                              f"({gives})")
        path = str(next(iter(stage.outputs().values())))
        self.references.append(Reference(target, slot, path))
        return path

    def data_file(self, value: Any, slot: str, wanted: StageKind | tuple[StageKind, ...] | None = None) -> Any:
        """A reference's path; or a data path, from the recipe's folder if it matches nothing from the working
        directory."""
        if wanted is not None and isinstance(value, dict):
            return self.reference(value, slot, wanted)
        if not isinstance(value, str) or self.base is None or Path(value).is_absolute() or matches_path(value):
            return value
        return os.path.normpath(self.base / value)

    def build(self, cls: type, settings: dict) -> Any:
        return from_dict(cls, settings, where=self.where)


def _train_settings(settings: dict, context: _Context, state_dir: Path) -> Recipe:
    model = settings.get("model")
    if isinstance(model, dict) and "from" in model:  # model: {from: pretrain, ...} is model.name: {from: pretrain}
        if "name" in model:
            raise ConfigError(f"{context.where}: model has both name and from; give one")
        model = {key: value for key, value in model.items() if key != "from"} | {"name": {"from": model["from"]}}
    if isinstance(model, dict):
        settings["model"] = model | {"name": context.reference(model.get("name"), "model.name", StageKind.TRAIN)}
        if settings["model"]["name"] is None:
            del settings["model"]["name"]
    data = settings.get("data")
    if isinstance(data, dict) and isinstance(data.get("sources"), list):
        settings["data"] = data | {"sources": [
            context.data_file(source, f"data.sources[{i}]", PAIR_STAGES)
            for i, source in enumerate(data["sources"])]}
    train = settings.get("train")
    if train is None or isinstance(train, dict):
        settings["train"] = {"output_dir": str(state_dir), **(train or {})}
    return context.build(Recipe, settings)


def _data_settings(settings: dict, context: _Context) -> DataSettings:
    settings["mixture"] = context.data_file(settings.get("mixture", ""), "mixture")
    data = context.build(DataSettings, settings)
    if not data.mixture:
        raise ConfigError(f"{context.where}: mixture is required (a mixture YAML, e.g. "
                          f"recipes/data/offline-mix.yaml)")
    if data.rows_per_shard is not None and data.rows_per_shard < 1:
        raise ConfigError(f"{context.where}: rows_per_shard must be at least 1, got {data.rows_per_shard}")
    return data


def _mine_settings(settings: dict, context: _Context) -> MineSettings:
    settings["model"] = context.reference(settings.get("model", ""), "model", StageKind.TRAIN)
    pairs = settings.get("pairs", [])
    if isinstance(pairs, str) or (isinstance(pairs, dict) and "from" in pairs):
        pairs = [pairs]
    if isinstance(pairs, list):
        pairs = [context.data_file(item, f"pairs[{i}]", PAIR_STAGES)
                 for i, item in enumerate(pairs)]
    settings["pairs"] = pairs
    if "corpus" in settings:
        settings["corpus"] = context.data_file(settings["corpus"], "corpus")
    mine = context.build(MineSettings, settings)
    if not mine.model:
        raise ConfigError(f"{context.where}: model is required (a model name or {{from: TRAIN_STAGE}})")
    if not mine.pairs:
        raise ConfigError(f"{context.where}: pairs is required (pair files, or {{from: MINE_STAGE | DATA_STAGE}})")
    try:  # the checks `gtekit mine` makes, now rather than after the stages before it
        mine.rules(), mine.search()
    except ValueError as error:
        raise ConfigError(f"{context.where}: {error}") from None
    return mine


def _eval_settings(settings: dict, context: _Context) -> EvalSettings:
    models = settings.get("models", [])
    if isinstance(models, list):
        settings["models"] = [_eval_model(item, i, context) for i, item in enumerate(models)]
    for key in ("task_files", "beir"):
        if isinstance(settings.get(key), list):
            settings[key] = [context.data_file(item, f"{key}[{i}]") for i, item in enumerate(settings[key])]
    evaluation = context.build(EvalSettings, settings)
    if not evaluation.models:
        raise ConfigError(f"{context.where}: models is required: names, {{from: TRAIN_STAGE}} or {{label, model}}")
    missing = [f"models[{i}]" for i, model in enumerate(evaluation.models) if not model.model]
    if missing:
        raise ConfigError(f"{context.where}: {missing[0]}: model is required (a name or {{from: TRAIN_STAGE}})")
    labels = [model.label for model in evaluation.models]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise ConfigError(f"{context.where}: model labels must be unique; repeated: {', '.join(repeated)} "
                          f"(give each a label)")
    if not (evaluation.tasks or evaluation.suite or evaluation.task_files or evaluation.beir):
        raise ConfigError(f"{context.where}: nothing to evaluate: give tasks, suite, task_files or beir")
    return evaluation


def _eval_model(item: Any, index: int, context: _Context) -> Any:
    slot = f"models[{index}]"
    if isinstance(item, str) or (isinstance(item, dict) and set(item) == {"from"}):
        item = {"model": item}
    if not isinstance(item, dict):
        return item  # from_dict names the type error
    model = item.get("model")
    label = item.get("label") or (model["from"] if isinstance(model, dict) and "from" in model else model)
    resolved = item | {"model": context.reference(model, f"{slot}.model", StageKind.TRAIN)}
    return resolved | ({"label": label} if label is not None else {})


def _check_task_names(pipeline: Pipeline, where: str) -> None:
    """The task and suite names of every stage: a train stage's eval.tasks and data.guard_tasks, an eval stage's
    tasks and suite. Checked after every stage's own settings, since the task registry imports the evaluation
    libraries (seconds): a typo anywhere else is reported first, and fast."""
    named = []  # (stage, key, names, whether suite names are valid, whether task names are)
    for stage in pipeline.stages:
        settings = stage.settings
        if stage.kind is StageKind.TRAIN:
            named += [(stage.name, "eval.tasks", settings.eval.tasks, False, True),
                      (stage.name, "data.guard_tasks", settings.data.guard_tasks, True, True)]
        elif stage.kind is StageKind.EVAL:
            named += [(stage.name, "tasks", settings.tasks, False, True),
                      (stage.name, "suite", [settings.suite] if settings.suite is not None else [], True, False)]
    if not any(names for _, _, names, _, _ in named):
        return
    from ..evaluation.tasks import SUITES, TASKS

    for stage, key, names, suites, tasks in named:
        known = (set(SUITES) if suites else set()) | (set(TASKS) if tasks else set())
        unknown = [name for name in names if name not in known]
        if unknown:
            valid = "; ".join(([f"suites: {', '.join(SUITES)}"] if suites else []) +
                              ([f"tasks: {', '.join(TASKS)}"] if tasks else []))
            raise ConfigError(f"{where}: stage {stage!r}: {key}: unknown name(s) {unknown}; valid {valid}")


def matches_path(source: str) -> bool:
    if any(c in source for c in "*?["):
        return bool(glob.glob(source))
    return Path(source).exists()
