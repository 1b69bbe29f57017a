"""Running a pipeline file: each stage through the library function its command calls, in order.

``run_pipeline(pipeline)`` goes through the stages: a finished one is skipped, an interrupted train
stage resumes from its latest checkpoint (``train(recipe, resume=True)``), any other runs; its
completion marker (``state``) is written last. Each stage calls what its command calls, with the stage's
settings and its output folder:

- data: ``gtekit data build`` (``gtekit.evaluation.mixture_guard.build_mixture_file``), into
  ``<output_dir>/mixture``;
- train: ``gtekit train`` (``gtekit.training.trainer.train``);
- mine: ``gtekit mine`` (``gtekit.negatives.mining_stage.run_mining``), refusing a run that kept no pairs;
- eval: ``gtekit eval`` on several models at once (``gtekit.evaluation.comparison.evaluate_models``), with one
  comparison table (``results.md``, printed) and ``results.json``;
- merge: WiSE-FT with λ chosen on dev splits (``gtekit.evaluation.merge_selection.select_merge_weight``), into
  ``<output_dir>/model`` and ``selection.json``.

The one module of the package that imports training, mining and evaluation; only the CLI imports it.
Runs in one process: train stages are not started under torchrun from here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from .definition import Pipeline, Stage, StageKind
from .memory import release_memory
from .state import StagePlan, Status, check_plan, clear_stage, mark_started, plan_run, write_marker


def run_pipeline(pipeline: Pipeline, *, only: str | None = None, rerun_from: str | None = None,
                 echo: Callable[[str], None] = print) -> list[StagePlan]:
    """Run the selected stages that are not finished, in order; return the plan it followed."""
    plans = plan_run(pipeline, only=only, rerun_from=rerun_from)
    check_plan(plans)
    selected = [plan for plan in plans if plan.selected]
    for number, plan in enumerate(selected, 1):
        stage = plan.stage
        head = f"[{number}/{len(selected)}] {stage.name} ({stage.kind.value})"
        if plan.status is Status.DONE:
            echo(f"{head}: done, skipped")
            continue
        if plan.status in (Status.RERUN, Status.PENDING):  # a train stage with no checkpoint starts on a clean slate
            clear_stage(stage)
        if stage.kind is StageKind.TRAIN and plan.status is not Status.PARTIAL:
            mark_started(stage)
        echo(f"{head}: {'resuming' if plan.status is Status.PARTIAL else 'running'} into {stage.output_dir}")
        summary = RUNNERS[stage.kind](stage)
        release_memory()  # what the stage freed goes back to the system before the next one starts
        write_marker(stage, pipeline)
        echo(f"{head}: {summary}")
    return plans


def run_data_stage(stage: Stage) -> str:
    import sys

    from ..data.mixture_build import size_on_disk
    from ..evaluation.mixture_guard import build_mixture_file

    folder = stage.outputs()["mixture"]
    settings = replace(stage.settings, output_dir=str(folder))
    manifest = build_mixture_file(settings, log=lambda message: print(message, file=sys.stderr, flush=True))
    total = manifest["total"]
    sources = ", ".join(f"{source['name']} {source['count']:,}" for source in manifest["sources"])
    return (f"{total['count']:,} training pairs ({sources}), {total['held_out']:,} held out; "
            f"{size_on_disk(folder) / 2**20:.1f} MiB in {folder}")


def run_train_stage(stage: Stage) -> str:
    from ..training.checkpoint import latest_checkpoint
    from ..training.trainer import train

    recipe = stage.settings
    resume = latest_checkpoint(stage.output_dir / "checkpoints") is not None
    result = train(recipe, resume=resume)
    if result.steps < recipe.train.steps or not result.model_dir.is_dir():
        raise RuntimeError(f"stage {stage.name!r} stopped at step {result.steps} of {recipe.train.steps}")
    return f"trained to step {result.steps}; model in {result.model_dir}"


def run_mine_stage(stage: Stage) -> str:
    from ..negatives.mining_stage import run_mining

    s = replace(stage.settings, output_dir=str(stage.output_dir))
    report = run_mining(s)
    written, dropped = report["output"]["pairs_written"], report["output"]["pairs_dropped_too_few_negatives"]
    if not written:  # the train stage reading the triples would have nothing to train on
        raise RuntimeError(f"stage {stage.name!r} kept no pairs ({dropped} had fewer than {s.num_negatives} "
                           f"negatives); see {stage.output_dir}/report.json, and lower num_negatives, raise top_k "
                           f"or set keep_short")
    return (f"{written:,} pairs with negatives in {stage.output_dir}/triples.jsonl ({dropped:,} dropped: too few "
            f"negatives; {report['false_negatives_dropped']:,} likely false negatives dropped)")


def run_eval_stage(stage: Stage) -> str:
    from ..evaluation.comparison import evaluate_models

    outputs = stage.outputs()
    settings = replace(stage.settings, results_json=str(outputs["results"]), markdown=str(outputs["table"]))
    comparison = evaluate_models(settings, echo=print)
    return (f"{len(comparison.results)} model(s) on {comparison.tasks} task(s); table in {outputs['table']}, "
            f"scores in {outputs['results']}")


def run_merge_stage(stage: Stage) -> str:
    from ..evaluation.merge_selection import select_merge_weight

    record = select_merge_weight(replace(stage.settings, output_dir=str(stage.output_dir)), echo=print)
    chosen = next(c for c in record["candidates"] if c["weight"] == record["chosen_weight"])
    return (f"λ = {record['chosen_weight']:g} chosen on dev (average {100 * chosen['average']:.2f} of "
            f"{len(record['candidates'])} candidates); model in {stage.outputs()['model']}")


RUNNERS: dict[StageKind, Callable[[Stage], str]] = {
    StageKind.DATA: run_data_stage, StageKind.TRAIN: run_train_stage, StageKind.MINE: run_mine_stage,
    StageKind.EVAL: run_eval_stage, StageKind.MERGE: run_merge_stage}
