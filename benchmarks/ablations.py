"""GTE's ablations in miniature: run ``recipes/ablations.yaml``, then collect its tables, plots and results file.

    python -m benchmarks.ablations                       # make ablations: the pipeline, then the report
    python -m benchmarks.ablations --from runs/gte-ablations   # the report only, from a finished run

Runs ``gtekit run recipes/ablations.yaml`` in a child process (a rerun skips finished stages, so an
interrupted run picks up where it stopped), then reads each ablation's eval stage
(``<run>/<stage>/results.json``: every row's scores and its change to the table's first row with a paired
bootstrap 95% interval) and writes:

- ``docs/results/ablations.json``: every table's results, the pipeline file, the machine, the wall time and
  peak resident memory (``/usr/bin/time -v``: the largest process) and when each stage finished;
- ``docs/results/ablations.md``: per ablation, the scores table and the change table, as gtekit renders them;
- ``docs/ablations-<stage>.png``: per ablation, each row's change to the first row, per task and on average,
  with its 95% interval.

Each file is written to a temporary name, then renamed. docs/ablations.md quotes the tables (``make claims``
checks every number against docs/results/ablations.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from gtekit.io.atomic import atomic_path
from gtekit.pipeline.state import DONE_MARKER as MARKER

from .peaks import cpu_model
from .quickstart import read_time_report

ROOT = Path(__file__).resolve().parent.parent
PIPELINE = ROOT / "recipes" / "ablations.yaml"


@dataclass(frozen=True)
class Ablation:
    stage: str  # the eval stage of recipes/ablations.yaml holding the table
    title: str
    paper: str  # what the paper reports for it


ABLATIONS = (
    Ablation("table-9-stages", "Training stages (paper Table 9)",
             "MTEB average from BERT-base: PT 59.0, FT 57.8, PT+FT 62.4 (pre-training alone beats fine-tuning "
             "alone; both stages beat either)"),
    Ablation("table-10-alpha", "Sampling exponent α of p_i ∝ n_i^α (paper Table 10)",
             "MTEB average: α = 0 55.4, 0.3 58.9, 0.5 59.0, 1 58.3 (0.5 best; uniform sampling worst)"),
    Ablation("table-11-loss", "Negatives of the contrastive loss (paper Table 11)",
             "MTEB average, vanilla (q→d, in-batch) → improved: PT 57.3 → 57.8, FT 61.8 → 62.4"),
    Ablation("batch-size", "Pre-training batch size at a fixed number of steps (paper Figure 3b)",
             "MTEB average rises with the batch size and saturates near 10,000 pairs"),
    Ablation("temperature", "Temperature τ",
             "no ablation; the paper fixes τ = 0.01 for training from an MLM checkpoint (section 3.1)"),
)


def run_pipeline(pipeline: Path, output_dir: str | None, time_log: Path) -> None:
    """``/usr/bin/time -v gtekit run PIPELINE`` in a child process, time's report written to ``time_log``.
    Raises when it fails."""
    command = ["/usr/bin/time", "-v", "-o", str(time_log), sys.executable, "-m", "gtekit", "run", str(pipeline)]
    if output_dir:
        command += ["--set", f"output_dir={output_dir}"]
    completed = subprocess.run(command, cwd=ROOT, check=False)
    if completed.returncode:
        raise SystemExit(f"ablations: `{' '.join(command)}` exited with {completed.returncode}; "
                         "run the same command again to go on from the stage that stopped")


def read_tables(run_dir: Path) -> dict[str, list[dict]]:
    """Each ablation's results (the eval stage's results.json); a missing one is an error naming it."""
    tables = {}
    for ablation in ABLATIONS:
        path = run_dir / ablation.stage / "results.json"
        if not (run_dir / ablation.stage / MARKER).is_file() or not path.is_file():
            raise SystemExit(f"ablations: {path} is missing: stage {ablation.stage!r} has not finished; run "
                             f"`gtekit run {PIPELINE.relative_to(ROOT)}` first")
        tables[ablation.stage] = json.loads(path.read_text(encoding="utf-8"))
    return tables


def stage_finish_times(run_dir: Path) -> dict[str, str]:
    """When each stage of the run finished (its completion marker), in the order they finished."""
    finished = {}
    for marker in run_dir.glob(f"*/{MARKER}"):
        record = json.loads(marker.read_text(encoding="utf-8"))
        finished[record["stage"]] = record["finished_at"]
    return dict(sorted(finished.items(), key=lambda item: item[1]))


def render_markdown(tables: dict[str, list[dict]]) -> str:
    """Per ablation: a heading, what the paper reports, the scores and the changes to the first row."""
    from gtekit.evaluation.results_report import format_deltas, format_table

    parts = []
    for ablation in ABLATIONS:
        results = tables[ablation.stage]
        parts += [f"## {ablation.title}", "", f"Paper: {ablation.paper}.", "",
                  "Main score × 100 on the test splits:", "", format_table(results), "",
                  f"Change to {results[0]['model']} × 100, paired bootstrap 95% interval (* excludes 0):", "",
                  format_deltas(results), ""]
    return "\n".join(parts)


def plot_ablation(ablation: Ablation, results: list[dict], path: Path) -> None:
    """Bars: each row's change to the first row (× 100) per task and on average, with 95% intervals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    compared = results[1:]
    tasks = [*results[0]["tasks"], "average"]
    width = 0.8 / max(1, len(compared))
    figure, axes = plt.subplots(figsize=(11, 4.5))
    for i, result in enumerate(compared):
        deltas = result["delta_to_first"]
        cells = [deltas["tasks"][task] for task in tasks[:-1]] + [deltas["average"]]
        centre = [100 * cell["delta"] for cell in cells]
        below = [100 * (cell["delta"] - cell["low"]) for cell in cells]
        above = [100 * (cell["high"] - cell["delta"]) for cell in cells]
        positions = [x + (i - (len(compared) - 1) / 2) * width for x in range(len(tasks))]
        axes.bar(positions, centre, width=width, yerr=[below, above], capsize=2, label=result["model"])
    axes.axhline(0, color="black", linewidth=0.8)
    axes.set_xticks(range(len(tasks)), tasks, rotation=30, ha="right", fontsize=8)
    axes.set_ylabel(f"change to {results[0]['model']} (× 100)")
    axes.set_title(f"{ablation.title}: test splits, 95% paired bootstrap intervals", fontsize=10)
    axes.legend(fontsize=8)
    axes.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=100)
    plt.close(figure)


def write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def machine() -> dict:
    import torch

    return {"cpus": os.cpu_count(), "processor": cpu_model(), "python": platform.python_version(),
            "torch": torch.__version__, "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ablations", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--from", dest="from_dir", metavar="DIR",
                        help="report on this finished run folder instead of running the pipeline")
    parser.add_argument("--output-dir", metavar="DIR",
                        help="run the pipeline into DIR instead of its output_dir (runs/gte-ablations)")
    parser.add_argument("--time-log", metavar="FILE",
                        help="GNU time's -v report of the run (written here when the pipeline runs; with --from, "
                             "read for the wall time and peak memory, if given)")
    parser.add_argument("--docs", metavar="DIR", default=str(ROOT / "docs"),
                        help="where the plots go; the results files go to DIR/results (default: docs/)")
    args = parser.parse_args(argv)

    time_log = Path(args.time_log) if args.time_log else None
    if args.from_dir:
        run_dir = Path(args.from_dir)
    else:
        run_dir = ROOT / (args.output_dir or "runs/gte-ablations")
        run_dir.mkdir(parents=True, exist_ok=True)
        time_log = time_log or run_dir / "time.txt"
        run_pipeline(PIPELINE, args.output_dir, time_log)
    timing = read_time_report(time_log.read_text(encoding="utf-8")) if time_log else {}
    tables = read_tables(run_dir)
    docs = Path(args.docs)
    (docs / "results").mkdir(parents=True, exist_ok=True)
    record = {"command": "make ablations (python -m benchmarks.ablations)"
                         + (f", report from {args.from_dir}" if args.from_dir else ""),
              "pipeline": str(PIPELINE.relative_to(ROOT)), "when": datetime.now().isoformat(timespec="seconds"),
              "machine": machine(), **timing,
              "stages_finished_at": stage_finish_times(run_dir),
              "ablations": [{"stage": a.stage, "title": a.title, "paper": a.paper, "results": tables[a.stage]}
                            for a in ABLATIONS]}
    write_text(docs / "results" / "ablations.json", json.dumps(record, indent=1, ensure_ascii=False) + "\n")
    markdown = render_markdown(tables)
    write_text(docs / "results" / "ablations.md", markdown)
    for ablation in ABLATIONS:
        plot_ablation(ablation, tables[ablation.stage], docs / f"ablations-{ablation.stage}.png")
    print(markdown)
    print(f"ablations: {docs / 'results' / 'ablations.json'}, {docs / 'results' / 'ablations.md'} and "
          f"{len(ABLATIONS)} plots in {docs}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
