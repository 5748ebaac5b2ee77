"""A JSON-RPC client for an Ocean node (bitcoind-style HTTP POST, basic auth or cookie).

Each thread keeps its own keep-alive connection. ``timeout`` is a deadline on the whole
call (connecting, sending, every byte of the answer, and any retries): a node that answers
one byte at a time cannot hold a thread longer than that. A call is retried, with a short
backoff with jitter, only when it cannot have reached the node (the connection was refused
or could not be set up), or when it may have reached the node but the method is read-only
(:data:`READ_ONLY`): a ``submitblock`` is never sent twice. Errors are
:class:`~oceanfed.errors.RPCError` with one line that names the node's URL or the method;
the password never appears in them.
"""

from __future__ import annotations

import base64
import http.client
import io
import itertools
import json
import logging
import os
import random
import select
import socket
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

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


class _NotSent(Exception):
    """The request never left this process (connect failed)."""


class _DeadlineSocket:
    """A connected socket whose every send and receive ends by ``deadline`` (monotonic).

    http.client reads an answer through many ``recv`` calls, each with the socket's own
    timeout; here each one gets only what is left of the call's deadline instead.
    """

    def __init__(self, sock: socket.socket):
        self._sock = sock
        self.deadline = float("inf")
        self._readers = 0  # open makefile() readers: the socket closes after the last one
        self._closed = False
        self._held: list[bytes] | None = None  # sends kept back by hold(), until flush()

    def _arm(self) -> None:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("deadline passed")
        self._sock.settimeout(left)

    def sendall(self, data: bytes) -> None:
        if self._held is not None:
            self._held.append(bytes(data))
            return
        self._arm()
        self._sock.sendall(data)

    def hold(self) -> None:
        """Keep what is sent from now on, to go out in one send at :meth:`flush`
        (http.client sends a request's headers and its body apart: two packets)."""
        self._held = []

    def flush(self) -> None:
        held, self._held = self._held, None
        if held:
            self.sendall(b"".join(held))

    def recv_into(self, buffer: Any, nbytes: int = 0) -> int:
        self._arm()
        return self._sock.recv_into(buffer, nbytes)  # 0: the whole buffer (TLS too)

    def makefile(self, mode: str = "rb", *args: Any, **kwargs: Any) -> io.BufferedReader:
        self._readers += 1
        return io.BufferedReader(_DeadlineReader(self))

    def release(self) -> None:
        self._readers -= 1
        if self._closed and self._readers <= 0:
            self._sock.close()

    def fileno(self) -> int:
        return self._sock.fileno()

    def setsockopt(self, *args: Any) -> None:
        self._sock.setsockopt(*args)

    def close(self) -> None:
        # as socket.close() does: an answer still being read keeps the connection open
        self._closed = True
        if self._readers <= 0:
            self._sock.close()


class _DeadlineReader(io.RawIOBase):
    def __init__(self, sock: _DeadlineSocket):
        self._dsock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return self._dsock.recv_into(buffer)

    def close(self) -> None:
        if not self.closed:
            self._dsock.release()
        super().close()


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
        self._ids = itertools.count(1)
        self._local = threading.local()
        self._static_auth: dict[str, str] | None = None

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

    def _auth_header(self) -> dict[str, str]:
        if self.cookie_file is None and self._static_auth is not None:
            return self._static_auth  # user and password never change; a cookie may
        user, password = self._credentials()
        if user is None:
            header = {}
        else:
            token = base64.b64encode(f"{user}:{password or ''}".encode()).decode()
            header = {"Authorization": f"Basic {token}"}
        if self.cookie_file is None:
            self._static_auth = header
        return header

    # -- connection -------------------------------------------------------------------
    def _connection(self, deadline: float) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is not None and conn.sock is not None:
            # An idle keep-alive socket the server has closed reads as ready (EOF).
            try:
                readable, _, _ = select.select([conn.sock], [], [], 0)
            except (OSError, ValueError):
                readable = [conn.sock]
            if readable:
                conn.close()
                conn = None
        if conn is None or conn.sock is None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise _NotSent(self._late())
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            conn = cls(self._host, self._port, timeout=left)
            conn.auto_open = 0  # never reconnect behind our back, without the deadline
            try:
                conn.connect()
            except OSError as exc:
                conn.close()
                self._local.conn = None
                raise _NotSent(_reason(exc)) from None
            sock = conn.sock
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                conn.sock = _DeadlineSocket(sock)
            self._local.conn = conn
        if isinstance(conn.sock, _DeadlineSocket):
            conn.sock.deadline = deadline
        return conn

    def _late(self) -> str:
        return f"no complete answer within node.timeout = {self.timeout:g}s"

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
        self._local.conn = None

    def close(self) -> None:
        """Close this thread's connection."""
        self._drop()

    # -- calls ------------------------------------------------------------------------
    def call(self, method: str, *params: Any) -> Any:
        """Call ``method`` and return its ``result``; raise RPCError on any failure."""
        body = json.dumps(
            {"jsonrpc": "1.0", "id": next(self._ids), "method": method, "params": list(params)}
        ).encode()
        deadline = time.monotonic() + self.timeout
        attempt = 0
        while True:
            try:
                return self._once(method, body, deadline)
            except _NotSent as exc:
                reason, sent = str(exc), False
            except (OSError, http.client.HTTPException) as exc:
                self._drop()
                late = isinstance(exc, TimeoutError) and time.monotonic() >= deadline
                reason, sent = (self._late() if late else _reason(exc)), True
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

    def _once(self, method: str, body: bytes, deadline: float) -> Any:
        headers = {"Content-Type": "application/json", **self._auth_header()}
        conn = self._connection(deadline)
        sock = conn.sock
        if isinstance(sock, _DeadlineSocket):
            sock.hold()
            try:
                conn.request("POST", self._path, body=body, headers=headers)
            finally:
                sock.flush()
        else:
            conn.request("POST", self._path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        if resp.getheader("Connection", "").lower() == "close":
            self._drop()
        if resp.status == 401:
            raise RPCError(
                f"wrong RPC credentials for node at {self.url} (user {self.user})", 401, method
            )
        try:
            reply = json.loads(data)
        except ValueError:
            raise RPCError(
                f"node at {self.url} answered {method} with HTTP {resp.status} and no JSON",
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
    )
