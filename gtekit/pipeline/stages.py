"""Running a multi-stage recipe: each stage through the library call its command makes, in order.

``run_pipeline(pipeline)`` goes through the stages: a finished one is skipped, an interrupted train
stage resumes from its latest checkpoint (``Trainer.train(resume=True)``), any other runs; its
completion marker (``state``) is written last. A data stage is ``gtekit data build``, a train stage is
``gtekit train``, a mine stage
``gtekit mine`` (``mine_hard_negatives``), an eval stage ``gtekit eval`` on several models at once,
with one comparison table (``results.md``, printed) and ``results.json``.

The one module of the package that imports training, mining and evaluation; only the CLI imports it.
Runs in one process: train stages are not started under torchrun from here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .memory import release_memory
from .recipe import Pipeline, Stage, StageKind
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

    from ..data.mixture_build import build_mixture_file, size_on_disk

    s = stage.settings
    folder = stage.outputs()["mixture"]
    manifest = build_mixture_file(s.mixture, folder, rows_per_shard=s.rows_per_shard,
                                  log=lambda message: print(message, file=sys.stderr, flush=True))
    total = manifest["total"]
    sources = ", ".join(f"{source['name']} {source['count']:,}" for source in manifest["sources"])
    return (f"{total['count']:,} training pairs ({sources}), {total['held_out']:,} held out; "
            f"{size_on_disk(folder) / 2**20:.1f} MiB in {folder}")


def run_train_stage(stage: Stage) -> str:
    from ..training.checkpoint import latest_checkpoint
    from ..training.trainer import Trainer

    recipe = stage.settings
    resume = latest_checkpoint(stage.output_dir / "checkpoints") is not None
    result = Trainer(recipe).train(resume=resume)
    if result.steps < recipe.train.steps or not result.model_dir.is_dir():
        raise RuntimeError(f"stage {stage.name!r} stopped at step {result.steps} of {recipe.train.steps}")
    return f"trained to step {result.steps}; model in {result.model_dir}"


def run_mine_stage(stage: Stage) -> str:
    import torch

    from ..model.embedder import Embedder
    from ..negatives.mine import mine_hard_negatives

    s = stage.settings
    device = s.device if s.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    model = Embedder.load(s.model).to(device)
    report = mine_hard_negatives(model, s.pairs, stage.output_dir, corpus_file=s.corpus, corpus_field=s.corpus_field,
                                 rules=s.rules(), search_settings=s.search(), keep_short=s.keep_short,
                                 chunk_size=s.chunk_size, batch_size=s.batch_size,
                                 encode_options={"bf16": True} if s.bf16 else None, samples=s.samples,
                                 with_scores=s.with_scores, skip_invalid=s.skip_invalid)
    written, dropped = report["output"]["pairs_written"], report["output"]["pairs_dropped_too_few_negatives"]
    if not written:
        raise RuntimeError(f"stage {stage.name!r} kept no pairs ({dropped} had fewer than {s.num_negatives} "
                           f"negatives); see {stage.output_dir}/report.json, and lower num_negatives, raise top_k "
                           f"or set keep_short")
    return (f"{written:,} pairs with negatives in {stage.output_dir}/triples.jsonl ({dropped:,} dropped: too few "
            f"negatives; {report['false_negatives_dropped']:,} likely false negatives dropped)")


def run_eval_stage(stage: Stage) -> str:
    from ..evaluation.results_report import format_table, write_json
    from ..evaluation.runner import evaluate_tasks
    from ..evaluation.task_files import beir_task, load_task_file
    from ..evaluation.tasks import get_suite, get_tasks
    from ..io.atomic import atomic_path
    from ..model.embedder import Embedder

    s = stage.settings
    tasks = get_tasks(s.tasks) + (get_suite(s.suite) if s.suite else [])
    tasks += [beir_task(Path(folder), s.beir_split) for folder in s.beir]
    tasks += [load_task_file(Path(file)) for file in s.task_files]
    results = []
    for entry in s.models:
        model = Embedder.load(entry.model)
        results.append({"model": entry.label, "path": entry.model,
                        "tasks": evaluate_tasks(model, tasks, use_cache=s.use_cache, batch_size=s.batch_size)})
    table = format_table(results)
    outputs = stage.outputs()
    write_json(outputs["results"], results)
    with atomic_path(outputs["table"]) as tmp:
        tmp.write_text(table + "\n", encoding="utf-8")
    print(table)
    return (f"{len(results)} model(s) on {len(tasks)} task(s); table in {outputs['table']}, "
            f"scores in {outputs['results']}")


RUNNERS: dict[StageKind, Callable[[Stage], str]] = {
    StageKind.DATA: run_data_stage, StageKind.TRAIN: run_train_stage, StageKind.MINE: run_mine_stage,
    StageKind.EVAL: run_eval_stage}
