"""Run an app under uvicorn on a socket bound here, and stop it gracefully on SIGTERM or SIGINT.

Binding the socket ourselves lets ``--port 0`` pick a free port and print it before serving. On
SIGTERM/SIGINT uvicorn stops accepting connections, waits for in-flight requests to be answered
(at most ``shutdown_timeout`` seconds, if given), then runs the app's lifespan shutdown (which
drains the batching queue); :func:`serve_forever` then returns normally, so the process exits 0.
A second SIGINT forces an immediate exit. Depends on uvicorn only.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import sys
from collections.abc import Iterator

import uvicorn


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


def serve_forever(app, sock: socket.socket, *, access_log: bool = True, log_level: str = "info",
                  shutdown_timeout: float | None = None) -> None:
    """Serve ``app`` on ``sock`` until SIGTERM or SIGINT, then shut down gracefully and return."""
    config = uvicorn.Config(app, access_log=access_log, log_level=log_level, lifespan="on",
                            timeout_graceful_shutdown=shutdown_timeout)
    server = uvicorn.Server(config)
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
