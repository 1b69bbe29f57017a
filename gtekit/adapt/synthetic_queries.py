"""Search queries for sampled documents, written by an LLM behind an OpenAI-compatible chat-completions endpoint.

Source: Arctic-Embed (Merrick et al. 2024) fine-tunes on queries an LLM wrote for sampled documents, in the
manner of InPars (Bonifacio et al. 2022) and Promptagator (Dai et al. 2022): one prompt per document asks for
a query a user would type to find it, and (query, document) becomes a training pair.

Request (``chat_endpoint``): ``POST {url}/chat/completions``, ``Authorization: Bearer $OPENAI_API_KEY`` when
that variable (``api_key_env``) is set, body ``{"model", "messages": [{"role": "user", "content": prompt}],
"temperature", "max_tokens"}``; the answer is ``choices[0].message.content``. ``queries_per_document`` > 1
sends that many requests per document (not ``n``, which llama.cpp ignores).

Cache: a JSONL file of ``{"key", "answer", "doc_id"}`` lines, one whole line appended per answer as it
arrives. The key is the SHA-256 of the JSON of (model, prompt, temperature, max_tokens, query index): the URL
and the API key are not in it, so the same model served elsewhere reuses the answers. A cached answer is never
asked again; a last line cut short by a crash is dropped from the file and reported, any other bad line is an
error naming the file and line. Raw answers are cached, so cleaning them (:func:`clean_query`) may change.

Retry rule: HTTP 429, 5xx, a timeout or a failed connection is retried up to ``retries`` times after
``backoff_seconds * 2**k`` (k = 0, 1, ...), or after the ``Retry-After`` of a 429/503, capped at
``max_backoff_seconds``; 401/403 raise at once. Every try counts against ``max_requests``; once it is spent
the remaining queries are left unasked and the report says so (not an error). The first uncached request is
sent alone: any failure there (a wrong URL, model or key, a server that is not chat-completions) raises
:class:`SyntheticQueryError` naming the URL; later failures are counted in the report.

Depends on ``chat_endpoint`` (standard library HTTP), tqdm, the Document type and MinedPair.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from ..data.extract.base import MinedPair
from .chat_endpoint import ChatEndpoint, RequestFailure, SyntheticQueryError
from .documents import Document

logger = logging.getLogger(__name__)

DEFAULT_PROMPT = """Here is a document from a collection that people search (kind: {language}).

Title: {title}
<document>
{text}
</document>

Write ONE realistic search query that a user would type into a search box to find this document: a few \
words or one short question, in the language of the document, the way people really search; do not copy \
the title or a sentence of the text. Answer with the query only: no quotes, no label, no explanation."""

SAMPLES = 5  # (doc_id, query) examples kept in the report
_PLACEHOLDER = re.compile(r"\{(title|text|language)\}")
_THINKING = re.compile(r"<think>.*?(?:</think>|$)", re.DOTALL)  # reasoning models (Qwen3, DeepSeek-R1)
_LABEL = re.compile(r"^(?:[-*•]\s+|\d+[.)]\s+)?(?:\**(?:search\s+)?query\**\s*:\s*\**)?", re.IGNORECASE)
_QUOTES = "\"'`“”‘’«»*"


@dataclass
class SyntheticQuerySettings:
    """Where to ask (``url``, ``model``, the API key's variable), what (the prompt) and how much, how hard."""

    url: str  # base URL such as http://localhost:8000/v1; one ending in /chat/completions is taken as is
    model: str
    api_key_env: str = "OPENAI_API_KEY"  # the variable holding the key; no Authorization header when unset
    prompt_template: str = DEFAULT_PROMPT  # {title}, {text} (cut to max_document_chars), {language}
    max_document_chars: int = 2000
    queries_per_document: int = 1
    max_documents: int | None = 1000  # documents sampled with `seed`; None: all (in a seeded order)
    max_requests: int = 1000  # hard cap on HTTP requests, retries included
    concurrency: int = 4  # requests in flight at once (threads)
    retries: int = 4
    backoff_seconds: float = 1.0  # wait before retry k+1: backoff_seconds * 2**k, or Retry-After
    max_backoff_seconds: float = 60.0
    timeout_seconds: float = 60.0
    temperature: float = 0.7
    max_tokens: int = 64
    max_query_chars: int = 300  # longer answers are dropped (counted as "over-long answer")
    cache_path: str | Path | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"url must start with http:// or https://, got {self.url!r}")
        if not self.model:
            raise ValueError("model must name the model the endpoint serves")
        if "{text}" not in self.prompt_template:
            raise ValueError("prompt_template must contain {text}; it may also use {title} and {language}")
        least = {"max_document_chars": 1, "queries_per_document": 1, "max_requests": 1, "concurrency": 1,
                 "max_tokens": 1, "max_query_chars": 1, "max_documents": 0, "retries": 0, "backoff_seconds": 0,
                 "max_backoff_seconds": 0, "temperature": 0, "timeout_seconds": 1e-3}
        for name, smallest in least.items():
            if getattr(self, name) is not None and getattr(self, name) < smallest:
                raise ValueError(f"{name} must be at least {smallest}, got {getattr(self, name)}")


@dataclass
class SyntheticQueryReport:
    """What was asked and kept. ``failures`` counts queries that gave no pair, by reason: ``HTTP 500``,
    ``timeout``, ``connection error`` (each once its retries are spent), ``bad JSON``, ``empty answer``,
    ``over-long answer``, ``duplicate query`` (the same query twice for one document)."""

    documents: int = 0  # documents sampled
    pairs: int = 0
    requests: int = 0  # HTTP requests sent, retries included
    cache_hits: int = 0
    retries: int = 0
    failures: dict[str, int] = field(default_factory=dict)  # a plain dict, so dataclasses.asdict keeps it
    cap_reached: bool = False
    not_asked: int = 0  # queries left unasked once max_requests was spent
    cache_truncated_lines: int = 0
    samples: list[tuple[str, str]] = field(default_factory=list)  # (doc_id, query)

    def fail(self, reason: str) -> None:
        self.failures[reason] = self.failures.get(reason, 0) + 1

    def summary(self) -> str:
        failed = ", ".join(f"{reason}: {count}" for reason, count in sorted(self.failures.items())) or "none"
        cap = f"; request cap reached, {self.not_asked} queries not asked" if self.cap_reached else ""
        return (f"{self.pairs} synthetic pairs from {self.documents} documents; {self.requests} requests "
                f"({self.retries} retries), {self.cache_hits} cache hits; failures: {failed}{cap}")


@dataclass(frozen=True)
class _Job:
    document: Document
    index: int  # which of the document's queries
    prompt: str
    key: str


def build_prompt(document: Document, settings: SyntheticQuerySettings) -> str:
    """The template with ``{title}`` (``(untitled)`` when empty), ``{text}`` (cut to ``max_document_chars``)
    and ``{language}`` (``prose`` for prose) filled in; other braces in the template are left alone."""
    values = {"title": document.title.strip() or "(untitled)", "text": document.text[: settings.max_document_chars],
              "language": document.language or "prose"}
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], settings.prompt_template)


def cache_key(settings: SyntheticQuerySettings, prompt: str, index: int) -> str:
    """SHA-256 of (model, prompt, temperature, max_tokens, query index): the URL and the key play no part."""
    identity = {"model": settings.model, "prompt": prompt, "temperature": settings.temperature,
                "max_tokens": settings.max_tokens, "index": index}
    return hashlib.sha256(json.dumps(identity, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def clean_query(answer: str) -> str:
    """The query in an LLM answer: reasoning (``<think>…</think>``) dropped, then the first line that is not
    empty once a bullet, a ``Query:`` label and surrounding quotes are stripped; ``""`` when there is none."""
    for line in _THINKING.sub("", answer).splitlines():
        query = _LABEL.sub("", line.strip(), count=1).strip().strip(_QUOTES).strip()
        if query:
            return query
    return ""


def sample_documents(documents: Sequence[Document], max_documents: int | None, seed: int) -> list[Document]:
    """Up to ``max_documents`` documents with text, drawn with ``seed``, in a seeded random order (so that a
    request cap leaves a random subset unasked, not the corpus's last files)."""
    order = [document for document in documents if document.text.strip()]
    random.Random(seed).shuffle(order)
    return order if max_documents is None else order[:max_documents]


class AnswerCache:
    """Answers already received, by :func:`cache_key`, in an append-only JSONL file (or in memory only)."""

    def __init__(self, path: str | Path | None):
        self.path = Path(path) if path is not None else None
        self.answers: dict[str, str] = {}
        self.truncated_lines = 0
        self._lock = threading.Lock()
        if self.path is not None and self.path.exists():
            self._load(self.path)

    def _load(self, path: Path) -> None:
        data = path.read_bytes()
        lines = data.split(b"\n")
        offset = 0
        for number, line in enumerate(lines, 1):
            try:
                if line.strip():
                    record = json.loads(line)
                    if not isinstance(record.get("key"), str) or not isinstance(record.get("answer"), str):
                        raise ValueError("it needs the string fields 'key' and 'answer'")
                    self.answers[record["key"]] = record["answer"]
            except (ValueError, AttributeError) as error:
                if number < len(lines):
                    raise SyntheticQueryError(f"{path}:{number}: not a cache line ({error}); remove the line "
                                              "or the file") from error
                logger.warning("%s:%d: dropping a cache line cut short (%s)", path, number, error)
                self.truncated_lines = 1
                with path.open("r+b") as file:
                    file.truncate(offset)
                return
            offset += len(line) + 1
        if data and not data.endswith(b"\n"):  # a whole last line whose newline was lost
            with path.open("ab") as file:
                file.write(b"\n")

    def add(self, key: str, answer: str, doc_id: str) -> None:
        """Keep ``answer``; with a file, append it as one whole line at once."""
        with self._lock:
            self.answers[key] = answer
            if self.path is None:
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            line = json.dumps({"key": key, "answer": answer, "doc_id": doc_id}, ensure_ascii=False) + "\n"
            with self.path.open("a", encoding="utf-8") as file:
                file.write(line)


def _first_request_error(url: str, tries: int, failure: RequestFailure) -> SyntheticQueryError:
    if failure.reason == "bad JSON":
        return SyntheticQueryError(f"{url} did not answer like an OpenAI chat-completions endpoint; its answer "
                                   f"began: {failure.detail!r}")
    what = "cannot reach" if failure.reason == "connection error" else "the first request failed at"
    return SyntheticQueryError(f"{what} {url} after {tries} tries: {failure.reason}: {failure.detail}")


def write_synthetic_queries(documents: Sequence[Document], settings: SyntheticQuerySettings,
                            progress: bool = True) -> tuple[list[MinedPair], SyntheticQueryReport]:
    """(query, document) pairs from LLM-written queries for sampled documents, and what was asked and kept.

    The positive is the document's text, ``title + " " + text`` when it has a title (as BEIR and mteb join
    them); pairs come in the sampled order whatever the concurrency, so a rerun from the cache is identical.
    """
    report = SyntheticQueryReport()
    chosen = sample_documents(documents, settings.max_documents, settings.seed)
    report.documents = len(chosen)
    if not chosen:
        return [], report
    cache = AnswerCache(settings.cache_path)
    report.cache_truncated_lines = cache.truncated_lines
    jobs = []
    for document in chosen:
        prompt = build_prompt(document, settings)
        jobs += [_Job(document, index, prompt, cache_key(settings, prompt, index))
                 for index in range(settings.queries_per_document)]
    answers = {job.key: cache.answers[job.key] for job in jobs if job.key in cache.answers}
    report.cache_hits = len(answers)
    pending = list({job.key: job for job in jobs if job.key not in answers}.values())  # one request per key
    endpoint = ChatEndpoint(settings.url, settings.model, api_key_env=settings.api_key_env,
                            temperature=settings.temperature, max_tokens=settings.max_tokens,
                            timeout_seconds=settings.timeout_seconds, retries=settings.retries,
                            backoff_seconds=settings.backoff_seconds, max_backoff_seconds=settings.max_backoff_seconds,
                            max_requests=settings.max_requests)
    with tqdm(total=len(jobs), initial=report.cache_hits, desc="synthetic queries", unit="query",
              disable=not progress, dynamic_ncols=True) as bar:

        def record(job: _Job, answer: str | None, reason: str | None) -> None:
            if reason is not None:
                report.fail(reason)
            elif answer is None:
                report.not_asked += 1
            else:
                cache.add(job.key, answer, job.document.doc_id)
                answers[job.key] = answer
            bar.update(1)

        try:
            if pending:
                try:  # alone, so that a wrong URL, model or key fails once, clearly, before the pool starts
                    record(pending[0], endpoint.ask(pending[0].prompt), None)
                except RequestFailure as failure:
                    raise _first_request_error(endpoint.url, endpoint.requests, failure) from failure
            with ThreadPoolExecutor(max_workers=settings.concurrency) as pool:
                futures = [pool.submit(_ask, endpoint, job) for job in pending[1:]]
                for future in as_completed(futures):
                    record(*future.result())
        finally:  # on an error, retries still waiting give up and queued jobs send nothing
            endpoint.stop()
            report.requests, report.retries, report.cap_reached = (endpoint.requests, endpoint.retries_made,
                                                                   endpoint.cap_reached)
    if report.cap_reached:
        logger.warning("the request cap (%d) was reached: %d queries not asked", settings.max_requests,
                       report.not_asked)
    return _pairs(jobs, answers, settings, report), report


def _ask(endpoint: ChatEndpoint, job: _Job) -> tuple[_Job, str | None, str | None]:
    """``(job, answer, failure reason)``; answer and reason both None when the cap was spent first."""
    try:
        return job, endpoint.ask(job.prompt), None
    except RequestFailure as failure:
        return job, None, failure.reason


def _pairs(jobs: list[_Job], answers: dict[str, str], settings: SyntheticQuerySettings,
           report: SyntheticQueryReport) -> list[MinedPair]:
    """The pairs of the answered jobs, in job order; empty, over-long and repeated queries counted, not kept."""
    pairs: list[MinedPair] = []
    seen: set[tuple[str, str]] = set()
    for job in jobs:
        if job.key not in answers:
            continue
        query = clean_query(answers[job.key])
        document = job.document
        if not query:
            report.fail("empty answer")
        elif len(query) > settings.max_query_chars:
            report.fail("over-long answer")
        elif (document.doc_id, query) in seen:
            report.fail("duplicate query")
        else:
            seen.add((document.doc_id, query))
            text = document.text.strip()
            pairs.append(MinedPair(query, f"{document.title} {text}".strip() if document.title else text,
                                   document.doc_id))
    report.pairs = len(pairs)
    report.samples = [(pair.doc_id, pair.query) for pair in pairs[:SAMPLES]]
    return pairs
