"""Injected faults for ``gtekit encode``: SIGKILL at seeded points, then damaged shard files; every rerun
must end with the bytes an uninterrupted run writes.

One run encodes the texts without interruption. Another is killed (SIGKILL) three times, each time a
seeded delay after it listed a shard of its own, and rerun to the end after the last kill. Then a
seeded shard's .npy or .parquet file is cut short: the rerun must name the damaged file and write it
(and the shards after it) again. The shard files are compared byte for byte each time. With
``GTEKIT_FAULTS_REPORT`` set (``make faults``), a line ``{"suite", "faults", "bytes_compared"}`` is
appended there.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fault_injection import record_faults

pytestmark = pytest.mark.faults

SEED = 1204
KILLS = 3
TEXT_COUNT = 4000
SHARD_SIZE = 200  # 20 shards: many points at which a kill can land
MAX_DELAY_SECONDS = 0.4  # after a shard appears: the run is still going on at least a few shards later
WORDS = ("shard", "resume", "kill", "text", "vector", "index", "rerun", "byte", "seed", "model", "fault", "pipe")


def _texts(count: int) -> list[str]:
    return [" ".join(WORDS[(i * 5 + j) % len(WORDS)] for j in range(2 + i % 9)) + f" {i}" for i in range(count)]


def _environment() -> dict[str, str]:
    """One intra-op thread, so that every run sums in the same order and writes the same bits."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}


def _listed_shards(folder: Path) -> int:
    try:
        return len(json.loads((folder / "manifest.json").read_text())["shards"])
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return 0


def _run_to_the_end(command: list[str]) -> str:
    finished = subprocess.run(command, env=_environment(), capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-3000:]
    return finished.stderr


def _kill_after_a_shard(command: list[str], folder: Path, delay: float) -> bool:
    """Start ``command``; ``delay`` seconds after it lists a shard of its own, SIGKILL it. True if it was still
    running then (a fault was injected), False if it had finished (successfully)."""
    before = _listed_shards(folder)
    process = subprocess.Popen(command, env=_environment(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True)
    try:
        deadline = time.monotonic() + 300
        while _listed_shards(folder) <= before and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(delay)
        if process.poll() is None:
            process.kill()
            process.wait()
            return True
        error = process.stderr.read()
        assert process.returncode == 0, error[-3000:]
        return False
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stderr.close()


def _compare_shard_files(expected: Path, actual: Path) -> int:
    """Assert that both folders list the same shards and hold the same bytes in every shard file; the bytes
    compared."""
    manifest = json.loads((expected / "manifest.json").read_text())
    assert json.loads((actual / "manifest.json").read_text())["shards"] == manifest["shards"]
    assert json.loads((actual / "manifest.json").read_text())["complete"] is True
    compared = 0
    for shard in manifest["shards"]:
        for name in (shard["embeddings"], shard["rows"]):
            want, got = (expected / name).read_bytes(), (actual / name).read_bytes()
            assert got == want, f"{name} differs from the uninterrupted run's ({len(got)} bytes, expected {len(want)})"
            compared += len(want)
    assert not list(actual.glob(".tmp-*")), "temporary files of the killed runs were left behind"
    return compared


def _cut_short(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def test_killed_and_damaged_runs_end_as_an_uninterrupted_run(tiny_model_dir, tmp_path):
    rng = random.Random(SEED)
    source = tmp_path / "texts.txt"
    source.write_text("".join(text + "\n" for text in _texts(TEXT_COUNT)))
    whole, faulty = tmp_path / "whole", tmp_path / "faulty"

    def command(output: Path) -> list[str]:
        return [sys.executable, "-m", "gtekit", "encode", str(tiny_model_dir), str(source), "-o", str(output),
                "--shard-size", str(SHARD_SIZE), "--batch-size", "8", "--max-batch-tokens", "128", "--no-progress"]

    _run_to_the_end(command(whole))
    total = json.loads((whole / "manifest.json").read_text())["shards"]
    assert len(total) == TEXT_COUNT // SHARD_SIZE

    faults = 0
    for _ in range(KILLS):
        faults += _kill_after_a_shard(command(faulty), faulty, rng.uniform(0.0, MAX_DELAY_SECONDS))
        assert 0 < _listed_shards(faulty) < len(total), "a kill landed after the run had finished"
    assert faults == KILLS
    _run_to_the_end(command(faulty))
    compared = _compare_shard_files(whole, faulty)

    shard = rng.randrange(len(total))
    damaged = faulty / rng.choice([total[shard]["embeddings"], total[shard]["rows"]])
    _cut_short(damaged)
    faults += 1
    error = _run_to_the_end(command(faulty))
    assert f"{damaged}: " in error and f"encoding again from shard {shard} " in error, error[-3000:]
    compared += _compare_shard_files(whole, faulty)

    record_faults("encode", faults, compared)
