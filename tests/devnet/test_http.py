"""The devnet's HTTP over raw sockets: the JSON-RPC request path it parses itself, and what
it still hands to http.server (other methods and versions), keep-alive, and bad headers."""

from __future__ import annotations

import base64
import json
import socket
import struct

import pytest

from oceanfed_devnet.server import MAX_HEADERS


def _auth(devnet, name: str = "m0") -> str:
    token = base64.b64encode(f"{name}:{devnet.layout.password(name)}".encode()).decode()
    return f"Basic {token}"


def _request(body: bytes, *headers: str, line: str = "POST / HTTP/1.1") -> bytes:
    return ("\r\n".join([line, *headers, f"Content-Length: {len(body)}", "", ""])).encode() + body


def _read_answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP answer: status, headers (lower-case names) and body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("iso-8859-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, headers, body


def _call(method: str, rid: int) -> bytes:
    return json.dumps({"jsonrpc": "1.0", "id": rid, "method": method, "params": []}).encode()


def test_keep_alive_calls_and_one_write_answers(devnet) -> None:
    port = devnet.layout.rpc_ports[0]
    with socket.create_connection(("127.0.0.1", port)) as sock:
        for rid in (1, 2, 3):
            sock.sendall(_request(_call("getblockcount", rid), "Host: x", f"Authorization: {_auth(devnet)}",
                                  "Content-Type: application/json"))
            status, headers, body = _read_answer(sock)
            assert status == 200 and json.loads(body) == {"result": 0, "error": None, "id": rid}
            assert headers["content-type"] == "application/json" and "date" in headers
        # header names are case-insensitive, and the first of repeated ones counts
        sock.sendall(_request(_call("getblockcount", 4), f"AUTHORIZATION: {_auth(devnet)}",
                              "authorization: Basic d3Jvbmc6d3Jvbmc="))
        assert _read_answer(sock)[0] == 200
        sock.sendall(_request(_call("getblockcount", 5), "Authorization: Basic d3Jvbmc6d3Jvbmc=",
                              f"Authorization: {_auth(devnet)}"))
        status, headers, _ = _read_answer(sock)
        assert status == 401 and headers["www-authenticate"] == 'Basic realm="jsonrpc"'
        # Connection: close is honoured: the answer, then the end of the connection
        sock.sendall(_request(_call("getblockcount", 6), f"Authorization: {_auth(devnet)}",
                              "Connection: close"))
        assert _read_answer(sock)[0] == 200
        assert sock.recv(1) == b""


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ([f"X-{i}: y" for i in range(MAX_HEADERS + 1)], 431),
        (["X-Long: " + "y" * 70000], 431),
        (["no colon here"], 400),
        ([" X-Folded: y"], 400),
        (["X-Space : y"], 400),
    ],
    ids=["too-many", "too-long", "no-colon", "folded", "space-before-colon"],
)
def test_bad_headers_are_refused(devnet, headers: list[str], status: int) -> None:
    port = devnet.layout.rpc_ports[0]
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(_request(_call("getblockcount", 1), *headers, f"Authorization: {_auth(devnet)}"))
        assert _read_answer(sock)[0] == status
    # the endpoint still serves
    assert devnet.client("m0").call("getblockcount") == 0


def test_other_requests_go_to_http_server(devnet) -> None:
    port = devnet.layout.rpc_ports[0]
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _read_answer(sock)[0] == 405
    with socket.create_connection(("127.0.0.1", port)) as sock:  # HTTP/1.0: then it closes
        sock.sendall(_request(_call("getblockcount", 7), f"Authorization: {_auth(devnet)}",
                              line="POST / HTTP/1.0"))
        status, _, body = _read_answer(sock)
        assert status == 200 and json.loads(body)["result"] == 0
        assert sock.recv(1) == b""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"BREW / HTTP/1.1\r\n\r\n")
        assert _read_answer(sock)[0] == 501


def test_pipelined_requests_are_answered_in_order(devnet) -> None:
    port = devnet.layout.rpc_ports[0]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"".join(_request(_call("getblockcount", rid), f"Authorization: {_auth(devnet)}")
                              for rid in (1, 2, 3)))
        answers = sock.makefile("rb")
        for rid in (1, 2, 3):
            status = int(answers.readline().split()[1])
            headers = dict(line.decode().strip().lower().split(": ", 1)
                           for line in iter(answers.readline, b"\r\n"))
            body = answers.read(int(headers["content-length"]))
            assert status == 200 and json.loads(body)["id"] == rid


def test_a_stalled_client_holds_only_its_own_connection(devnet) -> None:
    """One thread serves every endpoint: a request that never completes (head or body)
    must not keep it from answering the others."""
    port = devnet.layout.rpc_ports[0]
    with socket.create_connection(("127.0.0.1", port)) as head, \
            socket.create_connection(("127.0.0.1", port)) as body:
        head.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Le")
        body.sendall(_request(_call("getblockcount", 1), f"Authorization: {_auth(devnet)}")[:-5])
        for name in ("m0", "m1"):
            assert devnet.client(name, timeout=5, retries=0).call("getblockcount") == 0
        body.sendall(_request(_call("getblockcount", 1), f"Authorization: {_auth(devnet)}")[-5:])
        status, _, answer = _read_answer(body)
        assert status == 200 and json.loads(answer)["result"] == 0


def test_expect_100_continue(devnet) -> None:
    port = devnet.layout.rpc_ports[0]
    payload = _call("getblockcount", 9)
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(_request(b"", f"Authorization: {_auth(devnet)}", "Expect: 100-continue")
                     .replace(b"Content-Length: 0", b"Content-Length: %d" % len(payload)))
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(payload)
        status, _, body = _read_answer(sock)
        assert status == 200 and json.loads(body) == {"result": 0, "error": None, "id": 9}


def test_a_client_hanging_up_leaves_no_traceback(devnet) -> None:
    port = devnet.layout.rpc_ports[0]
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(b"POST / HTTP/1.1\r\n")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()  # a reset, as when a member is killed
    assert devnet.client("m0").call("getblockcount") == 0
    devnet.stop()
    logs = "".join(p.read_text() for p in devnet.layout.dir.parent.glob(f"{devnet.layout.dir.name}-logs/*"))
    assert "Traceback" not in logs
