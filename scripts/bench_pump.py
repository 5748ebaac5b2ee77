"""Micro-benchmark of receiving on the driver's loop thread: two real zmq messengers with
CURVE on loopback; m1 broadcasts frames in bursts, m0's driver receives them the way its loop
does (``Driver._next_event`` then the frame's inbox accounting). Prints the loop thread's CPU
per received frame (receive + deliver + bookkeeping, not the machine).

    .venv/bin/python scripts/bench_pump.py [--frames 20000] [--burst 1] [--size 400] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import zmq  # noqa: E402
from oceanfed import wire  # noqa: E402
from oceanfed.driver import Driver, _Frame  # noqa: E402
from oceanfed.interfaces import MemberInfo, PluginContext  # noqa: E402
from oceanfed.keyfile import write_secret_file  # noqa: E402
from oceanfed_zmq.messenger import ZmqMessenger  # noqa: E402
from oceanfed_zmq.options import ZmqOptions  # noqa: E402
from testsupport.member import Member  # noqa: E402
from testsupport.waiting import free_port  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=20000)
    ap.add_argument("--burst", type=int, default=1, help="frames sent back to back, then a pause")
    ap.add_argument("--pause", type=float, default=0.0003, help="seconds between bursts")
    ap.add_argument("--size", type=int, default=400)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()

    member = Member()
    names = member.cfg.names[:2]
    tmp = Path(tempfile.mkdtemp(prefix="bench-pump-"))
    addr = {n: f"tcp://127.0.0.1:{free_port()}" for n in names}
    public = {}
    for n in names:
        pub, sec = zmq.curve_keypair()
        write_secret_file(tmp / f"{n}.curve", sec.decode())
        public[n] = pub.decode()
    infos = [MemberInfo(i, n, b"", b"") for i, n in enumerate(names)]

    def messenger(me: str) -> ZmqMessenger:
        opts = ZmqOptions.model_validate({
            "bind": addr[me], "peers": {n: a for n, a in addr.items() if n != me},
            "curve_secret_key_file": f"{me}.curve", "curve_public_keys": public,
        })
        ctx = PluginContext(member_index=names.index(me), members=infos, threshold=1,
                            chain="ocean_test", base_dir=str(tmp))
        return ZmqMessenger(opts, ctx)

    receiver = messenger(names[0])
    driver = Driver(member.machine, node=None, signer=None, messenger=receiver,  # type: ignore[arg-type]
                    store=None)
    sender = messenger(names[1])
    sender.start(lambda data, peer=None: None)
    driver._start_messenger()
    frame = wire.MAGIC + b"x" * (args.size - len(wire.MAGIC))
    # until m0 hears m1
    deadline = time.monotonic() + 30
    while not isinstance(driver._next_event(0.01), _Frame):
        assert time.monotonic() < deadline, "no connection"
        sender.broadcast(frame)
    time.sleep(0.2)
    while driver._next_event(0.05) is not None and not driver.inbox.empty():
        pass

    def send() -> None:
        for i in range(0, args.frames, args.burst):
            for _ in range(min(args.burst, args.frames - i)):
                sender.broadcast(frame)
            time.sleep(args.pause)

    def receive() -> tuple[int, int]:
        got = 0
        cpu = 0
        while got < args.frames:
            t0 = time.thread_time_ns()
            event = driver._next_event(1.0)
            if isinstance(event, _Frame):
                got += 1
                driver._release(event)  # polled: the loop's own, lock-free release
            elif event is None or not driver._queued_total and time.monotonic() > end:
                break
            cpu += time.thread_time_ns() - t0
        return got, cpu

    sending = threading.Thread(target=send, daemon=True)
    end = time.monotonic() + 120
    prof = cProfile.Profile() if args.profile else None
    sending.start()
    if prof is not None:
        prof.enable()
    got, cpu = receive()
    if prof is not None:
        prof.disable()
    sending.join()
    print(f"frames received {got} of {args.frames}, burst {args.burst}, {args.size} bytes: "
          f"{cpu / max(got, 1) / 1000:.1f} us of loop-thread CPU per frame; "
          f"drops {dict(driver.drops.counts())}")
    sender.close()
    driver.close()
    if prof is not None:
        pstats.Stats(prof).sort_stats("tottime").print_stats(18)


if __name__ == "__main__":
    main()
