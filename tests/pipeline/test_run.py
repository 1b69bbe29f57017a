"""`gtekit run` on the tiny recipe: markers, the comparison table, resuming, refusing changed stages, --rerun-from."""

from __future__ import annotations

import io
import json
import shutil
from contextlib import redirect_stdout
from dataclasses import dataclass

import pytest
import yaml

from gtekit.cli.main import build_parser, main
from gtekit.config import ConfigError
from gtekit.pipeline import Status, load_pipeline, plan_run, run_pipeline
from gtekit.pipeline.state import DONE_MARKER

from .conftest import tiny_recipe, write_inputs, write_recipe

STAGES = ["pretrain", "mine", "finetune", "compare"]


def markers(run_dir):
    return {name: json.loads((run_dir / name / DONE_MARKER).read_text()) for name in STAGES
            if (run_dir / name / DONE_MARKER).is_file()}


def logged_steps(train_dir):
    return [json.loads(line)["step"] for line in (train_dir / "train_log.jsonl").read_text().splitlines()]


def statuses(recipe_file, *overrides, **options):
    return {plan.stage.name: plan.status for plan in plan_run(load_pipeline(recipe_file, overrides), **options)}


@dataclass
class FirstRun:
    """What the first, interrupted go of the ``finished`` run left, and what the second one printed."""

    markers: dict
    statuses: dict
    pretrain_marker: bytes
    resumed_output: str


@pytest.fixture(scope="module")
def finished(tmp_path_factory, tiny_model_dir):
    """The tiny recipe run to the end through the command, in two goes: the first is interrupted while
    mining, the second resumes. Tests that change the run work on a copy (``copy_of_finished``)."""
    folder = tmp_path_factory.mktemp("finished")
    write_inputs(folder / "inputs")
    recipe_file = write_recipe(folder / "inputs", tiny_recipe(tiny_model_dir, folder / "run"))

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt("stopped while mining")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("gtekit.negatives.mining_stage.mine_hard_negatives", interrupted)
        with pytest.raises(KeyboardInterrupt):
            run_pipeline(load_pipeline(recipe_file))
    first = FirstRun(markers(folder / "run"), statuses(recipe_file),
                     (folder / "run/pretrain" / DONE_MARKER).read_bytes(), "")
    with redirect_stdout(io.StringIO()) as output:
        assert main(["run", str(recipe_file)]) == 0
    first.resumed_output = output.getvalue()
    return recipe_file, first


@pytest.fixture
def copy_of_finished(finished, tmp_path):
    finished, _ = finished
    """The finished run copied to ``tmp_path/run``, and a recipe beside the original one (the same data files)
    whose output_dir points at the copy: markers do not depend on where the run folder is."""
    shutil.copytree(finished.parents[1] / "run", tmp_path / "run")
    recipe = yaml.safe_load(finished.read_text()) | {"output_dir": str(tmp_path / "run")}
    return write_recipe(finished.parent, recipe, name=f"{tmp_path.name}.yaml")


def test_a_full_run_writes_markers_and_the_comparison_table(finished, capsys):
    finished, _ = finished
    run_dir = finished.parents[1] / "run"
    done = markers(run_dir)
    assert list(done) == STAGES
    pipeline = load_pipeline(finished)
    assert {name: marker["config_hash"] for name, marker in done.items()} == {
        stage.name: stage.config_hash() for stage in pipeline.stages}
    assert done["finetune"]["inputs"] == {"pretrain": done["pretrain"]["run_id"], "mine": done["mine"]["run_id"]}
    assert (run_dir / "pretrain/model/model.safetensors").is_file() and logged_steps(run_dir / "pretrain") == [1, 2]
    triples = [json.loads(line) for line in (run_dir / "mine/triples.jsonl").read_text().splitlines()]
    assert len(triples) == 40 and all(len(row["negatives"]) == 2 for row in triples)
    table = (run_dir / "compare/results.md").read_text()
    assert table.startswith("| task | type | base | pretrain | PT+FT |") and "| TinySTS | STS |" in table
    results = json.loads((run_dir / "compare/results.json").read_text())
    assert [r["model"] for r in results] == ["base", "pretrain", "PT+FT"]
    assert results[2]["path"] == str(run_dir / "finetune/model")

    assert main(["run", str(finished)]) == 0  # everything finished: nothing runs
    out = capsys.readouterr().out
    assert out.count("done, skipped") == 4 and "running" not in out
    assert markers(run_dir) == done
    assert main(["run", str(finished), "--dry-run"]) == 0
    plan = capsys.readouterr().out
    assert plan.count(" done: finished ") == 4 and "<- mine" in plan and "TinySTS" not in plan


def test_an_interrupted_run_resumes_at_the_first_unfinished_stage(finished):
    recipe_file, first = finished
    run_dir = recipe_file.parents[1] / "run"
    assert list(first.markers) == ["pretrain"]
    assert first.statuses == {"pretrain": Status.DONE, "mine": Status.PENDING, "finetune": Status.PENDING,
                              "compare": Status.PENDING}
    assert "[1/4] pretrain (train): done, skipped" in first.resumed_output
    assert "[2/4] mine (mine): running" in first.resumed_output
    assert (run_dir / "pretrain" / DONE_MARKER).read_bytes() == first.pretrain_marker  # pretrain did not run again
    assert logged_steps(run_dir / "pretrain") == [1, 2]


def test_an_interrupted_train_stage_resumes_from_its_checkpoint(recipe_file, monkeypatch, capsys):
    from gtekit.training.trainer import Trainer

    original = Trainer.train

    def one_step_then_stop(self, resume=False, stop_after=None, overwrite=False):
        original(self, resume=resume, stop_after=1, overwrite=overwrite)  # saves a checkpoint at step 1 (save_every: 1)
        raise KeyboardInterrupt("stopped after step 1")

    monkeypatch.setattr(Trainer, "train", one_step_then_stop)
    with pytest.raises(KeyboardInterrupt):
        run_pipeline(load_pipeline(recipe_file), only="pretrain")
    monkeypatch.undo()
    assert statuses(recipe_file)["pretrain"] is Status.PARTIAL
    assert statuses(recipe_file, "pretrain.train.lr=0.01")["pretrain"] is Status.CONFLICT  # not another config's
    assert main(["run", str(recipe_file), "--only", "pretrain"]) == 0
    assert "pretrain (train): resuming" in capsys.readouterr().out
    run_dir = recipe_file.parents[1] / "run"
    assert logged_steps(run_dir / "pretrain") == [1, 2] and list(markers(run_dir)) == ["pretrain"]


def test_a_changed_finished_stage_is_refused_until_rerun_from(copy_of_finished, tmp_path, capsys):
    run_dir = tmp_path / "run"
    before = markers(run_dir)
    assert statuses(copy_of_finished) == dict.fromkeys(STAGES, Status.DONE)
    changed = ["--set", "finetune.train.lr=0.01"]
    assert main(["run", str(copy_of_finished), *changed]) == 2
    error = capsys.readouterr().err
    assert "stage 'finetune' finished with another config: train.lr: 0.001 -> 0.01" in error
    assert "stage 'compare' finished, but 'finetune' (whose output it reads) changed or was rerun since" in error
    assert "to run 'finetune' again from scratch: --rerun-from finetune (and every stage after it)" in error
    assert markers(run_dir) == before  # nothing ran
    with pytest.raises(ConfigError, match="'compare' reads the output of 'finetune'"):
        run_pipeline(load_pipeline(copy_of_finished, ["finetune.train.lr=0.01"]), only="compare")

    assert main(["run", str(copy_of_finished), *changed, "--rerun-from", "finetune"]) == 0
    after = markers(run_dir)
    assert [after[s]["run_id"] == before[s]["run_id"] for s in STAGES] == [True, True, False, False]
    assert after["compare"]["inputs"]["finetune"] == after["finetune"]["run_id"]
    assert logged_steps(run_dir / "finetune") == [1, 2]  # started over, not appended to the old run
    assert statuses(copy_of_finished, "finetune.train.lr=0.01") == dict.fromkeys(STAGES, Status.DONE)


def test_a_stage_reading_a_rerun_stage_is_stale(copy_of_finished, capsys):
    assert main(["run", str(copy_of_finished), "--only", "pretrain", "--rerun-from", "pretrain"]) == 0
    assert statuses(copy_of_finished) == {"pretrain": Status.DONE, "mine": Status.STALE, "finetune": Status.STALE,
                                          "compare": Status.STALE}
    capsys.readouterr()
    assert main(["run", str(copy_of_finished)]) == 2
    error = capsys.readouterr().err
    assert "stage 'mine' finished, but 'pretrain' (whose output it reads) changed or was rerun since" in error
    assert "--rerun-from mine (and every stage after it)" in error
    with pytest.raises(ConfigError, match="with --only, --rerun-from may only name the same stage"):
        run_pipeline(load_pipeline(copy_of_finished), only="mine", rerun_from="pretrain")


def test_help_explains_every_option_with_an_example(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    parser = build_parser()._subparsers._group_actions[0].choices["run"]
    for action in parser._actions:
        assert action.help, f"option {action.option_strings or action.dest} of run has no help"
        assert all(flag in text for flag in action.option_strings)
    assert "gtekit run recipes/multistage-example.yaml --dry-run" in text
