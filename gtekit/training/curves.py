"""Training curves drawn from ``train_log.jsonl``: a run's ``curves.png``, and several runs on one figure.

``draw_run_curves`` (called by the trainer at every checkpoint and at the end) draws the loss of every step
with its moving average, the learning rate and, when the run validates, every validation score.
``plot_runs`` (``gtekit plot``) draws one metric of several runs, labelled by their folder names. Both
read only the log, so they work on a run that is still training, crashed or finished, and write the PNG
atomically. Matplotlib's object API is used (no pyplot state), so drawing never touches a GUI backend.

Depends on matplotlib, ``train_log``, ``run_folder`` (the file names) and ``gtekit.io.atomic``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..io.atomic import atomic_path
from .run_folder import CURVES_FILE
from .train_log import LOG_FILE, read_log

STEP_METRICS = ("loss", "lr", "pairs_per_s", "tokens_per_s", "source_mean_loss")  # fields of every step line
VALIDATION_MEAN = "validation_mean"  # and validation/<task>: a task's score in the validation lines
LABELS = {"loss": "loss", "lr": "learning rate", "pairs_per_s": "pairs / s", "tokens_per_s": "tokens / s",
          "source_mean_loss": "mean loss of the step's source", VALIDATION_MEAN: "mean validation score"}


def smoothing_window(steps: int) -> int:
    """Steps in the loss's moving average: a twentieth of the run, between 1 and 100."""
    return max(1, min(100, steps // 20))


def moving_average(values: Sequence[float], window: int) -> list[float]:
    """The mean of each value and the ``window - 1`` before it (fewer at the start)."""
    averages, total = [], 0.0
    for i, value in enumerate(values):
        total += value
        if i >= window:
            total -= values[i - window]
        averages.append(total / min(i + 1, window))
    return averages


def log_path(run: str | Path) -> Path:
    """The ``train_log.jsonl`` of a run folder (or the log file itself)."""
    run = Path(run)
    return run if run.is_file() else run / LOG_FILE


def metric_series(records: list[dict[str, Any]], metric: str) -> tuple[list[int], list[float]]:
    """(steps, values) of ``metric``: a field of the step lines (``STEP_METRICS``), ``validation_mean`` or
    ``validation/<task>``; steps where it is missing or null are left out."""
    task = metric.removeprefix("validation/") if metric.startswith("validation/") else None
    steps, values = [], []
    for record in records:
        if task is not None:
            value = (record.get("validation") or {}).get(task)
        elif metric == VALIDATION_MEAN or "validation" not in record:
            value = record.get(metric)
        else:
            continue
        if isinstance(value, int | float) and not isinstance(value, bool) and isinstance(record.get("step"), int):
            steps.append(record["step"])
            values.append(float(value))
    return steps, values


def available_metrics(records: list[dict[str, Any]]) -> list[str]:
    """The metrics ``metric_series`` finds in ``records``."""
    tasks = dict.fromkeys(task for record in records for task in (record.get("validation") or {}))
    candidates = [*STEP_METRICS, VALIDATION_MEAN, *(f"validation/{task}" for task in tasks)]
    return [metric for metric in candidates if metric_series(records, metric)[0]]


def draw_run_curves(run_dir: str | Path, output: str | Path | None = None) -> Path | None:
    """Draw ``run_dir``'s curves (loss and its moving average, learning rate, validation scores if any) into
    ``output`` (default ``run_dir/curves.png``); None, drawing nothing, while the log has no step yet."""
    run_dir = Path(run_dir)
    records = read_log(log_path(run_dir))
    steps, losses = metric_series(records, "loss")
    if not steps:
        return None
    tasks = [metric for metric in available_metrics(records) if metric.startswith("validation/")]
    figure, panels = _figure(3 if tasks else 2, f"{run_dir.resolve().name}: {steps[-1]} steps")
    window = smoothing_window(len(losses))
    panels[0].plot(steps, losses, color="tab:blue", alpha=0.3 if window > 1 else 1.0, linewidth=0.8, label="loss")
    if window > 1:
        panels[0].plot(steps, moving_average(losses, window), color="tab:blue", linewidth=1.8,
                       label=f"moving average ({window} steps)")
    panels[0].set_ylabel("loss")
    panels[0].legend(loc="upper right")
    panels[1].plot(*metric_series(records, "lr"), color="tab:orange")
    panels[1].set_ylabel("learning rate")
    if tasks:
        for metric in tasks:
            panels[2].plot(*metric_series(records, metric), marker="o", label=metric.removeprefix("validation/"))
        mean_steps, means = metric_series(records, VALIDATION_MEAN)
        if len(tasks) > 1:
            panels[2].plot(mean_steps, means, color="black", linestyle="--", marker="s", label="mean")
        panels[2].set_ylabel("validation score")
        panels[2].legend(loc="lower right")
    panels[-1].set_xlabel("step")
    return _save(figure, Path(output) if output is not None else run_dir / CURVES_FILE)


def plot_runs(runs: Sequence[str | Path], output: str | Path, metric: str = "loss") -> Path:
    """Draw ``metric`` of every run (a run folder or its ``train_log.jsonl``) on one figure, labelled by folder
    names; the loss as its moving average over the raw values. Raises ValueError naming the metrics there are
    when no run has ``metric``, and FileNotFoundError for a run without a log."""
    logs = {Path(run): read_log(log_path(run)) for run in runs}
    missing = [str(run) for run in logs if not log_path(run).is_file()]
    if missing:
        raise FileNotFoundError(f"no {LOG_FILE} in {', '.join(missing)}: give training run folders")
    series = {run: metric_series(records, metric) for run, records in logs.items()}
    if not any(steps for steps, _ in series.values()):
        found = dict.fromkeys(name for records in logs.values() for name in available_metrics(records))
        raise ValueError(f"no run logs metric {metric!r}; valid: {', '.join(found) or 'none (empty logs)'}")
    figure, (panel,) = _figure(1, LABELS.get(metric, metric))
    for (steps, values), label in zip(series.values(), run_labels(list(series)), strict=True):
        window = smoothing_window(len(values))
        if metric == "loss" and window > 1:
            (line,) = panel.plot(steps, values, alpha=0.25, linewidth=0.8)
            panel.plot(steps, moving_average(values, window), color=line.get_color(), linewidth=1.8,
                       label=f"{label} (moving average, {window} steps)")
        else:
            panel.plot(steps, values, marker="o" if len(values) < 30 else None, label=label)
    panel.set_xlabel("step")
    panel.set_ylabel(LABELS.get(metric, metric))
    panel.legend()
    return _save(figure, Path(output))


def run_labels(runs: Sequence[Path]) -> list[str]:
    """The folder name of each run, with as many parent folders as it takes to tell two runs apart."""
    parts = [Path(run).resolve().parts if Path(run).is_dir() else Path(run).resolve().parent.parts for run in runs]
    depth = 1
    while depth < max(len(p) for p in parts):
        labels = ["/".join(p[-depth:]) for p in parts]
        if len(set(labels)) == len(labels):
            return labels
        depth += 1
    return ["/".join(p[-depth:]) for p in parts]


def _figure(rows: int, title: str):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 2.6 * rows + 0.6), layout="constrained")
    panels = figure.subplots(rows, 1, sharex=True, squeeze=False)[:, 0]
    for panel in panels:
        panel.grid(alpha=0.3)
    figure.suptitle(title)
    return figure, list(panels)


def _save(figure, path: Path) -> Path:
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=110)
    return path
