"""The training recipe: YAML + dotted overrides into typed dataclasses; bad keys, types and choices are named."""

from __future__ import annotations

import pytest

from gtekit.config import (
    ConfigError,
    CurriculumKind,
    DeviceKind,
    LossName,
    PoolingName,
    Recipe,
    Recompute,
    load_recipe,
    recipe_to_yaml,
)


def test_yaml_and_overrides(tmp_path):
    recipe_file = tmp_path / "r.yaml"
    (tmp_path / "pairs.jsonl").write_text("")
    recipe_file.write_text("model:\n  name: x\ndata:\n  sources: [pairs.jsonl]\ntrain:\n  lr: 1e-4\n  steps: 5\n")
    recipe = load_recipe(recipe_file, ["train.steps=7", "loss.name=infonce", "data.weights={a: 2}"])
    assert isinstance(recipe, Recipe)
    assert recipe.model.name == "x" and recipe.train.lr == 1e-4 and recipe.train.steps == 7
    assert recipe.loss.name == "infonce" and recipe.data.weights == {"a": 2.0}
    assert recipe.data.sources == [str(tmp_path / "pairs.jsonl")]  # relative to the recipe file


@pytest.mark.parametrize(("override", "message"), [
    ("train.lrr=1", "unknown key 'train.lrr'; valid keys in 'train': output_dir, steps"),
    ("trian.lr=1", "unknown key 'trian'; valid keys: model, data, loss, train"),
    ("train.steps=ten", "train.steps: expected int, got 'ten'"),
    ("train.bf16=1", "train.bf16: expected bool"),
    ("train.precision=fp16", "train.precision: unknown value 'fp16'"),
    ("data.sources=a.jsonl", "data.sources: expected list of str"),
    ("noequals", "not of the form"),
])
def test_bad_overrides_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        load_recipe(None, [override])


def test_precision_defaults_to_auto_and_bf16_is_its_older_name():
    assert load_recipe(None, []).train.precision == "auto"
    assert load_recipe(None, ["train.bf16=true"]).train.precision == "bf16"
    with pytest.raises(ConfigError, match=r"train\.bf16: true contradicts train\.precision: fp32"):
        load_recipe(None, ["train.precision=fp32", "train.bf16=true"])


def test_bad_yaml_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_recipe(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [1, 2")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_recipe(bad)
    bad.write_text("train:\n  steps: 1.5\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: train.steps: expected int, got 1.5"):
        load_recipe(bad)


def test_shipped_recipes_are_valid():
    from pathlib import Path

    import yaml

    from gtekit.cli.quickstart import quickstart_recipe_path
    from gtekit.pipeline import load_pipeline

    recipes = [quickstart_recipe_path(), *sorted(Path(__file__).parents[2].glob("recipes/*.yaml"))]
    assert len(recipes) >= 2
    for path in recipes:
        if "stages" in yaml.safe_load(path.read_text()):  # a pipeline file for `gtekit run`
            assert load_pipeline(path).stages
        else:
            assert isinstance(load_recipe(path), Recipe)


def test_the_packaged_recipe_has_a_name_of_its_own():
    """`gtekit quickstart`'s training recipe is not named like the pipeline files of recipes/ (`gtekit run`)."""
    from pathlib import Path

    from gtekit.cli.quickstart import quickstart_recipe_path

    packaged = quickstart_recipe_path()
    assert packaged.is_file() and packaged.name == "stdlib-code-quickstart.yaml"
    assert packaged.name not in {path.name for path in (Path(__file__).parents[2] / "recipes").rglob("*.yaml")}


def test_a_glob_relative_to_the_recipe_folder_is_resolved(tmp_path, monkeypatch):
    (tmp_path / "recipes").mkdir()
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.jsonl").write_text("")
    (tmp_path / "recipes" / "r.yaml").write_text("data:\n  sources: ['../data/*.jsonl']\n")
    monkeypatch.chdir(tmp_path)
    recipe = load_recipe(tmp_path / "recipes" / "r.yaml")
    assert recipe.data.sources == [str(tmp_path / "recipes" / "../data/*.jsonl")]


@pytest.mark.parametrize(("override", "message"), [
    ("loss.name=gtr", "loss.name: unknown value 'gtr'; valid: gte, infonce, symmetric, bidirectional"),
    ("model.pooling=max", "model.pooling: unknown value 'max'; valid: mean, cls, last"),
    ("train.device=gpu", "train.device: unknown value 'gpu'; valid: auto, cpu, cuda, cuda:N"),
    ("train.device=cuda:x", "train.device: unknown value 'cuda:x'; valid: auto, cpu, cuda, cuda:N"),
    ("data.curriculum.kind=hardest", "data.curriculum.kind: unknown value 'hardest'; valid: none, easy_to_hard"),
])
def test_a_value_outside_the_choices_names_the_key_and_lists_the_valid_values(override, message):
    with pytest.raises(ConfigError, match=message):
        load_recipe(None, [override])


@pytest.mark.parametrize(("override", "kind"), [
    ("loss.name=symmetric", LossName), ("model.pooling=cls", PoolingName), ("model.pooling=null", type(None)),
    ("train.recompute=selective", Recompute), ("train.device=cpu", str), ("train.device=cuda", str),
    ("train.device=cuda:1", str)])
def test_every_choice_is_accepted_as_the_string_yaml_gives(override, kind):
    """An enumerated option arrives as its enum member; the device, which may be any cuda:N, as its string."""
    key, _, value = override.partition("=")
    *sections, field_name = key.split(".")
    recipe = load_recipe(None, [override])
    stored = recipe
    for name in (*sections, field_name):
        stored = getattr(stored, name)
    assert stored == (None if value == "null" else value) and type(stored) is kind
    assert f"{field_name}: {value}" in recipe_to_yaml(recipe)  # plain strings: safe_dump writes them


def test_a_curriculum_kind_arrives_as_its_member():
    recipe = load_recipe(None, ["data.negatives_per_query=2", "data.curriculum.kind=easy_to_hard"])
    assert recipe.data.curriculum.kind is CurriculumKind.EASY_TO_HARD
    assert "kind: easy_to_hard" in recipe_to_yaml(recipe)


def test_a_recipe_built_in_code_gets_the_members_too():
    """The dataclasses convert (and check) a string given directly, not only one read from YAML."""
    from gtekit.config import LossConfig, ModelConfig

    assert LossConfig(name="infonce").name is LossName.INFONCE
    assert ModelConfig(pooling="last").pooling is PoolingName.LAST
    with pytest.raises(ConfigError,
                       match=r"loss\.name: unknown value 'x'; valid: gte, infonce, symmetric, bidirectional"):
        LossConfig(name="x")


def test_the_choices_compare_equal_to_their_strings():
    recipe = load_recipe(None, ["loss.name=symmetric", "model.pooling=mean"])
    assert recipe.loss.name == LossName.SYMMETRIC and recipe.model.pooling == PoolingName.MEAN
    assert recipe.train.device == DeviceKind.AUTO


def test_the_choices_are_the_names_the_library_has():
    """config.py lists them again so that it imports nothing else from gtekit; these lists must agree."""
    from gtekit.losses import LOSSES
    from gtekit.model.pooling import POOLINGS

    assert [name.value for name in LossName] == list(LOSSES)
    assert [name.value for name in PoolingName] == list(POOLINGS)


def test_config_imports_nothing_else_from_gtekit():
    """The config package's modules import each other only: relative imports of level 1, no absolute gtekit ones."""
    import ast
    from pathlib import Path

    import gtekit.config

    files = sorted(Path(gtekit.config.__file__).parent.glob("*.py"))
    assert len(files) >= 3
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        relative = [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level > 0]
        absolute = [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level == 0]
        absolute += [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
        siblings = {file.stem for file in files}
        assert all(node.level == 1 and node.module in siblings for node in ast.walk(tree)
                   if isinstance(node, ast.ImportFrom) and node.level > 0), (path, relative)
        assert not [name for name in absolute if name.split(".")[0] == "gtekit"], path


@pytest.mark.parametrize(("override", "message"), [
    ("loss.temperature=0", "loss.temperature must be > 0"),
    ("loss.temperature=-0.05", "loss.temperature must be > 0"),
    ("loss.temperature=.nan", "loss.temperature must be a finite number"),
    ("train.steps=-5", "train.steps must be >= 1, got -5"),
    ("train.steps=0", "train.steps must be >= 1, got 0"),
    ("train.warmup_ratio=5", r"train.warmup_ratio must be in \[0, 1\] .*got 5.0"),
    ("train.warmup_ratio=-0.1", r"train.warmup_ratio must be in \[0, 1\]"),
    ("model.max_seq_length=0", "model.max_seq_length must be >= 1 .*got 0"),
    ("model.max_seq_length=-3", "model.max_seq_length must be >= 1 .*got -3"),
    ("train.lr=0", "train.lr must be > 0"),
    ("train.lr=.inf", "train.lr must be a finite number"),
    ("train.batch_size=0", "train.batch_size must be >= 1"),
    ("train.chunk_size=-1", "train.chunk_size must be >= 0"),
    ("train.seed=-1", r"train.seed must be in \[0, 4294967295\]"),
    ("train.keep_checkpoints=-1", "train.keep_checkpoints must be >= 0"),
    ("data.alpha=-1", "data.alpha must be >= 0"),
    ("data.curriculum.pool=-2", "data.curriculum.pool must be >= 0"),
    ("eval.batch_size=0", "eval.batch_size must be >= 1"),
    ("data.weights={a: -1}", "data.weights.a must be >= 0"),
    ("data.caps={a: 0}", "data.caps.a must be >= 1"),
])
def test_a_value_outside_its_range_names_the_field_and_the_range(override, message):
    with pytest.raises(ConfigError, match=message):
        load_recipe(None, [override])


def test_a_recipe_file_with_a_value_outside_its_range_is_named(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("loss:\n  temperature: 0\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: loss.temperature must be > 0 .*got 0.0"):
        load_recipe(bad)


def test_every_numeric_field_has_a_range_that_is_checked():
    """Each int and float field of every section declares its allowed range, and a value outside it is refused
    with the field's dotted name."""
    import dataclasses
    import typing

    from gtekit import config

    sections = {"model": config.ModelConfig, "model.lora": config.LoraConfig, "data": config.DataConfig,
                "data.curriculum": config.CurriculumConfig,
                "loss": config.LossConfig, "train": config.TrainConfig, "eval": config.EvalConfig}
    checked = 0
    for prefix, cls in sections.items():
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if hints[f.name] not in (int, float):
                continue
            allowed = f.metadata.get("range")
            assert allowed is not None, f"{prefix}.{f.name} declares no range"
            outside = allowed.low - 1 if allowed.low is not None else allowed.high + 1
            with pytest.raises(ConfigError, match=rf"{prefix}.{f.name} must be"):
                load_recipe(None, [f"{prefix}.{f.name}={outside}"])
            checked += 1
    assert checked >= 25
