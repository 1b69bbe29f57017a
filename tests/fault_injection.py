"""Injected faults for the ``faults`` tests: SIGKILL a command at seeded points, compare outputs byte for byte.

``make faults`` runs every test marked ``faults`` with ``GTEKIT_FAULTS_REPORT`` set; each test appends a
line ``{"suite", "faults", "bytes_compared"}`` there through :func:`record_faults`, and the Makefile
prints the totals.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

REPORT_ENV = "GTEKIT_FAULTS_REPORT"


def gtekit_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "gtekit", *args]


def quiet_env() -> dict[str, str]:
    """One intra-op thread: the same reduction order in every run, so outputs can be compared bit for bit."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}


def timed_run(command: list[str], cwd: Path | None = None) -> float:
    """Run ``command`` to the end (it must succeed); its wall time in seconds."""
    start = time.monotonic()
    finished = subprocess.run(command, cwd=cwd, env=quiet_env(), capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr[-3000:]
    return time.monotonic() - start


def kill_after(command: list[str], delay: float, cwd: Path | None = None) -> bool:
    """Start ``command``, SIGKILL it after ``delay`` seconds; True if it was still running (a fault was
    injected), False if it had already finished (then it must have succeeded)."""
    process = subprocess.Popen(command, cwd=cwd, env=quiet_env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        process.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the command and any worker it started
        process.wait()
        process.stderr.close()
        return True
    error = process.stderr.read()
    process.stderr.close()
    assert process.returncode == 0, error[-3000:]
    return False


def seeded_delays(seed: int, count: int, start: float, end: float) -> list[float]:
    """``count`` kill times spread over ``[start, end)`` seconds, one in each equal slice, jittered by a
    seeded RNG: different points of the run, the same ones on every machine run."""
    rng = random.Random(seed)
    width = (end - start) / count
    return [start + width * (index + rng.random()) for index in range(count)]


def compare_trees(expected: Path, actual: Path, names: list[str]) -> int:
    """Assert each relative path in ``names`` holds the same bytes under both folders; the bytes compared."""
    compared = 0
    for name in names:
        want, got = (expected / name).read_bytes(), (actual / name).read_bytes()
        assert got == want, f"{name} differs after the injected faults ({len(got)} bytes, expected {len(want)})"
        compared += len(want)
    return compared


def record_faults(suite: str, faults: int, bytes_compared: int) -> None:
    """Append this test's counts to ``$GTEKIT_FAULTS_REPORT`` (when ``make faults`` set it)."""
    path = os.environ.get(REPORT_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"suite": suite, "faults": faults, "bytes_compared": bytes_compared}) + "\n")


def summary(path: Path) -> str:
    """Totals of a report: the line ``make faults`` prints."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
    if not rows:
        raise SystemExit(f"{path}: no fault-injection test reported (were the `faults` tests deselected?)")
    per_suite = ", ".join(f"{row['suite']} {row['faults']}" for row in rows)
    return (f"faults: {sum(row['faults'] for row in rows)} injected ({per_suite}); "
            f"{sum(row['bytes_compared'] for row in rows):,} bytes compared with uninterrupted runs")


if __name__ == "__main__":
    print(summary(Path(sys.argv[1])))
