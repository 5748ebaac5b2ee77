"""Signing transaction inputs: P2PKH, and P2SH multisig with signatures merged the way
``signrawtransaction`` merges them (ordered by the redeem script's keys)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from oceanfed.crypto import pubkey_of, sign_digest
from oceanfed.errors import DecodeError
from oceanfed.ocean.address import is_p2pkh, is_p2sh
from oceanfed.ocean.encoding import hash160, push_data
from oceanfed.ocean.interpreter import STANDARD_FLAGS, ScriptFailure, TxChecker, verify_script
from oceanfed.ocean.script import iter_ops, parse_multisig
from oceanfed.ocean.sighash import legacy_sighash
from oceanfed.ocean.tx import Transaction, TxIn


def _pushes(script_sig: bytes) -> list[bytes]:
    try:
        return [d for _, d in iter_ops(script_sig) if d is not None]
    except DecodeError:
        return []


def _sign(tx: Transaction, index: int, key: bytes, script_code: bytes, hashtype: int) -> bytes:
    digest = legacy_sighash(tx, index, script_code, hashtype)
    return sign_digest(key, digest) + bytes([hashtype])


def multisig_scriptsig(
    tx: Transaction,
    index: int,
    redeem: bytes,
    existing: list[bytes],
    keys: Mapping[bytes, bytes],
    hashtype: int,
) -> bytes:
    """``OP_0 <sig>… push(redeem)`` with the existing and new signatures in key order."""
    m, pubkeys = parse_multisig(redeem)
    checker = TxChecker(tx, index, 0)
    by_key: dict[bytes, bytes] = {}
    for pk in pubkeys:
        for sig in existing:
            if sig and checker.check(sig, pk, redeem):
                by_key[pk] = sig
                break
        key = keys.get(hash160(pk))
        if pk not in by_key and key is not None:
            by_key[pk] = _sign(tx, index, key, redeem, hashtype)
    sigs = [by_key[pk] for pk in pubkeys if pk in by_key][:m]
    sigs += [b""] * (m - len(sigs))
    return b"\x00" + b"".join(push_data(s) if s else b"\x00" for s in sigs) + _pushdata1(redeem)


def _pushdata1(data: bytes) -> bytes:
    return push_data(data) if len(data) >= 0x4C else bytes([len(data)]) + data


def sign_transaction(
    tx: Transaction,
    prevouts: Mapping[int, bytes],
    keys: Mapping[bytes, bytes],
    redeem_for: Callable[[bytes], bytes | None],
    hashtype: int = 1,
) -> tuple[Transaction, list[tuple[int, str]]]:
    """Sign what ``keys`` (hash160 -> private key) can; return the transaction and the
    ``(input, error)`` of every input that does not verify yet."""
    vin = list(tx.vin)
    for i, txin in enumerate(vin):
        script = prevouts.get(i)
        if script is None:
            continue
        current = tx.__class__(tx.version, tuple(vin), tx.vout, tx.locktime)
        if is_p2pkh(script):
            key = keys.get(script[3:23])
            if key is not None:
                sig = _sign(current, i, key, script, hashtype)
                vin[i] = _with_script(txin, push_data(sig) + push_data(pubkey_of(key)))
        elif is_p2sh(script):
            pushes = _pushes(txin.script_sig)
            redeem = redeem_for(script)
            if redeem is None and pushes and hash160(pushes[-1]) == script[2:22]:
                redeem = pushes[-1]
            if redeem is None:
                continue
            try:
                parse_multisig(redeem)
            except DecodeError:
                continue
            existing = pushes[1:-1] if pushes and pushes[-1] == redeem else pushes
            vin[i] = _with_script(
                txin, multisig_scriptsig(current, i, redeem, existing, keys, hashtype)
            )
    signed = tx.__class__(tx.version, tuple(vin), tx.vout, tx.locktime)
    errors: list[tuple[int, str]] = []
    for i, txin in enumerate(signed.vin):
        script = prevouts.get(i)
        if script is None:
            errors.append((i, "Input not found or already spent"))
            continue
        try:
            verify_script(txin.script_sig, script, signed, i, STANDARD_FLAGS)
        except ScriptFailure as exc:
            errors.append((i, str(exc)))
    return signed, errors


def _with_script(txin: TxIn, script_sig: bytes) -> TxIn:
    from dataclasses import replace

    return replace(txin, script_sig=script_sig)
