"""``oceanfed status --config fed.toml``: what a member is doing, or last did.

A running member rewrites ``<state_dir>/status.json`` several times a second; when it is
not running, the sign-state comes from its state database instead. The node is asked for
its tip either way.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from oceanfed.cli.common import add_config_argument, config_path
from oceanfed.config import FedConfig, load_config
from oceanfed.errors import OceanfedError
from oceanfed.statestore import Owner, StateError, inspect_state

#: a status.json older than this (seconds) is from a member that is no longer running
STALE_AFTER = 5.0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "status", help="show a member's tip, sign-state, round and peers",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    add_config_argument(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def _pid_alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_status_file(state_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((state_dir / "status.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_state_db(state_dir: Path, owner: Owner | None = None) -> dict[str, Any] | None:
    """The stored sign-state and last signed block, read-only (never takes the lock).

    Judged exactly as ``run`` judges it: state ``run`` would refuse raises StateError.
    """
    stored = inspect_state(state_dir, owner)
    if stored is None:
        return None
    ss = (stored.record or {}).get("sign_state") or {}
    last = stored.last_signed
    return {
        "sign_state": {"height": ss.get("height", -1), "block_hash": ss.get("block_hash")},
        "last_signed": {"height": last[0], "block_hash": last[1]} if last else None,
    }


def node_tip(cfg: FedConfig) -> dict[str, Any]:
    from oceanfed.rpc import from_config

    try:
        client = from_config(cfg.node, cfg.base_dir, cfg.federation.chain)
        client.timeout, client.retries = min(cfg.node.timeout, 5.0), 0
        try:
            best = client.call("getbestblockhash")
            header = client.call("getblockheader", best)
        finally:
            client.close()
    except OceanfedError as exc:
        return {"url": cfg.node.url, "error": str(exc)}
    return {"url": cfg.node.url, "height": int(header["height"]), "hash": best}


def _identity(cfg: FedConfig) -> dict[str, Any]:
    return {
        "member": cfg.member.name,
        "federation": f"{cfg.federation.threshold}-of-{len(cfg.federation.members)}",
        "chain": cfg.federation.chain,
        "state_dir": str(cfg.path(cfg.member.state_dir)),
    }


def _running_view(out: dict[str, Any], live: dict[str, Any]) -> None:
    """The fields of a running member's own status (status.json or the live driver)."""
    out["sign_state"] = live.get("sign_state")
    for key in ("height", "round", "step", "locked", "decided", "last_block", "rpc_errors"):
        out[key] = live.get(key)
    out["peers_seen"] = {
        name: round(float(live["time"]) - float(at), 3)
        for name, at in (live.get("peers_seen") or {}).items()
    }
    out["messenger"] = live.get("messenger")
    out["counters"] = live.get("counters")


def live_status(cfg: FedConfig, live: dict[str, Any]) -> dict[str, Any]:
    """What ``oceanfed status`` shows, from a running member's own :meth:`Driver.status`
    (``GET /status``). The node's tip is the one the member last saw: no node call."""
    out = _identity(cfg)
    out.update(running=True, pid=live.get("pid"), status_age=0.0, source="live")
    _running_view(out, live)
    stored = read_state_db(cfg.path(cfg.member.state_dir))
    if stored is not None:
        out["last_signed"] = stored["last_signed"]
    tip = live.get("tip")
    out["node"] = (
        {"url": cfg.node.url, "height": tip["height"], "hash": tip["hash"],
         "last_ok_age": round(float(live["time"]) - float(live.get("last_node_ok", 0)), 3)}
        if tip else {"url": cfg.node.url, "error": "no tip seen yet"}
    )
    return out


def collect(cfg: FedConfig) -> dict[str, Any]:
    """Everything ``oceanfed status`` shows, as one dict."""
    state_dir = cfg.path(cfg.member.state_dir)
    now = time.time()
    out = _identity(cfg)
    live = read_status_file(state_dir)
    # when it was written, in Unix time ("time" is the member's own clock, see steadyclock)
    age = now - float(live.get("wall_time", live.get("time", 0))) if live else None
    running = bool(
        live and live.get("running") and _pid_alive(live.get("pid"))
        and age is not None and age < STALE_AFTER
    )
    out["running"] = running
    if live is not None:
        out["pid"] = live.get("pid")
        out["status_age"] = round(age or 0.0, 3)
    try:
        stored = read_state_db(state_dir, Owner(cfg.federation.chain, cfg.member.name))
    except StateError as exc:
        stored, out["state_error"] = None, str(exc)
    if running and live is not None:
        out["source"] = "status.json"
        _running_view(out, live)
    elif stored is not None:
        out["source"] = "state database"
        out["sign_state"] = stored["sign_state"]
        if live is not None:
            out["last_block"] = live.get("last_block")
            out["peers_seen"] = {
                name: round(now - float(at), 3)
                for name, at in (live.get("peers_seen") or {}).items()
            }
    else:
        out["source"] = "unusable" if "state_error" in out else "none"
        out["sign_state"] = None
    if stored is not None:
        out["last_signed"] = stored["last_signed"]
    out["node"] = node_tip(cfg)
    return out


def _ago(seconds: float) -> str:
    return f"{seconds:.1f}s ago" if seconds < 120 else f"{seconds / 60:.0f}m ago"


def render(s: dict[str, Any]) -> list[str]:
    lines = [f"member      {s['member']} ({s['federation']} on {s['chain']})"]
    if s["running"]:
        lines.append(f"running     yes (pid {s.get('pid')}, status {s.get('status_age', 0):.1f}s old)")
    elif "pid" in s:
        lines.append(f"running     no (last status {_ago(s.get('status_age') or 0)})")
    else:
        lines.append("running     no (never ran with this state_dir)" if s["source"] == "none"
                     else "running     no")
    node = s["node"]
    if "error" in node:
        lines.append(f"node tip    unknown: {node['error']}")
    else:
        lines.append(f"node tip    {node['height']} {node['hash']}")
    ss = s.get("sign_state")
    if s.get("state_error"):
        lines.append(f"sign-state  UNUSABLE: {s['state_error']}")
    elif ss and ss.get("height", -1) >= 0 and not ss.get("block_hash"):
        lines.append(f"sign-state  nothing signed since the reset: signs only above height {ss['height']}")
    elif ss and ss.get("height", -1) >= 0:
        lines.append(f"sign-state  height {ss['height']} block {ss.get('block_hash')}")
    else:
        lines.append("sign-state  nothing signed yet")
    last = s.get("last_signed")
    if last:
        lines.append(f"last signed {last['height']} {last['block_hash']}")
    if s["running"]:
        lines.append(f"deciding    height {s.get('height')} round {s.get('round')} step {s.get('step')}")
    block = s.get("last_block")
    if block:
        lines.append(
            f"last block  {block['height']} {block['hash'][:16]} proposer {block['proposer']} "
            f"round {block['round']} signers {','.join(block['signers'])} "
            f"{block['latency'] * 1000:.0f} ms"
        )
    peers = s.get("peers_seen")
    if peers is not None:
        seen = ", ".join(f"{n} {_ago(a)}" for n, a in peers.items()) or "none"
        lines.append(f"peers seen  {seen}")
    return lines


def run(args: argparse.Namespace) -> int:
    cfg = load_config(config_path(args))
    s = collect(cfg)
    if args.json:
        print(json.dumps(s, indent=2))
    else:
        print("\n".join(render(s)))
    return 1 if s.get("state_error") else 0
