"""A deterministic simulator for the consensus core.

It runs the real :class:`oceanfed.consensus.machine.Machine` of every member against a
simulated clock, network, node and signer, all driven by one seeded random generator, so
that any failing schedule replays exactly from its seed. Faults: crashes and restarts
(with the persisted state, and at any point inside an action list), node failures and
slowness, partitions that heal, message delay, loss, duplication and reordering, clock
skew, dishonest proposers and signers, and forged frames from a non-member.

The only fakes in the project live here: a cheap keyed-hash stand-in for envelope and
block signatures (real ECDSA is tested elsewhere), and an in-memory node.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import random
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from oceanfed.consensus import actions as A
from oceanfed.consensus import events as E
from oceanfed.consensus.machine import CoreConfig, Machine
from oceanfed.errors import DecodeError
from oceanfed.ocean.encoding import Reader, compact_size, push_data
from oceanfed.ocean.header import BlockHeader
from oceanfed.ocean.script import iter_ops
from oceanfed.wire import KINDS, Envelope

CHAIN = "simnet"
GENESIS = "00" * 32


class SimAuth:
    """Keyed-hash stand-in for transport and block signatures (every member's secret known)."""

    def __init__(self, me: int, n: int, secret_seed: int = 7):
        self.me = me
        self.n = n
        self.seed = secret_seed

    def _secret(self, member: int) -> bytes:
        return hashlib.sha256(f"member-{member}-{self.seed}".encode()).digest()

    def seal(self, height: int, round: int, kind: str, payload: dict[str, Any]) -> bytes:
        return self.seal_as(self.me, height, round, kind, payload)

    def seal_as(self, sender: int, height: int, round: int, kind: str, payload: dict[str, Any],
                secret: bytes | None = None) -> bytes:
        body = json.dumps(
            {"chain": CHAIN, "from": sender, "h": height, "r": round, "kind": kind, "p": payload},
            sort_keys=True, separators=(",", ":"),
        ).encode()
        tag = hashlib.sha256((secret or self._secret(sender)) + body).digest()[:16]
        return tag + body

    def open(self, data: bytes) -> Envelope:
        if len(data) < 17:
            raise DecodeError("truncated")
        tag, body = data[:16], data[16:]
        try:
            obj = json.loads(body)
        except ValueError:
            raise DecodeError("malformed") from None
        if not isinstance(obj, dict) or obj.get("kind") not in KINDS:
            raise DecodeError("malformed")
        sender = obj.get("from")
        if type(sender) is not int or not 0 <= sender < self.n:
            raise DecodeError("non-member")
        if hashlib.sha256(self._secret(sender) + body).digest()[:16] != tag:
            raise DecodeError("bad-signature")
        return Envelope(obj["chain"], sender, obj["h"], obj["r"], obj["kind"], obj["p"], data)

    def block_sig(self, member: int, digest: bytes) -> bytes:
        return b"\x30" + hashlib.sha256(b"block" + self._secret(member) + digest).digest()

    def verify_block_sig(self, member: int, digest: bytes, der: bytes) -> bool:
        return der == self.block_sig(member, digest)


def make_challenge(m: int, n: int) -> bytes:
    """A stand-in signblockscript: M, n fake 33-byte keys, N, CHECKMULTISIG."""
    keys = b"".join(push_data(bytes([2]) + hashlib.sha256(bytes([i])).digest()) for i in range(n))
    return bytes([0x50 + m]) + keys + bytes([0x50 + n, 0xAE])


def make_block(height: int, parent: str, challenge: bytes, salt: int, *, bad_merkle: bool = False) -> str:
    merkle = b"\xff" * 32 if bad_merkle else hashlib.sha256(f"{height}-{salt}".encode()).digest()
    header = BlockHeader(
        version=0x20000000,
        prev_hash=bytes.fromhex(parent)[::-1],
        merkle_root=merkle,
        contract_hash=b"\x00" * 32,
        attestation_hash=b"\x00" * 32,
        mapping_hash=b"\x00" * 32,
        time=1_700_000_000 + height,
        height=height,
        challenge=challenge,
    )
    return (header.serialize() + compact_size(0)).hex()


class SimNode:
    """One shared chain; every member's endpoint sees it (as the devnet does)."""

    def __init__(self, challenge: bytes, m: int, auth: SimAuth):
        self.challenge = challenge
        self.m = m
        self.auth = auth
        self.chain: list[str] = [GENESIS]
        self.blocks: dict[str, BlockHeader] = {}

    @property
    def tip(self) -> tuple[int, str]:
        return len(self.chain) - 1, self.chain[-1]

    def test(self, block_hex: str) -> str | None:
        header = BlockHeader.read(Reader(bytes.fromhex(block_hex)))
        height, tip = self.tip
        if header.hash_hex() in self.blocks:
            return "already-have-block"
        if header.prev_hash[::-1].hex() != tip or header.height != height + 1:
            return "stale"
        if header.challenge != self.challenge:
            return "bad-challenge"
        if header.merkle_root == b"\xff" * 32:
            return "bad-txnmrklroot"
        return None

    def proof_ok(self, header: BlockHeader) -> bool:
        pushes = [d for _, d in iter_ops(header.solution)]
        if not pushes or pushes[0] != b"":
            return False
        sigs = pushes[1:]
        member = 0
        good = 0
        for sig in sigs:  # CHECKMULTISIG: signatures in key order
            while member < self.auth.n and not self.auth.verify_block_sig(member, header.digest(), sig):
                member += 1
            if member == self.auth.n:
                return False
            good += 1
            member += 1
        return good >= self.m

    def submit(self, block_hex: str) -> str | None:
        header = BlockHeader.read(Reader(bytes.fromhex(block_hex)))
        block_hash = header.hash_hex()
        if block_hash in self.blocks:
            return "duplicate"
        if not self.proof_ok(header):
            return "block-proof-invalid"
        height, tip = self.tip
        if header.prev_hash[::-1].hex() != tip or header.height != height + 1:
            return "inconclusive"
        self.blocks[block_hash] = header
        self.chain.append(block_hash)
        return None


@dataclass
class Faults:
    loss: float = 0.0
    duplicate: float = 0.0
    delay: tuple[float, float] = (0.001, 0.01)
    node_fail: float = 0.0
    node_delay: tuple[float, float] = (0.0005, 0.003)
    crash_rate: float = 0.0  # crashes per member per simulated second
    down_for: tuple[float, float] = (0.5, 3.0)
    partition_rate: float = 0.0
    partition_for: tuple[float, float] = (0.5, 3.0)
    skew: float = 0.0
    settle_at: float = 1e9  # faults stop at this simulated time
    byzantine: dict[int, str] = field(default_factory=dict)  # member -> behaviour
    forger: bool = False
    permanently_down: set[int] = field(default_factory=set)


class InvariantViolation(AssertionError):
    pass


@dataclass
class MemberSim:
    index: int
    machine: Machine | None
    disk: dict[str, Any] | None = None
    up: bool = True
    epoch: int = 0
    signed: dict[int, str] = field(default_factory=dict)
    max_signed: int = -1
    tick_at: float = float("inf")
    tick_token: int = 0


class Simulation:
    """Run a federation of ``n`` members with threshold ``m`` under ``faults`` for a seed."""

    def __init__(self, seed: int, n: int, m: int, faults: Faults | None = None, block_time: float = 0.2):
        self.seed = seed
        self.rng = random.Random(seed)
        self.n, self.m = n, m
        self.f = faults or Faults()
        self.now = 0.0
        self.queue: list[tuple[float, int, int, Any]] = []
        self.seq = 0
        self.auth = SimAuth(-1, n)
        self.challenge = make_challenge(m, n)
        self.node = SimNode(self.challenge, m, self.auth)
        self.cfg_base = dict(
            names=[f"m{i}" for i in range(n)], threshold=m, challenge=self.challenge,
            block_time=block_time, propose_timeout=0.3, prevote_timeout=0.2,
            precommit_timeout=0.2, timeout_step=0.1, gossip_interval=0.2, tip_poll_interval=0.2,
        )
        self.members = [MemberSim(i, None) for i in range(n)]
        self.partition: list[set[int]] | None = None
        self.partition_until = 0.0
        self.skew = [self.rng.uniform(-self.f.skew, self.f.skew) for _ in range(n)]
        self.completed: dict[int, set[str]] = defaultdict(set)
        self.sig_store: dict[tuple[int, str], set[int]] = defaultdict(set)
        self.block_digest: dict[str, bytes] = {}
        self.progress_log: list[tuple[float, int]] = []
        self.steps = 0
        for ms in self.members:
            if ms.index in self.f.byzantine:
                continue
            if ms.index in self.f.permanently_down:
                ms.up = False
                continue
            self._boot(ms)

    # ------------------------------------------------------------------ scheduling

    def _at(self, when: float, member: int, item: Any) -> None:
        self.seq += 1
        heapq.heappush(self.queue, (when, self.seq, member, item))

    def _clock(self, member: int) -> float:
        return self.now + self.skew[member]

    def _faulty(self) -> bool:
        return self.now < self.f.settle_at

    def _boot(self, ms: MemberSim) -> None:
        cfg = CoreConfig(me=ms.index, **self.cfg_base)
        ms.machine = Machine(cfg, SimAuth(ms.index, self.n), restored=ms.disk)
        ms.up = True
        ms.epoch += 1
        ms.tick_at = float("inf")
        self._run_actions(ms, ms.machine.start(self._clock(ms.index)))
        self._schedule_tick(ms)

    def _schedule_tick(self, ms: MemberSim) -> None:
        if ms.machine is None:
            return
        when = max(self.now + 1e-4, ms.machine.next_deadline() - self.skew[ms.index])
        if when < ms.tick_at - 1e-9:
            ms.tick_at = when
            ms.tick_token += 1
            self._at(when, ms.index, ("tick", ms.epoch, ms.tick_token))

    # ------------------------------------------------------------------ actions

    def _run_actions(self, ms: MemberSim, actions: list[A.Action]) -> None:
        crash_inside = (
            self._faulty() and self.f.crash_rate > 0 and self.rng.random() < self.f.crash_rate * 0.02
        )
        crash_at = self.rng.randrange(len(actions) + 1) if crash_inside and actions else -1
        for i, action in enumerate(actions):
            if i == crash_at:
                self._crash(ms)
                return
            self._perform(ms, action)

    def _perform(self, ms: MemberSim, action: A.Action) -> None:
        me = ms.index
        if isinstance(action, A.Persist):
            ms.disk = json.loads(json.dumps(action.record))
        elif isinstance(action, A.Broadcast):
            self._check_sig_persisted(ms, action.data)
            self._broadcast(me, action.data)
        elif isinstance(action, A.QueryTip):
            self._node_reply(ms, lambda: E.NodeTip(*self.node.tip), "tip", -1)
        elif isinstance(action, A.BuildProposal):
            tip_h, tip = self.node.tip
            hexblock = make_block(tip_h + 1, tip, self.challenge, salt=self.rng.randrange(1 << 30))
            self._node_reply(ms, lambda: E.ProposalBuilt(action.height, action.round, hexblock),
                             "build", action.height)
        elif isinstance(action, A.Validate):
            self._node_reply(ms, lambda: E.Validated(action.height, action.block_hash,
                                                     self.node.test(action.block_hex)),
                             "validate", action.height)
        elif isinstance(action, A.Sign):
            self._check_sign_rule(ms, action)
            der = self.auth.block_sig(me, action.digest)
            self.block_digest[action.block_hash] = action.digest
            self._at(self.now + self.rng.uniform(0.0002, 0.002), me,
                     ("event", ms.epoch, E.Signed(action.height, action.block_hash, der)))
        elif isinstance(action, A.Submit):
            self._check_submission(action)
            self._node_reply(ms, lambda: E.Submitted(action.height, action.block_hash,
                                                     self.node.submit(action.block_hex)),
                             "submit", action.height)

    def _node_reply(self, ms: MemberSim, make: Any, what: str, height: int) -> None:
        delay = self.rng.uniform(*self.f.node_delay)
        if self._faulty() and self.rng.random() < self.f.node_fail:
            self._at(self.now + delay, ms.index, ("event", ms.epoch, E.NodeFailed(what, height, "sim")))
            return
        # the node answers from its state at answer time
        self._at(self.now + delay, ms.index, ("call", ms.epoch, make))

    def _broadcast(self, sender: int, data: bytes) -> None:
        for to in range(self.n):
            if to == sender:
                continue
            self._send(sender, to, data)

    def _send(self, sender: int, to: int, data: bytes) -> None:
        if self._faulty():
            if self.partition and self.now < self.partition_until and not any(
                sender in g and to in g for g in self.partition
            ):
                return
            if self.rng.random() < self.f.loss:
                return
            copies = 2 if self.rng.random() < self.f.duplicate else 1
        else:
            copies = 1
        for _ in range(copies):
            self._at(self.now + self.rng.uniform(*self.f.delay), to, ("msg", data))

    def _crash(self, ms: MemberSim) -> None:
        ms.up = False
        ms.machine = None
        ms.epoch += 1
        self._at(self.now + self.rng.uniform(*self.f.down_for), ms.index, ("restart", ms.epoch))

    # ------------------------------------------------------------------ invariants

    def _fail(self, what: str) -> None:
        raise InvariantViolation(f"seed {self.seed}: t={self.now:.3f}: {what}")

    def _check_sign_rule(self, ms: MemberSim, action: A.Sign) -> None:
        disk = (ms.disk or {}).get("sign_state") or {}
        if disk.get("height") != action.height or disk.get("block_hash") != action.block_hash:
            self._fail(f"m{ms.index} signs {action.block_hash[:8]}@{action.height} before its sign-state is on disk")
        prev = ms.signed.get(action.height)
        if prev is not None and prev != action.block_hash:
            self._fail(f"m{ms.index} signed two blocks at height {action.height}")
        if action.height < ms.max_signed:
            self._fail(f"m{ms.index} signed height {action.height} below {ms.max_signed}")
        ms.signed[action.height] = action.block_hash
        ms.max_signed = max(ms.max_signed, action.height)

    def _check_sig_persisted(self, ms: MemberSim, data: bytes) -> None:
        env = self.auth.open(data)
        if env.kind != "sig":
            return
        disk = (ms.disk or {}).get("sign_state") or {}
        if disk.get("height") != env.height or disk.get("block_hash") != env.payload["hash"]:
            self._fail(f"m{ms.index} sent a SIG whose sign-state is not on disk")
        self.sig_store[(env.height, env.payload["hash"])].add(env.sender)
        done = {bh for (h, bh), who in self.sig_store.items() if h == env.height and len(who) >= self.m}
        if len(done) > 1:
            self._fail(f"two blocks completable at height {env.height}: {sorted(done)}")

    def _check_submission(self, action: A.Submit) -> None:
        header = BlockHeader.read(Reader(bytes.fromhex(action.block_hex)))
        if not self.node.proof_ok(header):
            self._fail(f"honest member submitted {action.block_hash[:8]} without M valid signatures")
        self.completed[action.height].add(action.block_hash)
        if len(self.completed[action.height]) > 1:
            self._fail(f"two different blocks completed at height {action.height}")

    # ------------------------------------------------------------------ byzantine members

    def _byzantine_act(self, member: int) -> None:
        behaviour = self.f.byzantine[member]
        tip_h, tip = self.node.tip
        h = tip_h + 1
        auth = SimAuth(member, self.n)
        for r in range(0, 6):
            if (h + r) % self.n != member:
                continue
            if behaviour == "equivocate":
                for to in range(self.n):
                    if to == member:
                        continue
                    block = make_block(h, tip, self.challenge, salt=to)
                    self._send(member, to, auth.seal(h, r, "proposal", {"block": block, "vr": -1, "pol": []}))
            elif behaviour == "invalid":
                choice = self.rng.choice(["parent", "merkle", "challenge"])
                if choice == "parent":
                    block = make_block(h, "11" * 32, self.challenge, salt=1)
                elif choice == "merkle":
                    block = make_block(h, tip, self.challenge, salt=2, bad_merkle=True)
                else:
                    block = make_block(h, tip, make_challenge(1, 1), salt=3)
                self._broadcast(member, auth.seal(h, r, "proposal", {"block": block, "vr": -1, "pol": []}))
            elif behaviour == "short-pol":
                block = make_block(h, tip, self.challenge, salt=9)
                self._broadcast(member, auth.seal(h, r, "proposal", {"block": block, "vr": max(0, r - 1) if r else -1, "pol": []}))
        # garbage and stolen signatures, and votes for random things
        self._broadcast(member, auth.seal(h, 0, "sig", {"hash": tip, "sig": "30" + "ab" * 32}))
        victim = (member + 1) % self.n
        for (hh, bh), _who in list(self.sig_store.items()):
            if hh == h and bh in self.block_digest:
                stolen = self.auth.block_sig(victim, self.block_digest[bh])
                self._broadcast(member, auth.seal(h, 0, "sig", {"hash": bh, "sig": stolen.hex()}))
        self._broadcast(member, auth.seal(h, self.rng.randrange(3), "prevote", {"hash": "ab" * 32}))
        self._broadcast(member, auth.seal(h, 0, "precommit", {"hash": self.rng.choice([None, "cd" * 32])}))

    def _forge(self) -> None:
        h = self.node.tip[0] + 1
        fake = SimAuth(0, self.n, secret_seed=999)
        frame = fake.seal_as(self.rng.randrange(self.n), h, 0, "precommit", {"hash": "ee" * 32},
                             secret=b"not-a-member")
        self._broadcast(-1, frame)
        self._broadcast(-1, b"garbage" + bytes(self.rng.randrange(256) for _ in range(20)))

    # ------------------------------------------------------------------ main loop

    def run(self, until: float, liveness_bound: float | None = None) -> None:
        """Run to simulated time ``until``; with ``liveness_bound``, require progress after settling."""
        next_chaos = 0.0
        last_height = 0
        last_progress = 0.0
        while self.queue and self.now < until:
            when, _, member, item = heapq.heappop(self.queue)
            self.now = max(self.now, when)
            self.steps += 1
            if self.now >= next_chaos:
                next_chaos = self.now + 0.05
                self._chaos()
            self._handle(member, item)
            height = self.node.tip[0]
            if height > last_height:
                last_height, last_progress = height, self.now
                self.progress_log.append((self.now, height))
            if liveness_bound is not None and self.now > self.f.settle_at + liveness_bound:
                since = max(last_progress, self.f.settle_at)
                if self.now - since > liveness_bound:
                    self._fail(
                        f"no progress for {self.now - since:.1f}s after the network settled "
                        f"(height {height})"
                    )

    def _chaos(self) -> None:
        if not self._faulty():
            self.partition = None
            for ms in self.members:
                if (not ms.up and ms.index not in self.f.permanently_down
                        and ms.index not in self.f.byzantine and ms.machine is None):
                    self._boot(ms)
            if self.f.byzantine and self.rng.random() < 0.3:
                for b in self.f.byzantine:
                    self._byzantine_act(b)
            return
        if self.f.partition_rate and self.now >= self.partition_until and self.rng.random() < self.f.partition_rate * 0.05:
            nodes = list(range(self.n))
            self.rng.shuffle(nodes)
            cut = self.rng.randrange(1, self.n)
            self.partition = [set(nodes[:cut]), set(nodes[cut:])]
            self.partition_until = self.now + self.rng.uniform(*self.f.partition_for)
        if self.f.crash_rate:
            for ms in self.members:
                if ms.up and ms.machine is not None and self.rng.random() < self.f.crash_rate * 0.05:
                    self._crash(ms)
        if self.f.byzantine and self.rng.random() < 0.3:
            for b in self.f.byzantine:
                self._byzantine_act(b)
        if self.f.forger and self.rng.random() < 0.2:
            self._forge()

    def _handle(self, member: int, item: Any) -> None:
        if member < 0:
            return
        ms = self.members[member]
        kind = item[0]
        if kind == "restart":
            if item[1] == ms.epoch and not ms.up:
                self._boot(ms)
            return
        if ms.machine is None or not ms.up:
            return
        if kind == "msg":
            self._feed(ms, E.Received(item[1]))
        elif kind == "tick":
            if item[1] != ms.epoch or item[2] != ms.tick_token:
                return
            ms.tick_at = float("inf")
            self._feed(ms, E.Tick())
        elif kind == "event":
            if item[1] == ms.epoch:
                self._feed(ms, item[2])
        elif kind == "call":
            if item[1] == ms.epoch:
                self._feed(ms, item[2]())

    def _feed(self, ms: MemberSim, event: E.Event) -> None:
        assert ms.machine is not None
        actions = ms.machine.handle(event, self._clock(ms.index))
        self._run_actions(ms, actions)
        self._schedule_tick(ms)
