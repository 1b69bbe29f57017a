"""The GTE multi-stage recipe in one YAML file, run by ``gtekit run``: pre-train → mine → fine-tune → evaluate.

1. ``recipe``: the YAML schema (``stages:`` in order, each a train, mine or eval stage), references
   between stages (``{from: STAGE}``), overrides, each stage's resolved config and its hash;
2. ``state``: completion markers, the status of each stage and the plan of a run (``--dry-run``);
3. ``stages``: runs each stage through the library (``Trainer``, ``mine_hard_negatives``,
   ``evaluate_tasks``) and writes its marker last, so an interrupted run resumes at the first
   unfinished stage.

Stages exchange the documented files of the single-stage commands (a model folder, triples.jsonl),
so each stage's output can also be used alone.
"""

from .recipe import Pipeline, Stage, StageKind, load_pipeline
from .stages import run_pipeline
from .state import Status, format_plan, plan_run

__all__ = ["Pipeline", "Stage", "StageKind", "Status", "format_plan", "load_pipeline", "plan_run", "run_pipeline"]
