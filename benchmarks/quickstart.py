"""The README's quickstart numbers: ``gtekit run recipes/quickstart.yaml`` from scratch, timed, with its table.

    python -m benchmarks.quickstart                      # ~22 min on 2 cores; writes docs/results/quickstart.json
    python -m benchmarks.quickstart --from runs/gte-quickstart --time-log time.txt   # publish a finished run
    python -m benchmarks.quickstart --from DIR --memory benchmarks/results/quickstart-memory-X.json

Runs the recipe as ``make quickstart`` does, into an empty scratch folder (``--output-dir``, default a
temporary one), under ``/usr/bin/time -v``: its wall time and "Maximum resident set size" (the largest
single process, the figure the README quotes) are read from time's report. Each stage's duration is
the gap between the completion markers' ``finished_at`` stamps (the first stage's from the start).
A run measured by ``python -m benchmarks.quickstart_memory`` (whole recipe, one process, its process
tree sampled) is published with ``--memory``: the peak is the largest single process's resident set
over all stages (the figure ``/usr/bin/time -v`` gives), the wall time from its start and finish stamps.
The comparison stage's ``results.json`` (base, PT, FT, PT+FT on the fast offline tasks) goes into the
results file under ``compare``, which ``make claims`` renders with gtekit's own ``format_table``.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "quickstart.yaml"
RESULTS = ROOT / "docs" / "results" / "quickstart.json"
DONE_MARKER = ".gtekit-stage-done.json"


def run_timed(recipe: Path, output_dir: Path, time_log: Path, overrides: list[str] = ()) -> None:
    """``/usr/bin/time -v gtekit run RECIPE --set output_dir=DIR [--set STAGE.KEY=VALUE ...]``, its report
    written to ``time_log``."""
    gtekit = [sys.executable, "-m", "gtekit"]
    command = ["/usr/bin/time", "-v", "-o", str(time_log), *gtekit, "run", str(recipe),
               "--set", f"output_dir={output_dir}", *(part for value in overrides for part in ("--set", value))]
    print("running:", " ".join(command), file=sys.stderr, flush=True)
    subprocess.run(command, check=True, cwd=ROOT)


def read_time_report(text: str) -> dict:
    """Wall seconds and peak RSS from GNU time's ``-v`` report."""
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", text).group(1)
    seconds = 0.0
    for part in wall.split(":"):
        seconds = seconds * 60 + float(part)
    peak_kib = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1))
    return {"wall_seconds": round(seconds, 1), "wall": f"{int(seconds // 60)} min {round(seconds % 60):d} s",
            "peak_rss_mib": round(peak_kib / 1024), "peak_rss_gib": round(peak_kib / 2**20, 2)}


def stage_seconds(recipe: Path, output_dir: Path, started: float | None) -> dict[str, float]:
    """Seconds per stage, from consecutive ``finished_at`` stamps (the first from ``started``, a Unix time)."""
    names = [stage["name"] for stage in yaml.safe_load(recipe.read_text(encoding="utf-8"))["stages"]]
    seconds, previous = {}, started
    for name in names:
        marker = json.loads((output_dir / name / DONE_MARKER).read_text(encoding="utf-8"))
        finished = datetime.strptime(marker["finished_at"], "%Y-%m-%dT%H:%M:%S%z").timestamp()
        if previous is not None:
            seconds[name] = round(finished - previous)
        previous = finished
    return seconds


def read_memory_record(record: dict) -> dict:
    """Wall seconds, peak RSS and per-stage figures from ``benchmarks.quickstart_memory``'s results (whole mode)."""
    if record.get("mode") != "whole" or record.get("rc"):
        raise ValueError("publish a whole-recipe run that succeeded (benchmarks.quickstart_memory without --per-stage)")
    seconds = (datetime.fromisoformat(record["finished"]) - datetime.fromisoformat(record["started"])).total_seconds()
    peak_mib = max(stage["peak_mib"] for stage in record["stages"].values())
    return {"wall_seconds": round(seconds, 1), "wall": f"{int(seconds // 60)} min {round(seconds % 60):d} s",
            "peak_rss_mib": round(peak_mib), "peak_rss_gib": round(peak_mib / 1024, 2),
            "stage_peak_rss_mib": {name: round(stage["peak_mib"]) for name, stage in record["stages"].items()},
            "stage_seconds": {name: round(stage["seconds"]) for name, stage in record["stages"].items()}}


def publish(recipe: Path, output_dir: Path, measured: dict, out: Path, command: str) -> dict:
    """Write the results file: ``measured`` (wall, peak RSS, stage seconds) and the comparison table."""
    import torch

    from .peaks import cpu_model

    record = {
        "command": command,
        "recipe": str(recipe.relative_to(ROOT)) if recipe.is_relative_to(ROOT) else str(recipe),
        "when": datetime.now().isoformat(timespec="seconds"),
        "machine": {"cpus": _cpu_count(), "processor": cpu_model(), "python": platform.python_version(),
                    "torch": torch.__version__},
        **measured,
        "compare": json.loads((output_dir / "compare" / "results.json").read_text(encoding="utf-8")),
    }
    from .report import write_json_atomic

    out.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out, record)
    return record


def _cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.quickstart", description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", type=Path, default=RECIPE, help="the multi-stage recipe to run")
    parser.add_argument("--output-dir", type=Path, default=None,
                        help="an empty folder for the run (default: a temporary one, removed after)")
    parser.add_argument("--from", dest="finished", type=Path, default=None,
                        help="publish this finished run instead of running (needs --time-log)")
    parser.add_argument("--time-log", type=Path, default=None, help="/usr/bin/time -v's report of that run")
    parser.add_argument("--memory", type=Path, default=None,
                        help="or benchmarks.quickstart_memory's results file of that run")
    parser.add_argument("--out", type=Path, default=RESULTS, help="the results file to write")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="STAGE.KEY=VALUE",
                        help="override a stage's value, as `gtekit run --set` (repeatable)")
    args = parser.parse_args(argv)
    recipe = args.recipe.resolve()
    if args.finished is not None:
        if (args.time_log is None) == (args.memory is None):
            parser.error("--from needs --time-log or --memory")
        if args.memory is not None:
            measured = read_memory_record(json.loads(args.memory.read_text(encoding="utf-8")))
            command = f"python -m benchmarks.quickstart_memory, then --from DIR --memory {args.memory.name}"
        else:
            measured = {**read_time_report(args.time_log.read_text()), "stage_seconds": {}}
            command = "gtekit run under /usr/bin/time -v, then python -m benchmarks.quickstart --from DIR --time-log"
        record = publish(recipe, args.finished, measured, args.out, command)
    else:
        scratch = args.output_dir or Path(tempfile.mkdtemp(prefix="gte-quickstart-"))
        if scratch.exists() and any(scratch.iterdir()):
            parser.error(f"{scratch} is not empty: the quickstart is timed from scratch")
        time_log = scratch.parent / f"{scratch.name}.time.txt"
        started = time.time()
        run_timed(recipe, scratch, time_log, args.overrides)
        measured = {**read_time_report(time_log.read_text()), "stage_seconds": stage_seconds(recipe, scratch, started)}
        record = publish(recipe, scratch, measured, args.out,
                         " ".join(["python -m benchmarks.quickstart", *(sys.argv[1:] if argv is None else argv)]))
        if args.output_dir is None:
            shutil.rmtree(scratch, ignore_errors=True)
    from gtekit.evaluation.results_report import format_table

    print(format_table(record["compare"]))
    print(f"wall {record['wall']}, peak RSS {record['peak_rss_gib']} GiB; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
