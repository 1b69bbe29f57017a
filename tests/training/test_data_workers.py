"""Batches from DataLoader workers over streamed shards: the same order as one process, exact resume, per-source
prefixes and caps, and worker errors that reach the training process intact."""

from __future__ import annotations

import logging
from itertools import islice

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from gtekit.config import load_recipe
from gtekit.data.manifest import write_manifest
from gtekit.data.pairs import Pair, PairFormatError, load_sources
from gtekit.data.sampler import SourceSampler
from gtekit.data.streaming import write_mixture
from gtekit.model.embedder import tokenize_texts
from gtekit.training.batches import BatchPreparer, BatchStream
from gtekit.training.trainer import Trainer


def shards_of(name: str, sizes: list[int]) -> list[list[Pair]]:
    shards, k = [], 0
    for size in sizes:
        shards.append([Pair(f"question {k + i} about {name}", f"{name} answer {k + i} is {(k + i) * 7}")
                       for i in range(size)])
        k += size
    return shards


@pytest.fixture(scope="module")
def mixture(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mixture")
    write_mixture(folder, {"alpha": shards_of("alpha", [14, 9, 17]), "beta": shards_of("beta", [10, 12, 6])})
    return folder


def make_recipe(model_dir, sources, output_dir, *extra):
    return load_recipe(None, [
        f"model.name={model_dir}", "model.max_seq_length=24", f"data.sources=[{', '.join(map(str, sources))}]",
        f"train.output_dir={output_dir}", "train.steps=8", "train.batch_size=4", "train.lr=1e-3",
        "train.save_every=0", "train.log_every=0", "train.device=cpu", "data.guard_tasks=[]", *extra])


def recording(trainer: Trainer) -> list[tuple[str, list[int]]]:
    """The (source, example ids) of every batch the trainer takes, in order."""
    taken: list[tuple[str, list[int]]] = []
    take = trainer.batches.next

    def next_batch():
        batch = take()
        taken.append((batch.source, batch.rows))
        return batch

    trainer.batches.next = next_batch
    return taken


def test_interrupted_run_with_two_workers_takes_the_same_batches(tiny_model_dir, mixture, tmp_path):
    straight = Trainer(make_recipe(tiny_model_dir, [mixture], tmp_path / "a", "train.data_workers=2"))
    expected = recording(straight)
    losses = straight.train().losses

    first = Trainer(make_recipe(tiny_model_dir, [mixture], tmp_path / "b", "train.data_workers=2"))
    taken = recording(first)
    first.train(stop_after=3)
    state = first._sampler_state
    assert any(0 < cursor < size for cursor, size in zip(state["cursors"], state["epoch_sizes"], strict=True))
    resumed = Trainer(make_recipe(tiny_model_dir, [mixture], tmp_path / "b", "train.data_workers=2"))
    taken_after = recording(resumed)
    resumed.train(resume=True)
    assert taken + taken_after == expected
    assert len(expected) == 8 and {source for source, _ in expected} == {"alpha", "beta"}

    one_process = Trainer(make_recipe(tiny_model_dir, [mixture], tmp_path / "c", "train.data_workers=0"))
    in_process = recording(one_process)
    assert one_process.train().losses == pytest.approx(losses, rel=1e-6)
    assert in_process == expected  # the same batches whatever the number of workers


def test_a_bad_row_in_a_worker_raises_its_own_error(tiny_model_dir, tmp_path, caplog):
    folder = tmp_path / "bad"
    (folder / "bad").mkdir(parents=True)
    queries = [f"question {i}" for i in range(8)]
    queries[5] = None
    pq.write_table(pa.table({"query": queries, "positive": [f"answer {i}" for i in range(8)]}),
                   folder / "bad" / "part-00000.parquet")
    write_manifest(folder, {"version": 1, "sources": [{"name": "bad", "count": 8,
                                                       "shards": [{"file": "bad/part-00000.parquet", "rows": 8}]}]})

    trainer = Trainer(make_recipe(tiny_model_dir, [folder], tmp_path / "out", "train.steps=2"))
    with pytest.raises(PairFormatError, match=r"part-00000\.parquet:6: field 'query': expected a string, got null"):
        trainer.train()

    skipping = Trainer(make_recipe(tiny_model_dir, [folder], tmp_path / "out2", "train.steps=4",
                                   "data.skip_invalid=true"))
    with caplog.at_level(logging.WARNING, logger="gtekit.training.trainer"):
        skipping.train()
    assert skipping.source_stats["bad"]["skipped"] >= 1  # 4 batches of 4 from 8 rows: row 6 was drawn
    assert "skipped 1 bad row(s) of bad" in caplog.text and ":6: field 'query'" in caplog.text


def test_caps_and_source_prefixes(tiny_model_dir, mixture, tmp_path):
    recipe = make_recipe(tiny_model_dir, [mixture], tmp_path / "p", "data.caps={alpha: 12}",
                         "data.prefixes={beta: {query: 'search_query: ', document: 'passage: '}}",
                         "train.data_workers=0", "train.prefetch=false")
    trainer = Trainer(recipe)
    assert trainer.sampler.epoch_sizes == [12, 28]
    np.testing.assert_allclose(trainer.sampler.probabilities, np.sqrt([12, 28]) / np.sqrt([12, 28]).sum())
    model = trainer.model
    sources = {source.name: source for source in load_sources([mixture])}
    for _ in range(6):
        batch = trainer.batches.next()
        pairs = sources[batch.source].read_batch(batch.rows)[0]
        (queries,), (documents,) = batch.groups
        query_prefix, document_prefix = ("search_query: ", "passage: ") if batch.source == "beta" else (None, None)
        expected = tokenize_texts(model.tokenizer, model.settings, [p.query for p in pairs], "query",
                                  prefix=query_prefix)
        torch.testing.assert_close(queries.features["input_ids"], expected["input_ids"])
        expected = model.tokenize([p.positive for p in pairs], "document", prefix=document_prefix)
        torch.testing.assert_close(documents.features["input_ids"], expected["input_ids"])
    assert model.prepare(["x"], "query", prefix="q: ") == ["q: x"] and model.prepare(["x"], "query") == ["x"]

    for key, message in (("data.caps={gamma: 3}", r"data\.caps names unknown sources \['gamma'\]"),
                         ("data.prefixes={alpha: {title: 'x'}}", r"data\.prefixes\.alpha: unknown kinds \['title'\]")):
        with pytest.raises(ValueError, match=message):
            Trainer(make_recipe(tiny_model_dir, [mixture], tmp_path / "bad", key))


@pytest.mark.filterwarnings("ignore:This DataLoader will create 3 worker processes")
def test_workers_prepare_every_wth_batch_and_deliver_them_in_order(tiny_embedder, mixture):
    """The stream alone: 3 workers interleave to exactly the batches one process prepares, sampler states included;
    and it pickles (for workers that are spawned rather than forked)."""
    import pickle

    from torch.utils.data import DataLoader

    sources = load_sources([mixture])
    sampler = SourceSampler([s.shard_sizes for s in sources], batch_size=4, seed=2)
    preparer = BatchPreparer(sources, tiny_embedder.tokenizer, tiny_embedder.settings, slice(2, 4), chunk_size=2)
    stream = BatchStream(sampler, preparer)
    alone = list(islice(stream, 9))
    together = list(islice(DataLoader(stream, batch_size=None, num_workers=3, collate_fn=lambda item: item), 9))
    assert [(b.source, b.rows, b.sampler_state) for b in together] == [(b.source, b.rows, b.sampler_state)
                                                                        for b in alone]
    assert all(len(b.rows) == 2 and b.pairs == 4 and len(b.groups[0]) == 1 for b in alone)  # 2 rows: one chunk of 2
    assert sampler.state_dict() == SourceSampler([s.shard_sizes for s in sources], 4, seed=2).state_dict()
    unpickled = list(islice(pickle.loads(pickle.dumps(stream)), 3))
    assert [(b.rows, b.sampler_state) for b in unpickled] == [(b.rows, b.sampler_state) for b in alone[:3]]
    for got, expected in zip(unpickled[0].groups[1], alone[0].groups[1], strict=True):
        torch.testing.assert_close(got.features, expected.features)
