"""A script interpreter covering what Ocean wallets and the federation use.

Supported: pushes and small integers, ``OP_DUP``, ``OP_DROP``, ``OP_NOP``, ``OP_VERIFY``,
``OP_EQUAL(VERIFY)``, ``OP_HASH160``, ``OP_SHA256``, ``OP_HASH256``, ``OP_RIPEMD160``,
``OP_CHECKSIG(VERIFY)``, ``OP_CHECKMULTISIG(VERIFY)`` and P2SH evaluation. Any other
opcode fails the script ("Opcode missing or not understood"), which is stricter than the
node but never accepts what the node refuses.

Signatures are checked against :func:`oceanfed.ocean.sighash.legacy_sighash`. The flags
follow the node's: :data:`STANDARD_FLAGS` for the mempool, :data:`MANDATORY_FLAGS` for
blocks. Errors carry the node's ``ScriptErrorString`` text.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import coincurve

from oceanfed.crypto import HALF_ORDER, decode_der_strict, lax_der_to_strict
from oceanfed.errors import DecodeError
from oceanfed.ocean.encoding import dsha256, hash160, sha256
from oceanfed.ocean.script import iter_ops
from oceanfed.ocean.sighash import legacy_sighash
from oceanfed.ocean.tx import Transaction

VERIFY_P2SH = 1 << 0
VERIFY_STRICTENC = 1 << 1
VERIFY_DERSIG = 1 << 2
VERIFY_LOW_S = 1 << 3
VERIFY_NULLDUMMY = 1 << 4
VERIFY_SIGPUSHONLY = 1 << 5
VERIFY_CLEANSTACK = 1 << 8
VERIFY_NULLFAIL = 1 << 14

MANDATORY_FLAGS = VERIFY_P2SH | VERIFY_DERSIG
STANDARD_FLAGS = (
    MANDATORY_FLAGS
    | VERIFY_STRICTENC
    | VERIFY_LOW_S
    | VERIFY_NULLDUMMY
    | VERIFY_SIGPUSHONLY
    | VERIFY_CLEANSTACK
    | VERIFY_NULLFAIL
)

OP_0 = 0x00
OP_PUSHDATA4 = 0x4E
OP_1NEGATE = 0x4F
OP_1 = 0x51
OP_16 = 0x60
OP_NOP = 0x61
OP_VERIFY = 0x69
OP_RETURN = 0x6A
OP_DROP = 0x75
OP_DUP = 0x76
OP_EQUAL = 0x87
OP_EQUALVERIFY = 0x88
OP_RIPEMD160 = 0xA6
OP_SHA256 = 0xA8
OP_HASH160 = 0xA9
OP_HASH256 = 0xAA
OP_CODESEPARATOR = 0xAB
OP_CHECKSIG = 0xAC
OP_CHECKSIGVERIFY = 0xAD
OP_CHECKMULTISIG = 0xAE
OP_CHECKMULTISIGVERIFY = 0xAF

OP_NAMES = {
    OP_1NEGATE: "-1",
    OP_NOP: "OP_NOP",
    OP_VERIFY: "OP_VERIFY",
    OP_RETURN: "OP_RETURN",
    OP_DROP: "OP_DROP",
    OP_DUP: "OP_DUP",
    OP_EQUAL: "OP_EQUAL",
    OP_EQUALVERIFY: "OP_EQUALVERIFY",
    OP_RIPEMD160: "OP_RIPEMD160",
    OP_SHA256: "OP_SHA256",
    OP_HASH160: "OP_HASH160",
    OP_HASH256: "OP_HASH256",
    OP_CODESEPARATOR: "OP_CODESEPARATOR",
    OP_CHECKSIG: "OP_CHECKSIG",
    OP_CHECKSIGVERIFY: "OP_CHECKSIGVERIFY",
    OP_CHECKMULTISIG: "OP_CHECKMULTISIG",
    OP_CHECKMULTISIGVERIFY: "OP_CHECKMULTISIGVERIFY",
}

SIGHASH_NAMES = {
    1: "ALL",
    2: "NONE",
    3: "SINGLE",
    0x81: "ALL|ANYONECANPAY",
    0x82: "NONE|ANYONECANPAY",
    0x83: "SINGLE|ANYONECANPAY",
}

# ScriptErrorString texts
ERR_EVAL_FALSE = "Script evaluated without error but finished with a false/empty top stack element"
ERR_EQUALVERIFY = "Script failed an OP_EQUALVERIFY operation"
ERR_VERIFY = "Script failed an OP_VERIFY operation"
ERR_CHECKSIGVERIFY = "Script failed an OP_CHECKSIGVERIFY operation"
ERR_CHECKMULTISIGVERIFY = "Script failed an OP_CHECKMULTISIGVERIFY operation"
ERR_STACK = "Operation not valid with the current stack size"
ERR_BAD_OPCODE = "Opcode missing or not understood"
ERR_OP_RETURN = "OP_RETURN was encountered"
ERR_SIG_DER = "Non-canonical DER signature"
ERR_SIG_HIGH_S = "Non-canonical signature: S value is unnecessarily high"
ERR_SIG_HASHTYPE = "Signature hash type missing or not understood"
ERR_PUBKEYTYPE = "Public key is neither compressed or uncompressed"
ERR_NULLDUMMY = "Dummy CHECKMULTISIG argument must be zero"
ERR_NULLFAIL = "Signature must be zero for failed CHECK(MULTI)SIG operation"
ERR_PUSHONLY = "Only non-push operators allowed in signatures"
ERR_CLEANSTACK = "Extra items left on stack after execution"
ERR_PUBKEY_COUNT = "Pubkey count out of range"
ERR_SIG_COUNT = "Signature count out of range"
ERR_BAD_SCRIPT = "Script is malformed"


class ScriptFailure(Exception):
    """The script failed; the message is the node's error text."""


def script_num(data: bytes) -> int:
    """Decode a CScriptNum (little-endian, sign bit in the last byte)."""
    if not data:
        return 0
    value = int.from_bytes(data, "little")
    if data[-1] & 0x80:
        return -(value & ~(0x80 << (8 * (len(data) - 1))))
    return value


def _truthy(data: bytes) -> bool:
    for i, b in enumerate(data):
        if b:
            return not (i == len(data) - 1 and b == 0x80)
    return False


def is_push_only(script: bytes) -> bool:
    try:
        return all(op <= OP_16 for op, _ in iter_ops(script))
    except DecodeError:
        return False


def script_asm(script: bytes, *, sighash_decode: bool = False) -> str:
    """The node's ``ScriptToAsmStr``; with ``sighash_decode``, signatures end in ``[ALL]``."""
    out: list[str] = []
    try:
        for op, data in iter_ops(script):
            if data is not None:
                if len(data) <= 4:
                    out.append(str(script_num(data)))
                elif sighash_decode and _looks_like_sig(data):
                    name = SIGHASH_NAMES.get(data[-1])
                    out.append(data[:-1].hex() + f"[{name}]" if name else data.hex())
                else:
                    out.append(data.hex())
            elif OP_1 <= op <= OP_16:
                out.append(str(op - OP_1 + 1))
            else:
                out.append(OP_NAMES.get(op, f"OP_UNKNOWN<0x{op:02x}>"))
    except DecodeError:
        out.append("[error]")
    return " ".join(out)


def _looks_like_sig(data: bytes) -> bool:
    try:
        decode_der_strict(data[:-1])
    except DecodeError:
        return False
    return True


SigChecker = Callable[[bytes, bytes, bytes], bool]


class TxChecker:
    """Checks signatures of one input of a transaction."""

    def __init__(self, tx: Transaction, index: int, flags: int):
        self.tx = tx
        self.index = index
        self.flags = flags

    def check(self, sig: bytes, pubkey: bytes, script_code: bytes) -> bool:
        if not sig:
            return False
        hashtype = sig[-1]
        der = lax_der_to_strict(sig[:-1])
        if der is None:
            return False
        digest = legacy_sighash(self.tx, self.index, script_code, hashtype)
        try:
            return coincurve.PublicKey(pubkey).verify(der, digest, hasher=None)
        except (ValueError, TypeError):
            return False


def _check_sig_encoding(sig: bytes, flags: int) -> None:
    if not sig:
        return
    if flags & (VERIFY_DERSIG | VERIFY_LOW_S | VERIFY_STRICTENC):
        try:
            _, s = decode_der_strict(sig[:-1])
        except DecodeError:
            raise ScriptFailure(ERR_SIG_DER) from None
        if flags & VERIFY_LOW_S and s > HALF_ORDER:
            raise ScriptFailure(ERR_SIG_HIGH_S)
    if flags & VERIFY_STRICTENC and sig[-1] & ~0x80 not in (1, 2, 3):
        raise ScriptFailure(ERR_SIG_HASHTYPE)


def _check_pubkey_encoding(pubkey: bytes, flags: int) -> None:
    if flags & VERIFY_STRICTENC:
        ok = (len(pubkey) == 33 and pubkey[0] in (2, 3)) or (len(pubkey) == 65 and pubkey[0] == 4)
        if not ok:
            raise ScriptFailure(ERR_PUBKEYTYPE)


def eval_script(stack: list[bytes], script: bytes, checker: TxChecker) -> None:
    """Run ``script`` on ``stack`` in place; ScriptFailure on any failure."""
    flags = checker.flags
    try:
        ops = list(iter_ops(script))
    except DecodeError:
        raise ScriptFailure(ERR_BAD_SCRIPT) from None

    def pop() -> bytes:
        if not stack:
            raise ScriptFailure(ERR_STACK)
        return stack.pop()

    for op, data in ops:
        if data is not None:
            stack.append(data)
        elif op == OP_1NEGATE:
            stack.append(b"\x81")
        elif OP_1 <= op <= OP_16:
            stack.append(bytes([op - OP_1 + 1]))
        elif op == OP_NOP:
            pass
        elif op == OP_RETURN:
            raise ScriptFailure(ERR_OP_RETURN)
        elif op == OP_DUP:
            if not stack:
                raise ScriptFailure(ERR_STACK)
            stack.append(stack[-1])
        elif op == OP_DROP:
            pop()
        elif op == OP_VERIFY:
            if not _truthy(pop()):
                raise ScriptFailure(ERR_VERIFY)
        elif op in (OP_EQUAL, OP_EQUALVERIFY):
            b, a = pop(), pop()
            if op == OP_EQUALVERIFY:
                if a != b:
                    raise ScriptFailure(ERR_EQUALVERIFY)
            else:
                stack.append(b"\x01" if a == b else b"")
        elif op in (OP_RIPEMD160, OP_SHA256, OP_HASH160, OP_HASH256):
            x = pop()
            if op == OP_RIPEMD160:
                stack.append(hashlib.new("ripemd160", x).digest())
            elif op == OP_SHA256:
                stack.append(sha256(x))
            elif op == OP_HASH160:
                stack.append(hash160(x))
            else:
                stack.append(dsha256(x))
        elif op in (OP_CHECKSIG, OP_CHECKSIGVERIFY):
            pubkey, sig = pop(), pop()
            _check_sig_encoding(sig, flags)
            _check_pubkey_encoding(pubkey, flags)
            ok = checker.check(sig, pubkey, script)
            if not ok and flags & VERIFY_NULLFAIL and sig:
                raise ScriptFailure(ERR_NULLFAIL)
            if op == OP_CHECKSIGVERIFY:
                if not ok:
                    raise ScriptFailure(ERR_CHECKSIGVERIFY)
            else:
                stack.append(b"\x01" if ok else b"")
        elif op in (OP_CHECKMULTISIG, OP_CHECKMULTISIGVERIFY):
            ok = _checkmultisig(stack, pop, script, checker)
            if op == OP_CHECKMULTISIGVERIFY:
                if not ok:
                    raise ScriptFailure(ERR_CHECKMULTISIGVERIFY)
            else:
                stack.append(b"\x01" if ok else b"")
        else:
            raise ScriptFailure(ERR_BAD_OPCODE)


def _checkmultisig(
    stack: list[bytes], pop: Callable[[], bytes], script: bytes, checker: TxChecker
) -> bool:
    flags = checker.flags
    n = script_num(pop())
    if not 0 <= n <= 20:
        raise ScriptFailure(ERR_PUBKEY_COUNT)
    pubkeys = [pop() for _ in range(n)]  # top first = last key in the script
    pubkeys.reverse()
    m = script_num(pop())
    if not 0 <= m <= n:
        raise ScriptFailure(ERR_SIG_COUNT)
    sigs = [pop() for _ in range(m)]
    sigs.reverse()
    dummy = pop()
    if flags & VERIFY_NULLDUMMY and dummy:
        raise ScriptFailure(ERR_NULLDUMMY)
    ok = True
    k = 0  # next key to try
    for i, sig in enumerate(sigs):
        matched = False
        while k < len(pubkeys):
            # Fail early when fewer keys remain than signatures still to match.
            if len(pubkeys) - k < len(sigs) - i:
                break
            pubkey = pubkeys[k]
            k += 1
            _check_sig_encoding(sig, flags)
            _check_pubkey_encoding(pubkey, flags)
            if checker.check(sig, pubkey, script):
                matched = True
                break
        if not matched:
            ok = False
            break
    if not ok and flags & VERIFY_NULLFAIL and any(sigs):
        raise ScriptFailure(ERR_NULLFAIL)
    return ok


def verify_script(
    script_sig: bytes, script_pubkey: bytes, tx: Transaction, index: int, flags: int
) -> None:
    """``VerifyScript`` for input ``index`` of ``tx``; raises ScriptFailure."""
    checker = TxChecker(tx, index, flags)
    if flags & VERIFY_SIGPUSHONLY and not is_push_only(script_sig):
        raise ScriptFailure(ERR_PUSHONLY)
    stack: list[bytes] = []
    eval_script(stack, script_sig, checker)
    p2sh_stack = list(stack)
    eval_script(stack, script_pubkey, checker)
    if not stack or not _truthy(stack[-1]):
        raise ScriptFailure(ERR_EVAL_FALSE)
    is_p2sh = (
        len(script_pubkey) == 23 and script_pubkey[:2] == b"\xa9\x14" and script_pubkey[22] == 0x87
    )
    if flags & VERIFY_P2SH and is_p2sh:
        if not is_push_only(script_sig):
            raise ScriptFailure(ERR_PUSHONLY)
        stack = p2sh_stack
        redeem = stack.pop()  # non-empty: the scriptPubKey hashed it
        eval_script(stack, redeem, checker)
        if not stack or not _truthy(stack[-1]):
            raise ScriptFailure(ERR_EVAL_FALSE)
    if flags & VERIFY_CLEANSTACK and len(stack) != 1:
        raise ScriptFailure(ERR_CLEANSTACK)
