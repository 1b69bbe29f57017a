"""The training log survives a crash, and an interrupted and resumed run logs every step exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gtekit.training.trainer import Trainer

KILL_HOOK = Path(__file__).with_name("kill_hook.py")
ROOT = Path(__file__).parents[2]


def log_steps(path):
    return [json.loads(line)["step"] for line in path.read_text().splitlines()]


def test_the_log_of_steps_before_a_sigkill_is_kept_and_a_resume_completes_it(tiny_recipe, tmp_path):
    recipe = tiny_recipe(tmp_path / "run")  # 6 steps, a checkpoint every 2
    recipe_file = tmp_path / "recipe.yaml"
    recipe_file.write_text(yaml.safe_dump(recipe.to_dict()))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    killed = subprocess.run([sys.executable, str(KILL_HOOK), "step:4", "train", str(recipe_file)], env=env,
                            capture_output=True, text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    log = tmp_path / "run" / "train_log.jsonl"
    assert log_steps(log) == [1, 2, 3]  # every line flushed as written
    kept = log.read_text().splitlines()[:2]

    Trainer(recipe).train(resume=True)  # from the checkpoint of step 2: step 3 is trained again
    assert log_steps(log) == [1, 2, 3, 4, 5, 6]
    assert log.read_text().splitlines()[:2] == kept


def test_a_crash_after_a_checkpoint_leaves_no_duplicate_steps(tiny_recipe, tmp_path, monkeypatch):
    straight = Trainer(tiny_recipe(tmp_path / "straight"))
    straight.train()
    crashing = Trainer(tiny_recipe(tmp_path / "run"))
    step = crashing.train_step

    def crash_at_step_4():
        if crashing.step == 3:
            raise KeyboardInterrupt("simulated crash")
        return step()

    crashing.train_step = crash_at_step_4
    with pytest.raises(KeyboardInterrupt):
        crashing.train()
    assert log_steps(tmp_path / "run" / "train_log.jsonl") == [1, 2, 3]
    Trainer(tiny_recipe(tmp_path / "run")).train(resume=True)  # from the checkpoint of step 2: step 3 again

    def without_timing(path):
        return [{k: v for k, v in json.loads(line).items() if k not in ("pairs_per_s", "tokens_per_s")}
                for line in path.read_text().splitlines()]

    resumed, expected = without_timing(tmp_path / "run" / "train_log.jsonl"), without_timing(
        tmp_path / "straight" / "train_log.jsonl")
    assert [r["step"] for r in resumed] == [1, 2, 3, 4, 5, 6]
    assert [(r["step"], r["source"]) for r in resumed] == [(r["step"], r["source"]) for r in expected]
    assert [r["loss"] for r in resumed] == pytest.approx([r["loss"] for r in expected], rel=1e-5)


def test_truncate_log_keeps_the_steps_up_to_the_checkpoint_and_drops_a_torn_line(tmp_path):
    from gtekit.training.train_log import truncate_log

    log = tmp_path / "train_log.jsonl"
    lines = [json.dumps({"step": s, "loss": 1.0 / s}) for s in (1, 2)] + [json.dumps({"step": 2, "validation": {}})]
    log.write_text("\n".join(lines) + "\n" + json.dumps({"step": 3, "loss": 0.3}) + "\n" + '{"step": 4, "lo')
    assert truncate_log(log, 2) == 2
    assert log.read_text().splitlines() == lines
    assert truncate_log(log, 2) == 0
    log.write_text(lines[0] + "\n" + '{"step": 2, "lo')
    assert truncate_log(log, 5) == 1 and log.read_text() == lines[0] + "\n"
