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
import email.utils
import hmac
import json
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from oceanfed_devnet.chain import Chain, ChainError
from oceanfed_devnet.rpc import RPC_METHOD_NOT_FOUND, Endpoint, dispatch

log = logging.getLogger("oceanfed.devnet")

RPC_INVALID_REQUEST = -32600
RPC_PARSE_ERROR = -32700
MAX_BODY = 32 * 1024 * 1024
#: longest header line and most header lines of a request (as http.client allows)
MAX_HEADER_LINE = 65536
MAX_HEADERS = 100

_date: tuple[int, str] = (0, "")


def _http_date() -> str:
    """The ``Date`` header's value, formatted once a second."""
    global _date
    now = int(time.time())
    if _date[0] != now:
        _date = (now, email.utils.formatdate(now, usegmt=True))
    return _date[1]


#: the ``Server`` header's value (http.server's, computed once)
_SERVER = f"{BaseHTTPRequestHandler.server_version} {BaseHTTPRequestHandler.sys_version}"


class _Headers(dict[str, str]):
    """Request headers by lower-case name; the first of repeated headers counts."""

    def get(self, name: str, default: Any = None) -> Any:
        return super().get(name.lower(), default)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: EndpointServer

    def setup(self) -> None:
        super().setup()
        # Error answers from http.server send headers and body in separate writes: without
        # this, Nagle's algorithm and delayed ACKs add ~40 ms to such keep-alive calls.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s: " + format, self.server.endpoint.name, *args)

    def parse_request(self) -> bool:
        """A JSON-RPC client's request (``POST`` in HTTP/1.1) is read here directly:
        http.server's parser goes through the email package, several times the cost of
        the call itself. Anything else goes to http.server."""
        raw: bytes = self.raw_requestline  # type: ignore[attr-defined]  # set by handle_one_request
        parts = raw.split()
        if len(parts) != 3 or parts[0] != b"POST" or parts[2] != b"HTTP/1.1":
            return super().parse_request()
        self.command, self.request_version = "POST", "HTTP/1.1"
        self.path = parts[1].decode("iso-8859-1")
        self.requestline = raw.decode("iso-8859-1").rstrip("\r\n")
        self.close_connection = False
        headers = _Headers()
        for _ in range(MAX_HEADERS + 1):
            line = self.rfile.readline(MAX_HEADER_LINE + 1)
            if len(line) > MAX_HEADER_LINE:
                self.send_error(431, "Line too long")
                return False
            if line in (b"\r\n", b"\n", b""):
                break
            name, sep, value = line.partition(b":")
            if not sep or not name or name[:1] in b" \t" or name != name.rstrip():
                self.send_error(400, "Bad header line")
                return False
            headers.setdefault(name.decode("iso-8859-1").lower(), value.strip().decode("iso-8859-1"))
        else:
            self.send_error(431, "Too many headers")
            return False
        self.headers = headers  # type: ignore[assignment]
        if headers.get("Connection", "").lower() == "close":
            self.close_connection = True
        if headers.get("Expect", "").lower() == "100-continue":
            return self.handle_expect_100()
        return True

    def _send(self, status: int, body: bytes, extra: dict[str, str] | None = None) -> None:
        """The status line, headers and body in one write (one packet for the client)."""
        if log.isEnabledFor(logging.DEBUG):
            self.log_request(status)
        head = [
            f"HTTP/1.1 {status} {self.responses[status][0]}",
            f"Server: {_SERVER}",
            f"Date: {_http_date()}",
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
            *(f"{k}: {v}" for k, v in (extra or {}).items()),
        ]
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("iso-8859-1") + body)

    def _authorized(self) -> bool:
        value = self.headers.get("Authorization", "")
        raw = value.encode("iso-8859-1")
        if hmac.compare_digest(raw, self.server.accepted_header):  # as on the last good call
            return True
        if not value.startswith("Basic "):
            return False
        try:
            given = base64.b64decode(value[6:], validate=True)
        except ValueError:
            return False
        if not hmac.compare_digest(given, self.server.expected_auth):
            return False
        self.server.accepted_header = raw
        return True

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
        #: the last Authorization header value found good (compared as a whole next time)
        self.accepted_header = b"\x00"  # no header value is a NUL
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
