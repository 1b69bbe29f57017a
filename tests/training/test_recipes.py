"""The GTE paper's recipes (recipes/gte-*.yaml): their settings, and a dry run of each through the CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gtekit.cli.dry_run import SAMPLE_PAIRS_PER_SOURCE, dry_run_recipe, sources_exist
from gtekit.cli.main import main
from gtekit.config import load_recipe
from gtekit.training.checkpoint import latest_checkpoint

RECIPES_DIR = Path(__file__).resolve().parents[2] / "recipes"
RECIPES = sorted(RECIPES_DIR.glob("gte-*.yaml"))
SIZES = {  # GTE paper Table 3: base LM and pre-training learning rate
    "small": ("microsoft/MiniLM-L12-H384-uncased", 3e-4),
    "base": ("bert-base-uncased", 2e-4),
    "large": ("bert-large-uncased", 5e-5),
}


@pytest.fixture
def one_thread():
    """A tiny model gains nothing from intra-op threads, and loses much when the cores are busy."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_one_pretrain_and_one_finetune_recipe_per_size():
    assert [p.name for p in RECIPES] == sorted(f"gte-{size}-{stage}.yaml" for size in SIZES
                                               for stage in ("pretrain", "finetune"))


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_recipe_follows_the_paper(path):
    size, stage = path.stem.split("-")[1:]
    encoder, pretrain_lr = SIZES[size]
    recipe = load_recipe(path)
    assert recipe.loss.name == "gte" and recipe.loss.temperature == 0.01  # Eq. 5-6, τ = 0.01
    assert recipe.model.pooling == "mean" and recipe.data.alpha == 0.5 and recipe.train.warmup_ratio == 0.05
    assert recipe.train.precision == "bf16" and recipe.train.zero_optimizer and recipe.train.chunk_size > 0
    if stage == "pretrain":  # section 3.4 and Table 3
        assert recipe.model.name == encoder
        assert recipe.train.batch_size == 16384 and recipe.train.lr == pretrain_lr
        assert recipe.train.steps == 50_000 and recipe.model.max_seq_length == 128
        assert recipe.data.negatives_per_query == 0 and recipe.train.loss_block_size > 0
    else:  # section 3.4, second stage: batch 128, group size 16, 512 tokens, lr / 10, one epoch of ~3M pairs
        assert recipe.model.name == f"runs/gte-{size}-pretrain/model"
        assert recipe.train.batch_size == 128 and recipe.data.negatives_per_query + 1 == 16
        assert recipe.train.lr == pytest.approx(pretrain_lr / 10) and recipe.model.max_seq_length == 512
        assert recipe.train.steps == pytest.approx(3_000_000 / 128, rel=0.01)
    assert recipe.train.output_dir == f"runs/gte-{size}-{stage}"
    assert recipe.data.sources == [str(RECIPES_DIR / ".." / "data" / stage)]  # relative to the recipe file
    header = path.read_text().split("\nmodel:")[0]
    assert "Table 3" in header or "section 3.4" in header
    assert f"torchrun --nproc-per-node 8 -m gtekit train recipes/{path.name}" in header
    assert ("torchrun --nnodes 2 --nproc-per-node 8 --rdzv-backend c10d --rdzv-endpoint HOST:29500 \\\n"
            f"#     -m gtekit train recipes/{path.name}") in header


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_dry_run_through_the_cli(path, tmp_path, capsys, one_thread):
    """Two steps of the recipe at toy scale. The recipe is copied so that its data folder, relative to
    it, is missing here and the dry run mines its sample, whatever data this checkout holds."""
    copy = tmp_path / "recipes" / path.name
    copy.parent.mkdir()
    shutil.copy(path, copy)
    output = tmp_path / "dry-run"
    assert main(["train", str(copy), "--dry-run", "--output-dir", str(output)]) == 0
    printed = capsys.readouterr().out
    recipe = load_recipe(path)
    assert "train.steps: " + str(recipe.train.steps) + " -> 2" in printed
    assert "dry run passed: 2 steps" in printed
    log = [json.loads(line) for line in (output / "train_log.jsonl").read_text().splitlines()]
    assert [row["step"] for row in log if "loss" in row] == [1, 2]
    assert (output / "model" / "model.safetensors").is_file()
    assert latest_checkpoint(output / "checkpoints").name == "step-0000002"
    rows = [json.loads(line) for line in (output / "data" / "stdlib-http.jsonl").read_text().splitlines()]
    assert len(rows) == SAMPLE_PAIRS_PER_SOURCE
    assert all(len(row.get("negatives", ())) == recipe.data.negatives_per_query for row in rows)


def test_dry_run_shrinks_shapes_and_keeps_the_objective(tmp_path):
    recipe = load_recipe(RECIPES_DIR / "gte-large-finetune.yaml", ["data.weights={finetune: 2}"])
    shrunk = dry_run_recipe(recipe, tmp_path)
    assert shrunk.model.random_init and (shrunk.model.hidden_size, shrunk.model.num_layers) == (32, 2)
    assert shrunk.model.max_seq_length == 32 and shrunk.train.steps == 2 and shrunk.train.batch_size == 8
    assert shrunk.train.chunk_size == 4 and shrunk.train.output_dir == str(tmp_path)
    assert shrunk.loss == recipe.loss and shrunk.data.negatives_per_query == 15 and shrunk.data.alpha == 0.5
    assert shrunk.model.pooling == recipe.model.pooling and shrunk.train.lr == recipe.train.lr
    assert shrunk.train.bf16 == recipe.train.bf16 and shrunk.train.zero_optimizer == recipe.train.zero_optimizer
    assert shrunk.data.weights == {} and not sources_exist(recipe.data.sources)
    assert recipe.train.batch_size == 128 and recipe.model.name == "runs/gte-large-pretrain/model"  # untouched


def test_dry_run_keeps_sources_and_tokenizer_that_exist(tiny_model_dir, tmp_path):
    source = tmp_path / "mine.jsonl"
    source.write_text("".join(json.dumps({"query": f"q {i}", "positive": f"d {i}"}) + "\n" for i in range(8)))
    recipe = load_recipe(RECIPES_DIR / "gte-small-pretrain.yaml",
                         [f"model.name={tiny_model_dir}", f"data.sources=[{source}]"])
    shrunk = dry_run_recipe(recipe, tmp_path / "out")
    assert shrunk.model.name == str(tiny_model_dir) and shrunk.data.sources == [str(source)]
    assert shrunk.train.loss_block_size == 4


def test_train_help_documents_dry_run(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--dry-run" in text and "toy scale" in text and "--output-dir" in text


@pytest.mark.slow
def test_dry_run_under_torchrun_with_two_processes(tmp_path):
    """Both processes shrink the recipe alike, share the output folder and train the same 2 steps."""
    copy = tmp_path / "recipes" / "gte-base-finetune.yaml"
    copy.parent.mkdir()
    shutil.copy(RECIPES_DIR / copy.name, copy)
    output = tmp_path / "dry-run"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "-m", "gtekit", "train",
               str(copy), "--dry-run", "--output-dir", str(output)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("dry run passed: 2 steps") == 1  # printed by rank 0 only
    log = [json.loads(line) for line in (output / "train_log.jsonl").read_text().splitlines()]
    assert [row["step"] for row in log if "loss" in row] == [1, 2]
    assert (output / "model" / "model.safetensors").is_file()


def test_a_second_dry_run_into_the_same_folder_names_overwrite_not_resume(tmp_path, capsys, one_thread):
    copy = tmp_path / "recipes" / RECIPES[0].name
    copy.parent.mkdir()
    shutil.copy(RECIPES[0], copy)
    command = ["train", str(copy), "--dry-run", "--output-dir", str(tmp_path / "dry-run")]
    assert main(command) == 0
    capsys.readouterr()
    assert main(command) == 2
    error = capsys.readouterr().err
    assert "already holds a training run" in error and "--overwrite" in error and "--resume" not in error
    assert main([*command, "--overwrite"]) == 0
