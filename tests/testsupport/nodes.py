"""A real JSON-RPC node endpoint over loopback HTTP that misbehaves on demand.

:class:`FaultyNode` forwards each request to a real node (a devnet endpoint) while its
``mode`` is ``"pass"``; otherwise it answers every request itself: ``"garbage"`` (HTTP 200,
not JSON), ``"null"`` (``{"result": null}``), ``"warmup"`` (error -28, as a node loading its
block index answers) or ``"trickle"`` (a valid answer, one byte every ``trickle_interval``
seconds). ``"drop-submits"`` forwards every request but ``submitblock``, which it answers
``null`` (accepted) and drops: a node that loses a block it accepted. It counts the requests
it receives, by method. With ``tls=(cert, key)`` it
speaks HTTPS.
"""

from __future__ import annotations

import http.client
import json
import ssl
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

WARMUP_MESSAGE = "Loading block index..."


class FaultyNode:
    def __init__(
        self, upstream_port: int | None = None, mode: str = "pass",
        tls: tuple[str, str] | None = None,
    ):
        self.upstream_port = upstream_port
        self.mode = mode
        self.trickle_interval = 0.1
        self.requests: Counter[str] = Counter()
        #: trickled answers the client gave up on before their last byte
        self.aborted = 0
        #: trickled answers sent in full
        self.completed = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        node = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                node._handle(self, body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}/"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def count(self) -> int:
        with self._lock:
            return sum(self.requests.values())

    def close(self) -> None:
        self._stopping.set()
        self.server.shutdown()
        self.server.server_close()

    # ------------------------------------------------------------------ answers

    def _handle(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        try:
            request = json.loads(body)
            method, rid = str(request.get("method")), request.get("id")
        except (ValueError, AttributeError):
            method, rid = "?", None
        with self._lock:
            self.requests[method] += 1
        mode = self.mode
        if mode == "pass" or (mode == "drop-submits" and method != "submitblock"):
            status, answer = self._forward(handler, body)
        elif mode == "garbage":
            status, answer = 200, b"<html>\x00\xff not json"
        elif mode in ("null", "drop-submits"):
            status, answer = 200, json.dumps({"result": None, "error": None, "id": rid}).encode()
        elif mode == "warmup":
            error = {"code": -28, "message": WARMUP_MESSAGE}
            status, answer = 500, json.dumps({"result": None, "error": error, "id": rid}).encode()
        elif mode == "trickle":
            answer = json.dumps({"result": 7, "error": None, "id": rid}).encode()
            self._trickle(handler, answer)
            return
        else:
            raise AssertionError(f"unknown mode {mode!r}")
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(answer)))
        handler.end_headers()
        handler.wfile.write(answer)

    def _forward(self, handler: BaseHTTPRequestHandler, body: bytes) -> tuple[int, bytes]:
        assert self.upstream_port is not None, "pass mode needs an upstream node"
        conn = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=30)
        try:
            headers = {"Content-Type": "application/json"}
            if handler.headers.get("Authorization"):
                headers["Authorization"] = handler.headers["Authorization"]
            conn.request("POST", "/", body, headers)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def _trickle(self, handler: BaseHTTPRequestHandler, answer: bytes) -> None:
        raw = (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(answer)}\r\n\r\n".encode()
            + answer
        )
        for i in range(len(raw)):
            if self._stopping.wait(self.trickle_interval):
                return
            try:
                handler.wfile.write(raw[i : i + 1])
                handler.wfile.flush()
            except OSError:
                with self._lock:
                    self.aborted += 1
                handler.close_connection = True
                return
        with self._lock:
            self.completed += 1

