"""Results JSON, Markdown tables and bar charts. No model knowledge.

A result is ``{"model": name, "tasks": {task: {"main_score": ..., "type": ..., ...}}}``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from ..io.atomic import atomic_path


def write_json(path: Path, results: Any) -> None:
    """Write results atomically (temporary file, then rename)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(results, indent=2) + "\n")


def _task_order(results: list[dict]) -> list[tuple[str, str]]:
    """(type, task) pairs, grouped by type in first-seen order."""
    seen: dict[str, str] = {}
    for result in results:
        for task, scores in result["tasks"].items():
            seen.setdefault(task, scores.get("type", ""))
    by_type: dict[str, list[str]] = defaultdict(list)
    for task, kind in seen.items():
        by_type[kind].append(task)
    return [(kind, task) for kind, tasks in by_type.items() for task in tasks]


def type_averages(result: dict) -> dict[str, float]:
    """Mean main score per task type, and over all tasks (key "all")."""
    groups: dict[str, list[float]] = defaultdict(list)
    for scores in result["tasks"].values():
        groups[scores.get("type", "")].append(scores["main_score"])
        groups["all"].append(scores["main_score"])
    return {kind: sum(values) / len(values) for kind, values in groups.items()}


def format_table(results: list[dict]) -> str:
    """Markdown: one row per task (main score × 100), one column per model, then per-type averages."""
    order = _task_order(results)
    lines = ["| task | type | " + " | ".join(result["model"] for result in results) + " |",
             "|---|---" + "|---:" * len(results) + "|"]
    for kind, task in order:
        cells = []
        for result in results:
            score = result["tasks"].get(task, {}).get("main_score")
            cells.append("" if score is None else f"{100 * score:.2f}")
        lines.append(f"| {task} | {kind} | " + " | ".join(cells) + " |")
    averages = [type_averages(result) for result in results]
    kinds = list(dict.fromkeys(kind for kind, _ in order))
    if len(order) > 1:
        for kind in [*kinds, "all"]:
            if kind != "all" and sum(1 for k, _ in order if k == kind) < 2 and len(kinds) > 1:
                continue
            cells = [f"{100 * avg[kind]:.2f}" if kind in avg else "" for avg in averages]
            label = "**average**" if kind == "all" else f"average {kind}"
            lines.append(f"| {label} | | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_deltas(results: list[dict]) -> str:
    """Markdown: each model's change to the first (× 100) with its paired-bootstrap interval, one row per task
    and the average; ``*`` marks a change whose interval excludes 0. Empty when no result has
    ``delta_to_first`` (written by ``comparison.evaluate_models``)."""
    compared = [result for result in results if result.get("delta_to_first", {}).get("tasks")]
    if not compared:
        return ""
    baseline = results[0]["model"]
    first = next(iter(compared[0]["delta_to_first"]["tasks"].values()))
    lines = ["| task | " + " | ".join(f"{result['model']} − {baseline}" for result in compared) + " |",
             "|---" + "|---:" * len(compared) + "|"]
    rows = [(task, task) for _, task in _task_order(results) if task in compared[0]["delta_to_first"]["tasks"]]
    for label, key in [*rows, ("**average**", None)]:
        cells = []
        for result in compared:
            deltas = result["delta_to_first"]
            interval = deltas["tasks"].get(key) if key is not None else deltas.get("average")
            cells.append("" if interval is None else _interval_cell(interval))
        if any(cells):
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append(f"\n{round(100 * first['confidence'])}% paired bootstrap intervals, {first['resamples']} resamples "
                 "of each task's queries, pairs or items; * marks an interval that excludes 0.")
    return "\n".join(lines)


def _interval_cell(interval: dict) -> str:
    mark = " *" if interval["significant"] else ""
    return f"{100 * interval['delta']:+.2f} [{100 * interval['low']:+.2f}, {100 * interval['high']:+.2f}]{mark}"


def plot_results(results: list[dict], path: Path) -> Path:
    """A grouped bar chart of main scores (one group per task, one bar per model), written as PNG."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as error:  # pragma: no cover - matplotlib is a dependency
        raise RuntimeError("the bar chart needs matplotlib: pip install matplotlib") from error
    order = [task for _, task in _task_order(results)]
    width = 0.8 / max(1, len(results))
    figure, axes = plt.subplots(figsize=(max(6.0, 0.9 * len(order) + 2), 4.5))
    for i, result in enumerate(results):
        scores = [100 * result["tasks"].get(task, {}).get("main_score", float("nan")) for task in order]
        positions = [x + (i - (len(results) - 1) / 2) * width for x in range(len(order))]
        axes.bar(positions, scores, width=width, label=result["model"])
    axes.set_xticks(range(len(order)), order, rotation=35, ha="right", fontsize=8)
    axes.set_ylabel("main score × 100")
    axes.set_title("gtekit evaluation")
    axes.legend(fontsize=8)
    axes.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    with atomic_path(Path(path)) as tmp:
        figure.savefig(tmp, format="png", dpi=110)
    plt.close(figure)
    return Path(path)
