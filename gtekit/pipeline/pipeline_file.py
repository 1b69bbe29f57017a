"""Reading a pipeline file: stages declared in order in one YAML file, parsed and checked before anything runs.

The file is what ``gtekit run PIPELINE`` takes; a train stage's
settings are a training recipe (``gtekit.config.Recipe``).

``load_pipeline("recipes/multistage-example.yaml", ["pretrain.train.steps=2"])`` -> ``Pipeline``::

    output_dir: runs/multistage         # each stage writes to output_dir/<stage name>/
    stages:
      - name: corpus
        kind: data                      # `gtekit data build` of a mixture YAML (DataBuildSettings)
        mixture: data/offline-mix.yaml
      - name: pretrain
        kind: train                     # data | train | mine | eval | merge
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
      - name: merge
        kind: merge                     # WiSE-FT, λ chosen on dev splits (MergeSelectionSettings)
        start: all-MiniLM-L6-v2
        trained: {from: finetune}
        tasks: [STSBenchmark]
      - name: compare
        kind: eval                      # EvalSettings
        models: [all-MiniLM-L6-v2, {label: PT+FT, model: {from: finetune}}]
        tasks: [STSBenchmark]

``{from: STAGE}`` names the output of an earlier stage: a train or merge stage's model folder (where a
model goes: ``model.name`` of a train stage, ``model`` of a mine stage, ``models[i].model`` of an eval
stage, ``start`` and ``trained`` of a merge stage), a mine stage's ``triples.jsonl`` or a data stage's
built mixture folder (where pair files go: ``data.sources`` of a train stage, ``pairs`` of a mine stage).
A data stage's config hash includes the content of its mixture YAML, so editing that file makes the stage
(and those reading it) run again.
References are resolved to paths here; a stage's config hash (``Stage.config_hash``) records them as
``from:STAGE``, and its completion marker records which run of STAGE it read (``state``). Data files
(mixtures, sources, pairs, corpus, task files, BEIR folders) that do not exist from the working
directory are taken relative to the pipeline file, as ``gtekit train`` takes them relative to the recipe;
model names and output folders are relative to the working directory. The YAML, the overrides and every
stage's settings go through ``gtekit.config``'s loader.

Depends on ``gtekit.config``, ``definition`` and the settings dataclass of each stage's package (which check
their own values as they are made); the task names are checked against ``gtekit.evaluation.tasks.named_tasks``; running
stages is ``stages``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import ConfigError, Recipe, apply_override, from_dict, matches_path, parse_choice, read_yaml
from ..data.mixture_build import DataBuildSettings
from ..evaluation.settings import EvalSettings, MergeSelectionSettings
from ..negatives.settings import MineSettings
from .definition import MODEL_STAGES, PAIR_STAGES, REFERENCE_GIVES, Pipeline, Reference, Stage, StageKind

STAGE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
TOP_LEVEL_KEYS = ("output_dir", "stages")
STAGE_RESULT_FILES = ("results_json", "markdown")  # an eval stage's files are its outputs(), in its output_dir


def load_pipeline(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Pipeline:
    """Read a pipeline file and apply ``STAGE.KEY=VALUE`` (or ``output_dir=DIR``) overrides."""
    path = Path(path)
    data = read_yaml(path, "recipe") or {}  # "recipe": what `gtekit run RECIPE` calls the file
    return pipeline_from_dict(data, where=str(path), base=path.parent, overrides=overrides, path=path)


def pipeline_from_dict(data: Any, *, where: str = "pipeline", base: Path | None = None,
                       overrides: list[str] | tuple[str, ...] = (), path: Path | None = None) -> Pipeline:
    """The pipeline of a pipeline file's content ``data``; ``where`` names it in errors and data paths that match
    nothing from the working directory are taken relative to ``base``."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: a pipeline file is a mapping with {' and '.join(TOP_LEVEL_KEYS)}")
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
    parse_choice(f"{where}: stage {name!r}", raw.get("kind"), StageKind, "kind")
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
    if kind is StageKind.MERGE:
        for slot in ("start", "trained"):
            settings[slot] = context.reference(settings.get(slot, ""), slot, MODEL_STAGES)
        merge = context.build(MergeSelectionSettings, settings)
        if not (merge.start and merge.trained):
            raise ConfigError(f"{context.where}: start and trained are required (names or {{from: TRAIN_STAGE}})")
        return Stage(name, kind, merge, Path(merge.output_dir or state_dir), state_dir, context.references)
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
            gives_by = {}  # what a wanted kind gives -> the kinds giving it
            for kind in wanted:
                gives_by.setdefault(REFERENCE_GIVES[kind], []).append(kind.value)
            needs = " or ".join(f"{what} (a {' or '.join(kinds)} stage)" for what, kinds in gives_by.items())
            raise ConfigError(f"{self.where}: {slot} needs {needs}, but {target!r} is a {stage.kind.value} stage "
                              f"({gives})")
        path = str(next(iter(stage.outputs().values())))
        self.references.append(Reference(target, slot, path))
        return path

    def data_file(self, value: Any, slot: str, wanted: StageKind | tuple[StageKind, ...] | None = None) -> Any:
        """A reference's path; or a data path, from the pipeline file's folder if it matches nothing from the
        working directory."""
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
        settings["model"] = model | {"name": context.reference(model.get("name"), "model.name", MODEL_STAGES)}
        if settings["model"]["name"] is None:
            del settings["model"]["name"]
    data = settings.get("data")
    for key in ("sources", "replay"):
        if isinstance(data, dict) and isinstance(data.get(key), list):
            data = settings["data"] = data | {key: [
                context.data_file(source, f"data.{key}[{i}]", PAIR_STAGES) for i, source in enumerate(data[key])]}
    train = settings.get("train")
    if train is None or isinstance(train, dict):
        settings["train"] = {"output_dir": str(state_dir), **(train or {})}
    return context.build(Recipe, settings)


def _data_settings(settings: dict, context: _Context) -> DataBuildSettings:
    settings["mixture"] = context.data_file(settings.get("mixture", ""), "mixture")
    return context.build(DataBuildSettings, settings)  # it checks the mixture and rows_per_shard


def _mine_settings(settings: dict, context: _Context) -> MineSettings:
    settings["model"] = context.reference(settings.get("model", ""), "model", MODEL_STAGES)
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
    return mine  # MineSettings checked the rules and search settings as `gtekit mine` does, before any stage runs


def _eval_settings(settings: dict, context: _Context) -> EvalSettings:
    fixed = [key for key in STAGE_RESULT_FILES if key in settings]
    if fixed:
        raise ConfigError(f"{context.where}: {fixed[0]}: an eval stage writes output_dir/results.json and "
                          f"output_dir/results.md; set output_dir to move them")
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
    return evaluation  # EvalSettings refused one with nothing to evaluate


def _eval_model(item: Any, index: int, context: _Context) -> Any:
    slot = f"models[{index}]"
    if isinstance(item, str) or (isinstance(item, dict) and set(item) == {"from"}):
        item = {"model": item}
    if not isinstance(item, dict):
        return item  # from_dict names the type error
    model = item.get("model")
    label = item.get("label") or (model["from"] if isinstance(model, dict) and "from" in model else model)
    resolved = item | {"model": context.reference(model, f"{slot}.model", MODEL_STAGES)}
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
        elif stage.kind in (StageKind.EVAL, StageKind.MERGE):
            named += [(stage.name, "tasks", settings.tasks, False, True),
                      (stage.name, "suite", [settings.suite] if settings.suite is not None else [], True, False)]
    if not any(names for _, _, names, _, _ in named):
        return
    from ..evaluation.tasks.named_tasks import SUITES, TASKS

    for stage, key, names, suites, tasks in named:
        known = (set(SUITES) if suites else set()) | (set(TASKS) if tasks else set())
        unknown = [name for name in names if name not in known]
        if unknown:
            valid = "; ".join(([f"suites: {', '.join(SUITES)}"] if suites else []) +
                              ([f"tasks: {', '.join(TASKS)}"] if tasks else []))
            raise ConfigError(f"{where}: stage {stage!r}: {key}: unknown name(s) {unknown}; valid {valid}")

