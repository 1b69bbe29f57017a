"""This machine: CPU model, threads, versions, and the matmul FLOP/s it actually reaches.

The peak is measured, not taken from a datasheet: ``torch.matmul`` on square-ish shapes and on the
encoder's own shapes (tokens × H × I, tokens × I × H, tokens × H × H), all threads, one warm-up call
then timed calls for ``seconds``; a shape's rate is 2·m·k·n over its fastest call, and the peak of
a dtype is its best shape and layout. Each shape runs in two layouts of the right operand: ``a @ b``
with b stored (k, n), and ``a @ w.T`` with w stored (n, k) as ``nn.Linear`` keeps its weight. In fp32
they run alike; in bf16 on a CPU without AVX512-BF16/AMX both are far below fp32, and the (k, n)
layout was a further ~5x slower than the nn.Linear one on the AVX2 machine this was written on.
"""

from __future__ import annotations

import itertools
import platform
import socket
import sys
import time
from pathlib import Path

import torch

SQUARE_SHAPES = ((2048, 1024, 1024), (1024, 1024, 1024))
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
LAYOUTS = {"a@b": "b stored (k, n)", "a@w.T": "w stored (n, k), as nn.Linear's weight"}


def cpu_model() -> str:
    """The "model name" line of /proc/cpuinfo (or platform.processor() elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_flags() -> list[str]:
    """The vector-extension flags of /proc/cpuinfo that decide fp32/bf16 matmul speed."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = line.split(":", 1)[1].split()
                return sorted(f for f in flags if f.startswith(("avx", "amx", "fma")))
    except OSError:
        pass
    return []


def machine_info() -> dict:
    import sentence_transformers
    import transformers

    return {"host": socket.gethostname(), "cpu_model": cpu_model(), "cpu_flags": cpu_flags(),
            "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "transformers": transformers.__version__, "sentence_transformers": sentence_transformers.__version__,
            "python": sys.version.split()[0], "platform": platform.platform()}


def model_shapes(tokens: int, hidden: int, intermediate: int) -> list[tuple[int, int, int]]:
    """(m, k, n) of the encoder's matmuls on a chunk of ``tokens`` tokens: FFN up, FFN down, projections."""
    return [(tokens, hidden, intermediate), (tokens, intermediate, hidden), (tokens, hidden, hidden)]


def matmul_rate(m: int, k: int, n: int, dtype: torch.dtype, seconds: float, layout: str = "a@b") -> dict:
    """FLOP/s of (m, k) @ (k, n) in ``dtype``: one warm-up call, then calls for ``seconds`` (at least one)."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; valid: {', '.join(LAYOUTS)}")
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(m, k, generator=generator).to(dtype)
    if layout == "a@b":
        b = torch.randn(k, n, generator=generator).to(dtype)  # (k, n), contiguous
    else:
        b = torch.randn(n, k, generator=generator).to(dtype).T  # (k, n) view of an (n, k) weight
    torch.matmul(a, b)  # warm-up: oneDNN/BLAS picks and caches its kernel
    best, calls, started = float("inf"), 0, time.perf_counter()
    while calls == 0 or time.perf_counter() - started < seconds:
        begin = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - begin)
        calls += 1
    return {"shape": [m, k, n], "layout": layout, "flop_per_s": 2 * m * k * n / best, "best_s": best, "calls": calls}


def measure_peaks(shapes: list[tuple[int, int, int]], seconds: float,
                  dtypes: tuple[str, ...] = ("fp32", "bf16"), log=print) -> dict:
    """{dtype: {"peak_flop_per_s", "shapes": [...]}} over ``shapes`` × layouts; the peak is the best one."""
    result = {}
    for name in dtypes:
        rates = []
        for (m, k, n), layout in itertools.product(shapes, LAYOUTS):
            rate = matmul_rate(m, k, n, DTYPES[name], seconds, layout)
            log(f"  matmul {name} {m}x{k}x{n} {layout}: {rate['flop_per_s'] / 1e9:.1f} GFLOP/s "
                f"({rate['calls']} calls)")
            rates.append(rate)
        result[name] = {"peak_flop_per_s": max(r["flop_per_s"] for r in rates), "shapes": rates}
    return result
