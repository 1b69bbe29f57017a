"""Run an app under uvicorn on a socket bound here, with header and keep-alive timeouts, and stop it
gracefully on SIGTERM or SIGINT.

Binding the socket ourselves lets ``--port 0`` pick a free port and print it before serving. On
SIGTERM/SIGINT uvicorn stops accepting connections, waits for in-flight requests to be answered (at
most ``shutdown_timeout`` seconds; then it cancels them), then runs the app's lifespan shutdown (which
drains the batching queue); :func:`serve_forever` then returns normally, so the process exits 0. A
second SIGTERM or SIGINT forces an immediate exit.

Timeouts (:func:`uvicorn_config`): uvicorn closes a connection idle for ``keep_alive_timeout`` after a
response, but sets no timer on a fresh connection nor on a request whose headers are still arriving;
:class:`HeaderTimeoutH11Protocol` (uvicorn's h11 protocol plus one timer) closes a connection whose
request line and headers are not complete ``header_timeout`` seconds after it opened, or after the first
byte of a later request on it: silently if nothing of a request came, else with 408. The request line
and headers are at most ``max_header_bytes`` (h11's limit); a longer or malformed request gets 400
``invalid_http_request`` in the OpenAI error shape (uvicorn's is plain text). Both close the connection.
The body's timeout is the app's (``limits.BodyLimitsMiddleware``). The h11 protocol is used whether or
not httptools is installed. Depends on uvicorn (and h11, which it uses) only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import sys
from collections.abc import Iterator

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from .settings import ServerSettings


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (``port`` 0: a free one), IPv4 or IPv6 as ``host`` says."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise RuntimeError(f"cannot listen on {host}:{port}: {error.strerror}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def address_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def raw_error_response(status: int, reason: str, message: str, code: str) -> bytes:
    """An OpenAI-shaped error as raw HTTP/1.1 bytes, closing the connection: for a request h11 has not
    (or could not) parse, which it cannot answer itself."""
    body = json.dumps({"error": {"message": message, "type": "invalid_request_error", "param": None,
                                 "code": code}}).encode()
    return (b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\nconnection: close\r\n"
            b"content-length: %d\r\n\r\n%s" % (status, reason.encode(), len(body), body))


class HeaderTimeoutH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a timer on each request's headers (``header_timeout``, a class attribute:
    :func:`header_timeout_protocol` makes the subclass for a setting).

    Armed when the connection opens, and when the first byte of a later request arrives (uvicorn's
    keep-alive timer covers the idle time before that byte; its ``data_received`` cancels that timer);
    disarmed when a request's headers are complete (the app, and its body timeout, take over)."""

    header_timeout: float = 10.0
    max_header_bytes: int = 16 * 1024
    _header_timer: asyncio.TimerHandle | None = None
    _request_bytes = False  # whether any byte of the awaited request arrived

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def data_received(self, data: bytes) -> None:
        if self.cycle is None or self.cycle.response_complete:  # between requests: this is the next one
            if self._header_timer is None:
                self._arm_header_timer()
            self._request_bytes = True
        super().data_received(data)

    def handle_events(self) -> None:
        cycle = self.cycle
        super().handle_events()
        if self.cycle is not cycle:  # a new request's headers are complete
            self._disarm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)

    def _arm_header_timer(self) -> None:
        self._disarm_header_timer()
        self._request_bytes = False
        self._header_timer = asyncio.get_running_loop().call_later(self.header_timeout, self._headers_timed_out)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_timed_out(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        if self._request_bytes:  # part of a request came: say why it is dropped
            self.transport.write(raw_error_response(
                408, "Request Timeout", f"the request's headers did not arrive within {self.header_timeout:g} s "
                                        "(--header-timeout)", "request_timeout"))
        with contextlib.suppress(h11.LocalProtocolError):
            self.conn.send(h11.ConnectionClosed())
        self.transport.close()

    def send_400_response(self, msg: str) -> None:
        """A request h11 could not parse (uvicorn answers it in plain text): the OpenAI error body instead."""
        self._disarm_header_timer()
        self.transport.write(raw_error_response(
            400, "Bad Request", f"invalid HTTP request: malformed, or its request line and headers are longer "
                                f"than {self.max_header_bytes:,} bytes (--max-header-bytes)", "invalid_http_request"))
        with contextlib.suppress(h11.LocalProtocolError):
            self.conn.send(h11.ConnectionClosed())
        self.transport.close()


def header_timeout_protocol(settings: ServerSettings) -> type[HeaderTimeoutH11Protocol]:
    """:class:`HeaderTimeoutH11Protocol` with the header timeout and limit of ``settings``."""
    return type("HeaderTimeoutH11Protocol", (HeaderTimeoutH11Protocol,),
                {"header_timeout": settings.header_timeout, "max_header_bytes": settings.max_header_bytes})


def uvicorn_config(app, settings: ServerSettings, *, access_log: bool = True, log_level: str = "info"
                   ) -> uvicorn.Config:
    """uvicorn's configuration for ``app`` with the timeouts and header limit of ``settings``."""
    return uvicorn.Config(app, access_log=access_log, log_level=log_level, lifespan="on",
                          http=header_timeout_protocol(settings),
                          timeout_keep_alive=settings.keep_alive_timeout,  # type: ignore[arg-type]
                          timeout_graceful_shutdown=settings.shutdown_timeout,  # type: ignore[arg-type]
                          h11_max_incomplete_event_size=settings.max_header_bytes)


class Server(uvicorn.Server):
    """uvicorn's server; a second SIGTERM (not only a second SIGINT) forces the exit, and a forced exit
    closes the open connections (from Python 3.12 on, uvicorn's shutdown would otherwise wait for them,
    a half-sent body's included, until the shutdown timeout)."""

    _loop: asyncio.AbstractEventLoop | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets=sockets)

    def handle_exit(self, sig: int, frame) -> None:
        if self.should_exit and sig in (signal.SIGINT, signal.SIGTERM):
            self.force_exit = True
            if self._loop is not None and not self._loop.is_closed():
                self._loop.call_soon_threadsafe(self._close_connections)
        super().handle_exit(sig, frame)

    def _close_connections(self) -> None:
        for connection in list(self.server_state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None:
                transport.close()


def serve_forever(app, sock: socket.socket, settings: ServerSettings, *, access_log: bool = True,
                  log_level: str = "info") -> None:
    """Serve ``app`` on ``sock`` until SIGTERM or SIGINT, then shut down gracefully and return."""
    server = Server(uvicorn_config(app, settings, access_log=access_log, log_level=log_level))
    print(f"gtekit serve: listening on {address_of(sock)}", flush=True)
    with _stop_signals_end_normally():
        server.run(sockets=[sock])
    if not server.started:
        raise RuntimeError("the server did not start (see the log above)")


@contextlib.contextmanager
def _stop_signals_end_normally() -> Iterator[None]:
    """uvicorn re-raises the stop signal after its graceful shutdown, with the handler that was in place
    before it started; with this one in place, that final signal ends nothing and the caller returns."""
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sys.stdout.flush()
