"""NodeClient against the devnet and against raw sockets: auth, errors, retries, config."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest

from oceanfed.config import load_config
from oceanfed.errors import ConfigError, RPCError
from oceanfed.rpc import NodeClient, from_config


def test_wrong_credentials_and_secret_hygiene(devnet) -> None:
    url = devnet.layout.url("m1")
    client = NodeClient(url, "m1", "not-the-password-123")
    with pytest.raises(RPCError) as info:
        client.call("getblockcount")
    assert str(info.value) == f"wrong RPC credentials for node at {url} (user m1)"
    assert "not-the-password-123" not in repr(client) + str(info.value)
    real = devnet.layout.password("m1")
    good = NodeClient(url, "m1", real)
    assert real not in repr(good) and good.call("getblockcount") == 0
    # a member's password does not open another member's endpoint
    with pytest.raises(RPCError, match="wrong RPC credentials"):
        NodeClient(devnet.layout.url("m2"), "m1", real).call("getblockcount")


def test_unreachable_node_is_one_line(devnet) -> None:
    port = devnet.layout.rpc_ports[0]
    devnet.stop()
    client = NodeClient(f"http://127.0.0.1:{port}/", "m0", "secret-pw", retries=1)
    with pytest.raises(RPCError) as info:
        client.call("getblockcount")
    msg = str(info.value)
    assert msg.startswith(f"cannot reach node at http://127.0.0.1:{port}/") and "\n" not in msg
    assert "secret-pw" not in msg


def test_keepalive_survives_server_restart(devnet) -> None:
    client = devnet.client("m0")
    assert client.call("getblockcount") == 0
    devnet.stop()
    devnet.start()
    assert client.call("getblockcount") == 0  # stale socket detected and replaced


def test_from_config_resolves_password_file(devnet) -> None:
    cfg = load_config(devnet.layout.fed_toml("m3"))
    client = from_config(cfg.node, cfg.base_dir)
    assert client.call("getblockcount") == 0 and client.user == "m3"
    pw = devnet.layout.password_file("m3")
    os.chmod(pw, 0o644)
    with pytest.raises(ConfigError) as info:
        from_config(cfg.node, cfg.base_dir)
    assert str(pw) in str(info.value) and devnet.layout.password("m2") not in str(info.value)


def test_from_config_cookie_and_env(devnet, tmp_path: Path, monkeypatch) -> None:
    cfg = load_config(devnet.layout.fed_toml("m0"))
    cookie = tmp_path / ".cookie"
    cookie.write_text(f"m0:{devnet.layout.password('m0')}")
    node = cfg.node.model_copy(
        update={"password_file": None, "cookie_file": str(cookie), "user": None}
    )
    assert from_config(node, cfg.base_dir).call("getblockcount") == 0
    node = cfg.node.model_copy(update={"password_file": None, "password_env": "OCEANFED_TEST_PW"})
    with pytest.raises(ConfigError, match="OCEANFED_TEST_PW"):
        from_config(node, cfg.base_dir)
    monkeypatch.setenv("OCEANFED_TEST_PW", devnet.layout.password("m0"))
    assert from_config(node, cfg.base_dir).call("getblockcount") == 0


class DroppingServer:
    """Accepts connections, reads one request, counts it, and closes without answering."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.requests = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                if conn.recv(65536):
                    self.requests += 1

    def close(self) -> None:
        self.sock.close()


@pytest.mark.parametrize(("method", "expected"), [("getblockcount", 3), ("submitblock", 1)])
def test_retries_only_read_only_calls(method: str, expected: int) -> None:
    server = DroppingServer()
    try:
        client = NodeClient(f"http://127.0.0.1:{server.port}/", "u", "p", retries=2, timeout=2)
        with pytest.raises(RPCError) as info:
            client.call(method, "00")
        assert server.requests == expected
        assert f"node at http://127.0.0.1:{server.port}/ during {method}" in str(info.value)
    finally:
        server.close()


def test_bad_url_is_an_error() -> None:
    with pytest.raises(RPCError, match="expected http://host:port/"):
        NodeClient("localhost:1234")


def test_cookie_file_may_be_the_node_datadir(devnet, tmp_path: Path) -> None:
    """As bitcoin-cli's -datadir: ``<datadir>/<chain>/.cookie``, else ``<datadir>/.cookie``,
    found again on every read (the node rewrites it when it restarts)."""
    cfg = load_config(devnet.layout.fed_toml("m0"), environ={})
    chain = cfg.federation.chain
    good = f"m0:{devnet.layout.password('m0')}"
    datadir = tmp_path / "datadir"
    datadir.mkdir()
    node = cfg.node.model_copy(
        update={"password_file": None, "cookie_file": str(datadir), "user": None}
    )
    client = from_config(node, cfg.base_dir, chain)
    with pytest.raises(RPCError) as info:
        client.call("getblockcount")
    msg = str(info.value)
    assert msg.startswith(f"node.cookie_file: no .cookie in the node's datadir {datadir}")
    assert str(datadir / chain / ".cookie") in msg and str(datadir / ".cookie") in msg
    (datadir / ".cookie").write_text(good)  # a node on its main chain keeps it at the top
    assert client.call("getblockcount") == 0
    # the chain's own directory wins: a wrong cookie at the top is not used
    (datadir / ".cookie").write_text("m0:wrong-cookie-password")
    (datadir / chain).mkdir()
    (datadir / chain / ".cookie").write_text(good)
    client.close()
    assert client.call("getblockcount") == 0
    assert client.cookie_path() == datadir / chain / ".cookie"
    # and through fed.toml, with a relative datadir
    toml = devnet.layout.fed_toml("m0")
    text = toml.read_text().replace('password_file = "rpc.password"', f'cookie_file = "{os.path.relpath(datadir, toml.parent)}"')
    toml.write_text(text.replace('user = "m0"\n', ""))
    cfg = load_config(toml, environ={})
    assert from_config(cfg.node, cfg.base_dir, cfg.federation.chain).call("getblockcount") == 0


def test_a_request_leaves_in_one_send() -> None:
    """Headers and body go out together: http.client alone sends them apart, two packets
    for the node to wake up for. The first read after the request arrives holds all of it,
    and the answer comes back over the kept connection, twice."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    first_reads: list[bytes] = []

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            for i in range(2):
                data = conn.recv(65536)  # wakes on the first packet
                first_reads.append(data)
                head, _, body = data.partition(b"\r\n\r\n")
                length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                                  if line.lower().startswith(b"content-length")))
                while len(body) < length:
                    body += conn.recv(65536)
                answer = b'{"result": %d, "error": null, "id": %d}' % (i, i + 1)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (len(answer), answer))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    client = NodeClient(f"http://127.0.0.1:{port}/", "u", "p", retries=0, timeout=5)
    try:
        assert client.call("getblockcount") == 0
        assert client.call("testproposedblock", "ab" * 300) == 1
    finally:
        client.close()
        thread.join(5)
        listener.close()
    assert len(first_reads) == 2
    for data in first_reads:
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"POST / HTTP/1.1") and body.startswith(b'{"jsonrpc"')
        assert body.endswith(b"}")


class RawNode:
    """Answers each request on a connection with the next of ``answers``, byte for byte,
    then closes the connection after the last one (or keeps reading when ``keep``)."""

    def __init__(self, answers: list[bytes]) -> None:
        self.answers = answers
        self.connections = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/"
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                while self.answers:
                    data = conn.recv(65536)
                    if not data:
                        break
                    conn.sendall(self.answers.pop(0))

    def close(self) -> None:
        self.listener.close()


def _ok(result: bytes, extra: bytes = b"") -> bytes:
    body = b'{"result": %s, "error": null, "id": 1}' % result
    return b"HTTP/1.1 200 OK\r\n%sContent-Length: %d\r\n\r\n%s" % (extra, len(body), body)


@pytest.mark.parametrize(("answer", "expected"), [
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
     "Transfer-Encoding 'chunked': expected a body with Content-Length"),
    (b"SSH-2.0-OpenSSH_9.6\r\n\r\n", "not an HTTP/1.x answer: 'SSH-2.0-OpenSSH_9.6'"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 12x\r\n\r\n", "bad Content-Length '12x'"),
    (b"HTTP/1.1 200 OK\r\nX-Pad: " + b"a" * 70_000 + b"\r\n\r\n", "answer headers over 65536 bytes"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"result\": 1", "the node closed the connection after 12 of 100 body bytes"),
    (b"", "the node closed the connection without answering"),
])
def test_an_answer_the_reader_cannot_read_is_one_line(answer: bytes, expected: str) -> None:
    node = RawNode([answer])
    client = NodeClient(node.url, "u", "p", retries=0, timeout=5)
    try:
        with pytest.raises(RPCError) as info:
            client.call("getblockcount")
        msg = str(info.value)
        assert msg == f"lost connection to node at {node.url} during getblockcount ({expected})"
        assert info.value.code is None
    finally:
        client.close()
        node.close()


class StreamingNode:
    """Answers the first request with headers and then a body that never ends (no
    Content-Length): what a URL that reaches something other than the node may send."""

    def __init__(self, head: bytes = b"HTTP/1.1 200 OK\r\n\r\n") -> None:
        self.head = head
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/"
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        with conn:
            conn.recv(65536)
            chunk = b"a" * 65536
            try:
                conn.sendall(self.head)
                while True:
                    conn.sendall(chunk)
            except OSError:
                return

    def close(self) -> None:
        self.listener.close()


@pytest.mark.parametrize(("head", "expected"), [
    (b"HTTP/1.1 200 OK\r\n\r\n", "an answer over node.max_answer_bytes (1048576 bytes)"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n",
     "an answer of 99999999999 bytes, over node.max_answer_bytes (1048576)"),
])
def test_an_answer_over_the_limit_is_one_line_and_read_no_further(head: bytes, expected: str) -> None:
    """An answer larger than ``node.max_answer_bytes`` (declared, or running on to the end
    of the connection) ends the call, well before its deadline, with one line; the client
    stops reading, so what it holds is bounded by the limit."""
    node = StreamingNode(head)
    client = NodeClient(node.url, "u", "p", retries=0, timeout=30, max_answer=2**20)
    try:
        started = time.monotonic()
        with pytest.raises(RPCError) as info:
            client.call("getblockcount")
        assert str(info.value) == f"lost connection to node at {node.url} during getblockcount ({expected})"
        assert time.monotonic() - started < 20  # the limit ended it, not the 30 s deadline
    finally:
        client.close()
        node.close()


def test_max_answer_bytes_comes_from_the_config() -> None:
    from oceanfed.config import Node
    from oceanfed.rpc import MAX_ANSWER, from_config

    node = Node(url="http://127.0.0.1:1/", user="u", password_env="HOME")
    assert from_config(node).max_answer == MAX_ANSWER
    assert from_config(node.model_copy(update={"max_answer_bytes": 5 * 2**20})).max_answer == 5 * 2**20
    with pytest.raises(ValueError, match="max_answer_bytes"):
        Node(url="http://127.0.0.1:1/", max_answer_bytes=1000)


def test_the_reader_keeps_the_connection_only_when_it_may() -> None:
    """Content-Length answers keep the connection; ``Connection: close``, an HTTP/1.0
    answer or a body that runs to the end of the connection end it. Header names are
    matched whatever their case; a large body comes whole."""
    big = b'"' + b"ab" * 600_000 + b'"'
    big_body = b'{"result": %s, "error": null, "id": 2}' % big
    body = b'{"result": 4, "error": null, "id": 1}'
    node = RawNode([
        _ok(b"1"),
        b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(big_body), big_body),
        _ok(b"3", b"Connection: close\r\n"),
        b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body),
        b"HTTP/1.1 200 OK\r\n\r\n" + body,
    ])  # the server keeps each connection open while answers remain
    client = NodeClient(node.url, "u", "p", retries=0, timeout=5)
    try:
        assert client.call("getblockcount") == 1
        assert client.call("getblockcount") == big.decode().strip('"')
        assert client.call("getblockcount") == 3
        assert node.connections == 1
        assert client.call("getblockcount") == 4  # on a new connection
        assert node.connections == 2
        assert client.call("getblockcount") == 4  # HTTP/1.0 closes: a new connection again
        assert node.connections == 3
    finally:
        client.close()
        node.close()
