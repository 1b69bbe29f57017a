"""The server's Prometheus metrics: ``GET /metrics`` in the text exposition format.

:func:`create_metrics` builds :class:`ServerMetrics` on a registry of its own (never the process-wide
one, so several apps in one process keep separate counts), or returns None when ``prometheus-client``
is not installed: it is imported here, lazily, and the server runs without it; ``/metrics`` then
answers 501 naming the install command (:func:`metrics_unavailable`). :class:`RequestMetricsMiddleware`
counts every HTTP request by route and status and times it; the routes count the texts and tokens
they embed; the batcher reports each model call (``BatchingEncoder(on_batch=...)``).

Route labels are the app's path templates (``/v1/models/{name:path}``), or ``unmatched`` for a path no
route serves, so a scanner sending random paths cannot create unbounded label values.
Depends on Starlette and (optionally) prometheus-client; knows nothing of the model.
"""

from __future__ import annotations

import asyncio
import importlib
import time
from collections.abc import Callable, Sequence

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import INSTALL_HINT
from .errors import error_response

UNMATCHED = "unmatched"
CANCELLED = 499  # nginx's "client closed request": a request cancelled before its response began
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)  # seconds
FORWARD_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)  # seconds
BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)  # texts
BATCH_TOKEN_BUCKETS = (64, 256, 1024, 2048, 4096, 8192, 16_384, 32_768, 65_536, 131_072)  # padded tokens


class ServerMetrics:
    """The server's metrics on one ``CollectorRegistry``; ``render()`` is the body of ``GET /metrics``."""

    def __init__(self, prometheus, queue_depth: Callable[[], float]) -> None:
        self._prometheus = prometheus
        self.registry = registry = prometheus.CollectorRegistry(auto_describe=True)
        self.requests = prometheus.Counter("gtekit_requests", "HTTP requests answered, by route and status code",
                                           ["route", "status"], registry=registry)
        self.request_seconds = prometheus.Histogram(
            "gtekit_request_duration_seconds", "time from a request's arrival to the end of its response, by route",
            ["route"], buckets=LATENCY_BUCKETS, registry=registry)
        self.texts = prometheus.Counter("gtekit_embedded_texts", "texts embedded for answered requests, by route",
                                        ["route"], registry=registry)
        self.tokens = prometheus.Counter("gtekit_embedded_tokens", "tokens the model saw for answered requests "
                                         "(special tokens included, after truncation), by route", ["route"],
                                         registry=registry)
        self.batch_texts = prometheus.Histogram("gtekit_batch_size_texts", "texts per model forward",
                                                buckets=BATCH_SIZE_BUCKETS, registry=registry)
        self.batch_tokens = prometheus.Histogram("gtekit_batch_padded_tokens", "padded tokens per model forward "
                                                 "(texts x tokens of the longest)", buckets=BATCH_TOKEN_BUCKETS,
                                                 registry=registry)
        self.forward_seconds = prometheus.Histogram("gtekit_model_forward_duration_seconds",
                                                    "time of one model forward (a batch), on the model's thread",
                                                    buckets=FORWARD_BUCKETS, registry=registry)
        self.queue_depth = prometheus.Gauge("gtekit_queue_depth_texts", "texts waiting for the batcher "
                                            "(not yet handed to the model)", registry=registry)
        self.queue_depth.set_function(queue_depth)

    def observe_request(self, route: str, status: int, seconds: float) -> None:
        self.requests.labels(route=route, status=str(status)).inc()
        self.request_seconds.labels(route=route).observe(seconds)

    def observe_embedded(self, route: str, texts: int, tokens: int) -> None:
        self.texts.labels(route=route).inc(texts)
        self.tokens.labels(route=route).inc(tokens)

    def observe_batch(self, texts: int, padded_tokens: int, seconds: float) -> None:
        """A :data:`~gtekit.serving.request_batching.BatchObserver`: one model call."""
        self.batch_texts.observe(texts)
        self.batch_tokens.observe(padded_tokens)
        self.forward_seconds.observe(seconds)

    def render(self) -> tuple[bytes, str]:
        """(body, content type) of ``GET /metrics``."""
        return self._prometheus.generate_latest(self.registry), self._prometheus.CONTENT_TYPE_LATEST


def create_metrics(queue_depth: Callable[[], float]) -> ServerMetrics | None:
    """The server's metrics, or None when prometheus-client is not installed."""
    try:
        prometheus = importlib.import_module("prometheus_client")
    except ImportError:
        return None
    return ServerMetrics(prometheus, queue_depth)


def metrics_unavailable():
    """The 501 of ``GET /metrics`` on a server without prometheus-client."""
    return error_response(501, f"metrics need the prometheus-client package, not installed here: run "
                               f"`{INSTALL_HINT}` and restart the server", code="metrics_unavailable")


def route_label(routes: Sequence[BaseRoute], scope: Scope) -> str:
    """The path template of the route serving ``scope`` (whatever the method), else ``unmatched``."""
    for route in routes:
        match, _ = route.matches(scope)
        if match is not Match.NONE:
            return getattr(route, "path", UNMATCHED)
    return UNMATCHED


class RequestMetricsMiddleware:
    """Counts each HTTP request by route and status and times it, from its arrival to the end of its
    response. Outermost, so that the answers of the other middlewares (401, 413, 431, 408) count too;
    a request whose app raised before answering counts as 500, one cancelled before answering as 499."""

    def __init__(self, app: ASGIApp, metrics: ServerMetrics, routes: Sequence[BaseRoute]) -> None:
        self.app, self.metrics, self.routes = app, metrics, routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, status = time.perf_counter(), None

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        except asyncio.CancelledError:  # cancelled (on shutdown, past --shutdown-timeout) before it was answered
            status = CANCELLED if status is None else status
            raise
        finally:
            self.metrics.observe_request(route_label(self.routes, scope), status or 500,
                                         time.perf_counter() - started)
