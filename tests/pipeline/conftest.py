"""A tiny pipeline file: pre-train -> mine -> fine-tune -> compare, on a random tiny BERT and JSONL files
written in a temporary folder (2 training steps per stage, ~40 pairs to mine, one local STS task)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

WORDS = ["cat", "dog", "car", "bus", "tree", "rose", "piano", "violin", "river", "stone"]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def write_inputs(folder: Path) -> None:
    """pretrain.jsonl and finetune.jsonl (40 pairs each) and an STS task file, in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    write_jsonl(folder / "pretrain.jsonl", [{"query": f"title {i} on the {w}", "positive": f"a text {i} about a {w}"}
                                            for i, w in enumerate(WORDS * 4)])
    write_jsonl(folder / "finetune.jsonl", [{"query": f"what is a {w} number {i}?",
                                             "positive": f"the {w} number {i} is a thing"}
                                            for i, w in enumerate(WORDS * 4)])
    (folder / "pairs.csv").write_text("s1,s2,score\n" + "".join(
        f"the {a} is here,a {b} is there,{4.5 if a == b else 0.5 + (i % 3)}\n"
        for i, (a, b) in enumerate((a, b) for a in WORDS[:5] for b in WORDS[:5])))
    (folder / "sts.yaml").write_text(json.dumps({"name": "TinySTS", "type": "STS",
                                                 "data": {"path": "pairs.csv", "text1": "s1", "text2": "s2"}}))


def train_stage(name: str, model, sources: list, negatives: int = 0) -> dict:
    return {"name": name, "kind": "train",
            "model": model if isinstance(model, dict) and "from" in model else {"name": model, "max_seq_length": 32},
            "data": {"sources": sources, "negatives_per_query": negatives, "guard_tasks": []},
            "train": {"steps": 2, "batch_size": 4, "lr": 1e-3, "save_every": 1, "log_every": 0,
                      "data_workers": 0, "prefetch": False}}


def tiny_recipe(model_dir: Path, output_dir: Path) -> dict:
    """Data paths are relative: the recipe file lives beside them."""
    base = str(model_dir)
    return {"output_dir": str(output_dir), "stages": [
        train_stage("pretrain", base, ["pretrain.jsonl"]),
        {"name": "mine", "kind": "mine", "model": {"from": "pretrain"}, "pairs": ["finetune.jsonl"], "top_k": 8,
         "num_negatives": 2, "relative_margin": None, "samples": 1},
        train_stage("finetune", {"from": "pretrain", "max_seq_length": 32}, [{"from": "mine"}], negatives=2),
        {"name": "compare", "kind": "eval", "task_files": ["sts.yaml"],
         "models": [{"label": "base", "model": base}, {"from": "pretrain"}, {"label": "PT+FT",
                                                                            "model": {"from": "finetune"}}]},
    ]}


def write_recipe(folder: Path, recipe: dict, name: str = "multistage.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


@pytest.fixture
def recipe_file(tmp_path, tiny_model_dir) -> Path:
    """The tiny recipe and its data in ``tmp_path/inputs``; outputs go to ``tmp_path/run``."""
    write_inputs(tmp_path / "inputs")
    return write_recipe(tmp_path / "inputs", tiny_recipe(tiny_model_dir, tmp_path / "run"))
