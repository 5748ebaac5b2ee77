"""Hooks of the PKCS#11 plugin: finding an upstream ``--hsm`` member's key for ``oceanfed migrate``."""

from __future__ import annotations

from typing import Any

from oceanfed.errors import ConfigError, OceanfedError
from oceanfed.hookspecs import hookimpl
from oceanfed.interfaces import HsmSignerTable, UpstreamHsm


@hookimpl
def oceanfed_upstream_hsm_key(hsm: UpstreamHsm) -> HsmSignerTable:
    """The key upstream member ``hsm.member_id`` signed with, and the ``pkcs11`` signer table."""
    pubkey, token_label, chosen, notes = find_upstream_key(hsm)
    lib_var, label_var, pin_var = hsm.LIBRARY_VAR, hsm.KEY_LABEL_VAR, hsm.PIN_VAR
    label_why = (f"from {label_var} (upstream appended --id)" if chosen != hsm.key_label
                 else f"from {label_var}")
    rows = (
        ("library", hsm.library, f"from {lib_var}"),
        ("token_label", token_label, "the first token, as upstream took"),
        ("key_label", chosen, label_why),
        ("mechanism", "auto", "the first ECDSA mechanism the token offers; same signature digest"),
        ("pin_env", pin_var, "the PIN stays in the environment variable upstream read; never copied"),
    )
    summary = (f"pkcs11: {hsm.library}, token {token_label!r}, key {chosen!r}; the PIN is "
               f"read from ${pin_var} at start, not copied")
    return HsmSignerTable(pubkey, "pkcs11", rows, summary, notes)


def find_upstream_key(hsm: UpstreamHsm) -> tuple[bytes, str, str, tuple[str, ...]]:
    """``(pubkey, token label, key label, notes)`` of the key upstream took: the first
    initialised token, the key labelled KEY_LABEL + id, else KEY_LABEL alone."""
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

    lib_var, label_var, pin_var = hsm.LIBRARY_VAR, hsm.KEY_LABEL_VAR, hsm.PIN_VAR
    library, label, member_id, pin = hsm.library, hsm.key_label, hsm.member_id, hsm.pin
    fields = {
        "library": lib_var, "token_label": "the first token", "slot": "the first token",
        "key_label": label_var, "pin": pin_var,
    }  # fmt: skip
    with library_lock(library):
        binding = load_binding(PythonPkcs11Binding, library, field=lib_var)
        try:
            slots = [s for s in binding.slots() if s.initialized]
        except Exception as exc:  # a P11Failure from the library
            raise OceanfedError(f"{lib_var}: {library}: cannot list tokens ({exc})") from None
        if not slots:
            raise ConfigError(f"{lib_var}: {library} has no initialised token")
        info = slots[0]
        try:
            session = binding.open_session(info.slot_id, pin)
        except Exception as exc:
            what = f"log in with {pin_var}" if pin else f"open a session ({pin_var} is not set)"
            raise OceanfedError(f"{pin_var}: token {info.token_label!r}: cannot {what} ({exc})") from None
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
                    f"{label_var}: no key labelled {label + str(member_id)!r} (upstream's "
                    f"{label_var} + --id) or {label!r} on token {info.token_label!r}"
                )
            if chosen != f"{label}{member_id}":
                notes.append(
                    f"no key labelled {label + str(member_id)!r} (upstream's {label_var} + --id); "
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
                        f"{label_var}: cannot read the public key of {chosen!r} on token "
                        f"{info.token_label!r}; set {pin_var} so that the token can be logged in"
                    )
                try:
                    pubkey = decode_ec_point(raw)
                except ValueError as exc:
                    raise ConfigError(f"{label_var}: key {chosen!r}: {exc}") from None
        except P11Failure as exc:
            raise OceanfedError(f"token {info.token_label!r}: {exc}") from None
        finally:
            binding.close_session(session)
    if len(slots) > 1:
        notes.append(
            f"{len(slots)} tokens in {library}; upstream took the first, {info.token_label!r}"
        )
    return pubkey, info.token_label, chosen, tuple(notes)
