"""A checkpoint damaged on disk is named and skipped on resume: the newest intact one is used instead."""

from __future__ import annotations

import json
import logging

import pytest

from gtekit.training.checkpoint import list_checkpoints
from gtekit.training.trainer import Trainer

FILES = ["model.safetensors", "optimizer.safetensors", "rng.safetensors", "optimizer.json", "trainer_state.json"]


@pytest.fixture
def run_with_two_checkpoints(tiny_recipe, tmp_path):
    run = tmp_path / "run"
    Trainer(tiny_recipe(run)).train(stop_after=4)
    assert [p.name for p in list_checkpoints(run / "checkpoints")] == ["step-0000002", "step-0000004"]
    return run


@pytest.mark.parametrize("name", FILES)
def test_a_file_cut_short_falls_back_to_the_previous_checkpoint(tiny_recipe, run_with_two_checkpoints, name,
                                                                caplog):
    run = run_with_two_checkpoints
    damaged = run / "checkpoints" / "step-0000004" / name
    damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 2])
    trainer = Trainer(tiny_recipe(run))
    with caplog.at_level(logging.WARNING):
        assert trainer.resume()
    assert trainer.step == 2
    assert str(damaged) in caplog.text and "step-0000002" in caplog.text


def test_a_changed_byte_is_found_by_the_manifest(tiny_recipe, run_with_two_checkpoints, caplog):
    run = run_with_two_checkpoints
    damaged = run / "checkpoints" / "step-0000004" / "model.safetensors"
    data = bytearray(damaged.read_bytes())
    data[-100] ^= 0xFF  # inside a tensor: the file still reads, with a wrong weight
    damaged.write_bytes(bytes(data))
    trainer = Trainer(tiny_recipe(run))
    with caplog.at_level(logging.WARNING):
        assert trainer.resume()
    assert trainer.step == 2 and "content changed" in caplog.text


def test_no_intact_checkpoint_is_an_error_naming_the_folder(tiny_recipe, run_with_two_checkpoints):
    run = run_with_two_checkpoints
    for checkpoint in list_checkpoints(run / "checkpoints"):
        (checkpoint / "trainer_state.json").write_text('{"step": ')
    with pytest.raises(RuntimeError, match=rf"(?s){run / 'checkpoints'}: no intact checkpoint to resume from:.*"
                                           r"step-0000002/trainer_state.json: 9 bytes, but"):
        Trainer(tiny_recipe(run)).train(resume=True)


def test_a_checkpoint_without_a_manifest_is_still_read_before_use(tiny_recipe, run_with_two_checkpoints):
    """Checkpoints written before manifests existed: every file must still load."""
    run = run_with_two_checkpoints
    for checkpoint in list_checkpoints(run / "checkpoints"):
        (checkpoint / "manifest.json").unlink()
    damaged = run / "checkpoints" / "step-0000004" / "optimizer.safetensors"
    damaged.write_bytes(damaged.read_bytes()[:-8])
    trainer = Trainer(tiny_recipe(run))
    assert trainer.resume() and trainer.step == 2


def test_the_manifest_lists_every_file_with_its_size(run_with_two_checkpoints):
    checkpoint = run_with_two_checkpoints / "checkpoints" / "step-0000004"
    files = json.loads((checkpoint / "manifest.json").read_text())["files"]
    assert sorted(files) == sorted(FILES)
    assert all(files[name]["bytes"] == (checkpoint / name).stat().st_size for name in FILES)
