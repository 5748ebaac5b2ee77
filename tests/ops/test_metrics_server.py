"""The metrics listener against clients that connect and say nothing: they hold at most
``MAX_CONNECTIONS`` threads, each until the idle timeout, and leave no traceback."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator

import pytest

from oceanfed import metrics
from oceanfed.metrics import MAX_CONNECTIONS, MetricsServer
from testsupport.metrics import http_get
from testsupport.waiting import wait_until


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[float], tuple[str, int]]]:
    """Start a listener whose handlers let a silent client go after ``idle`` seconds."""
    # unpatched, a silent client is let go within a minute
    assert metrics._Handler.timeout is not None and 0 < metrics._Handler.timeout <= 60
    started: list[MetricsServer] = []

    def start(idle: float) -> tuple[str, int]:
        monkeypatch.setattr(metrics._Handler, "timeout", idle)
        started.append(MetricsServer("127.0.0.1:0"))
        return started[-1].start()

    yield start
    for m in started:
        m.stop()


def _closed(conn: socket.socket) -> bool:
    """Whether the server closed ``conn`` (without waiting)."""
    conn.setblocking(False)
    try:
        return conn.recv(1) == b""
    except BlockingIOError:
        return False
    except ConnectionError:
        return True


def test_silent_connections_hold_a_bounded_number_of_threads(serve, capfd) -> None:
    host, port = serve(60.0)
    base = threading.active_count()
    conns = [socket.create_connection((host, port)) for _ in range(4 * MAX_CONNECTIONS)]
    try:
        # those beyond the limit are closed at once (long before the idle timeout); the
        # rest hold a thread each
        wait_until(lambda: sum(map(_closed, conns)) >= 3 * MAX_CONNECTIONS, what="the extra connections closed")
        assert threading.active_count() <= base + MAX_CONNECTIONS
        assert sum(map(_closed, conns)) == 3 * MAX_CONNECTIONS
    finally:
        for conn in conns:
            conn.close()
    wait_until(lambda: threading.active_count() <= base, what="their threads to end")
    status, body = http_get(f"http://{host}:{port}/health")
    assert status in (200, 503) and '"status"' in body
    assert "Traceback" not in capfd.readouterr().err


def test_a_silent_connection_is_let_go_at_the_idle_timeout(serve, capfd) -> None:
    host, port = serve(1.0)
    conns = [socket.create_connection((host, port)) for _ in range(MAX_CONNECTIONS)]
    try:
        wait_until(lambda: all(map(_closed, conns)), what="the silent connections to time out")
    finally:
        for conn in conns:
            conn.close()
    status, _ = http_get(f"http://{host}:{port}/health")  # every place is free again
    assert status in (200, 503)
    assert "Traceback" not in capfd.readouterr().err


def test_a_client_that_stops_mid_request_leaves_no_traceback(serve, capfd) -> None:
    host, port = serve(1.0)
    for partial in (b"GET /health HTTP/1.1\r\nHost: x\r\n", b"GET /hea"):
        conn = socket.create_connection((host, port))
        conn.sendall(partial)
        wait_until(lambda c=conn: _closed(c), what="the half request to time out")  # type: ignore[misc]
        conn.close()
    status, _ = http_get(f"http://{host}:{port}/health")
    assert status in (200, 503)
    assert "Traceback" not in capfd.readouterr().err
