"""A corpus's pairs, by kind: mined per document, de-duplicated, split by document, written with samples.

:func:`build_pair_set` mines every document (``prose_pairs`` for prose and markup, ``code_pairs`` for
source code, and random crops of it), then:

- removes exact repeats of a (query, positive) pair, in any kind, keeping the first;
- removes queries that several documents share (``max_query_documents``): a heading such as
  "Parameters" or "Installation" names no document, and as an in-batch query it has false negatives;
- splits by document, never by row (``gtekit.data.extract.base.held_out``, a stable SHA-1 draw): the
  held-out documents' pairs are never trained on; they give the pseudo-queries on which a setting is
  chosen (``dev``) and the before/after is reported (``test``), half the held-out documents each.

:func:`write_pair_set` writes ``train/<kind>.jsonl`` (``{"query", "positive", "doc_id"}``: the pair format
of ``gtekit.data.pairs``, one source per kind) and ``held-out/<kind>.jsonl``. :func:`write_held_out_task`
writes the held-out pseudo-queries as a BEIR folder (``corpus.jsonl``, ``queries.jsonl``,
``qrels/dev.tsv``, ``qrels/test.tsv``): each query's relevant passage is its pair's positive; the corpus is
those and a seeded sample of training positives as distractors.

Depends on ``documents``, ``prose_pairs``, ``code_pairs``, ``gtekit.data.extract.base`` and ``gtekit.io.atomic``.
"""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..data.extract.base import MinedPair, held_out
from ..io.atomic import atomic_path
from .code_pairs import code_pairs
from .documents import Document
from .prose_pairs import ProseSettings, prose_pairs

# Kinds whose query reads like a search query, best first: the held-out pseudo-queries are drawn from these.
QUERY_LIKE_KINDS = ("synthetic", "question_answer", "code_doc_comment", "title_body", "heading_section",
                    "code_signature", "first_sentence", "inverse_cloze")
DEV, TEST = "dev", "test"


@dataclass
class PairSettings:
    held_out: float = 0.1  # the share of documents held out (pseudo-queries for choosing and reporting)
    max_query_documents: int = 2  # a query text found in more documents than this is dropped
    queries_per_held_out_document: int = 2
    distractors: int = 500  # held-out retrieval corpus: training positives added to the held-out ones
    seed: int = 0
    prose: ProseSettings = field(default_factory=ProseSettings)


@dataclass
class PairSet:
    train: dict[str, list[MinedPair]]
    held_out: dict[str, list[MinedPair]]
    held_out_documents: list[str]  # doc ids
    report: dict  # counts by kind, what was dropped and why


def mine_documents(documents: Sequence[Document], settings: PairSettings
                   ) -> tuple[dict[str, list[MinedPair]], Counter]:
    """Every document's pairs by kind, in document order, and what the miners skipped (by reason)."""
    rng = random.Random(settings.seed)
    pairs: dict[str, list[MinedPair]] = defaultdict(list)
    skipped: Counter = Counter()
    for document in documents:
        if document.is_code:  # its definitions' pairs, and two random crops of its text (Contriever)
            found, code_skips = code_pairs(document)
            skipped.update(code_skips)
            crops = prose_pairs(Document(document.doc_id, document.text), rng, settings.prose)
            if crops.get("random_crops"):
                found = {**found, "random_crops": crops["random_crops"]}
        else:
            found = prose_pairs(document, rng, settings.prose)
        for kind, kind_pairs in found.items():
            pairs[kind].extend(kind_pairs)
    return dict(pairs), skipped


def build_pair_set(documents: Sequence[Document], settings: PairSettings,
                   extra: dict[str, list[MinedPair]] | None = None) -> PairSet:
    """Mine, de-duplicate and split the pairs of ``documents`` (plus ``extra`` pairs, e.g. synthetic queries)."""
    mined, skipped = mine_documents(documents, settings)
    for kind, kind_pairs in (extra or {}).items():
        mined.setdefault(kind, []).extend(kind_pairs)
    dropped: Counter = Counter()
    query_documents: dict[str, set[str]] = defaultdict(set)
    for kind_pairs in mined.values():
        for pair in kind_pairs:
            query_documents[pair.query.lower()].add(pair.doc_id)
    seen: set[tuple[str, str]] = set()
    train: dict[str, list[MinedPair]] = defaultdict(list)
    held: dict[str, list[MinedPair]] = defaultdict(list)
    for kind, kind_pairs in mined.items():
        for pair in kind_pairs:
            if (pair.query, pair.positive) in seen:
                dropped["duplicate pair"] += 1
                continue
            seen.add((pair.query, pair.positive))
            if len(query_documents[pair.query.lower()]) > settings.max_query_documents:
                dropped[f"query shared by more than {settings.max_query_documents} documents"] += 1
                continue
            (held if held_out(pair.doc_id, settings.held_out) else train)[kind].append(pair)
    held_documents = [d.doc_id for d in documents if held_out(d.doc_id, settings.held_out)]
    report = {"documents": len(documents), "held_out_documents": len(held_documents),
              "kinds": {kind: {"train": len(train.get(kind, [])), "held_out": len(held.get(kind, []))}
                        for kind in sorted(set(train) | set(held))},
              "dropped": dict(dropped), "skipped_by_miners": dict(skipped)}
    report["pairs"] = {"train": sum(len(p) for p in train.values()), "held_out": sum(len(p) for p in held.values())}
    return PairSet(dict(train), dict(held), held_documents, report)


def samples(pair_set: PairSet, per_kind: int = 3, seed: int = 0, max_chars: int = 300) -> dict[str, list[dict]]:
    """A few training pairs of each kind (seeded), texts cut to ``max_chars``, for the report."""
    rng = random.Random(seed)
    shown = {}
    for kind, pairs in sorted(pair_set.train.items()):
        chosen = rng.sample(pairs, min(per_kind, len(pairs)))
        shown[kind] = [{"query": _cut(p.query, max_chars), "positive": _cut(p.positive, max_chars),
                        "doc_id": p.doc_id} for p in chosen]
    return shown


def write_pair_set(pair_set: PairSet, folder: Path) -> dict[str, Path]:
    """``train/<kind>.jsonl`` and ``held-out/<kind>.jsonl`` under ``folder``; returns the training files by kind."""
    files = {}
    for split, by_kind in (("train", pair_set.train), ("held-out", pair_set.held_out)):
        for kind, pairs in by_kind.items():
            path = folder / split / f"{kind}.jsonl"
            _write_jsonl(path, ({"query": p.query, "positive": p.positive, "doc_id": p.doc_id} for p in pairs))
            if split == "train":
                files[kind] = path
    return files


def write_held_out_task(pair_set: PairSet, settings: PairSettings, folder: Path) -> dict[str, int]:
    """The held-out pseudo-queries as a BEIR folder with a dev and a test split; returns the counts.

    Each query's one relevant passage is its pair's positive, which never holds the query (the section
    without its heading, the code without its signature or doc comment, the context without the sentence),
    so the task is not won by string matching. The corpus is those positives and, as distractors, a seeded
    sample of training pairs' positives."""
    by_document: dict[str, dict[str, list[MinedPair]]] = defaultdict(dict)
    for kind in QUERY_LIKE_KINDS:
        for pair in pair_set.held_out.get(kind, []):
            by_document[pair.doc_id].setdefault(kind, []).append(pair)
    rng = random.Random(settings.seed)
    queries, passages, qrels = [], {}, {DEV: [], TEST: []}
    for doc_id in pair_set.held_out_documents:
        kinds = by_document.get(doc_id, {})
        chosen = [kinds[kind][0] for kind in QUERY_LIKE_KINDS if kind in kinds]
        split = DEV if held_out("split:" + doc_id, 0.5) else TEST
        for number, pair in enumerate(chosen[:settings.queries_per_held_out_document]):
            query_id, passage_id = f"{doc_id}#q{number}", f"{doc_id}#p{number}"
            queries.append({"_id": query_id, "text": pair.query})
            passages[passage_id] = pair.positive
            qrels[split].append((query_id, passage_id))
    if not qrels[DEV] or not qrels[TEST]:
        raise ValueError(f"too few held-out documents with a query-like pair to choose and report on "
                         f"({len(qrels[DEV])} dev and {len(qrels[TEST])} test queries); give a larger corpus or a "
                         f"larger held-out share")
    training = sorted({pair.positive for pairs in pair_set.train.values() for pair in pairs} - set(passages.values()))
    distractors = rng.sample(training, min(settings.distractors, len(training)))
    corpus = [{"_id": passage_id, "title": "", "text": text} for passage_id, text in passages.items()]
    corpus += [{"_id": f"train#{number}", "title": "", "text": text} for number, text in enumerate(distractors)]
    _write_jsonl(folder / "corpus.jsonl", corpus)
    _write_jsonl(folder / "queries.jsonl", queries)
    for split, rows in qrels.items():
        with atomic_path(folder / "qrels" / f"{split}.tsv") as tmp:
            tmp.write_text("query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t1\n" for q, d in rows),
                           encoding="utf-8")
    return {DEV: len(qrels[DEV]), TEST: len(qrels[TEST]), "corpus": len(corpus)}


def _write_jsonl(path: Path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit].rstrip() + " …"
