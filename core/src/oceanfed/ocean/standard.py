"""Standard script templates (``Solver``) and the JSON the node shows for a script."""

from __future__ import annotations

from typing import Any

from oceanfed.errors import DecodeError
from oceanfed.ocean.address import (
    is_p2pkh,
    is_p2sh,
    p2pkh_of_pubkey,
    p2sh_of_redeem,
    script_to_address,
)
from oceanfed.ocean.interpreter import script_asm
from oceanfed.ocean.script import parse_multisig

#: the freeze address's script: P2PKH(hash160 = 0)
FREEZE_SCRIPT = b"\x76\xa9\x14" + bytes(20) + b"\x88\xac"


def classify(script: bytes) -> tuple[str, int, list[str]]:
    """``(type, reqSigs, addresses)`` as ``ExtractDestinations`` gives them."""
    if is_p2pkh(script):
        return "pubkeyhash", 1, [script_to_address(script) or ""]
    if is_p2sh(script):
        return "scripthash", 1, [script_to_address(script) or ""]
    if script[:1] == b"\x6a":
        return "nulldata", 0, []
    if len(script) in (35, 67) and script[-1] == 0xAC and script[0] == len(script) - 2:
        return "pubkey", 1, [script_to_address(p2pkh_of_pubkey(script[1:-1])) or ""]
    try:
        m, keys = parse_multisig(script)
    except DecodeError:
        return "nonstandard", 0, []
    return "multisig", m, [script_to_address(p2pkh_of_pubkey(k)) or "" for k in keys]


def script_pubkey_json(script: bytes, *, output: bool = True) -> dict[str, Any]:
    """``scriptPubKey`` of a decoded output (an empty output script is a fee)."""
    out: dict[str, Any] = {"asm": script_asm(script), "hex": script.hex()}
    if output and not script:
        out["type"] = "fee"
        return out
    kind, req, addresses = classify(script)
    if kind in ("nonstandard", "nulldata"):
        out["type"] = kind
        return out
    out.update({"reqSigs": req, "type": kind, "addresses": addresses})
    return out


def decodescript_json(script: bytes) -> dict[str, Any]:
    """The ``decodescript`` result."""
    kind, req, addresses = classify(script)
    out: dict[str, Any] = {"asm": script_asm(script)}
    if kind not in ("nonstandard", "nulldata"):
        out.update({"reqSigs": req, "type": kind, "addresses": addresses})
    else:
        out["type"] = kind
    if kind != "scripthash":
        out["p2sh"] = script_to_address(p2sh_of_redeem(script))
    return out
