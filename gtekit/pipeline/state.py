"""Which stages of a pipeline are finished, and what ``gtekit run`` will do with each.

A stage is finished when ``OUTPUT_DIR/<stage>/.gtekit-stage-done.json`` exists: written atomically,
after everything else the stage writes::

    {"stage", "kind", "config_hash", "config", "run_id", "inputs": {earlier stage: its run_id},
     "outputs": {...}, "finished_at"}

``config`` is the resolved stage config (``definition.hashed_config``) that ``config_hash`` hashes; ``run_id``
is new each time the stage finishes, and ``inputs`` records the run ids of the stages it read, so a
stage whose inputs were rerun since is *stale*. A train stage also writes ``.gtekit-stage-started.json``
(its config hash) when it starts from scratch, so that its checkpoints are only resumed with the
config that wrote them.

Depends on ``definition`` and on ``gtekit.training.checkpoint`` (to find checkpoints); runs nothing.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from ..config import ConfigError, matches_path
from ..io.atomic import atomic_path
from .definition import Pipeline, Stage, StageKind, hashed_config

DONE_MARKER = ".gtekit-stage-done.json"
STARTED_MARKER = ".gtekit-stage-started.json"
TRAIN_OUTPUTS = ("checkpoints", "model", "train_log.jsonl", "recipe.yaml")  # what a Trainer writes; cleared on rerun


class Status(StrEnum):
    DONE = "done"  # finished with this config and these inputs: skipped
    CHANGED = "changed"  # finished with another config, or its outputs are gone: refused without --rerun-from
    STALE = "stale"  # finished, but a stage it reads was rerun since: refused without --rerun-from
    PARTIAL = "partial"  # a train stage with checkpoints: resumes from the latest
    CONFLICT = "conflict"  # a train stage with checkpoints of another config: refused without --rerun-from
    PENDING = "pending"  # not started (or a mine/eval stage that stopped: runs again, reusing what it can)
    RERUN = "rerun"  # --rerun-from: its marker and training outputs are removed and it runs again


REFUSED = (Status.CHANGED, Status.STALE, Status.CONFLICT)


@dataclass
class StagePlan:
    stage: Stage
    status: Status
    detail: str = ""
    selected: bool = True  # run (or skipped as done) by this invocation


# ------------------------------------------------------------------------------ markers
def read_marker(stage: Stage, name: str = DONE_MARKER) -> dict | None:
    path = stage.state_dir / name
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except json.JSONDecodeError:
        raise ConfigError(f"{path} is not valid JSON; delete it, or --rerun-from {stage.name}") from None


def write_marker(stage: Stage, pipeline: Pipeline) -> dict:
    """Record ``stage`` as finished: the last file it writes."""
    inputs = {}
    for reference in stage.references:
        upstream = read_marker(pipeline.stage(reference.stage))
        inputs[reference.stage] = upstream["run_id"] if upstream else None
    marker = {"stage": stage.name, "kind": stage.kind.value, "config_hash": stage.config_hash(),
              "config": hashed_config(stage), "run_id": uuid.uuid4().hex, "inputs": inputs,
              "outputs": {key: str(path) for key, path in stage.outputs().items()},
              "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    _write_json(stage.state_dir / DONE_MARKER, marker)
    return marker


def mark_started(stage: Stage) -> None:
    """A train stage starting from step 0: note the config its checkpoints will belong to."""
    _write_json(stage.state_dir / STARTED_MARKER, {"stage": stage.name, "config_hash": stage.config_hash(),
                                                   "config": hashed_config(stage)})


def clear_stage(stage: Stage) -> None:
    """Before a rerun or a fresh start: drop the markers (first, so an interrupted rerun is not done) and a train
    stage's outputs, which would otherwise be resumed from or appended to. Mine and eval stages overwrite theirs
    (mining reuses only the embeddings and candidates that match its model and settings)."""
    for name in (DONE_MARKER, STARTED_MARKER):
        (stage.state_dir / name).unlink(missing_ok=True)
    if stage.kind is StageKind.TRAIN:
        for name in TRAIN_OUTPUTS:
            path = stage.output_dir / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()


def _write_json(path: Path, data: dict) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


# ------------------------------------------------------------------------------ the plan
def plan_run(pipeline: Pipeline, only: str | None = None, rerun_from: str | None = None) -> list[StagePlan]:
    """The status of every stage; ``selected`` marks those this run goes through (``only``, or all)."""
    names = pipeline.names()
    for option, value in (("--only", only), ("--rerun-from", rerun_from)):
        if value is not None and value not in names:
            raise ConfigError(f"{option} {value}: no such stage; stages: {', '.join(names)}")
    if only is not None and rerun_from not in (None, only):
        raise ConfigError(f"--only {only} with --rerun-from {rerun_from}: with --only, --rerun-from may only name the "
                          f"same stage (to run it again alone)")
    rerun = set(names[names.index(rerun_from):]) if rerun_from is not None else set()
    plans: dict[str, StagePlan] = {}
    for stage in pipeline.stages:
        selected = only is None or stage.name == only
        if selected and stage.name in rerun:
            status, detail = Status.RERUN, "runs again from scratch (--rerun-from)"
        else:
            status, detail = _status(stage, plans)
        plans[stage.name] = StagePlan(stage, status, detail, selected)
    return list(plans.values())


def _status(stage: Stage, earlier: dict[str, StagePlan]) -> tuple[Status, str]:
    marker = read_marker(stage)
    if marker is not None:
        if marker.get("config_hash") != stage.config_hash():
            return Status.CHANGED, "finished with another config: " + config_changes(marker.get("config", {}),
                                                                                     hashed_config(stage))
        main_output = next(iter(stage.outputs().values()))
        if not main_output.exists():
            return Status.CHANGED, f"finished, but {main_output} is gone"
        for upstream in dict.fromkeys(reference.stage for reference in stage.references):
            plan = earlier[upstream]
            upstream_marker = read_marker(plan.stage)
            if plan.status is not Status.DONE or upstream_marker is None or \
                    marker.get("inputs", {}).get(upstream) != upstream_marker.get("run_id"):
                return Status.STALE, f"finished, but {upstream!r} (whose output it reads) changed or was rerun since"
        return Status.DONE, f"finished {marker.get('finished_at', '')}".rstrip()
    if stage.kind is StageKind.TRAIN:
        from ..training.checkpoint import list_checkpoints  # imports torch: not needed to load and check a pipeline

        checkpoints = list_checkpoints(stage.output_dir / "checkpoints")
        if checkpoints:
            started = read_marker(stage, STARTED_MARKER)
            if started is not None and started.get("config_hash") != stage.config_hash():
                return Status.CONFLICT, ("has checkpoints of another config: "
                                         + config_changes(started.get("config", {}), hashed_config(stage)))
            step = int(checkpoints[-1].name.rpartition("-")[2])
            return Status.PARTIAL, f"resumes from its checkpoint at step {step} of {stage.settings.train.steps}"
    return Status.PENDING, ""


def check_plan(plans: list[StagePlan]) -> None:
    """Refuse a run that would skip over a changed stage, resume another config's checkpoints, or read an
    output that is not there: every problem in one error, with what to do."""
    problems, refused = [], []
    by_name = {plan.stage.name: plan for plan in plans}
    only = any(not plan.selected for plan in plans)
    for plan in plans:
        if not plan.selected:
            continue
        if plan.status in REFUSED:
            problems.append(f"stage {plan.stage.name!r} {plan.detail}")
            refused.append(plan.stage.name)
        if only:  # what the stage reads must be there already
            for reference in plan.stage.references:
                upstream = by_name[reference.stage]
                if upstream.status is not Status.DONE:
                    problems.append(f"stage {plan.stage.name!r} reads the output of {reference.stage!r} "
                                    f"({reference.slot}), which is {upstream.status.value}; run that stage first")
    if refused:
        first = refused[0]
        problems.append(f"to run {first!r} again from scratch: --rerun-from {first}"
                        + (f" (with --only {first}: it alone)" if only else " (and every stage after it)"))
    if problems:
        raise ConfigError("\n  ".join(["cannot run:", *problems]))


def config_changes(old: dict, new: dict, limit: int = 4) -> str:
    """``train.steps: 2 -> 3, ...``: the keys whose values differ between two nested configs."""
    before, after = _flatten(old), _flatten(new)
    keys = [key for key in dict.fromkeys([*before, *after]) if before.get(key, "(unset)") != after.get(key, "(unset)")]
    shown = [f"{key}: {_short(before.get(key, '(unset)'))} -> {_short(after.get(key, '(unset)'))}"
             for key in keys[:limit]]
    more = f" and {len(keys) - limit} more" if len(keys) > limit else ""
    return ", ".join(shown) + more if keys else "(the marker holds no config)"


def _flatten(config: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(config, dict):
        return {prefix.rstrip("."): config}
    flat: dict[str, Any] = {}
    for key, value in config.items():
        flat.update(_flatten(value, f"{prefix}{key}.") if isinstance(value, dict) and value else
                    {prefix + str(key): value})
    return flat


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


# ------------------------------------------------------------------------------ showing it
def stage_inputs(stage: Stage) -> list[tuple[str, str, bool]]:
    """(slot, value, is a file to check) for what the stage reads."""
    s = stage.settings
    if stage.kind is StageKind.TRAIN:
        return [("model.name", s.model.name, False),
                *((f"data.sources[{i}]", source, True) for i, source in enumerate(s.data.sources)),
                *((f"data.replay[{i}]", source, True) for i, source in enumerate(s.data.replay))]
    if stage.kind is StageKind.DATA:
        return [("mixture", s.mixture, True)]
    if stage.kind is StageKind.MERGE:
        return [("start", s.start, False), ("trained", s.trained, False),
                *((f"tasks[{i}]", task, False) for i, task in enumerate(s.tasks)),
                *([("suite", s.suite, False)] if s.suite else [])]
    if stage.kind is StageKind.MINE:
        corpus = [("corpus", s.corpus, True)] if s.corpus else []
        return [("model", s.model, False), *((f"pairs[{i}]", p, True) for i, p in enumerate(s.pairs)), *corpus]
    return [*((f"models[{i}] {m.label}", m.model, False) for i, m in enumerate(s.models)),
            *((f"tasks[{i}]", task, False) for i, task in enumerate(s.tasks)),
            *([("suite", s.suite, False)] if s.suite else []),
            *((f"task_files[{i}]", f, True) for i, f in enumerate(s.task_files)),
            *((f"beir[{i}]", f, True) for i, f in enumerate(s.beir))]


def format_plan(pipeline: Pipeline, plans: list[StagePlan]) -> str:
    """The resolved plan: each stage's status, inputs (with the stage a reference reads) and outputs."""
    lines = [f"{pipeline.path or 'pipeline'}: {len(plans)} stages, outputs under {pipeline.output_dir}"]
    width = max(len(plan.stage.name) for plan in plans)
    for number, plan in enumerate(plans, 1):
        stage = plan.stage
        status = plan.status.value if plan.selected else f"{plan.status.value}, not selected (--only)"
        lines.append(f"  {number}. {stage.name:<{width}}  {stage.kind.value:<5}  {status}"
                     + (f": {plan.detail}" if plan.detail else ""))
        references = {reference.slot: reference.stage for reference in stage.references}
        for slot, value, is_file in stage_inputs(stage):
            slot_key = slot.split(" ")[0] + (".model" if slot.startswith("models[") else "")
            note = (f"  <- {references[slot_key]}" if slot_key in references
                    else "  (missing)" if is_file and not matches_path(value) else "")
            lines.append(f"       in   {slot:<22} {value}{note}")
        for key, path in stage.outputs().items():
            lines.append(f"       out  {key:<22} {path}")
    return "\n".join(lines)
