"""HTTP JSON-RPC endpoints of the devnet: one per member, all on one shared chain.

Each endpoint listens on its own 127.0.0.1 port, asks for HTTP basic auth (user = member
name, password from its 0600 file) and answers like bitcoind: HTTP 401 with no body on bad
credentials, 404 for an unknown method, 500 for other errors, keep-alive (HTTP/1.1), and
JSON batches.

One thread serves every endpoint: it waits on all the sockets at once (``selectors``),
reads what arrives without blocking, and answers each whole request as soon as it has it,
in one write. A slow or silent client holds nothing but its own connection. The members
keep their connections alive and call from their own loops: a thread per connection cost
a thread wake-up and a hand-over of the interpreter lock per call, more than the call.
"""

from __future__ import annotations

import base64
import contextlib
import email.utils
import hmac
import json
import logging
import re
import selectors
import socket
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
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
#: bytes asked of a socket at once (read into one reused buffer: a fresh bytes object
#: this large would be mapped and unmapped by malloc on every read)
_RECV = 262144
#: the end of a request's head: an empty line (CRLF or bare LF, as http.server reads lines)
_HEAD_END = re.compile(rb"\n\r?\n")

_date: tuple[int, str] = (0, "")


def _http_date() -> str:
    """The ``Date`` header's value, formatted once a second."""
    global _date
    now = int(time.time())
    if _date[0] != now:
        _date = (now, email.utils.formatdate(now, usegmt=True))
    return _date[1]


#: the ``Server`` header's value (http.server's)
_SERVER = f"{BaseHTTPRequestHandler.server_version} {BaseHTTPRequestHandler.sys_version}"
#: the reason phrase of each status
_REASONS = {s.value: s.phrase for s in HTTPStatus}


def _answer(status: int, body: bytes, extra: str = "", content_type: str = "application/json") -> bytes:
    """The status line, headers and body of one answer (written at once)."""
    return (
        f"HTTP/1.1 {status} {_REASONS.get(status, '')}\r\nServer: {_SERVER}\r\n"
        f"Date: {_http_date()}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n{extra}\r\n"
    ).encode("iso-8859-1") + body


def _ok(body: bytes) -> bytes:
    """A 200 JSON answer (:func:`_answer`'s, its constant part formatted once a second)."""
    global _ok_head
    now = int(time.time())
    if _ok_head[0] != now:
        _ok_head = (now, _answer(200, b"")[: -len(b"0\r\n\r\n")])
    return b"%s%d\r\n\r\n%s" % (_ok_head[1], len(body), body)


_ok_head: tuple[int, bytes] = (0, b"")


class _Refused(Exception):
    """A request answered with an HTTP error, after which the connection is closed (as
    http.server's ``send_error`` does)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def _error_answer(status: int, message: str) -> bytes:
    body = f"Error {status}: {message}\n".encode("iso-8859-1", "replace")
    return _answer(status, body, "Connection: close\r\n", "text/plain")


class _Conn:
    """One client connection: what it sent that is not answered yet, and what waits to be
    written to it."""

    __slots__ = ("sock", "srv", "inbuf", "out", "closing", "head", "continued", "writing")

    def __init__(self, sock: socket.socket, srv: EndpointServer):
        self.sock = sock
        self.srv = srv
        self.inbuf = b""
        self.out = b""
        #: close once ``out`` is written
        self.closing = False
        #: the parsed head of the request whose body is awaited: (method, version,
        #: headers, body offset, body length)
        self.head: tuple[str, str, dict[str, str], int, int] | None = None
        #: "100 Continue" was sent for the awaited request
        self.continued = False
        #: waiting to write (and not reading) until ``out`` is written
        self.writing = False


class EndpointServer:
    """One member's endpoint: its listening socket, its endpoint and its credentials.

    Binding happens here (OSError when the port is taken); :class:`DevnetServer` serves.
    """

    def __init__(self, port: int, endpoint: Endpoint, password: str, host: str = "127.0.0.1"):
        self.endpoint = endpoint
        self.expected_auth = f"{endpoint.name}:{password}".encode()
        #: the last Authorization header value found good (compared as a whole next time)
        self.accepted_header = b"\x00"  # no header value is a NUL
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(64)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        self.socket = sock
        self.server_address = sock.getsockname()

    def server_close(self) -> None:
        """Stop listening."""
        self.socket.close()

    # -- one request ----------------------------------------------------------------------
    def _authorized(self, value: str) -> bool:
        raw = value.encode("iso-8859-1")
        if hmac.compare_digest(raw, self.accepted_header):  # as on the last good call
            return True
        if not value.startswith("Basic "):
            return False
        try:
            given = base64.b64decode(value[6:], validate=True)
        except ValueError:
            return False
        if not hmac.compare_digest(given, self.expected_auth):
            return False
        self.accepted_header = raw
        return True

    def post(self, headers: dict[str, str], body: bytes) -> bytes:
        """The answer to a JSON-RPC ``POST`` with these headers and body."""
        if not self._authorized(headers.get("authorization", "")):
            return _answer(401, b"", 'WWW-Authenticate: Basic realm="jsonrpc"\r\n')
        try:
            request = json.loads(body.decode())
        except ValueError:  # UnicodeDecodeError included
            return _reply(500, _error(None, RPC_PARSE_ERROR, "Parse error"))
        if isinstance(request, list):
            return _reply(200, [self._one(r)[1] for r in request])
        return _reply(*self._one(request))

    def _one(self, request: Any) -> tuple[int, dict[str, Any]]:
        if not isinstance(request, dict):
            return 400, _error(None, RPC_INVALID_REQUEST, "Invalid Request object")
        rid = request.get("id")
        name = request.get("method")
        if not isinstance(name, str):
            return 400, _error(rid, RPC_INVALID_REQUEST, "Method must be a string")
        try:
            result = dispatch(self.endpoint, name, request.get("params"))
        except ChainError as exc:
            status = (
                404
                if exc.code == RPC_METHOD_NOT_FOUND
                else 400
                if exc.code == RPC_INVALID_REQUEST
                else 500
            )
            return status, _error(rid, exc.code, exc.message)
        except Exception:  # a bug answers 500; the server goes on
            log.exception("%s: %s failed", self.endpoint.name, name)
            return 500, _error(rid, -1, f"internal error in {name}")
        return 200, {"result": result, "error": None, "id": rid}


def _reply(status: int, reply: Any) -> bytes:
    body = json.dumps(reply).encode() + b"\n"
    return _ok(body) if status == 200 else _answer(status, body)


def _error(rid: Any, code: int, message: str) -> dict[str, Any]:
    return {"result": None, "error": {"code": code, "message": message}, "id": rid}


#: a well-formed header line: a name (not starting or ending with white space) and a value
_HEADER_LINE = re.compile(r"^([^ \t:\n](?:[^:\n]*[^ \t\r\x0b\x0c:\n])?):([^\n]*)$", re.M)


def _parse_head(head: bytes) -> tuple[str, str, dict[str, str]]:
    """Method, version and headers (by lower-case name; the first of repeated headers
    counts) of a request's head; _Refused when malformed."""
    text = head.decode("iso-8859-1")
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    request_line, _, rest = text.partition("\n")
    if len(request_line) > MAX_HEADER_LINE:
        raise _Refused(414, "Request-URI Too Long")
    parts = request_line.split()
    if len(parts) != 3:
        raise _Refused(400, "Bad request syntax")
    method, _, version = parts
    if version != "HTTP/1.1" and version != "HTTP/1.0":
        if version.startswith("HTTP/") and version[5:6].isdigit() and version[5:6] != "0":
            raise _Refused(505, "Invalid HTTP version")
        raise _Refused(400, "Bad request version")
    headers: dict[str, str] = {}
    if not rest:
        return method, version, headers
    lines = rest.count("\n") + 1
    pairs = _HEADER_LINE.findall(rest)
    if len(pairs) != lines or lines > MAX_HEADERS or len(rest) > MAX_HEADER_LINE:
        pairs = _checked_pairs(rest.split("\n"))  # each line on its own
    for name, value in pairs:
        name = name.lower()
        if name not in headers:
            headers[name] = value.strip()
    return method, version, headers


def _checked_pairs(lines: list[str]) -> list[tuple[str, str]]:
    """The (name, value) of each header line; _Refused for the first limit or rule they
    break."""
    if len(lines) > MAX_HEADERS:
        raise _Refused(431, "Too many headers")
    pairs = []
    for line in lines:
        if len(line) > MAX_HEADER_LINE:
            raise _Refused(431, "Line too long")
        name, sep, value = line.partition(":")
        if not sep or not name or name[0] in " \t" or name != name.rstrip():
            raise _Refused(400, "Bad header line")
        pairs.append((name, value))
    return pairs


def _check_partial_head(data: bytes) -> None:
    """A head still arriving: _Refused once it breaks a limit it can no longer meet."""
    last = data.rfind(b"\n") + 1
    if len(data) - last > MAX_HEADER_LINE + 2:
        raise _Refused(414 if last == 0 else 431, "Line too long")
    if data.count(b"\n") > MAX_HEADERS + 1:
        raise _Refused(431, "Too many headers")


class DevnetServer:
    """All the endpoints of one devnet, served from one background thread.

    :meth:`stop` stops serving and hangs up the open (kept-alive) connections, then
    stores the mempool and closes the chain's database.
    """

    def __init__(self, servers: list[EndpointServer], chain: Chain):
        self.servers = servers
        self.chain = chain
        self.stopped = False
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._conns: dict[int, _Conn] = {}
        self._buffer = bytearray(_RECV)
        self._view = memoryview(self._buffer)
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        sel = self._selector
        sel.register(self._wake_r, selectors.EVENT_READ, None)
        for srv in self.servers:
            sel.register(srv.socket, selectors.EVENT_READ, srv)
        self._thread = threading.Thread(target=self._serve, name="devnet-rpc", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.stopped = True
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        if self._thread is not None:
            self._thread.join(timeout=10)
        for conn in list(self._conns.values()):
            self._close(conn)
        for srv in self.servers:
            srv.server_close()
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()
        self.chain.save_mempool()
        self.chain.store.close()

    # -- the serving thread ---------------------------------------------------------------
    def _serve(self) -> None:
        select = self._selector.select
        while not self.stopped:
            for key, mask in select():
                if self.stopped:
                    break
                data = key.data
                if data is None:  # woken by stop()
                    continue
                if isinstance(data, EndpointServer):
                    self._accept(data)
                    continue
                if data.sock.fileno() < 0:  # closed by an earlier event of this round
                    continue
                try:
                    if mask & selectors.EVENT_WRITE:
                        self._flush(data)
                    elif mask & selectors.EVENT_READ:
                        self._read(data)
                except Exception:  # a bug costs this connection, never the server
                    log.exception("%s: connection failed", data.srv.endpoint.name)
                    self._close(data)

    def _accept(self, srv: EndpointServer) -> None:
        while True:
            try:
                sock, _ = srv.socket.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # out of file descriptors, a reset before accept...
                log.warning("%s: cannot accept a connection (%s)", srv.endpoint.name, exc)
                return
            sock.setblocking(False)
            # each answer goes out in one write; never wait for an ACK to send it
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = _Conn(sock, srv)
            self._conns[sock.fileno()] = conn
            self._selector.register(sock, selectors.EVENT_READ, conn)

    def _close(self, conn: _Conn) -> None:
        fd = conn.sock.fileno()
        if fd < 0:
            return
        self._conns.pop(fd, None)
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(conn.sock)
        with contextlib.suppress(OSError):
            conn.sock.shutdown(socket.SHUT_RDWR)
        conn.sock.close()

    def _read(self, conn: _Conn) -> None:
        try:
            n = conn.sock.recv_into(self._buffer)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(conn)
            return
        if not n:
            self._close(conn)
            return
        conn.inbuf += self._view[:n]
        self._answer_requests(conn)

    def _answer_requests(self, conn: _Conn) -> None:
        """Answer every whole request received (in order), then write the answers."""
        while not conn.closing:
            try:
                answer = self._next_answer(conn)
            except _Refused as exc:
                log.debug("%s: refused a request: %d %s", conn.srv.endpoint.name, exc.status, exc.message)
                conn.out += _error_answer(exc.status, exc.message)
                conn.closing = True
                conn.inbuf = b""
                break
            if answer is None:
                break
            conn.out += answer
        self._flush(conn)

    def _next_answer(self, conn: _Conn) -> bytes | None:
        """The answer to the next whole request, None until one is whole."""
        if conn.head is None:
            buf = conn.inbuf.lstrip(b"\r\n")  # blank lines before a request are skipped
            if len(buf) != len(conn.inbuf):
                conn.inbuf = buf
            if not buf:
                return None
            found = _HEAD_END.search(buf)
            if found is None:
                _check_partial_head(buf)
                return None
            method, version, headers = _parse_head(buf[: found.start()])
            try:
                length = int(headers.get("content-length") or 0)
            except ValueError:
                raise _Refused(400, "Bad Content-Length") from None
            if length < 0:
                raise _Refused(400, "Bad Content-Length")
            conn.head = (method, version, headers, found.end(), length)
            conn.continued = False
        method, version, headers, start, length = conn.head
        if length > MAX_BODY:
            conn.head = None
            conn.closing = True
            conn.inbuf = b""
            return _answer(413, b"")
        if len(conn.inbuf) < start + length:
            if (
                not conn.continued
                and version == "HTTP/1.1"
                and headers.get("expect", "").lower() == "100-continue"
            ):
                conn.continued = True
                return b"HTTP/1.1 100 Continue\r\n\r\n"
            return None
        body = conn.inbuf[start : start + length]
        conn.inbuf = conn.inbuf[start + length :]
        conn.head = None
        connection = headers.get("connection", "").lower()
        if version == "HTTP/1.0":
            conn.closing = connection != "keep-alive"
        elif connection == "close":
            conn.closing = True
        srv = conn.srv
        if method == "POST":
            answer = srv.post(headers, body)
        elif method == "GET":
            answer = _answer(405, b"JSON-RPC server handles only POST requests")
        else:
            raise _Refused(501, f"Unsupported method ({method!r})")
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s: %s %s", srv.endpoint.name, method, answer[9:12].decode())
        return answer

    def _flush(self, conn: _Conn) -> None:
        """Write what waits for ``conn``; wait to write the rest, if any, reading nothing
        meanwhile (a client that does not read its answers holds at most one)."""
        if conn.out:
            try:
                sent = conn.sock.send(conn.out)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                self._close(conn)
                return
            conn.out = conn.out[sent:]
        if conn.out:
            if not conn.writing:
                conn.writing = True
                self._selector.modify(conn.sock, selectors.EVENT_WRITE, conn)
            return
        if conn.closing:
            self._close(conn)
            return
        if conn.writing:
            conn.writing = False
            self._selector.modify(conn.sock, selectors.EVENT_READ, conn)
            if conn.inbuf:  # requests that came while the answer was being written
                self._answer_requests(conn)
