"""Both bindings sign with CKM_ECDSA_SHA256 on a real software token: openCryptoki's
soft token (SoftHSM2 2.6.1 does not offer the mechanism). The token hashes SHA-256 of
the header once more, so the signature must verify against the block digest
(double SHA-256), come back strict low-S, and never cover a tampered header."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from oceanfed.crypto import HALF_ORDER, decode_der_strict, encode_der, normalize_s, verify_digest
from oceanfed.errors import SignerError
from oceanfed.interfaces import SignRequest
from oceanfed.ocean.encoding import dsha256
from oceanfed_pkcs11.p11 import CKM_ECDSA, CKM_ECDSA_SHA256, MECHANISM_NAMES
from oceanfed_pkcs11.pykcs11_signer import PyKCS11Signer
from oceanfed_pkcs11.python_pkcs11_signer import Pkcs11Signer
from oceanfed_pkcs11.signer import TokenSigner

from .conftest import VECTORS, context
from .opencryptoki import (
    STORE_VAR,
    OpenCryptokiError,
    OpenCryptokiToken,
    daemon_pid,
    start_daemon,
    stop_daemon_when_done,
    unavailable_reason,
)

DRIVERS = [Pkcs11Signer, PyKCS11Signer]
PIN_VAR = "OCEANFED_TEST_OCK_PIN"
LABEL = "oceanfed-test"


@dataclass
class Token:
    ock: OpenCryptokiToken
    member_pub: bytes


def request(preimage: bytes, height: int = 1) -> SignRequest:
    return SignRequest(height=height, digest=dsha256(preimage), preimage=preimage, block_hex="")


@pytest.fixture(scope="session")
def ock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Token]:
    """A new soft token in a private store, with one generated secp256k1 key "member";
    pkcsslotd is started if needed (and then stopped once this test process has ended)."""
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    if daemon_pid() is None:
        try:
            started = start_daemon()
        except OpenCryptokiError as exc:
            pytest.skip(str(exc))
        stop_daemon_when_done(started)
    old = os.environ.get(STORE_VAR)
    token = None
    try:
        store = tmp_path_factory.mktemp("opencryptoki")
        try:
            token = OpenCryptokiToken.create(store, LABEL, so_pin="57913468", user_pin="24680135")
            member_pub = token.generate_key("member")
        except OpenCryptokiError as exc:
            pytest.skip(f"openCryptoki soft token: {exc}")
        # before this process first loads libopencryptoki
        os.environ.update(token.env)
        yield Token(token, member_pub)
    finally:
        if old is None:
            os.environ.pop(STORE_VAR, None)
        else:
            os.environ[STORE_VAR] = old
        if token is not None:
            token.remove_shared_memory()


@pytest.fixture
def make_signer(
    ock: Token, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., TokenSigner]]:
    monkeypatch.setenv(PIN_VAR, ock.ock.user_pin)
    made: list[TokenSigner] = []

    def make(cls: type[TokenSigner], **overrides: object) -> TokenSigner:
        opts: dict[str, object] = {
            "library": ock.ock.module,
            "token_label": ock.ock.label,
            "key_label": "member",
            "pin_env": PIN_VAR,
            "mechanism": "ecdsa-sha256",
        }
        opts.update(overrides)
        options = cls.Options.model_validate({k: v for k, v in opts.items() if v is not None})
        signer = cls(options, context(ock.member_pub))
        made.append(signer)
        return signer

    yield make
    for s in made:
        s.close()


def record_token_calls(
    signer: TokenSigner, monkeypatch: pytest.MonkeyPatch
) -> list[tuple[int, bytes, bytes]]:
    """Record (mechanism, data, raw signature) of every C_Sign the signer makes."""
    binding: Any = signer._binding
    calls: list[tuple[int, bytes, bytes]] = []
    real = binding.sign

    def sign(session: Any, key: Any, mechanism: int, data: bytes) -> bytes:
        raw = real(session, key, mechanism, data)
        calls.append((mechanism, data, raw))
        return raw

    monkeypatch.setattr(binding, "sign", sign)
    return calls


def test_token_lives_in_its_own_store(ock: Token) -> None:
    state = ock.ock.state()
    assert state.label == LABEL and state.initialized and state.user_pin_initialized
    assert (ock.ock.store / "swtok" / "NVTOK.DAT").is_file()
    assert any((ock.ock.store / "swtok" / "TOK_OBJ").iterdir())  # the generated key
    assert "24680135" not in repr(ock.ock) and "57913468" not in repr(ock.ock)


@pytest.mark.parametrize("cls", DRIVERS, ids=lambda c: c.driver)
def test_signs_with_ecdsa_sha256(
    cls: type[TokenSigner], ock: Token, make_signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    signer = make_signer(cls)
    assert signer.pubkey() == ock.member_pub
    line = signer.check()
    assert "CKM_ECDSA_SHA256" in line and "test signature verified" in line
    calls = record_token_calls(signer, monkeypatch)
    for i in range(32):
        preimage = b"header %d " % i + os.urandom(16) + bytes(250)
        req = request(preimage, height=i + 1)
        der = signer.sign(req)
        r, s = decode_der_strict(der)
        assert 0 < s <= HALF_ORDER
        assert verify_digest(ock.member_pub, req.digest, der)
        assert verify_digest(ock.member_pub, req.digest, der, lax=True)  # the node's check
        assert not verify_digest(ock.member_pub, dsha256(preimage + b"x"), der)
        assert not verify_digest(ock.member_pub, hashlib.sha256(preimage).digest(), der)
        mechanism, data, raw = calls[-1]
        # the token got the single SHA-256 of the header and completed the digest itself
        assert mechanism == CKM_ECDSA_SHA256
        assert data == hashlib.sha256(preimage).digest() != req.digest
        raw_r, raw_s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
        assert der == encode_der(*normalize_s(raw_r, raw_s))
    assert len(calls) == 32
    # this token does not normalise S: some raw signatures were high-S and the signer
    # turned them low (each is high-S with probability 1/2)
    assert any(int.from_bytes(raw[32:], "big") > HALF_ORDER for _, _, raw in calls)


@pytest.mark.parametrize("cls", DRIVERS, ids=lambda c: c.driver)
def test_a_tampered_header_is_never_signed(cls: type[TokenSigner], ock: Token, make_signer) -> None:
    signer = make_signer(cls)
    preimage = b"honest header" + bytes(265)
    der = signer.sign(request(preimage))
    tampered = preimage[:-1] + b"\x01"
    assert not verify_digest(ock.member_pub, dsha256(tampered), der)
    # a request whose header does not hash to its digest is refused before the token
    mismatched = SignRequest(height=1, digest=dsha256(preimage), preimage=tampered, block_hex="")
    with pytest.raises(SignerError, match="does not hash to the digest"):
        signer.sign(mismatched)


@pytest.mark.parametrize("cls", DRIVERS, ids=lambda c: c.driver)
def test_auto_mechanism_signs_correctly(
    cls: type[TokenSigner], ock: Token, make_signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    signer = make_signer(cls, mechanism="auto")
    line = signer.check()
    named = [m for m in (CKM_ECDSA_SHA256, CKM_ECDSA) if f", {MECHANISM_NAMES[m]}," in line]
    assert len(named) == 1, line
    calls = record_token_calls(signer, monkeypatch)
    preimage = b"auto" + bytes(274)
    req = request(preimage)
    der = signer.sign(req)
    assert verify_digest(ock.member_pub, req.digest, der)
    assert not verify_digest(ock.member_pub, dsha256(preimage + b"x"), der)
    assert [c[0] for c in calls] == named
    expected = req.digest if named == [CKM_ECDSA] else hashlib.sha256(preimage).digest()
    assert calls[0][1] == expected


@pytest.mark.parametrize("cls", DRIVERS, ids=lambda c: c.driver)
def test_by_slot_with_a_pin_file(
    cls: type[TokenSigner], ock: Token, make_signer, tmp_path: Path
) -> None:
    pin_file = ock.ock.write_pin_file(tmp_path / "hsm.pin")
    signer = make_signer(
        cls, token_label=None, slot=ock.ock.slot_id, pin_env=None, pin_file=str(pin_file)
    )
    assert "CKM_ECDSA_SHA256" in signer.check()
    req = request(b"by slot" + bytes(271))
    assert verify_digest(ock.member_pub, req.digest, signer.sign(req))
    assert ock.ock.user_pin not in repr(signer)


def test_both_bindings_share_one_key(ock: Token, make_signer) -> None:
    a = make_signer(Pkcs11Signer)
    b = make_signer(PyKCS11Signer)
    assert a.pubkey() == b.pubkey() == ock.member_pub
    req = request(b"one header for both" + bytes(260))
    for der in (a.sign(req), b.sign(req), a.sign(req)):
        assert verify_digest(ock.member_pub, req.digest, der)


@pytest.mark.parametrize("cls", DRIVERS, ids=lambda c: c.driver)
def test_signs_real_node_headers(cls: type[TokenSigner], ock: Token, make_signer) -> None:
    rounds = sorted((VECTORS / "signing").glob("*/sighash_dsha256_internal_order.hex"))
    if not rounds:
        pytest.skip(f"signing vectors not found at {VECTORS}")
    signer = make_signer(cls)
    for path in rounds:
        preimage = bytes.fromhex((path.parent / "header_preimage.hex").read_text().strip())
        digest = bytes.fromhex(path.read_text().strip())
        assert dsha256(preimage) == digest
        der = signer.sign(SignRequest(height=0, digest=digest, preimage=preimage, block_hex=""))
        assert verify_digest(ock.member_pub, digest, der)
        assert verify_digest(ock.member_pub, digest, der, lax=True)
        # not over the reversed (RPC-order) hash, which the node ignores
        assert not verify_digest(ock.member_pub, digest[::-1], der)
