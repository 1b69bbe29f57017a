"""``mine_hard_negatives``: pair files -> pairs with hard negatives, through files each stage can be rerun from.

``OUT`` holds, each file written atomically::

    embeddings/queries/, embeddings/corpus/   embedding stores (``encode_store``), reused shard by shard;
                      the format of ``gtekit.io.embedding_store``, so ``gtekit index build`` reads them too
    run.parquet       top-k candidates per query (``run_file``), reused while the stores and search match
    triples.jsonl     {"query", "positive", "negatives": [...]} per pair kept, in the pair format
                      ``gtekit.data.pairs`` reads (its input order, grouped by query)
    report.json, scores.png, samples.md       (``report``)

Rerunning with other selection options re-encodes and re-searches nothing: only selection runs.
Memory: one chunk of embeddings and one chunk's candidates at a time, plus the texts themselves
(pairs and corpus are held as Python strings to write the triples).

Depends on the ``negatives`` modules, ``gtekit.io`` and ``gtekit.data`` (to read pairs and texts); the model is
anything with ``encode(texts, kind=..., batch_size=...)``, never imported here (``mining_stage`` loads one from
``MineSettings``).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..io.atomic import atomic_path, remove_leftovers
from ..io.embedding_store import EncodedShards
from .candidate_search import SearchSettings, search
from .encode_store import DEFAULT_CHUNK_SIZE, encode_store, store_fingerprint
from .mining_inputs import read_mining_inputs
from .mining_report import MiningReport
from .run_file import read_run, run_metadata, write_run
from .select import SelectionRules, select_negatives

logger = logging.getLogger(__name__)

TRIPLES, RUN = "triples.jsonl", "run.parquet"
POSITIVE_BLOCK = 1024  # queries whose positives are gathered at once


def mine_hard_negatives(model, pair_files: Sequence[str | Path], out_dir: str | Path, *,
                        corpus_file: str | Path | None = None, corpus_field: str = "text",
                        rules: SelectionRules | None = None, search_settings: SearchSettings | None = None,
                        keep_short: bool = False, chunk_size: int = DEFAULT_CHUNK_SIZE, batch_size: int = 64,
                        encode_options: dict | None = None, samples: int = 5, with_scores: bool = False,
                        skip_invalid: bool = False) -> dict:
    """Mine hard negatives for the pairs of ``pair_files`` into ``out_dir``; return the report (also report.json).

    Queries are encoded with ``kind="query"``, the corpus (``corpus_file`` plus the positives, see
    ``inputs``) with ``kind="document"``; each query's ``search_settings.k`` nearest corpus texts are
    the candidates, and ``rules`` (``select``) picks its negatives. A query left with fewer than
    ``rules.num_negatives`` has its pairs dropped, or kept with fewer when ``keep_short``. Rules and
    settings default to ``SelectionRules()`` and ``SearchSettings()``.
    """
    rules = rules or SelectionRules()
    search_settings = search_settings or SearchSettings()
    seconds: dict[str, float] = {}
    began = time.perf_counter()
    inputs = read_mining_inputs(pair_files, corpus_file, corpus_field=corpus_field, skip_invalid=skip_invalid)
    _check_depth(rules, search_settings)
    out = Path(out_dir)
    remove_leftovers(out, (RUN, TRIPLES))  # a killed run's half-written files
    seconds["read"] = _lap(began)

    began = time.perf_counter()
    options = {"chunk_size": chunk_size, "batch_size": batch_size, "encode_options": encode_options}
    queries, encoded_queries = encode_store(model, inputs.queries, out / "embeddings" / "queries", kind="query",
                                            **options)
    corpus, encoded_corpus = encode_store(model, inputs.corpus, out / "embeddings" / "corpus", kind="document",
                                          **options)
    seconds["encode"] = _lap(began)

    began = time.perf_counter()
    produced_by = {"queries": store_fingerprint(queries), "corpus": store_fingerprint(corpus),
                   **search_settings.describe(len(corpus))}
    found = run_metadata(out / RUN)
    reused = found is not None and {key: found.get(key) for key in produced_by} == produced_by
    if not reused:
        write_run(out / RUN, search(queries, corpus, search_settings), produced_by, queries.shard_bounds())
    seconds["search"] = _lap(began)

    began = time.perf_counter()
    report = MiningReport(len(inputs.queries), rules.num_negatives, samples=samples, seed=rules.seed)

    def texts(query: int, candidates) -> tuple[str, list[str]]:
        return inputs.queries[query], [inputs.corpus[int(c)] for c in candidates]

    written = dropped = 0
    with atomic_path(out / TRIPLES) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        for start, scores, ids in read_run(out / RUN):
            stop = start + len(ids)
            positive_ids = inputs.positives(start, stop)  # (Q, P)
            positive_scores = _positive_scores(queries, corpus, start, positive_ids)  # (Q, P), +inf padded
            hardest = positive_scores.argmin(axis=1)  # (Q,) each query's lowest-scoring positive sets its margins
            hardest_ids = np.take_along_axis(positive_ids, hardest[:, None], axis=1)[:, 0]
            hardest_scores = np.take_along_axis(positive_scores, hardest[:, None], axis=1)[:, 0]
            selection = select_negatives(scores, ids, positive_ids, hardest_scores, rules, np.arange(start, stop),
                                         inputs.query_corpus[start:stop])
            report.add_chunk(start, scores, ids, selection, hardest_ids, hardest_scores, texts)
            for row in range(len(ids)):
                count = int(selection.counts[row])
                pairs = inputs.pairs_of(start + row)
                if count < rules.num_negatives and not keep_short:
                    dropped += len(pairs)
                    continue
                negatives = [inputs.corpus[i] for i in selection.ids[row, :count]]
                for pair in pairs:
                    triple = {"query": inputs.pairs[pair].query, "positive": inputs.pairs[pair].positive,
                              "negatives": negatives}
                    if with_scores:
                        column = np.flatnonzero(positive_ids[row] == inputs.pair_positive[pair])[0]
                        triple["positive_score"] = round(float(positive_scores[row, column]), 6)
                        triple["negative_scores"] = [round(float(s), 6) for s in selection.scores[row, :count]]
                    handle.write(json.dumps(triple, ensure_ascii=False) + "\n")
                    written += 1
    seconds["select"] = _lap(began)

    record = {
        "inputs": inputs.counts,
        "settings": {"rules": {**asdict(rules), "sampling": rules.sampling.value},
                     "search": produced_by | {"chunk_size": chunk_size}, "keep_short": keep_short},
        "encoded_chunks": {"queries": f"{encoded_queries} of {len(queries.shards)}",
                           "corpus": f"{encoded_corpus} of {len(corpus.shards)}"},
        "run_file_reused": reused,
        "output": {"pairs_written": written, "pairs_dropped_too_few_negatives": dropped},
        "seconds": seconds,
    }
    report.write(out, record, texts)
    summary = json.loads((out / "report.json").read_text())
    logger.info("mined %d pairs with negatives into %s", written, out / TRIPLES)
    return summary


def _positive_scores(queries: EncodedShards, corpus: EncodedShards, start: int,
                     positive_ids: np.ndarray) -> np.ndarray:
    """(Q, P) the score of each query of [start, start + Q) with each of its positives; +inf where padded."""
    scores = np.full(positive_ids.shape, np.inf, dtype=np.float32)
    for a in range(0, len(positive_ids), POSITIVE_BLOCK):
        block = positive_ids[a:a + POSITIVE_BLOCK]  # (B, P)
        vectors = queries.rows(np.arange(start + a, start + a + len(block)))  # (B, H)
        documents = corpus.rows(np.maximum(block, 0))  # (B, P, H)
        scores[a:a + len(block)] = np.where(block >= 0, np.einsum("bh,bph->bp", vectors, documents), np.inf)
    return scores


def _check_depth(rules: SelectionRules, settings: SearchSettings) -> None:
    """Ranks the search can never reach are a mistake in the options, not something to find out later."""
    if rules.range_max is not None and rules.range_max > settings.k:
        raise ValueError(f"range_max={rules.range_max} but only k={settings.k} candidates are retrieved per query; "
                         f"raise k (--top-k) to at least range_max plus the positives per query")
    if rules.range_min + rules.num_negatives > settings.k:
        raise ValueError(f"k={settings.k} candidates cannot give {rules.num_negatives} negatives after skipping "
                         f"range_min={rules.range_min}; raise k (--top-k)")


def _lap(began: float) -> float:
    return round(time.perf_counter() - began, 3)

