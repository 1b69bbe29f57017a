"""What a pipeline is once its file is read: stages in order, each with its kind, resolved settings, output
folder, the references it makes to earlier stages' outputs, and the hash of what it computes.

A stage's outputs (``Stage.outputs``) are the documented files of the single-stage commands: a train
stage's model folder, a mine stage's ``triples.jsonl``, a data stage's built mixture folder, an eval
stage's results; the first is what ``{from: STAGE}`` gives. ``hashed_config`` is a stage's resolved
settings with each reference as ``from:STAGE`` and without the settings that say where and how it runs
(``UNHASHED_KEYS``): ``state`` compares it with a finished stage's marker.

Depends on ``gtekit.config`` (the training recipe, the loader's ``ConfigError``) and the settings of each stage's
package: ``gtekit.data.mixture_build.DataBuildSettings``, ``gtekit.negatives.settings.MineSettings``,
``gtekit.evaluation.settings.EvalSettings`` and ``MergeSelectionSettings``.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from ..config import ConfigError, Recipe, plain_dict
from ..data.mixture_build import DataBuildSettings
from ..evaluation.settings import EvalSettings, MergeSelectionSettings
from ..negatives.settings import MineSettings

TRIPLES = "triples.jsonl"  # gtekit.negatives.hard_negative_mining.TRIPLES
MIXTURE = "mixture"  # the folder a data stage builds into its output_dir
MODEL = "model"  # the model folder a Trainer writes into train.output_dir


class StageKind(StrEnum):
    """What a stage runs: ``gtekit data build``, ``gtekit train``, ``gtekit mine``, ``gtekit eval``, or a WiSE-FT
    merge with λ chosen on dev (``gtekit merge`` at each candidate λ, then ``gtekit eval --split dev``)."""

    DATA = "data"
    TRAIN = "train"
    MINE = "mine"
    EVAL = "eval"
    MERGE = "merge"


# what ``{from: STAGE}`` gives, by the referenced stage's kind
REFERENCE_GIVES = {StageKind.TRAIN: "a model folder", StageKind.MERGE: "a model folder",
                   StageKind.MINE: "a pair file (triples.jsonl)", StageKind.DATA: "a built mixture folder of pairs"}
PAIR_STAGES = (StageKind.MINE, StageKind.DATA)  # the stages whose output is pairs
MODEL_STAGES = (StageKind.TRAIN, StageKind.MERGE)  # the stages whose output is a model folder

# settings that say where and how a stage runs, not what it computes: left out of the config hash, so
# a finished stage stays finished on another device, with quieter logs, or with the run folder moved
UNHASHED_KEYS = {StageKind.TRAIN: ("train.output_dir", "train.device", "train.log_every", "train.data_workers",
                                   "train.prefetch"),
                 StageKind.MINE: ("output_dir", "device", "samples"),
                 StageKind.EVAL: ("output_dir", "use_cache", "results_json", "results_layout", "markdown", "plot"),
                 StageKind.DATA: ("output_dir",), StageKind.MERGE: ("output_dir", "use_cache")}
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
    settings: Recipe | DataBuildSettings | MineSettings | EvalSettings | MergeSelectionSettings
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
        if self.kind is StageKind.MERGE:
            return {"model": self.output_dir / MODEL, "selection": self.output_dir / "selection.json"}
        return {"results": self.output_dir / "results.json", "table": self.output_dir / "results.md"}

    def config(self) -> dict[str, Any]:
        """The resolved settings, every default filled in and every reference a path (and for a data stage,
        the hash of its mixture file's content)."""
        config = {"kind": self.kind.value, **plain_dict(self.settings)}
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
