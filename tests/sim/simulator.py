"""A deterministic simulator for the consensus core.

It runs the real :class:`oceanfed.consensus.machine.Machine` of every member against a
simulated clock, network, node and signer, all driven by one seeded random generator, so
that any failing schedule replays exactly from its seed. Faults: crashes and restarts
(with the persisted state, and at any point inside an action list), node failures and
slowness, partitions that heal, message delay, loss, duplication and reordering, clock
skew, dishonest proposers, voters and signers, replayed frames, and forged frames from a
non-member.

Invariants are checked at the step where they could first break: before a signature is
made (sign-state on disk, never two blocks at one height, never below the highest signed
height), before a SIG leaves a member (its sign-state is on disk; no two blocks at one
height can gather M signatures), when a member persists (its sign-state never goes back),
and when a block is submitted (M valid signatures; no two different blocks at one height).
Liveness: after the faults stop, the chain must grow with no gap longer than a bound.

The only fakes in the project live here: a cheap keyed-hash stand-in for envelope and
block signatures (real ECDSA is tested elsewhere), and an in-memory node.
"""

from __future__ import annotations

import contextlib
import hashlib
import heapq
import json
import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from oceanfed.consensus import actions as A
from oceanfed.consensus import events as E
from oceanfed.consensus.counts import Kind
from oceanfed.consensus.machine import CoreConfig, Machine
from oceanfed.driver import Driver
from oceanfed.errors import DecodeError, RPCError
from oceanfed.ocean.encoding import Reader, compact_size, push_data
from oceanfed.ocean.header import BlockHeader
from oceanfed.ocean.script import iter_ops
from oceanfed.wire import KINDS, Envelope, Screen

CHAIN = "simnet"
GENESIS = "00" * 32
#: the round settings every simulated member uses (seconds of simulated time)
ROUNDS = dict(
    propose_timeout=0.3, prevote_timeout=0.2, precommit_timeout=0.2, timeout_step=0.1,
    gossip_interval=0.2, tip_poll_interval=0.2,
)


def _secret(member: int, seed: int) -> bytes:
    return hashlib.sha256(f"member-{member}-{seed}".encode()).digest()


class SimAuth:
    """Keyed-hash stand-in for transport and block signatures (every member's secret known).

    Opening a frame is a pure function of its bytes, so all members of one simulation share
    a cache of opened frames (``cache``); it changes nothing but the speed.
    """

    def __init__(self, me: int, n: int, secret_seed: int = 7,
                 cache: dict[bytes, Envelope | str] | None = None):
        self.me = me
        self.n = n
        self.seed = secret_seed
        self._secrets = [_secret(i, secret_seed) for i in range(n)]
        self._cache: dict[bytes, Envelope | str] = {} if cache is None else cache

    def _secret(self, member: int) -> bytes:
        return self._secrets[member] if 0 <= member < self.n else _secret(member, self.seed)

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

    def _lookup(self, data: bytes) -> Envelope | str:
        hit = self._cache.get(data)
        if hit is None:
            hit = self._open(data)
            if len(self._cache) > 200_000:
                self._cache.clear()
            self._cache[data] = hit
        return hit

    def open(self, data: bytes, floor: int = 0) -> Envelope:
        hit = self._lookup(data)
        if isinstance(hit, str):
            raise DecodeError(hit)
        if hit.height < floor:
            raise DecodeError("stale")
        return hit

    def open_screened(self, data: bytes, floor: int, useless: Screen) -> Envelope:
        """As :meth:`open`, and dropped with ``useless``'s reason before the tag is checked,
        in the order :func:`oceanfed.wire.decode` checks a frame (so a forged frame that can
        change nothing is dropped as settled, as a real member drops it)."""
        hit = self._lookup(data)
        if hit == "bad-signature":
            obj = json.loads(data[16:])
            env = Envelope(obj["chain"], obj["from"], obj["h"], obj["r"], obj["kind"], obj["p"], data)
        elif isinstance(hit, str):
            raise DecodeError(hit)
        else:
            env = hit
        if env.height < floor:
            raise DecodeError("stale")
        reason = useless(env)
        if reason is not None:
            raise DecodeError(reason)
        if isinstance(hit, str):
            raise DecodeError(hit)
        return env

    def _open(self, data: bytes) -> Envelope | str:
        if len(data) < 17:
            return "truncated"
        tag, body = data[:16], data[16:]
        try:
            obj = json.loads(body)
        except ValueError:
            return "malformed"
        if not isinstance(obj, dict) or obj.get("kind") not in KINDS or obj.get("chain") != CHAIN:
            return "malformed"
        sender = obj.get("from")
        if type(sender) is not int or not 0 <= sender < self.n:
            return "non-member"
        if hashlib.sha256(self._secret(sender) + body).digest()[:16] != tag:
            return "bad-signature"
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
    """An Ocean node's view of the chain. Members share one unless ``node_groups`` splits them."""

    def __init__(self, challenge: bytes, m: int, auth: SimAuth):
        self.challenge = challenge
        self.m = m
        self.auth = auth
        self.chain: list[str] = [GENESIS]
        self.blocks: dict[str, BlockHeader] = {}

    @property
    def tip(self) -> tuple[int, str]:
        return len(self.chain) - 1, self.chain[-1]

    def test(self, block_hex: str, tip_view: tuple[int, str] | None = None) -> str | None:
        header = BlockHeader.read(Reader(bytes.fromhex(block_hex)))
        height, tip = tip_view or self.tip
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
            while member < self.auth.n and not self.auth.verify_block_sig(member, header.digest(), sig or b""):
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


#: what a dishonest member (one that runs no honest machine) may do
BYZANTINE = ("equivocate", "invalid", "short-pol", "forged-pol", "double-vote", "garbage-sig")


@dataclass
class Faults:
    """What goes wrong in a schedule. Every fault stops at ``settle_at`` (simulated seconds)."""

    loss: float = 0.0
    duplicate: float = 0.0
    delay: tuple[float, float] = (0.001, 0.01)  # uniform, so messages are also reordered
    node_fail: float = 0.0
    node_delay: tuple[float, float] = (0.0005, 0.003)
    crash_rate: float = 0.0  # crashes per member per simulated second
    down_for: tuple[float, float] = (0.5, 3.0)
    partition_rate: float = 0.0
    partition_for: tuple[float, float] = (0.5, 3.0)
    skew: float = 0.0  # each member's clock is off by up to this many seconds
    settle_at: float = 1e9
    byzantine: dict[int, str] = field(default_factory=dict)  # member -> one of BYZANTINE
    forger: bool = False  # a non-member sends forged and garbage frames
    replay: bool = False  # an outsider re-sends recorded frames from old heights and rounds
    permanently_down: set[int] = field(default_factory=set)
    drop_kinds: frozenset[str] = frozenset()  # message kinds always lost until settle_at
    fixed_partition: list[set[int]] | None = None  # a partition from t=0 until settle_at
    node_groups: list[set[int]] | None = None  # members of a group share a node (else: one node)
    crash_member_at: tuple[int, int] | None = None  # (member, k): crash before its k-th action
    restart_crashed: bool = True
    #: member -> (point, restart after this many seconds or None to stay down, first height):
    #: crash once at that point (see CRASH_POINTS); not stopped by settle_at
    crash_points: dict[int, tuple[str, float | None, int]] = field(default_factory=dict)
    #: member -> RPC error codes its node answers to its first ``testproposedblock`` calls
    node_errors: dict[int, list[int]] = field(default_factory=dict)
    #: member -> how far its node's tip is behind at each tip query after a restart
    restart_lag: dict[int, list[int]] = field(default_factory=dict)
    #: the messenger never delivers a member's own frames (Kafka's plugin filters them)
    filter_own: bool = False
    #: (frame, receiver) -> lost; applied until settle_at, for crafted schedules
    drop: Callable[[Envelope, int], bool] | None = None


#: where a member can be made to crash (Faults.crash_points): after its proposal, prevote,
#: precommit or SIG left, after its decision was persisted, just before it signs, or right
#: after it combined M SIGs into a block (before it submits it)
CRASH_POINTS = ("proposed", "prevoted", "precommitted", "decided", "before-sign", "signed", "combined")
#: the crash points met just before an action (not after one)
BEFORE_ACTION = {"before-sign": A.Sign, "combined": A.Submit}


class InvariantViolation(AssertionError):
    pass


#: what a node says for each reason SimNode.test gives (the driver turns it back into one)
NODE_MESSAGES = {"already-have-block": "already have block",
                 "stale": "proposal was not based on our best chain"}
RPC_ERRORS = {-28: "Loading block index...", -1: "internal error", 401: "wrong RPC credentials",
              -32603: "HTTP 500"}


class SimRPC:
    """A member's node seen through JSON-RPC, so that the real driver judges its answers."""

    def __init__(self, sim: Simulation, member: int):
        self.sim = sim
        self.member = member

    def call(self, method: str, *params: Any) -> Any:
        if method != "testproposedblock":
            raise RPCError(f"{method}: not simulated", -32601, method)
        errors = self.sim.node_errors.get(self.member)
        if errors:
            code = errors.pop(0)
            raise RPCError(f"{method}: {RPC_ERRORS.get(code, 'error')} (code {code})", code, method)
        reason = self.sim.nodes[self.member].test(params[0], self.sim.tip_of(self.member))
        if reason is not None:
            raise RPCError(f"{method}: {NODE_MESSAGES.get(reason, reason)} (code -25)", -25, method)
        return None


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
    actions_done: int = 0
    driver: Driver | None = None
    lag: list[int] = field(default_factory=list)


@dataclass
class Outcome:
    """What a finished schedule did."""

    seed: int
    height: int
    steps: int
    crashes: int
    settle_to_block: float | None  # simulated seconds from settling to the first new block
    max_gap: float  # longest wait for a block after settling
    rounds_max: int
    dropped: dict[str, int]


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
        self._open_cache: dict[bytes, Envelope | str] = {}
        self.auth = SimAuth(-1, n, cache=self._open_cache)
        self.challenge = make_challenge(m, n)
        self.node = SimNode(self.challenge, m, self.auth)
        self.nodes = [self.node] * n
        for group in self.f.node_groups or []:
            node = SimNode(self.challenge, m, self.auth)
            for i in group:
                self.nodes[i] = node
        self.cfg_base = dict(
            names=[f"m{i}" for i in range(n)], threshold=m, challenge=self.challenge,
            block_time=block_time, **ROUNDS,
        )
        self.members = [MemberSim(i, None) for i in range(n)]
        self.partition: list[set[int]] | None = None
        self.partition_until = 0.0
        if self.f.fixed_partition:
            self.partition = self.f.fixed_partition
            self.partition_until = self.f.settle_at
        self.skew = [self.rng.uniform(-self.f.skew, self.f.skew) for _ in range(n)]
        self.completed: dict[int, set[str]] = defaultdict(set)
        #: height -> the members that submitted a block there, in order (repeats included)
        self.submitters: dict[int, list[int]] = defaultdict(list)
        self.sig_store: dict[int, dict[str, set[int]]] = defaultdict(lambda: defaultdict(set))
        self.block_digest: dict[str, bytes] = {}
        self.proposals: dict[int, dict[str, bytes]] = defaultdict(dict)  # height -> hash -> frame
        self.recorded: list[bytes] = []  # frames an outsider captured, for replay
        self.byz_blocks: set[str] = set()  # blocks a dishonest proposer made that must never complete
        self.progress_log: list[tuple[float, int]] = []
        self.steps = 0
        self.crashes = 0
        self._next_chaos = 0.0
        self._crash_point_used = False
        self._last_height = 0
        self._last_progress = 0.0
        self.settle_to_block: float | None = None
        self.max_gap = 0.0
        self.crash_hits: list[tuple[str, str]] = []  # (last action, next action) at each crash
        self.node_errors = {i: list(codes) for i, codes in self.f.node_errors.items()}
        self.points_hit: dict[int, tuple[str, int]] = {}  # member -> (crash point, height)
        #: crash points are faults too: liveness is measured from when the last one is over
        #: (the member crashed for good, or is back with its node caught up)
        self.quiet_from = 0.0
        # what the safety checks remember, across restarts
        self.decisions: dict[int, tuple[str, int]] = {}  # height -> (block, first decider)
        self.votes_sent: dict[tuple[int, int, int, str], str | None] = {}  # (member, h, r, kind)
        self._checked_out: set[tuple[int, int]] = set()  # (member, frame hash) already checked
        self._last_action: dict[int, A.Action] = {}
        for ms in self.members:
            if ms.index in self.f.byzantine:
                continue
            if ms.index in self.f.permanently_down:
                ms.up = False
                continue
            self._boot(ms)

    # ------------------------------------------------------------------ scheduling

    @property
    def honest(self) -> list[int]:
        return [i for i in range(self.n) if i not in self.f.byzantine]

    @property
    def height(self) -> int:
        if self.f.node_groups is None:
            return len(self.node.chain) - 1
        return max(len(node.chain) - 1 for node in self.nodes)

    def liveness_expected(self) -> bool:
        """Whether M honest members are up for good and share one node and network."""
        stay_down = {i for i, (_, back, _) in self.f.crash_points.items() if back is None}
        up = [i for i in self.honest if i not in self.f.permanently_down | stay_down]
        return (
            len(up) >= self.m and self.f.node_groups is None
            and (self.f.restart_crashed or self.f.crash_member_at is None)
        )

    def _at(self, when: float, member: int, item: Any) -> None:
        self.seq += 1
        heapq.heappush(self.queue, (when, self.seq, member, item))

    def _clock(self, member: int) -> float:
        return self.now + self.skew[member]

    def _faulty(self) -> bool:
        return self.now < self.f.settle_at

    def tip_of(self, member: int) -> tuple[int, str]:
        """The tip as ``member``'s node reports it (behind while it imports after a restart)."""
        node = self.nodes[member]
        lag = self.members[member].lag
        if lag and lag[0] > 0:
            height = max(0, len(node.chain) - 1 - lag[0])
            return height, node.chain[height]
        return node.tip

    def _boot(self, ms: MemberSim) -> None:
        cfg = CoreConfig(me=ms.index, **self.cfg_base)  # type: ignore[arg-type]
        if ms.epoch > 0 and ms.index in self.f.restart_lag:
            ms.lag = list(self.f.restart_lag[ms.index])
        ms.machine = Machine(cfg, SimAuth(ms.index, self.n, cache=self._open_cache), restored=ms.disk)
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
        target = self.f.crash_member_at if not self._crash_point_used else None
        point = self.f.crash_points.get(ms.index) if ms.index not in self.points_hit else None
        for i, action in enumerate(actions):
            if target is not None and target == (ms.index, ms.actions_done):
                self._crash_point_used = True
                crash_at = i
            if point is not None and point[0] in BEFORE_ACTION \
                    and isinstance(action, BEFORE_ACTION[point[0]]) and action.height >= point[2]:
                self.points_hit[ms.index] = (point[0], action.height)
                self._crash(ms, point[1])
                return
            if i == crash_at:
                last = self._last_action.get(ms.index)
                self.crash_hits.append((_describe(last) if last else "start", _describe(action)))
                self._crash(ms)
                return
            ms.actions_done += 1
            self._last_action[ms.index] = action
            self._perform(ms, action)
            if ms.machine is None:
                return
            if point is not None:
                at = _crash_point(action, self.auth)
                if at is not None and at[0] == point[0] and at[1] >= point[2]:
                    self.points_hit[ms.index] = at
                    self._crash(ms, point[1])
                    return

    def _perform(self, ms: MemberSim, action: A.Action) -> None:
        me = ms.index
        node = self.nodes[me]
        if isinstance(action, A.Persist):
            self._check_persist(ms, action.record)
            ms.disk = json.loads(json.dumps(action.record))
        elif isinstance(action, A.Broadcast):
            self._check_outgoing(ms, action.data)
            self._broadcast(me, action.data)
        elif isinstance(action, A.QueryTip):
            def tip() -> E.Event:
                answer = self.tip_of(me)
                if ms.lag:
                    ms.lag.pop(0)
                return E.NodeTip(*answer)
            self._node_reply(ms, tip, "tip", -1)
        elif isinstance(action, A.BuildProposal):
            def build() -> E.Event:
                tip_h, tip = node.tip
                hexblock = make_block(tip_h + 1, tip, self.challenge, salt=self.rng.randrange(1 << 30))
                return E.ProposalBuilt(action.height, action.round, hexblock)
            self._node_reply(ms, build, "build", action.height)
        elif isinstance(action, A.Validate):
            if ms.driver is None:  # the real driver turns the node's answer into an event
                ms.driver = Driver(None, node=SimRPC(self, me), signer=None, messenger=None,  # type: ignore[arg-type]
                                   store=None, clock=lambda: self.now)  # type: ignore[arg-type]
                # the machine spaces out its retries; the driver's own wall-clock pauses
                # between calls would make a schedule depend on the real time
                ms.driver.node_outage.gate = lambda method: None  # type: ignore[method-assign]
            driver = ms.driver

            def validate() -> E.Event:
                driver._validate(action)
                return driver.inbox.get_nowait()  # type: ignore[return-value]
            self._node_reply(ms, validate, "validate", action.height)
        elif isinstance(action, A.Sign):
            self._check_sign_rule(ms, action)
            der = self.auth.block_sig(me, action.digest)
            self.block_digest[action.block_hash] = action.digest
            self._at(self.now + self.rng.uniform(0.0002, 0.002), me,
                     ("event", ms.epoch, E.Signed(action.height, action.block_hash, der)))
        elif isinstance(action, A.Submit):
            self._check_submission(action)
            self.submitters[action.height].append(me)
            ms.lag.clear()  # a node that takes a block is at the tip (it imported the rest)
            self._node_reply(ms, lambda: E.Submitted(action.height, action.block_hash,
                                                     node.submit(action.block_hex)),
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
        copies = 1
        if self.f.filter_own:
            env = self._peek(data)
            if env is not None and env.sender == to:
                return
        if self._faulty():
            if self.partition and self.now < self.partition_until and not any(
                sender in g and to in g for g in self.partition
            ):
                return
            if self.f.drop_kinds:
                env = self._peek(data)
                if env is not None and env.kind in self.f.drop_kinds:
                    return
            if self.f.drop is not None:
                env = self._peek(data)
                if env is not None and self.f.drop(env, to):
                    return
            if self.rng.random() < self.f.loss:
                return
            if self.rng.random() < self.f.duplicate:
                copies = 2
        for _ in range(copies):
            self._at(self.now + self.rng.uniform(*self.f.delay), to, ("msg", data))

    def _peek(self, data: bytes) -> Envelope | None:
        try:
            return self.auth.open(data)
        except DecodeError:
            return None

    def _crash(self, ms: MemberSim, back_after: float | None | str = "random") -> None:
        ms.up = False
        ms.machine = None
        ms.epoch += 1
        self.crashes += 1
        if back_after == "random":
            if self.f.restart_crashed:
                self._at(self.now + self.rng.uniform(*self.f.down_for), ms.index, ("restart", ms.epoch))
            return
        over = self.now
        if back_after is not None:
            self._at(self.now + float(back_after), ms.index, ("restart", ms.epoch))
            lag = len(self.f.restart_lag.get(ms.index, ())) * ROUNDS["tip_poll_interval"]
            over += float(back_after) + lag
        self.quiet_from = max(self.quiet_from, over)

    # ------------------------------------------------------------------ invariants

    def _fail(self, what: str) -> None:
        raise InvariantViolation(f"seed {self.seed}: t={self.now:.3f}: {what}")

    def _check_state(self, ms: MemberSim) -> None:
        """After every step: decisions agree across honest members; a lock on disk is held."""
        m = ms.machine
        if m is None or m.h is None:
            return
        h = m.h
        if h.decided is not None:
            first = self.decisions.setdefault(h.height, (h.decided, ms.index))
            if first[0] != h.decided:
                self._fail(f"m{ms.index} decided {h.decided[:8]} at height {h.height}, "
                           f"m{first[1]} decided {first[0][:8]}")
        saved = (ms.disk or {}).get("height_state") or {}
        lock = saved.get("locked")
        if lock and saved.get("height") == h.height and h.decided is None and (
            h.locked is None or h.locked[1] < lock[1] or (h.locked[1] == lock[1] and h.locked[0] != lock[0])
        ):
            self._fail(f"m{ms.index} dropped its lock {lock[0][:8]}@{lock[1]} at height {h.height}")

    def _check_persist(self, ms: MemberSim, record: dict[str, Any]) -> None:
        """A member's sign-state on disk never goes back and never changes block at a height;
        its height record never goes back, and a lock on disk is kept until its height is
        decided (a block at that height in the chain) or replaced by a later round's lock."""
        self._check_height_record(ms, record.get("height_state") or {})
        new = record.get("sign_state") or {}
        old = (ms.disk or {}).get("sign_state") or {}
        if new.get("height", -1) < old.get("height", -1):
            self._fail(f"m{ms.index} persisted a sign-state below the one on disk")
        if (new.get("height") == old.get("height") and old.get("block_hash") is not None
                and new.get("block_hash") != old.get("block_hash")):
            self._fail(f"m{ms.index} replaced its signed block at height {new.get('height')}")

    def _check_height_record(self, ms: MemberSim, new: dict[str, Any]) -> None:
        old = (ms.disk or {}).get("height_state") or {}
        if not old:
            return
        height, new_height = old.get("height", -1), new.get("height", -1)
        if new_height < height:
            self._fail(f"m{ms.index} persisted height {new_height} over its record of height {height}")
        lock = old.get("locked")
        if not lock:
            return
        if new_height > height:
            if len(self.nodes[ms.index].chain) - 1 < height:
                self._fail(f"m{ms.index} left height {height} undecided with its lock {lock[0][:8]}")
            return
        now = new.get("locked")
        if not now or now[1] < lock[1] or (now[1] == lock[1] and now[0] != lock[0]):
            self._fail(f"m{ms.index} persisted no lock over its lock {lock[0][:8]}@{lock[1]} "
                       f"at height {height}")

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

    def _check_outgoing(self, ms: MemberSim, data: bytes) -> None:
        env = self.auth.open(data)
        first = (ms.index, hash(data)) not in self._checked_out  # gossip repeats frames
        if first:
            self._checked_out.add((ms.index, hash(data)))
        if env.kind == "proposal" and first:
            self._record_proposal(env)
        if first and env.kind != "sig" and env.sender == ms.index:  # not the evidence it forwards
            # an honest member never sends two different votes (or proposals) for one
            # (height, round, kind), restarts included
            value = _frame_value(env)
            key = (ms.index, env.height, env.round, env.kind)
            before = self.votes_sent.setdefault(key, value)
            if before != value:
                self._fail(f"m{ms.index} sent {env.kind} {str(value)[:8]} at height {env.height} "
                           f"round {env.round}, after {str(before)[:8]}")
        if len(self.recorded) < 5000 and self.rng.random() < 0.05:
            self.recorded.append(data)
        if env.kind != "sig":
            return
        disk = (ms.disk or {}).get("sign_state") or {}
        if disk.get("height") != env.height or disk.get("block_hash") != env.payload["hash"]:
            self._fail(f"m{ms.index} sent a SIG whose sign-state is not on disk")
        self._note_sig(env.height, env.payload["hash"], env.sender)

    def _note_sig(self, height: int, block_hash: str, member: int) -> None:
        at = self.sig_store[height]
        at[block_hash].add(member)
        done = sorted(bh for bh, who in at.items() if len(who) >= self.m)
        if len(done) > 1:
            self._fail(f"two blocks completable at height {height}: {done}")

    def _record_proposal(self, env: Envelope) -> None:
        block = env.payload.get("block")
        if isinstance(block, str):
            try:
                header = BlockHeader.read(Reader(bytes.fromhex(block)))
            except (DecodeError, ValueError):
                return
            self.proposals[env.height].setdefault(header.hash_hex(), bytes.fromhex(block))

    def _check_submission(self, action: A.Submit) -> None:
        header = BlockHeader.read(Reader(bytes.fromhex(action.block_hex)))
        if not self.node.proof_ok(header):
            self._fail(f"honest member submitted {action.block_hash[:8]} without M valid signatures")
        if action.block_hash in self.byz_blocks:
            self._fail("a block with an invalid proposal or a forged or short pol was completed")
        self.completed[action.height].add(action.block_hash)
        if len(self.completed[action.height]) > 1:
            self._fail(f"two different blocks completed at height {action.height}")

    # ------------------------------------------------------------------ dishonest members

    def _byzantine_act(self, member: int) -> None:
        behaviour = self.f.byzantine[member]
        node = self.nodes[member]
        tip_h, tip = node.tip
        h = tip_h + 1
        auth = SimAuth(member, self.n, cache=self._open_cache)
        top = max((ms.machine.h.round for ms in self.members
                   if ms.machine is not None and ms.machine.h is not None), default=0)
        for r in range(0, max(6, top + 2)):
            if (h + r) % self.n != member:
                continue
            if behaviour == "equivocate":
                for to in range(self.n):
                    if to != member:
                        block = make_block(h, tip, self.challenge, salt=to + 1000 * r)
                        self._send(member, to, auth.seal(h, r, "proposal", {"block": block, "vr": -1, "pol": []}))
            elif behaviour == "invalid":
                choice = self.rng.choice(["parent", "merkle", "challenge", "height", "undecodable"])
                if choice == "parent":
                    block = make_block(h, "11" * 32, self.challenge, salt=1)
                elif choice == "merkle":
                    block = make_block(h, tip, self.challenge, salt=2, bad_merkle=True)
                elif choice == "height":
                    block = make_block(h + 1, tip, self.challenge, salt=4)
                elif choice == "undecodable":
                    block = "00ff" * 10
                else:
                    block = make_block(h, tip, make_challenge(1, 1), salt=3)
                self._broadcast(member, auth.seal(h, r, "proposal", {"block": block, "vr": -1, "pol": []}))
                self._note_byz_block(block)
            elif behaviour in ("short-pol", "forged-pol") and r > 0:
                block = make_block(h, tip, self.challenge, salt=9 + r)
                pol: list[str] = []
                if behaviour == "short-pol":  # fewer than M genuine prevotes, or none
                    pol = [f.hex() for f in self._genuine_prevotes(h, r - 1)][: self.m - 1]
                else:  # prevotes "from" honest members under a key that is not theirs
                    bad = SimAuth(member, self.n, secret_seed=999)
                    block_hash = BlockHeader.read(Reader(bytes.fromhex(block))).hash_hex()
                    pol = [bad.seal_as(i, h, r - 1, "prevote", {"hash": block_hash}).hex()
                           for i in range(self.n) if i != member]
                self._broadcast(member, auth.seal(h, r, "proposal", {"block": block, "vr": r - 1, "pol": pol}))
                self._note_byz_block(block)
        if behaviour == "double-vote":
            self._double_vote(member, auth, h, top)
        # garbage and stolen signatures, votes for unknown blocks
        self._broadcast(member, auth.seal(h, 0, "sig", {"hash": tip, "sig": "30" + "ab" * 32}))
        self._broadcast(member, auth.seal(h, 0, "sig", {"hash": tip, "sig": "zz"}))
        victim = (member + 1) % self.n
        for bh in list(self.sig_store.get(h, {})):
            if bh in self.block_digest:
                stolen = self.auth.block_sig(victim, self.block_digest[bh])
                self._broadcast(member, auth.seal(h, 0, "sig", {"hash": bh, "sig": stolen.hex()}))
        self._broadcast(member, auth.seal(h, self.rng.randrange(3), "prevote", {"hash": "ab" * 32}))
        self._broadcast(member, auth.seal(h, 0, "precommit", {"hash": self.rng.choice([None, "cd" * 32])}))

    def _note_byz_block(self, block_hex: str) -> None:
        with contextlib.suppress(DecodeError, ValueError):
            self.byz_blocks.add(BlockHeader.read(Reader(bytes.fromhex(block_hex))).hash_hex())

    def _genuine_prevotes(self, height: int, round: int) -> list[bytes]:
        out = []
        for ms in self.members:
            m = ms.machine
            if m is not None and m.h is not None and m.h.height == height:
                frame = m.h.sent_frames.get((round, "prevote"))
                if frame is not None:
                    out.append(frame)
        return out

    def _double_vote(self, member: int, auth: SimAuth, h: int, top: int) -> None:
        """Vote for every known block at once (a different one to each peer) and sign them all."""
        blocks = list(self.proposals.get(h, {}).items())
        if not blocks:
            return
        for r in range(max(0, top - 1), top + 1):
            for kind in ("prevote", "precommit"):
                for to in range(self.n):
                    if to == member:
                        continue
                    block_hash, _ = blocks[(to + r + self.rng.randrange(2)) % len(blocks)]
                    self._send(member, to, auth.seal(h, r, kind, {"hash": block_hash}))
        for block_hash, raw in blocks:
            header = BlockHeader.read(Reader(raw))
            der = self.auth.block_sig(member, header.digest())
            self.block_digest.setdefault(block_hash, header.digest())
            self._note_sig(h, block_hash, member)
            self._broadcast(member, auth.seal(h, 0, "sig", {"hash": block_hash, "sig": der.hex()}))

    def _forge(self) -> None:
        h = self.height + 1
        fake = SimAuth(0, self.n, secret_seed=999)
        frame = fake.seal_as(self.rng.randrange(self.n), h, 0, "precommit", {"hash": "ee" * 32},
                             secret=b"not-a-member")
        self._broadcast(-1, frame)
        outsider = fake.seal_as(self.n + self.rng.randrange(3), h, 0, "prevote", {"hash": "ee" * 32},
                                secret=b"not-a-member")
        self._broadcast(-1, outsider)
        self._broadcast(-1, b"garbage" + bytes(self.rng.randrange(256) for _ in range(20)))

    def _replay(self) -> None:
        for _ in range(min(4, len(self.recorded))):
            self._broadcast(-1, self.rng.choice(self.recorded))

    # ------------------------------------------------------------------ main loop

    def run(self, until: float, liveness_bound: float | None = None) -> Outcome:
        """Run to simulated time ``until`` (again later to continue: the run is resumable).

        With ``liveness_bound`` (and when :meth:`liveness_expected`), the chain must grow
        at least every ``liveness_bound`` seconds after the faults stop.
        """
        check_live = liveness_bound is not None and self.liveness_expected()
        settle = self.f.settle_at
        while self.queue and self.queue[0][0] < until:
            when, _, member, item = heapq.heappop(self.queue)
            self.now = max(self.now, when)
            self.steps += 1
            if self.now >= self._next_chaos:
                self._next_chaos = self.now + 0.05
                self._chaos()
            self._handle(member, item)
            height = self.height
            if height > self._last_height:
                if self.now >= settle:
                    gap = self.now - max(self._last_progress, settle, self.quiet_from)
                    self.max_gap = max(self.max_gap, gap)
                    if self.settle_to_block is None:
                        self.settle_to_block = gap
                self._last_height, self._last_progress = height, self.now
                self.progress_log.append((self.now, height))
            if check_live and self.now > settle:
                since = max(self._last_progress, settle, self.quiet_from)
                assert liveness_bound is not None
                if self.now - since > liveness_bound:
                    self._fail(
                        f"no progress for {self.now - since:.1f}s after the network settled "
                        f"(height {height})"
                    )
        self.now = max(self.now, until)
        if check_live and self.now >= settle:
            self.max_gap = max(self.max_gap, self.now - max(self._last_progress, settle, self.quiet_from))
            if liveness_bound is not None and self.max_gap > liveness_bound:
                self._fail(f"no progress for {self.max_gap:.1f}s after the network settled")
        return self.outcome()

    def outcome(self) -> Outcome:
        dropped: dict[str, int] = defaultdict(int)
        rounds_max = 0
        for ms in self.members:
            if ms.machine is not None:
                for k, v in ms.machine.counters.items():
                    if k.kind is Kind.DROPPED:
                        dropped[k.reason] += v
                if ms.machine.h is not None:
                    rounds_max = max(rounds_max, ms.machine.h.round)
        return Outcome(self.seed, self.height, self.steps, self.crashes, self.settle_to_block,
                       self.max_gap, rounds_max, dict(dropped))

    def _chaos(self) -> None:
        if not self._faulty():
            self.partition = None
            for ms in self.members:
                if (not ms.up and ms.index not in self.f.permanently_down
                        and ms.index not in self.f.byzantine and ms.machine is None
                        and self.f.restart_crashed and not self._stays_down(ms.index)):
                    self._boot(ms)
        else:
            if (self.f.partition_rate and self.now >= self.partition_until
                    and self.rng.random() < self.f.partition_rate * 0.05):
                nodes = list(range(self.n))
                self.rng.shuffle(nodes)
                cut = self.rng.randrange(1, self.n)
                self.partition = [set(nodes[:cut]), set(nodes[cut:])]
                self.partition_until = self.now + self.rng.uniform(*self.f.partition_for)
            if self.f.crash_rate:
                for ms in self.members:
                    if ms.up and ms.machine is not None and self.rng.random() < self.f.crash_rate * 0.05:
                        self._crash(ms)
        # dishonest members and outsiders never settle
        if self.f.byzantine and self.rng.random() < 0.3:
            for b in self.f.byzantine:
                self._byzantine_act(b)
        if self.f.forger and self.rng.random() < 0.2:
            self._forge()
        if self.f.replay and self.rng.random() < 0.3:
            self._replay()

    def _stays_down(self, member: int) -> bool:
        """Crashed at its crash point: it stays down, or comes back when that point says."""
        return member in self.points_hit

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
        elif kind == "call" and item[1] == ms.epoch:
            self._feed(ms, item[2]())

    def _feed(self, ms: MemberSim, event: E.Event) -> None:
        assert ms.machine is not None
        actions = ms.machine.handle(event, self._clock(ms.index))
        self._run_actions(ms, actions)
        self._schedule_tick(ms)
        self._check_state(ms)


def _frame_value(env: Envelope) -> str | None:
    """What a vote is for; for a proposal, its block's hash (or its raw text if undecodable)."""
    if env.kind != "proposal":
        return env.payload.get("hash")
    block = env.payload.get("block")
    try:
        return BlockHeader.read(Reader(bytes.fromhex(block))).hash_hex()
    except (DecodeError, ValueError, TypeError):
        return str(block)


def _crash_point(action: A.Action, auth: SimAuth) -> tuple[str, int] | None:
    """The crash point (CRASH_POINTS) just passed by performing ``action``, with its height."""
    if isinstance(action, A.Broadcast):
        env = auth.open(action.data)
        point = {"proposal": "proposed", "prevote": "prevoted", "precommit": "precommitted",
                 "sig": "signed"}.get(env.kind)
        return (point, env.height) if point else None
    if isinstance(action, A.Persist):
        hs = action.record.get("height_state") or {}
        if hs.get("decided"):
            return "decided", int(hs.get("height", -1))
    return None


def _describe(action: A.Action) -> str:
    """A short name for an action, for crash coverage: ``Persist``, ``Broadcast:sig``…"""
    name = type(action).__name__
    if isinstance(action, A.Broadcast):
        try:
            kind = json.loads(action.data[16:]).get("kind")
        except ValueError:
            kind = "?"
        return f"{name}:{kind}"
    if isinstance(action, A.Persist):
        ss = action.record.get("sign_state") or {}
        return f"{name}:signed@{ss.get('height')}"
    return name
