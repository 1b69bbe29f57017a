"""Crash tests: ``gtekit train`` killed with SIGKILL at seeded points and resumed ends bit for bit where an
uninterrupted run ends; a damaged newest checkpoint is skipped on resume, with the same result.

Every run is a ``python -m gtekit train``-equivalent process (``kill_hook.py``, which kills itself at its
point: during a step, between two files of a checkpoint, while the final model is written). Three points
are drawn by a seeded RNG and hit one after the other: the run is killed, resumed and killed again, then
resumed to the end. With ``GTEKIT_FAULTS_REPORT`` set, a line ``{"suite": "train", "faults": N,
"bytes_compared": M}`` is appended to that file.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gtekit.config import load_recipe
from gtekit.training.train_log import TIMING_FIELDS
from tests.fault_injection import record_faults
from tests.helpers import write_source

pytestmark = pytest.mark.faults

KILL_HOOK = Path(__file__).with_name("kill_hook.py")
ROOT = Path(__file__).parents[2]
STEPS, SAVE_EVERY = 8, 2
CHECKPOINT_FILES = 6  # model, optimizer tensors, optimizer structure, random states, trainer state, manifest
SEED = int(os.environ.get("GTEKIT_FAULTS_SEED", "20261204"))  # another seed draws other points


def kill_points(rng: random.Random, count: int) -> list[str]:
    """``count`` distinct kill points in the order a run reaches them."""
    candidates = [(k, 0, 0, f"step:{k}") for k in range(1, STEPS + 1)]
    candidates += [(k, 1, n, f"checkpoint:{k}:{n}") for k in range(SAVE_EVERY, STEPS + 1, SAVE_EVERY)
                   for n in range(1, CHECKPOINT_FILES + 1)]
    candidates.append((STEPS + 1, 0, 0, "model"))
    return [point for *_, point in sorted(rng.sample(candidates, count))]


def gtekit_train(point: str, recipe_file: Path, *options: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(KILL_HOOK), point, "train", str(recipe_file), *options], env=env,
                          capture_output=True, text=True, timeout=180)


def log_without_timing(folder: Path) -> bytes:
    lines = (folder / "train_log.jsonl").read_text().splitlines()
    records = [{k: v for k, v in json.loads(line).items() if k not in TIMING_FIELDS} for line in lines]
    return "\n".join(json.dumps(record) for record in records).encode()


class Comparison:
    """Counts the faults injected and the bytes compared with the uninterrupted run."""

    def __init__(self, reference: Path) -> None:
        self.reference = reference
        self.faults = 0
        self.bytes_compared = 0

    def same_as_reference(self, folder: Path) -> None:
        model, expected = (folder / "model" / "model.safetensors").read_bytes(), (
            self.reference / "model" / "model.safetensors").read_bytes()
        assert model == expected, f"{folder}: the final weights differ from the uninterrupted run's"
        log, expected_log = log_without_timing(folder), log_without_timing(self.reference)
        assert log == expected_log, f"{folder}: the log differs from the uninterrupted run's"
        self.bytes_compared += len(model) + len(log)
        leftovers = [p.name for p in [*folder.iterdir(), *(folder / "checkpoints").iterdir()]
                     if p.name.startswith(".tmp-")]
        assert leftovers == [], f"{folder}: left over from interrupted writes: {leftovers}"

    def report(self) -> None:
        record_faults("train", self.faults, self.bytes_compared)


def write_recipe(path: Path, model_dir: Path, sources: list[Path], output_dir: Path) -> Path:
    recipe = load_recipe(None, [
        f"model.name={model_dir}", "model.max_seq_length=32", f"data.sources=[{', '.join(map(str, sources))}]",
        f"train.output_dir={output_dir}", f"train.steps={STEPS}", "train.batch_size=4", "train.lr=1e-3",
        f"train.save_every={SAVE_EVERY}", "train.keep_checkpoints=2", "train.log_every=0", "train.data_workers=0",
        "data.guard_tasks=[]"])
    path.write_text(yaml.safe_dump(recipe.to_dict()))
    return path


def test_killed_resumed_and_damaged_runs_end_like_an_uninterrupted_one(tiny_model_dir, tmp_path):
    rng = random.Random(SEED)
    sources = [write_source(tmp_path / "alpha.jsonl", 40, negatives=2), write_source(tmp_path / "beta.jsonl", 12)]
    reference_recipe = write_recipe(tmp_path / "reference.yaml", tiny_model_dir, sources, tmp_path / "reference")
    crashed_recipe = write_recipe(tmp_path / "crashed.yaml", tiny_model_dir, sources, tmp_path / "crashed")
    uninterrupted = gtekit_train("none", reference_recipe)
    assert uninterrupted.returncode == 0, uninterrupted.stderr
    comparison = Comparison(tmp_path / "reference")

    points = kill_points(rng, 3)
    for number, point in enumerate(points):
        killed = gtekit_train(point, crashed_recipe, *(["--resume"] if number else []))
        assert killed.returncode == -signal.SIGKILL, f"{point}: {killed.stderr}"
        comparison.faults += 1
    finished = gtekit_train("none", crashed_recipe, "--resume")
    assert finished.returncode == 0, f"after kills at {points}: {finished.stderr}"
    comparison.same_as_reference(tmp_path / "crashed")

    newest = sorted((tmp_path / "crashed" / "checkpoints").glob("step-*"))[-1]
    damaged = newest / rng.choice(sorted(p.name for p in newest.iterdir()))
    damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 2])  # cut short, as a full disk would
    comparison.faults += 1
    recovered = gtekit_train("none", crashed_recipe, "--resume")
    assert recovered.returncode == 0, recovered.stderr
    assert str(damaged) in recovered.stderr and "newest intact checkpoint" in recovered.stderr
    comparison.same_as_reference(tmp_path / "crashed")
    comparison.report()
