"""The soft signer signs exactly as the node's ``signblock`` does, on both backends."""

from __future__ import annotations

from pathlib import Path

import pytest

from oceanfed.crypto import unwrap_scriptsig, verify_digest
from oceanfed.errors import ConfigError, SignerError
from oceanfed.interfaces import SignRequest
from oceanfed_soft.signer import SoftOptions, SoftSigner

BACKENDS = ["coincurve", "ecdsa"]


def _request(round_dir: Path) -> SignRequest:
    digest = bytes.fromhex((round_dir / "sighash_dsha256_internal_order.hex").read_text().strip())
    return SignRequest(
        height=0,
        digest=digest,
        preimage=bytes.fromhex((round_dir / "header_preimage.hex").read_text().strip()),
        block_hex=(round_dir / "unsigned_block.hex").read_text().strip(),
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_signatures_equal_signblock_outputs(
    backend, vector_keys, signing_rounds, context_for, key_file
) -> None:
    compared = 0
    for k in vector_keys:
        i = int(k["index"])
        opts = SoftOptions(key_file=key_file(k["privkey_hex"], f"key{i}"), backend=backend)
        signer = SoftSigner(opts, context_for(i))
        assert signer.backend == backend
        assert signer.pubkey().hex() == k["pubkey_hex"]
        for round_dir in signing_rounds:
            node_out = round_dir / f"signblock_node{i}_key{i}.hex"
            if not node_out.exists():
                continue
            expected = unwrap_scriptsig(bytes.fromhex(node_out.read_text().strip()))
            request = _request(round_dir)
            sig = signer.sign(request)
            assert sig == expected, f"{round_dir.name} key{i}"
            assert verify_digest(signer.pubkey(), request.digest, sig)
            compared += 1
    assert compared >= len(signing_rounds) * 2


def test_backends_agree_on_random_digests(vector_keys, context_for, key_file) -> None:
    import os

    name = key_file(vector_keys[1]["wif_main_0x80"])
    a = SoftSigner(SoftOptions(key_file=name, backend="coincurve"), context_for(2))
    b = SoftSigner(SoftOptions(key_file=name, backend="ecdsa"), context_for(2))
    for _ in range(50):
        req = SignRequest(height=1, digest=os.urandom(32), preimage=b"", block_hex="")
        sig = a.sign(req)
        assert sig == b.sign(req)
        assert verify_digest(a.pubkey(), req.digest, sig)  # strict DER and low S


def test_auto_prefers_coincurve(vector_keys, context_for, key_file) -> None:
    signer = SoftSigner(
        SoftOptions(key_file=key_file(vector_keys[0]["privkey_hex"])), context_for(1)
    )
    assert signer.backend == "coincurve"


def test_repr_and_errors_never_show_the_key(vector_keys, context_for, key_file) -> None:
    k = vector_keys[0]
    signer = SoftSigner(SoftOptions(key_file=key_file(k["wif_testnet_0xef"])), context_for(1))
    text = repr(signer) + str(signer) + repr(signer.options) + signer.check()
    assert k["privkey_hex"] not in text and k["wif_testnet_0xef"] not in text
    assert k["pubkey_hex"] in repr(signer)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_refuses_a_key_file_others_can_read(
    mode, vector_keys, context_for, key_file, tmp_path
) -> None:
    name = key_file(vector_keys[0]["privkey_hex"], mode=mode)
    with pytest.raises(ConfigError) as err:
        SoftSigner(SoftOptions(key_file=name), context_for(1))
    assert str(tmp_path / name) in str(err.value) and f"{mode:04o}" in str(err.value)


def test_malformed_and_missing_key_files(context_for, key_file, tmp_path) -> None:
    bad = key_file("xyz" * 10)
    with pytest.raises(ConfigError) as err:
        SoftSigner(SoftOptions(key_file=bad), context_for(1))
    assert "malformed private key file" in str(err.value) and "xyz" not in str(err.value)
    with pytest.raises(ConfigError, match=r"nothere.key: private key file not found"):
        SoftSigner(SoftOptions(key_file="nothere.key"), context_for(1))


def test_check_catches_a_key_for_another_member(vector_keys, context_for, key_file) -> None:
    signer = SoftSigner(
        SoftOptions(key_file=key_file(vector_keys[2]["privkey_hex"])), context_for(1)
    )
    with pytest.raises(SignerError, match=r"signer.key_file: .* but federation.members lists"):
        signer.check()
    ok = SoftSigner(
        SoftOptions(key_file=key_file(vector_keys[0]["privkey_hex"], "mine")), context_for(1)
    )
    assert vector_keys[0]["pubkey_hex"] in ok.check()


def test_bad_digest_and_closed(vector_keys, context_for, key_file) -> None:
    signer = SoftSigner(
        SoftOptions(key_file=key_file(vector_keys[0]["privkey_hex"])), context_for(1)
    )
    with pytest.raises(SignerError, match="32 bytes"):
        signer.sign(SignRequest(height=1, digest=b"\x01" * 31, preimage=b"", block_hex=""))
    signer.close()
    with pytest.raises(SignerError, match="closed"):
        signer.sign(SignRequest(height=1, digest=b"\x01" * 32, preimage=b"", block_hex=""))
