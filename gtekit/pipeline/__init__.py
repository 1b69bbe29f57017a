"""The GTE pipeline in one YAML file, run by ``gtekit run``: pre-train → mine → fine-tune → evaluate.

A pipeline file (``gtekit run PIPELINE``) declares stages in order; a train
stage's settings are a training recipe (``gtekit.config.Recipe``), the one thing gtekit calls a recipe.
The other stages' settings are the dataclasses their commands build from their options, each in its
stage's package: ``gtekit.data.mixture_build.DataBuildSettings``, ``gtekit.negatives.settings.MineSettings``,
``gtekit.evaluation.settings.EvalSettings``.

1. ``definition``: a pipeline once read: its stages, their outputs, the references between them and each
   stage's resolved config and its hash;
2. ``pipeline_file``: reading the YAML (``stages:`` in order, each a data, train, mine or eval stage),
   references between stages (``{from: STAGE}``) and overrides, all checked before anything runs;
3. ``state``: completion markers, the status of each stage and the plan of a run (``--dry-run``);
4. ``stages``: runs each stage through the library function its command calls (``build_mixture_file``,
   ``Trainer``, ``run_mining``, ``evaluate_models``) and writes its marker last, so an interrupted run
   resumes at the first unfinished stage.

Stages exchange the documented files of the single-stage commands (a model folder, triples.jsonl),
so each stage's output can also be used alone.
"""

from .definition import Pipeline, Stage, StageKind
from .pipeline_file import load_pipeline
from .stages import run_pipeline
from .state import Status, format_plan, plan_run

__all__ = ["Pipeline", "Stage", "StageKind", "Status", "format_plan", "load_pipeline", "plan_run", "run_pipeline"]
