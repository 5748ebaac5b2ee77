"""A member's (or client's) wallet: keys, watched scripts and labels, kept in one 0600
JSON file written atomically. Balances and unspent outputs are not stored: they are the
chain's coins at the wallet's scripts.

A script is *mine* when the wallet can sign for it: P2PKH of a wallet key, or P2SH of a
known multisig redeem script whose every key is in the wallet (as in the node). Scripts
added with ``importaddress`` are *watch-only*.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import coincurve

from oceanfed.atomicfile import write_atomic
from oceanfed.crypto import pubkey_of
from oceanfed.errors import OceanfedError
from oceanfed.keyfile import generate_private_key
from oceanfed.ocean.address import is_p2pkh, is_p2sh, p2pkh_of_pubkey, p2sh_of_redeem
from oceanfed.ocean.encoding import hash160
from oceanfed.ocean.script import parse_multisig


class Wallet:
    """Keys by hash160, redeem scripts by hash160, watched scripts, labels by script."""

    def __init__(self, path: str | os.PathLike[str] | None = None):
        self.path = Path(path) if path is not None else None
        self.lock = threading.RLock()
        self.keys: dict[bytes, bytes] = {}  # hash160(pubkey) -> private key
        self.redeem: dict[bytes, bytes] = {}  # hash160(script) -> redeem script
        self.watch: set[bytes] = set()
        self.labels: dict[bytes, str] = {}  # scriptPubKey -> label ("account")
        self.times: dict[bytes, int] = {}
        if self.path is not None and self.path.exists():
            self._load()

    def __repr__(self) -> str:  # never show keys
        return f"Wallet({self.path}, {len(self.keys)} keys)"

    # -- persistence ----------------------------------------------------------------------
    def _load(self) -> None:
        assert self.path is not None
        try:
            data = json.loads(self.path.read_text())
            for k in data.get("keys", []):
                self._add_key(bytes.fromhex(k["key"]), k.get("label", ""))
            for w in data.get("watch", []):
                script = bytes.fromhex(w["script"])
                self.watch.add(script)
                self.labels.setdefault(script, w.get("label", ""))
            for r in data.get("redeem", []):
                script = bytes.fromhex(r)
                self.redeem[hash160(script)] = script
            for script_hex, label in data.get("labels", {}).items():
                self.labels[bytes.fromhex(script_hex)] = label
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise OceanfedError(f"{self.path}: unreadable wallet file ({exc})") from None

    def save(self) -> None:
        if self.path is None:
            return
        with self.lock:
            data = {
                "keys": [
                    {"key": k.hex(), "label": self.labels.get(_p2pkh(h), "")}
                    for h, k in self.keys.items()
                ],
                "watch": [{"script": s.hex(), "label": self.labels.get(s, "")} for s in self.watch],
                "redeem": [r.hex() for r in self.redeem.values()],
                "labels": {s.hex(): label for s, label in self.labels.items()},
            }
            write_atomic(self.path, json.dumps(data).encode("utf-8"), mode=0o600, replace=True)

    # -- keys and scripts -----------------------------------------------------------------
    def _add_key(self, key: bytes, label: str) -> bytes:
        h = hash160(pubkey_of(key))
        self.keys[h] = key
        script = _p2pkh(h)
        if label or script not in self.labels:
            self.labels[script] = label
        return script

    def new_key(self, label: str = "") -> bytes:
        """A fresh key's P2PKH script (saved)."""
        with self.lock:
            script = self._add_key(generate_private_key(), label)
            self.save()
            return script

    def import_key(self, key: bytes, label: str = "") -> bytes:
        with self.lock:
            coincurve.PrivateKey(key)
            script = self._add_key(key, label)
            self.save()
            return script

    def import_script(self, script: bytes, label: str = "", *, p2sh: bool = False) -> None:
        """Watch ``script`` (and, with ``p2sh``, its P2SH form, learning the redeem script)."""
        with self.lock:
            targets = [script]
            if p2sh:
                self.redeem[hash160(script)] = script
                targets.append(p2sh_of_redeem(script))
            for s in targets:
                self.watch.add(s)
                self.labels[s] = label
            self.save()

    def add_redeem_script(self, script: bytes) -> None:
        with self.lock:
            self.redeem[hash160(script)] = script
            self.save()

    def key_for(self, h160: bytes) -> bytes | None:
        return self.keys.get(h160)

    def pubkey_for(self, h160: bytes) -> bytes | None:
        key = self.keys.get(h160)
        return pubkey_of(key) if key is not None else None

    def redeem_for(self, script_pubkey: bytes) -> bytes | None:
        return self.redeem.get(script_pubkey[2:22]) if is_p2sh(script_pubkey) else None

    def is_mine(self, script: bytes) -> bool:
        if is_p2pkh(script):
            return script[3:23] in self.keys
        redeem = self.redeem_for(script)
        if redeem is None:
            return False
        try:
            _, pubkeys = parse_multisig(redeem)
        except OceanfedError:
            return is_p2pkh(redeem) and redeem[3:23] in self.keys
        return all(hash160(pk) in self.keys for pk in pubkeys)

    def is_watched(self, script: bytes) -> bool:
        return script in self.watch

    def solvable(self, script: bytes) -> bool:
        return is_p2pkh(script) or self.redeem_for(script) is not None

    def scripts(self) -> set[bytes]:
        """Every script the wallet tracks (its own and watched ones)."""
        with self.lock:
            out = {_p2pkh(h) for h in self.keys} | set(self.watch)
            out |= {p2sh_of_redeem(r) for r in self.redeem.values()}
            return out

    def label(self, script: bytes) -> str:
        return self.labels.get(script, "")

    def pubkeys(self) -> list[bytes]:
        return [pubkey_of(k) for k in self.keys.values()]


def _p2pkh(h160: bytes) -> bytes:
    return b"\x76\xa9\x14" + h160 + b"\x88\xac"


def p2pkh_for_key(key: bytes) -> bytes:
    return p2pkh_of_pubkey(pubkey_of(key))
