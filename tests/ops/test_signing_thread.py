"""The signing thread: one call at a time, at most one request waiting behind it."""

from __future__ import annotations

import threading

from oceanfed.consensus import actions as A
from oceanfed.signing_thread import SigningThread
from testsupport.waiting import wait_until


def _sign(height: int) -> A.Sign:
    return A.Sign(height, f"{height:064x}", bytes(32), b"", "00" * 1000)


def test_a_stuck_call_keeps_one_request_the_newest() -> None:
    release = threading.Event()
    signed: list[int] = []

    def sign(action: A.Sign) -> None:
        if action.height == 1:
            release.wait()
        signed.append(action.height)

    thread = SigningThread(sign)
    thread.submit(_sign(1))
    wait_until(lambda: thread.busy_for() is not None, what="the first call to start")
    for height in range(2, 50):
        thread.submit(_sign(height))
    busy = thread.busy_for()
    assert busy is not None and busy[0] == 1
    assert thread.superseded == 47  # 2..48 were replaced, 49 waits
    release.set()
    wait_until(lambda: signed == [1, 49], what="the stuck call, then the newest request")
    wait_until(lambda: thread.busy_for() is None, what="the thread to be idle")
    assert thread.close(timeout=5)


def test_close_leaves_a_stuck_call_behind_and_runs_nothing_more() -> None:
    release = threading.Event()
    signed: list[int] = []

    def sign(action: A.Sign) -> None:
        release.wait()
        signed.append(action.height)

    thread = SigningThread(sign)
    thread.submit(_sign(1))
    wait_until(lambda: thread.busy_for() is not None, what="the call to start")
    thread.submit(_sign(2))
    assert thread.close(timeout=0.2) is False
    release.set()
    wait_until(lambda: signed == [1], what="the stuck call to end")
    assert thread._thread is not None
    thread._thread.join(5)
    assert signed == [1] and not thread._thread.is_alive()


def test_no_thread_until_the_first_request() -> None:
    """A driver whose signer never blocks signs on its loop: it starts no signing thread."""
    before = threading.active_count()
    thread = SigningThread(lambda action: None)
    assert thread._thread is None and threading.active_count() == before
    assert thread.busy_for() is None and thread.close(timeout=0)
