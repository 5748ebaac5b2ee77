"""The per-member consensus state machine: decide a block per height, then sign it.

Sans-I/O: :meth:`Machine.handle` takes an event and the current time and returns the
actions to perform, in order. It never reads a clock, a socket or a disk. The protocol is
Tendermint's (quorum = the federation's threshold M) followed by one signing step, as the
README's "How a height is decided" section explains:

propose → prevote → precommit → (M precommits) decide → persist sign-state → sign → SIG
→ (M SIGs) combine → submit → next height.
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from oceanfed.consensus import actions as A
from oceanfed.consensus import events as E
from oceanfed.consensus.auth import Authenticator
from oceanfed.consensus.blocks import BlockInfo, complete, describe
from oceanfed.errors import DecodeError
from oceanfed.wire import Envelope

log = logging.getLogger(__name__)

NIL = None
PROPOSE, PREVOTE, PRECOMMIT = "propose", "prevote", "precommit"
#: frames of future heights kept per peer while catching up, in number and in bytes
FUTURE_FRAMES_PER_PEER = 256
FUTURE_BYTES_PER_PEER = 16 * 1024 * 1024
#: proposals are taken for rounds up to this many above the current one (see docs/security.md)
PROPOSAL_ROUND_WINDOW = 2
#: votes are stored for rounds up to this many above the current one; beyond, only the
#: sender's round is noted (for the round skip) and gossip brings the vote again later
VOTE_ROUND_WINDOW = 2
#: distinct values kept per sender for one (kind, round): its vote and one conflicting one
VOTE_VALUES_PER_SENDER = 2
#: how many processed frames we remember, to skip gossip repeats cheaply
SEEN_FRAMES = 8192
#: how many accepted blocks :meth:`Machine.status` lists
RECENT_BLOCKS = 64
#: delay before retrying a failed node call or signature
RETRY_DELAY = 0.5
#: a failed validation (node warming up, unreachable…) is retried after RETRY_DELAY, doubling
#: per consecutive failure up to this
VALIDATE_RETRY_MAX = 2.0


@dataclass(frozen=True)
class CoreConfig:
    """What the machine needs from the config."""

    me: int
    names: list[str]
    threshold: int
    challenge: bytes
    block_time: float = 60.0
    propose_timeout: float = 2.0
    prevote_timeout: float = 1.0
    precommit_timeout: float = 1.0
    timeout_step: float = 0.5
    gossip_interval: float = 0.5
    tip_poll_interval: float = 0.5

    @property
    def n(self) -> int:
        return len(self.names)


@dataclass
class HeightState:
    """Everything about the height being decided. Durable parts are in :meth:`record`."""

    height: int
    parent: str
    ready_at: float
    round: int = 0
    step: str = PROPOSE
    locked: tuple[str, int] | None = None
    valid: tuple[str, int] | None = None
    decided: str | None = None
    #: our votes: (round, kind) -> value; persisted so that we never vote twice differently
    sent: dict[tuple[int, str], str | None] = field(default_factory=dict)
    sent_frames: dict[tuple[int, str], bytes] = field(default_factory=dict)
    blocks: dict[str, BlockInfo] = field(default_factory=dict)
    #: what the proposer attached to each block (plugins' extras), first valid sighting wins
    extras: dict[str, dict[str, Any]] = field(default_factory=dict)
    extra_sigs: dict[str, dict[int, dict[str, Any]]] = field(default_factory=dict)
    pending_extra_sigs: dict[str, dict[int, dict[str, Any]]] = field(default_factory=dict)
    validity: dict[str, str | None] = field(default_factory=dict)  # hash -> None ok / reason
    validating: set[str] = field(default_factory=set)
    #: consecutive failed validations (not verdicts) and when to retry them
    validate_failures: int = 0
    validate_retry_at: float | None = None
    #: our own proposals: round -> (hash, valid_round); persisted before they are broadcast
    proposed: dict[int, tuple[str, int]] = field(default_factory=dict)
    #: round -> first proposal's (hash, valid_round); all proposal frames by hash
    proposal: dict[int, tuple[str, int]] = field(default_factory=dict)
    proposal_frames: dict[str, bytes] = field(default_factory=dict)
    prevotes: dict[int, dict[int, tuple[str | None, bytes]]] = field(default_factory=dict)
    precommits: dict[int, dict[int, tuple[str | None, bytes]]] = field(default_factory=dict)
    #: the highest round each peer has sent a message for
    peer_round: dict[int, int] = field(default_factory=dict)
    polka_seen: set[int] = field(default_factory=set)
    #: every distinct signed vote, a second one from an equivocating member too, so that
    #: forwarded evidence counts: (kind, round) -> value -> sender -> frame
    support: dict[tuple[str, int], dict[str | None, dict[int, bytes]]] = field(default_factory=dict)
    sigs: dict[str, dict[int, bytes]] = field(default_factory=dict)
    unverified_sigs: dict[str, dict[int, bytes]] = field(default_factory=dict)
    sig_frame: bytes | None = None
    signing: bool = False
    submitted: dict[str, float] = field(default_factory=dict)
    building: bool = False
    propose_deadline: float | None = None
    prevote_deadline: float | None = None
    precommit_deadline: float | None = None
    #: last resort: a round that makes no progress at all ends after this
    round_deadline: float | None = None
    retry_at: float | None = None
    started_at: float = 0.0
    #: when each block was first seen here (proposed or received): latency is measured from it
    first_seen: dict[str, float] = field(default_factory=dict)
    #: the block interval used for this height (shorter while catching up)
    interval: float = 0.0
    #: when each step of this height first happened (reported with the block, in ms)
    marks: dict[str, float] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        own = self.proposed[max(self.proposed)][0] if self.proposed else None
        keep = {h for h in (self.locked and self.locked[0], self.valid and self.valid[0], self.decided, own)
                if h}
        return {
            "height": self.height,
            "parent": self.parent,
            "round": self.round,
            "locked": list(self.locked) if self.locked else None,
            "valid": list(self.valid) if self.valid else None,
            "decided": self.decided,
            "blocks": {h: self.blocks[h].block_hex for h in keep if h in self.blocks},
            "extras": {h: self.extras[h] for h in keep if self.extras.get(h)},
            "sent": [[r, k, v] for (r, k), v in sorted(self.sent.items())],
            "proposed": [[r, bh, vr] for r, (bh, vr) in sorted(self.proposed.items())],
            "evidence": [f.hex() for f in self.evidence()],
            "proposals": {h: self.proposal_frames[h].hex() for h in keep if h in self.proposal_frames},
        }

    def evidence(self) -> list[bytes]:
        """Signed votes a restart must not lose: the valid block's pol, the decision's precommits."""
        frames: list[bytes] = []
        if self.valid:
            frames.extend(self.support.get((PREVOTE, self.valid[1]), {}).get(self.valid[0], {}).values())
        if self.decided:
            for (kind, _rnd), by_value in self.support.items():
                if kind == PRECOMMIT:
                    frames.extend(by_value.get(self.decided, {}).values())
        return frames


@dataclass
class SignState:
    """The irrevocable rule: never sign below ``height``, never sign two blocks at it."""

    height: int = -1
    block_hash: str | None = None
    parent: str | None = None

    def allows(self, height: int, block_hash: str) -> bool:
        if height < self.height:
            return False
        return not (height == self.height and block_hash != self.block_hash)


class Machine:
    """One member's consensus state machine."""

    def __init__(self, cfg: CoreConfig, auth: Authenticator, restored: dict[str, Any] | None = None):
        self.cfg = cfg
        self.auth = auth
        self.counters: Counter[str] = Counter()
        self.h: HeightState | None = None
        self.sign_state = SignState()
        self.tip: tuple[int, str] | None = None
        self.anchor_time: int | None = None
        self._restored_height: dict[str, Any] | None = None
        if restored:
            ss = restored.get("sign_state") or {}
            self.sign_state = SignState(
                int(ss.get("height", -1)), ss.get("block_hash"), ss.get("parent")
            )
            self._restored_height = restored.get("height_state")
        self._future: list[Envelope] = []
        #: per peer: (frames, bytes) held in ``_future``
        self._future_load: dict[int, tuple[int, int]] = {}
        #: the restored height this member must not act below (its node is still importing)
        self._waiting_logged = False
        self._now = 0.0
        self._out: list[A.Action] = []
        self._querying_tip = False
        self._next_tip_poll = 0.0
        self._next_gossip = 0.0
        self.last_block: dict[str, Any] | None = None
        #: the blocks this member saw accepted most recently (for status and benchmarks)
        self.recent_blocks: deque[dict[str, Any]] = deque(maxlen=RECENT_BLOCKS)
        #: hashes of frames already processed (gossip repeats them); bounded
        self._seen_frames: set[int] = set()
        #: when we last heard from each peer (authenticated)
        self.peer_seen: dict[int, float] = {}

    # ------------------------------------------------------------------ public API

    def handle(self, event: E.Event, now: float) -> list[A.Action]:
        """Feed one event at time ``now``; return the actions to perform in order."""
        self._now = now
        self._out = []
        if isinstance(event, E.Tick):
            self._on_tick()
        elif isinstance(event, E.Received):
            self._on_received(event.data)
        elif isinstance(event, E.NodeTip):
            self._on_tip(event)
        elif isinstance(event, E.NodeFailed):
            self._on_node_failed(event)
        elif isinstance(event, E.ProposalBuilt):
            self._on_built(event)
        elif isinstance(event, E.Validated):
            self._on_validated(event)
        elif isinstance(event, E.Signed):
            self._on_signed(event)
        elif isinstance(event, E.Submitted):
            self._on_submitted(event)
        self._progress()
        return self._out

    def start(self, now: float) -> list[A.Action]:
        """The first actions after construction: find our node's tip."""
        self._now = now
        self._out = []
        self._query_tip()
        return self._out

    def next_deadline(self) -> float:
        """The earliest time at which a Tick has something to do."""
        times = [self._next_tip_poll]
        h = self.h
        if h is not None and not self._waiting():
            times.append(self._next_gossip)
            if h.retry_at is not None:
                times.append(h.retry_at)
            if h.validate_retry_at is not None:
                times.append(h.validate_retry_at)
            if h.decided is None:
                if h.step == PROPOSE and h.propose_deadline is not None:
                    times.append(h.propose_deadline)
                if h.step == PREVOTE and h.prevote_deadline is not None:
                    times.append(h.prevote_deadline)
                if h.precommit_deadline is not None:
                    times.append(h.precommit_deadline)
                if h.round_deadline is not None:
                    times.append(h.round_deadline)
            if (
                h.round == 0
                and h.step == PROPOSE
                and not h.building
                and 0 not in h.proposal
                and self._am_proposer(0)
            ):
                times.append(h.ready_at)
        return min(times)

    def proposer(self, height: int, round: int) -> int:
        """Index of the member that proposes at (height, round)."""
        return (height + round) % self.cfg.n

    def status(self) -> dict[str, Any]:
        h = self.h
        return {
            "tip": {"height": self.tip[0], "hash": self.tip[1]} if self.tip else None,
            "height": h.height if h else None,
            "round": h.round if h else None,
            "step": h.step if h else None,
            "locked": h.locked if h else None,
            "decided": h.decided if h else None,
            "sign_state": {
                "height": self.sign_state.height,
                "block_hash": self.sign_state.block_hash,
            },
            "last_block": self.last_block,
            "recent_blocks": list(self.recent_blocks),
            "peers_seen": {self.cfg.names[i]: t for i, t in sorted(self.peer_seen.items())},
            "counters": dict(self.counters),
        }

    # ------------------------------------------------------------------ helpers

    def _emit(self, action: A.Action) -> None:
        self._out.append(action)

    def _log(self, level: str, message: str, **fields: Any) -> None:
        self._emit(A.Log(level, message, fields))

    def _notify(self, hook: str, **kwargs: Any) -> None:
        self._emit(A.Notify(hook, kwargs))

    def _am_proposer(self, round: int) -> bool:
        return self.h is not None and self.proposer(self.h.height, round) == self.cfg.me

    def _timeout(self, base: float, round: int) -> float:
        return base + round * self.cfg.timeout_step

    def _persist(self) -> None:
        assert self.h is not None
        self._emit(
            A.Persist(
                {
                    "sign_state": {
                        "height": self.sign_state.height,
                        "block_hash": self.sign_state.block_hash,
                        "parent": self.sign_state.parent,
                    },
                    # while the node catches up, the saved height's record stays on disk
                    "height_state": (self._restored_height if self._restored_height is not None
                                     else self.h.record()),
                }
            )
        )

    def _query_tip(self) -> None:
        if not self._querying_tip:
            self._querying_tip = True
            self._emit(A.QueryTip())
        self._next_tip_poll = self._now + self.cfg.tip_poll_interval

    # ------------------------------------------------------------------ heights and rounds

    def _on_tip(self, ev: E.NodeTip) -> None:
        self._querying_tip = False
        if ev.anchor_time is not None:
            self.anchor_time = ev.anchor_time
        if self.tip is not None and ev.height < self.tip[0]:
            self._log("warning", f"node tip went back from {self.tip[0]} to {ev.height}; ignored")
            return
        self.tip = (ev.height, ev.block_hash)
        h = self.h
        if h is None or ev.height >= h.height:
            self._start_height(ev.height + 1, ev.block_hash)
        elif ev.height == h.height - 1 and ev.block_hash != h.parent:
            self._log("warning", f"node tip changed under height {h.height}; restarting it")
            self._start_height(ev.height + 1, ev.block_hash)

    def _interval(self, height: int) -> float:
        bt = self.cfg.block_time
        if bt <= 0:
            return 0.0
        if self.anchor_time is not None and height > 2:
            expected_tip = 1 + int((self._now - self.anchor_time) // bt)
            if height - 1 < expected_tip - 1:
                return bt / 2  # behind schedule: catch up, as the upstream tool does
        return bt

    def _start_height(self, height: int, parent: str) -> None:
        interval = self._interval(height)
        h = HeightState(height=height, parent=parent, ready_at=self._now + interval)
        h.interval = interval
        if 0 < interval < self.cfg.block_time:
            self.counters["catch_up_heights"] += 1
        h.started_at = self._now
        self.h = h
        r = self._restored_height
        if r:
            saved = r.get("height")
            if not isinstance(saved, int) or height > saved:
                # the node has a block at the saved height: it was decided; nothing to keep
                self._restored_height = None
            elif height == saved:
                self._restored_height = None
                if r.get("parent") == parent:
                    self._restore(h, r)
                    self._log("info", f"height {height}: resumed at round {h.round} from saved state")
                else:
                    self._log("warning", f"height {height}: saved state is for another parent; dropped")
            elif not self._waiting_logged:
                # the node is still importing: keep the saved votes and lock until it gets there
                self._waiting_logged = True
                self._log("info", f"node tip {height - 1} is behind the saved height {saved}; "
                          "waiting for it before voting")
        # a restarted height (e.g. the node's tip changed under it) must see its frames again
        self._seen_frames.clear()
        future, self._future = self._future, []
        self._future_load = {}
        if self._waiting():
            self.counters["heights_waited"] += 1
        else:
            self._start_round(h.round)
        for env in future:
            if env.height == height:
                self._dispatch(env)
            elif env.height > height:
                self._buffer_future(env)

    def _waiting(self) -> bool:
        """Whether the current height is below one this member already acted on.

        After a restart while the node is still importing, the saved height's record is kept
        and nothing is proposed, voted or signed below it (or below the signed height): this
        member may have voted there before, and the record of those votes is gone.
        """
        h = self.h
        if h is None:
            return True
        if self._restored_height is None:
            return h.height < self.sign_state.height
        saved = self._restored_height.get("height")
        floor = max(self.sign_state.height, saved if isinstance(saved, int) else -1)
        return h.height < floor

    def _buffer_future(self, env: Envelope) -> bool:
        """Keep a frame of a later height, within the per-peer bounds; False if dropped."""
        frames, size = self._future_load.get(env.sender, (0, 0))
        if frames >= FUTURE_FRAMES_PER_PEER or size + len(env.raw) > FUTURE_BYTES_PER_PEER:
            self.counters["dropped:future-full"] += 1
            return False
        self._future_load[env.sender] = (frames + 1, size + len(env.raw))
        self._future.append(env)
        return True

    def _restore(self, h: HeightState, r: dict[str, Any]) -> None:
        for block_hash, block_hex in (r.get("blocks") or {}).items():
            try:
                info = describe(block_hex)
            except DecodeError:
                continue
            if info.block_hash == block_hash:
                h.blocks[block_hash] = info
        h.extras.update(r.get("extras") or {})
        h.round = int(r.get("round", 0))
        if r.get("locked"):
            h.locked = (r["locked"][0], int(r["locked"][1]))
        if r.get("valid"):
            h.valid = (r["valid"][0], int(r["valid"][1]))
        h.decided = r.get("decided")
        for rnd, kind, value in r.get("sent") or []:
            h.sent[(int(rnd), kind)] = value
        for rnd, block_hash, vr in r.get("proposed") or []:
            h.proposed[int(rnd)] = (block_hash, int(vr))
        # our own votes and the evidence we held count again after a restart
        for (rnd, kind), value in h.sent.items():
            frame = self.auth.seal(h.height, rnd, kind, {"hash": value})
            store = h.prevotes if kind == PREVOTE else h.precommits
            store.setdefault(rnd, {}).setdefault(self.cfg.me, (value, frame))
            h.support.setdefault((kind, rnd), {}).setdefault(value, {}).setdefault(self.cfg.me, frame)
        for block_hash, raw in (r.get("proposals") or {}).items():
            if block_hash in h.blocks and isinstance(raw, str):
                h.proposal_frames[block_hash] = bytes.fromhex(raw)
        for raw in r.get("evidence") or []:
            try:
                env = self.auth.open(bytes.fromhex(raw))
            except (DecodeError, ValueError, TypeError):
                continue
            if env.height == h.height and env.kind in (PREVOTE, PRECOMMIT):
                self._record_vote(env)

    def _start_round(self, round: int) -> None:
        h = self.h
        assert h is not None
        h.round = round
        h.step = PROPOSE
        h.prevote_deadline = None
        h.precommit_deadline = None
        h.building = False
        start = max(self._now, h.ready_at) if round == 0 else self._now
        h.propose_deadline = start + self._timeout(self.cfg.propose_timeout, round)
        h.round_deadline = h.propose_deadline + 2 * (
            self._timeout(self.cfg.propose_timeout, round)
            + self._timeout(self.cfg.prevote_timeout, round)
            + self._timeout(self.cfg.precommit_timeout, round)
        )
        # votes already sent in this round (after a restart) fix our step
        if (round, PRECOMMIT) in h.sent:
            h.step = PRECOMMIT
        elif (round, PREVOTE) in h.sent:
            h.step = PREVOTE
        for kind in (PREVOTE, PRECOMMIT):
            if (round, kind) in h.sent and (round, kind) not in h.sent_frames:
                self._send_vote(kind, h.sent[(round, kind)], already_recorded=True)
        if self._am_proposer(round) and h.step == PROPOSE:
            if round in h.proposed:
                # proposed before a restart: the same block again, never another one
                block_hash, vr = h.proposed[round]
                if block_hash in h.blocks:
                    self._propose(h.blocks[block_hash], vr)
            elif h.valid is not None and h.valid[0] in h.blocks:
                self._propose(h.blocks[h.valid[0]], h.valid[1])
            elif round > 0 or self._now >= h.ready_at:
                self._build()

    def _build(self) -> None:
        h = self.h
        assert h is not None
        if not h.building:
            h.building = True
            self._emit(A.BuildProposal(h.height, h.round))

    def _propose(self, info: BlockInfo, valid_round: int, extras: dict[str, Any] | None = None) -> None:
        h = self.h
        assert h is not None
        own = h.proposed.get(h.round)
        if own is not None and own[0] != info.block_hash:
            self.counters["proposal_withheld:already-proposed"] += 1
            return
        if extras is not None:
            h.extras.setdefault(info.block_hash, extras)
        extras = h.extras.get(info.block_hash, {})
        pol: list[str] = []
        if valid_round >= 0:
            votes = h.support.get((PREVOTE, valid_round), {}).get(info.block_hash, {})
            pol = [frame.hex() for frame in votes.values()]
        frame = self.auth.seal(
            h.height, h.round, "proposal",
            {"block": info.block_hex, "vr": valid_round, "pol": pol, "x": extras},
        )
        h.blocks[info.block_hash] = info
        h.first_seen.setdefault(info.block_hash, self._now)
        h.proposal.setdefault(h.round, (info.block_hash, valid_round))
        h.proposal_frames[info.block_hash] = frame
        h.validity.setdefault(info.block_hash, None)
        if own is None:
            # persisted before it leaves: after a restart we propose this block again, no other
            h.proposed[h.round] = (info.block_hash, valid_round)
            self._persist()
        self._emit(A.Broadcast(frame))
        self._log("debug", f"height {h.height} round {h.round}: proposed {info.block_hash}",
                  block=info.block_hash)

    # ------------------------------------------------------------------ node answers

    def _on_built(self, ev: E.ProposalBuilt) -> None:
        h = self.h
        if h is None or ev.height != h.height:
            return
        h.building = False
        if (ev.round != h.round or h.step != PROPOSE or not self._am_proposer(h.round)
                or h.round in h.proposed or self._waiting()):
            return
        try:
            info = describe(ev.block_hex)
        except DecodeError as exc:
            self._log("error", f"node's getnewblockhex gave an undecodable block: {exc}")
            h.retry_at = self._now + RETRY_DELAY
            return
        reason = self._structural_reason(info)
        if reason is not None:
            self._log("warning", f"node proposed a block we cannot use ({reason}); re-reading tip")
            self._query_tip()
            return
        self._propose(info, -1, dict(ev.extras))

    def _structural_reason(self, info: BlockInfo) -> str | None:
        h = self.h
        assert h is not None
        if info.height != h.height:
            return "bad-height"
        if info.parent != h.parent:
            return "bad-parent"
        if info.challenge != self.cfg.challenge:
            return "bad-challenge"
        return None

    def _on_validated(self, ev: E.Validated) -> None:
        h = self.h
        if h is None or ev.height != h.height:
            return
        h.validating.discard(ev.block_hash)
        h.validity[ev.block_hash] = ev.reason
        h.validate_failures = 0
        h.marks.setdefault("validated", self._now)
        if ev.reason is not None:
            self.counters[f"proposal_rejected:{ev.reason}"] += 1

    def _on_node_failed(self, ev: E.NodeFailed) -> None:
        self.counters[f"node_failed:{ev.what}"] += 1
        h = self.h
        if ev.what == "tip":
            self._querying_tip = False
            return
        if h is None or ev.height != h.height:
            return
        if ev.what == "build":
            h.building = False
            h.retry_at = self._now + RETRY_DELAY
        elif ev.what == "validate":
            # not a verdict on the block: ask again later, backing off while the node is unwell
            h.validating.clear()
            h.validate_failures += 1
            delay = min(RETRY_DELAY * 2 ** min(h.validate_failures - 1, 16), VALIDATE_RETRY_MAX)
            h.validate_retry_at = self._now + delay
        elif ev.what == "submit":
            h.submitted.clear()
            h.retry_at = self._now + RETRY_DELAY

    def _on_signed(self, ev: E.Signed) -> None:
        h = self.h
        if h is None or ev.height != h.height or ev.block_hash != h.decided:
            return
        h.signing = False
        info = h.blocks.get(ev.block_hash)
        if ev.der is None or info is None:
            self.counters["sign_failed"] += 1
            self._log("error", f"height {h.height}: signer failed: {ev.error}")
            h.retry_at = self._now + RETRY_DELAY
            return
        if not self.auth.verify_block_sig(self.cfg.me, info.digest, ev.der):
            self.counters["sign_invalid"] += 1
            self._log("error", f"height {h.height}: signer returned a signature that does not verify; not sent")
            h.retry_at = self._now + RETRY_DELAY
            return
        h.sigs.setdefault(ev.block_hash, {})[self.cfg.me] = ev.der
        if ev.extra_sigs:
            h.extra_sigs.setdefault(ev.block_hash, {})[self.cfg.me] = dict(ev.extra_sigs)
        h.marks.setdefault("signed", self._now)
        payload: dict[str, Any] = {"hash": ev.block_hash, "sig": ev.der.hex()}
        if ev.extra_sigs:
            payload["x"] = ev.extra_sigs
        h.sig_frame = self.auth.seal(h.height, h.round, "sig", payload)
        self.counters["signatures_made"] += 1
        self._emit(A.Broadcast(h.sig_frame))

    def _on_submitted(self, ev: E.Submitted) -> None:
        h = self.h
        if h is None or ev.height != h.height:
            return
        result = "accepted" if ev.result in (None, "duplicate") else ev.result
        self._notify("block_submitted", height=ev.height, block_hash=ev.block_hash, result=result)
        if result == "accepted":
            info = h.blocks.get(ev.block_hash)
            seen = h.first_seen.get(ev.block_hash, h.started_at)
            self.last_block = {
                "height": ev.height,
                "hash": ev.block_hash,
                "round": h.round,
                "proposer": self.cfg.names[self.proposer(h.height, h.round)],
                "signers": sorted(self.cfg.names[i] for i in h.sigs.get(ev.block_hash, {})),
                "latency": self._now - seen,
                "interval": h.interval,
                "phases_ms": {
                    k: round((t - seen) * 1000, 2)
                    for k, t in sorted(h.marks.items(), key=lambda kv: kv[1])
                },
            }
            self.recent_blocks.append(self.last_block)
            self.counters["blocks_submitted"] += 1
            self.tip = (ev.height, ev.block_hash)
            if info is not None:
                self._start_height(ev.height + 1, ev.block_hash)
        else:
            self.counters[f"submit_rejected:{result}"] += 1
            self._log("warning", f"height {h.height}: node refused block {ev.block_hash}: {result}",
                      block=ev.block_hash)
            self._query_tip()

    # ------------------------------------------------------------------ peer messages

    def _on_received(self, data: bytes) -> None:
        key = hash(data)
        if key in self._seen_frames:
            self.counters["dropped:duplicate"] += 1
            return
        try:
            env = self.auth.open(data)
        except DecodeError as exc:
            self.counters[f"dropped:{exc}"] += 1
            return
        # our own frames come back when peers gossip them (after a restart they are how we
        # learn what we proposed, voted and signed); they go through the same rules
        if len(self._seen_frames) >= SEEN_FRAMES:
            self._seen_frames.clear()
        self._seen_frames.add(key)
        if env.sender != self.cfg.me:
            self.peer_seen[env.sender] = self._now
        h = self.h
        if h is None or env.height > h.height:
            if not self._buffer_future(env):
                self._seen_frames.discard(key)  # not kept: let a repeat in
            if h is not None and self._now + 0.05 < self._next_tip_poll:
                # someone is ahead of us: look at our node's tip soon
                self._next_tip_poll = self._now + 0.05
            return
        if env.height < h.height:
            self.counters["dropped:stale"] += 1
            return
        if not self._dispatch(env):
            self._seen_frames.discard(key)  # not kept for now: a later repeat may be

    def _dispatch(self, env: Envelope) -> bool:
        """Handle a frame of the current height; False if it was put aside for now."""
        h = self.h
        assert h is not None
        if env.sender != self.cfg.me and env.round > h.peer_round.get(env.sender, -1):
            h.peer_round[env.sender] = env.round
        try:
            if env.kind == "proposal":
                return self._on_proposal(env)
            if env.kind in (PREVOTE, PRECOMMIT):
                return self._on_vote(env)
            if env.kind == "sig":
                self._on_sig(env)
        except (KeyError, TypeError, ValueError, OverflowError, DecodeError) as exc:
            self.counters["dropped:malformed"] += 1
            self._log("debug", f"malformed {env.kind} from {self.cfg.names[env.sender]}: {exc}",
                      peer=self.cfg.names[env.sender])
        return True

    def _on_proposal(self, env: Envelope) -> bool:
        h = self.h
        assert h is not None
        if env.sender != self.proposer(h.height, env.round):
            self.counters["dropped:not-proposer"] += 1
            return True
        if env.round > h.round + PROPOSAL_ROUND_WINDOW:
            # out of reach: each proposal costs a node call; it is gossiped again when it matters
            self.counters["dropped:proposal-far-round"] += 1
            return False
        p = env.payload
        vr = p.get("vr", -1)
        if type(vr) is not int:
            raise ValueError("proposal valid round must be an integer")
        if vr >= env.round or vr < -1:
            self.counters["dropped:malformed"] += 1
            return True
        proposer = self.cfg.names[env.sender]
        try:
            info = describe(p["block"])
        except DecodeError:
            self.counters["proposal_rejected:undecodable"] += 1
            self._notify("proposal_rejected", height=h.height, round=env.round, proposer=proposer,
                         block_hash="", reason="undecodable")
            return True
        first = env.round not in h.proposal
        if not first and h.proposal[env.round][0] != info.block_hash:
            self.counters["equivocation:proposal"] += 1
            if info.block_hash not in h.blocks and not self._wanted(info.block_hash):
                # one proposal per (height, round); another block of that round is only
                # learnt once M members voted for it (then it may be needed to decide)
                self.counters["dropped:second-proposal"] += 1
                return False
        pol = p.get("pol") or []
        if not isinstance(pol, list):
            raise ValueError("proposal pol must be a list")
        if len(pol) > self.cfg.n:
            self.counters["dropped:pol-too-long"] += 1
            pol = pol[: self.cfg.n]
        for raw in pol:
            try:
                vote = self.auth.open(bytes.fromhex(raw))
            except (DecodeError, ValueError, TypeError):
                self.counters["dropped:bad-pol"] += 1
                continue
            if vote.kind == PREVOTE and vote.height == h.height and vote.round == vr:
                self._record_vote(vote)
        extras = p.get("x") or {}
        if not isinstance(extras, dict):
            raise ValueError("proposal extras must be an object")
        if first:
            h.proposal[env.round] = (info.block_hash, vr)
        adopted = env.sender == self.cfg.me and self._adopt_own_proposal(env.round, info, vr)
        if info.block_hash in h.blocks:
            h.proposal_frames.setdefault(info.block_hash, env.raw)
            if adopted:
                self._persist()
            known = h.validity.get(info.block_hash)
            if (first and extras != h.extras.get(info.block_hash) and known is not None
                    and info.block_hash in h.validity):
                # the same block refused with other extras (e.g. a wrong reissuance): try these
                h.extras[info.block_hash] = extras
                h.proposal_frames[info.block_hash] = env.raw
                del h.validity[info.block_hash]
                self._validate(info)
            return True
        self._notify("proposal_received", height=h.height, round=env.round, proposer=proposer,
                     block_hash=info.block_hash)
        reason = self._structural_reason(info)
        h.blocks[info.block_hash] = info
        h.extras.setdefault(info.block_hash, extras)
        h.first_seen.setdefault(info.block_hash, self._now)
        h.proposal_frames[info.block_hash] = env.raw
        if adopted:
            self._persist()  # our own proposal and its block, learnt back: kept from now on
        if reason is not None:
            h.validity[info.block_hash] = reason
            self.counters[f"proposal_rejected:{reason}"] += 1
            self._notify("proposal_rejected", height=h.height, round=env.round, proposer=proposer,
                         block_hash=info.block_hash, reason=reason)
            return True
        self._validate(info)
        return True

    def _wanted(self, block_hash: str) -> bool:
        """Whether M members voted for ``block_hash`` in some round (so it may be decided)."""
        h = self.h
        assert h is not None
        m = self.cfg.threshold
        return any(len(by_value.get(block_hash, {})) >= m for by_value in h.support.values())

    def _adopt_own_proposal(self, round: int, info: BlockInfo, vr: int) -> bool:
        """Our own proposal came back: remember it as sent, so that we never propose another.

        True if it was news (the caller persists it once the block is stored).
        """
        h = self.h
        assert h is not None
        own = h.proposed.get(round)
        if own is None:
            h.proposed[round] = (info.block_hash, vr)
            self.counters["own_proposal_learnt"] += 1
            return True
        if own[0] != info.block_hash:
            self.counters["equivocation:own-proposal"] += 1
            self._log("critical", f"height {h.height} round {round}: a proposal of ours for "
                      f"{info.block_hash} came back; we recorded {own[0]}")
        return False

    def _validate(self, info: BlockInfo) -> None:
        h = self.h
        assert h is not None
        if info.block_hash in h.validity or info.block_hash in h.validating:
            return
        h.validating.add(info.block_hash)
        self._emit(A.Validate(h.height, info.block_hash, info.block_hex,
                              h.extras.get(info.block_hash, {})))

    def _on_vote(self, env: Envelope) -> bool:
        h = self.h
        assert h is not None
        value = env.payload.get("hash")
        if value is not None and not isinstance(value, str):
            raise ValueError("vote hash must be a string or null")
        if env.round > h.round + VOTE_ROUND_WINDOW:
            # only the sender's round matters yet (round skip); gossip repeats the vote
            self.counters["dropped:vote-far-round"] += 1
            return False
        if not self._record_vote(env):
            return False
        if env.sender == self.cfg.me:
            self._adopt_own_vote(env.round, env.kind, value, env.raw)
        return True

    def _adopt_own_vote(self, round: int, kind: str, value: str | None, frame: bytes) -> None:
        """A vote of ours came back (gossiped by a peer): if we have no record of it (our
        state was lost), take it as sent, so that we never send another in that round."""
        h = self.h
        assert h is not None
        key = (round, kind)
        if key in h.sent:
            if h.sent[key] != value:
                self.counters[f"equivocation:own-{kind}"] += 1
                self._log("critical", f"height {h.height} round {round}: a {kind} of ours for "
                          f"{value} came back; we recorded {h.sent[key]}")
            return
        self.counters["own_vote_learnt"] += 1
        h.sent[key] = value
        h.sent_frames[key] = frame
        if kind == PRECOMMIT and value is not None and (h.locked is None or h.locked[1] < round):
            h.locked = (value, round)  # a precommit for a block is sent only with that lock
        if round > h.round and h.decided is None and not self._waiting():
            self._start_round(round)  # we were there already
        elif round == h.round:
            if kind == PRECOMMIT:
                h.step = PRECOMMIT
            elif h.step == PROPOSE:
                h.step = PREVOTE
        self._persist()

    def _record_vote(self, env: Envelope) -> bool:
        """Keep a signed vote (as evidence too); False if it was put aside for now."""
        h = self.h
        assert h is not None
        store = h.prevotes if env.kind == PREVOTE else h.precommits
        value = env.payload.get("hash")
        by_value = h.support.setdefault((env.kind, env.round), {})
        if env.sender not in by_value.get(value, {}) and value not in h.blocks:
            held = sum(1 for senders in by_value.values() if env.sender in senders)
            if held >= VOTE_VALUES_PER_SENDER:
                # an equivocator's third value, for no block we know: kept once we know it
                # (an equivocating vote may be part of the M that decided a block)
                self.counters["dropped:vote-values"] += 1
                return False
        votes = store.setdefault(env.round, {})
        by_value.setdefault(value, {}).setdefault(env.sender, env.raw)
        if env.sender in votes:
            if votes[env.sender][0] != value:
                self.counters[f"equivocation:{env.kind}"] += 1
            return True
        votes[env.sender] = (value, env.raw)
        return True

    def _on_sig(self, env: Envelope) -> None:
        h = self.h
        assert h is not None
        block_hash = env.payload["hash"]
        der = bytes.fromhex(env.payload["sig"])
        if not isinstance(block_hash, str):
            raise ValueError("sig hash must be a string")
        if env.sender in h.sigs.get(block_hash, {}):
            return
        # at most one unverified SIG per sender, for a block we do not know yet: the newest
        for other in list(h.unverified_sigs):
            if other != block_hash and env.sender in h.unverified_sigs[other]:
                self.counters["dropped:sig-replaced"] += 1
                del h.unverified_sigs[other][env.sender]
                h.pending_extra_sigs.get(other, {}).pop(env.sender, None)
                if not h.unverified_sigs[other]:
                    del h.unverified_sigs[other]
                    h.pending_extra_sigs.pop(other, None)
        extra = env.payload.get("x")
        if isinstance(extra, dict) and extra:
            h.pending_extra_sigs.setdefault(block_hash, {})[env.sender] = extra
        h.unverified_sigs.setdefault(block_hash, {})[env.sender] = der
        self._verify_sigs(block_hash, env.raw if env.sender == self.cfg.me else None)

    def _verify_sigs(self, block_hash: str, own_frame: bytes | None = None) -> None:
        h = self.h
        assert h is not None
        info = h.blocks.get(block_hash)
        pending = h.unverified_sigs.get(block_hash)
        if info is None or not pending:
            return
        for member, der in list(pending.items()):
            del pending[member]
            ok = self.auth.verify_block_sig(member, info.digest, der)
            if member != self.cfg.me:
                self._notify("signature_received", height=h.height, block_hash=block_hash,
                             member=self.cfg.names[member], valid=ok)
            if ok:
                if member == self.cfg.me:
                    self._adopt_own_sig(block_hash, own_frame)
                else:
                    self.counters["signatures_received"] += 1
                h.sigs.setdefault(block_hash, {})[member] = der
                extra = h.pending_extra_sigs.get(block_hash, {}).pop(member, None)
                if extra is not None:
                    h.extra_sigs.setdefault(block_hash, {})[member] = extra
            else:
                self.counters["signatures_rejected:invalid"] += 1
        if not pending:
            h.unverified_sigs.pop(block_hash, None)
            h.pending_extra_sigs.pop(block_hash, None)

    def _adopt_own_sig(self, block_hash: str, frame: bytes | None) -> None:
        """Our own signature came back: we signed this block, so we sign nothing else here."""
        h = self.h
        assert h is not None
        if self.sign_state.height < h.height:
            self.counters["own_sig_learnt"] += 1
            self.sign_state = SignState(h.height, block_hash, h.parent)
            self._persist()
        elif self.sign_state.height == h.height and self.sign_state.block_hash != block_hash:
            self.counters["equivocation:own-sig"] += 1
            self._log("critical", f"height {h.height}: a signature of ours for {block_hash} came "
                      f"back; our sign-state holds {self.sign_state.block_hash}")
            return
        if h.sig_frame is None and frame is not None:
            h.sig_frame = frame

    # ------------------------------------------------------------------ voting

    def _send_vote(self, kind: str, value: str | None, already_recorded: bool = False) -> None:
        h = self.h
        assert h is not None
        key = (h.round, kind)
        if key in h.sent and not already_recorded:
            return
        h.marks.setdefault(kind, self._now)
        h.sent[key] = value
        frame = self.auth.seal(h.height, h.round, kind, {"hash": value})
        h.sent_frames[key] = frame
        store = h.prevotes if kind == PREVOTE else h.precommits
        store.setdefault(h.round, {}).setdefault(self.cfg.me, (value, frame))
        h.support.setdefault((kind, h.round), {}).setdefault(value, {}).setdefault(self.cfg.me, frame)
        if not already_recorded:
            self._persist()
        self._emit(A.Broadcast(frame))

    def _support(self, kind: str, round: int, value: str | None) -> int:
        """How many members sent a signed ``kind`` vote for ``value`` in ``round``."""
        assert self.h is not None
        return len(self.h.support.get((kind, round), {}).get(value, {}))

    def _count(self, votes: dict[int, tuple[str | None, bytes]], value: Any = ...) -> int:
        if value is ...:
            return len(votes)
        return sum(1 for v, _ in votes.values() if v == value)

    # ------------------------------------------------------------------ the rules

    def _progress(self) -> None:
        """Apply the protocol's rules until none fires."""
        if self.h is None or self._waiting():
            return
        for _ in range(64):
            if not self._step_once():
                break

    def _step_once(self) -> bool:
        h = self.h
        assert h is not None
        m = self.cfg.threshold
        r = h.round

        # skip ahead: N-M+1 members are at round r' or later (so at least one honest one is)
        if h.decided is None:
            rounds = sorted(h.peer_round.values(), reverse=True)
            k = self.cfg.n - m + 1
            if len(rounds) >= k and rounds[k - 1] > r:
                self._start_round(rounds[k - 1])
                return True

        # fetch validity for every block that matters (lazily; not while backing off)
        for info in list(h.blocks.values()):
            if (
                h.validate_retry_at is None
                and info.block_hash not in h.validity
                and info.block_hash not in h.validating
                and self._structural_reason(info) is None
            ):
                self._validate(info)

        prevotes = h.prevotes.get(r, {})
        precommits = h.precommits.get(r, {})

        # 1. prevote on the round's proposal
        if h.step == PROPOSE and r in h.proposal:
            v, vr = h.proposal[r]
            if vr == -1 or (vr < r and self._support(PREVOTE, vr, v) >= m):
                validity = h.validity.get(v, "pending")
                if validity != "pending":
                    ok = validity is None
                    if vr == -1:
                        free = h.locked is None or h.locked[0] == v
                    else:
                        free = h.locked is None or h.locked[1] <= vr or h.locked[0] == v
                    proposer = self.cfg.names[self.proposer(h.height, r)]
                    if ok and free:
                        self._notify("proposal_accepted", height=h.height, round=r,
                                     proposer=proposer, block_hash=v)
                    elif validity is not None:
                        self._notify("proposal_rejected", height=h.height, round=r,
                                     proposer=proposer, block_hash=v, reason=validity)
                    h.step = PREVOTE
                    self._send_vote(PREVOTE, v if ok and free else NIL)
                    return True

        # 2. prevote timeout starts once any M prevotes are in
        if h.step == PREVOTE and h.prevote_deadline is None and self._count(prevotes) >= m:
            h.prevote_deadline = self._now + self._timeout(self.cfg.prevote_timeout, r)

        # 3. a polka (M prevotes) for a known valid block in this round
        if r not in h.polka_seen and h.step in (PREVOTE, PRECOMMIT):
            for val in h.support.get((PREVOTE, r), {}):
                if val is None:
                    continue
                v = val
                if self._support(PREVOTE, r, v) >= m and h.validity.get(v, "pending") is None and v in h.blocks:
                    h.polka_seen.add(r)
                    h.valid = (v, r)
                    if h.step == PREVOTE:
                        h.locked = (v, r)
                        h.step = PRECOMMIT
                        self._send_vote(PRECOMMIT, v)
                    else:
                        self._persist()
                    return True

        # 3b. a polka from an earlier round, learnt late (e.g. by gossip): remember the most
        # recent one as our valid block, so that we re-propose it with its proof of lock
        best = h.valid[1] if h.valid else -1
        for rr in sorted(h.prevotes, reverse=True):
            if rr <= best or rr > r:
                continue
            found = next((v for v in h.support.get((PREVOTE, rr), {})
                          if v is not None and self._support(PREVOTE, rr, v) >= m
                          and v in h.blocks and h.validity.get(v, "pending") is None), None)
            if found is not None:
                h.valid = (found, rr)
                self._persist()
                return True

        # 4. M prevotes for nil
        if h.step == PREVOTE and self._count(prevotes, NIL) >= m:
            h.step = PRECOMMIT
            self._send_vote(PRECOMMIT, NIL)
            return True

        # 5. precommit timeout starts once any M precommits are in
        if h.precommit_deadline is None and self._count(precommits) >= m:
            h.precommit_deadline = self._now + self._timeout(self.cfg.precommit_timeout, r)

        # 5b. more than N - M nil precommits: no block can gather M in this round, so move on
        # now rather than at the precommit timeout (a round change is always safe)
        if h.decided is None and self._count(precommits, NIL) > self.cfg.n - m:
            self.counters["round_ended:nil-precommits"] += 1
            self._start_round(r + 1)
            return True

        # 6. decide: M precommits for one block in any round
        if h.decided is None:
            for rr in h.precommits:
                for val in h.support.get((PRECOMMIT, rr), {}):
                    if val is None:
                        continue
                    v = val
                    if self._support(PRECOMMIT, rr, v) >= m and v in h.blocks:
                        if h.validity.get(v, "pending") is not None:
                            continue
                        h.decided = v
                        h.marks.setdefault("decided", self._now)
                        if self.sign_state.allows(h.height, v):
                            # commit to signing in the same flush as the decision
                            self.sign_state = SignState(h.height, v, h.parent)
                        self._log("debug", f"height {h.height}: decided {v} in round {rr}", block=v)
                        self._persist()
                        return True

        # 7. sign the decided block (sign-state first, flushed before the signature exists)
        if (
            h.decided is not None
            and not h.signing
            and self.cfg.me not in h.sigs.get(h.decided, {})
            and (h.retry_at is None or self._now >= h.retry_at)
        ):
            info = h.blocks[h.decided]
            if not self.sign_state.allows(h.height, h.decided):
                if self.counters["sign_refused"] == 0:
                    self._log("critical", f"height {h.height}: refusing to sign {h.decided}: "
                              f"already signed {self.sign_state.block_hash} at {self.sign_state.height}",
                              block=h.decided)
                self.counters["sign_refused"] += 1
                h.retry_at = self._now + 3600
                return False
            if (self.sign_state.height, self.sign_state.block_hash) != (h.height, h.decided):
                self.sign_state = SignState(h.height, h.decided, h.parent)
                self._persist()
            h.signing = True
            h.retry_at = None
            self._emit(A.Sign(h.height, h.decided, info.digest, info.preimage, info.block_hex,
                              h.extras.get(h.decided, {})))
            return True

        # 8. M valid signatures: combine and submit
        for block_hash, sigs in h.sigs.items():
            if len(sigs) >= m and block_hash not in h.submitted and block_hash in h.blocks:
                order = sorted(sigs)[:m]
                block_hex = complete(h.blocks[block_hash].block_hex, [sigs[i] for i in order])
                h.submitted[block_hash] = self._now
                h.marks.setdefault("submit", self._now)
                extra_sigs = {
                    self.cfg.names[i]: x for i, x in h.extra_sigs.get(block_hash, {}).items()
                }
                self._emit(A.Submit(h.height, block_hash, block_hex,
                                    h.extras.get(block_hash, {}), extra_sigs))
                return True

        for block_hash in list(h.unverified_sigs):
            if h.unverified_sigs[block_hash] and block_hash in h.blocks:
                self._verify_sigs(block_hash)
                return True
        return False

    # ------------------------------------------------------------------ time

    def _on_tick(self) -> None:
        now = self._now
        if now >= self._next_tip_poll:
            self._query_tip()
        h = self.h
        if h is None:
            return
        r = h.round
        if self._waiting():
            return
        if h.retry_at is not None and now >= h.retry_at and not h.signing:
            h.retry_at = None
            if h.step == PROPOSE and self._am_proposer(r) and r not in h.proposal:
                self._build()
        if h.validate_retry_at is not None and now >= h.validate_retry_at:
            h.validate_retry_at = None
            for block_hash in list(h.blocks):
                if h.validity.get(block_hash, "pending") == "pending" and block_hash not in h.validating:
                    self._validate(h.blocks[block_hash])
        if (
            h.step == PROPOSE
            and r == 0
            and self._am_proposer(0)
            and not h.building
            and r not in h.proposal
            and h.valid is None
            and now >= h.ready_at
        ):
            self._build()
        if h.decided is None:
            if h.step == PROPOSE and h.propose_deadline is not None and now >= h.propose_deadline:
                h.propose_deadline = None
                self._timed_out(PROPOSE)
                h.step = PREVOTE
                self._send_vote(PREVOTE, NIL)
            if h.step == PREVOTE and h.prevote_deadline is not None and now >= h.prevote_deadline:
                h.prevote_deadline = None
                self._timed_out(PREVOTE)
                h.step = PRECOMMIT
                self._send_vote(PRECOMMIT, NIL)
            if h.precommit_deadline is not None and now >= h.precommit_deadline:
                h.precommit_deadline = None
                self._timed_out(PRECOMMIT)
                self._start_round(r + 1)
            elif (h.round_deadline is not None and now >= h.round_deadline and h.round == r
                  and not (h.step == PREVOTE and h.prevote_deadline is not None)
                  and h.precommit_deadline is None):
                # the last resort waits for a step timeout already running: a member that
                # left the round before it, the only peer still there would wait for in vain
                self._timed_out("round")
                self._start_round(r + 1)
        if now >= self._next_gossip:
            self._gossip()
            self._next_gossip = now + self.cfg.gossip_interval
        for block_hash, at in list(h.submitted.items()):
            if now - at > max(2.0, 4 * self.cfg.tip_poll_interval):
                del h.submitted[block_hash]  # resubmit if the tip has not moved

    def _timed_out(self, step: str) -> None:
        h = self.h
        assert h is not None
        self.counters[f"timeout:{step}"] += 1
        self._notify("round_timed_out", height=h.height, round=h.round, step=step)

    def _gossip(self) -> None:
        """Re-send what peers may have missed: our recent votes, blocks that matter, the decision."""
        h = self.h
        assert h is not None
        frames: list[bytes] = []
        for (rnd, _kind), frame in h.sent_frames.items():
            if rnd >= h.round - 1:
                frames.append(frame)
        wanted = {h.proposal[h.round][0]} if h.round in h.proposal else set()
        for x in (h.locked, h.valid):
            if x:
                wanted.add(x[0])
        if h.decided:
            wanted.add(h.decided)
        for block_hash in wanted:
            proposal_frame = h.proposal_frames.get(block_hash)
            if proposal_frame is not None:
                frames.append(proposal_frame)
        if h.valid:
            vb, vr = h.valid
            frames.extend(h.support.get((PREVOTE, vr), {}).get(vb, {}).values())
        if h.decided:
            for (kind, _rnd), by_value in h.support.items():
                if kind == PRECOMMIT:
                    frames.extend(by_value.get(h.decided, {}).values())
        if h.sig_frame is not None:
            frames.append(h.sig_frame)
        for frame in frames:
            self._emit(A.Broadcast(frame))
