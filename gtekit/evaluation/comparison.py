"""Evaluate several models on the same tasks and write what ``EvalSettings`` asks for: ``gtekit eval`` and an
eval stage of ``gtekit run`` both call :func:`evaluate_models`.

1. the tasks: named tasks, a suite, BEIR folders (``beir_split``) and task files, in that order;
2. each model loaded (``Embedder.load``) and run on them through ``runner.evaluate_tasks`` (and its cache);
   with ``dims``, once per size on its embeddings truncated and re-normalised, as its own model ``LABEL@DIM``;
3. with several models and ``resamples`` > 0, each later model's change to the first with paired bootstrap
   intervals (``metrics.bootstrap.deltas_to_baseline``), kept in its result as ``delta_to_first``;
4. the comparison table (``results_report.format_table``) and the table of changes (``format_deltas``), shown
   through ``echo`` as soon as they exist, then the files asked for: the Markdown tables, the bar chart, the
   results JSON in its ``ResultsLayout``.

Depends on ``gtekit.model`` (to load the models) and this package.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..io.atomic import atomic_path
from ..model.embedder import Embedder
from .metrics.bootstrap import deltas_to_baseline
from .results_report import format_deltas, format_table, plot_results, write_json
from .runner import evaluate_tasks_with_units
from .settings import EvalSettings, ResultsLayout
from .tasks.named_tasks import get_suite, get_tasks
from .tasks.task_files import beir_task, load_task_file
from .tasks.task_types import Task


@dataclass(frozen=True)
class ModelComparison:
    """What :func:`evaluate_models` computed: one result per model, the number of tasks, the Markdown table."""

    results: list[dict]  # {"model": label, "tasks": {task: scores}}, and "path" in the labelled-list layout
    tasks: int
    table: str


def settings_tasks(settings: EvalSettings) -> list[Task]:
    """The tasks ``settings`` name: named tasks, then a suite, then BEIR folders, then task files."""
    tasks = get_tasks(settings.tasks, settings.split)
    tasks += get_suite(settings.suite, settings.split) if settings.suite else []
    tasks += [beir_task(Path(folder), settings.beir_split) for folder in settings.beir]
    tasks += [load_task_file(Path(file)) for file in settings.task_files]
    return tasks


def check_dims(dims: list[int], dimension: int, model: str) -> None:
    """Every truncation size of ``dims`` fits the ``dimension`` of ``model``'s embeddings."""
    too_large = [dim for dim in dims if dim > dimension]
    if too_large:
        raise ValueError(f"dims {too_large}: more than the {dimension} dimensions of model {model!r}; give sizes "
                         f"in [1, {dimension}]")


def evaluate_models(settings: EvalSettings, echo: Callable[[str], None] | None = None) -> ModelComparison:
    """Evaluate every model of ``settings`` on its tasks, show the table through ``echo`` and write the files the
    settings name (see the module docstring)."""
    tasks = settings_tasks(settings)
    labelled = settings.results_layout is ResultsLayout.LABELLED_LIST
    results, units = [], []
    for entry in settings.models:
        model = Embedder.load(entry.model)
        check_dims(settings.dims, model.dimension, entry.model)
        for dimension in settings.dims or [None]:
            label = entry.label if dimension is None else f"{entry.label}@{dimension}"
            scores, model_units = evaluate_tasks_with_units(model, tasks, use_cache=settings.use_cache,
                                                            batch_size=settings.batch_size, dimension=dimension)
            units.append(model_units)
            results.append({"model": label, "path": entry.model, "tasks": scores} if labelled
                           else {"model": label, "tasks": scores})
    if settings.resamples > 0:
        for result, model_units in zip(results[1:], units[1:], strict=True):
            result["delta_to_first"] = {"baseline": results[0]["model"], **deltas_to_baseline(
                units[0], model_units, resamples=settings.resamples, seed=settings.bootstrap_seed)}
    table = format_table(results)
    deltas = format_deltas(results)
    if deltas:
        table += "\n\n" + deltas
    if echo is not None:
        echo(table)
    if settings.markdown:
        with atomic_path(Path(settings.markdown)) as tmp:
            tmp.write_text(table + "\n", encoding="utf-8")
    if settings.plot:
        plot_results(results, Path(settings.plot))
    if settings.results_json:
        write_json(Path(settings.results_json), results if labelled or len(results) > 1 else results[0])
    return ModelComparison(results, len(tasks), table)
