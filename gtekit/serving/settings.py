"""The server's options as one typed dataclass: which names the model answers to, request limits,
timeouts, batching, metrics. Depends on the standard library only (``gtekit serve --help`` reads its defaults)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

API_KEY_ENV = "GTEKIT_API_KEY"
OPENAI_MAX_INPUTS = 2048  # the OpenAI embeddings API's limit on inputs per request
MIB = 1024 * 1024
KIB = 1024


@dataclass(frozen=True)
class ServerSettings:
    """Everything ``create_app`` needs besides the model and the index.

    ``model_names[0]`` is the name reported in responses; a request may name any of ``model_names``.
    """

    model_names: tuple[str, ...]
    api_key: str | None = None
    max_batch_size: int = 32
    # Padded tokens per model call (longest text's tokens x texts, as the batch is padded to its longest text);
    # 0: no token bound, a batch is bounded by max_batch_size texts (and so by max_batch_size x max_seq_length).
    max_batch_tokens: int = 0
    max_wait_ms: float = 5.0
    max_inputs_per_request: int = OPENAI_MAX_INPUTS
    max_request_bytes: int = 16 * MIB
    max_text_chars: int = 32_768
    max_queued_texts: int = 16_384
    max_k: int = 1000
    max_header_bytes: int = 16 * KIB  # request line and headers; more: 431 (400 from h11), connection closed
    # Timeouts, in seconds. Headers: from the connection's opening (or the first byte of a later request on it)
    # to the end of the request's headers. Keep-alive: idle time between requests. Body: from the end of the
    # headers to the end of the body, plus one second per ``body_min_rate`` bytes received (0: no extension).
    header_timeout: float = 10.0
    keep_alive_timeout: float = 5.0
    body_timeout: float = 30.0
    body_min_rate: float = 16 * KIB  # bytes/s
    shutdown_timeout: float = 30.0  # on SIGTERM: requests still running after this long are cancelled
    metrics_public: bool = False  # GET /metrics without the API key (it follows the key by default)

    def __post_init__(self) -> None:
        if not self.model_names or not all(self.model_names):
            raise ValueError("the server needs at least one non-empty model name")
        for name in ("max_batch_size", "max_inputs_per_request", "max_request_bytes", "max_text_chars",
                     "max_queued_texts", "max_k", "max_header_bytes"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        for name in ("header_timeout", "keep_alive_timeout", "body_timeout", "shutdown_timeout"):
            if not getattr(self, name) > 0:  # NaN fails too
                raise ValueError(f"--{name.replace('_', '-')} must be > 0 seconds, got {getattr(self, name)}")
        if not self.body_min_rate >= 0:
            raise ValueError(f"--body-min-rate must be >= 0 bytes/s, got {self.body_min_rate}")
        if self.max_batch_tokens < 0:
            raise ValueError(f"--max-batch-tokens must be >= 0 (0: no token bound), got {self.max_batch_tokens}")
        if self.max_wait_ms < 0:
            raise ValueError(f"--max-wait-ms must be >= 0, got {self.max_wait_ms}")
        if self.max_queued_texts < self.max_inputs_per_request:
            raise ValueError(f"--max-queued-texts ({self.max_queued_texts}) must be at least "
                             f"--max-inputs-per-request ({self.max_inputs_per_request}), or a full request "
                             "could never be queued")
        if self.api_key is not None and not self.api_key.strip():
            raise ValueError("the API key is empty: give a non-empty --api-key or GTEKIT_API_KEY, or neither")

    @property
    def served_name(self) -> str:
        return self.model_names[0]


def model_names(model: str, served_name: str | None = None, aliases: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The names a request's ``model`` may use: the served name (default: MODEL as given), MODEL itself,
    the last part of MODEL when it is a path (``runs/x/model`` -> ``model``) and the aliases; no duplicates."""
    names = [served_name or model, model, Path(model.rstrip("/")).name, *aliases]
    return tuple(dict.fromkeys(name for name in names if name))


def api_key_from(option: str | None) -> str | None:
    """``--api-key`` if given, else ``$GTEKIT_API_KEY``, else None (no authentication)."""
    return option if option is not None else os.environ.get(API_KEY_ENV) or None
