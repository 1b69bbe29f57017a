"""Slow and idle clients are cut off: an idle socket, headers or a body sent a byte at a time, an idle
kept-alive connection; a large body sent steadily at --body-min-rate still arrives; and SIGTERM stops
the server within its shutdown timeout even with a half-sent body in flight (raw sockets, small timeouts)."""

from __future__ import annotations

import json
import math
import signal
import socket
import time

import fastapi  # noqa: F401  (the server under test)
import httpx
import pytest

from tests.serving.conftest import running_server

TIMEOUT = 1.0  # header, keep-alive and body timeouts of the test server
SLACK = 2.0  # how much later than its timeout a connection may be closed


def settings_with(**options):
    from gtekit.serving.settings import ServerSettings

    values = {"header_timeout": TIMEOUT, "keep_alive_timeout": TIMEOUT, "body_timeout": TIMEOUT, "body_min_rate": 0,
              **options}
    return ServerSettings(model_names=("tiny",), max_wait_ms=0, **values)


@pytest.fixture(scope="module")
def impatient_server(served_model):
    from gtekit.serving.app import create_app

    settings = settings_with()
    with running_server(create_app(served_model, settings), settings) as url:
        yield url


def connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=10)


def read_until_closed(sock: socket.socket, trickle: bytes = b"", every: float = 0.2, limit: float = 15.0
                      ) -> tuple[bytes, float]:
    """Send ``trickle`` one byte per ``every`` seconds (if any) while reading, until the server closes the
    connection; (everything read, seconds until closed). Fails if it is still open after ``limit`` s."""
    started, received, position = time.monotonic(), b"", 0
    sock.settimeout(every)
    while time.monotonic() < started + limit:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            if position < len(trickle):
                try:
                    sock.sendall(trickle[position:position + 1])
                except OSError:  # closed by the server between two bytes
                    return received, time.monotonic() - started
                position += 1
            continue
        except ConnectionResetError:
            return received, time.monotonic() - started
        if not chunk:
            return received, time.monotonic() - started
        received += chunk
    raise AssertionError(f"the connection was still open after {limit} s; received {received[:200]!r}")


def response_of(raw: bytes) -> tuple[int, dict, bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


def request_head(body_length: int, path: str = "/v1/embeddings") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            f"Content-Length: {body_length}\r\n\r\n").encode()


BODY = json.dumps({"model": "tiny", "input": "a slow request"}).encode()


def test_an_idle_socket_is_closed_after_the_header_timeout(impatient_server):
    with connect(impatient_server) as sock:
        received, closed_after = read_until_closed(sock)
    assert received == b"" and TIMEOUT * 0.9 <= closed_after <= TIMEOUT + SLACK


def test_headers_sent_a_byte_at_a_time_get_408_and_a_closed_connection(impatient_server):
    with connect(impatient_server) as sock:
        received, closed_after = read_until_closed(sock, request_head(len(BODY)) + BODY)
    status, headers, body = response_of(received)
    assert status == 408 and headers["connection"] == "close"
    assert json.loads(body)["error"]["code"] == "request_timeout" and "--header-timeout" in body.decode()
    assert TIMEOUT * 0.9 <= closed_after <= TIMEOUT + SLACK


def test_a_body_sent_a_byte_at_a_time_gets_408_and_a_closed_connection(impatient_server):
    with connect(impatient_server) as sock:
        sock.sendall(request_head(len(BODY)))
        received, closed_after = read_until_closed(sock, BODY)
    status, headers, body = response_of(received)
    assert status == 408 and headers["connection"] == "close"
    error = json.loads(body)["error"]
    assert error["code"] == "request_timeout" and "--body-timeout" in error["message"]
    assert TIMEOUT * 0.9 <= closed_after <= TIMEOUT + SLACK


def test_a_half_sent_body_then_silence_gets_408(impatient_server):
    with connect(impatient_server) as sock:
        sock.sendall(request_head(len(BODY)) + BODY[:10])
        received, closed_after = read_until_closed(sock)
    assert response_of(received)[0] == 408 and closed_after <= TIMEOUT + SLACK


def test_a_kept_alive_connection_is_closed_when_idle(impatient_server):
    with connect(impatient_server) as sock:
        sock.sendall(request_head(len(BODY)) + BODY)
        received, closed_after = read_until_closed(sock)
    status, headers, body = response_of(received)
    assert status == 200 and len(body) == int(headers["content-length"])
    assert closed_after <= TIMEOUT + SLACK


def test_a_second_request_slow_to_send_its_headers_is_cut_off(impatient_server):
    with connect(impatient_server) as sock:
        sock.sendall(request_head(len(BODY)) + BODY)
        time.sleep(TIMEOUT / 2)  # within the keep-alive timeout; then the next request, a byte at a time
        received, closed_after = read_until_closed(sock, request_head(len(BODY)) + BODY)
    assert received.startswith(b"HTTP/1.1 200") and b"HTTP/1.1 408" in received
    assert closed_after <= 2 * TIMEOUT + SLACK


def test_prompt_clients_are_unaffected(impatient_server):
    with httpx.Client(base_url=impatient_server, timeout=30) as client:
        for _ in range(3):
            assert client.post("/v1/embeddings", json={"model": "tiny", "input": ["a", "b"]}).status_code == 200
            time.sleep(TIMEOUT / 3)  # the same connection, kept alive in between


@pytest.mark.parametrize(("min_rate", "status"), [(20_000, 200), (0, 408)])
def test_a_large_body_sent_steadily_at_the_min_rate_arrives(served_model, min_rate, status):
    """0.5 s --body-timeout; a 24 kB body in 8 chunks, one per 0.1 s (30 kB/s): it takes 0.8 s, so it arrives
    only because each 20 kB received extends the deadline by a second."""
    from gtekit.serving.app import create_app

    settings = settings_with(body_timeout=0.5, body_min_rate=min_rate)
    body = json.dumps({"model": "tiny", "input": "word " * 4_800}).encode()
    with running_server(create_app(served_model, settings), settings) as url, connect(url) as sock:
        sock.sendall(request_head(len(body)))
        chunk = math.ceil(len(body) / 8)
        for start in range(0, len(body), chunk):
            time.sleep(0.1)
            try:
                sock.sendall(body[start:start + chunk])
            except OSError:
                break
        sock.settimeout(10)
        assert response_of(sock.recv(65536))[0] == status


def test_timeouts_must_be_positive():
    for name in ("header_timeout", "keep_alive_timeout", "body_timeout", "shutdown_timeout"):
        with pytest.raises(ValueError, match=f"--{name.replace('_', '-')} must be > 0"):
            settings_with(**{name: 0})
    with pytest.raises(ValueError, match="--body-min-rate"):
        settings_with(body_min_rate=-1)


def test_the_defaults_bound_every_wait():
    from gtekit.cli.main import build_parser
    from gtekit.serving.settings import ServerSettings

    defaults = ServerSettings(model_names=("m",))
    args = build_parser().parse_args(["serve", "m"])
    for name in ("header_timeout", "keep_alive_timeout", "body_timeout", "shutdown_timeout"):
        assert 0 < getattr(defaults, name) == getattr(args, name) <= 60
    assert args.body_min_rate == defaults.body_min_rate > 0 and args.max_header_bytes == defaults.max_header_bytes


@pytest.mark.slow
@pytest.mark.parametrize("signals", [1, 2], ids=["sigterm", "sigterm-twice"])
def test_sigterm_with_a_half_sent_body_exits_0_within_the_shutdown_timeout(tiny_model_dir, signals):
    """--shutdown-timeout 2 (once) or 60 with a second SIGTERM; --body-timeout 60: the half-sent body
    would otherwise hold the server for a minute."""
    from tests.serving.test_shutdown import start_server

    shutdown_timeout = 2 if signals == 1 else 60
    process, url = start_server([str(tiny_model_dir), "--alias", "tiny", "--no-access-log", "--body-timeout", "60",
                                 "--shutdown-timeout", str(shutdown_timeout)])
    try:
        with connect(url) as sock:
            sock.sendall(request_head(len(BODY)) + BODY[:10])
            time.sleep(0.3)  # the request is in the app, waiting for the rest of its body
            process.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            if signals == 2:
                time.sleep(0.5)
                process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0
            took = time.monotonic() - signalled
    finally:
        if process.poll() is None:
            process.kill()
    assert took <= (shutdown_timeout if signals == 1 else 0.5) + 3, took
    stdout, stderr = process.communicate(timeout=30)
    assert "gtekit serve: stopped" in stdout, stderr[-3000:]


@pytest.mark.parametrize("head", [b"NOT HTTP AT ALL\r\n\r\n", b"GET / HTTP/1.1\r\nHost: t\r\nBad Header\r\n\r\n"],
                         ids=["garbage", "malformed-header"])
def test_malformed_requests_get_a_400_error_body(impatient_server, head):
    with connect(impatient_server) as sock:
        sock.sendall(head)
        received, closed_after = read_until_closed(sock)
    status, headers, body = response_of(received)
    error = json.loads(body)["error"]
    assert status == 400 and headers["connection"] == "close" and error["code"] == "invalid_http_request"
    assert "(--max-header-bytes)" in error["message"] and closed_after < TIMEOUT


@pytest.mark.parametrize("pieces", [1, 10])
def test_headers_above_the_limit_are_refused_and_the_connection_closed(impatient_server, pieces):
    """A head above --max-header-bytes (16 KiB): 431 when it arrives whole (the app counts it), 400 when in
    pieces (h11 refuses to buffer more); the connection is closed either way."""
    head = b"POST /v1/embeddings HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n"
    with connect(impatient_server) as sock:
        step = -(-len(head) // pieces)
        for start in range(0, len(head), step):
            sock.sendall(head[start:start + step])
            time.sleep(0.05 if pieces > 1 else 0)
        received, _ = read_until_closed(sock)
    status, headers, body = response_of(received)
    error = json.loads(body)["error"]
    assert headers["connection"] == "close" and "16,384" in error["message"]
    assert "--max-header-bytes" in error["message"]
    assert (status, error["code"]) == ((431, "headers_too_large") if pieces == 1 else (400, "invalid_http_request"))
    headers_just_within = {"X-Big": "a" * 15_000}
    assert httpx.get(f"{impatient_server}/health", headers=headers_just_within).status_code == 200
