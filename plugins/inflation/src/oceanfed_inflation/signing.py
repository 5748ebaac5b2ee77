"""Signing a reissuance input and combining the members' signatures.

A member signs input 0 (the token, at the P2SH of the reissuance script) with SIGHASH_ALL,
either through its node (``signrawtransaction`` with the key, as upstream did) or through
its block signer (a soft key or an HSM), which signs the legacy sighash digest. The
combined scriptSig is ``OP_0 <sig>… push(redeem script)`` with the signatures in the order
of the script's keys.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from oceanfed.crypto import pubkey_of, to_low_s_der, verify_digest
from oceanfed.errors import DecodeError, SignerError
from oceanfed.interfaces import Signer, SignRequest
from oceanfed.ocean.address import encode_wif
from oceanfed.ocean.encoding import dsha256, push_data
from oceanfed.ocean.interpreter import TxChecker
from oceanfed.ocean.script import iter_ops, parse_multisig
from oceanfed.ocean.sighash import SIGHASH_ALL, legacy_sighash_preimage
from oceanfed.ocean.tx import Transaction

INPUT = 0


def signature_valid(tx: Transaction, redeem: bytes, pubkey: bytes, sig: bytes) -> bool:
    """Whether ``sig`` (DER + hashtype) signs input 0 of ``tx`` for ``pubkey``."""
    return TxChecker(tx, INPUT, 0).check(sig, pubkey, redeem)


class ReissuanceKey(abc.ABC):
    """This member's reissuance key: signs input 0 of a reissuance transaction."""

    def __init__(self, pubkey: bytes):
        self.pubkey = pubkey

    @abc.abstractmethod
    def sign(self, height: int, tx: Transaction, redeem: bytes, script_pubkey: bytes) -> bytes:
        """A signature (DER + SIGHASH_ALL byte) verified against :attr:`pubkey`."""


class NodeKey(ReissuanceKey):
    """Signs with ``signrawtransaction`` on the member's node, handing it the key."""

    def __init__(self, privkey: bytes, call: Callable[..., Any]):
        super().__init__(pubkey_of(privkey))
        self._wif = encode_wif(privkey)
        #: the node call used to sign (replaceable, e.g. by a per-thread client)
        self.call = call

    def __repr__(self) -> str:
        return f"NodeKey(pubkey={self.pubkey.hex()})"

    def sign(self, height: int, tx: Transaction, redeem: bytes, script_pubkey: bytes) -> bytes:
        txin = tx.vin[INPUT]
        prev = [{
            "txid": txin.prev_txid[::-1].hex(), "vout": txin.prev_index,
            "scriptPubKey": script_pubkey.hex(), "redeemScript": redeem.hex(),
        }]
        answer = self.call("signrawtransaction", tx.hex(), prev, [self._wif])
        try:
            signed = Transaction.from_hex(answer["hex"])
            pushes = [d for _, d in iter_ops(signed.vin[INPUT].script_sig) if d]
        except (DecodeError, ValueError, KeyError, TypeError, IndexError) as exc:
            raise SignerError(f"signrawtransaction returned an unreadable transaction ({exc})") from None
        for sig in pushes:
            if sig != redeem and signature_valid(tx, redeem, self.pubkey, sig):
                return sig
        raise SignerError("signrawtransaction did not sign the reissuance with the reissuance key")


class SignerKey(ReissuanceKey):
    """Signs the sighash digest with the member's block signer (soft key or HSM)."""

    def __init__(self, signer: Signer):
        super().__init__(signer.pubkey())
        self._signer = signer

    def probe(self) -> None:
        """Sign a fixed test digest; SignerError if the signer cannot sign raw digests
        (e.g. one that delegates to the node's ``signblock``)."""
        preimage = b"oceanfed inflation check"
        digest = dsha256(preimage)
        try:
            der = to_low_s_der(self._signer.sign(SignRequest(0, digest, preimage, "")))
        except Exception as exc:
            raise SignerError(f"it cannot sign a transaction digest ({exc})") from None
        if not verify_digest(self.pubkey, digest, der):
            raise SignerError("its signature over a test digest does not verify")

    def sign(self, height: int, tx: Transaction, redeem: bytes, script_pubkey: bytes) -> bytes:
        preimage = legacy_sighash_preimage(tx, INPUT, redeem, SIGHASH_ALL)
        digest = dsha256(preimage)
        raw = self._signer.sign(SignRequest(height, digest, preimage, ""))
        try:
            der = to_low_s_der(raw)
        except DecodeError as exc:
            raise SignerError(f"the signer returned a malformed reissuance signature ({exc})") from None
        if not verify_digest(self.pubkey, digest, der):
            raise SignerError("the signer's reissuance signature does not verify; not used")
        return der + bytes([SIGHASH_ALL])


def combine(tx: Transaction, redeem: bytes, sigs: Mapping[bytes, bytes]) -> Transaction | None:
    """``tx`` with ``OP_0 <M sigs in key order> push(redeem)`` as input 0's scriptSig, from
    ``sigs`` (pubkey → signature; invalid ones are ignored); None with fewer than M."""
    m, keys = parse_multisig(redeem)
    chosen = [
        sigs[k] for k in keys if k in sigs and signature_valid(tx, redeem, k, sigs[k])
    ][:m]
    if len(chosen) < m:
        return None
    script_sig = b"\x00" + b"".join(push_data(s) for s in chosen) + push_data(redeem)
    vin = list(tx.vin)
    vin[INPUT] = replace(vin[INPUT], script_sig=script_sig)
    return replace(tx, vin=tuple(vin))
