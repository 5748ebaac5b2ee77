"""``oceanfed keygen``: make a block/transport key, or a CURVE keypair for the zmq messenger."""

from __future__ import annotations

import argparse
from typing import Any

from oceanfed.crypto import pubkey_of
from oceanfed.errors import OceanfedError
from oceanfed.keyfile import (
    generate_private_key,
    read_private_key,
    write_private_key,
    write_secret_file,
)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "keygen",
        help="write a new private key file and print its public key",
        description=(
            "Write a new secp256k1 private key (hex, mode 0600) to --out and print its "
            "compressed public key. With --curve, write a ZeroMQ CURVE secret key (Z85) "
            "and print the CURVE public key instead. With --show, print the public key of "
            "an existing key file (hex or WIF)."
        ),
    )
    p.add_argument(
        "--out", required=True, metavar="FILE", help="key file to write (or read, with --show)"
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--curve", action="store_true", help="make a CURVE keypair for the zmq messenger"
    )
    mode.add_argument(
        "--show", action="store_true", help="print the public key of an existing key file"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.show:
        print(pubkey_of(read_private_key(args.out)).hex())
        return 0
    if args.curve:
        try:
            import zmq
        except ImportError:
            raise OceanfedError("keygen --curve: needs pyzmq (pip install oceanfed[zmq])") from None
        public, secret = zmq.curve_keypair()
        write_secret_file(args.out, secret.decode("ascii"), force=args.force)
        print(public.decode("ascii"))
        return 0
    key = generate_private_key()
    write_private_key(args.out, key, force=args.force)
    print(pubkey_of(key).hex())
    return 0
