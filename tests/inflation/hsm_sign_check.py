"""Run as a script (its own process, so that SoftHSM reads our SOFTHSM2_CONF): sign a
reissuance input through a PKCS#11 block signer on a fresh SoftHSM token with each
mechanism the token offers, combine with a key-file signature and verify the P2SH spend. Prints JSON."""

from __future__ import annotations

import json
import os
import sys

from oceanfed.config import PluginTable
from oceanfed.crypto import pubkey_of, sign_digest
from oceanfed.errors import SignerError
from oceanfed.interfaces import MemberInfo, PluginContext
from oceanfed.keyfile import generate_private_key
from oceanfed.ocean.address import p2sh_of_redeem
from oceanfed.ocean.interpreter import STANDARD_FLAGS, verify_script
from oceanfed.ocean.script import multisig_script
from oceanfed.ocean.sighash import legacy_sighash
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
from oceanfed_pkcs11.softhsm import SoftHSMToken


def main(directory: str) -> None:
    token = SoftHSMToken.create(directory, "infl", so_pin="so-1234", user_pin="user-5678")
    os.environ.update(token.env)
    os.environ["INFL_PIN"] = token.user_pin
    hsm_pub = token.generate_key("member")
    other = generate_private_key()
    redeem = multisig_script(2, [hsm_pub, pubkey_of(other)])
    tx = Transaction(
        2,
        (TxIn(b"\x11" * 32, 1, b"", 0xFFFFFFFF, issuance=AssetIssuance(
            blinding_nonce=b"\xff" * 32, entropy=b"\x22" * 32, amount=explicit_value(164282747))),),
        (TxOut(explicit_asset(b"\x33" * 32), explicit_value(164282747), b"\x76\xa9\x14" + bytes(20) + b"\x88\xac"),
         TxOut(explicit_asset(b"\x44" * 32), explicit_value(10**12), p2sh_of_redeem(redeem))),
        0,
    )
    members = [MemberInfo(0, "m0", hsm_pub, b""), MemberInfo(1, "m1", pubkey_of(other), b"")]
    context = PluginContext(member_index=0, members=members, threshold=2, chain="ocean_test")
    result = {}
    for mechanism in ("ecdsa", "ecdsa-sha256"):
        table = PluginTable.model_validate({
            "driver": "pkcs11", "library": token.module, "token_label": "infl",
            "key_label": "member", "pin_env": "INFL_PIN", "mechanism": mechanism,
        })
        try:
            signer = load_signer(table, context)
        except SignerError as exc:
            if "does not offer" not in str(exc):
                raise
            continue  # this SoftHSM build lacks the mechanism
        try:
            sig = SignerKey(signer).sign(7, tx, redeem, p2sh_of_redeem(redeem))
        finally:
            signer.close()
        mine = sign_digest(other, legacy_sighash(tx, 0, redeem, 1)) + b"\x01"
        final = combine(tx, redeem, {hsm_pub: sig, pubkey_of(other): mine})
        assert final is not None
        verify_script(final.vin[0].script_sig, p2sh_of_redeem(redeem), final, 0, STANDARD_FLAGS)
        result[mechanism] = {"sig": sig.hex(), "scriptsig": final.vin[0].script_sig.hex()}
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1])
