"""The driver flushes the state that explains a frame before the frame leaves, with one flush
for Persists that only sends, logs and observations separate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from oceanfed.consensus import actions as A
from oceanfed.driver import Driver, coalesce_persists
from oceanfed.statestore import StateStore, inspect_state
from testsupport.member import Member


def _record(round: int, sent: list[list[Any]]) -> dict[str, Any]:
    return {"sign_state": {"height": 4, "block_hash": None, "parent": None},
            "height_state": {"height": 5, "round": round, "sent": sent}}


class _DiskWitness:
    """A messenger that, as each frame leaves, reads what the state directory holds."""

    def __init__(self, state_dir: Path):
        self.state_dir = state_dir
        self.seen: list[tuple[bytes, dict[str, Any] | None]] = []

    def start(self, deliver: Any) -> None:
        pass

    def broadcast(self, data: bytes) -> None:
        stored = inspect_state(self.state_dir)
        self.seen.append((data, stored.record if stored else None))

    @staticmethod
    def stats() -> dict[str, int]:
        return {}


@pytest.fixture
def driver(tmp_path: Path) -> Any:
    store = StateStore(tmp_path)
    witness = _DiskWitness(tmp_path)
    d = Driver(Member().machine, node=None, signer=None, messenger=witness, store=store)  # type: ignore[arg-type]
    yield d, store, witness
    store.close()


def test_persists_between_frames_are_one_flush_before_the_first_frame(driver: Any) -> None:
    d, store, witness = driver
    proposal = _record(0, [])
    prevote = _record(0, [[0, "prevote", "aa" * 32]])
    d._execute([A.Persist(proposal), A.Broadcast(b"proposal"), A.Log("debug", "proposed"),
                A.Persist(prevote), A.Broadcast(b"prevote")])
    assert store.saves == 1
    # both frames left with the later state already on disk (it holds the earlier one's)
    assert witness.seen == [(b"proposal", prevote), (b"prevote", prevote)]


def test_a_frame_never_leaves_before_its_state_is_flushed(driver: Any) -> None:
    d, store, witness = driver
    first, second = _record(0, []), _record(1, [])
    d._execute([A.Persist(first), A.Broadcast(b"x")])
    d._execute([A.Broadcast(b"y"), A.Persist(second)])
    assert witness.seen == [(b"x", first), (b"y", first)]
    assert store.load() == second and store.saves == 2


def test_an_action_with_io_between_persists_keeps_both() -> None:
    """Only sends, logs and observations may wait for a later record's flush."""
    p1, p2 = A.Persist(_record(0, [])), A.Persist(_record(1, []))
    sent, tip = A.Broadcast(b"x"), A.QueryTip()
    assert coalesce_persists([p1, sent, tip, p2, sent]) == [p1, sent, tip, p2, sent]
    assert coalesce_persists([p1, sent, p2, tip]) == [p2, sent, tip]
    observed = A.ProposalAccepted(5, 0, "m1", "aa" * 32)
    assert coalesce_persists([sent, p1, observed, p2]) == [sent, p2, observed]
    assert coalesce_persists([p1, tip, p2]) == [p1, tip, p2]
