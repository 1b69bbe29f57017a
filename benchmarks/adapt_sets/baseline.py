"""A lexical baseline for a BEIR folder: TF-IDF cosine similarity, scored with gtekit's retrieval metrics.

scikit-learn's ``TfidfVectorizer`` (sublinear tf, its default tokens of 2+ word characters, lower-cased) is fit
on the corpus; queries and documents are L2-normalised, so the dot product is the cosine. It shows how
much of a set word overlap alone solves; a set near 1.0 is too easy to measure adaptation, near 0 too hard.

Depends on scikit-learn and on ``gtekit.evaluation`` (loading and metrics).
"""

from __future__ import annotations

from pathlib import Path

from sklearn.feature_extraction.text import TfidfVectorizer

from gtekit.evaluation.metrics.retrieval import evaluate_run
from gtekit.evaluation.tasks.beir import load_beir

K = 10


def tfidf_scores(folder: Path) -> dict[str, float]:
    """nDCG@10 and recall@100 of TF-IDF on the ``test`` split of the BEIR folder ``folder``."""
    data = load_beir(folder, "test")
    vectorizer = TfidfVectorizer(sublinear_tf=True)
    docs = vectorizer.fit_transform(data.corpus_texts)
    queries = vectorizer.transform(data.query_texts)
    scores = (queries @ docs.T).toarray()  # (Q, D)
    run = {}
    for query_id, row in zip(data.query_ids, scores, strict=True):
        top = row.argsort(kind="stable")[::-1][:100]
        run[query_id] = {data.corpus_ids[j]: float(row[j]) for j in top}
    metrics = evaluate_run(data.qrels, run, k_values=(K, 100))
    return {"ndcg_at_10": round(metrics["ndcg_at_10"], 4), "recall_at_100": round(metrics["recall_at_100"], 4)}
