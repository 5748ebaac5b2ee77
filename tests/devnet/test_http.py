"""The devnet's HTTP over raw sockets: the JSON-RPC request path it parses itself, and what
it still hands to http.server (other methods and versions), keep-alive, and bad headers."""

from __future__ import annotations

import base64
import json
import socket

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
