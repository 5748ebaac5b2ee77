"""What the chain itself says about the federation: read from the member's node.

The signblockscript is the genesis block's challenge (``getblockhash 0``, then
``getblockheader <hash> false``): it gives M, N and the members' pubkeys in script order,
which is the order oceanfed lists members in.
"""

from __future__ import annotations

from dataclasses import dataclass

from oceanfed.errors import DecodeError, OceanfedError, RPCError
from oceanfed.nodechain import genesis_challenge
from oceanfed.ocean.script import parse_multisig
from oceanfed.rpc import NodeClient


@dataclass(frozen=True)
class ChainInfo:
    """The federation as the chain defines it, and the tip at the time of reading."""

    chain: str
    script: bytes
    threshold: int
    pubkeys: list[bytes]
    tip_height: int
    tip_hash: str

    @property
    def members(self) -> int:
        return len(self.pubkeys)

    def index_of(self, pubkey: bytes) -> int | None:
        try:
            return self.pubkeys.index(pubkey)
        except ValueError:
            return None


def read_chain(node: NodeClient, where: str) -> ChainInfo:
    """Read the chain through ``node``; ``where`` names the upstream flags in errors."""
    try:
        info = node.call("getblockchaininfo")
        challenge = genesis_challenge(node)
        tip_hash = node.call("getbestblockhash")
        tip_height = int(node.call("getblockcount"))
    except RPCError as exc:
        raise OceanfedError(f"{where}: {exc}") from None
    except DecodeError as exc:
        raise OceanfedError(f"{where}: cannot read the genesis header ({exc})") from None
    if not isinstance(info, dict) or not isinstance(info.get("chain"), str):
        raise OceanfedError(f"{where}: getblockchaininfo did not name the chain")
    try:
        threshold, pubkeys = parse_multisig(challenge)
    except DecodeError as exc:
        raise OceanfedError(
            f"{where}: the genesis challenge is not an M-of-N CHECKMULTISIG signblockscript ({exc})"
        ) from None
    return ChainInfo(
        chain=info["chain"],
        script=challenge,
        threshold=threshold,
        pubkeys=list(pubkeys),
        tip_height=tip_height,
        tip_hash=str(tip_hash),
    )
