"""The ``node`` signer: the member's own Ocean node signs with the key in its wallet.

Configured as ``[signer] driver = "node"`` (optionally ``pubkey = "<hex>"``, default the
member's pubkey from ``[federation]``). It calls ``signblock <block_hex>``; the node answers
with a scriptSig ``OP_0 push(DER)``, or with ``"00"`` when its wallet holds no federation
key, which is an error here, never a signature. ``signblock`` first tests the block as
``testproposedblock`` does, so once the other members have completed the block the node
answers "already have block": :class:`~oceanfed.errors.BlockComplete`, the normal end of a
height for a signer slower than the others.
"""

from __future__ import annotations

from oceanfed.crypto import parse_pubkey, unwrap_scriptsig
from oceanfed.errors import BlockComplete, DecodeError, RPCError, SignerError
from oceanfed.interfaces import PluginContext, PluginOptions, Signer, SignRequest

#: RPC error code of a block the node refuses (or already has)
RPC_VERIFY_ERROR = -25


class NodeSignerOptions(PluginOptions):
    #: the key the node's wallet signs with (hex); default: this member's pubkey
    pubkey: str | None = None


class NodeSigner(Signer):
    """Signs through ``signblock`` on this member's node."""

    Options = NodeSignerOptions

    def __init__(self, options: PluginOptions, context: PluginContext):
        super().__init__(options, context)
        given = getattr(options, "pubkey", None)
        try:
            self._pubkey = parse_pubkey(given) if given else context.me.pubkey
        except ValueError as exc:
            raise SignerError(f"signer.pubkey: {exc}") from None
        if context.node_client is None:
            raise SignerError("signer node: no node client available (is [node] configured?)")
        self._client = context.node_client()

    def pubkey(self) -> bytes:
        return self._pubkey

    def sign(self, request: SignRequest) -> bytes:
        try:
            answer = self._client.call("signblock", request.block_hex)
        except RPCError as exc:
            if exc.code == RPC_VERIFY_ERROR and "already have block" in str(exc).lower():
                raise BlockComplete(
                    f"the node already has block {request.height} (completed by the others)"
                ) from None
            raise SignerError(f"signblock at height {request.height} failed: {exc}") from None
        if not isinstance(answer, str):
            raise SignerError(
                f"signblock at height {request.height}: expected a hex string from the node"
            )
        if answer == "00":
            raise SignerError(
                f"signblock at height {request.height}: the node's wallet holds no federation key"
            )
        try:
            return unwrap_scriptsig(bytes.fromhex(answer))
        except (ValueError, DecodeError):
            raise SignerError(
                f"signblock at height {request.height}: the node returned a malformed scriptSig"
            ) from None

    def check(self) -> str:
        try:
            height = self._client.call("getblockcount")
        except RPCError as exc:
            raise SignerError(f"signer node: {exc}") from None
        return f"NodeSigner via {getattr(self._client, 'url', 'node')} (tip {height}), pubkey {self._pubkey.hex()}"

    def close(self) -> None:
        close = getattr(self._client, "close", None)
        if close is not None:
            close()
