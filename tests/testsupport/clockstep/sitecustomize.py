"""Put on a member's PYTHONPATH: its wall clock (``time.time``) steps by the number of
seconds written in the file ``$OCEANFED_TEST_CLOCK_STEP_FILE``, as the system clock does when
NTP corrects it; the monotonic clock is untouched, as the kernel's is."""

import os
import time

_wall = time.time
_path = os.environ["OCEANFED_TEST_CLOCK_STEP_FILE"]
_step = [0.0, -1.0]  # seconds, and when the file was last read (monotonic)


def _stepped() -> float:
    now = time.monotonic()
    if now - _step[1] > 0.1:
        try:
            with open(_path) as fh:
                _step[0] = float(fh.read().strip() or 0)
        except (OSError, ValueError):
            pass
        _step[1] = now
    return _wall() + _step[0]


time.time = _stepped
