"""Each failure is one clear line naming the item; secrets never show."""

from __future__ import annotations

import os
from pathlib import Path

import coincurve
import pytest
from pydantic import ValidationError

from oceanfed.config import format_validation_error
from oceanfed.crypto import pubkey_of, verify_digest
from oceanfed.errors import SignerError
from oceanfed.interfaces import SignRequest
from oceanfed.ocean.encoding import dsha256
from oceanfed_pkcs11.binding_pykcs11 import PyKCS11Binding
from oceanfed_pkcs11.p11 import (
    CKA_CLASS,
    CKA_EC_PARAMS,
    CKA_EC_POINT,
    CKA_KEY_TYPE,
    CKA_LABEL,
    CKA_TOKEN,
    CKK_EC,
    CKO_PUBLIC_KEY,
    SECP256K1_PARAMS,
    library_lock,
)
from oceanfed_pkcs11.pykcs11_signer import PyKCS11Signer
from oceanfed_pkcs11.python_pkcs11_signer import Pkcs11Signer
from oceanfed_pkcs11.token import find_slot, open_user_session

from .conftest import HSM, KNOWN_KEY, OTHER_KEY, PIN_VAR, context

DRIVERS = [Pkcs11Signer, PyKCS11Signer]
ids = pytest.mark.parametrize("cls", DRIVERS, ids=lambda c: c.driver)


def start(cls, make_options, pubkey: bytes, **overrides):
    return cls(cls.Options.model_validate(make_options(**overrides)), context(pubkey))


def one_line(exc: pytest.ExceptionInfo[SignerError], *needles: str) -> str:
    msg = str(exc.value)
    assert "\n" not in msg
    for needle in needles:
        assert needle in msg, msg
    return msg


@ids
def test_wrong_pin(cls, hsm: HSM, make_options, monkeypatch) -> None:
    # PKCS#11 login is per process and token: with a session already logged in, C_Login
    # answers "already logged in" without looking at the PIN. Start from no session.
    _kill_sessions(hsm)
    monkeypatch.setenv(PIN_VAR, "not-the-pin-9876")
    with pytest.raises(SignerError) as exc:
        start(cls, make_options, hsm.member_pub)
    msg = one_line(exc, "fed", "CKR_PIN_INCORRECT", "PIN")
    assert "not-the-pin-9876" not in msg


@ids
def test_missing_key_label(cls, hsm: HSM, make_options) -> None:
    with pytest.raises(SignerError) as exc:
        start(cls, make_options, hsm.member_pub, key_label="nobody")
    one_line(exc, "signer.key_label", "'nobody'", "'fed'")


@ids
def test_two_keys_one_label_needs_an_id(cls, hsm: HSM, make_options) -> None:
    with pytest.raises(SignerError) as exc:
        start(cls, make_options, hsm.known_pub, key_label="twin")
    one_line(exc, "signer.key_label", "'twin'", "key id")
    signer = start(cls, make_options, hsm.known_pub, key_label="twin", key_id="01")
    try:
        req = SignRequest(1, dsha256(b"h"), b"h", "")
        assert verify_digest(hsm.known_pub, req.digest, signer.sign(req))
    finally:
        signer.close()


@ids
def test_uninitialised_token(cls, hsm: HSM, make_options) -> None:
    with library_lock(hsm.module):
        free = [s for s in PyKCS11Binding(hsm.module).slots() if not s.initialized]
    assert free, "SoftHSM2 always offers one uninitialised slot"
    with pytest.raises(SignerError) as exc:
        start(cls, make_options, hsm.member_pub, token_label=None, slot=free[0].slot_id)
    one_line(exc, "signer.slot", f"slot {free[0].slot_id}", "not initialised")


@ids
def test_unknown_token_label(cls, hsm: HSM, make_options) -> None:
    with pytest.raises(SignerError) as exc:
        start(cls, make_options, hsm.member_pub, token_label="nope")
    one_line(exc, "signer.token_label", "'nope'", "'fed'")


@ids
def test_wrong_library_path(cls, hsm: HSM, make_options, tmp_path: Path) -> None:
    with pytest.raises(SignerError) as exc:
        start(cls, make_options, hsm.member_pub, library=str(tmp_path / "libnothing.so"))
    one_line(exc, "signer.library", "libnothing.so", "no such file")
    junk = tmp_path / "libjunk.so"
    junk.write_bytes(b"not a shared object")
    with pytest.raises(SignerError) as exc:
        start(cls, make_options, hsm.member_pub, library=str(junk))
    one_line(exc, "signer.library", "libjunk.so", "cannot load")


@ids
def test_unsupported_mechanism_names_it(cls, hsm: HSM, make_options) -> None:
    # Debian's SoftHSM2 2.6.1 offers CKM_ECDSA only
    try:
        signer = start(cls, make_options, hsm.member_pub, mechanism="ecdsa-sha256")
    except SignerError as exc:
        assert str(exc).startswith("signer.mechanism: token 'fed' does not offer CKM_ECDSA_SHA256")
    else:
        signer.close()
        pytest.skip("this SoftHSM2 offers CKM_ECDSA_SHA256")


@ids
def test_refuses_a_key_that_is_not_this_members(cls, hsm: HSM, make_options) -> None:
    with pytest.raises(SignerError) as exc:
        start(cls, make_options, hsm.known_pub)  # the token's "member" key is another key
    one_line(
        exc,
        "signer.key_label",
        hsm.member_pub.hex(),
        hsm.known_pub.hex(),
        "'m2'",
        "refusing to start",
    )


def test_pin_file_mode_and_sources(hsm: HSM, make_options, tmp_path: Path, monkeypatch) -> None:
    pin = hsm.fed.write_pin_file(tmp_path / "hsm.pin")
    assert (pin.stat().st_mode & 0o777) == 0o600
    opts = make_options(pin_env=None, pin_file="hsm.pin")
    signer = Pkcs11Signer(
        Pkcs11Signer.Options.model_validate(opts), context(hsm.member_pub, str(tmp_path))
    )
    signer.close()
    os.chmod(pin, 0o644)
    with pytest.raises(SignerError) as exc:
        Pkcs11Signer(
            Pkcs11Signer.Options.model_validate(opts), context(hsm.member_pub, str(tmp_path))
        )
    one_line(exc, "signer.pin_file", "hsm.pin", "0644")
    monkeypatch.delenv(PIN_VAR)
    with pytest.raises(SignerError) as exc:
        start(Pkcs11Signer, make_options, hsm.member_pub)
    one_line(exc, "signer.pin_env", PIN_VAR, "not set")


def test_options_refuse_inline_pin_and_name_fields(hsm: HSM, make_options) -> None:
    with pytest.raises(ValidationError) as exc:
        Pkcs11Signer.Options.model_validate({**make_options(), "pin": "1234"})
    line = format_validation_error("fed.toml", exc.value, "signer.")
    assert "pin" in line and "never written in the config" in line and "1234" not in line
    with pytest.raises(ValidationError) as exc:
        Pkcs11Signer.Options.model_validate(make_options(slot=3))
    assert "exactly one of token_label and slot" in format_validation_error(
        "fed.toml", exc.value, "signer."
    )
    with pytest.raises(ValidationError):
        Pkcs11Signer.Options.model_validate(make_options(mechanism="rsa"))
    with pytest.raises(ValidationError):
        Pkcs11Signer.Options.model_validate(make_options(key_id="zz"))


def _kill_sessions(hsm: HSM) -> None:
    """Close every session of this process on the token, as a token reset would."""
    with library_lock(hsm.module):
        binding = PyKCS11Binding(hsm.module)
        binding.close_all_sessions(find_slot(binding, "fed", None).slot_id)


@ids
def test_lost_session_is_retried_once(cls, hsm: HSM, make_options, caplog) -> None:
    signer = start(cls, make_options, hsm.member_pub)
    try:
        req = SignRequest(1, dsha256(b"before"), b"before", "")
        assert verify_digest(hsm.member_pub, req.digest, signer.sign(req))
        _kill_sessions(hsm)
        req = SignRequest(2, dsha256(b"after"), b"after", "")
        with caplog.at_level("WARNING", logger="oceanfed"):
            der = signer.sign(req)
        assert verify_digest(hsm.member_pub, req.digest, der)
        assert "session lost" in caplog.text and hsm.fed.user_pin not in caplog.text
    finally:
        signer.close()


@ids
def test_lost_session_then_error(cls, hsm: HSM, make_options) -> None:
    """The session goes, and the key with it: one retry, then a clear error."""
    label = f"doomed-{cls.driver}"  # holds OTHER_KEY, which is the member's key here
    signer = start(cls, make_options, pubkey_of(OTHER_KEY), key_label=label)
    try:
        with library_lock(hsm.module):
            binding = PyKCS11Binding(hsm.module)
            info = find_slot(binding, "fed", None)
            session = open_user_session(binding, info, hsm.fed.user_pin, rw=True)
            for obj in binding.find(session, {CKA_LABEL: label}):
                binding.destroy(session, obj)
            binding.close_all_sessions(info.slot_id)
        with pytest.raises(SignerError) as exc:
            signer.sign(SignRequest(1, dsha256(b"x"), b"x", ""))
        one_line(exc, "session lost", "one retry failed", repr(label))
    finally:
        signer.close()


@ids
def test_a_wrong_signature_never_leaves(cls, hsm: HSM, make_options) -> None:
    """A token whose public key object does not match its private key: the start-up
    check passes, but every signature fails verification and is withheld."""
    point = coincurve.PublicKey(pubkey_of(KNOWN_KEY)).format(compressed=False)
    with library_lock(hsm.module):
        binding = PyKCS11Binding(hsm.module)
        info = find_slot(binding, "fed", None)
        session = open_user_session(binding, info, hsm.fed.user_pin, rw=True)
        for obj in binding.find(session, {CKA_CLASS: CKO_PUBLIC_KEY, CKA_LABEL: "crossed"}):
            binding.destroy(session, obj)
        binding.create(session, {
            CKA_CLASS: CKO_PUBLIC_KEY, CKA_KEY_TYPE: CKK_EC, CKA_TOKEN: False, CKA_LABEL: "crossed",
            CKA_EC_PARAMS: SECP256K1_PARAMS, CKA_EC_POINT: bytes([4, 65]) + point,
        })  # fmt: skip
    signer = start(cls, make_options, hsm.known_pub, key_label="crossed")
    try:
        with pytest.raises(SignerError) as exc:
            signer.sign(SignRequest(1, dsha256(b"x"), b"x", ""))
        one_line(exc, "does not verify", "discarded")
    finally:
        signer.close()
        binding.close_session(session)


def test_repr_and_errors_hold_no_pin(hsm: HSM, make_options) -> None:
    signer = start(PyKCS11Signer, make_options, hsm.member_pub)
    try:
        text = repr(signer) + repr(signer.__dict__) + signer.check()
        assert hsm.fed.user_pin not in text
    finally:
        signer.close()
