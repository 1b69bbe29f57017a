"""Fixtures of the training tests: two small pair files and a tiny-model recipe over them."""

from __future__ import annotations

import pytest

from gtekit.config import load_recipe
from tests.helpers import write_source


@pytest.fixture
def sources(tmp_path):
    return [write_source(tmp_path / "alpha.jsonl", 40, negatives=2), write_source(tmp_path / "beta.jsonl", 12)]


@pytest.fixture
def tiny_recipe(tiny_model_dir, sources):
    """``tiny_recipe(output_dir, *overrides)``: 6 steps of 4 pairs on the tiny model, a checkpoint every 2."""

    def make(output_dir, *extra):
        return load_recipe(None, [
            f"model.name={tiny_model_dir}", "model.max_seq_length=32",
            f"data.sources=[{', '.join(str(s) for s in sources)}]",
            f"train.output_dir={output_dir}", "train.steps=6", "train.batch_size=4", "train.lr=1e-3",
            "train.save_every=2", "train.log_every=0", "train.keep_checkpoints=5", "train.data_workers=0",
            "data.guard_tasks=[]", *extra])

    return make
