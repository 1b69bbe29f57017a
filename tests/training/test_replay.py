"""data.replay: general pairs mixed into a run at a set share of the batches, with in-batch negatives only."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gtekit.config import ConfigError, DataConfig, load_recipe
from gtekit.pipeline.pipeline_file import pipeline_from_dict
from gtekit.training.setup import replay_weights
from gtekit.training.trainer import Trainer
from tests.helpers import write_source


def test_replay_weights_give_the_replay_sources_their_share():
    sizes, replay = [100, 400, 900], [False, True, True]
    weights = replay_weights(sizes, 0.5, [1.0, 1.0, 1.0], replay, 0.25)
    mass = np.array(weights) * np.sqrt(sizes)
    p = mass / mass.sum()
    assert p[1:].sum() == pytest.approx(0.25) and p[1] / p[2] == pytest.approx(20 / 30)  # n^0.5 among replay
    with pytest.raises(ConfigError, match="can be drawn"):
        replay_weights(sizes, 0.5, [0.0, 1.0, 1.0], replay, 0.25)


@pytest.mark.parametrize("fields", [{"replay": ["general.jsonl"]}, {"replay_share": 0.2}])
def test_replay_and_its_share_go_together(fields):
    with pytest.raises(ConfigError, match="go together"):
        DataConfig(**fields)
    with pytest.raises(ConfigError, match="replay_share"):
        DataConfig(replay=["general.jsonl"], replay_share=1.0)


def test_replay_batches_have_no_hard_negatives_and_hold_their_share(tiny_model_dir, tmp_path):
    triples = write_source(tmp_path / "triples.jsonl", 16, negatives=3)
    general = write_source(tmp_path / "general.jsonl", 40)  # (query, positive) only
    recipe = load_recipe(None, [
        f"model.name={tiny_model_dir}", "model.max_seq_length=32", f"data.sources=[{triples}]",
        f"data.replay=[{general}]", "data.replay_share=0.4", "data.negatives_per_query=3", "data.guard_tasks=[]",
        f"train.output_dir={tmp_path / 'run'}", "train.steps=8", "train.batch_size=4", "train.log_every=0",
        "train.save_every=0", "train.data_workers=0"])
    trainer = Trainer(recipe)
    assert [s.name for s in trainer.sources] == ["triples", "replay:general"]
    np.testing.assert_allclose(trainer.sampler.probabilities, [0.6, 0.4])
    pairs = trainer.sources[1].pairs[:4]
    assert [kind for _, kind in trainer.preparer.columns(pairs, 0, "replay:general")] == ["query", "document"]
    assert len(trainer.preparer.columns(trainer.sources[0].pairs[:4], 0, "triples")) == 3  # + 4·3 negatives
    trainer.train()
    log = [json.loads(line) for line in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    assert {record["source"] for record in log} == {"triples", "replay:general"}  # seed 42 draws both


def test_a_pipeline_replays_an_earlier_stage_output(tmp_path):
    content = {"output_dir": str(tmp_path / "run"), "stages": [
        {"name": "general", "kind": "data", "mixture": "mix.yaml"},
        {"name": "tune", "kind": "train", "model": {"name": "tiny-model"},
         "data": {"sources": ["triples.jsonl"], "replay": [{"from": "general"}], "replay_share": 0.2}}]}
    tune = pipeline_from_dict(content, where="p.yaml").stage("tune")
    assert tune.settings.data.replay == [str(tmp_path / "run/general/mixture")]
    assert [(r.stage, r.slot) for r in tune.references] == [("general", "data.replay[0]")]
