"""A BEIR folder as a retrieval task: load it, embed it, search it exactly, score it.

A BEIR folder holds ``corpus.jsonl`` (rows ``{"_id", "title" (optional), "text"}``),
``queries.jsonl`` (rows ``{"_id", "text"}``) and ``qrels/<split>.tsv`` (a header line, then
``query-id<TAB>corpus-id<TAB>score`` with an integer score); each file may instead be gzipped
(``corpus.jsonl.gz``, ...). The conventions of BEIR's ``GenericDataLoader`` and of mteb:

- a document's text is ``(title + " " + text).strip()`` when its title is non-empty, else
  ``text.strip()`` (mteb ``_corpus_to_dict``; BEIR's sentence-transformers wrapper does the same);
- ids are strings: a JSON number id ``7`` is the id ``"7"`` that the qrels spell ``7``;
- queries with no qrels line in the split are not evaluated; a query whose qrels lines all have
  score 0 is (mteb keeps it; it scores 0); a repeated (query, document) qrels line overrides the
  earlier one (BEIR reads the qrels into a dict);
- ``ignore_identical_ids``: when true, a retrieved document whose id equals the query's id is
  dropped from the run after the top-k search (mteb: default false, set true per task for
  ArguAna, Quora, MSMARCO, FiQA, FEVER, ...). BEIR's own evaluator defaults to true.

Unlike BEIR, loading fails with the file, line and field of anything malformed, and qrels that
name an unknown query or document are an error unless ``unknown_ids`` says otherwise.
Depends on the embedder's ``encode`` (through ``embedding_cache`` when one is given) and on
``retrieval_metrics``; nothing here knows about training.
"""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Literal

from ..metrics.retrieval import DEFAULT_K_VALUES, Qrels, evaluate_run, run_from_top_k, search_top_k

if TYPE_CHECKING:
    from ..embedding_cache import EmbeddingCache

UnknownIds = Literal["error", "skip", "keep"]
UNKNOWN_ID_MODES = ("error", "skip", "keep")
SHOWN_IDS = 5  # how many unknown ids an error message shows


@dataclass
class RetrievalData:
    """One split of a retrieval task: the texts to embed and the judgements to score against."""

    corpus_ids: list[str]
    corpus_texts: list[str]
    query_ids: list[str]  # only queries with qrels in this split, in queries.jsonl order
    query_texts: list[str]
    qrels: Qrels  # query id -> {corpus id: relevance}
    name: str
    split: str
    skipped_qrels: int = 0  # qrels lines dropped for naming an unknown id (unknown_ids="skip"/"keep")


# ----------------------------------------------------------------- loading
def load_beir(folder: str | Path, split: str = "test", *, unknown_ids: UnknownIds = "error") -> RetrievalData:
    """Read split ``split`` of the BEIR folder ``folder``.

    ``unknown_ids`` decides what happens to qrels lines naming a query id absent from
    queries.jsonl or a corpus id absent from corpus.jsonl: ``"error"`` (default) raises, listing
    a few; ``"skip"`` drops those lines and counts them in ``skipped_qrels``; ``"keep"`` keeps
    unknown corpus ids as relevant documents that can never be retrieved (as mteb scores them)
    and drops lines with unknown query ids (there is no text to search with).
    """
    if unknown_ids not in UNKNOWN_ID_MODES:
        raise ValueError(f"unknown_ids={unknown_ids!r}; valid: {', '.join(UNKNOWN_ID_MODES)}")
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: not a folder (expected a BEIR folder with corpus.jsonl, "
                                "queries.jsonl and qrels/<split>.tsv)")
    corpus_path = _data_file(folder, "corpus.jsonl")
    queries_path = _data_file(folder, "queries.jsonl")
    qrels_path = _qrels_file(folder, split)

    corpus = _read_texts(corpus_path, corpus_text)
    if not corpus:
        raise ValueError(f"{corpus_path}: the corpus is empty")
    queries = _read_texts(queries_path, query_text)
    qrels, skipped = _checked_qrels(qrels_path, _read_qrels(qrels_path), queries, corpus, unknown_ids)
    if not qrels:
        raise ValueError(f"{qrels_path}: no query has qrels ({skipped} line(s) skipped); nothing to evaluate")
    query_ids = [query_id for query_id in queries if query_id in qrels]
    return RetrievalData(
        corpus_ids=list(corpus), corpus_texts=list(corpus.values()),
        query_ids=query_ids, query_texts=[queries[q] for q in query_ids],
        qrels={q: qrels[q] for q in query_ids}, name=folder.name, split=split, skipped_qrels=skipped)


def corpus_text(row: dict, where: str) -> str:
    """A document's text as mteb embeds it: ``(title + " " + text).strip()``, or ``text.strip()`` without a title."""
    text = _string_field(row, "text", where)
    title = row.get("title")
    if title is not None and not isinstance(title, str):
        raise ValueError(f"{where}: field 'title' must be a string, got {type(title).__name__}")
    return f"{title} {text}".strip() if title else text.strip()


def query_text(row: dict, where: str) -> str:
    return _string_field(row, "text", where)


def _data_file(folder: Path, name: str) -> Path:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{folder}: no {name} (or {name}.gz); a BEIR folder holds corpus.jsonl, "
                            "queries.jsonl and qrels/<split>.tsv")


def _qrels_file(folder: Path, split: str) -> Path:
    qrels_dir = folder / "qrels"
    for candidate in (qrels_dir / f"{split}.tsv", qrels_dir / f"{split}.tsv.gz"):
        if candidate.is_file():
            return candidate
    splits = sorted({p.name.split(".")[0] for p in qrels_dir.glob("*.tsv*")}) if qrels_dir.is_dir() else []
    found = f"splits found: {', '.join(splits)}" if splits else f"no qrels/*.tsv in {folder}"
    raise FileNotFoundError(f"{qrels_dir / f'{split}.tsv'}: no qrels for split {split!r} ({found})")


def _open_text(path: Path) -> IO[str]:
    if path.name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return path.open(encoding="utf-8", newline="")


def json_rows(path: Path) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line of a JSON-lines file."""
    with _open_text(path) as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}:{number}: malformed JSON, column {error.colno}: {error.msg}") from None
            if not isinstance(row, dict):
                raise ValueError(f"{path}:{number}: expected a JSON object, got {type(row).__name__}")
            yield number, row


def _read_texts(path: Path, text_of) -> dict[str, str]:
    """{id: text} in file order; ``text_of(row, where)`` builds the text. Ids must be unique."""
    texts: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for number, row in json_rows(path):
        where = f"{path}:{number}"
        row_id = _row_id(row, where)
        if row_id in texts:
            raise ValueError(f"{where}: duplicate _id {row_id!r} (first at line {first_line[row_id]})")
        texts[row_id] = text_of(row, where)
        first_line[row_id] = number
    return texts


def _row_id(row: dict, where: str) -> str:
    if "_id" not in row:
        raise ValueError(f"{where}: missing field '_id'")
    value = row["_id"]
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"{where}: field '_id' must be a string or an integer, got {value!r}")
    return str(value)


def _string_field(row: dict, field: str, where: str) -> str:
    if field not in row:
        raise ValueError(f"{where}: missing field {field!r}")
    value = row[field]
    if not isinstance(value, str):
        raise ValueError(f"{where}: field {field!r} must be a string, got {type(value).__name__}")
    return value


def _read_qrels(path: Path) -> list[tuple[int, str, str, int]]:
    """(line number, query id, corpus id, score) for each qrels line after the header."""
    rows = []
    with _open_text(path) as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_MINIMAL)
        for columns in reader:
            number = reader.line_num
            if not columns or (len(columns) == 1 and not columns[0].strip()):
                continue  # blank line
            if len(columns) != 3:
                raise ValueError(f"{path}:{number}: expected 3 tab-separated columns "
                                 f"(query-id, corpus-id, score), got {len(columns)}: {columns!r}")
            query_id, corpus_id, score = columns
            if not rows and number == 1 and not _is_int(score):
                continue  # the header line, e.g. query-id\tcorpus-id\tscore
            if not _is_int(score):
                raise ValueError(f"{path}:{number}: score must be an integer, got {score!r}")
            rows.append((number, query_id, corpus_id, int(score)))
    return rows


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def _checked_qrels(path: Path, rows: list[tuple[int, str, str, int]], queries: dict[str, str],
                   corpus: dict[str, str], unknown_ids: UnknownIds) -> tuple[Qrels, int]:
    """{query id: {corpus id: score}} from the qrels rows, with unknown ids handled per ``unknown_ids``."""
    unknown_queries = [(number, q) for number, q, _, _ in rows if q not in queries]
    unknown_docs = [(number, d) for number, q, d, _ in rows if d not in corpus and q in queries]
    if unknown_ids == "error" and (unknown_queries or unknown_docs):
        problems = [_unknown_summary(found, what) for found, what in
                    ((unknown_queries, "query ids not in queries.jsonl"),
                     (unknown_docs, "corpus ids not in corpus.jsonl")) if found]
        raise ValueError(f"{path}: {'; '.join(problems)}. Pass unknown_ids='skip' to drop those lines "
                         "(they are counted), or 'keep' to score unknown corpus ids as unretrievable.")
    dropped = {number for number, _ in unknown_queries}
    if unknown_ids == "skip":
        dropped |= {number for number, _ in unknown_docs}
    qrels: Qrels = {}
    for number, query_id, corpus_id, score in rows:
        if number not in dropped:
            qrels.setdefault(query_id, {})[corpus_id] = score
    return qrels, len(dropped)


def _unknown_summary(found: list[tuple[int, str]], what: str) -> str:
    """'3 line(s) name 2 query ids not in queries.jsonl, e.g. 'q9' (line 5), 'q7' (line 8)'."""
    first: dict[str, int] = {}  # distinct id -> first line naming it
    for number, identifier in found:
        first.setdefault(identifier, number)
    examples = ", ".join(f"{identifier!r} (line {number})" for identifier, number in list(first.items())[:SHOWN_IDS])
    more = ", ..." if len(first) > SHOWN_IDS else ""
    return f"{len(found)} line(s) name {len(first)} {what}, e.g. {examples}{more}"


# ----------------------------------------------------------------- evaluation
def evaluate_retrieval(model, data: RetrievalData, *, k_values: Sequence[int] = DEFAULT_K_VALUES,
                       batch_size: int = 64, chunk_size: int = 4096, ignore_identical_ids: bool = False,
                       cache: EmbeddingCache | None = None) -> dict[str, float]:
    """Embed queries (``kind="query"``) and documents (``kind="document"``), normalised, search all
    documents exactly by cosine similarity, and score the top ``max(k_values)`` with ``evaluate_run``.

    Returns mteb's keys (``ndcg_at_10``, ``recall_at_100``, ``mrr_at_10``, ...), ``main_score``
    (= ``ndcg_at_10`` when 10 is in ``k_values``, else nDCG at the largest k) and the numbers of
    queries and documents. ``ignore_identical_ids`` is described in the module docstring; with
    ``cache`` texts already embedded by the same model are read back instead of encoded.
    """
    k_values = tuple(k_values)
    queries = _embed(model, data.query_texts, "query", batch_size, cache)
    documents = _embed(model, data.corpus_texts, "document", batch_size, cache)
    scores, indices = search_top_k(queries, documents, k=max(k_values), chunk_size=chunk_size)
    run = run_from_top_k(data.query_ids, data.corpus_ids, scores, indices)
    if ignore_identical_ids:
        for query_id, ranked in run.items():
            ranked.pop(query_id, None)
    metrics = evaluate_run(data.qrels, run, k_values)
    main_k = 10 if 10 in k_values else max(k_values)
    metrics["main_score"] = metrics[f"ndcg_at_{main_k}"]
    metrics["queries"] = len(data.query_ids)
    metrics["documents"] = len(data.corpus_ids)
    return metrics


def _embed(model, texts: list[str], kind: str, batch_size: int, cache: EmbeddingCache | None):
    if cache is not None:
        return cache.cached_encode(model, texts, kind=kind, batch_size=batch_size, normalize=True)
    return model.encode(texts, batch_size=batch_size, normalize=True, kind=kind)
