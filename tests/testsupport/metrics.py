"""Members' HTTP endpoints (``/metrics``, ``/health``, ``/status``) in tests."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

from oceanfed.netutil import free_ports
from oceanfed_devnet.launcher import LocalFederation, set_table


def http_get(url: str) -> tuple[int, str]:
    """The HTTP status and body of a GET of ``url``, error statuses included."""
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _named_ports(fed: LocalFederation) -> set[int]:
    """The ports the federation's layout already gave out (nodes' RPC and P2P ports,
    members' messenger ports): chosen free, but not bound until the processes start."""
    layout = fed.layout
    return {*layout.rpc_ports, *layout.messenger_ports, *layout.client_ports, *layout.p2p_ports}


def serve_metrics(fed: LocalFederation, unhealthy_after: float) -> dict[str, int]:
    """Give each member of ``fed`` a metrics listener on a free loopback port, none of the
    ports its configs already name, with ``unhealthy_after``; the ports, by member."""
    taken = _named_ports(fed)
    chosen: list[int] = []
    while len(chosen) < len(fed.members):
        chosen += [p for p in free_ports(len(fed.members)) if p not in taken and p not in chosen]
    ports = dict(zip(fed.members, chosen[: len(fed.members)], strict=True))
    for name, port in ports.items():
        set_table(fed.layout.fed_toml(name), "metrics",
                  {"listen": f"127.0.0.1:{port}", "unhealthy_after": unhealthy_after})
    return ports


def health_until(url: str, code: int, timeout: float) -> dict[str, Any]:
    """GET the ``/health`` at ``url`` until it answers ``code`` or ``timeout`` passes;
    assert it did and return its JSON."""
    deadline = time.monotonic() + timeout
    got, body = http_get(url)
    while got != code and time.monotonic() < deadline:
        time.sleep(0.2)
        got, body = http_get(url)
    assert got == code, body
    return dict(json.loads(body))
