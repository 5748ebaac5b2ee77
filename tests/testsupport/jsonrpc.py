"""A scripted JSON-RPC node over real loopback HTTP.

For answers a real node cannot be made to give on demand: subclass
:class:`ScriptedHandler`, define :meth:`ScriptedHandler.reply`, and serve it with
:func:`scripted_node`, which yields a :class:`~oceanfed.rpc.NodeClient` of it (no retries).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from oceanfed.rpc import NodeClient


class ScriptedHandler(BaseHTTPRequestHandler):
    """Answers each JSON-RPC POST with what :meth:`reply` returns for it."""

    def reply(self, request: dict[str, Any]) -> tuple[int, bytes]:
        """The HTTP status and body answering the decoded ``request``."""
        raise NotImplementedError

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        status, body = self.reply(request)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def scripted_node(handler: type[ScriptedHandler]) -> Iterator[NodeClient]:
    """Serve ``handler`` on a free loopback port; yield a client of it."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    client = NodeClient(f"http://127.0.0.1:{server.server_address[1]}/", "u", "p", retries=0)
    try:
        yield client
    finally:
        client.close()
        server.shutdown()
        server.server_close()
