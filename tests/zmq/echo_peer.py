"""A member in its own process: answers every frame ``X`` with ``echo:X``.

Usage: python echo_peer.py '{"names": [...], "me": "...", "options": {...}}'
Prints ``ready`` once bound, then runs until killed.
"""

from __future__ import annotations

import json
import signal
import sys
import threading

from oceanfed.interfaces import MemberInfo, PluginContext
from oceanfed_zmq.messenger import ZmqMessenger
from oceanfed_zmq.options import ZmqOptions


def main() -> None:
    spec = json.loads(sys.argv[1])
    names = spec["names"]
    ctx = PluginContext(
        member_index=names.index(spec["me"]),
        members=[MemberInfo(i, n, b"", b"") for i, n in enumerate(names)],
        threshold=1,
        chain="ocean_test",
        base_dir=spec.get("base_dir", "."),
    )
    messenger = ZmqMessenger(ZmqOptions.model_validate(spec["options"]), ctx)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def deliver(data: bytes, peer: str | None = None) -> None:
        if not data.startswith(b"echo:"):
            messenger.broadcast(b"echo:" + data)

    messenger.start(deliver)
    print("ready", flush=True)
    stop.wait()
    messenger.close()


if __name__ == "__main__":
    main()
