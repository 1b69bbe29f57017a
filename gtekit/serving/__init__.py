"""``gtekit serve``: an OpenAI-compatible embeddings HTTP server (FastAPI + uvicorn), with optional search.

Modules: ``settings`` (limits, timeouts and batching options), ``errors`` (OpenAI-style error
bodies), ``json_body`` (content type and JSON parsing of request bodies), ``schemas`` (request and
response bodies), ``vectors`` (Matryoshka truncation, base64), ``request_batching`` (coalesces
concurrent requests into model calls on one worker thread, within a count and a token budget),
``auth`` and ``limits`` (ASGI middlewares: bearer key; header size, body size and body timeout),
``metrics`` (Prometheus counters and histograms; prometheus-client imported lazily), ``app`` (the
routes), ``server`` (socket, uvicorn with header and keep-alive timeouts, signals). Serving imports
the model (``gtekit.model.embedder``) and the search index, never training. This package file
imports neither FastAPI nor uvicorn, so ``gtekit serve --help`` works without them;
:func:`require_serve_extra` says how to install them.
"""

from __future__ import annotations

import importlib.util

SERVE_PACKAGES = ("fastapi", "uvicorn")
INSTALL_HINT = "pip install 'gtekit[serve]'"


def require_serve_extra() -> None:
    """Raise a RuntimeError naming the install command when FastAPI or uvicorn is missing."""
    missing = [name for name in SERVE_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise RuntimeError(f"gtekit serve needs {' and '.join(missing)}, not installed here: run `{INSTALL_HINT}`")
