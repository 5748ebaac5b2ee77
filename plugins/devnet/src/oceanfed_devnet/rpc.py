"""The devnet's JSON-RPC: every method registered, and :func:`dispatch` to run a call.

The methods live in :mod:`.rpc_methods` (chain and block signing), :mod:`.rpc_tx` (raw
transactions and assets) and :mod:`.rpc_wallet` (wallets); importing them registers them
in :data:`.rpc_registry.METHODS`. A missing or extra argument answers -1 with the help
text, as the node does.
"""

from __future__ import annotations

from typing import Any

from oceanfed_devnet import rpc_methods, rpc_tx, rpc_wallet
from oceanfed_devnet.chain import RPC_MISC_ERROR, ChainError
from oceanfed_devnet.rpc_registry import METHODS, RPC_METHOD_NOT_FOUND, Endpoint

__all__ = ["METHODS", "RPC_METHOD_NOT_FOUND", "Endpoint", "dispatch"]

#: the modules whose methods are registered (imported for that)
METHOD_MODULES = (rpc_methods, rpc_tx, rpc_wallet)


def dispatch(endpoint: Endpoint, name: str, params: Any) -> Any:
    """Run one call; raise ChainError for any JSON-RPC error."""
    if name == "generate":
        raise ChainError(
            RPC_METHOD_NOT_FOUND, "This method cannot be used with a block-signature-required chain"
        )
    m = METHODS.get(name)
    if m is None:
        raise ChainError(RPC_METHOD_NOT_FOUND, "Method not found")
    if params is None:
        params = []
    if not isinstance(params, list):
        raise ChainError(-32600, "Params must be an array")
    if not m.required <= len(params) <= m.required + m.optional:
        raise ChainError(RPC_MISC_ERROR, m.help)
    return m.handler(endpoint, params)


