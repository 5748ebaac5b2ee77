"""Script helpers: parsing pushes and the M-of-N CHECKMULTISIG signblockscript."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from oceanfed.errors import DecodeError
from oceanfed.ocean.encoding import push_data

OP_0 = 0x00
OP_PUSHDATA1 = 0x4C
OP_PUSHDATA2 = 0x4D
OP_PUSHDATA4 = 0x4E
OP_1 = 0x51
OP_16 = 0x60
OP_CHECKMULTISIG = 0xAE


def iter_ops(script: bytes) -> Iterator[tuple[int, bytes | None]]:
    """Yield ``(opcode, pushed data or None)`` for each operation of ``script``."""
    i = 0
    n = len(script)
    while i < n:
        op = script[i]
        i += 1
        if op == 0:
            yield op, b""
            continue
        if op < OP_PUSHDATA1:
            size = op
        elif op == OP_PUSHDATA1:
            if i + 1 > n:
                raise DecodeError("script: truncated PUSHDATA1")
            size = script[i]
            i += 1
        elif op == OP_PUSHDATA2:
            if i + 2 > n:
                raise DecodeError("script: truncated PUSHDATA2")
            size = int.from_bytes(script[i : i + 2], "little")
            i += 2
        elif op == OP_PUSHDATA4:
            if i + 4 > n:
                raise DecodeError("script: truncated PUSHDATA4")
            size = int.from_bytes(script[i : i + 4], "little")
            i += 4
        else:
            yield op, None
            continue
        if i + size > n:
            raise DecodeError("script: push runs past the end")
        yield op, script[i : i + size]
        i += size


def small_int(op: int) -> int | None:
    """The value of OP_1..OP_16, or None."""
    if OP_1 <= op <= OP_16:
        return op - OP_1 + 1
    return None


def multisig_script(threshold: int, pubkeys: Sequence[bytes]) -> bytes:
    """Build ``M <pk1> … <pkN> N OP_CHECKMULTISIG``."""
    n = len(pubkeys)
    if not 1 <= threshold <= n <= 16:
        raise ValueError(f"need 1 <= threshold ({threshold}) <= members ({n}) <= 16")
    out = bytes([OP_1 + threshold - 1])
    for pk in pubkeys:
        out += push_data(pk)
    return out + bytes([OP_1 + n - 1, OP_CHECKMULTISIG])


def parse_multisig(script: bytes) -> tuple[int, list[bytes]]:
    """Return ``(M, pubkeys)`` of a bare CHECKMULTISIG script, or raise DecodeError."""
    ops = list(iter_ops(script))
    if len(ops) < 4 or ops[-1][0] != OP_CHECKMULTISIG:
        raise DecodeError("script is not an M-of-N CHECKMULTISIG")
    m = small_int(ops[0][0])
    n = small_int(ops[-2][0])
    keys = [data for _, data in ops[1:-2]]
    if m is None or n is None or n != len(keys) or not 1 <= m <= n:
        raise DecodeError("script is not an M-of-N CHECKMULTISIG")
    pubkeys: list[bytes] = []
    for k in keys:
        if k is None or len(k) not in (33, 65):
            raise DecodeError("CHECKMULTISIG script holds something that is not a pubkey")
        pubkeys.append(k)
    return m, pubkeys


def script_asm_multisig(script: bytes) -> str:
    """The asm form the node shows for a multisig challenge (``bits`` in getblockheader)."""
    m, keys = parse_multisig(script)
    return " ".join([str(m), *(k.hex() for k in keys), str(len(keys)), "OP_CHECKMULTISIG"])
