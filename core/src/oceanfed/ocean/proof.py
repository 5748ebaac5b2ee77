"""The block proof: an M-of-N CHECKMULTISIG ``challenge`` satisfied by a ``solution``.

:func:`check_proof` mirrors the node's ``CheckProof`` (``pow.cpp``): the solution is run as
a scriptSig and the challenge as a scriptPubKey, with only the P2SH flag. So the dummy may be
anything, extra items below the signatures are ignored, and signatures are parsed as lax
DER with S normalised (trailing bytes such as a hashtype byte are ignored by the parser).

:func:`combine_scriptsigs` mirrors the ``combineblocksigs`` RPC: it merges scriptSigs one at
a time (``CombineMultisig``) and stops as soon as the proof verifies.

Limitation: a solution holding non-push opcodes is rejected here, where the node would run
them; no signer produces such solutions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from oceanfed.crypto import verify_digest
from oceanfed.errors import DecodeError
from oceanfed.ocean.encoding import push_data
from oceanfed.ocean.header import BlockHeader
from oceanfed.ocean.script import OP_1, OP_16, iter_ops, parse_multisig

OP_1NEGATE = 0x4F
#: consensus limits on one stack element and on a script
MAX_ELEMENT_SIZE = 520
MAX_SCRIPT_SIZE = 10_000


_HEX = re.compile(r"[0-9a-fA-F]+")


def is_hex(text: object) -> bool:
    """The node's ``IsHex``: a non-empty, even-length string of hex digits only."""
    return isinstance(text, str) and len(text) % 2 == 0 and _HEX.fullmatch(text) is not None


def push_stack(script: bytes) -> tuple[list[bytes], bool]:
    """Run a push-only script: ``(stack, ok)``.

    ``ok`` is False on a non-push opcode, an oversized push or a truncated script; the
    stack then holds what was pushed before the failure (as the node's ``EvalScript``
    leaves it).
    """
    stack: list[bytes] = []
    if len(script) > MAX_SCRIPT_SIZE:
        return stack, False
    try:
        for op, data in iter_ops(script):
            if data is not None:
                if len(data) > MAX_ELEMENT_SIZE:
                    return stack, False
                stack.append(data)
            elif op == OP_1NEGATE:
                stack.append(b"\x81")
            elif OP_1 <= op <= OP_16:
                stack.append(bytes([op - OP_1 + 1]))
            else:
                return stack, False
    except DecodeError:
        return stack, False
    return stack, True


def check_multisig_stack(
    stack: Sequence[bytes], threshold: int, pubkeys: Sequence[bytes], digest: bytes
) -> bool:
    """OP_CHECKMULTISIG over ``stack`` (top last) with the challenge's keys, P2SH flag only.

    Signatures are taken from the top, the item below them is the dummy (any value) and
    must exist; keys are tried in script order and each signature must match a later key.
    """
    if len(stack) < threshold + 1:
        return False
    sigs = list(stack[len(stack) - threshold :])
    isig = ikey = 0
    sigs_left, keys_left = threshold, len(pubkeys)
    while sigs_left > 0:
        sig = sigs[isig]
        if sig and verify_digest(pubkeys[ikey], digest, sig, lax=True):
            isig += 1
            sigs_left -= 1
        ikey += 1
        keys_left -= 1
        if sigs_left > keys_left:
            return False
    return True


def check_proof(challenge: bytes, solution: bytes, digest: bytes) -> bool:
    """True when ``solution`` satisfies the multisig ``challenge`` for block ``digest``."""
    try:
        threshold, pubkeys = parse_multisig(challenge)
    except DecodeError:
        return False
    stack, ok = push_stack(solution)
    return ok and check_multisig_stack(stack, threshold, pubkeys, digest)


def check_header_proof(header: BlockHeader) -> bool:
    """:func:`check_proof` for a header's own challenge, solution and digest."""
    return check_proof(header.challenge, header.solution, header.digest())


def build_solution(sigs_in_key_order: Iterable[bytes]) -> bytes:
    """The canonical solution: ``OP_0`` then one push per DER signature, in key order."""
    return b"\x00" + b"".join(push_data(sig) for sig in sigs_in_key_order)


def combine_multisig(challenge: bytes, digest: bytes, solution: bytes, scriptsig: bytes) -> bytes:
    """Merge the signatures of two scriptSigs into one solution (``CombineMultisig``).

    Every non-empty item of both is matched to the first key (in script order) it verifies
    for and that has no signature yet; the result is ``OP_0``, the first M matched
    signatures in key order, then ``OP_0`` for each one missing.
    """
    threshold, pubkeys = parse_multisig(challenge)
    candidates = sorted({item for s in (solution, scriptsig) for item in push_stack(s)[0] if item})
    matched: dict[int, bytes] = {}
    for sig in candidates:
        for i, pk in enumerate(pubkeys):
            if i not in matched and verify_digest(pk, digest, sig, lax=True):
                matched[i] = sig
                break
    chosen = [matched[i] for i in sorted(matched)][:threshold]
    return b"\x00" + b"".join(push_data(s) for s in chosen) + b"\x00" * (threshold - len(chosen))


def combine_scriptsigs(
    header: BlockHeader, scriptsigs_hex: Iterable[str]
) -> tuple[BlockHeader, bool]:
    """``combineblocksigs``: merge hex scriptSigs into ``header`` one at a time.

    Non-hex entries are skipped. Returns the header and whether its proof is complete,
    stopping at the first scriptSig that completes it.
    """
    digest = header.digest()
    for text in scriptsigs_hex:
        if not is_hex(text):
            continue
        scriptsig = bytes.fromhex(text)
        header = header.with_solution(
            combine_multisig(header.challenge, digest, header.solution, scriptsig)
        )
        if check_proof(header.challenge, header.solution, digest):
            return header, True
    return header, False
