"""What is mined: pair files and an optional corpus, turned into unique queries, a unique corpus and ids.

- Queries are the unique query texts, in order of first appearance; a query that appears in several
  pairs has several positives, all of them excluded from its negatives.
- The corpus is the corpus file's texts (one per line of a text file, or the ``--corpus-field`` of
  each JSONL row), then every positive, with exact duplicates removed (first occurrence kept). Without
  a corpus file it is the set of all positives. A corpus text equal to a query's positive is that
  positive, so it is never mined as its negative; a corpus text equal to a query is that query's own
  text (``query_corpus``), never its negative either. (The same construction as sentence-transformers'
  ``mine_hard_negatives``, so corpus ids agree.)

Pair files are read with ``gtekit.data.pairs.read_pairs`` (errors name the file, line and field); a
folder of pair files or a built mixture folder (``gtekit data build``) with ``load_sources``, its
sources in order (a mixture's held-out split is never read). The corpus is read with
``gtekit.data.text_files.read_texts``. Depends on those modules and numpy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data.pairs import Pair, load_sources, read_pairs
from ..data.text_files import read_texts


@dataclass
class MiningInputs:
    pairs: list[Pair]
    queries: list[str]
    corpus: list[str]
    pair_query: np.ndarray  # (pairs,) query id of each pair
    pair_positive: np.ndarray  # (pairs,) corpus id of each pair's positive
    query_corpus: np.ndarray  # (queries,) corpus id of each query's own text, -1 where the corpus lacks it
    counts: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        # pairs grouped by query, in input order within a query: pairs of query q are
        # by_query[starts[q]:starts[q + 1]]
        self.by_query = np.argsort(self.pair_query, kind="stable")
        self.starts = np.searchsorted(self.pair_query[self.by_query], np.arange(len(self.queries) + 1))

    def pairs_of(self, query: int) -> np.ndarray:
        """Indices of the pairs of ``query``, in input order."""
        return self.by_query[self.starts[query]:self.starts[query + 1]]

    def positives(self, start: int, stop: int) -> np.ndarray:
        """(stop - start, P) the distinct positive corpus ids of queries [start, stop), -1 padded."""
        rows = self.by_query[self.starts[start]:self.starts[stop]]
        query, positive = self.pair_query[rows] - start, self.pair_positive[rows]
        order = np.lexsort((positive, query))
        query, positive = query[order], positive[order]
        distinct = np.ones(len(query), dtype=bool)
        distinct[1:] = (query[1:] != query[:-1]) | (positive[1:] != positive[:-1])
        query, positive = query[distinct], positive[distinct]
        column = np.arange(len(query)) - np.searchsorted(query, np.arange(stop - start))[query]
        padded = np.full((stop - start, column.max() + 1), -1, dtype=np.int64)
        padded[query, column] = positive
        return padded


def read_mining_inputs(pair_files: Sequence[str | Path], corpus_file: str | Path | None = None, *,
                       corpus_field: str = "text", skip_invalid: bool = False) -> MiningInputs:
    """Read the pair files (and corpus file) into :class:`MiningInputs`; see the module docstring."""
    if not pair_files:
        raise ValueError("no pair files given")
    pairs: list[Pair] = []
    skipped: list[str] = []
    for path in pair_files:
        if Path(path).is_dir():
            for source in load_sources([path], skip_invalid=skip_invalid):
                pairs += source.iter_pairs()
                skipped += getattr(source, "skipped", [])
            continue
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: no such pair file or folder")
        read, problems = read_pairs(path, skip_invalid=skip_invalid)
        pairs += read
        skipped += problems
    if not pairs:
        raise ValueError(f"no pairs in {', '.join(map(str, pair_files))}"
                         + (f" (all {len(skipped)} rows skipped; first: {skipped[0]})" if skipped else ""))
    given = read_texts(Path(corpus_file), field=corpus_field) if corpus_file is not None else []
    corpus_ids: dict[str, int] = {}
    for text in given:
        corpus_ids.setdefault(text, len(corpus_ids))
    query_ids: dict[str, int] = {}
    pair_query = np.empty(len(pairs), dtype=np.int64)
    pair_positive = np.empty(len(pairs), dtype=np.int64)
    for row, pair in enumerate(pairs):
        pair_query[row] = query_ids.setdefault(pair.query, len(query_ids))
        pair_positive[row] = corpus_ids.setdefault(pair.positive, len(corpus_ids))
    query_corpus = np.array([corpus_ids.get(query, -1) for query in query_ids], dtype=np.int64)
    counts = {
        "pair_files": [str(path) for path in pair_files], "pairs": len(pairs), "skipped_rows": len(skipped),
        "pairs_with_negatives_replaced": sum(bool(pair.negatives) for pair in pairs),
        "queries": len(query_ids), "corpus_file": None if corpus_file is None else str(corpus_file),
        "corpus_file_texts": len(given), "corpus": len(corpus_ids),
    }
    counts["queries_in_corpus"] = int((query_corpus >= 0).sum())
    return MiningInputs(pairs, list(query_ids), list(corpus_ids), pair_query, pair_positive, query_corpus, counts)
