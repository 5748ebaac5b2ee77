"""The registry of the devnet's JSON-RPC methods, and the argument helpers they share.

Each method is a function ``(endpoint, params) -> result`` registered in :data:`METHODS`
by :func:`method` with its argument counts and help text. The modules defining methods
(:mod:`.rpc_methods`, :mod:`.rpc_tx`, :mod:`.rpc_wallet`) import only this one among the
RPC modules; :mod:`.rpc` imports them all and dispatches calls.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from oceanfed.ocean.address import address_to_script
from oceanfed.ocean.proof import is_hex
from oceanfed.ocean.tx import Transaction
from oceanfed_devnet.chain import (
    RPC_INVALID_ADDRESS_OR_KEY,
    RPC_INVALID_PARAMETER,
    Chain,
    ChainError,
)
from oceanfed_devnet.state import TxReject
from oceanfed_devnet.txjson import AmountError, parse_amount
from oceanfed_devnet.wallet import Wallet

RPC_TYPE_ERROR = -3
RPC_METHOD_NOT_FOUND = -32601
RPC_TRANSACTION_ERROR = -25
RPC_TRANSACTION_REJECTED = -26
RPC_TRANSACTION_ALREADY_IN_CHAIN = -27
RPC_WALLET_ERROR = -4


@dataclass
class Endpoint:
    """One RPC endpoint: its name, the shared chain, its block-signing key (members) and
    its wallet (None: wallet methods answer "Method not found")."""

    name: str
    chain: Chain
    block_key: bytes | None = None
    wallet: Wallet | None = None

    def __repr__(self) -> str:  # never show keys
        return f"Endpoint({self.name!r})"


Handler = Callable[[Endpoint, list[Any]], Any]


@dataclass(frozen=True)
class Method:
    """A registered method: its handler, its argument counts and its help text."""

    handler: Handler
    required: int
    optional: int
    help: str


METHODS: dict[str, Method] = {}


def method(name: str, required: int, optional: int, help_text: str) -> Callable[[Handler], Handler]:
    """Register the decorated handler as method ``name``; a call with fewer than ``required``
    or more than ``required + optional`` arguments answers -1 with ``help_text``."""

    def register(fn: Handler) -> Handler:
        METHODS[name] = Method(fn, required, optional, help_text)
        return fn

    return register


# -- argument helpers ---------------------------------------------------------------------
_JSON_TYPES = {
    str: "string",
    bool: "bool",
    int: "number",
    float: "number",
    list: "array",
    dict: "object",
}


def type_name(value: Any) -> str:
    """The JSON type name of ``value`` as the node's errors give it."""
    return "null" if value is None else _JSON_TYPES.get(type(value), "unknown")


def expect(value: Any, kind: type | tuple[type, ...], name: str) -> Any:
    """``value`` if it is a ``kind`` (a bool is no int), else the node's -3 type error."""
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        want = _JSON_TYPES[kind if isinstance(kind, type) else kind[0]]
        raise ChainError(RPC_TYPE_ERROR, f"Expected type {want}, got {type_name(value)}")
    return value


def parse_hash(value: Any, name: str) -> bytes:
    """A 32-byte hash from its 64-digit hex (reversed, as the node shows hashes)."""
    text = expect(value, str, name)
    if len(text) != 64 or not is_hex(text):
        raise ChainError(RPC_INVALID_PARAMETER, f"{name} must be hexadecimal string (not '{text}')")
    return bytes.fromhex(text)[::-1]


def amount_arg(value: Any) -> int:
    """Satoshi from a JSON amount in coins."""
    try:
        return parse_amount(value)
    except AmountError as exc:
        raise ChainError(RPC_TYPE_ERROR, str(exc)) from None


def address_arg(value: Any) -> bytes:
    """The output script of an address."""
    text = expect(value, str, "address")
    try:
        return address_to_script(text)
    except ValueError:
        raise ChainError(RPC_INVALID_ADDRESS_OR_KEY, f"Invalid Bitcoin address: {text}") from None


def submit_tx(ep: Endpoint, tx: Transaction) -> str:
    """``sendrawtransaction``'s checks and errors; the txid hex on success."""
    chain = ep.chain
    txid = tx.txid()
    with chain.lock:
        if txid in chain.mempool:
            return tx.txid_hex()
        try:
            chain.accept_tx(tx)
        except TxReject as exc:
            if exc.missing:
                if chain.store.tx_location(txid) is not None:
                    raise ChainError(
                        RPC_TRANSACTION_ALREADY_IN_CHAIN, "transaction already in block chain"
                    ) from None
                raise ChainError(RPC_TRANSACTION_ERROR, "Missing inputs") from None
            raise ChainError(RPC_TRANSACTION_REJECTED, f"{exc.code}: {exc.reason}") from None
    return tx.txid_hex()
