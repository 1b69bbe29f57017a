"""One OpenAI-compatible chat-completions endpoint (vLLM, llama.cpp server, Ollama, OpenAI), asked from threads.

Request: ``POST {url}/chat/completions`` with ``Content-Type: application/json``, ``Authorization: Bearer
<key>`` when the key's environment variable is set, and the body ``{"model", "messages": [{"role": "user",
"content": prompt}], "temperature", "max_tokens"}``; the answer is ``choices[0].message.content`` (``null``
counts as empty).

Retry rule: HTTP 429, any 5xx, a timeout or a failed connection is retried up to ``retries`` times, waiting
``backoff_seconds * 2**k`` before retry k+1 (k = 0, 1, ...), or what the ``Retry-After`` header of a 429/503
says (seconds or an HTTP date), either capped at ``max_backoff_seconds``. 401/403 raise
:class:`SyntheticQueryError` at once, naming the key's variable; other statuses and an answer that is not
chat-completions JSON are not retried. Every try, retries included, counts against ``max_requests``; once it
is spent :meth:`ChatEndpoint.ask` answers None and sends nothing.

Used by ``synthetic_queries``; depends on the standard library only.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import os
import threading
import time
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen


class SyntheticQueryError(RuntimeError):
    """The endpoint cannot be used: unreachable, refusing the API key, or not answering like chat completions."""


class RequestFailure(Exception):
    """One failed request: ``reason`` is what a report counts (``HTTP 500``, ``timeout``, ``connection error``,
    ``bad JSON``), ``detail`` what an error message shows (for a bad answer, its first 200 characters)."""

    def __init__(self, reason: str, detail: str, retryable: bool, retry_after: float | None = None):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail, self.retryable, self.retry_after = reason, detail, retryable, retry_after


def chat_completions_url(url: str) -> str:
    """``{url}/chat/completions``, or ``url`` itself when it already ends so."""
    base = url.rstrip("/")
    return base if base.endswith("/chat/completions") else f"{base}/chat/completions"


class ChatEndpoint:
    """Sends one-message prompts with the retry rule and the request cap; safe to call from several threads.

    ``requests`` (tries sent), ``retries`` and ``cap_reached`` say what it did so far.
    """

    def __init__(self, url: str, model: str, *, api_key_env: str = "OPENAI_API_KEY", temperature: float = 0.7,
                 max_tokens: int = 64, timeout_seconds: float = 60.0, retries: int = 4, backoff_seconds: float = 1.0,
                 max_backoff_seconds: float = 60.0, max_requests: int = 1000):
        self.url, self.model, self.api_key_env = chat_completions_url(url), model, api_key_env
        self.temperature, self.max_tokens, self.timeout_seconds = temperature, max_tokens, timeout_seconds
        self.retries, self.backoff_seconds, self.max_backoff_seconds = retries, backoff_seconds, max_backoff_seconds
        self.max_requests = max_requests
        self.requests = 0
        self.retries_made = 0
        self.cap_reached = False
        self._key = os.environ.get(api_key_env) if api_key_env else None
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._key:
            self._headers["Authorization"] = f"Bearer {self._key}"
        self._stopped = threading.Event()  # set by stop(): tries still waiting give up, none start
        self._lock = threading.Lock()

    def ask(self, prompt: str) -> str | None:
        """The answer's text, or None when the cap is spent (or :meth:`stop` was called) first.

        Raises :class:`RequestFailure` once the retries are spent (or at once for a failure not retried), and
        :class:`SyntheticQueryError` on 401/403.
        """
        for attempt in range(self.retries + 1):
            if not self._take_request():
                return None
            try:
                return self._post(prompt)
            except RequestFailure as failure:
                if not failure.retryable or attempt == self.retries:
                    raise
                wait = self.backoff_seconds * 2**attempt if failure.retry_after is None else failure.retry_after
                with self._lock:
                    self.retries_made += 1
                if self._stopped.wait(min(wait, self.max_backoff_seconds)):
                    return None
        return None

    def stop(self) -> None:
        """No more tries: waiting retries give up, later :meth:`ask` calls answer None."""
        self._stopped.set()

    def _take_request(self) -> bool:
        with self._lock:
            if self._stopped.is_set():
                return False
            if self.requests >= self.max_requests:
                self.cap_reached = True
                return False
            self.requests += 1
            return True

    def _post(self, prompt: str) -> str:
        body = {"model": self.model, "messages": [{"role": "user", "content": prompt}],
                "temperature": self.temperature, "max_tokens": self.max_tokens}
        request = Request(self.url, data=json.dumps(body).encode("utf-8"), headers=self._headers, method="POST")
        try:
            with urlopen(request, timeout=self.timeout_seconds) as response:
                raw = response.read()
        except HTTPError as error:
            raise self._status_failure(error) from error
        except (OSError, http.client.HTTPException) as error:  # refused, timed out, reset or closed mid-answer
            cause = error.reason if isinstance(error, URLError) else error
            if isinstance(cause, TimeoutError):
                raise RequestFailure("timeout", f"no answer within {self.timeout_seconds} s", True) from error
            raise RequestFailure("connection error", str(cause) or repr(cause), True) from error
        return answer_text(raw)

    def _status_failure(self, error: HTTPError) -> RequestFailure:
        """The failure an HTTP error status is; 401/403 raise :class:`SyntheticQueryError` at once instead."""
        said = first_characters(error.read() if error.fp is not None else b"")
        if error.code in (401, 403):
            self.stop()
            key = (f"the API key in ${self.api_key_env} was not accepted" if self._key else
                   f"no API key was sent: set the environment variable {self.api_key_env}")
            raise SyntheticQueryError(f"{self.url} refused the request (HTTP {error.code}): {key}; "
                                      f"the server said: {said!r}")
        retry_after = retry_after_seconds(error.headers.get("Retry-After")) if error.code in (429, 503) else None
        return RequestFailure(f"HTTP {error.code}", said, error.code == 429 or error.code >= 500, retry_after)


def first_characters(raw: bytes, count: int = 200) -> str:
    """The first ``count`` characters of an answer body, for an error message."""
    return raw.decode("utf-8", errors="replace")[:count]


def answer_text(raw: bytes) -> str:
    """``choices[0].message.content`` of a chat-completions answer body; ``""`` for ``null``."""
    try:
        content = json.loads(raw)["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError) as error:
        raise RequestFailure("bad JSON", first_characters(raw), False) from error
    if content is not None and not isinstance(content, str):
        raise RequestFailure("bad JSON", first_characters(raw), False)
    return content or ""


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (a number of seconds or an HTTP date); None if unreadable."""
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        pass
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None
