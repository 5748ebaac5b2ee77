"""``audit-example`` hooks: append one JSON line per event to ``$OCEANFED_AUDIT_LOG``.

Does nothing unless that environment variable is set, so that installing the plugin changes
no member that did not ask for it.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

from oceanfed.hookspecs import hookimpl

_lock = threading.Lock()


def _write(event: str, **fields: Any) -> None:
    path = os.environ.get("OCEANFED_AUDIT_LOG")
    if not path:
        return
    line = json.dumps({"ts": time.time(), "event": event, **fields}, sort_keys=True)
    with _lock, open(path, "a") as fh:
        fh.write(line + "\n")


@hookimpl
def oceanfed_block_submitted(height: int, block_hash: str, result: str) -> None:
    _write("block_submitted", height=height, block_hash=block_hash, result=result)


@hookimpl
def oceanfed_proposal_rejected(height: int, round: int, proposer: str, block_hash: str, reason: str) -> None:
    _write("proposal_rejected", height=height, round=round, proposer=proposer,
           block_hash=block_hash, reason=reason)


@hookimpl
def oceanfed_round_timed_out(height: int, round: int, step: str) -> None:
    _write("round_timed_out", height=height, round=round, step=step)


@hookimpl
def oceanfed_signature_received(height: int, block_hash: str, member: str, valid: bool) -> None:
    _write("signature_received", height=height, block_hash=block_hash, member=member, valid=valid)
