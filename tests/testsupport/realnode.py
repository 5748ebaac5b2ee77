"""Helpers of the real-node tests: waiting on conditions, and checking every node's chain."""

from __future__ import annotations

import time
from collections.abc import Callable

from oceanfed.audit import audit_chain, chain_headers, read_signed
from oceanfed_devnet.launcher import LocalFederation


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
    """Poll ``predicate`` every ``interval`` s until true; AssertionError naming ``what``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def heights(fed: LocalFederation) -> dict[str, int]:
    """Every node's height."""
    return {n: int(fed.rpc(n).call("getblockcount")) for n in fed.layout.endpoints}


def wait_all_at(fed: LocalFederation, height: int, timeout: float) -> None:
    """Wait until every node has reached ``height``."""
    wait_for(lambda: min(heights(fed).values()) >= height, timeout,
             f"every node at height {height} (now {heights(fed)})", interval=0.25)


def same_chain_everywhere(fed: LocalFederation, height: int) -> list[str]:
    """Block hashes 0..height, asserted identical on every node (each accepted every block)."""
    chains = {
        n: [fed.rpc(n).call("getblockhash", h) for h in range(height + 1)]
        for n in fed.layout.endpoints
    }
    first = chains[fed.layout.endpoints[0]]
    for name, chain in chains.items():
        assert chain == first, f"{name}'s chain differs from {fed.layout.endpoints[0]}'s"
    return first


def audit(fed: LocalFederation) -> int:
    """Audit the chain against every member's sign-state; return the chain's height."""
    headers = chain_headers(fed.rpc())
    signed = {n: read_signed(fed.layout.member_dir(n) / "state") for n in fed.members}
    assert all(signed.values()), "a member never recorded a sign-state"
    problems = audit_chain(headers, fed.layout.threshold, signed, fed.members)
    assert problems == [], problems
    return len(headers) - 1
