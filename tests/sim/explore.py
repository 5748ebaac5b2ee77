"""Bounded exhaustive exploration of the real consensus :class:`Machine`, beside the random
schedules of :mod:`simulator`.

Every member runs the real machine; the simulator's stand-ins provide envelopes and block
signatures (:class:`simulator.SimAuth`), blocks (:func:`simulator.make_block`) and the node
(:class:`simulator.SimNode`). From the start of height 1 the explorer follows **every**
interleaving, up to its bounds:

- every delivery order of the messages in flight and of the node's and signer's answers
  (each member's clock is its own, so any order is possible);
- a member's timer fires when it is due, and otherwise only when nothing else can happen
  (no message or answer in flight), except for at most ``early`` timers that fire while
  something is still in flight;
- at most ``crashes`` crash-restarts, at any point, also between two actions of one step
  (the member restarts at once from what it persisted; what was in flight to it is lost);
- a proposer that restarts asks its node again and gets a different block;
- rounds up to ``max_round``: a state where a member reaches a later round is checked, not
  followed.

A state is identified by a digest of everything the machines will read (their whole state,
including step, pending validity, timers and votes not yet persisted, but not counters or
timing marks), their disks, clocks, what is in flight, and the checks' own records, so two
paths that reach the same state are followed once.

Checked at every state: no two honest members decide different blocks; no two different
blocks are signed at the height; a member signs and sends its SIG only with its sign-state on
disk; no member sends two different votes for one (height, round, kind), restarts included;
a vote leaves only after it is on disk; a persisted lock is never dropped (nor moved back to
an earlier round) while the height is undecided; a submitted block carries M valid SIGs.

``python tests/sim/explore.py 2-of-3 --rounds 1 --early 2`` runs one exploration and prints
its figures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from simulator import (  # noqa: E402
    CHAIN,
    GENESIS,
    InvariantViolation,
    SimAuth,
    SimNode,
    make_block,
    make_challenge,
)

from oceanfed.consensus import actions as A  # noqa: E402
from oceanfed.consensus import events as E  # noqa: E402
from oceanfed.consensus.machine import CoreConfig, Machine, Timing  # noqa: E402
from oceanfed.ocean.encoding import Reader  # noqa: E402
from oceanfed.ocean.header import BlockHeader  # noqa: E402

HEIGHT = 1
#: gossip and tip polls are left out of the exploration (they only repeat what was sent)
QUIET = 1000.0
#: timers further away than this are gossip and polls, never fired
HORIZON = 100.0
#: the machine's fields that only report (never steer a decision): cleared before a state is
#: identified (and the shared authenticator and config, which never change)
REPORT_ONLY = {"counters", "recent_blocks", "last_block", "peer_seen", "_out", "auth", "cfg"}

assert CHAIN  # the frames are the simulator's


@dataclass(frozen=True)
class Bounds:
    """What one exploration covers."""

    n: int = 3
    m: int = 2
    max_round: int = 1
    early: int = 0
    crashes: int = 0
    #: stop (and say so) after this many distinct states; None: explore all
    max_states: int | None = None

    def describe(self) -> str:
        return (f"{self.m}-of-{self.n}, rounds 0-{self.max_round}, at most {self.early} early "
                f"timeouts, {self.crashes} crash-restart{'s' if self.crashes != 1 else ''}")


@dataclass(frozen=True)
class State:
    machines: tuple[Machine | None, ...]
    blobs: tuple[bytes, ...]  # each machine frozen (see freeze)
    digests: tuple[bytes, ...]  # and the digest of each blob
    disks: tuple[int, ...]  # numbered records (Explorer.records)
    clocks: tuple[float, ...]
    inflight: frozenset[tuple[int, int]]  # (to, frame number)
    pending: tuple[tuple[Any, ...], ...]
    epochs: tuple[int, ...]
    crashes: int
    early: int
    #: the checks' records: (member, round, kind) -> value of every vote sent
    votes: tuple[tuple[tuple[int, int, str], str | None], ...]
    decided: frozenset[str]
    signed: frozenset[str]
    completed: frozenset[str]
    trace: tuple[Any, ...] | None = field(default=None, compare=False)

    def key(self) -> bytes:
        h = hashlib.blake2b(digest_size=20)
        h.update(b"".join(self.digests))
        h.update(pickle.dumps((self.disks, self.clocks, sorted(self.inflight), self.pending,
                               self.epochs, self.votes,
                               sorted(self.decided), sorted(self.signed), sorted(self.completed)),
                              protocol=5))
        return h.digest()


@dataclass
class Result:
    bounds: Bounds
    states: int = 0
    transitions: int = 0
    bounded: int = 0  # states past max_round, checked but not followed
    decided: int = 0  # states in which some member has decided
    all_decided: int = 0  # states where every member has decided (not followed further)
    completed: int = 0  # states in which a block was submitted with M SIGs
    seconds: float = 0.0
    complete: bool = True  # False when max_states stopped it

    def summary(self) -> str:
        return (f"{self.bounds.describe()}: {self.states} states, {self.transitions} transitions, "
                f"{self.decided} with a decision, "
                f"{self.bounded} past the round bound, {self.seconds:.1f}s"
                + ("" if self.complete else f" (stopped at {self.bounds.max_states} states)"))


_NESTED = (dict, set)


def _sorted(items: Any) -> list[Any]:
    try:
        return sorted(items)
    except TypeError:  # None among strings
        return sorted(items, key=repr)


def _canon(value: Any) -> Any:
    """``value`` with every dict and set (at any depth) rebuilt in sorted order."""
    if type(value) is dict:
        return {k: (_canon(v) if type(v) in _NESTED else v)
                for k, v in _sorted(value.items())} if len(value) > 1 else (
            {k: _canon(v) for k, v in value.items()} if value else value)
    if type(value) is set:
        return set(_sorted(value)) if len(value) > 1 else value
    return value


def freeze(m: Machine | None) -> bytes:
    """The machine's state as bytes: everything it reads when it handles an event.

    What only reports (counters, timing marks, the recent blocks, when peers were last
    heard from) is cleared first: the machine never decides anything on it. The same bytes
    identify the state and rebuild the machine (:func:`thaw`)."""
    if m is None:
        return b""
    for name in REPORT_ONLY - {"auth", "cfg", "_out"}:
        getattr(m, name).clear() if name != "last_block" else setattr(m, name, None)
    m._out = []
    if m.h is not None:
        m.h.timing = Timing(interval=m.h.timing.interval)
        for part in (m.h, m.h.signatures):
            for name, value in vars(part).items():
                if type(value) in _NESTED:
                    setattr(part, name, _canon(value))
        for votes in m.h.votes.values():
            votes.first, votes.frames = _canon(votes.first), _canon(votes.frames)
    m._seen_frames = _canon(m._seen_frames)
    m.timers = _canon(m.timers)
    auth, cfg = m.auth, m.cfg
    m.auth = m.cfg = None  # type: ignore[assignment]
    try:
        return pickle.dumps(m, protocol=5)
    finally:
        m.auth, m.cfg = auth, cfg


def thaw(blob: bytes, auth: SimAuth, cfg: CoreConfig) -> Machine:
    m: Machine = pickle.loads(blob)
    m.auth, m.cfg = auth, cfg
    return m


class Explorer:
    """Explore every interleaving of one federation at height 1 within ``bounds``."""

    def __init__(self, bounds: Bounds, progress: bool = False):
        self.b = bounds
        self.progress = progress
        n, m = bounds.n, bounds.m
        self.cache: dict[bytes, Any] = {}
        self.auths = [SimAuth(i, n, cache=self.cache) for i in range(n)]
        self.checker = SimAuth(-1, n, cache=self.cache)
        self.challenge = make_challenge(m, n)
        self.node = SimNode(self.challenge, m, self.checker)
        self.cfgs = [
            CoreConfig(me=i, names=[f"m{j}" for j in range(n)], threshold=m,
                       challenge=self.challenge, block_time=0.0, propose_timeout=0.3,
                       prevote_timeout=0.2, precommit_timeout=0.2, timeout_step=0.1,
                       gossip_interval=QUIET, tip_poll_interval=QUIET)
            for i in range(n)
        ]
        # frames and disk records are numbered once, so that states stay small
        self.frames: list[bytes] = []
        self.frame_ids: dict[bytes, int] = {}
        self.records: list[dict[str, Any]] = [{}]
        self.record_texts: list[str] = ["{}"]
        self.record_ids: dict[str, int] = {"{}": 0}

    # ------------------------------------------------------------------ running

    def initial(self) -> State:
        n = self.b.n
        st = State(machines=(None,) * n, blobs=(b"",) * n, digests=(b"",) * n, disks=(0,) * n,
                   clocks=(0.0,) * n, inflight=frozenset(), pending=((),) * n, epochs=(0,) * n,
                   crashes=0, early=0, votes=(), decided=frozenset(), signed=frozenset(),
                   completed=frozenset(), trace=None)
        for i in range(n):
            st = self._boot(st, i, first=True)
        return st

    def run(self) -> Result:
        """Depth-first over every state within the bounds; raise InvariantViolation with the
        trace that led to the first broken check."""
        res = Result(self.b)
        start = time.perf_counter()
        root = self.initial()
        # a state reached again with no fewer early timeouts and crashes spent adds nothing
        seen: dict[bytes, tuple[int, int]] = {root.key(): (0, 0)}
        stack = [root]
        res.states = 1
        while stack:
            st = stack.pop()
            if self._past_bound(st):
                res.bounded += 1
                continue
            if all(m is not None and m.h is not None and m.h.decided for m in st.machines):
                res.all_decided += 1  # nothing new can be decided: the height is over
                continue
            for nxt in self._successors(st):
                res.transitions += 1
                k = nxt.key()
                spent = seen.get(k)
                if spent is not None and spent[0] <= nxt.early and spent[1] <= nxt.crashes:
                    continue
                seen[k] = (nxt.early, nxt.crashes) if spent is None else (
                    min(spent[0], nxt.early), min(spent[1], nxt.crashes))
                res.states += 1
                if self.progress and res.states % 20000 == 0:
                    print(f"  {res.states} states, {len(stack)} on the stack, "
                          f"{time.perf_counter() - start:.0f}s", file=sys.stderr, flush=True)
                res.decided += bool(nxt.decided)
                res.completed += bool(nxt.completed)
                stack.append(nxt)
                if self.b.max_states is not None and res.states >= self.b.max_states:
                    res.complete = False
                    stack.clear()
                    break
        res.seconds = time.perf_counter() - start
        return res

    def _past_bound(self, st: State) -> bool:
        return any(m is not None and m.h is not None and m.h.round > self.b.max_round
                   for m in st.machines)

    # ------------------------------------------------------------------ transitions

    def _successors(self, st: State) -> list[State]:
        out: list[State] = []
        quiet = not st.inflight and not any(st.pending)
        for i, m in enumerate(st.machines):
            if m is None:
                continue
            if m.h is not None and m.h.decided is not None:
                # decided: its height is over; only its own answers (the signature) matter
                for k, ev in enumerate(st.pending[i]):
                    pend = st.pending[i][:k] + st.pending[i][k + 1:]
                    out += self._step(_with(st, pending=_set(st.pending, i, pend)), i, ev,
                                      st.clocks[i], ("answer", i, ev))
                continue
            for to, fid in sorted(st.inflight):
                if to == i:
                    rest = st.inflight - {(to, fid)}
                    out += self._step(_with(st, inflight=rest), i, E.Received(self.frames[fid]),
                                      st.clocks[i], ("deliver", to, fid))
            for k, ev in enumerate(st.pending[i]):
                if ev in st.pending[i][:k]:
                    continue  # the same answer twice: one order is enough
                pend = st.pending[i][:k] + st.pending[i][k + 1:]
                base = _with(st, pending=_set(st.pending, i, pend))
                out += self._step(base, i, ev, st.clocks[i], ("answer", i, ev))
            due = m.next_deadline()
            if due - st.clocks[i] > HORIZON:
                continue
            if due <= st.clocks[i]:
                out += self._step(st, i, E.Tick(), st.clocks[i], ("tick", i))
            elif quiet:
                out += self._step(_with(st, clocks=_set(st.clocks, i, due)), i, E.Tick(), due,
                                  ("timeout", i, due))
            elif st.early < self.b.early:
                base = _with(st, clocks=_set(st.clocks, i, due), early=st.early + 1)
                out += self._step(base, i, E.Tick(), due, ("early timeout", i, due))
        return out

    def _step(self, st: State, i: int, ev: Any, now: float, label: Any) -> list[State]:
        m = thaw(st.blobs[i], self.auths[i], self.cfgs[i])
        actions = self._answer(m, m.handle(ev, now), now, st.epochs[i])
        trace = (label, st.trace)
        out = [self._perform(st, i, m, actions, trace)]
        if st.crashes < self.b.crashes:
            for cut in range(len(actions) + 1):
                partial = self._perform(st, i, None, actions[:cut], trace)
                out.append(self._boot(_with(partial, crashes=st.crashes + 1,
                                            trace=(("crash", i, cut), trace)), i))
        return out

    def _answer(self, m: Machine, actions: list[A.Action], now: float, epoch: int) -> list[A.Action]:
        """``actions`` followed by those of the node's new block and the signer's signature,
        which come back within the same step (only the node's verdicts on blocks are
        answered in any order). A restarted proposer gets a different block."""
        i = m.cfg.me
        k = 0
        while k < len(actions):
            a = actions[k]
            k += 1
            if isinstance(a, A.BuildProposal):
                block = make_block(a.height, GENESIS, self.challenge,
                                   salt=1000 * epoch + 10 * a.round + i)
                actions += m.handle(E.ProposalBuilt(a.height, a.round, block), now)
            elif isinstance(a, A.Sign):
                der = self.checker.block_sig(i, a.digest)
                actions += m.handle(E.Signed(a.height, a.block_hash, der), now)
        return actions

    def _boot(self, st: State, i: int, first: bool = False) -> State:
        """(Re)start member ``i`` from its disk; what was in flight to it is lost.

        The start is one step: the node's tip (height 0) is known at once and the first tick
        (which gossips what the member holds) follows."""
        disk = json.loads(self.record_texts[st.disks[i]])
        m = Machine(self.cfgs[i], self.auths[i], restored=disk or None)
        now = st.clocks[i]
        actions = m.start(now)
        assert [type(a) for a in actions] == [A.QueryTip]
        actions = m.handle(E.NodeTip(*self.node.tip), now) + m.handle(E.Tick(), now)
        actions = self._answer(m, actions, now, st.epochs[i] + 1)
        if not first:
            st = _with(st, inflight=frozenset(x for x in st.inflight if x[0] != i),
                       pending=_set(st.pending, i, ()))
        st = _with(st, epochs=_set(st.epochs, i, st.epochs[i] + 1))
        return self._perform(st, i, m, actions, st.trace)

    def _record(self, record: dict[str, Any]) -> int:
        text = json.dumps(record, sort_keys=True)
        rid = self.record_ids.get(text)
        if rid is None:
            rid = self.record_ids[text] = len(self.record_texts)
            self.record_texts.append(text)
            self.records.append(json.loads(text))
        return rid

    def _frame(self, data: bytes) -> int:
        fid = self.frame_ids.get(data)
        if fid is None:
            fid = self.frame_ids[data] = len(self.frames)
            self.frames.append(data)
        return fid

    def _perform(self, st: State, i: int, m: Machine | None, actions: list[A.Action],
                 trace: Any) -> State:
        """Apply ``actions`` of member ``i`` in order, checking each; ``m`` is its machine
        afterwards (None: it crashed after the last of them)."""
        disks, inflight = list(st.disks), set(st.inflight)
        pending = list(st.pending)
        votes = dict(st.votes)
        decided, signed, completed = set(st.decided), set(st.signed), set(st.completed)
        for a in actions:
            if isinstance(a, A.Persist):
                rid = self._record(a.record)
                self._check_persist(i, self.records[disks[i]], self.records[rid], trace)
                disks[i] = rid
                hs = a.record.get("height_state") or {}
                if hs.get("height") == HEIGHT and hs.get("decided"):
                    decided.add(hs["decided"])
                    if len(decided) > 1:
                        self._fail(f"two blocks decided: {sorted(decided)}", trace)
            elif isinstance(a, A.Broadcast):
                env = self.checker.open(a.data)
                disk = self.records[disks[i]]
                if env.kind in ("prevote", "precommit") and env.sender == i:  # not evidence
                    self._check_vote(i, env, disk, votes, trace)
                elif env.kind == "sig":
                    ss = disk.get("sign_state") or {}
                    if (ss.get("height"), ss.get("block_hash")) != (env.height, env.payload["hash"]):
                        self._fail(f"m{i} sent a SIG whose sign-state is not on disk", trace)
                    continue  # SIGs only complete a decided block: checked here, not delivered
                fid = self._frame(a.data)
                inflight.update((to, fid) for to in range(self.b.n) if to != i)
            elif isinstance(a, A.QueryTip):
                pending[i] = (*pending[i], E.NodeTip(*self.node.tip))
            elif isinstance(a, A.Validate):
                verdict = self.node.test(a.block_hex)
                pending[i] = (*pending[i], E.Validated(a.height, a.block_hash, verdict))
            elif isinstance(a, A.Sign):
                ss = self.records[disks[i]].get("sign_state") or {}
                if (ss.get("height"), ss.get("block_hash")) != (a.height, a.block_hash):
                    self._fail(f"m{i} signs {a.block_hash[:8]} before its sign-state is on disk", trace)
                signed.add(a.block_hash)
                if len(signed) > 1:
                    self._fail(f"two blocks signed at height {a.height}: {sorted(signed)}", trace)
            elif isinstance(a, A.Submit):
                header = BlockHeader.read(Reader(bytes.fromhex(a.block_hex)))
                if not self.node.proof_ok(header):
                    self._fail(f"m{i} submitted {a.block_hash[:8]} without M valid SIGs", trace)
                completed.add(a.block_hash)
                if len(completed) > 1:
                    self._fail("two blocks completed", trace)
        if m is not None and m.h is not None and m.h.decided is not None:
            decided.add(m.h.decided)
            if len(decided) > 1:
                self._fail(f"two blocks decided: {sorted(decided)}", trace)
            inflight = {x for x in inflight if x[0] != i}
        blob = freeze(m)
        return State(
            machines=_set(st.machines, i, m), blobs=_set(st.blobs, i, blob),
            digests=_set(st.digests, i, hashlib.blake2b(blob, digest_size=16).digest()),
            disks=tuple(disks), clocks=st.clocks, inflight=frozenset(inflight),
            pending=tuple(pending), epochs=st.epochs, crashes=st.crashes, early=st.early,
            votes=tuple(sorted(votes.items(), key=repr)), decided=frozenset(decided),
            signed=frozenset(signed), completed=frozenset(completed), trace=trace,
        )

    # ------------------------------------------------------------------ checks

    def _check_vote(self, i: int, env: Any, disk: dict[str, Any], votes: dict[Any, Any],
                    trace: Any) -> None:
        value = env.payload.get("hash")
        key = (i, env.round, env.kind)
        if key in votes and votes[key] != value:
            self._fail(f"m{i} sent two different {env.kind}s in round {env.round}: "
                       f"{votes[key]} and {value}", trace)
        votes[key] = value
        sent = {(r, k): v for r, k, v in (disk.get("height_state") or {}).get("sent") or []}
        if sent.get((env.round, env.kind), "missing") != value:
            self._fail(f"m{i} sent its {env.kind} of round {env.round} before it was on disk", trace)

    def _check_persist(self, i: int, old: dict[str, Any], new: dict[str, Any], trace: Any) -> None:
        oss, nss = old.get("sign_state") or {}, new.get("sign_state") or {}
        if oss.get("height") == nss.get("height") and oss.get("block_hash") not in (None, nss.get("block_hash")):
            self._fail(f"m{i} replaced its signed block", trace)
        o, n = old.get("height_state") or {}, new.get("height_state") or {}
        if o.get("height") != HEIGHT or n.get("height") != HEIGHT or not o.get("locked"):
            return
        if o.get("decided") or n.get("decided"):
            return
        if not n.get("locked") or n["locked"][1] < o["locked"][1]:
            self._fail(f"m{i} dropped its persisted lock {o['locked']} (now {n.get('locked')}) "
                       "while undecided", trace)

    def _fail(self, what: str, trace: Any) -> None:
        steps: deque[str] = deque()
        while trace is not None:
            label, trace = trace
            steps.appendleft(self._label(label))
        raise InvariantViolation(f"{self.b.describe()}: {what}\n  after " + "\n  then ".join(steps))

    def _label(self, label: Any) -> str:
        kind = label[0]
        if kind == "deliver":
            env = self.checker.open(self.frames[label[2]])
            value = env.payload.get("hash", "")
            if env.kind == "proposal":
                block = BlockHeader.read(Reader(bytes.fromhex(env.payload["block"])))
                value = f"{block.hash_hex()[:8]} vr={env.payload.get('vr')}"
            return f"m{label[1]} gets {env.kind} r{env.round} from m{env.sender}: {str(value)[:8]}"
        if kind == "answer":
            ev = label[2]
            detail = getattr(ev, "block_hash", "")[:8]
            return f"m{label[1]} gets {type(ev).__name__} {detail}".rstrip()
        if kind == "crash":
            return f"m{label[1]} crashes after {label[2]} of its actions and restarts"
        return f"m{label[1]} {kind}" + (f" at {label[2]:.2f}s" if len(label) > 2 else "")


def _set(t: tuple[Any, ...], i: int, v: Any) -> tuple[Any, ...]:
    return t[:i] + (v,) + t[i + 1:]


def _with(st: State, **changes: Any) -> State:
    fields = {k: getattr(st, k) for k in State.__dataclass_fields__}
    fields.update(changes)
    return State(**fields)


def explore(bounds: Bounds, progress: bool = False) -> Result:
    """Run one exploration; raise InvariantViolation (with its trace) on a broken check."""
    return Explorer(bounds, progress).run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Explore every interleaving within bounds.")
    parser.add_argument("shape", help="M-of-N, e.g. 2-of-3")
    parser.add_argument("--rounds", type=int, default=1, help="highest round followed")
    parser.add_argument("--early", type=int, default=0, help="timeouts that may fire early")
    parser.add_argument("--crashes", type=int, default=0, help="crash-restarts")
    parser.add_argument("--max-states", type=int, default=None)
    parser.add_argument("--progress", action="store_true", help="report every 20,000 states")
    args = parser.parse_args(argv)
    m, n = (int(x) for x in args.shape.split("-of-"))
    bounds = Bounds(n, m, args.rounds, args.early, args.crashes, args.max_states)
    try:
        res = explore(bounds, args.progress)
    except InvariantViolation as exc:
        print(f"FAIL {exc}")
        return 1
    print(f"ok {res.summary()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
