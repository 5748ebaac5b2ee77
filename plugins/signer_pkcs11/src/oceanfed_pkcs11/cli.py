"""``oceanfed hsm init``: make this member's secp256k1 key on a PKCS#11 token.

Generates the keypair on the token (private key sensitive, never extractable, a token
object, with the given label), prints the compressed public key and, given the other
members' keys and a threshold, the signblockscript. An existing label is kept unless
``--force`` is given.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Any

from oceanfed.crypto import parse_pubkey
from oceanfed.errors import ConfigError, OceanfedError, SignerError
from oceanfed.ocean.script import multisig_script
from oceanfed_pkcs11.options import read_pin
from oceanfed_pkcs11.p11 import Binding, P11Failure, SlotInfo, library_lock
from oceanfed_pkcs11.signer import load_binding
from oceanfed_pkcs11.token import (
    find_slot,
    generate_keypair,
    label_in_use,
    open_user_session,
    when_ready,
)

FIELDS = {
    "library": "--library",
    "token_label": "--token-label",
    "slot": "--slot",
    "key_label": "--label",
    "pin": "--pin-env/--pin-file",
}
SELF = "self"
log = logging.getLogger("oceanfed.hsm")


def _bindings() -> dict[str, type[Binding]]:
    from oceanfed_pkcs11.binding_pykcs11 import PyKCS11Binding
    from oceanfed_pkcs11.binding_python_pkcs11 import PythonPkcs11Binding

    return {"pkcs11": PythonPkcs11Binding, "pykcs11": PyKCS11Binding}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--library", required=True, help="path of the PKCS#11 module (.so)")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--token-label", help="label of the token")
    where.add_argument("--slot", type=int, help="slot id of the token")
    p.add_argument("--label", required=True, help="label for the new key (the signer's key_label)")
    p.add_argument("--id", dest="key_id", help="CKA_ID for the new key, in hex (random if omitted)")
    pin = p.add_mutually_exclusive_group(required=True)
    pin.add_argument("--pin-env", help="environment variable holding the user PIN")
    pin.add_argument("--pin-file", help="file (mode 0600) holding the user PIN")
    p.add_argument(
        "--members",
        help="comma-separated compressed pubkeys of all members in script order; write 'self' "
        "where the new key goes (appended if absent)",
    )
    p.add_argument("--threshold", type=int, help="signatures needed (M of the M-of-N script)")
    p.add_argument("--force", action="store_true", help="replace an existing key with this label")
    p.add_argument(
        "--binding", choices=("pkcs11", "pykcs11"), default="pkcs11", help="Python binding to use"
    )
    p.set_defaults(func=run)


def register(subparsers: Any) -> None:
    """Add ``hsm`` (with ``init``) to the ``oceanfed`` command line."""
    hsm = subparsers.add_parser("hsm", help="PKCS#11 HSM tools")
    sub = hsm.add_subparsers(dest="hsm_command", metavar="SUBCOMMAND", required=True)
    init = sub.add_parser("init", help="generate this member's secp256k1 key on a token")
    add_arguments(init)


def _members(args: argparse.Namespace) -> list[str] | None:
    if args.members is None and args.threshold is None:
        return None
    if args.members is None or args.threshold is None:
        raise ConfigError("--members and --threshold go together")
    items = [m.strip() for m in args.members.split(",") if m.strip()]
    if items.count(SELF) > 1:
        raise ConfigError("--members: 'self' appears more than once")
    for i, item in enumerate(items):
        if item != SELF:
            try:
                items[i] = parse_pubkey(item).hex()
            except ValueError as exc:
                raise ConfigError(f"--members: entry {i + 1} ({item[:16]}…): {exc}") from None
    if SELF not in items:
        items.append(SELF)
    n = len(items)
    if not 1 <= args.threshold <= n <= 16:
        raise ConfigError(
            f"--threshold: need 1 <= threshold ({args.threshold}) <= members ({n}) <= 16"
        )
    return items


def run(args: argparse.Namespace) -> int:
    members = _members(args)
    key_id = None
    if args.key_id is not None:
        try:
            key_id = bytes.fromhex(args.key_id)
        except ValueError:
            raise ConfigError("--id: expected hex") from None
    pin = read_pin(args.pin_env, args.pin_file, env_field="--pin-env", file_field="--pin-file")
    with library_lock(args.library):
        binding = load_binding(_bindings()[args.binding], args.library, field="--library")

        def open_token() -> tuple[SlotInfo, Any]:
            info = find_slot(binding, args.token_label, args.slot, FIELDS)
            return info, open_user_session(binding, info, pin.reveal(), rw=True, fields=FIELDS)

        info, session = when_ready(binding, open_token, log.info)
        try:
            existing = label_in_use(binding, session, args.label)
            if existing and not args.force:
                raise SignerError(
                    f"--label: token {info.token_label!r} already has a key labelled {args.label!r} "
                    "(use --force to replace it)"
                )
            for obj in existing:
                binding.destroy(session, obj)
            pubkey = generate_keypair(binding, session, args.label, key_id)
        except P11Failure as exc:
            raise SignerError(
                f"token {info.token_label!r}: key generation failed ({exc})"
            ) from None
        finally:
            binding.close_session(session)
    print(f"pubkey {pubkey.hex()}")
    if members is not None:
        if pubkey.hex() in members:
            raise ConfigError("--members: the new key is already listed")
        keys = [pubkey if m == SELF else bytes.fromhex(m) for m in members]
        print(f"signblockscript {multisig_script(args.threshold, keys).hex()}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Standalone entry (``python -m oceanfed_pkcs11.cli``), same options as ``oceanfed hsm init``."""
    parser = argparse.ArgumentParser(prog="oceanfed hsm init", description=__doc__)
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except OceanfedError as exc:
        print(f"oceanfed: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
