"""A subscriber in its own process that floods a PUB with distinct subscriptions.

Usage::

    python flooder.py plain ADDRESS TOPIC_BYTES MEGABYTES SECONDS
    python flooder.py curve ADDRESS TOPIC_BYTES COUNT SERVER_KEY SECRET_KEY_FILE

``plain`` speaks ZMTP 3.0 over a plain socket, as a stranger would (no trie of its own to
slow it down): it sends ``MEGABYTES`` of subscriptions, connecting again whenever the PUB
drops it, for at most ``SECONDS``. ``curve`` is an XSUB holding a member's CURVE key pair
that sends ``COUNT`` subscriptions. Every subscription differs in its first four bytes, so
each costs the PUB's trie a node per byte. Prints how many it sent and how many connections
it made.
"""

from __future__ import annotations

import socket
import struct
import sys
import time
from pathlib import Path

import zmq

_GREETING = b"\xff" + bytes(8) + b"\x7f\x03\x00" + b"NULL".ljust(20, b"\x00") + bytes(32)
_READY = b"\x05READY\x0bSocket-Type" + struct.pack(">I", 4) + b"XSUB"


def _frame(body: bytes) -> bytes:
    if len(body) < 256:
        return b"\x00" + bytes([len(body)]) + body
    return b"\x02" + struct.pack(">Q", len(body)) + body


def plain(address: str, topic_bytes: int, megabytes: float, seconds: float) -> None:
    host, port = address.removeprefix("tcp://").rsplit(":", 1)
    filler = b"s" * topic_bytes
    budget, deadline = int(megabytes * 2**20), time.monotonic() + seconds
    sent = count = connections = 0
    while sent < budget and time.monotonic() < deadline:
        try:
            conn = socket.create_connection((host, int(port)), timeout=5)
        except OSError:  # the PUB is being bound again
            time.sleep(0.01)
            continue
        connections += 1
        with conn:
            try:
                conn.sendall(_GREETING + b"\x04" + bytes([len(_READY)]) + _READY)
                while sent < budget and time.monotonic() < deadline:
                    batch = b"".join(
                        _frame(b"\x01" + (count + i).to_bytes(4, "big") + filler) for i in range(256)
                    )
                    conn.sendall(batch)
                    count, sent = count + 256, sent + len(batch)
            except OSError:  # dropped: connect again
                continue
    print(f"sent {count} subscriptions ({sent / 2**20:.0f} MB) over {connections} connection(s)")


def curve(address: str, topic_bytes: int, count: int, server_key: str, secret_file: str) -> None:
    ctx = zmq.Context()
    xsub = ctx.socket(zmq.XSUB)
    secret = Path(secret_file).read_text().strip().encode()
    xsub.curve_serverkey = server_key.encode()
    xsub.curve_secretkey = secret
    xsub.curve_publickey = zmq.curve_public(secret)
    xsub.setsockopt(zmq.SNDHWM, 0)
    xsub.setsockopt(zmq.LINGER, 20000)
    xsub.connect(address)
    filler = b"s" * topic_bytes
    for i in range(count):
        xsub.send(b"\x01" + i.to_bytes(4, "big") + filler)
    xsub.close()
    ctx.term()
    print(f"sent {count} subscriptions")


if __name__ == "__main__":
    mode, address, topic = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if mode == "plain":
        plain(address, topic, float(sys.argv[4]), float(sys.argv[5]))
    else:
        curve(address, topic, int(sys.argv[4]), sys.argv[5], sys.argv[6])
