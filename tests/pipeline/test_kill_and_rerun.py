"""SIGKILL `gtekit data build`, `gtekit mine` and `gtekit run` at seeded points, rerun, and get the bytes of an
uninterrupted run: an interrupted stage never leaves an output that a rerun trusts and should not."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.fault_injection import compare_trees, gtekit_command, kill_after, record_faults, seeded_delays, timed_run

from .conftest import train_stage, write_inputs, write_recipe
from .test_data_stage import data_recipe

pytestmark = [pytest.mark.faults, pytest.mark.slow]
KILLS = 3


def files_under(folder, *, skip=()):
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*")
                  if path.is_file() and not any(part in skip for part in path.relative_to(folder).parts))


def kill_then_finish(command, reference_seconds, seed, before_rerun=lambda: None):
    """Kill ``command`` at KILLS seeded points (each go starts where the last left), then run it to the
    end; the number of kills that hit a running process."""
    faults = 0
    for delay in seeded_delays(seed, KILLS, 0.3 * reference_seconds, 0.95 * reference_seconds):
        faults += kill_after(command, delay)
        before_rerun()
    timed_run(command)
    return faults


def test_a_killed_data_build_reruns_to_the_same_shards(tmp_path, tiny_model_dir):
    data_recipe(tmp_path, tiny_model_dir)
    command = lambda out: gtekit_command("data", "build", str(tmp_path / "mix.yaml"), "-o", str(out))  # noqa: E731
    seconds = timed_run(command(tmp_path / "expected"))
    last_go = {}

    def no_half_build():  # the manifest is written last: present means complete
        manifest = tmp_path / "built/manifest.json"
        if manifest.exists():
            last_go["manifest"] = json.loads(manifest.read_text())

    faults = kill_then_finish(command(tmp_path / "built"), seconds, seed=1, before_rerun=no_half_build)
    names = files_under(tmp_path / "expected", skip={"manifest.json"})
    assert names == files_under(tmp_path / "built", skip={"manifest.json"})
    compared = compare_trees(tmp_path / "expected", tmp_path / "built", names)
    expected = json.loads((tmp_path / "expected/manifest.json").read_text())
    built = json.loads((tmp_path / "built/manifest.json").read_text())
    assert [source["count"] for source in built["sources"]] == [source["count"] for source in expected["sources"]]
    assert faults >= 1
    record_faults("data build", faults, compared)


def test_a_killed_mine_reruns_to_the_same_negatives(tmp_path, tiny_model_dir):
    write_inputs(tmp_path)
    command = lambda out: gtekit_command("mine", str(tiny_model_dir), str(tmp_path / "finetune.jsonl"),  # noqa: E731
                                         "-o", str(out), "--top-k", "8", "--num-negatives", "2",
                                         "--chunk-size", "8", "--with-scores")
    seconds = timed_run(command(tmp_path / "expected"))
    faults = kill_then_finish(command(tmp_path / "mined"), seconds, seed=2)
    compared = compare_trees(tmp_path / "expected", tmp_path / "mined", ["triples.jsonl", "run.parquet"])
    assert faults >= 1
    record_faults("mine", faults, compared)


def recipes_into(folder, tiny_model_dir, outputs):
    """The data -> pretrain -> mine recipe with a fine-tuning stage after it, one recipe file per output folder
    (the same inputs, so the outputs can be compared)."""
    stages = yaml.safe_load(data_recipe(folder, tiny_model_dir).read_text())
    stages["stages"].append(train_stage("finetune", {"from": "pretrain", "max_seq_length": 32}, [{"from": "mine"}],
                                        negatives=2))
    return [write_recipe(folder, stages | {"output_dir": str(folder / out)}, name=f"{out}.yaml") for out in outputs]


def test_a_killed_multi_stage_run_reruns_to_the_same_models(tmp_path, tiny_model_dir):
    expected, rerun = recipes_into(tmp_path, tiny_model_dir, ["expected", "run"])
    seconds = timed_run(gtekit_command("run", str(expected)))
    faults = kill_then_finish(gtekit_command("run", str(rerun)), seconds, seed=3)
    names = ["pretrain/model/model.safetensors", "mine/triples.jsonl", "finetune/model/model.safetensors"]
    names += ["data/mixture/" + name for name in files_under(tmp_path / "expected/data/mixture",
                                                              skip={"manifest.json"})]
    compared = compare_trees(tmp_path / "expected", tmp_path / "run", names)
    assert not list((tmp_path / "run").rglob(".tmp*")), "a temporary file outlived the run"
    assert faults >= 1
    record_faults("gtekit run", faults, compared)
