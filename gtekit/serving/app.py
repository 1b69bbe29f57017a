"""The HTTP routes: ``POST /v1/embeddings`` (OpenAI-compatible), ``POST /search``, ``GET /v1/models``,
``GET /health``, ``GET /metrics`` (Prometheus).

:func:`create_app` wires a loaded :class:`~gtekit.model.embedder.Embedder` (and optionally a search index)
into a FastAPI app: bodies are read within the size and time limits (``limits``) and parsed as JSON
(``json_body``), requests are validated (``schemas``), checked against the limits of
:class:`ServerSettings`, every text checked with :func:`gtekit.io.text_checks.text_problem` before it
may join a batch (so one bad text fails its own request, with a 422 naming it, and no other), embedded
through the :class:`BatchingEncoder` (one worker thread runs the model; the event loop never does)
and answered as OpenAI does, errors included (``errors``). Requests, embedded texts and tokens, and
model calls are counted for ``/metrics`` (``metrics``) when prometheus-client is installed.
Depends on the model and the index's search method; nothing here knows about training.
"""

from __future__ import annotations

import asyncio
import copy
import ctypes
import functools
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import Protocol

import numpy as np
from fastapi import FastAPI
from fastapi.responses import Response
from pydantic_core import to_json
from starlette.concurrency import run_in_threadpool

from .. import __version__
from ..io.text_checks import text_problem
from ..model.embedder import Embedder
from .auth import OPEN_PATHS, BearerKeyMiddleware
from .errors import APIError, ErrorType, install_error_handlers, quoted
from .json_body import JSONBodyRoute
from .limits import BodyLimitsMiddleware
from .metrics import RequestMetricsMiddleware, create_metrics, metrics_unavailable
from .request_batching import BatchingEncoder, EncodedTexts, EncodeFunction, Overloaded, ShuttingDown
from .schemas import (
    EmbeddingRequest,
    EmbeddingResponse,
    EncodingFormat,
    Health,
    InputType,
    InputTypeCard,
    ModelCard,
    ModelList,
    SearchRequest,
    SearchResponse,
)
from .settings import ServerSettings
from .vectors import to_base64, truncate_dimensions

SERIALISE_IN_THREAD_ABOVE = 65_536  # floats in a response beyond which JSON is written off the event loop


class SearchIndexLike(Protocol):
    """What the server needs of ``gtekit.search.SearchIndex``."""

    model: str
    dimension: int

    def __len__(self) -> int: ...

    def search(self, query_embeddings: np.ndarray, k: int, *, rescore=None) -> list[list]: ...


def model_encode_function(model: Embedder, batch_size: int) -> EncodeFunction:
    """texts -> (``model.encode(texts)``, tokens per text as the model sees them: special tokens included,
    truncated to ``max_seq_length``). Runs on the worker thread, the only user of the tokenizer. After each
    batch, freed memory goes back to the system (:func:`heap_trimmer`)."""
    trim_heap = heap_trimmer()

    def encode(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        embeddings = model.encode(texts, batch_size=batch_size, show_progress=False)
        counts = token_counts(model.tokenizer, texts, model.settings.max_seq_length)
        trim_heap()
        return embeddings, counts

    return encode


def token_counts(tokenizer, texts: list[str], max_length: int) -> np.ndarray:
    """Tokens per text (N,) as the model sees them: special tokens included, truncated to ``max_length``."""
    ids = tokenizer(texts, truncation=True, max_length=max_length, return_attention_mask=False,
                    return_token_type_ids=False)["input_ids"]
    return np.array([len(row) for row in ids], dtype=np.int64)


def model_token_counter(model: Embedder) -> Callable[[list[str]], np.ndarray]:
    """texts -> :func:`token_counts`, with a copy of the model's tokenizer: a Rust tokenizer may not be used by
    two threads at once (the model's thread tokenizes with padding, this one without), so this one has its own."""
    tokenizer, max_length = copy.deepcopy(model.tokenizer), model.settings.max_seq_length
    return functools.partial(token_counts, tokenizer, max_length=max_length)


def input_type_cards(model: Embedder) -> list[InputTypeCard]:
    """What each ``input_type`` does to a text for this model: its prefix, and the text the model embeds."""
    prefixes = {InputType.QUERY: model.settings.query_prefix, InputType.DOCUMENT: model.settings.document_prefix}
    return [InputTypeCard(input_type=kind, prefix=prefix, template=model.prepare(["{text}"], kind=kind.value)[0])
            for kind, prefix in prefixes.items()]


def heap_trimmer() -> Callable[[], object]:
    """glibc's ``malloc_trim(0)``, or a no-op where there is none (macOS, musl). glibc keeps the memory of
    freed activations in its heaps, fragmented by every new batch shape, so without trimming a server's
    resident memory keeps creeping up under varied traffic; a trim costs well under a millisecond."""
    try:
        return functools.partial(ctypes.CDLL("libc.so.6").malloc_trim, 0)
    except (OSError, AttributeError):
        return lambda: None


def create_app(model: Embedder, settings: ServerSettings, index: SearchIndexLike | None = None,
               encode: EncodeFunction | None = None) -> FastAPI:
    """The server as an ASGI app. ``encode`` replaces :func:`model_encode_function` (tests count calls)."""
    if index is not None and index.dimension != model.dimension:
        raise ValueError(f"the index holds {index.dimension}-dimensional embeddings but the model makes "
                         f"{model.dimension}-dimensional ones: serve the model the index was built with "
                         f"(the index says: {index.model})")
    metrics = create_metrics(queue_depth=lambda: batcher.queued_texts)  # None without prometheus-client
    batcher = BatchingEncoder(encode or model_encode_function(model, settings.max_batch_size), model.dimension,
                              max_batch_size=settings.max_batch_size, max_wait_ms=settings.max_wait_ms,
                              max_queued_texts=settings.max_queued_texts, max_batch_tokens=settings.max_batch_tokens,
                              count_tokens=model_token_counter(model) if settings.max_batch_tokens else None,
                              on_batch=metrics.observe_batch if metrics is not None else None)
    input_types = input_type_cards(model)
    search_worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gtekit-search")
    started = time.time()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await batcher.start()
        await batcher.run_in_worker(lambda: model.encode(["warm-up"], show_progress=False))
        try:
            yield
        finally:  # uvicorn runs this after in-flight requests are answered
            await batcher.stop()
            search_worker.shutdown(wait=True)

    app = FastAPI(title="gtekit embeddings server", version=__version__, lifespan=lifespan,
                  description="OpenAI-compatible embeddings for a gtekit model, and search over an index.")
    app.router.route_class = JSONBodyRoute  # the routes' JSON bodies: content type and parse errors, our way
    app.state.batcher = batcher
    install_error_handlers(app)
    app.add_middleware(BodyLimitsMiddleware, max_bytes=settings.max_request_bytes, timeout_s=settings.body_timeout,
                       min_rate=settings.body_min_rate, max_header_bytes=settings.max_header_bytes)
    if settings.api_key:  # before the body is read
        open_paths = OPEN_PATHS | {"/metrics"} if settings.metrics_public else OPEN_PATHS
        app.add_middleware(BearerKeyMiddleware, api_key=settings.api_key, open_paths=open_paths)
    if metrics is not None:  # outermost: counts the other middlewares' answers too
        app.add_middleware(RequestMetricsMiddleware, metrics=metrics, routes=app.router.routes)

    def check_texts(texts: list[str], field: str) -> list[str]:
        if len(texts) > settings.max_inputs_per_request:
            raise APIError(413, f"{field} holds {len(texts)} texts; this server takes at most "
                                f"{settings.max_inputs_per_request} per request (--max-inputs-per-request)",
                           param=field, code="too_many_inputs")
        for position, text in enumerate(texts):  # before any text is queued: one bad text fails its request only
            problem = text_problem(text)
            if problem is not None:
                raise APIError(422, f"{field}[{position}] {problem}", param=field,
                               code="empty_input" if isinstance(text, str) and not text.strip() else "invalid_input")
            if len(text) > settings.max_text_chars:
                raise APIError(422, f"{field}[{position}] has {len(text):,} characters; this server takes at most "
                                    f"{settings.max_text_chars:,} (--max-text-chars)", param=field,
                               code="input_too_long")
        return texts

    async def embed(texts: list[str]) -> EncodedTexts:
        try:
            return await batcher.encode(texts)
        except Overloaded as error:
            raise APIError(503, f"server overloaded: {error}; retry later", code="overloaded",
                           error_type=ErrorType.SERVER, headers={"Retry-After": "1"}) from None
        except ShuttingDown as error:
            raise APIError(503, str(error), code="shutting_down", error_type=ErrorType.SERVER) from None

    def usage(encoded: EncodedTexts, route: str) -> dict:
        """The response's ``usage``; counts the texts and tokens of ``route`` for /metrics on the way."""
        tokens = int(encoded.token_counts.sum())
        if metrics is not None:
            metrics.observe_embedded(route, len(encoded.token_counts), tokens)
        return {"prompt_tokens": tokens, "total_tokens": tokens}

    async def json_response(body: dict, floats: int) -> Response:
        content = await run_in_threadpool(to_json, body) if floats > SERIALISE_IN_THREAD_ABOVE else to_json(body)
        return Response(content, media_type="application/json")

    @app.post("/v1/embeddings", response_model=EmbeddingResponse, summary="Create embeddings (OpenAI API)")
    async def create_embeddings(request: EmbeddingRequest) -> Response:
        if request.model not in settings.model_names:
            raise APIError(404, f"the model `{quoted(request.model)}` does not exist on this server; it serves "
                                f"{', '.join(f'`{name}`' for name in settings.model_names)}",
                           param="model", code="model_not_found")
        if request.dimensions is not None and not 1 <= request.dimensions <= model.dimension:
            raise APIError(422, f"dimensions must be between 1 and {model.dimension} (the model's dimension), "
                                f"got {request.dimensions}", param="dimensions", code="invalid_value")
        texts = check_texts(request.input, "input")
        if request.input_type is not None:
            texts = model.prepare(texts, kind=request.input_type.value)
        encoded = await embed(texts)
        vectors = encoded.embeddings  # (N, d)
        if request.dimensions is not None:
            vectors = truncate_dimensions(vectors, request.dimensions)  # (N, m)
        as_base64 = request.encoding_format is EncodingFormat.BASE64
        data = [{"object": "embedding", "index": position,
                 "embedding": to_base64(vector) if as_base64 else vector.tolist()}
                for position, vector in enumerate(vectors)]
        body = {"object": "list", "data": data, "model": settings.served_name,
                "usage": usage(encoded, "/v1/embeddings")}
        return await json_response(body, 0 if as_base64 else vectors.size)

    @app.post("/search", response_model=SearchResponse, summary="Nearest documents of the index")
    async def search(request: SearchRequest) -> Response:
        if index is None:
            raise APIError(404, "this server has no search index: start it with `gtekit serve MODEL --index DIR`",
                           code="no_index")
        if request.k > settings.max_k:
            raise APIError(422, f"k is {request.k}; this server returns at most {settings.max_k} hits per query "
                                "(--max-k)", param="k", code="invalid_value")
        queries = check_texts(request.query, "query")
        encoded = await embed(model.prepare(queries, kind="query"))
        find = functools.partial(index.search, encoded.embeddings, request.k, rescore=request.rescore)
        try:
            hits = await asyncio.get_running_loop().run_in_executor(search_worker, find)
        except ValueError as error:  # e.g. rescore asked of an index without a rescore store
            raise APIError(422, str(error), param="rescore" if request.rescore else None,
                           code="invalid_value") from None
        data = [{"object": "search_result", "index": position,
                 "hits": [{"id": hit.id, "score": float(hit.score), "text": hit.text} for hit in query_hits]}
                for position, query_hits in enumerate(hits)]
        body = {"object": "list", "data": data, "model": settings.served_name, "usage": usage(encoded, "/search")}
        return await json_response(body, 0)

    def model_card() -> ModelCard:
        return ModelCard(id=settings.served_name, created=int(started), input_types=input_types)

    @app.get("/v1/models", response_model=ModelList, summary="The served model (OpenAI API), with its input types")
    async def list_models() -> ModelList:
        return ModelList(data=[model_card()])

    @app.get("/v1/models/{name:path}", response_model=ModelCard, summary="One model (OpenAI API)")
    async def retrieve_model(name: str) -> ModelCard:
        if name not in settings.model_names:
            raise APIError(404, f"the model `{quoted(name)}` does not exist on this server", param="model",
                           code="model_not_found")
        return model_card()

    @app.get("/health", response_model=Health, summary="Liveness, model, queue depth, batching counters")
    async def health() -> Health:
        described = None if index is None else {"documents": len(index), "dimension": index.dimension,
                                                "model": index.model}
        return Health(model=settings.served_name, dimension=model.dimension, uptime_s=round(time.time() - started, 3),
                      queue_depth=batcher.queued_texts, batching=asdict(batcher.stats), index=described)

    @app.get("/metrics", summary="Prometheus metrics: requests, texts, tokens, batches, queue depth, latencies",
             response_class=Response, responses={200: {"content": {"text/plain": {}}}, 501: {}})
    async def prometheus_metrics() -> Response:
        if metrics is None:
            return metrics_unavailable()
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    return app
