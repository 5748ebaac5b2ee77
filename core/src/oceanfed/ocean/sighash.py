"""Legacy (pre-segwit) signature hashing over the Elements-0.14 transaction form.

Checked against every signature in the vector chain: the preimage is Bitcoin's
``CTransactionSignatureSerializer`` output with these Elements changes: no flags byte, the
outpoint index without issuance/peg-in flags, each input's asset issuance (when present)
right after its nSequence, and outputs in their confidential form. Amounts are not
committed to.
"""

from __future__ import annotations

from oceanfed.ocean.encoding import compact_size, dsha256
from oceanfed.ocean.tx import Transaction, TxOut

SIGHASH_ALL = 1
SIGHASH_NONE = 2
SIGHASH_SINGLE = 3
SIGHASH_ANYONECANPAY = 0x80

#: the value Bitcoin returns for SIGHASH_SINGLE without a matching output
_ONE = (1).to_bytes(32, "little")


def legacy_sighash(tx: Transaction, input_index: int, script_code: bytes, hashtype: int) -> bytes:
    """The 32-byte digest a signature of input ``input_index`` signs (internal order).

    ``script_code`` is the script being satisfied: the prevout's scriptPubKey, or the
    redeem script of a P2SH output. ``hashtype`` is the signature's trailing byte.
    """
    if not 0 <= input_index < len(tx.vin):
        raise ValueError(f"input index {input_index} out of range")
    if hashtype & 0x1F == SIGHASH_SINGLE and input_index >= len(tx.vout):
        return _ONE
    return dsha256(legacy_sighash_preimage(tx, input_index, script_code, hashtype))


def legacy_sighash_preimage(
    tx: Transaction, input_index: int, script_code: bytes, hashtype: int
) -> bytes:
    """The bytes whose double SHA-256 is :func:`legacy_sighash`, for signers that hash the
    message themselves (a PKCS#11 token offering only CKM_ECDSA_SHA256 signs their single
    SHA-256). Not defined for SIGHASH_SINGLE without a matching output (no preimage)."""
    if not 0 <= input_index < len(tx.vin):
        raise ValueError(f"input index {input_index} out of range")
    base = hashtype & 0x1F
    anyone = bool(hashtype & SIGHASH_ANYONECANPAY)
    if base == SIGHASH_SINGLE and input_index >= len(tx.vout):
        raise ValueError("SIGHASH_SINGLE without a matching output signs a constant, not a preimage")
    indices = [input_index] if anyone else list(range(len(tx.vin)))
    parts = [tx.version.to_bytes(4, "little", signed=True), compact_size(len(indices))]
    for i in indices:
        txin = tx.vin[i]
        script = script_code if i == input_index else b""
        sequence = txin.sequence
        if i != input_index and base in (SIGHASH_NONE, SIGHASH_SINGLE):
            sequence = 0
        parts += [
            txin.prev_txid,
            txin.prev_index.to_bytes(4, "little"),
            compact_size(len(script)),
            script,
            sequence.to_bytes(4, "little"),
        ]
        if txin.issuance is not None:
            parts.append(txin.issuance.serialize())
    if base == SIGHASH_NONE:
        outputs: list[bytes] = []
    elif base == SIGHASH_SINGLE:
        blank = TxOut(b"\x00", b"\x00", b"")  # CTxOut(): null asset, value and nonce
        outputs = [
            blank.serialize() if i < input_index else tx.vout[i].serialize()
            for i in range(input_index + 1)
        ]
    else:
        outputs = [o.serialize() for o in tx.vout]
    parts += [compact_size(len(outputs)), *outputs]
    parts += [tx.locktime.to_bytes(4, "little"), (hashtype & 0xFFFFFFFF).to_bytes(4, "little")]
    return b"".join(parts)
