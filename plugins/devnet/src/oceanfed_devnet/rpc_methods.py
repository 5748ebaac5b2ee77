"""The devnet's chain and block-signing JSON-RPC methods, with the node's results, error
codes and help texts (registered in :mod:`.rpc_registry`; :mod:`.rpc` dispatches calls)."""

from __future__ import annotations

from typing import Any

from oceanfed.crypto import pubkey_of, sign_digest, wrap_scriptsig
from oceanfed.ocean.block import Block
from oceanfed.ocean.proof import combine_scriptsigs
from oceanfed.ocean.script import parse_multisig, script_asm_multisig
from oceanfed_devnet.chain import (
    RPC_INVALID_ADDRESS_OR_KEY,
    RPC_INVALID_PARAMETER,
    RPC_MISC_ERROR,
    Chain,
    ChainError,
    Entry,
    decode_block,
    remember_block,
)
from oceanfed_devnet.rpc_registry import RPC_TYPE_ERROR, Endpoint, expect, method, type_name


# -- argument helpers ---------------------------------------------------------------------
def _block_hash(value: Any, name: str = "blockhash") -> bytes:
    text = expect(value, str, name)
    if len(text) != 64:
        raise ChainError(
            RPC_INVALID_PARAMETER, f"{name} must be of length 64 (not {len(text)}, for '{text}')"
        )
    try:
        return bytes.fromhex(text)[::-1]
    except ValueError:
        raise ChainError(
            RPC_INVALID_PARAMETER, f"{name} must be hexadecimal string (not '{text}')"
        ) from None


def _entry(endpoint: Endpoint, value: Any) -> Entry:
    entry = endpoint.chain.entry(_block_hash(value))
    if entry is None:
        raise ChainError(RPC_INVALID_ADDRESS_OR_KEY, "Block not found")
    return entry


def _verbose(params: list[Any], index: int) -> bool:
    if len(params) <= index:
        return True
    value = params[index]
    if isinstance(value, int):  # bool is an int; 0/1 are accepted like the node
        return bool(value)
    raise ChainError(RPC_TYPE_ERROR, f"Expected type bool, got {type_name(value)}")


# -- header / block JSON ------------------------------------------------------------------
def header_json(chain: Chain, entry: Entry) -> dict[str, Any]:
    h = entry.header
    main = chain.is_main(entry)
    out: dict[str, Any] = {
        "hash": h.hash_hex(),
        "confirmations": chain.height - entry.height + 1 if main else -1,
        "height": entry.height,
        "version": h.version,
        "versionHex": f"{h.version & 0xFFFFFFFF:08x}",
        "merkleroot": h.merkle_root[::-1].hex(),
        "time": h.time,
        "mediantime": chain.median_time_past(entry),
        "nonce": 1,
        "bits": script_asm_multisig(h.challenge),
        "difficulty": 1,
        "chainwork": f"{entry.height + 1:064x}",
        "contracthash": h.contract_hash[::-1].hex(),
        "attestationhash": h.attestation_hash[::-1].hex(),
        "mappinghash": h.mapping_hash[::-1].hex(),
    }
    if entry.height > 0:
        out["previousblockhash"] = h.prev_hash[::-1].hex()
    if main:
        nxt = chain.hash_at(entry.height + 1)
        if nxt is not None:
            out["nextblockhash"] = nxt[::-1].hex()
    return out


def block_json(chain: Chain, entry: Entry, block: Block) -> dict[str, Any]:
    head = header_json(chain, entry)
    size = len(block.serialize())
    stripped = len(block.serialize(with_witness=False))
    out: dict[str, Any] = {
        "hash": head.pop("hash"),
        "confirmations": head.pop("confirmations"),
        "strippedsize": stripped,
        "size": size,
        "weight": stripped * 3 + size,
        "height": head.pop("height"),
        "version": head.pop("version"),
        "versionHex": head.pop("versionHex"),
        "merkleroot": head.pop("merkleroot"),
        "tx": [tx.txid_hex() for tx in block.txs],
    }
    out.update(head)
    return out


# -- chain methods ------------------------------------------------------------------------
@method(
    "getblockcount",
    0,
    0,
    "getblockcount\n\nReturns the number of blocks in the longest blockchain.\n\nResult:\nn    (numeric) The current block count\n",
)
def getblockcount(ep: Endpoint, params: list[Any]) -> int:
    return ep.chain.height


@method(
    "getbestblockhash",
    0,
    0,
    'getbestblockhash\n\nReturns the hash of the best (tip) block in the longest blockchain.\n\nResult:\n"hex"      (string) the block hash hex encoded\n',
)
def getbestblockhash(ep: Endpoint, params: list[Any]) -> str:
    return ep.chain.tip().header.hash_hex()


@method(
    "getblockhash",
    1,
    0,
    'getblockhash height\n\nReturns hash of block in best-block-chain at height provided.\n\nArguments:\n1. height         (numeric, required) The height index\n\nResult:\n"hash"         (string) The block hash\n',
)
def getblockhash(ep: Endpoint, params: list[Any]) -> str:
    height = expect(params[0], int, "height")
    found = ep.chain.hash_at(height)
    if found is None:
        raise ChainError(RPC_INVALID_PARAMETER, "Block height out of range")
    return found[::-1].hex()


@method(
    "getblockheader",
    1,
    1,
    'getblockheader "hash" ( verbose )\n\nIf verbose is false, returns a string that is serialized, hex-encoded data for blockheader \'hash\'.\nIf verbose is true, returns an Object with information about blockheader <hash>.\n\nArguments:\n1. "hash"          (string, required) The block hash\n2. verbose           (boolean, optional, default=true) true for a json object, false for the hex encoded data\n',
)
def getblockheader(ep: Endpoint, params: list[Any]) -> Any:
    entry = _entry(ep, params[0])
    if not _verbose(params, 1):
        return entry.header.hex()
    return header_json(ep.chain, entry)


@method(
    "getblock",
    1,
    1,
    'getblock "blockhash" ( verbose )\n\nIf verbose is false, returns a string that is serialized, hex-encoded data for block \'hash\'.\nIf verbose is true, returns an Object with information about block <hash>.\n\nArguments:\n1. "blockhash"          (string, required) The block hash\n2. verbose                (boolean, optional, default=true) true for a json object, false for the hex encoded data\n',
)
def getblock(ep: Endpoint, params: list[Any]) -> Any:
    entry = _entry(ep, params[0])
    block = ep.chain.block(entry.hash)
    if block is None:
        raise ChainError(RPC_MISC_ERROR, "Block not found on disk")
    if not _verbose(params, 1):
        return block.block_hex()
    return block_json(ep.chain, entry, block)


@method(
    "getblockchaininfo",
    0,
    0,
    "getblockchaininfo\nReturns an object containing various state info regarding blockchain processing.\n",
)
def getblockchaininfo(ep: Endpoint, params: list[Any]) -> dict[str, Any]:
    global _chain_info
    chain = ep.chain
    tip = chain.tip()
    known = _chain_info
    if known is not None and known[0] is chain and known[1] == tip.hash:
        return dict(known[2])  # every member asks after each block: built once per tip
    forks = {"status": "active", "startTime": 0, "timeout": 999999999999, "since": 0}
    info = {
        "chain": chain.name,
        "blocks": tip.height,
        "headers": tip.height,
        "bestblockhash": tip.header.hash_hex(),
        "difficulty": 1,
        "mediantime": chain.median_time_past(tip),
        "verificationprogress": 1,
        "chainwork": f"{tip.height + 1:064x}",
        "pruned": False,
        "bip9_softforks": {"csv": dict(forks), "segwit": dict(forks)},
    }
    _chain_info = (chain, tip.hash, info)
    return dict(info)


#: the last ``getblockchaininfo`` answer: (chain, tip hash, answer)
_chain_info: tuple[Chain, bytes, dict[str, Any]] | None = None


@method(
    "getchaintips",
    0,
    0,
    "getchaintips\nReturn information about all known tips in the block tree, including the main chain as well as orphaned branches.\n",
)
def getchaintips(ep: Endpoint, params: list[Any]) -> list[dict[str, Any]]:
    return [
        {"height": e.height, "hash": e.header.hash_hex(), "branchlen": n, "status": status}
        for e, n, status in ep.chain.tips()
    ]


# -- block signing ------------------------------------------------------------------------
@method(
    "getnewblockhex",
    0,
    1,
    'getnewblockhex ( required_age )\n\nGets hex serialization of a proposed, unsigned block.\n\nArguments:\n1. required_age     (numeric, optional, default=0) How many seconds a transaction must have been in the mempool to be included\n\nResult\n"blockhex"        (hex) The block hex\n',
)
def getnewblockhex(ep: Endpoint, params: list[Any]) -> str:
    if params:
        age = expect(params[0], int, "required_age")
        if age < 0:
            raise ChainError(RPC_INVALID_PARAMETER, "min_tx_age must be non-negative.")
    block = ep.chain.new_block()
    block_hex = block.block_hex()
    remember_block(block_hex, block)
    return block_hex


@method(
    "testproposedblock",
    1,
    1,
    'testproposedblock "blockhex" ( acceptnonstd )\n\nChecks a block proposal for validity, and that it extends chaintip\n\nArguments:\n1. "blockhex"    (string, required) The hex-encoded block from getnewblockhex\n2. acceptnonstd  (bool, optional) If set false, returns error if block contains non-standard transaction. Default is set via `-acceptnonstdtxn`. If proposal is from a dynamic federation transition block, non-standard transactions are allowed.\n\nResult\n',
)
def testproposedblock(ep: Endpoint, params: list[Any]) -> None:
    ep.chain.test_proposed(decode_block(params[0]))
    return None


@method(
    "signblock",
    1,
    0,
    'signblock "blockhex"\n\nSigns a block proposal, checking that it would be accepted first\n\nArguments:\n1. "blockhex"    (string, required) The hex-encoded block from getnewblockhex\n\nResult\n sig      (hex) The signature\n',
)
def signblock(ep: Endpoint, params: list[Any]) -> str:
    block = decode_block(params[0])
    ep.chain.test_proposed(block)
    if ep.block_key is not None:
        _, pubkeys = parse_multisig(ep.chain.challenge)
        if pubkey_of(ep.block_key) in pubkeys:
            return wrap_scriptsig(sign_digest(ep.block_key, block.header.digest())).hex()
    return "00"


COMBINE_HELP = (
    'combineblocksigs "blockhex" ["signature",...]\n\nMerges signatures on a block proposal\n\n'
    'Arguments:\n1. "blockhex"       (string, required) The hex-encoded block from getnewblockhex\n'
    '2. "signatures"     (string) A json array of signatures\n    [\n'
    '      "signature"   (string) A signature (in the form of a hex-encoded scriptSig)\n      ,...\n    ]\n\n'
    'Result\n{\n  "hex": "value",   (string) The signed block\n'
    '  "complete": n       (numeric) if block is complete \n}\n\n'
    'Examples:\n> ocean-cli combineblocksigs <hex> ["signature1", "signature2", ...]\n'
)


@method("combineblocksigs", 2, 0, COMBINE_HELP)
def combineblocksigs(ep: Endpoint, params: list[Any]) -> dict[str, Any]:
    block = decode_block(params[0])
    sigs = expect(params[1], list, "signatures")
    header, complete = combine_scriptsigs(block.header, sigs)
    return {"hex": Block(header, block.txs).block_hex(), "complete": complete}


@method(
    "submitblock",
    1,
    1,
    'submitblock "hexdata" ( "jsonparametersobject" )\n\nAttempts to submit new block to network.\n\nArguments\n1. "hexdata"        (string, required) the hex-encoded block data to submit\n2. "parameters"     (string, optional) object of optional parameters\n\nResult:\n',
)
def submitblock(ep: Endpoint, params: list[Any]) -> str | None:
    return ep.chain.submit(decode_block(params[0]))

