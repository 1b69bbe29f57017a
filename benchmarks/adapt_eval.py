"""``gtekit adapt`` measured: adapt the bundled all-MiniLM-L6-v2 to each evaluation corpus of
``benchmarks/adapt_sets`` from its documents alone, then score base and adapted model on the set's real,
human-written queries (never seen by adapt) and on the general offline tasks.

    python -m benchmarks.adapt_eval                      # make adapt-eval: every set, then the report
    python -m benchmarks.adapt_eval --sets npm-jsdoc     # some sets
    python -m benchmarks.adapt_eval --report-only        # the report from finished runs
    python -m benchmarks.adapt_eval --sets pypi-docstrings --runs runs/adapt-distill \
        --out docs/results/adapt-eval-distill.json --distill-weight 1   # a variant: options after the known
                                                                          # ones go to gtekit adapt

For each set, ``/usr/bin/time -v gtekit adapt benchmarks/adapt_sets/SET -o runs/adapt-eval/SET --eval
benchmarks/adapt_sets/SET`` runs in a child process with the command's defaults (a 30-minute budget); a rerun
resumes a run that stopped. adapt reads only ``corpus.jsonl`` of the folder; ``--eval`` scores its
``queries.jsonl`` and ``qrels/test.tsv`` after the adapted model is chosen. Then it writes:

- ``docs/results/adapt-eval.json``: per set, the adapt report's headline, every task's change with its
  paired bootstrap 95% interval, pairs by kind, the chosen WiSE-FT weight, wall time and peak memory;
- ``docs/results/adapt-eval.md``: the table of nDCG@10 before and after on each set, and the general
  tasks' average change, as quoted in docs/adapt.md (``make claims`` checks the numbers).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from gtekit.io.atomic import atomic_path

from .ablations import machine
from .quickstart import read_time_report

ROOT = Path(__file__).resolve().parent.parent
SETS_DIR = ROOT / "benchmarks" / "adapt_sets"
SETS = ("pypi-docstrings", "npm-jsdoc", "pypi-doc-sections")
RUNS = ROOT / "runs" / "adapt-eval"
RESULTS = ROOT / "docs" / "results" / "adapt-eval.json"


def run_adapt(name: str, extra: list[str], runs: Path = RUNS) -> dict:
    """``gtekit adapt`` on one set in a child process under GNU time; its wall time and peak memory."""
    out = runs / name
    out.parent.mkdir(parents=True, exist_ok=True)
    time_log = runs / f"{name}.time.txt"
    command = ["/usr/bin/time", "-v", "-o", str(time_log), sys.executable, "-m", "gtekit", "adapt",
               str(SETS_DIR / name), "-o", str(out), "--eval", str(SETS_DIR / name), *extra]
    completed = subprocess.run(command, cwd=ROOT, check=False)
    if completed.returncode:
        raise SystemExit(f"adapt-eval: `{' '.join(command)}` exited with {completed.returncode}; run it again to "
                         f"resume")
    return read_time_report(time_log.read_text(encoding="utf-8"))


def set_record(name: str, timing: dict | None, runs: Path = RUNS) -> dict:
    report = json.loads((runs / name / "report.json").read_text(encoding="utf-8"))
    results = report["evaluation"]
    deltas = results[1]["delta_to_first"]["tasks"]
    scores = {result["model"]: {task: values["main_score"] for task, values in result["tasks"].items()}
              for result in results}
    general = report["settings"]["selection"]["general_tasks"]
    general_change = sum(deltas[task]["delta"] for task in general) / len(general)
    return {"set": name, "ndcg_at_10": {"base": scores["base"][name], "adapted": scores["adapted"][name]},
            "change": deltas[name], "held_out_pseudo_queries": deltas["held-out-queries"],
            "general_average_change": general_change, "general_tasks": {task: deltas[task] for task in general},
            "chosen_weight": report["headline"]["chosen_weight"], "pairs": report["pairs"],
            "training_steps": report["training"]["steps"], "adapt_minutes": report["minutes"],
            "step_seconds": report["step_seconds"], "timing": timing,
            "selection": _selection(runs / name)}


def _selection(run: Path) -> dict | None:
    """The run's WiSE-FT selection record: every λ's held-out dev score and general dev guard."""
    path = run / "select" / "selection.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def render(records: list[dict]) -> str:
    lines = ["| set | base nDCG@10 | adapted nDCG@10 | change [95% interval] | λ | general tasks' average change |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in records:
        change = r["change"]
        star = " *" if change["significant"] else ""
        lines.append(f"| {r['set']} | {100 * r['ndcg_at_10']['base']:.2f} | {100 * r['ndcg_at_10']['adapted']:.2f} | "
                     f"{100 * change['delta']:+.2f} [{100 * change['low']:+.2f}, {100 * change['high']:+.2f}]{star} | "
                     f"{r['chosen_weight']:g} | {100 * r['general_average_change']:+.2f} |")
    mean = sum(r["change"]["delta"] for r in records) / len(records)
    lines.append(f"| **mean** | | | {100 * mean:+.2f} | | "
                 f"{100 * sum(r['general_average_change'] for r in records) / len(records):+.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.adapt_eval", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default=",".join(SETS), help=f"comma-separated sets (default: {','.join(SETS)})")
    parser.add_argument("--report-only", action="store_true", help="only collect finished runs into the report")
    parser.add_argument("--runs", type=Path, default=RUNS, help=f"the runs' folder (default: {RUNS.relative_to(ROOT)})")
    parser.add_argument("--out", type=Path, default=RESULTS,
                        help=f"the results file, its table beside it as .md (default: {RESULTS.relative_to(ROOT)})")
    args, extra = parser.parse_known_args(argv)
    names = [name for name in args.sets.split(",") if name]
    previous = json.loads(args.out.read_text(encoding="utf-8")) if args.out.is_file() else {"sets": []}
    timings = {record["set"]: record.get("timing") for record in previous["sets"]}
    records = []
    for name in names:
        time_log = args.runs / f"{name}.time.txt"
        if not args.report_only:
            timings[name] = run_adapt(name, extra, args.runs)
        elif time_log.is_file():
            timings[name] = read_time_report(time_log.read_text(encoding="utf-8"))
        records.append(set_record(name, timings.get(name), args.runs))
    record = {"command": "python -m benchmarks.adapt_eval " + " ".join(argv or sys.argv[1:]), "machine": machine(),
              "sets": records, "mean_change": sum(r["change"]["delta"] for r in records) / len(records),
              "mean_general_change": sum(r["general_average_change"] for r in records) / len(records),
              "significant_gains": sum(r["change"]["significant"] and r["change"]["delta"] > 0 for r in records)}
    with atomic_path(args.out) as tmp:
        tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    with atomic_path(args.out.with_suffix(".md")) as tmp:
        tmp.write_text(render(records), encoding="utf-8")
    print(render(records))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
