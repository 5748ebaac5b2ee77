"""The ``node`` signer driving a devnet endpoint's wallet through ``signblock``."""

from __future__ import annotations

import pytest

from oceanfed.crypto import pubkey_of, verify_digest
from oceanfed.errors import SignerError
from oceanfed.interfaces import MemberInfo, PluginContext, SignRequest
from oceanfed.keyfile import generate_private_key, write_private_key
from oceanfed.node_signer import NodeSigner, NodeSignerOptions
from oceanfed.ocean.block import Block


def _context(dn, index: int) -> PluginContext:
    members = [
        MemberInfo(i, n, bytes.fromhex(dn.layout.pubkeys[i]), bytes(33))
        for i, n in enumerate(dn.layout.members)
    ]
    name = dn.layout.members[index]
    return PluginContext(
        index, members, dn.layout.threshold, "ocean_test", node_client=lambda: dn.client(name)
    )


def _request(block: Block) -> SignRequest:
    h = block.header
    return SignRequest(h.height, h.digest(), h.preimage(), block.block_hex())


def test_node_signer_signs_with_the_wallet_key(devnet) -> None:
    signer = NodeSigner(NodeSignerOptions(), _context(devnet, 2))
    assert signer.pubkey() == pubkey_of(devnet.key("m2"))
    block = Block.from_hex(devnet.client().call("getnewblockhex"))
    der = signer.sign(_request(block))
    assert verify_digest(signer.pubkey(), block.header.digest(), der)
    assert "tip 0" in signer.check()
    signer.close()


def test_node_without_federation_key_is_an_error(devnet) -> None:
    # m4's wallet now holds a key outside the signblockscript: signblock answers "00".
    write_private_key(devnet.layout.block_key_file("m4"), generate_private_key(), force=True)
    devnet.stop()
    devnet.start()
    assert devnet.client("m4").call("signblock", devnet.client().call("getnewblockhex")) == "00"
    signer = NodeSigner(NodeSignerOptions(), _context(devnet, 4))
    block = Block.from_hex(devnet.client().call("getnewblockhex"))
    with pytest.raises(SignerError, match="holds no federation key"):
        signer.sign(_request(block))


def test_node_signer_reports_rpc_failures(devnet) -> None:
    signer = NodeSigner(NodeSignerOptions(pubkey=devnet.layout.pubkeys[1]), _context(devnet, 1))
    with pytest.raises(SignerError, match="Block decode failed"):
        signer.sign(SignRequest(1, bytes(32), b"", "00ff"))
    block = Block.from_hex(devnet.client().call("getnewblockhex"))
    devnet.stop()
    with pytest.raises(SignerError, match="cannot reach node"):
        signer.sign(_request(block))
