"""Token and key operations shared by both signer drivers, ``oceanfed hsm init`` and the
SoftHSM fixture: finding the token and key, reading the public point, making keys.

Errors are :class:`~oceanfed.errors.SignerError` lines naming the config field at fault;
``fields`` maps the neutral names (``token_label``, ``slot``, ``key_label``, ``pin``) to
the caller's spelling (``signer.token_label`` or ``--token-label``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import coincurve

from oceanfed.crypto import pubkey_of
from oceanfed.errors import SignerError
from oceanfed_pkcs11.p11 import (
    CKA_CLASS,
    CKA_EC_PARAMS,
    CKA_EC_POINT,
    CKA_EXTRACTABLE,
    CKA_ID,
    CKA_KEY_TYPE,
    CKA_LABEL,
    CKA_PRIVATE,
    CKA_SENSITIVE,
    CKA_SIGN,
    CKA_TOKEN,
    CKA_VALUE,
    CKA_VERIFY,
    CKK_EC,
    CKO_PRIVATE_KEY,
    CKO_PUBLIC_KEY,
    PIN_REJECTED,
    SECP256K1_PARAMS,
    Binding,
    P11Failure,
    SlotInfo,
)


class TokenNotReady(SignerError):
    """The token could not be listed or opened, is not listed, or reads as not initialised:
    this may pass by itself (a library initialised while another process rewrote the
    token's files, a token not yet plugged in). A refused PIN or a missing key never raise
    this."""


#: pauses (s) between the tries of :func:`when_ready` while the token is not ready: five
#: tries in about 1.5 s
OPEN_PAUSES = (0.1, 0.2, 0.4, 0.8)
_T = TypeVar("_T")


def when_ready(
    binding: Binding,
    attempt: Callable[[], _T],
    note: Callable[[str], None],
    pauses: tuple[float, ...] = OPEN_PAUSES,
) -> _T:
    """``attempt()`` (find the token, open a session...), tried again with the library
    re-initialised while it raises :class:`TokenNotReady`: SoftHSM2 lists a token only if
    its files were readable when the library was initialised, and another process logging
    in rewrites them. ``note`` gets one line per pause. Any other error (a refused PIN is
    never tried again: it counts against the token's retry limit) and the last try's
    :class:`TokenNotReady` propagate. Call it with the library's lock held."""
    for pause in pauses:
        try:
            return attempt()
        except TokenNotReady as exc:
            note(f"{exc}; looking again in {pause:.1f} s")
        time.sleep(pause)
        try:
            binding.reinitialize()
        except P11Failure as exc:
            note(f"re-initialising the library: {exc}")
    return attempt()


SIGNER_FIELDS: Mapping[str, str] = {
    "library": "signer.library",
    "token_label": "signer.token_label",
    "slot": "signer.slot",
    "key_label": "signer.key_label",
    "pin": "signer.pin_env/pin_file",
}


def find_slot(
    binding: Binding,
    token_label: str | None,
    slot: int | None,
    fields: Mapping[str, str] = SIGNER_FIELDS,
) -> SlotInfo:
    """The slot of the token named by label or slot id; the token must be initialised."""
    try:
        slots = binding.slots()
    except P11Failure as exc:
        raise TokenNotReady(
            f"{fields['library']}: {binding.library}: cannot list slots ({exc})"
        ) from None
    if token_label is not None:
        found = [s for s in slots if s.initialized and s.token_label == token_label]
        if not found:
            names = ", ".join(repr(s.token_label) for s in slots if s.initialized) or "none"
            raise TokenNotReady(
                f"{fields['token_label']}: no initialised token labelled {token_label!r} "
                f"in {binding.library} (tokens: {names})"
            )
        if len(found) > 1:
            raise SignerError(
                f"{fields['token_label']}: several tokens are labelled {token_label!r}; "
                f"use {fields['slot']} instead"
            )
        info = found[0]
    else:
        match = [s for s in slots if s.slot_id == slot]
        if not match:
            ids = ", ".join(str(s.slot_id) for s in slots) or "none"
            raise TokenNotReady(
                f"{fields['slot']}: no token in slot {slot} (slots with a token: {ids})"
            )
        info = match[0]
        if not info.initialized:
            raise TokenNotReady(
                f"{fields['slot']}: the token in slot {slot} is not initialised "
                "(initialise it first, e.g. softhsm2-util --init-token)"
            )
    if not info.user_pin_initialized:
        raise TokenNotReady(
            f"{fields['token_label'] if token_label is not None else fields['slot']}: "
            f"token {info.token_label!r} has no user PIN set (it is not initialised for use)"
        )
    return info


def open_user_session(
    binding: Binding,
    info: SlotInfo,
    pin: str,
    rw: bool = False,
    fields: Mapping[str, str] = SIGNER_FIELDS,
) -> Any:
    """Open a session on the token and log the user in; a bad PIN is a clear error."""
    try:
        return binding.open_session(info.slot_id, pin, rw=rw)
    except P11Failure as exc:
        if exc.code in PIN_REJECTED:
            what = (
                "locked the user PIN" if exc.code == "CKR_PIN_LOCKED" else "rejected the user PIN"
            )
            raise SignerError(
                f"{fields['pin']}: token {info.token_label!r} {what} ({exc.code})"
            ) from None
        if exc.code == "CKR_USER_PIN_NOT_INITIALIZED":
            raise TokenNotReady(
                f"token {info.token_label!r}: the user PIN is not initialised"
            ) from None
        raise TokenNotReady(f"token {info.token_label!r}: cannot open a session ({exc})") from None


def _key_template(cls: int, label: str, key_id: bytes | None) -> dict[int, Any]:
    template: dict[int, Any] = {CKA_CLASS: cls, CKA_LABEL: label}
    if key_id is not None:
        template[CKA_ID] = key_id
    return template


def _describe(label: str, key_id: bytes | None) -> str:
    return f"{label!r}" + (f" with id {key_id.hex()}" if key_id is not None else "")


def find_private_key(
    binding: Binding,
    session: Any,
    info: SlotInfo,
    label: str,
    key_id: bytes | None,
    fields: Mapping[str, str] = SIGNER_FIELDS,
) -> Any:
    """The one private key with this label (and id); errors name the label."""
    keys = binding.find(session, _key_template(CKO_PRIVATE_KEY, label, key_id))
    if not keys:
        raise SignerError(
            f"{fields['key_label']}: no private key labelled {_describe(label, key_id)} "
            f"on token {info.token_label!r}"
        )
    if len(keys) > 1:
        raise SignerError(
            f"{fields['key_label']}: {len(keys)} private keys are labelled {label!r} on token "
            f"{info.token_label!r}; set the key id to choose one"
        )
    params = binding.attribute(session, keys[0], CKA_EC_PARAMS)
    if params is not None and params != SECP256K1_PARAMS:
        raise SignerError(
            f"{fields['key_label']}: key {label!r} on token {info.token_label!r} is not a secp256k1 EC key"
        )
    return keys[0]


def decode_ec_point(raw: bytes) -> bytes:
    """CKA_EC_POINT (a DER OCTET STRING, or the bare point some tokens return) as a
    33-byte compressed secp256k1 key; ValueError if it is neither."""
    candidates = [raw]
    if len(raw) >= 2 and raw[0] == 0x04:
        if raw[1] == len(raw) - 2:
            candidates.insert(0, raw[2:])
        elif raw[1] == 0x81 and len(raw) >= 3 and raw[2] == len(raw) - 3:
            candidates.insert(0, raw[3:])
    for point in candidates:
        if len(point) in (33, 65):
            try:
                return coincurve.PublicKey(point).format(compressed=True)
            except ValueError:
                continue
    raise ValueError(f"CKA_EC_POINT is not a secp256k1 point ({len(raw)} bytes)")


def read_public_key(
    binding: Binding,
    session: Any,
    info: SlotInfo,
    label: str,
    key_id: bytes | None,
    private_key: Any,
    fields: Mapping[str, str] = SIGNER_FIELDS,
) -> bytes:
    """The compressed public key of the keypair, from CKA_EC_POINT."""
    if key_id is None:
        key_id = binding.attribute(session, private_key, CKA_ID)
    pubs = binding.find(session, _key_template(CKO_PUBLIC_KEY, label, key_id))
    if not pubs and key_id is not None:
        pubs = binding.find(session, _key_template(CKO_PUBLIC_KEY, label, None))
    raw = binding.attribute(session, pubs[0], CKA_EC_POINT) if len(pubs) == 1 else None
    if raw is None:
        raw = binding.attribute(session, private_key, CKA_EC_POINT)
    if raw is None:
        problem = "several public keys" if len(pubs) > 1 else "no public key object"
        raise SignerError(
            f"{fields['key_label']}: {problem} labelled {label!r} on token {info.token_label!r} "
            "(the signer reads CKA_EC_POINT from it)"
        )
    try:
        return decode_ec_point(raw)
    except ValueError as exc:
        raise SignerError(f"{fields['key_label']}: key {label!r}: {exc}") from None


def label_in_use(binding: Binding, session: Any, label: str) -> list[Any]:
    """Key objects (private or public) carrying ``label``."""
    found = []
    for cls in (CKO_PRIVATE_KEY, CKO_PUBLIC_KEY):
        found += binding.find(session, {CKA_CLASS: cls, CKA_LABEL: label})
    return found


def generate_keypair(
    binding: Binding, session: Any, label: str, key_id: bytes | None = None
) -> bytes:
    """Generate a secp256k1 keypair on the token (private key sensitive, never
    extractable, a token object) and return the compressed public key."""
    key_id = key_id if key_id is not None else os.urandom(8)
    common: dict[int, Any] = {CKA_TOKEN: True, CKA_LABEL: label, CKA_ID: key_id}
    public = {**common, CKA_EC_PARAMS: SECP256K1_PARAMS, CKA_VERIFY: True, CKA_PRIVATE: False}
    private = {
        **common,
        CKA_PRIVATE: True,
        CKA_SENSITIVE: True,
        CKA_EXTRACTABLE: False,
        CKA_SIGN: True,
    }
    pub, _ = binding.generate_ec_keypair(session, public, private)
    raw = binding.attribute(session, pub, CKA_EC_POINT)
    if raw is None:
        raise SignerError(f"the token returned no CKA_EC_POINT for the new key {label!r}")
    return decode_ec_point(raw)


def import_keypair(
    binding: Binding, session: Any, label: str, privkey: bytes, key_id: bytes | None = None
) -> bytes:
    """Store a known secp256k1 private key (and its public key) on the token; for tests
    with fixed vectors. Returns the compressed public key."""
    key_id = key_id if key_id is not None else os.urandom(8)
    uncompressed = coincurve.PublicKey(pubkey_of(privkey)).format(compressed=False)
    common: dict[int, Any] = {
        CKA_TOKEN: True,
        CKA_LABEL: label,
        CKA_ID: key_id,
        CKA_KEY_TYPE: CKK_EC,
    }
    binding.create(
        session,
        {
            **common,
            CKA_CLASS: CKO_PRIVATE_KEY,
            CKA_EC_PARAMS: SECP256K1_PARAMS,
            CKA_VALUE: privkey,
            CKA_PRIVATE: True,
            CKA_SENSITIVE: True,
            CKA_EXTRACTABLE: False,
            CKA_SIGN: True,
        },
    )
    binding.create(
        session,
        {
            **common,
            CKA_CLASS: CKO_PUBLIC_KEY,
            CKA_EC_PARAMS: SECP256K1_PARAMS,
            CKA_EC_POINT: bytes([0x04, len(uncompressed)]) + uncompressed,
            CKA_VERIFY: True,
            CKA_PRIVATE: False,
        },
    )
    return pubkey_of(privkey)
