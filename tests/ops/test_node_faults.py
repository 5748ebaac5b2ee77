"""A node that trickles, answers garbage or ``null``, or is still starting; a node signer
that is slower than the others. The node is a real loopback HTTP endpoint
(:class:`testsupport.nodes.FaultyNode`) in front of a real devnet; the member is a real
driver (1-of-1 over ZMQ) running in this process, or a real ``oceanfed run`` process.
"""

from __future__ import annotations

import json
import logging
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from oceanfed import member as M
from oceanfed.config import load_config
from oceanfed.consensus import actions as A
from oceanfed.consensus import events as E
from oceanfed.consensus.counts import Kind, Tally
from oceanfed.driver import Driver
from oceanfed.errors import BlockComplete, RPCError
from oceanfed.interfaces import SignRequest
from oceanfed.metrics import HealthPolicy
from oceanfed.netutil import free_ports
from oceanfed.node_signer import NodeSigner, NodeSignerOptions
from oceanfed.ocean.block import Block
from oceanfed.rpc import NodeClient
from oceanfed_devnet.launcher import set_table
from oceanfed_devnet.server import DevnetServer
from oceanfed_devnet.setup import DevnetLayout, create_devnet, start_devnet
from testsupport.metrics import http_get
from testsupport.nodes import WARMUP_MESSAGE, FaultyNode
from testsupport.processes import Spawned, oceanfed_args
from testsupport.waiting import wait_until


@dataclass
class Solo:
    """A served 1-of-1 devnet whose member m0 reaches its node through a FaultyNode."""

    layout: DevnetLayout
    server: DevnetServer
    node: FaultyNode

    def height(self) -> int:
        return self.server.chain.height

    def client(self) -> NodeClient:
        return NodeClient(self.layout.url("m0"), "m0", self.layout.password("m0"))


@pytest.fixture
def solo(tmp_path: Path) -> Iterator[Solo]:
    layout = create_devnet(tmp_path / "dn", members=1, threshold=1, block_time=0)
    _, server = start_devnet(layout.dir)
    node = FaultyNode(layout.port("m0"))
    fed = layout.fed_toml("m0")
    set_table(fed, "node", {"url": node.url})
    set_table(fed, "rounds", {"tip_poll_interval": 0.05, "gossip_interval": 0.1})
    try:
        yield Solo(layout, server, node)
    finally:
        node.close()
        server.stop()


@pytest.fixture
def driver(solo: Solo) -> Iterator[Driver]:
    """m0's driver, running in a thread."""
    d = M.build_driver(load_config(solo.layout.fed_toml("m0")))
    thread = threading.Thread(target=d.run, daemon=True)
    thread.start()
    try:
        yield d
    finally:
        d.stop()
        thread.join(timeout=20)
        d.store.close()


def _driver_records(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [
        r.getMessage() for r in caplog.records
        if r.name.startswith("oceanfed") and r.levelno >= level
    ]


# ---------------------------------------------------------------- node.timeout is a deadline


def test_timeout_is_a_deadline_on_the_whole_call() -> None:
    """A node trickling a valid answer one byte at a time gets cut off at node.timeout,
    though each byte arrives well within it; the call is not sent again."""
    node = FaultyNode(mode="trickle")
    node.trickle_interval = 0.1  # ~100 bytes: ten seconds for the whole answer
    client = NodeClient(node.url, "u", "p", timeout=1.0, retries=2)
    try:
        with pytest.raises(RPCError) as raised:
            client.call("getblockcount")
        assert "no complete answer within node.timeout = 1s" in str(raised.value)
        assert raised.value.code is None
        wait_until(lambda: node.aborted == 1, timeout=30, what="the client to hang up")
        assert node.completed == 0
        assert node.requests["getblockcount"] == 1  # read-only, but the deadline had passed
    finally:
        client.close()
        node.close()


def test_the_deadline_holds_over_https(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    made = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        capture_output=True, stdin=subprocess.DEVNULL, timeout=60,
    )
    if made.returncode != 0:
        pytest.skip(f"openssl cannot make a test certificate: {made.stderr[-200:]!r}")
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    node = FaultyNode(mode="trickle", tls=(str(cert), str(key)))
    try:
        node.trickle_interval = 0.001  # a whole answer, byte by byte, well within the deadline
        client = NodeClient(node.url, "u", "p", timeout=30.0)
        assert client.call("getblockcount") == 7 and client.call("getblockcount") == 7
        client.close()
        node.trickle_interval = 0.1
        client = NodeClient(node.url, "u", "p", timeout=1.0)
        with pytest.raises(RPCError, match="no complete answer within node.timeout = 1s"):
            client.call("getblockcount")
        client.close()
    finally:
        node.close()


# ---------------------------------------------------------------- outages: backoff, one line


def _most_requests(seconds: float) -> int:
    """The most requests one outage lets through in ``seconds``: pauses from 0.25 s
    doubling to 4 s (docs/security.md), each at least half its value."""
    sent, at, pause = 1, 0.0, 0.25
    while (at := at + pause / 2) <= seconds:
        sent, pause = sent + 1, min(4.0, pause * 2)
    return sent


def test_a_block_the_node_accepted_and_lost_is_submitted_again(
    solo: Solo, driver: Driver, caplog: pytest.LogCaptureFixture
) -> None:
    """The node answers one submitblock "accepted" and drops the block: its tip stays below
    it. The member follows the tip down, submits the same block again, and goes on."""
    caplog.set_level(logging.INFO, logger="oceanfed")
    wait_until(lambda: solo.height() >= 2, timeout=60, what="the first blocks")
    submits = solo.node.requests["submitblock"]
    solo.node.mode = "drop-submits"
    wait_until(lambda: solo.node.requests["submitblock"] > submits, timeout=60, what="a submit")
    solo.node.mode = "pass"
    height = solo.height()
    wait_until(lambda: solo.height() >= height + 3, timeout=60, what="blocks after the lost one")
    lost = [w for w in _driver_records(caplog, logging.WARNING) if "lost block" in w]
    assert lost and re.match(r"node tip went back from \d+ to \d+: it lost block [0-9a-f]{64}; "
                             r"submitting it again$", lost[0]), lost


@pytest.mark.parametrize("mode", ["garbage", "null"])
def test_an_unusable_node_is_retried_with_backoff_and_logged_once(
    solo: Solo, driver: Driver, caplog: pytest.LogCaptureFixture, mode: str
) -> None:
    caplog.set_level(logging.INFO, logger="oceanfed")
    wait_until(lambda: solo.height() >= 2, timeout=60, what="the first blocks")
    counters = driver.machine.counters
    failed_before = counters[Tally(Kind.NODE_FAILED, "tip")]
    caplog.clear()
    sent_before = solo.node.count()
    solo.node.mode = mode
    began = time.monotonic()
    # the machine asks for the tip every 50 ms: let it ask 40 times
    wait_until(lambda: counters[Tally(Kind.NODE_FAILED, "tip")] - failed_before >= 40, timeout=120,
               what="40 failed tip queries")
    sent = solo.node.count() - sent_before
    elapsed = time.monotonic() - began
    pattern = (rf"node at {solo.node.url} answered \w+ with "
               rf"{'HTTP 200 and no JSON' if mode == 'garbage' else 'null'}; retrying with "
               r"backoff \(pauses up to 4s\) until the node answers$")
    everything = _driver_records(caplog, logging.WARNING)
    assert not [w for w in everything if w.startswith("node call for")], everything
    warnings = [w for w in everything if "retrying with backoff" in w]
    assert warnings and all(re.match(pattern, w) for w in warnings), warnings
    # garbage is never a valid answer: one outage. ``null`` is a valid answer to some calls
    # (testproposedblock and submitblock: accepted), so the check or the submission of a
    # block made just before the switch may end an outage: then another one begins.
    outages = len(warnings)
    assert outages == 1 if mode == "garbage" else outages <= 3, warnings
    # spaced out by the backoff (plus the calls of the 4 RPC threads already under way),
    # whatever the machine's load: a handful of requests, not one per tip query
    assert sent <= outages * _most_requests(elapsed) + 4, f"{sent} requests in {elapsed:.1f}s"
    assert sent < 40
    assert driver.node_outage.deferred >= 40 - sent
    height = solo.height()
    solo.node.mode = "pass"
    wait_until(lambda: solo.height() > height, timeout=60, what="blocks after the outage")
    infos = [m for m in _driver_records(caplog, logging.INFO) if "answers again after" in m]
    assert len(infos) == outages, infos
    failed_calls = int(infos[-1].split("(")[1].split()[0])
    assert 1 <= failed_calls <= solo.node.count() - sent_before
    assert len([w for w in _driver_records(caplog, logging.WARNING) if "retrying" in w]) == outages


def test_a_starting_node_gets_its_own_line_and_health_waits_for_unhealthy_after(
    solo: Solo, driver: Driver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="oceanfed")
    wait_until(lambda: solo.height() >= 1, timeout=60, what="the first block")
    caplog.clear()
    patient, strict = HealthPolicy(driver, 600.0), HealthPolicy(driver, 0.5)
    solo.node.mode = "warmup"
    counters = driver.machine.counters
    wait_until(lambda: counters[Tally(Kind.NODE_FAILED, "tip")] >= 10, timeout=60, what="tip queries")
    warnings = _driver_records(caplog, logging.WARNING)
    assert [w for w in warnings if "starting" in w] == [
        f"node at {solo.node.url} is starting: waiting ({WARMUP_MESSAGE})"
    ]
    assert not [w for w in warnings if w.startswith("node call for")], warnings
    assert patient.check()[0]  # within unhealthy_after: healthy
    # a node that keeps loading is not "ok": past unhealthy_after the member is unhealthy
    wait_until(lambda: not strict.check()[0], timeout=30, what="unhealthy after 0.5 s")
    reasons = strict.check()[1]["reasons"]
    assert len(reasons) == 1 and reasons[0].startswith("node is starting (warm-up) for ")
    solo.node.mode = "pass"
    wait_until(lambda: strict.check()[0], timeout=30, what="healthy again")


def test_a_member_started_with_a_loading_node_waits_for_it(solo: Solo, tmp_path: Path) -> None:
    """``oceanfed run`` against a node still loading its block index: one line, /health
    answers 200 meanwhile, and blocks come once the node is up."""
    port = free_ports(1)[0]
    fed = solo.layout.fed_toml("m0")
    set_table(fed, "metrics", {"listen": f"127.0.0.1:{port}", "unhealthy_after": 600})
    solo.node.mode = "warmup"
    member = Spawned(oceanfed_args("run", "--config", str(fed)), tmp_path, "m0")
    try:
        wait_until(
            lambda: "is starting: waiting" in member.stderr() or member.proc.poll() is not None,
            timeout=60, what="the waiting line")
        assert member.proc.poll() is None, member.stderr()
        wait_until(lambda: solo.node.requests["getblockcount"] >= 3, timeout=60, what="retries")
        status, body = http_get(f"http://127.0.0.1:{port}/health")
        assert status == 200 and json.loads(body)["status"] == "starting", body
        solo.node.mode = "pass"
        wait_until(lambda: solo.height() >= 2 or member.proc.poll() is not None, timeout=60,
                   what="blocks once the node is up")
        assert member.proc.poll() is None, member.stderr()
    finally:
        member.stop(signal.SIGTERM)
    text = member.stderr() + member.stdout()
    assert text.count("is starting: waiting") == 1, text
    assert "Traceback" not in text and "error" not in text.lower(), text


# ---------------------------------------------------------------- a slower node signer


def test_a_node_signer_finding_the_block_complete_is_the_end_of_the_height(
    solo: Solo, driver: Driver, caplog: pytest.LogCaptureFixture
) -> None:
    wait_until(lambda: solo.height() >= 2, timeout=60, what="the first blocks")
    driver.stop()  # the loop is not needed: this checks what _sign hands to it
    driver._rpc_pool.shutdown(wait=True)
    driver._signing.close(timeout=10)
    caplog.set_level(logging.INFO, logger="oceanfed")
    cfg = load_config(solo.layout.fed_toml("m0"))
    signer = NodeSigner(NodeSignerOptions(), M.plugin_context(cfg))
    rpc = solo.client()
    try:
        block = Block.from_hex(rpc.call("getblock", rpc.call("getblockhash", 1), 0))
        request_hex = block.block_hex()
        with pytest.raises(BlockComplete, match="already has block 1"):
            signer.sign(SignRequest(1, block.header.digest(), b"", request_hex))
        # the driver turns it into the node's new tip first, then the (ignored) failure
        while not driver.inbox.empty():
            driver.inbox.get_nowait()
        driver.signer = signer
        caplog.clear()
        driver._sign(A.Sign(1, block.hash_hex(), block.header.digest(), b"", request_hex))
        first, second = driver.inbox.get_nowait(), driver.inbox.get_nowait()
        assert isinstance(first, E.NodeTip) and first.height >= 1
        assert isinstance(second, E.Signed) and second.der is None
        assert _driver_records(caplog, logging.WARNING) == []
        assert any("already has block 1" in m for m in _driver_records(caplog, logging.INFO))
    finally:
        signer.close()
        rpc.close()
