"""Does ``torch.compile`` (inductor, CPU) pay for the quickstart? The pre-training stage's step, eager and compiled.

The quickstart's pre-training step (all-MiniLM-L6-v2, 64 standard-library pairs, gradient-cache chunks of 16,
seq 128, GTE loss) runs ``--steps`` times in eager mode and, on a fresh trainer from the same weights, with the
encoder wrapped in ``torch.compile(dynamic=True)``; the two alternate step by step, so a change in load hits
both. Inductor's kernel cache starts empty, in a temporary folder, as on a user's first run. The compiled
path's first steps include the compilation (and recompilations for new shapes). Reported:
each step's seconds, the eager and compiled medians over the steps after the first few, the compile overhead,
dynamo's graph and graph-break counts, and the stage's projected wall time both ways (60 steps, as
recipes/quickstart.yaml trains). The same batch every step means no recompilation for new shapes, which a real
stage would add: the trial favours the compiled path. The compiled path would be kept only if it is faster end
to end, compile time included.

    python -m benchmarks.compile_trial --out benchmarks/results/compile-trial-DATE-vm.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from .report import write_json_atomic


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compile_trial", description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=12, help="steps of each path (default: 12)")
    parser.add_argument("--settle", type=int, default=4, help="first steps left out of the medians (default: 4)")
    parser.add_argument("--stage-steps", type=int, default=60, help="the stage the projection is for (default: 60)")
    parser.add_argument("--out", type=Path, default=None, help="the results file (default: print only)")
    args = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    inductor_cache = tempfile.TemporaryDirectory(prefix="gtekit-inductor-")  # cold: what a first run pays
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = inductor_cache.name
    import torch

    from . import data
    from .ablations import machine
    from .throughput import GtekitStep, RunConfig

    pairs = data.stdlib_train_pairs(64, seed=0)
    config = RunConfig("gtekit", 64, 16, overrides=("train.precision=fp32",))
    eager = GtekitStep("all-MiniLM-L6-v2", pairs, config, 128)
    compiled = GtekitStep("all-MiniLM-L6-v2", pairs, config, 128)
    compiled.model.encoder = torch.compile(compiled.model.encoder, dynamic=True)
    from torch._dynamo.utils import counters
    seconds: dict[str, list[float]] = {"eager": [], "compiled": []}
    losses: dict[str, list[float]] = {"eager": [], "compiled": []}
    for step in range(args.steps):
        for name, stepper in (("eager", eager), ("compiled", compiled)):
            started = time.perf_counter()
            losses[name].append(stepper.step())
            seconds[name].append(time.perf_counter() - started)
            print(f"step {step + 1}/{args.steps} {name}: {seconds[name][-1]:.2f} s, loss {losses[name][-1]:.4f}",
                  flush=True)
    graphs = {"unique_graphs": int(counters["stats"]["unique_graphs"]),
              "graph_breaks": int(sum(counters["graph_break"].values()))}  # 0 breaks: the whole encoder compiled
    median = {name: statistics.median(times[args.settle:]) for name, times in seconds.items()}
    settled = args.stage_steps - args.settle
    projected = {name: sum(times[:args.settle]) + settled * median[name] for name, times in seconds.items()}
    record = {"command": "python -m benchmarks.compile_trial" + "".join(f" {a}" for a in (argv or [])),
              "machine": machine(), "settings": {"batch": 64, "chunk": 16, "max_seq_length": 128, "steps": args.steps,
                                                 "settle": args.settle, "stage_steps": args.stage_steps},
              "torch": torch.__version__, "compiled_graphs": graphs,
              "seconds": seconds, "losses": losses, "median_s": median,
              "compile_overhead_s": sum(seconds["compiled"][:args.settle]) - sum(seconds["eager"][:args.settle]),
              "projected_stage_s": projected,
              "compiled_faster_end_to_end": projected["compiled"] < projected["eager"]}
    print(json.dumps({k: record[k] for k in ("compiled_graphs", "median_s", "compile_overhead_s", "projected_stage_s",
                                             "compiled_faster_end_to_end")}, indent=2))
    inductor_cache.cleanup()
    if args.out:
        write_json_atomic(args.out, record)
    return record


if __name__ == "__main__":
    main()
