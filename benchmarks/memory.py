"""Peak memory of gtekit's training step against the global batch size, each point in a fresh process.

Two kinds of point, each run by ``python -m benchmarks.memory`` in its own subprocess:

- ``step``: full ``Trainer.train_step()`` calls (all-MiniLM-L6-v2, gradient cache, fixed chunk size) on
  N pairs. Their cost grows as N (roughly N/3 s a step on 2 CPU cores), so it is measured at a few N only.
- ``loss``: the part of the step whose memory grows with N beyond the encoder's fixed chunk: the GTE
  loss and its backward on the real-size embedding columns, q and d (N, H) random unit vectors as
  leaves that require grad, as the gradient cache computes it (``loss_fn(leaves).backward()``). With
  ``block`` > 0 it runs the loss in row blocks instead (``gte(q, d, rows=block)``, one backward per
  block), if this gtekit's losses take ``rows``.

Peak RSS: ``ru_maxrss`` of a fork+exec'd child starts at its *parent's* peak (Linux keeps the larger
of the two at exec), so the primary number is the child's own high-water mark, ``VmHWM`` in
/proc/self/status, reset (``echo 5 > /proc/self/clear_refs``) just before the measured phase: that is
the phase's own peak, and ``rss_before`` is the resident set just before it. ``ru_maxrss`` is kept too.
"""

from __future__ import annotations

import argparse
import inspect
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

from .procstat import reset_peak, status_kib

MIB = 1024 * 1024
LOSS_BYTES_PER_ENTRY = 84  # peak growth of gte + backward per entry of (rows per block) × N, fp32, measured


def _measured(phase) -> dict:
    """Run ``phase()`` and report the resident set before it and its peak, in MiB."""
    rss_before = status_kib("VmRSS")
    reset = reset_peak()
    started = time.perf_counter()
    extra = phase() or {}
    seconds = time.perf_counter() - started
    peak = status_kib("VmHWM")
    ru_maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {"rss_before_mib": rss_before / 1024 if rss_before else None,
            "peak_mib": peak / 1024 if peak else ru_maxrss / 1024, "peak_is_phase_only": reset and peak is not None,
            "ru_maxrss_mib": ru_maxrss / 1024, "seconds": seconds, **extra}


def available_mib() -> float | None:
    """MemAvailable of /proc/meminfo, in MiB."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def loss_estimate_mib(n: int, block: int) -> float:
    """About what the loss phase adds at its peak: ~21 fp32 matrices of (rows per block) × N."""
    return LOSS_BYTES_PER_ENTRY * min(block or n, n) * n / MIB


def loss_blocks_supported() -> bool:
    from gtekit import losses

    return "rows" in inspect.signature(losses.gte).parameters and hasattr(losses, "row_blocks")


def loss_point(n: int, dim: int, block: int, temperature: float = 0.01) -> dict:
    """Peak memory of the GTE loss and its backward on (n, dim) query and document columns."""
    import torch
    import torch.nn.functional as F

    from gtekit import losses

    if block and not loss_blocks_supported():
        raise RuntimeError("this gtekit's losses take no `rows` argument: row-blocked loss not available")
    generator = torch.Generator().manual_seed(0)
    q = F.normalize(torch.randn(n, dim, generator=generator), dim=-1).requires_grad_()  # (N, H) leaf
    d = F.normalize(torch.randn(n, dim, generator=generator), dim=-1).requires_grad_()  # (N, H) leaf

    def phase() -> dict:
        if not block:
            loss = losses.gte(q, d, temperature=temperature)
            loss.backward()
            return {"loss": float(loss.detach())}
        total = 0.0
        for rows in losses.row_blocks(n, block):
            part = losses.gte(q, d, temperature=temperature, rows=rows)  # (1/N) Σ_{i in rows} ℓ_i
            part.backward()  # accumulates into q.grad, d.grad; the block's matrices are freed
            total += float(part.detach())
        return {"loss": total}

    return {"kind": "loss", "n": n, "dim": dim, "block": block, **_measured(phase)}


def step_point(n: int, chunk: int, pairs_file: Path, model_name: str, max_seq_length: int, steps: int = 1,
               overrides: tuple[str, ...] = ()) -> dict:
    """Peak memory of ``steps`` full gtekit training steps on the first ``n`` pairs of ``pairs_file``.

    ``rss_before_mib`` is the resident set before the first step; ``peak_mib`` the highest peak of any
    step. The first step also creates the gradients and the AdamW state, and later steps can peak a
    little higher (the allocator keeps memory between steps), so ``steps=2`` gives the steady state.
    """
    from .data import read_benchmark_pairs
    from .throughput import GtekitStep, RunConfig

    pairs = read_benchmark_pairs(pairs_file, n)
    stepper = GtekitStep(model_name, pairs, RunConfig("gtekit", n, chunk, overrides=overrides), max_seq_length)
    stepper.model.train()
    measured = [_measured(lambda: {"loss": stepper.step()}) for _ in range(steps)]
    return {"kind": "step", "n": n, "chunk": chunk, "overrides": list(overrides), "steps": measured,
            "rss_before_mib": measured[0]["rss_before_mib"], "peak_mib": max(m["peak_mib"] for m in measured),
            "seconds": measured[0]["seconds"], "peak_is_phase_only": all(m["peak_is_phase_only"] for m in measured)}


def run_point(args: list[str], timeout: float | None = None) -> dict:
    """Run one point in a fresh ``python -m benchmarks.memory`` process; its last stdout line is the JSON."""
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-m", "benchmarks.memory", *args], cwd=root, capture_output=True,
                          text=True, timeout=timeout)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["exit code " + str(done.returncode)])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def memory_curve(step_batches: list[int], loss_batches: list[int], *, chunk: int, block: int,
                 pairs_file: Path | None, model_name: str, max_seq_length: int, dim: int, steps: int = 1,
                 overrides: tuple[str, ...] = (), log=print) -> dict:
    """Every point of the curve, each in a fresh process: full steps, whole-matrix loss, row-blocked loss."""
    points = []
    for n in step_batches:
        point = run_point(["step", str(n), "--chunk", str(chunk), "--pairs", str(pairs_file), "--model", model_name,
                           "--max-seq-length", str(max_seq_length), "--steps", str(steps),
                           *(f"--set={o}" for o in overrides)])
        points.append({"kind": "step", "n": n, **point})
        log(f"  full step N={n}: {_describe(point)}")
    blocked = block > 0 and loss_blocks_supported()
    for n in loss_batches:
        for b in ([0, block] if blocked and block < n else [0]):  # a block of >= N rows is the whole matrix
            need, free = loss_estimate_mib(n, b), available_mib()
            if free is not None and need > 0.8 * free:  # would swap or be killed: say so instead
                point = {"skipped": f"needs ~{need / 1024:.1f} GiB, {free / 1024:.1f} GiB available"}
                points.append({"kind": "loss", "n": n, "block": b, **point})
                log(f"  loss N={n} {'block ' + str(b) if b else 'whole'}: skipped, {point['skipped']}")
                continue
            point = run_point(["loss", str(n), "--dim", str(dim), "--block", str(b)])
            points.append({"kind": "loss", "n": n, "block": b, **point})
            log(f"  loss N={n} {'block ' + str(b) if b else 'whole'}: {_describe(point)}")
    return {"chunk": chunk, "steps": steps, "overrides": list(overrides), "block": block if blocked else 0,
            "row_blocks_available": loss_blocks_supported(), "points": points}


def _describe(point: dict) -> str:
    if "error" in point:
        return f"failed: {point['error']}"
    return f"peak {point['peak_mib']:.0f} MiB (rss before {point['rss_before_mib']:.0f} MiB), {point['seconds']:.1f} s"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="One memory point (run by benchmarks.run in a fresh process).")
    sub = parser.add_subparsers(dest="kind", required=True)
    step = sub.add_parser("step", help="full gtekit training steps on N pairs")
    step.add_argument("n", type=int)
    step.add_argument("--chunk", type=int, default=64)
    step.add_argument("--pairs", type=Path, required=True, help="JSONL written by benchmarks.data.write_pairs")
    step.add_argument("--model", default="all-MiniLM-L6-v2")
    step.add_argument("--max-seq-length", type=int, default=128)
    step.add_argument("--steps", type=int, default=1, help="steps to run; the peak is the highest of them")
    step.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="gtekit recipe override")
    loss = sub.add_parser("loss", help="the GTE loss and its backward on (N, dim) columns")
    loss.add_argument("n", type=int)
    loss.add_argument("--dim", type=int, default=384)
    loss.add_argument("--block", type=int, default=0, help="rows per loss block (0: the whole matrix at once)")
    args = parser.parse_args(argv)
    if args.kind == "step":
        point = step_point(args.n, args.chunk, args.pairs, args.model, args.max_seq_length, args.steps,
                           tuple(args.set))
    else:
        point = loss_point(args.n, args.dim, args.block)
    print(json.dumps(point))


if __name__ == "__main__":
    main()
