"""A JSON-RPC client for an Ocean node (bitcoind-style HTTP POST, basic auth or cookie).

Each thread keeps its own keep-alive connection. ``timeout`` is a deadline on the whole
call (connecting, sending, every byte of the answer, and any retries): a node that answers
one byte at a time cannot hold a thread longer than that. A call is retried, with a short
backoff with jitter, only when it cannot have reached the node (the connection was refused
or could not be set up), or when it may have reached the node but the method is read-only
(:data:`READ_ONLY`): a ``submitblock`` is never sent twice. Errors are
:class:`~oceanfed.errors.RPCError` with one line that names the node's URL or the method;
the password never appears in them.

Answers are read by a small exact reader of what a JSON-RPC server sends over HTTP/1.1
(status line, ``Content-Length``, body), not by http.client, whose header parsing through
the email package cost several times the rest of a call. Anything else it cannot read
(a chunked body, headers over :data:`MAX_HEAD`) is a failed call with one line saying so.
"""

from __future__ import annotations

import base64
import itertools
import json
import logging
import os
import random
import select
import socket
import ssl
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

from pydantic_core import from_json, to_json

from oceanfed.errors import ConfigError, RPCError
from oceanfed.keyfile import allows_group_readable, read_secret_file, resolve_path

log = logging.getLogger("oceanfed.rpc")

#: Methods that change nothing on the node, so re-sending one is harmless. ``signblock``
#: is deterministic (RFC 6979) and ``combineblocksigs`` a pure function of its inputs.
READ_ONLY = frozenset(
    {
        "getblockcount", "getblockhash", "getblockheader", "getblock", "getbestblockhash",
        "getblockchaininfo", "getchaintips", "getnewblockhex", "testproposedblock", "signblock",
        "combineblocksigs", "getrawmempool", "getrawtransaction", "decoderawtransaction",
        "decodescript", "validateaddress", "getutxoassetinfo", "getfreezehistory",
        "listunspent", "listissuances", "getbalance", "getnetworkinfo", "uptime", "help",
    }
)  # fmt: skip

#: Seconds to wait before each retry (each drawn between half and all of it: jitter).
BACKOFF = (0.05, 0.2, 0.5, 1.0)
#: Most bytes of an answer's status line and headers together (bitcoind sends about 150).
MAX_HEAD = 64 * 1024
#: Default of the largest answer body read from the node (``node.max_answer_bytes``): a
#: block of Ocean's largest size is 8 MB as hex. A larger answer ends the call as one line.
MAX_ANSWER = 128 * 2**20
#: Most idle kept-alive connections the loop keeps for its own calls (see NodeClient.begin).
LOOP_CONNECTIONS = 4
#: Most bytes asked of the socket at once while reading an answer's body.
_RECV = 256 * 1024
#: A request's JSON around its id, method and params (each already JSON)
_BODY = b'{"jsonrpc": "1.0", "id": %d, "method": %s, "params": %s}'


class _NotSent(Exception):
    """The request never left this process (connect failed)."""


class _BadAnswer(Exception):
    """The node's answer is not an HTTP/1.x answer this client reads."""


class _DeadlineSocket:
    """A kept-alive connection to the node whose every send and receive ends by
    ``deadline`` (monotonic), with an exact reader of one HTTP/1.x answer.

    It reads the status line, ``Content-Length`` (or a body closed by the end of the
    connection) and the body, and nothing more: what a JSON-RPC server sends. A chunked
    body, headers over :data:`MAX_HEAD` or anything that is not HTTP/1.x is
    :class:`_BadAnswer`, with one line saying what came.
    """

    __slots__ = ("sock", "deadline", "head", "_poll")

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.deadline = float("inf")
        #: bytes of the answer already received (by a loop call), read before the socket
        self.head = b""
        #: a poll set holding only this socket (for :meth:`stale`), made when first needed
        self._poll: select.poll | None = None

    def _arm(self) -> None:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("deadline passed")
        self.sock.settimeout(left)

    def sendall(self, data: bytes) -> None:
        self._arm()
        self.sock.sendall(data)

    def recv(self, size: int) -> bytes:
        if self.head:
            data, self.head = self.head[:size], self.head[size:]
            return data
        self._arm()
        return self.sock.recv(size)

    def stale(self) -> bool:
        """Whether the idle connection is unusable: the node closed it (EOF reads as ready)
        or sent something unasked (a closed socket, too: it polls as invalid)."""
        poll = self._poll
        if poll is None:
            try:
                poll = self._poll = select.poll()
                poll.register(self.sock, select.POLLIN)
            except (OSError, ValueError):
                return True
        try:
            return bool(poll.poll(0))
        except OSError:
            return True

    def read_answer(self, limit: int = MAX_ANSWER) -> tuple[int, bytes, bool]:
        """The next answer: its HTTP status, its body, and whether the connection must be
        closed after it (the node said so, or the body ran to the end of the connection).
        A body over ``limit`` bytes is :class:`_BadAnswer`, read no further."""
        buf = b""
        while True:
            end = buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            if len(buf) > MAX_HEAD:
                raise _BadAnswer(f"answer headers over {MAX_HEAD} bytes")
            chunk = self.recv(65536)
            if not chunk:
                raise ConnectionResetError(
                    "the node closed the connection " + ("mid-answer" if buf else "without answering")
                )
            buf += chunk
        if end > MAX_HEAD:
            raise _BadAnswer(f"answer headers over {MAX_HEAD} bytes")
        lines = buf[:end].decode("latin-1").split("\r\n")
        status, close = _status_line(lines[0])
        length = None
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise _BadAnswer(f"bad header line {line[:40]!r}")
            name = name.strip().lower()
            if name == "content-length":
                value = value.strip()
                if not (value.isascii() and value.isdigit()) or (
                    length is not None and int(value) != length
                ):
                    raise _BadAnswer(f"bad Content-Length {value[:40]!r}")
                length = int(value)
                if length > limit:
                    raise _BadAnswer(
                        f"an answer of {length} bytes, over node.max_answer_bytes ({limit})"
                    )
            elif name == "transfer-encoding" and value.strip().lower() != "identity":
                raise _BadAnswer(
                    f"Transfer-Encoding {value.strip()[:40]!r}: expected a body with Content-Length"
                )
            elif name == "connection":
                tokens = {t.strip().lower() for t in value.split(",")}
                if "close" in tokens:
                    close = True
                elif "keep-alive" in tokens:
                    close = False
        body = buf[end + 4 :]
        if length is None:  # the body runs to the end of the connection
            parts, got = [body], len(body)
            while chunk := self.recv(_RECV):
                parts.append(chunk)
                got += len(chunk)
                if got > limit:
                    raise _BadAnswer(f"an answer over node.max_answer_bytes ({limit} bytes)")
            return status, b"".join(parts), True
        if len(body) < length:
            parts, got = [body], len(body)
            while got < length:
                chunk = self.recv(min(length - got, _RECV))
                if not chunk:
                    raise ConnectionResetError(
                        f"the node closed the connection after {got} of {length} body bytes"
                    )
                parts.append(chunk)
                got += len(chunk)
            body = b"".join(parts)
        elif len(body) > length:  # more than the answer: the connection is not reused
            body, close = body[:length], True
        return status, body, close

    def close(self) -> None:
        self.sock.close()


def _status_line(line: str) -> tuple[int, bool]:
    """The status of ``HTTP/1.x NNN reason``, and whether HTTP/1.0 closes by default."""
    parts = line.split(" ", 2)
    if (
        len(parts) < 2 or parts[0] not in ("HTTP/1.1", "HTTP/1.0")
        or len(parts[1]) != 3 or not (parts[1].isascii() and parts[1].isdigit())
        or parts[1][0] == "1"
    ):
        raise _BadAnswer(f"not an HTTP/1.x answer: {line[:40]!r}")
    return int(parts[1]), parts[0] == "HTTP/1.0"


class NodeClient:
    """Calls JSON-RPC methods on one node.

    ``url`` is ``http://host:port/``; give ``user`` and ``password``, or a bitcoind
    ``cookie_file`` (``user:password``, re-read on each new connection). ``cookie_file`` may
    be the node's datadir: the cookie is then ``<datadir>/<chain>/.cookie``, else
    ``<datadir>/.cookie``, looked up on every read (the node rewrites it when it restarts).
    """

    def __init__(
        self,
        url: str,
        user: str | None = None,
        password: str | None = None,
        cookie_file: str | os.PathLike[str] | None = None,
        timeout: float = 10.0,
        retries: int = 2,
        chain: str | None = None,
        max_answer: int = MAX_ANSWER,
    ):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise RPCError(f"node url {url!r}: expected http://host:port/")
        if parts.username and user is None:
            user = urllib.parse.unquote(parts.username)
            password = urllib.parse.unquote(parts.password or "")
        netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
        self.url = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path or "/", "", ""))
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._path = parts.path or "/"
        self.user = user
        self.__password = password
        self.cookie_file = Path(cookie_file) if cookie_file else None
        self.chain = chain
        self.timeout = timeout
        self.retries = retries
        #: the largest answer body read (``node.max_answer_bytes``)
        self.max_answer = max_answer
        self._ids = itertools.count(1)
        self._local = threading.local()
        self._static_auth: bytes | None = None
        self._tls_context: ssl.SSLContext | None = None
        #: the loop thread's idle kept-alive connections (see :meth:`begin`), lent by threads
        self._loop_conns: list[_DeadlineSocket] = []
        self._loop_wants = False
        self._loop_lock = threading.Lock()
        host = f"[{self._host}]" if ":" in self._host else self._host
        if parts.port and parts.port != (443 if self._https else 80):
            host += f":{parts.port}"
        #: the request line and the headers every call sends (Authorization apart)
        self._head = (
            f"POST {self._path} HTTP/1.1\r\nHost: {host}\r\nAccept-Encoding: identity\r\n"
            "Content-Type: application/json\r\n"
        ).encode("latin-1")

    def __repr__(self) -> str:
        return f"NodeClient(url={self.url!r}, user={self.user!r})"

    # -- auth -------------------------------------------------------------------------
    def cookie_path(self) -> Path | None:
        """The cookie file to read now: ``cookie_file``, or the ``.cookie`` for the chain
        when ``cookie_file`` is the node's datadir (Bitcoin/Elements layout)."""
        given = self.cookie_file
        if given is None or not given.is_dir():
            return given
        candidates = ([given / self.chain / ".cookie"] if self.chain else []) + [given / ".cookie"]
        for candidate in candidates:
            if candidate.exists():
                return candidate
        raise RPCError(
            f"node.cookie_file: no .cookie in the node's datadir {given} (looked for "
            f"{' and '.join(str(c) for c in candidates)}); is the node running with cookie auth?"
        )

    def _credentials(self) -> tuple[str | None, str | None]:
        cookie = self.cookie_path()
        if cookie is None:
            return self.user, self.__password
        try:
            text = cookie.read_text().strip()
        except OSError as exc:
            raise RPCError(f"cannot read RPC cookie file {cookie} ({exc.strerror})") from None
        except UnicodeDecodeError:
            raise RPCError(f"RPC cookie file {cookie}: not text") from None
        user, sep, password = text.partition(":")
        if not sep:
            raise RPCError(f"RPC cookie file {cookie}: expected user:password")
        self.user = user
        return user, password

    def _auth_header(self) -> bytes:
        """The ``Authorization`` header line of a request (empty without a user)."""
        if self.cookie_file is None and self._static_auth is not None:
            return self._static_auth  # user and password never change; a cookie may
        user, password = self._credentials()
        if user is None:
            header = b""
        else:
            token = base64.b64encode(f"{user}:{password or ''}".encode())
            header = b"Authorization: Basic " + token + b"\r\n"
        if self.cookie_file is None:
            self._static_auth = header
        return header

    # -- connection -------------------------------------------------------------------
    def _connection(self, deadline: float) -> _DeadlineSocket:
        conn: _DeadlineSocket | None = getattr(self._local, "conn", None)
        if conn is not None and conn.stale():
            self._drop()
            conn = None
        if conn is None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise _NotSent(self._late())
            try:
                sock = socket.create_connection((self._host, self._port), timeout=left)
            except OSError as exc:
                raise _NotSent(_reason(exc)) from None
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if self._https:
                    sock = self._tls().wrap_socket(sock, server_hostname=self._host)
            except OSError as exc:  # ssl.SSLError too: nothing of the request left yet
                sock.close()
                raise _NotSent(_reason(exc)) from None
            conn = self._local.conn = _DeadlineSocket(sock)
        conn.deadline = deadline
        return conn

    def _tls(self) -> ssl.SSLContext:
        """The TLS context of ``https`` URLs (as http.client's: the system's trusted CAs,
        ``SSL_CERT_FILE``/``SSL_CERT_DIR``, host name checked), made once."""
        if self._tls_context is None:
            context = ssl.create_default_context()
            context.set_alpn_protocols(["http/1.1"])
            self._tls_context = context
        return self._tls_context

    def _late(self) -> str:
        return f"no complete answer within node.timeout = {self.timeout:g}s"

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
        self._local.conn = None

    # -- calls ------------------------------------------------------------------------
    def call(self, method: str, *params: Any) -> Any:
        """Call ``method`` and return its ``result``; raise RPCError on any failure."""
        body = self._body(method, params)
        return self._attempts(method, body, time.monotonic() + self.timeout, 0, None)

    def _body(self, method: str, params: tuple[Any, ...] | list[Any]) -> bytes:
        """The request's JSON, laid out as ``json.dumps`` lays it out, its method and
        params encoded by pydantic-core (about four times faster than the standard
        library's encoder; what that refuses gets the standard library's)."""
        call_id = next(self._ids)
        try:
            return _BODY % (call_id, to_json(method), to_json(list(params)))
        except (ValueError, TypeError):
            return json.dumps(
                {"jsonrpc": "1.0", "id": call_id, "method": method, "params": list(params)}
            ).encode()

    def _attempts(
        self, method: str, body: bytes, deadline: float, attempt: int,
        failed: tuple[str, bool] | None,
    ) -> Any:
        """Attempts from ``attempt`` on, until one answers or the retry rules give up;
        ``failed`` (reason, sent) is how the attempt before ``attempt`` failed, if it did."""
        while True:
            if failed is None:
                try:
                    return self._once(method, body, deadline)
                except _NotSent as exc:
                    failed = (str(exc), False)
                except (OSError, _BadAnswer) as exc:
                    self._drop()
                    late = isinstance(exc, TimeoutError) and time.monotonic() >= deadline
                    failed = ((self._late() if late else _reason(exc)), True)
            reason, sent = failed
            pause = BACKOFF[min(attempt, len(BACKOFF) - 1)] * random.uniform(0.5, 1.0)
            if (
                attempt >= self.retries
                or (sent and method not in READ_ONLY)
                or time.monotonic() + pause >= deadline
            ):
                what = "lost connection to" if sent else "cannot reach"
                raise RPCError(
                    f"{what} node at {self.url} during {method} ({reason})", None, method
                )
            log.debug("rpc %s to %s failed (%s); retrying", method, self.url, reason)
            time.sleep(pause)
            attempt += 1
            failed = None

    def _once(self, method: str, body: bytes, deadline: float) -> Any:
        auth = self._auth_header()
        conn = self._connection(deadline)
        # the request line, headers and body in one send (one packet for the node to wake to)
        conn.sendall(self._request(auth, body))
        status, data, close = conn.read_answer(self.max_answer)
        if close:
            self._drop()
        self._lend()
        return self._result(method, status, data)

    def _request(self, auth: bytes, body: bytes) -> bytes:
        return b"%s%sContent-Length: %d\r\n\r\n%s" % (self._head, auth, len(body), body)

    def _result(self, method: str, status: int, data: bytes) -> Any:
        """The ``result`` of an answer, or RPCError (HTTP 401, no JSON, a node error)."""
        if status == 401:
            raise RPCError(
                f"wrong RPC credentials for node at {self.url} (user {self.user})", 401, method
            )
        try:
            reply = _loads(data)
        except ValueError:
            raise RPCError(
                f"node at {self.url} answered {method} with HTTP {status} and no JSON",
                None,
                method,
            ) from None
        if not isinstance(reply, dict):
            raise RPCError(
                f"node at {self.url} answered {method} with a malformed reply", None, method
            )
        error = reply.get("error")
        if error:
            code = error.get("code") if isinstance(error, dict) else None
            message = error.get("message") if isinstance(error, dict) else str(error)
            first = str(message).splitlines()[0] if message else "error"
            raise RPCError(f"{method}: {first} (code {code})", code, method)
        return reply.get("result")

    # -- calls without a thread (see LoopCall) ----------------------------------------
    def _lend(self) -> None:
        """After a call on a thread: give its kept-alive connection to the loop, if the
        loop asked for one (the loop never connects itself: connecting may block)."""
        if self._loop_wants:
            conn = getattr(self._local, "conn", None)
            if conn is not None:
                with self._loop_lock:
                    if self._loop_wants:
                        # the loop never blocks on it: non-blocking for as long as it keeps it
                        conn.sock.setblocking(False)
                        self._loop_conns.append(conn)
                        self._local.conn = None
                        self._loop_wants = False

    def begin(self, method: str, *params: Any) -> LoopCall | None:
        """Start ``method`` without blocking, on the loop's kept-alive connection, and
        return it as a :class:`LoopCall`; None, with nothing sent, when there is no such
        connection (plain HTTP only; a connection is lent by a threaded call) or it is
        stale. The caller then makes the call with :meth:`call` on a thread."""
        if not self._loop_conns or self._https:
            self._loop_wants = not self._https
            return None
        with self._loop_lock:
            conn = self._loop_conns.pop()  # the call owns it; given back when it ends cleanly
        if conn.stale():
            conn.close()
            self._loop_wants = True
            return None
        body = self._body(method, params)
        try:
            request = self._request(self._auth_header(), body)
        except RPCError:  # a cookie that cannot be read: the threaded call says so
            self.give_back(conn)
            return None
        deadline = time.monotonic() + self.timeout
        try:  # the loop's connections are non-blocking (see _lend)
            sent = conn.sock.send(request)
        except BlockingIOError:
            sent = 0
        except OSError:
            conn.close()  # nothing left: the threaded call sends it on a new connection
            self._loop_wants = True
            return None
        return LoopCall(self, method, body, deadline, conn, request[sent:])

    def resume(self, call: LoopCall) -> Any:
        """Finish a :class:`LoopCall` that failed, on a thread: its retries as
        :meth:`call` makes them, within the same deadline."""
        assert call.failure is not None
        return self._attempts(call.method, call.body, call.deadline, 0, call.failure)

    def give_back(self, conn: _DeadlineSocket) -> None:
        """A loop call's connection, idle again (and still non-blocking): kept for the
        loop's next call."""
        with self._loop_lock:
            if len(self._loop_conns) < LOOP_CONNECTIONS:
                self._loop_conns.append(conn)
                return
        conn.close()

    def close(self) -> None:
        """Close this thread's connection (and the loop's)."""
        self._drop()
        with self._loop_lock:
            conns, self._loop_conns = self._loop_conns, []
        for conn in conns:
            conn.close()


class _NeedMore(Exception):
    """The answer is not complete yet."""


class _Received:
    """What a loop call has received, read by :meth:`_DeadlineSocket.read_answer` as if
    it were the socket: the same exact reader, which asks for more than there is
    (:class:`_NeedMore`) until the answer is whole."""

    __slots__ = ("data", "eof")

    def __init__(self) -> None:
        self.data = b""
        self.eof = False

    def recv(self, size: int) -> bytes:
        if self.data:
            data, self.data = self.data[:size], self.data[size:]
            return data
        if self.eof:
            return b""
        raise _NeedMore


class LoopCall:
    """A node call in flight on the loop's thread: the request is written and the answer
    read without blocking, each time :attr:`fd` is ready (the loop waits on it with its
    other fds) or :attr:`deadline` passes. :meth:`progress` returns True once it has
    ended: then :attr:`failure` is None and :meth:`result` gives the answer, or the call
    failed and :meth:`NodeClient.resume` applies the retry rules on a thread."""

    def __init__(
        self, client: NodeClient, method: str, body: bytes, deadline: float,
        conn: _DeadlineSocket, out: bytes,
    ):
        self.client = client
        self.method = method
        self.body = body
        self.deadline = deadline
        self.conn: _DeadlineSocket | None = conn
        self.fd = conn.sock.fileno()
        self._out = out
        self._got = b""
        self._eof = False
        #: (reason, sent) once the call failed
        self.failure: tuple[str, bool] | None = None
        self._answer: tuple[int, bytes] | None = None

    @property
    def writing(self) -> bool:
        """Whether part of the request still waits to be written (wait to write)."""
        return bool(self._out)

    def progress(self) -> bool:
        """Write and read what the socket takes and has; True once the call has ended."""
        conn = self.conn
        if conn is None:
            return True
        try:
            if self._out:
                try:
                    sent = conn.sock.send(self._out)
                except BlockingIOError:
                    sent = 0
                self._out = self._out[sent:]
            while not self._out and not self._eof:
                try:
                    chunk = conn.sock.recv(_RECV)
                except BlockingIOError:
                    break
                if not chunk:
                    self._eof = True
                self._got += chunk
                # read as soon as something came: a whole answer needs no further recv
                source = _Received()
                source.data, source.eof = self._got, self._eof
                try:
                    status, data, close = _DeadlineSocket.read_answer(
                        source, self.client.max_answer  # type: ignore[arg-type]
                    )
                except _NeedMore:
                    continue
                self._answer = (status, data)
                self.conn = None
                if close or source.data:  # more than the answer: not reused
                    conn.close()
                else:
                    self.client.give_back(conn)
                return True
        except (OSError, _BadAnswer) as exc:
            return self._fail(_reason(exc))
        if time.monotonic() >= self.deadline:
            return self._fail(self.client._late())
        return False

    def _fail(self, reason: str) -> bool:
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.close()
        self.failure = (reason, True)
        return True

    def result(self) -> Any:
        """The call's ``result`` (RPCError as :meth:`NodeClient.call` raises it)."""
        assert self._answer is not None
        return self.client._result(self.method, *self._answer)

    def cancel(self) -> None:
        """Close the call's connection (the loop stops)."""
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.close()


def _loads(data: bytes) -> Any:
    """JSON as ``json.loads`` reads it, by pydantic-core's parser (a third of the time);
    what that refuses (e.g. a lone surrogate escape) the standard library reads or refuses."""
    try:
        return from_json(data)
    except ValueError:
        return json.loads(data)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return type(exc).__name__ if not str(exc) else str(exc)


def from_config(
    node: Any, base_dir: str | os.PathLike[str] = ".", chain: str | None = None
) -> NodeClient:
    """A NodeClient for a ``[node]`` table (:class:`oceanfed.config.Node`).

    Relative paths resolve against ``base_dir``. ``password_file`` is read under the rules
    of :func:`oceanfed.keyfile.read_secret_file`; ``chain`` (``federation.chain``) picks
    the cookie when ``cookie_file`` is the node's datadir.
    """

    def resolve(value: str) -> Path:
        return resolve_path(base_dir, value)

    password: str | None = None
    cookie: Path | None = None
    if node.password_file:
        password = read_secret_file(
            resolve(node.password_file), "RPC password",
            allow_group_readable=allows_group_readable(node.password_file),
        )
        if not password:
            raise ConfigError(f"{resolve(node.password_file)}: RPC password file is empty")
    elif node.password_env:
        password = os.environ.get(node.password_env)
        if password is None:
            raise ConfigError(
                f"node.password_env: environment variable {node.password_env} is not set"
            )
    elif node.cookie_file:
        cookie = resolve(node.cookie_file)
    return NodeClient(
        node.url,
        user=node.user,
        password=password,
        cookie_file=cookie,
        timeout=node.timeout,
        retries=node.retries,
        chain=chain,
        max_answer=node.max_answer_bytes,
    )
