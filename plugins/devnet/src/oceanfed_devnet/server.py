"""HTTP JSON-RPC endpoints of the devnet: one per member, all on one shared chain.

Each endpoint listens on its own 127.0.0.1 port, asks for HTTP basic auth (user = member
name, password from its 0600 file) and answers like bitcoind: HTTP 401 with no body on bad
credentials, 404 for an unknown method, 500 for other errors, keep-alive (HTTP/1.1), and
JSON batches. Requests run concurrently (one thread per connection); chain updates
serialise on the chain's lock.
"""

from __future__ import annotations

import base64
import contextlib
import hmac
import json
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from oceanfed_devnet.chain import Chain, ChainError
from oceanfed_devnet.rpc import RPC_METHOD_NOT_FOUND, Endpoint, dispatch

log = logging.getLogger("oceanfed.devnet")

RPC_INVALID_REQUEST = -32600
RPC_PARSE_ERROR = -32700
MAX_BODY = 32 * 1024 * 1024


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: EndpointServer

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes: without this, Nagle's algorithm and
        # delayed ACKs add ~40 ms to every keep-alive call.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s: " + format, self.server.endpoint.name, *args)

    def _send(self, status: int, body: bytes, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _authorized(self) -> bool:
        value = self.headers.get("Authorization", "")
        if not value.startswith("Basic "):
            return False
        try:
            given = base64.b64decode(value[6:], validate=True)
        except ValueError:
            return False
        return hmac.compare_digest(given, self.server.expected_auth)

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        self._send(405, b"JSON-RPC server handles only POST requests")

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        if self.server.stopped:  # a kept-alive connection to a stopped devnet: hang up
            self.close_connection = True
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._send(413, b"")
            self.close_connection = True
            return
        body = self.rfile.read(length)
        if not self._authorized():
            self._send(401, b"", {"WWW-Authenticate": 'Basic realm="jsonrpc"'})
            return
        try:
            request = json.loads(body)
        except ValueError:
            self._reply(500, _error(None, RPC_PARSE_ERROR, "Parse error"))
            return
        if isinstance(request, list):
            replies = [self._one(r)[1] for r in request]
            self._reply(200, replies)
            return
        status, reply = self._one(request)
        self._reply(status, reply)

    def _reply(self, status: int, reply: Any) -> None:
        self._send(status, json.dumps(reply).encode() + b"\n")

    def _one(self, request: Any) -> tuple[int, dict[str, Any]]:
        if not isinstance(request, dict):
            return 400, _error(None, RPC_INVALID_REQUEST, "Invalid Request object")
        rid = request.get("id")
        name = request.get("method")
        if not isinstance(name, str):
            return 400, _error(rid, RPC_INVALID_REQUEST, "Method must be a string")
        try:
            result = dispatch(self.server.endpoint, name, request.get("params"))
        except ChainError as exc:
            status = (
                404
                if exc.code == RPC_METHOD_NOT_FOUND
                else 400
                if exc.code == RPC_INVALID_REQUEST
                else 500
            )
            return status, _error(rid, exc.code, exc.message)
        except Exception:  # a bug must not kill the connection thread silently
            log.exception("%s: %s failed", self.server.endpoint.name, name)
            return 500, _error(rid, -1, f"internal error in {name}")
        return 200, {"result": result, "error": None, "id": rid}


def _error(rid: Any, code: int, message: str) -> dict[str, Any]:
    return {"result": None, "error": {"code": code, "message": message}, "id": rid}


class EndpointServer(ThreadingHTTPServer):
    """One member's HTTP JSON-RPC server."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, port: int, endpoint: Endpoint, password: str, host: str = "127.0.0.1"):
        self.endpoint = endpoint
        self.expected_auth = f"{endpoint.name}:{password}".encode()
        super().__init__((host, port), _Handler)
        self.stopped = False
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._conns_lock:
            self._conns.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._conns_lock:
            self._conns.discard(request)
        super().shutdown_request(request)

    def hang_up(self) -> None:
        """Answer nothing more, and end the open (kept-alive) connections."""
        self.stopped = True
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class DevnetServer:
    """All the endpoints of one devnet, served from background threads.

    :meth:`stop` shuts the endpoints down and hangs up their open connections, then
    stores the mempool and closes the chain's database.
    """

    def __init__(self, servers: list[EndpointServer], chain: Chain):
        self.servers = servers
        self.chain = chain
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for srv in self.servers:
            t = threading.Thread(
                target=srv.serve_forever,
                kwargs={"poll_interval": 0.2},
                name=f"devnet-{srv.endpoint.name}",
                daemon=True,
            )
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        for srv in self.servers:
            srv.shutdown()
        for srv in self.servers:
            srv.hang_up()
            srv.server_close()
        for t in self._threads:
            t.join(timeout=5)
        self.chain.save_mempool()
        self.chain.store.close()
