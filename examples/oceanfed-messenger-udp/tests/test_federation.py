"""A 2-of-3 federation on the oceanfed devnet whose members talk over udp-example.

This is how a plugin is tested against the devnet: create one with the launcher, point each
member's fed.toml at the plugin, start the processes, and watch the chain grow.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

from oceanfed_devnet.launcher import LocalFederation


def test_blocks_are_signed_over_udp(tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    with LocalFederation(tmp_path / "fed", members=3, threshold=2, block_time=0.5) as fed:
        socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in fed.members]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        addr = {n: f"127.0.0.1:{s.getsockname()[1]}" for n, s in zip(fed.members, socks, strict=True)}
        for s in socks:
            s.close()
        for name in fed.members:
            fed.set_messenger(name, {
                "driver": "udp-example",
                "bind": addr[name],
                "peers": {n: a for n, a in addr.items() if n != name},
            })
        fed.start_devnet()
        fed.start_member("m0", env={"OCEANFED_AUDIT_LOG": str(audit)})
        fed.start(["m1", "m2"])
        height = fed.wait_height(4, 60)
        assert height >= 4, fed.log_tail("m0", 10)
        assert "udp-example messenger on" in (fed.dir / "logs" / "m0.log").read_text()
    events = [json.loads(line) for line in audit.read_text().splitlines()]
    submitted = [e for e in events if e["event"] == "block_submitted" and e["result"] == "accepted"]
    assert submitted, events[:5]
    assert any(e["event"] == "signature_received" and e["valid"] for e in events)
