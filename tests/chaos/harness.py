"""Process-level chaos against a real local federation (devnet + members over ZMQ).

The chaos loop SIGKILLs members at random moments (right after a block too, when
signatures are in flight), pauses and resumes them, and stops and starts the node endpoint
of one member. It samples every member's persisted sign-state as it goes; afterwards it
checks the chain and the states: no fork, every signature in the chain matched by its
signer's sign-state, no sign-state ever going back, and production resuming by itself.
"""

from __future__ import annotations

import json
import random
import re
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from proxy import EndpointProxy

from oceanfed import crypto
from oceanfed.errors import DecodeError, RPCError
from oceanfed.ocean.block import Block
from oceanfed.ocean.script import iter_ops
from oceanfed_devnet.launcher import LocalFederation, set_table

#: fast rounds so that hundreds of heights fit in a few minutes
FAST_ROUNDS = {
    "propose_timeout": 0.5, "prevote_timeout": 0.25, "precommit_timeout": 0.25,
    "timeout_step": 0.1, "gossip_interval": 0.1, "tip_poll_interval": 0.1,
}
ACCEPTED = re.compile(r"block (\d+) \w+ accepted \(proposer \S+, round (\d+)")


@dataclass
class Report:
    blocks: int = 0
    rounds: int = 0
    kills: int = 0
    kills_after_block: int = 0
    pauses: int = 0
    endpoint_stops: int = 0
    samples: int = 0
    seconds: float = 0.0
    recovery_seconds: float = 0.0
    problems: list[str] = field(default_factory=list)


def read_state(fed: LocalFederation, name: str) -> dict[str, Any] | None:
    """A member's persisted record, read from its SQLite store while it runs."""
    path = fed.layout.member_dir(name) / "state" / "state.sqlite3"
    if not path.exists():
        return None
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)
        try:
            row = db.execute("SELECT value FROM state WHERE key = 'member'").fetchone()
        finally:
            db.close()
    except sqlite3.Error:
        return None
    return json.loads(row[0]) if row else None


class Chaos:
    def __init__(self, dir: Path, members: int = 4, threshold: int = 3, seed: int = 1):  # noqa: A002
        self.rng = random.Random(seed)
        self.fed = LocalFederation(dir, members, threshold, block_time=0, rounds=FAST_ROUNDS)
        self.names = self.fed.members
        self.victim = self.names[-1]  # the member whose node endpoint goes away
        port = urlparse(self.fed.layout.url(self.victim)).port
        assert port is not None
        self.proxy = EndpointProxy(port)
        self.proxy.start()
        set_table(self.fed.layout.fed_toml(self.victim), "node", {"url": self.proxy.url})
        self.pubkeys = [bytes.fromhex(m) for m in self._block_pubkeys()]
        self.seen: dict[str, tuple[int, str | None]] = {}
        self.report = Report()

    def _block_pubkeys(self) -> list[str]:
        text = self.fed.layout.fed_toml(self.names[0]).read_text()
        return re.findall(r'^pubkey = "([0-9a-f]{66})"', text, re.M)

    # ---------------------------------------------------------------- running

    def height(self) -> int:
        for _ in range(50):
            try:
                return self.fed.height()
            except RPCError:
                time.sleep(0.1)
        raise AssertionError("devnet does not answer")

    def sample(self) -> None:
        """Record every member's sign-state; it must never go back or change block at a height."""
        self.report.samples += 1
        for name in self.names:
            rec = read_state(self.fed, name)
            if not rec:
                continue
            ss = rec.get("sign_state") or {}
            now = (int(ss.get("height", -1)), ss.get("block_hash"))
            before = self.seen.get(name)
            if before is not None:
                if now[0] < before[0]:
                    self.report.problems.append(f"{name}: sign-state went back from {before} to {now}")
                elif now[0] == before[0] and before[1] is not None and now[1] != before[1]:
                    self.report.problems.append(f"{name}: sign-state changed block at {now[0]}")
            self.seen[name] = now
            self.signed_at.setdefault(name, {})
            if now[1] is not None:
                prev = self.signed_at[name].setdefault(now[0], now[1])
                if prev != now[1]:
                    self.report.problems.append(f"{name}: two blocks in its sign-state at {now[0]}")

    def run(self, blocks: int, max_seconds: float, kills: int = 10, pauses: int = 3,
            endpoint_stops: int = 3) -> Report:
        """Chaos until ``blocks`` blocks are produced and at least ``kills``, ``pauses`` and
        ``endpoint_stops`` of each strike were made (a fast federation reaches the blocks
        first), or ``max_seconds`` pass; then production must resume by itself."""
        self.signed_at: dict[str, dict[int, str]] = {}
        rng = self.rng
        start = time.monotonic()
        self.fed.start()
        h0 = self.fed.wait_height(1, 60)
        assert h0 >= 1, f"no first block: {self.fed.log_tail(self.names[0])}"
        last_height = self.height()
        report = self.report

        def more() -> bool:
            return (self.height() < blocks or report.kills < kills or report.pauses < pauses
                    or report.endpoint_stops < endpoint_stops)

        while time.monotonic() - start < max_seconds and more():
            self.sample()
            victim = rng.choice(self.names)
            action = rng.choice(["kill", "kill", "kill-after-block", "pause", "endpoint"])
            if action == "kill":
                time.sleep(rng.uniform(0, 0.3))
                self.fed.kill(victim)
                self.report.kills += 1
                time.sleep(rng.uniform(0.0, 0.8))
                self.fed.start_member(victim)
            elif action == "kill-after-block":
                # strike while signatures for the next block are being made and sent
                deadline = time.monotonic() + 3
                while self.height() == last_height and time.monotonic() < deadline:
                    time.sleep(0.002)
                time.sleep(rng.uniform(0, 0.02))
                self.fed.kill(victim)
                self.report.kills += 1
                self.report.kills_after_block += 1
                time.sleep(rng.uniform(0.0, 0.5))
                self.fed.start_member(victim)
            elif action == "pause":
                self.fed.pause(victim)
                self.report.pauses += 1
                time.sleep(rng.uniform(0.2, 1.5))
                self.fed.resume(victim)
            else:
                self.proxy.stop()
                self.report.endpoint_stops += 1
                time.sleep(rng.uniform(0.3, 1.5))
                self.proxy.start()
            time.sleep(rng.uniform(0.05, 0.4))
            last_height = self.height()
        self.report.seconds = time.monotonic() - start
        # nobody acts now: production must resume by itself
        t = time.monotonic()
        target = self.height() + 10
        reached = self.fed.wait_height(target, 60)
        self.report.recovery_seconds = time.monotonic() - t
        if reached < target:
            self.report.problems.append(f"production did not resume: height {reached} < {target}")
        self.sample()
        self.fed.close()
        self.proxy.stop()
        self.check_chain()
        return self.report

    # ---------------------------------------------------------------- after the run

    def check_chain(self) -> None:
        fed = self.fed
        fed.start_devnet()
        try:
            rpc = fed.rpc()
            tips = rpc.call("getchaintips")
            if len(tips) != 1:
                self.report.problems.append(f"fork: chain tips {tips}")
            height = int(rpc.call("getblockcount"))
            self.report.blocks = height
            final = {name: read_state(fed, name) or {} for name in self.names}
            for h in range(1, height + 1):
                block_hash = rpc.call("getblockhash", h)
                block = Block.from_hex(rpc.call("getblock", block_hash, False))
                self._check_block(h, block_hash, block, final)
        finally:
            fed.close()
        self.report.rounds = self._rounds(height)

    def _check_block(self, h: int, block_hash: str, block: Block, final: dict[str, dict[str, Any]]) -> None:
        digest = block.header.digest()
        pushes = [d for _, d in iter_ops(block.header.solution)][1:]
        signers = set()
        for der in pushes:
            for i, pub in enumerate(self.pubkeys):
                try:
                    if der and crypto.verify_digest(pub, digest, der):
                        signers.add(self.names[i])
                        break
                except (DecodeError, ValueError):
                    continue
        if len(signers) < self.fed.layout.threshold:
            self.report.problems.append(f"block {h} has {len(signers)} valid signatures")
        for name in signers:
            ss = final[name].get("sign_state") or {}
            if int(ss.get("height", -1)) < h:
                self.report.problems.append(f"{name} signed block {h} but its sign-state is at "
                                            f"{ss.get('height')}: signed before persisting")
            seen = self.signed_at.get(name, {}).get(h)
            if seen is not None and seen != block_hash:
                self.report.problems.append(f"{name} had {seen} in its sign-state at {h}, "
                                            f"but signed {block_hash}")

    def _rounds(self, height: int) -> int:
        """Consensus rounds used per height, from the members' logs (one at least per height)."""
        per_height: dict[int, int] = {}
        for name in self.names:
            path = self.fed.dir / "logs" / f"{name}.log"
            for line in path.read_text(errors="replace").splitlines():
                m = ACCEPTED.search(line)
                if m:
                    h, r = int(m.group(1)), int(m.group(2))
                    per_height[h] = max(per_height.get(h, 0), r)
        return sum(per_height.get(h, 0) + 1 for h in range(1, height + 1))
