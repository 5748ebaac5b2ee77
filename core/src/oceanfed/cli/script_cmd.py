"""``oceanfed script``: print the M-of-N CHECKMULTISIG signblockscript for a set of keys."""

from __future__ import annotations

import argparse
from typing import Any

from oceanfed.crypto import parse_pubkey
from oceanfed.errors import ConfigError
from oceanfed.ocean.script import multisig_script

MAX_KEYS = 16


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "script",
        help="print the signblockscript for M-of-N public keys",
        description=(
            "Print the hex of 'M <pubkey>... N OP_CHECKMULTISIG', the -signblockscript of an "
            "Ocean chain. Keys are compressed secp256k1 public keys in hex, in member order."
        ),
    )
    p.add_argument(
        "--threshold", "-m", type=int, required=True, metavar="M", help="signatures needed"
    )
    p.add_argument("pubkeys", nargs="+", metavar="PUBKEY", help="member public keys, in order")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    keys: list[bytes] = []
    for i, text in enumerate(args.pubkeys, 1):
        try:
            key = parse_pubkey(text)
        except ValueError as exc:
            raise ConfigError(
                f"PUBKEY #{i}: expected a 33-byte compressed secp256k1 key in hex ({exc})"
            ) from None
        if key in keys:
            raise ConfigError(f"PUBKEY #{i}: same key as PUBKEY #{keys.index(key) + 1}")
        keys.append(key)
    n = len(keys)
    if n > MAX_KEYS:
        raise ConfigError(f"PUBKEY: at most {MAX_KEYS} keys, got {n}")
    if not 1 <= args.threshold <= n:
        raise ConfigError(
            f"--threshold: expected 1 to {n} (the number of public keys), got {args.threshold}"
        )
    print(multisig_script(args.threshold, keys).hex())
    return 0
