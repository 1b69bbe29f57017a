"""gtekit's hard negatives equal sentence-transformers' ``util.mine_hard_negatives`` on the same embeddings."""

from __future__ import annotations

import pytest

from gtekit.negatives import SearchSettings, SelectionRules, mine_hard_negatives

from .conftest import TableEmbedder, TableSentenceTransformer, read_jsonl, write_pairs

SETTINGS = {
    "relative margin (Arctic)": dict(range_max=10, relative_margin=0.05, num_negatives=3),
    "rank range and absolute margin": dict(range_min=2, range_max=12, absolute_margin=0.1, num_negatives=4),
    "score caps": dict(range_max=15, max_score=0.5, min_score=-0.2, num_negatives=5),
    "all rules": dict(range_min=1, range_max=9, absolute_margin=0.02, relative_margin=0.1, max_score=0.7,
                      num_negatives=2),
    "no rules": dict(range_max=8, num_negatives=3),
}
MAX_POSITIVES = 2  # per query in the fixture
EXTRA_CANDIDATES = MAX_POSITIVES + 1  # sentence-transformers searches range_max + this deep (positives, the query)


@pytest.mark.parametrize("use_faiss", [False, True], ids=["torch", "faiss"])
@pytest.mark.parametrize("name", list(SETTINGS))
def test_same_negatives_as_sentence_transformers(name, use_faiss, retrieval_data, tmp_path):
    from datasets import Dataset
    from sentence_transformers.util import mine_hard_negatives as st_mine

    pairs, extra, table = retrieval_data
    settings = SETTINGS[name]
    theirs = st_mine(Dataset.from_dict({"query": [q for q, _ in pairs], "positive": [p for _, p in pairs]}),
                     TableSentenceTransformer(table), corpus=extra, sampling_strategy="top", output_format="n-tuple",
                     use_faiss=use_faiss, verbose=False, **settings)
    expected = {(row["query"], row["positive"]): [row[f"negative_{i + 1}"] for i in range(settings["num_negatives"])]
                for row in theirs}

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(extra) + "\n")
    mine_hard_negatives(TableEmbedder(table), [write_pairs(tmp_path / "pairs.jsonl", pairs)], tmp_path / "out",
                        corpus_file=corpus, rules=SelectionRules(**{"relative_margin": None, **settings}),
                        search_settings=SearchSettings(k=settings["range_max"] + EXTRA_CANDIDATES), chunk_size=16)
    ours = {(row["query"], row["positive"]): row["negatives"] for row in read_jsonl(tmp_path / "out/triples.jsonl")}

    assert len(expected) >= 10, "the settings leave too few queries to compare"
    assert ours == expected
