"""The system clock steps back under a running federation (NTP correcting a clock that ran
an hour fast, a VM restored from a snapshot): every member's wall clock at once."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from oceanfed import member as M
from oceanfed.config import load_config
from oceanfed.rpc import NodeClient
from oceanfed.steadyclock import from_wall
from oceanfed_devnet.launcher import LocalFederation
from oceanfed_devnet.setup import create_devnet, start_devnet
from testsupport.federation import fast_rounds, verify_chain
from testsupport.waiting import wait_until

pytestmark = pytest.mark.slow

CLOCKSTEP = Path(__file__).resolve().parents[1] / "testsupport" / "clockstep"


def test_blocks_go_on_when_every_members_clock_steps_back_an_hour(tmp_path: Path) -> None:
    """The machine's deadlines were wall-clock times: after a step back of an hour every
    timer was an hour away, and with nothing else to wake them the members made no block
    for that hour. They are on the monotonic clock now; only the block schedule, which
    counts from block 1's timestamp, reads the wall clock, by today's offset."""
    step = tmp_path / "step"
    step.write_text("0")
    env = {
        "PYTHONPATH": os.pathsep.join([str(CLOCKSTEP), os.environ.get("PYTHONPATH", "")]),
        "OCEANFED_TEST_CLOCK_STEP_FILE": str(step),
    }
    fed = LocalFederation(tmp_path / "fed", 3, 2, block_time=1.0, rounds=fast_rounds(0.25))
    with fed:
        fed.start_devnet()
        for name in fed.members:
            fed.start_member(name, env=env)
        wait_until(lambda: fed.height() >= 3, timeout=60, what="the first blocks")
        step.write_text("-3600")
        base = fed.height() + 1
        wait_until(lambda: fed.height() >= base, timeout=60,
                   what="a block after every member's clock stepped back an hour")
        t0 = time.monotonic()
        wait_until(lambda: fed.height() >= base + 5, timeout=60,
                   what="blocks after every member's clock stepped back an hour")
        # at the block time, not the catch-up pace (half of it) of a schedule that took the
        # step for an hour of blocks missed (a busy machine only makes this longer)
        assert time.monotonic() - t0 >= 3.5
        # and forward again, past where it was: no burst of blocks, no stall
        step.write_text("3600")
        base = fed.height()
        wait_until(lambda: fed.height() >= base + 5, timeout=60,
                   what="blocks after the clocks stepped forward two hours")
        for name in fed.members:
            assert fed.running(name), fed.log_tail(name)
            assert fed.stop(name) == 0, fed.log_tail(name)
        verify_chain(fed)


def test_the_schedule_reads_block_1s_time_on_the_members_own_clock(tmp_path: Path) -> None:
    """Block 1's timestamp is wall time; the machine's deadlines are not. The driver hands
    the machine block 1's time as a reading of its own clock, whatever that clock is (here
    the bare monotonic clock, which counts from boot), so the schedule's arithmetic stays
    within one clock."""
    layout = create_devnet(tmp_path / "dn", members=1, threshold=1, block_time=0.05)
    _, server = start_devnet(layout.dir)
    driver = M.build_driver(load_config(layout.fed_toml("m0")), clock=time.monotonic)
    thread = threading.Thread(target=driver.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.chain.height >= 3 and driver.machine.anchor_time is not None,
                   timeout=60, what="three blocks and a tip with block 1's time")
        anchor = driver.machine.anchor_time
        node = NodeClient(layout.url("m0"), "m0", layout.password("m0"))
        block1 = node.call("getblockheader", node.call("getblockhash", 1))
        assert anchor is not None
        expected = from_wall(int(block1["time"]), time.monotonic)
        assert abs(anchor - expected) < 5, (anchor, expected, block1["time"])
    finally:
        driver.stop()
        thread.join(timeout=20)
        driver.store.close()
        server.stop()
