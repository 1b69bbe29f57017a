"""TensorBoard event files hold the scalars of train_log.jsonl, each step once after a resume; without
tensorboard, training goes on after one message."""

from __future__ import annotations

import json
import shutil
import sys

import pytest

from gtekit.training import tensorboard_log
from gtekit.training.tensorboard_log import MISSING_MESSAGE, TensorBoardLog, scalars
from gtekit.training.trainer import Trainer


def write_validation_task(folder):
    """A tiny STS task file, so that the run validates."""
    (folder / "sts.csv").write_text("s1,s2,score\n" + "".join(f"item {i} thing,item {i} is a thing,{i % 5}\n"
                                                              for i in range(12)))
    spec = folder / "sts.yaml"
    spec.write_text(json.dumps({"name": "TinySTS", "type": "STS", "data": {"path": "sts.csv", "text1": "s1",
                                                                           "text2": "s2"}}))
    return spec


def read_events(folder):
    """{tag: [(step, value), ...]} of every event file under ``folder``, as TensorBoard shows them."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    accumulator.Reload()
    return {tag: [(event.step, event.value) for event in accumulator.Scalars(tag)]
            for tag in accumulator.Tags()["scalars"]}


def expected_scalars(log_file):
    """The same, computed from train_log.jsonl."""
    expected: dict[str, list] = {}
    for line in log_file.read_text().splitlines():
        record = json.loads(line)
        for tag, value in scalars(record).items():
            expected.setdefault(tag, []).append((record["step"], value))
    return expected


def test_scalars_of_a_step_and_of_a_validation():
    step = {"step": 3, "source": "qa", "loss": 1.5, "lr": 1e-4, "pairs_per_s": 20.0, "tokens_per_s": 900.5,
            "source_mean_loss": 1.7}
    assert scalars(step) == {"train/loss": 1.5, "train/lr": 1e-4, "train/pairs_per_s": 20.0,
                             "train/tokens_per_s": 900.5, "loss/qa": 1.5}
    validation = {"step": 4, "validation": {"STSBenchmark": 0.8, "Broken": None}, "validation_mean": 0.8,
                  "best_step": 4}
    assert scalars(validation) == {"validation/STSBenchmark": 0.8, "validation/mean": 0.8}


def test_event_files_equal_the_log_and_a_resume_logs_each_step_once(tiny_recipe, tmp_path):
    spec = write_validation_task(tmp_path)
    recipe = tiny_recipe(tmp_path / "run", "eval.every=2", f"eval.task_files=[{spec}]")  # 6 steps, saved every 2
    Trainer(recipe).train(stop_after=4)  # checkpoints at 2 and 4; events of steps 1-4 and validations 2, 4
    shutil.rmtree(tmp_path / "run" / "checkpoints" / "step-0000004")  # as if it crashed before saving step 4
    Trainer(recipe).train(resume=True)  # from step 2: steps 3 and 4 and validation 4 again, then 5 and 6

    events = read_events(tmp_path / "run" / "tensorboard")
    expected = expected_scalars(tmp_path / "run" / "train_log.jsonl")
    assert len(list((tmp_path / "run" / "tensorboard").glob("events.out.tfevents.*"))) == 2
    assert set(events) == set(expected)
    assert {"train/loss", "train/lr", "train/pairs_per_s", "train/tokens_per_s", "loss/alpha", "loss/beta",
            "validation/TinySTS", "validation/mean"} == set(expected)
    assert [step for step, _ in events["train/loss"]] == [1, 2, 3, 4, 5, 6]
    assert [step for step, _ in events["validation/TinySTS"]] == [2, 4, 6]
    for tag, points in expected.items():
        assert [step for step, _ in events[tag]] == [step for step, _ in points], tag
        assert [value for _, value in events[tag]] == pytest.approx([value for _, value in points], rel=1e-6), tag


def test_without_tensorboard_training_goes_on_after_one_message(tiny_recipe, tmp_path, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails as if not installed
    monkeypatch.setattr(tensorboard_log, "_missing_reported", False)
    trainer = Trainer(tiny_recipe(tmp_path / "run", "train.steps=2"))
    with caplog.at_level("WARNING", logger="gtekit.training.tensorboard_log"):
        trainer.train(stop_after=1)
        trainer.train(stop_after=1)  # a second writer: no second message
        assert not TensorBoardLog(tmp_path / "other").enabled
    assert [r.getMessage() for r in caplog.records if "tensorboard" in r.getMessage()] == [MISSING_MESSAGE]
    assert "pip install 'gtekit[tensorboard]'" in MISSING_MESSAGE
    assert not (tmp_path / "run" / "tensorboard").exists() and not (tmp_path / "other").exists()
    assert (tmp_path / "run" / "model" / "model.safetensors").is_file()
    assert (tmp_path / "run" / "curves.png").is_file()
