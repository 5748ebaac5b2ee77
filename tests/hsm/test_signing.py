"""Both bindings sign with the same SoftHSM2 key; signatures are strict low-S DER that
verify, including over the real node's signing vectors."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest

from oceanfed.crypto import HALF_ORDER, decode_der_strict, verify_digest
from oceanfed.errors import SignerError
from oceanfed.interfaces import SignRequest
from oceanfed.ocean.encoding import dsha256
from oceanfed_pkcs11.p11 import CKM_ECDSA, CKM_ECDSA_SHA256
from oceanfed_pkcs11.pykcs11_signer import PyKCS11Signer
from oceanfed_pkcs11.python_pkcs11_signer import Pkcs11Signer
from oceanfed_pkcs11.signature import finish_signature, mechanism_input

from .conftest import HSM, VECTORS, context

DRIVERS = [Pkcs11Signer, PyKCS11Signer]


def request(preimage: bytes, height: int = 1) -> SignRequest:
    return SignRequest(height=height, digest=dsha256(preimage), preimage=preimage, block_hex="")


@pytest.fixture
def signer_for(hsm: HSM, make_options):
    made = []

    def make(cls, pubkey: bytes | None = None, **overrides):
        opts = cls.Options.model_validate(make_options(**overrides))
        signer = cls(opts, context(pubkey if pubkey is not None else hsm.member_pub))
        made.append(signer)
        return signer

    yield make
    for s in made:
        s.close()


@pytest.mark.parametrize("cls", DRIVERS, ids=lambda c: c.driver)
def test_signs_and_verifies(cls, hsm: HSM, signer_for) -> None:
    signer = signer_for(cls)
    assert signer.pubkey() == hsm.member_pub
    for i in range(20):
        req = request(b"header %d" % i + bytes(270))
        der = signer.sign(req)
        r, s = decode_der_strict(der)
        assert 0 < s <= HALF_ORDER
        assert verify_digest(hsm.member_pub, req.digest, der)
        assert not verify_digest(hsm.member_pub, dsha256(b"another header"), der)
    assert "test signature verified" in signer.check()


def test_both_bindings_share_one_key(hsm: HSM, signer_for) -> None:
    a = signer_for(Pkcs11Signer)
    b = signer_for(PyKCS11Signer)
    assert a.pubkey() == b.pubkey() == hsm.member_pub
    req = request(b"one header for both" + bytes(260))
    for der in (a.sign(req), b.sign(req), a.sign(req)):
        assert verify_digest(hsm.member_pub, req.digest, der)


@pytest.mark.parametrize("cls", DRIVERS, ids=lambda c: c.driver)
def test_signs_the_node_vectors(cls, hsm: HSM, signer_for) -> None:
    rounds = sorted((VECTORS / "signing").glob("*/sighash_dsha256_internal_order.hex"))
    if not rounds or not hsm.vector_keys:
        pytest.skip(f"signing vectors not found at {VECTORS}")
    signers = {
        i: signer_for(cls, pubkey=pub, key_label=f"vector{i}") for i, pub in hsm.vector_pubs.items()
    }
    for i, key in ((int(k["index"]), k) for k in hsm.vector_keys):
        assert hsm.vector_pubs[i].hex() == key["pubkey_hex"]
    for path in rounds:
        folder: Path = path.parent
        preimage = bytes.fromhex((folder / "header_preimage.hex").read_text().strip())
        digest = bytes.fromhex(path.read_text().strip())
        assert dsha256(preimage) == digest
        req = SignRequest(height=0, digest=digest, preimage=preimage, block_hex="")
        for i, signer in signers.items():
            der = signer.sign(req)
            assert verify_digest(hsm.vector_pubs[i], digest, der)
            assert verify_digest(hsm.vector_pubs[i], digest, der, lax=True)  # the node's check
            # and not over the reversed (RPC) hash: the node ignores those
            assert not verify_digest(hsm.vector_pubs[i], digest[::-1], der)


def test_mechanism_input_equivalence() -> None:
    preimage = bytes(range(256)) + b"tail"
    digest = dsha256(preimage)
    assert mechanism_input(CKM_ECDSA, digest, preimage) == digest
    data = mechanism_input(CKM_ECDSA_SHA256, digest, preimage)
    # the token hashes its input once: SHA-256(data) must be the digest we promise to sign
    assert hashlib.sha256(data).digest() == digest
    with pytest.raises(SignerError, match="does not hash to the digest"):
        mechanism_input(CKM_ECDSA_SHA256, digest, preimage + b"x")
    with pytest.raises(SignerError, match="32"):
        mechanism_input(CKM_ECDSA, digest[:31], preimage)


def test_finish_signature_normalises_high_s(hsm: HSM) -> None:
    from oceanfed.crypto import CURVE_ORDER, sign_digest

    digest = dsha256(b"x")
    r, s = decode_der_strict(sign_digest(b"\x07" * 32, digest))
    from oceanfed.crypto import pubkey_of

    pub = pubkey_of(b"\x07" * 32)
    high = r.to_bytes(32, "big") + (CURVE_ORDER - s).to_bytes(32, "big")
    der = finish_signature(high, pub, digest, "t")
    assert decode_der_strict(der) == (r, s)
    with pytest.raises(SignerError, match="does not verify"):
        finish_signature(high, pub, dsha256(b"y"), "t")
    with pytest.raises(SignerError, match="malformed"):
        finish_signature(b"\x01" * 63, pub, digest, "t")


@pytest.mark.parametrize("cls", DRIVERS, ids=lambda c: c.driver)
def test_ecdsa_sha256_where_offered(cls, hsm: HSM, signer_for) -> None:
    """CKM_ECDSA_SHA256 over SHA-256(preimage). Debian's SoftHSM2 2.6.1 does not offer it;
    there the signer must refuse to start, naming the mechanism (checked below).
    tests/hsm/test_ecdsa_sha256_token.py signs with it on openCryptoki's soft token."""
    try:
        signer = signer_for(cls, mechanism="ecdsa-sha256")
    except SignerError as exc:
        assert "signer.mechanism" in str(exc) and "CKM_ECDSA_SHA256" in str(exc)
        assert "it offers CKM_ECDSA" in str(exc)
        pytest.skip(
            "this SoftHSM2 does not offer CKM_ECDSA_SHA256 (it refused cleanly); "
            "tests/hsm/test_ecdsa_sha256_token.py signs with it on openCryptoki"
        )
    req = request(b"sha256 mechanism" + bytes(262))
    assert verify_digest(hsm.member_pub, req.digest, signer.sign(req))


@pytest.mark.parametrize("cls", DRIVERS, ids=lambda c: c.driver)
def test_auto_mechanism_picks_an_offered_one(cls, hsm: HSM, signer_for) -> None:
    signer = signer_for(cls, mechanism="auto")
    assert "CKM_ECDSA" in signer.check()
    req = request(b"auto" + bytes(274))
    assert verify_digest(hsm.member_pub, req.digest, signer.sign(req))


def test_concurrent_signers_on_one_token(hsm: HSM, signer_for) -> None:
    """Four signers (two per binding) on one token, eight threads at once. Without the
    per-library lock, SoftHSM2 2.6.1 (mutexes off under C_Initialize(NULL)) corrupts
    its heap and the process dies."""
    signers = [
        signer_for(Pkcs11Signer),
        signer_for(PyKCS11Signer),
        signer_for(Pkcs11Signer),
        signer_for(PyKCS11Signer),
    ]
    errors: list[BaseException] = []
    results: list[tuple[bytes, bytes]] = []
    guard = threading.Lock()

    def work(n: int) -> None:
        signer = signers[n % len(signers)]
        for i in range(60):
            req = request(b"thread %d sig %d" % (n, i) + bytes(256))
            try:
                der = signer.sign(req)
            except BaseException as exc:  # noqa: BLE001 - collected and asserted below
                with guard:
                    errors.append(exc)
                return
            with guard:
                results.append((req.digest, der))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors[:3]
    assert len(results) == 8 * 60
    assert all(verify_digest(hsm.member_pub, d, der) for d, der in results)


def test_pykcs11_signature_longer_than_its_buffer(
    hsm: HSM, signer_for, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PyKCS11 signs with one C_Sign into a reserved buffer; a token whose signature does
    not fit gets asked for the length, and the operation completes on the same session."""
    from oceanfed_pkcs11 import binding_pykcs11

    signer = signer_for(PyKCS11Signer)
    monkeypatch.setattr(binding_pykcs11, "SIGNATURE_BUFFER", 8)
    for i in range(3):  # an operation left active would make the next C_SignInit fail
        req = request(b"short buffer %d" % i)
        assert verify_digest(hsm.member_pub, req.digest, signer.sign(req))


def test_finished_signature_is_the_strict_low_s_der_of_the_token_answer() -> None:
    """r||s and DER answers alike give encode_der(r, low s); out-of-range values are refused."""
    from oceanfed.crypto import CURVE_ORDER, encode_der, pubkey_of, sign_digest

    key = b"\x07" * 32
    pub = pubkey_of(key)
    for i in range(8):
        digest = dsha256(bytes([i]))
        r, s = decode_der_strict(sign_digest(key, digest))
        high = CURVE_ORDER - s
        for raw in (r.to_bytes(32, "big") + s.to_bytes(32, "big"), encode_der(r, high)):
            der = finish_signature(raw, pub, digest, "t")
            assert der == encode_der(r, s) and verify_digest(pub, digest, der)
    order = CURVE_ORDER.to_bytes(32, "big")
    for bad in (bytes(32) + order[:31] + b"\x01", order + b"\x01" * 32, b"\x01" * 32 + order,
                encode_der(r, 0)):
        with pytest.raises(SignerError, match="out-of-range"):
            finish_signature(bad, pub, digest, "t")
    with pytest.raises(SignerError, match="does not verify"):
        finish_signature(r.to_bytes(32, "big") + s.to_bytes(32, "big"), b"\x02" + bytes(32), digest, "t")
