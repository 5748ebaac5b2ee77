"""Which block-signing key this member has: asked of its node wallet or read from its HSM.

* Node wallet: the node is asked for a proposal (``getnewblockhex``) and to sign it
  (``signblock``); the signature is checked against every key of the chain's script, which
  tells which key the wallet holds. Nothing is published.
* HSM: as upstream did, the first initialised token of ``PKCS11_LIB`` and the key labelled
  ``KEY_LABEL`` followed by the member's ``--id`` (or ``KEY_LABEL`` alone); its public point
  (CKA_EC_POINT) is read through the PKCS#11 plugin. ``USER_PIN`` logs in when it is set.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from oceanfed.crypto import unwrap_scriptsig, verify_digest
from oceanfed.errors import ConfigError, DecodeError, OceanfedError, RPCError
from oceanfed.migrate.chain import ChainInfo
from oceanfed.ocean.block import Block
from oceanfed.rpc import NodeClient

#: the environment variables upstream's HSM path read
PKCS11_LIB = "PKCS11_LIB"
KEY_LABEL = "KEY_LABEL"
USER_PIN = "USER_PIN"


@dataclass(frozen=True)
class HsmKey:
    """Where the HSM key is and its public key."""

    library: str
    token_label: str
    key_label: str
    pubkey: bytes
    notes: tuple[str, ...] = ()


def node_wallet_key(node: NodeClient, chain: ChainInfo, where: str, attempts: int = 3) -> bytes:
    """The script key the node's wallet signs with; OceanfedError if it holds none."""
    for attempt in range(attempts):
        try:
            block_hex = node.call("getnewblockhex")
            answer = node.call("signblock", block_hex)
        except RPCError as exc:
            if attempt + 1 < attempts and exc.code == -25:  # the tip moved meanwhile
                continue
            raise OceanfedError(f"{where}: cannot have the node sign a test proposal: {exc}") from None
        break
    if not isinstance(answer, str) or not isinstance(block_hex, str):
        raise OceanfedError(f"{where}: signblock did not answer a hex string")
    if answer == "00":
        raise ConfigError(
            f"{where}: the node's wallet holds no key of the chain's signblockscript "
            f"({chain.threshold}-of-{chain.members}); import this member's block key "
            "(importprivkey) or give --hsm"
        )
    try:
        digest = Block.from_hex(block_hex).header.digest()
        der = unwrap_scriptsig(bytes.fromhex(answer))
    except (ValueError, DecodeError):
        raise OceanfedError(f"{where}: signblock returned a malformed signature") from None
    for pubkey in chain.pubkeys:
        if verify_digest(pubkey, digest, der, lax=True):
            return pubkey
    raise ConfigError(
        f"{where}: the node's wallet signs with a key that is not in the chain's signblockscript"
    )


def _env(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(
            f"upstream --hsm: environment variable {name} is not set (upstream's HSM signer "
            f"needs {PKCS11_LIB} and {KEY_LABEL}, and {USER_PIN} for the PIN)"
        )
    return value


def hsm_key(member_id: int, env: Mapping[str, str] | None = None) -> HsmKey:
    """Find the HSM key upstream member ``member_id`` signed with and read its pubkey."""
    env = os.environ if env is None else env
    library = _env(env, PKCS11_LIB)
    label = _env(env, KEY_LABEL)
    try:
        from oceanfed_pkcs11.binding_python_pkcs11 import PythonPkcs11Binding
        from oceanfed_pkcs11.p11 import (
            CKA_CLASS,
            CKA_EC_POINT,
            CKA_LABEL,
            CKO_PRIVATE_KEY,
            CKO_PUBLIC_KEY,
            P11Failure,
            library_lock,
        )
        from oceanfed_pkcs11.signer import load_binding
        from oceanfed_pkcs11.token import decode_ec_point, read_public_key
    except ImportError:
        raise ConfigError(
            "upstream --hsm: the pkcs11 signer plugin is not installed "
            "(pip install 'oceanfed[hsm]')"
        ) from None
    fields = {
        "library": PKCS11_LIB, "token_label": "the first token", "slot": "the first token",
        "key_label": KEY_LABEL, "pin": USER_PIN,
    }  # fmt: skip
    pin = env.get(USER_PIN) or None
    with library_lock(library):
        binding = load_binding(PythonPkcs11Binding, library, field=PKCS11_LIB)
        try:
            slots = [s for s in binding.slots() if s.initialized]
        except Exception as exc:  # a P11Failure from the library
            raise OceanfedError(f"{PKCS11_LIB}: {library}: cannot list tokens ({exc})") from None
        if not slots:
            raise ConfigError(f"{PKCS11_LIB}: {library} has no initialised token")
        info = slots[0]
        try:
            session = binding.open_session(info.slot_id, pin)
        except Exception as exc:
            what = "log in with USER_PIN" if pin else "open a session (USER_PIN is not set)"
            raise OceanfedError(f"{USER_PIN}: token {info.token_label!r}: cannot {what} ({exc})") from None
        try:
            notes: list[str] = []
            chosen = None
            for candidate in (f"{label}{member_id}", label):
                found: list[Any] = []
                for cls in (CKO_PRIVATE_KEY, CKO_PUBLIC_KEY):
                    found += binding.find(session, {CKA_CLASS: cls, CKA_LABEL: candidate})
                if found:
                    chosen = candidate
                    break
            if chosen is None:
                raise ConfigError(
                    f"{KEY_LABEL}: no key labelled {label + str(member_id)!r} (upstream's "
                    f"KEY_LABEL + --id) or {label!r} on token {info.token_label!r}"
                )
            if chosen != f"{label}{member_id}":
                notes.append(
                    f"no key labelled {label + str(member_id)!r} (upstream's KEY_LABEL + --id); "
                    f"using {chosen!r}"
                )
            privs = binding.find(session, {CKA_CLASS: CKO_PRIVATE_KEY, CKA_LABEL: chosen})
            if privs:
                pubkey = read_public_key(binding, session, info, chosen, None, privs[0], fields)
            else:  # not logged in: only the public object is visible
                pubs = binding.find(session, {CKA_CLASS: CKO_PUBLIC_KEY, CKA_LABEL: chosen})
                raw = binding.attribute(session, pubs[0], CKA_EC_POINT) if len(pubs) == 1 else None
                if raw is None:
                    raise ConfigError(
                        f"{KEY_LABEL}: cannot read the public key of {chosen!r} on token "
                        f"{info.token_label!r}; set {USER_PIN} so that the token can be logged in"
                    )
                try:
                    pubkey = decode_ec_point(raw)
                except ValueError as exc:
                    raise ConfigError(f"{KEY_LABEL}: key {chosen!r}: {exc}") from None
        except P11Failure as exc:
            raise OceanfedError(f"token {info.token_label!r}: {exc}") from None
        finally:
            binding.close_session(session)
    if len(slots) > 1:
        notes.append(
            f"{len(slots)} tokens in {library}; upstream took the first, {info.token_label!r}"
        )
    return HsmKey(library, info.token_label, chosen, pubkey, tuple(notes))
