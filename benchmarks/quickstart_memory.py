"""Peak resident memory of each stage of a multi-stage recipe (``recipes/quickstart.yaml`` by default).

    python -m benchmarks.quickstart_memory                  # the whole recipe in one process, as make quickstart
    python -m benchmarks.quickstart_memory --per-stage      # each stage in a process of its own (--only STAGE)
    python -m benchmarks.quickstart_memory --stages mine --rerun --output-dir DIR   # one stage again, in DIR

Runs ``gtekit run RECIPE --set output_dir=DIR`` in a child process (DIR: a new scratch folder unless
``--output-dir``; the evaluation embedding cache goes to DIR/embedding-cache, so evaluation starts cold)
and samples, every ``--interval`` seconds, ``VmRSS`` and ``VmHWM`` of that process and of every process
under it (DataLoader workers, ``pip download``) from /proc. The stage running is the first one whose
folder has no completion marker ``.gtekit-stage-done.json`` yet.

Per stage: ``peak_mib``, the highest resident set of any one process (what ``/usr/bin/time -v`` reports as
"Maximum resident set size": the largest process); ``main_peak_mib``, the main process's, exact in the
default mode too (``VmHWM`` only rises while the resident set does, so a rise seen between two samples
is charged to the stage running at the second); ``child_peak_mib``, the largest other process's (a
forked worker counts the pages it still shares with its parent); ``tree_peak_mib``, the highest sum over
the tree at one sample. ``ru_maxrss_mib`` (``wait4``) is the largest process's peak over the whole run,
``cpu_seconds`` the user + system time of the run and the children it waited for.

Writes ``benchmarks/results/quickstart-memory-DATE-TIME-HOST.json`` (``*.json.tmp``, then renamed).
Depends on the standard library and PyYAML; Linux (/proc).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import yaml

from .procstat import status_kib

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parent.parent
MARKER = ".gtekit-stage-done.json"


def descendants(pid: int) -> list[int]:
    """``pid`` and every process under it, from the parent ids in /proc/*/stat."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat[stat.rindex(")") + 2:].split()[1])  # the command name may hold spaces
        children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


class TreeSampler(threading.Thread):
    """Samples the resident sets of a process tree and charges each peak to the stage running then."""

    def __init__(self, pid: int, current_stage, interval: float):
        super().__init__(daemon=True)
        self.pid, self.current_stage, self.interval = pid, current_stage, interval
        self.stages: dict[str, dict] = {}
        self.stop = threading.Event()
        self._main_hwm = 0

    def run(self) -> None:
        while not self.stop.is_set():
            self.sample()
            self.stop.wait(self.interval)

    def sample(self) -> None:
        stage = self.current_stage()
        record = self.stages.setdefault(stage, {"peak_mib": 0.0, "main_peak_mib": 0.0, "tree_peak_mib": 0.0,
                                                "child_peak_mib": 0.0, "processes_seen": set(),
                                                "child_hwm_mib": {},
                                                "started": time.time()})
        record["ended"] = time.time()
        tree = 0
        for pid in descendants(self.pid):
            rss = status_kib("VmRSS", pid)
            if rss is None:  # gone, or a zombie
                continue
            tree += rss
            record["processes_seen"].add(pid)
            if pid == self.pid:
                hwm = status_kib("VmHWM", pid) or rss
                if hwm > self._main_hwm:  # a new high-water mark: reached since the last sample, in this stage
                    self._main_hwm = hwm
                    record["main_peak_mib"] = max(record["main_peak_mib"], hwm / 1024)
                record["main_peak_mib"] = max(record["main_peak_mib"], rss / 1024)
            else:
                # a child read between fork and exec reports its parent's high-water mark (the kernel copies it
                # with the address space); exec starts a fresh one, so only each child's latest reading counts
                hwm = status_kib("VmHWM", pid) or rss
                record["child_hwm_mib"][pid] = hwm / 1024
        record["child_peak_mib"] = max(record["child_hwm_mib"].values(), default=0.0)
        record["tree_peak_mib"] = max(record["tree_peak_mib"], tree / 1024)
        record["peak_mib"] = max(record["main_peak_mib"], record["child_peak_mib"])

    def report(self) -> dict[str, dict]:
        return {name: {"peak_mib": round(r["peak_mib"], 1), "main_peak_mib": round(r["main_peak_mib"], 1),
                       "child_peak_mib": round(r["child_peak_mib"], 1), "tree_peak_mib": round(r["tree_peak_mib"], 1),
                       "processes": len(r["processes_seen"]), "seconds": round(r["ended"] - r["started"], 1)}
                for name, r in self.stages.items()}


def stage_names(recipe: Path) -> list[str]:
    return [stage["name"] for stage in yaml.safe_load(recipe.read_text())["stages"]]


def run_measured(command: list[str], output_dir: Path, stages: list[str], interval: float,
                 log_file: Path) -> dict:
    """Run ``command`` under a sampler; per-stage peaks, the main process's ``ru_maxrss`` and its exit code."""

    def current_stage() -> str:
        for name in stages:
            if not (output_dir / name / MARKER).exists():
                return name
        return "(after the last stage)"

    env = {**os.environ, "GTEKIT_EMBEDDING_CACHE": str(output_dir / "embedding-cache")}  # evaluation starts cold
    with open(log_file, "ab") as log:
        process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
        sampler = TreeSampler(process.pid, current_stage, interval)
        sampler.start()
        _, status, usage = os.wait4(process.pid, 0)
        sampler.stop.set()
        sampler.join()
        process.returncode = os.waitstatus_to_exitcode(status)
    return {"stages": sampler.report(), "ru_maxrss_mib": round(usage.ru_maxrss / 1024, 1),
            "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1), "rc": process.returncode}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.quickstart_memory", description=__doc__.split("\n\n")[0])
    p.add_argument("--recipe", type=Path, default=ROOT / "recipes" / "quickstart.yaml")
    p.add_argument("--output-dir", type=Path, default=None,
                   help="where the stages write (default: a new folder under the system's temporary folder)")
    p.add_argument("--stages", default="", help="comma-separated stages to run, each alone (implies --per-stage)")
    p.add_argument("--per-stage", action="store_true", help="run each stage in its own process (--only STAGE)")
    p.add_argument("--rerun", action="store_true",
                   help="with --stages: run each again even if finished (--rerun-from STAGE --only STAGE)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="STAGE.KEY=VALUE",
                   help="passed to gtekit run (repeatable)")
    p.add_argument("--interval", type=float, default=0.05, help="seconds between samples")
    p.add_argument("--results-dir", type=Path, default=RESULTS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    output_dir = (args.output_dir or Path(tempfile.mkdtemp(prefix="gtekit-quickstart-memory-"))).resolve()
    output_dir.mkdir(parents=True, exist_ok=True)
    log_file = output_dir / "quickstart-memory.log"
    all_stages = stage_names(args.recipe)
    base = [sys.executable, "-m", "gtekit", "run", str(args.recipe), "--set", f"output_dir={output_dir}",
            *(f"--set={o}" for o in args.overrides)]
    record = {"recipe": str(args.recipe), "output_dir": str(output_dir), "log": str(log_file),
              "host": platform.node(), "cpus": os.cpu_count(), "python": platform.python_version(),
              "started": datetime.now().isoformat(timespec="seconds"), "interval_s": args.interval}
    selected = [s for s in args.stages.split(",") if s] if args.stages else []
    if selected or args.per_stage:
        record["mode"] = "per-stage"
        record["stages"] = {}
        for name in selected or all_stages:
            only = ["--only", name, *(["--rerun-from", name] if args.rerun else [])]
            measured = run_measured([*base, *only], output_dir, all_stages, args.interval, log_file)
            stage = measured["stages"].get(name, {"processes": 0})
            stage.update(main_peak_mib=measured["ru_maxrss_mib"], cpu_seconds=measured["cpu_seconds"],
                         rc=measured["rc"])
            stage["peak_mib"] = max(stage["main_peak_mib"], stage.get("child_peak_mib", 0.0))
            record["stages"][name] = stage
            print(f"{name}: peak {stage['peak_mib']:.0f} MiB (main process), rc {measured['rc']}", flush=True)
            if measured["rc"]:
                break
    else:
        record["mode"] = "whole"
        measured = run_measured(base, output_dir, all_stages, args.interval, log_file)
        record.update(stages=measured["stages"], ru_maxrss_mib=measured["ru_maxrss_mib"],
                      cpu_seconds=measured["cpu_seconds"], rc=measured["rc"])
        for name, stage in measured["stages"].items():
            print(f"{name}: peak {stage['peak_mib']:.0f} MiB, {stage['seconds']:.0f} s", flush=True)
        print(f"whole run: ru_maxrss {measured['ru_maxrss_mib']:.0f} MiB, rc {measured['rc']}", flush=True)
    record["finished"] = datetime.now().isoformat(timespec="seconds")
    args.results_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path = args.results_dir / f"quickstart-memory-{stamp}-{platform.node()}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    tmp.replace(path)
    print(f"written {path}")
    return record


if __name__ == "__main__":
    main()
