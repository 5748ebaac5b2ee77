"""Reissuance signatures: the sighash preimage, the soft and PKCS#11 block signers as key
source, and combining in key order."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from oceanfed.config import PluginTable
from oceanfed.crypto import pubkey_of, sign_digest
from oceanfed.errors import SignerError
from oceanfed.interfaces import MemberInfo, PluginContext
from oceanfed.keyfile import generate_private_key, write_private_key
from oceanfed.ocean.address import p2sh_of_redeem
from oceanfed.ocean.encoding import dsha256
from oceanfed.ocean.interpreter import STANDARD_FLAGS, ScriptFailure, verify_script
from oceanfed.ocean.script import iter_ops, multisig_script
from oceanfed.ocean.sighash import legacy_sighash, legacy_sighash_preimage
from oceanfed.ocean.tx import (
    AssetIssuance,
    Transaction,
    TxIn,
    TxOut,
    explicit_asset,
    explicit_value,
)
from oceanfed.plugins import load_signer
from oceanfed_inflation.signing import SignerKey, combine
from oceanfed_pkcs11.softhsm import unavailable_reason

HERE = Path(__file__).parent


def reissuance_tx(redeem: bytes) -> Transaction:
    issuance = AssetIssuance(blinding_nonce=b"\xff" * 32, entropy=b"\x22" * 32,
                             amount=explicit_value(250_000_000))
    return Transaction(
        2,
        (TxIn(b"\x11" * 32, 1, b"", 0xFFFFFFFF, issuance=issuance),),
        (TxOut(explicit_asset(b"\x33" * 32), explicit_value(250_000_000), b"\x51"),
         TxOut(explicit_asset(b"\x44" * 32), explicit_value(10**12), p2sh_of_redeem(redeem))),
        0,
    )


@pytest.fixture
def keys() -> list[bytes]:
    return [generate_private_key() for _ in range(3)]


def sig_of(key: bytes, tx: Transaction, redeem: bytes) -> bytes:
    return sign_digest(key, legacy_sighash(tx, 0, redeem, 1)) + b"\x01"


def test_preimage_hashes_to_the_sighash(keys: list[bytes]) -> None:
    redeem = multisig_script(2, [pubkey_of(k) for k in keys])
    tx = reissuance_tx(redeem)
    assert dsha256(legacy_sighash_preimage(tx, 0, redeem, 1)) == legacy_sighash(tx, 0, redeem, 1)


def test_soft_block_signer_as_key_source(tmp_path: Path, keys: list[bytes]) -> None:
    write_private_key(tmp_path / "block.key", keys[1])
    members = [MemberInfo(i, f"m{i}", pubkey_of(k), b"") for i, k in enumerate(keys)]
    context = PluginContext(member_index=1, members=members, threshold=2, chain="ocean_test",
                            base_dir=str(tmp_path))
    signer = load_signer(PluginTable.model_validate({"driver": "soft", "key_file": "block.key"}), context)
    redeem = multisig_script(2, [pubkey_of(k) for k in keys])
    tx = reissuance_tx(redeem)
    sig = SignerKey(signer).sign(5, tx, redeem, p2sh_of_redeem(redeem))
    assert sig == sig_of(keys[1], tx, redeem)  # RFC 6979: what signrawtransaction gives
    signer.close()
    with pytest.raises(SignerError):
        SignerKey(signer).sign(5, tx, redeem, p2sh_of_redeem(redeem))


def test_combine_orders_by_key_and_needs_m(keys: list[bytes]) -> None:
    pubs = [pubkey_of(k) for k in keys]
    redeem = multisig_script(2, pubs)
    tx = reissuance_tx(redeem)
    sigs = {pubs[2]: sig_of(keys[2], tx, redeem), pubs[0]: sig_of(keys[0], tx, redeem)}
    final = combine(tx, redeem, sigs)
    assert final is not None
    pushes = [d for _, d in iter_ops(final.vin[0].script_sig)]
    assert pushes == [b"", sigs[pubs[0]], sigs[pubs[2]], redeem]
    verify_script(final.vin[0].script_sig, p2sh_of_redeem(redeem), final, 0, STANDARD_FLAGS)
    # a signature over another transaction does not count
    other = reissuance_tx(multisig_script(1, pubs))
    bad = {pubs[0]: sig_of(keys[0], tx, redeem), pubs[1]: sig_of(keys[1], other, redeem)}
    assert combine(tx, redeem, bad) is None
    assert combine(tx, redeem, {pubs[1]: sig_of(keys[1], tx, redeem)}) is None
    # the reversed order would not verify: the check above is real
    wrong = final.vin[0].script_sig.replace(sigs[pubs[0]], b"\x00" * len(sigs[pubs[0]]))
    with pytest.raises(ScriptFailure):
        verify_script(wrong, p2sh_of_redeem(redeem), final, 0, STANDARD_FLAGS)


@pytest.mark.hsm
def test_pkcs11_block_signer_as_key_source(tmp_path: Path) -> None:
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    proc = subprocess.run([sys.executable, str(HERE / "hsm_sign_check.py"), str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert "ecdsa" in result  # and "ecdsa-sha256" when the SoftHSM build offers it
    for item in result.values():
        assert item["scriptsig"].startswith("00")
