"""The thread a blocking signer signs on: one call at a time, at most one request waiting.

A token that hangs (a PKCS#11 ``C_Sign`` that never returns) holds this thread for as long
as it hangs, and no timeout can take the call back. Meanwhile the others complete each
height and the machine asks for the next signature: a request still waiting is then for a
height the machine has left, so a newer one takes its place instead of queueing behind it
(with a queue, each height's block stayed in memory for as long as the token hung). The
thread is a daemon, so a member can stop while a call is stuck in its token.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from oceanfed.consensus import actions as A


class SigningThread:
    """Runs ``sign(action)`` for each :class:`~oceanfed.consensus.actions.Sign` submitted.

    Example::

        signing = SigningThread(driver_sign)
        signing.submit(action)           # returns at once
        signing.busy_for()               # seconds the call in progress has run, or None
    """

    def __init__(self, sign: Callable[[A.Sign], None], clock: Callable[[], float] = time.monotonic):
        self._sign = sign
        self._clock = clock
        self._cond = threading.Condition()
        self._waiting: A.Sign | None = None
        self._running: A.Sign | None = None
        self._started_at = 0.0
        self._closed = False
        #: requests replaced by a newer one before they were started
        self.superseded = 0
        #: started by the first request (a member whose signer never blocks has none)
        self._thread: threading.Thread | None = None

    def submit(self, action: A.Sign) -> None:
        """Sign ``action`` once the call in progress (if any) returns; a request still
        waiting for that is dropped (the machine has moved past its height)."""
        with self._cond:
            if self._closed:
                return
            if self._waiting is not None:
                self.superseded += 1
            self._waiting = action
            self._cond.notify()
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="oceanfed-sign", daemon=True)
                self._thread.start()

    def busy_for(self) -> tuple[int, float] | None:
        """``(height, seconds)`` of the call in progress, or None when idle."""
        with self._cond:
            if self._running is None:
                return None
            return self._running.height, self._clock() - self._started_at

    def close(self, timeout: float) -> bool:
        """Stop taking requests; wait up to ``timeout`` for a call in progress. False if
        it is still running (the thread is left to the process's exit)."""
        with self._cond:
            self._closed = True
            self._waiting = None
            self._cond.notify()
            thread = self._thread
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while self._waiting is None and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                action, self._waiting = self._waiting, None
                assert action is not None
                self._running, self._started_at = action, self._clock()
            try:
                self._sign(action)
            finally:
                with self._cond:
                    self._running = None
