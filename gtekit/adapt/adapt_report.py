"""The report of a ``gtekit adapt`` run: ``report.json`` (everything), ``report.md`` (for people) and
``report.png`` (the training curve; each task's change with its 95% paired bootstrap interval).

What it says: the corpus (documents by kind, what was skipped and why), the pairs by kind with samples,
the hard negatives kept and dropped, the training curve, the WiSE-FT candidates and the chosen λ, and
before/after on the held-out pseudo-queries, the general tasks and any user evaluation sets: what was
gained and what was lost, with intervals. Reads only the run folder's files.

Depends on ``gtekit.evaluation.results_report`` (the tables) and matplotlib (imported when drawing).
"""

from __future__ import annotations

import json
from pathlib import Path

from ..evaluation.results_report import format_deltas, format_table
from ..io.atomic import atomic_path


def write_report(folder: Path, state: dict, settings) -> dict:
    """Write report.json, report.md and report.png into ``folder``; return the record."""
    read = lambda *parts: json.loads(folder.joinpath(*parts).read_text(encoding="utf-8"))  # noqa: E731
    pairs, negatives = read("pairs", "report.json"), read("negatives", "report.json")
    selection, results = read("select", "selection.json"), read("evaluate", "results.json")
    curve = _training_curve(folder / "train" / "train_log.jsonl")
    deltas = results[1].get("delta_to_first", {})
    headline = {"chosen_weight": selection["chosen_weight"],
                "held_out_change": deltas.get("tasks", {}).get("held-out-queries"),
                "general_tasks_change": _average_of(deltas, settings.selection.general_tasks),
                "evaluation_sets": {Path(p).name: deltas.get("tasks", {}).get(Path(p).name)
                                    for p in settings.eval_beir}}
    record = {"model": settings.model, "inputs": settings.inputs, "budget_minutes": settings.budget_minutes,
              "minutes": round(sum(state["seconds"].values()) / 60, 1),
              "step_seconds": state["seconds"], "headline": headline, "corpus": pairs["corpus"],
              "pairs": pairs["pairs"], "samples": pairs["samples"], "held_out_queries": pairs["held_out_queries"],
              "synthetic_queries": pairs.get("synthetic_queries"), "negatives": negatives,
              "training": {"steps": state["done"].get("train", {}).get("steps"), "curve": curve},
              "selection": selection, "evaluation": results, "settings": state["settings"]}
    with atomic_path(folder / "report.json") as tmp:
        tmp.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    with atomic_path(folder / "report.md") as tmp:
        tmp.write_text(_markdown(record, results), encoding="utf-8")
    _plot(record, deltas, folder / "report.png")
    return record


def _average_of(deltas: dict, tasks) -> dict | None:
    """The mean change over ``tasks`` (no interval: the evaluation's average covers every task)."""
    found = [deltas["tasks"][name]["delta"] for name in tasks if name in deltas.get("tasks", {})]
    return {"delta": sum(found) / len(found), "tasks": len(found)} if found else None


def _training_curve(log: Path) -> list[dict]:
    if not log.is_file():
        return []
    rows = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [{"step": row["step"], "loss": row["loss"], "source": row.get("source")} for row in rows if "loss" in row]


def _markdown(record: dict, results: list[dict]) -> str:
    corpus, pairs, head = record["corpus"], record["pairs"], record["headline"]
    lines = [f"# Adapting {record['model']} to {', '.join(map(str, record['inputs']))}", ""]
    held = head["held_out_change"]
    if held:
        lines.append(f"Held-out pseudo-queries (test), nDCG@10 change: **{_interval(held)}**; "
                     f"chosen WiSE-FT weight λ = {head['chosen_weight']:g}; {record['minutes']} min "
                     f"(budget {record['budget_minutes']:g}).")
    for name, change in head["evaluation_sets"].items():
        if change:
            lines.append(f"- {name}: {_interval(change)}")
    lines += ["", "## Corpus", "", f"{corpus['documents']:,} documents: "
              + ", ".join(f"{kind} {count:,}" for kind, count in corpus["kinds"].items()) + "."]
    if corpus["skipped"]:
        skipped = ", ".join(f"{reason} {count:,}" for reason, count in corpus["skipped"].items())
        lines.append(f"Skipped: {skipped}.")
    lines += ["", "## Pairs by kind", "", "| kind | train | held out |", "|---|---:|---:|"]
    for kind, counts in pairs["kinds"].items():
        lines.append(f"| {kind} | {counts['train']:,} | {counts['held_out']:,} |")
    if pairs["dropped"]:
        lines.append("\nDropped: " + ", ".join(f"{reason} {count:,}" for reason, count in pairs["dropped"].items()))
    lines += ["", "Samples:", ""]
    for kind, shown in record["samples"].items():
        for sample in shown[:2]:
            lines.append(f"- **{kind}**: `{_one_line(sample['query'], 120)}` → {_one_line(sample['positive'], 160)}")
    negatives = record["negatives"]
    lines += ["", "## Hard negatives and training", "",
              f"Triples kept by kind: {', '.join(f'{k} {v:,}' for k, v in negatives['kept'].items())}; dropped: "
              f"{', '.join(f'{k} {v:,}' for k, v in negatives['dropped'].items()) or 'none'}.",
              f"Training: {record['training']['steps']} steps (curve in report.png)."]
    lines += ["", "## WiSE-FT weight, chosen on held-out dev queries", "",
              "| λ | held-out dev nDCG@10 | general dev average |", "|---:|---:|---:|"]
    for candidate in record["selection"]["candidates"]:
        general = "not scored" if candidate["general"] is None else f"{100 * candidate['general']:.2f}"
        lines.append(f"| {candidate['weight']:g} | {100 * candidate['held_out']:.2f} | {general} |")
    lines += ["", "## Before and after (test splits)", "", format_table(results), "", format_deltas(results), "",
              "Times (s): " + ", ".join(f"{step} {seconds:g}" for step, seconds in record["step_seconds"].items()), ""]
    return "\n".join(lines)


def _plot(record: dict, deltas: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    curve = record["training"]["curve"]
    if curve:
        left.plot([p["step"] for p in curve], [p["loss"] for p in curve], lw=0.8, color="tab:blue")
        left.set_xlabel("step")
        left.set_ylabel("training loss")
        left.set_title("training curve")
    tasks = deltas.get("tasks", {})
    names = list(tasks)
    values = [100 * tasks[n]["delta"] for n in names]
    errors = [[100 * (tasks[n]["delta"] - tasks[n]["low"]) for n in names],
              [100 * (tasks[n]["high"] - tasks[n]["delta"]) for n in names]]
    colors = ["tab:green" if v >= 0 else "tab:red" for v in values]
    right.barh(names, values, xerr=errors, color=colors, capsize=3)
    right.axvline(0, color="black", lw=0.8)
    right.set_xlabel("adapted − base (× 100), 95% paired bootstrap interval")
    right.set_title("change by task (test)")
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=110)
    plt.close(figure)


def _interval(change: dict) -> str:
    star = " *" if change.get("significant") else ""
    return f"{100 * change['delta']:+.2f} [{100 * change['low']:+.2f}, {100 * change['high']:+.2f}]{star}"


def _one_line(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit] + " …"
