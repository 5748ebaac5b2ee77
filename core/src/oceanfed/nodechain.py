"""What a node says about its chain's federation: the genesis block's signblockscript."""

from __future__ import annotations

from oceanfed.errors import DecodeError
from oceanfed.ocean.header import BlockHeader
from oceanfed.rpc import NodeClient


def genesis_challenge(node: NodeClient) -> bytes:
    """The chain's signblockscript: the genesis header's challenge (``getblockhash 0``,
    then ``getblockheader <hash> false``). RPCError if the node fails, DecodeError if it
    answers with something that is not a header."""
    genesis = node.call("getblockhash", 0)
    header_hex = node.call("getblockheader", genesis, False)
    if not isinstance(header_hex, str):
        raise DecodeError("getblockheader did not return the header in hex")
    return BlockHeader.from_hex(header_hex).challenge
