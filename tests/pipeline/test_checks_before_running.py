"""`gtekit run` checks every stage of a recipe before the first one runs: a typo in the last stage stops the
run at once, with the stage, the key and the valid values, and no stage folder is created."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gtekit.config import ConfigError
from gtekit.pipeline.pipeline_file import pipeline_from_dict

from .conftest import write_recipe

REPO = Path(__file__).resolve().parents[2]


def quickstart_ending_in_a_train_stage(output_dir: Path) -> dict:
    """recipes/quickstart.yaml's stages without the merge and the final comparison, so that a train stage
    (basefinetune) comes last; the data stages read the shipped mixture files."""
    recipe = yaml.safe_load((REPO / "recipes/quickstart.yaml").read_text(encoding="utf-8"))
    recipe["output_dir"] = str(output_dir)
    recipe["stages"] = [stage for stage in recipe["stages"] if stage["kind"] not in ("eval", "merge")]
    for stage in recipe["stages"]:
        if stage["kind"] == "data":
            stage["mixture"] = str(REPO / "recipes" / stage["mixture"])
    assert recipe["stages"][-1]["name"] == "basefinetune"
    return recipe


def test_a_typo_in_the_last_stage_stops_the_run_before_any_stage(tmp_path):
    recipe = quickstart_ending_in_a_train_stage(tmp_path / "run")
    pipeline_from_dict(copy.deepcopy(recipe), where="quickstart")  # as shipped, it loads
    recipe["stages"][-1]["loss"]["name"] = "gtr"
    path = write_recipe(tmp_path, recipe)
    probe = ("import sys; from gtekit.cli.main import main; code = main(['run', sys.argv[1]]); "
             "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules)); sys.exit(code)")
    result = subprocess.run([sys.executable, "-c", probe, str(path)], cwd=tmp_path, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2
    assert ("stage 'basefinetune': loss.name: unknown value 'gtr'; valid: gte, infonce, symmetric, bidirectional"
            in result.stderr)
    assert not (tmp_path / "run").exists()  # no stage started
    assert result.stdout.strip() == "[]"  # checked without importing torch or transformers: a second, not minutes


def test_settings_are_checked_before_task_names(tmp_path):
    """Task names need the evaluation libraries (seconds to import): every other mistake is reported first."""
    recipe = yaml.safe_load((REPO / "recipes/quickstart.yaml").read_text(encoding="utf-8"))
    recipe["output_dir"] = str(tmp_path / "run")
    stages = {stage["name"]: stage for stage in recipe["stages"]}
    stages["compare"]["tasks"] = ["NoSuchTask"]
    stages["basefinetune"]["loss"]["name"] = "gtr"
    with pytest.raises(ConfigError, match=re.escape("stage 'basefinetune': loss.name: unknown value 'gtr'")):
        pipeline_from_dict(copy.deepcopy(recipe), where="quickstart", base=REPO / "recipes")
    stages["basefinetune"]["loss"]["name"] = "gte"
    with pytest.raises(ConfigError, match=re.escape("stage 'compare': tasks: unknown name(s) ['NoSuchTask']; "
                                                    "valid tasks: STSBenchmark")):
        pipeline_from_dict(recipe, where="quickstart", base=REPO / "recipes")
