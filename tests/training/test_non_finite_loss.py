"""A loss or gradient that is not finite stops training before the optimizer applies it, and nothing with
NaN is saved; every log line is strict JSON."""

from __future__ import annotations

import json
import math

import pytest
import torch

from gtekit.losses import LOSSES
from gtekit.training.checkpoint import list_checkpoints
from gtekit.training.trainer import NonFiniteLossError, Trainer


def weights(trainer):
    return {k: v.clone() for k, v in trainer.parts.state_dict().items()}


def strict_json_lines(path):
    """Every line of a JSONL file, refusing the NaN / Infinity that json.dumps writes by default."""
    def refuse(constant):
        raise ValueError(f"{path}: {constant} is not JSON")

    return [json.loads(line, parse_constant=refuse) for line in path.read_text().splitlines()]


def test_a_zero_temperature_stops_at_the_first_step_and_saves_nothing(tiny_recipe, tmp_path):
    recipe = tiny_recipe(tmp_path / "run")
    recipe.loss.temperature = 0.0  # as a recipe that skipped validation would have it
    trainer = Trainer(recipe)
    before = weights(trainer)
    with pytest.raises(NonFiniteLossError, match=r"step 1 \(source '(alpha|beta)'\): the loss is nan"):
        trainer.train()
    for name, value in weights(trainer).items():
        assert torch.equal(value, before[name]), name  # the optimizer never applied the step
    assert not (tmp_path / "run" / "model").exists()
    assert list_checkpoints(tmp_path / "run" / "checkpoints") == []
    assert strict_json_lines(tmp_path / "run" / "train_log.jsonl") == []


def test_a_loss_that_turns_nan_later_keeps_the_last_good_checkpoint(tiny_recipe, tmp_path, monkeypatch):
    trainer = Trainer(tiny_recipe(tmp_path / "run"))
    real_loss = trainer.step_parts.loss

    def nan_from_step_3(*args, **kwargs):
        loss = real_loss(*args, **kwargs)
        return loss * float("nan") if trainer.step == 2 else loss

    trainer.step_parts.loss = nan_from_step_3
    with pytest.raises(NonFiniteLossError, match=r"step 3 \(source '(alpha|beta)'\)"):
        trainer.train()
    assert [p.name for p in list_checkpoints(tmp_path / "run" / "checkpoints")] == ["step-0000002"]
    assert not (tmp_path / "run" / "model").exists()
    assert all(torch.isfinite(value).all() for value in weights(trainer).values())
    assert [record["step"] for record in strict_json_lines(tmp_path / "run" / "train_log.jsonl")] == [1, 2]


def test_a_finite_loss_with_nan_gradients_is_stopped_too(tiny_recipe, tmp_path):
    trainer = Trainer(tiny_recipe(tmp_path / "run", "train.max_grad_norm=0"))
    real_loss = trainer.step_parts.loss

    def nan_gradient(q, *args, **kwargs):  # d sqrt(x)/dx at x = 0 is inf; times 0 it is nan
        return real_loss(q, *args, **kwargs) + torch.sqrt((q * 0).sum())

    trainer.step_parts.loss = nan_gradient
    before = weights(trainer)
    with pytest.raises(NonFiniteLossError, match=r"step 1 .*gradient norm is (nan|inf)"):
        trainer.train()
    for name, value in weights(trainer).items():
        assert torch.equal(value, before[name]), name


def test_the_command_exits_non_zero(tiny_recipe, tmp_path, monkeypatch, capsys):
    import yaml

    from gtekit.cli.main import main

    recipe_file = tmp_path / "recipe.yaml"
    recipe_file.write_text(yaml.safe_dump(tiny_recipe(tmp_path / "run").to_dict()))
    monkeypatch.setitem(LOSSES, "gte", lambda q, d, negatives=None, **kwargs: (q * d).sum() * math.inf)
    assert main(["train", str(recipe_file)]) == 2
    assert "step 1" in capsys.readouterr().err


def test_log_lines_are_strict_json():
    from gtekit.training.train_log import json_line

    line = json_line({"step": 3, "validation": {"STSBenchmark": float("nan")}, "loss": float("inf"), "lr": 1e-3})
    assert json.loads(line) == {"step": 3, "validation": {"STSBenchmark": None}, "loss": None, "lr": 1e-3}
