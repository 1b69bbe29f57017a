"""One run per output folder: a second run is refused unless it resumes or overwrites the first, a resume
keeps the recipe that started the run, and what interrupted writes left behind is removed."""

from __future__ import annotations

import json

import pytest
import yaml

from gtekit.training.checkpoint import list_checkpoints
from gtekit.training.trainer import Trainer


def names(folder):
    return [p.name for p in list_checkpoints(folder / "checkpoints")]


def log_steps(folder):
    return [json.loads(line)["step"] for line in (folder / "train_log.jsonl").read_text().splitlines()]


def test_a_second_run_into_the_same_folder_is_refused(tiny_recipe, tmp_path):
    run = tmp_path / "run"
    Trainer(tiny_recipe(run, "train.steps=4")).train()
    recipe_before = (run / "recipe.yaml").read_text()
    with pytest.raises(ValueError, match=r"already holds a training run \(checkpoints, train_log.jsonl, model\): "
                                         r"pass --resume .* or --overwrite"):
        Trainer(tiny_recipe(run, "train.steps=2", "train.lr=5e-4")).train()
    assert names(run) == ["step-0000002", "step-0000004"] and log_steps(run) == [1, 2, 3, 4]
    assert (run / "recipe.yaml").read_text() == recipe_before


def test_overwrite_deletes_the_old_run_first(tiny_recipe, tmp_path):
    run = tmp_path / "run"
    Trainer(tiny_recipe(run, "train.steps=4")).train()
    (run / "notes.txt").write_text("not part of the run")
    Trainer(tiny_recipe(run, "train.steps=2", "train.lr=5e-4")).train(overwrite=True)
    assert names(run) == ["step-0000002"] and log_steps(run) == [1, 2]
    assert yaml.safe_load((run / "recipe.yaml").read_text())["train"]["lr"] == 5e-4
    assert (run / "notes.txt").is_file()
    with pytest.raises(ValueError, match="give one"):
        Trainer(tiny_recipe(run)).train(resume=True, overwrite=True)


def test_resume_refuses_a_recipe_that_changes_what_is_trained(tiny_recipe, tmp_path):
    run = tmp_path / "run"
    Trainer(tiny_recipe(run)).train(stop_after=2)
    changed = Trainer(tiny_recipe(run, "train.lr=2e-3", "loss.temperature=0.02", "model.max_seq_length=16",
                                  "train.steps=8", "train.log_every=5"))
    with pytest.raises(ValueError, match=r"cannot resume") as refused:
        changed.train(resume=True)
    message = str(refused.value)
    for change in ("train.lr: 0.001 -> 0.002", "loss.temperature: 0.01 -> 0.02", "model.max_seq_length: 32 -> 16"):
        assert change in message
    assert "train.steps:" not in message and "train.log_every:" not in message  # these may change
    assert changed.step == 0 and log_steps(run) == [1, 2]


def test_resume_accepts_the_settings_that_do_not_change_what_is_trained(tiny_recipe, tmp_path):
    run = tmp_path / "run"
    Trainer(tiny_recipe(run)).train(stop_after=2)
    extended = Trainer(tiny_recipe(run, "train.steps=8", "train.save_every=3", "train.keep_checkpoints=1",
                                   "train.prefetch=false", f"train.output_dir={run}/."))
    assert extended.train(resume=True).steps == 8
    assert log_steps(run) == list(range(1, 9))
    assert yaml.safe_load((run / "recipe.yaml").read_text())["train"]["steps"] == 8


def test_leftovers_of_interrupted_writes_are_removed_when_training_starts(tiny_recipe, tmp_path):
    run = tmp_path / "run"
    Trainer(tiny_recipe(run)).train(stop_after=2)
    leftover = run / "checkpoints" / ".tmp-step-0000004-a1b2c3"  # what a kill during a checkpoint write leaves
    leftover.mkdir()
    (leftover / "model.safetensors").write_bytes(b"\0" * 64)
    (run / ".tmp-4242-model").mkdir()  # a kill while the final model was written
    Trainer(tiny_recipe(run)).train(resume=True)
    assert not leftover.exists() and not (run / ".tmp-4242-model").exists()
    assert [p.name for p in (run / "checkpoints").iterdir() if p.name.startswith(".")] == []


def test_the_command_refuses_and_names_both_options(tiny_recipe, tmp_path, capsys):
    from gtekit.cli.main import build_parser, main

    recipe_file = tmp_path / "recipe.yaml"
    recipe_file.write_text(yaml.safe_dump(tiny_recipe(tmp_path / "run", "train.steps=2").to_dict()))
    assert main(["train", str(recipe_file)]) == 0
    capsys.readouterr()
    assert main(["train", str(recipe_file)]) == 2
    error = capsys.readouterr().err
    assert "--resume" in error and "--overwrite" in error
    assert main(["train", str(recipe_file), "--overwrite"]) == 0
    assert log_steps(tmp_path / "run") == [1, 2]
    train_help = build_parser()._subparsers._group_actions[0].choices["train"].format_help()
    assert "--overwrite" in train_help and "train.steps" in train_help and "train.save_every" in train_help
