"""The devnet's block chain: validation, the active chain, side branches and proposals.

Rules (those of a signed Ocean chain, see FACTS.md):

* context-free (``CheckBlock``): the proof (``block-proof-invalid``), the merkle root over
  the txids (``bad-txnmrklroot``), exactly one coinbase, first (``bad-cb-missing`` /
  ``bad-cb-multiple``), no duplicate txids (``bad-txns-duplicate``) and, when present or
  needed, the coinbase's witness commitment (``bad-witness-merkle-match``);
* contextual: a known parent (``bad-prevblk``), height = parent + 1 (``bad-height``), the
  genesis challenge (``bad-diffbits``), a time above the parent's median time past
  (``time-too-old``) and the height first in the coinbase scriptSig (``bad-cb-height``).

and the transaction rules of :mod:`.state` against the UTXO set (the first failing
transaction's reason; ``bad-cb-amount`` for a coinbase paying more than the fees).

The UTXO set, issued assets and freeze history are stored with each block, in the same
SQLite transaction. A longer side branch still becomes the active chain: the state is then
rebuilt by replaying the new chain (rare, and O(chain)). The mempool (:mod:`.mempool`)
feeds ``getnewblockhex``; it is stored on a clean stop (:meth:`Chain.save_mempool`) and
re-checked on the next start, as the node's ``mempool.dat``. Chain updates are serialised on one lock; reads take it briefly.
"""

from __future__ import annotations

import threading
import time as _time
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Any

from oceanfed.errors import DecodeError, OceanfedError
from oceanfed.ocean.block import Block
from oceanfed.ocean.coinbase import (
    OP_RETURN,
    WITNESS_COMMITMENT_HEADER,
    coinbase_tx,
    finish_block,
    policy_asset_of,
    push_int,
)
from oceanfed.ocean.encoding import Reader, dsha256, hex_bytes
from oceanfed.ocean.header import BlockHeader
from oceanfed.ocean.interpreter import MANDATORY_FLAGS
from oceanfed.ocean.proof import check_header_proof
from oceanfed.ocean.tx import Transaction, TxOut, explicit_asset, explicit_value, merkle_root
from oceanfed_devnet.mempool import Mempool
from oceanfed_devnet.state import BlockDiff, TxReject, UtxoState
from oceanfed_devnet.store import ChainStore

#: nVersion of the proposals ``getnewblockhex`` builds.
PROPOSAL_VERSION = 0x20000000
#: JSON-RPC error codes (bitcoind's).
RPC_MISC_ERROR = -1
RPC_INVALID_ADDRESS_OR_KEY = -5
RPC_INVALID_PARAMETER = -8
RPC_DESERIALIZATION_ERROR = -22
RPC_VERIFY_ERROR = -25


class ChainError(Exception):
    """A JSON-RPC error to answer with."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class Reject(Exception):
    """A block failed a validity rule; the message is the node's reject reason."""


@dataclass(frozen=True)
class Entry:
    """A stored block's header and height (its body stays in the store)."""

    header: BlockHeader
    height: int
    hash: bytes  # internal byte order


#: blocks up to this many hex characters are kept decoded (:func:`decode_block`)
DECODED_MAX_HEX = 2 * 1024 * 1024
#: how many decoded blocks, block bodies and body verdicts are kept
DECODED_KEPT = 8


def _keep(table: OrderedDict[Any, Any], key: Any, value: Any) -> None:
    """Put ``key`` in ``table`` as its newest entry; the oldest beyond DECODED_KEPT go."""
    table[key] = value
    table.move_to_end(key)
    while len(table) > DECODED_KEPT:
        table.popitem(last=False)


class _Decoded:
    """Blocks decoded lately, by hex, and their transactions by the body bytes they were
    read from. Every member sends the same proposal to ``testproposedblock`` and the same
    block with its own set of signatures (another solution in the header) to
    ``submitblock``, and ``getnewblockhex`` built it here: each body is parsed once.
    Blocks are immutable; a block that does not decode is not kept."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._blocks: OrderedDict[str, Block] = OrderedDict()
        self._bodies: OrderedDict[bytes, tuple[Transaction, ...]] = OrderedDict()
        #: id of kept transactions -> (those transactions, their body bytes)
        self._raw: OrderedDict[int, tuple[tuple[Transaction, ...], bytes]] = OrderedDict()

    def decode(self, block_hex: str) -> Block:
        with self._lock:
            block = self._blocks.get(block_hex)
        if block is not None:
            return block
        data = hex_bytes(block_hex, "block")
        r = Reader(data)
        header = BlockHeader.read(r)
        body = data[r.pos:]
        with self._lock:
            txs = self._bodies.get(body)
        block = Block(header, txs) if txs is not None else Block.from_bytes(data)
        self.remember(block_hex, block, body)
        return block

    def remember(self, block_hex: str, block: Block, body: bytes | None = None) -> None:
        """Keep ``block`` (whose hex is ``block_hex``) for the next decodes."""
        if body is None:
            body = bytes.fromhex(block_hex)[len(block.header.serialize()):]
        with self._lock:
            _keep(self._blocks, block_hex, block)
            _keep(self._bodies, body, block.txs)
            _keep(self._raw, id(block.txs), (block.txs, body))

    def serialize(self, block: Block) -> bytes:
        """``block.serialize()``, from the bytes its body was read from if they are kept."""
        with self._lock:
            known = self._raw.get(id(block.txs))
        if known is None or known[0] is not block.txs:
            return block.serialize()
        return block.header.serialize() + known[1]


_DECODED = _Decoded()


def decode_block(block_hex: object) -> Block:
    """Parse a block from hex, or raise the node's -22 "Block decode failed" (the last few
    blocks of up to 1 MB are kept decoded, see :class:`_Decoded`)."""
    if not isinstance(block_hex, str):
        raise ChainError(RPC_DESERIALIZATION_ERROR, "Block decode failed")
    try:
        if len(block_hex) <= DECODED_MAX_HEX:
            return _DECODED.decode(block_hex)
        return Block.from_hex(block_hex)
    except (DecodeError, ValueError):
        raise ChainError(RPC_DESERIALIZATION_ERROR, "Block decode failed") from None


def remember_block(block_hex: str, block: Block) -> None:
    """A block this node built (``getnewblockhex``): its first decode is free."""
    if len(block_hex) <= DECODED_MAX_HEX:
        _DECODED.remember(block_hex, block)


#: (transactions, merkle root) -> the body's verdict (None: valid), for the last few bodies;
#: the transactions are kept in the value so that their id is not reused
_BODY_VERDICTS: OrderedDict[tuple[int, bytes], tuple[tuple[Transaction, ...], str | None]] = OrderedDict()
_BODY_LOCK = threading.Lock()


def check_block(block: Block, *, check_proof: bool) -> None:
    """Context-free validity (``CheckBlock``); raises Reject with the reason."""
    if check_proof and not check_header_proof(block.header):
        raise Reject("block-proof-invalid")
    key = (id(block.txs), block.header.merkle_root)
    with _BODY_LOCK:
        known = _BODY_VERDICTS.get(key)
    if known is None or known[0] is not block.txs:
        try:
            _check_body(block)
            verdict = None
        except Reject as exc:
            verdict = str(exc)
        known = (block.txs, verdict)
        with _BODY_LOCK:
            _keep(_BODY_VERDICTS, key, known)
    if known[1] is not None:
        raise Reject(known[1])


def _check_body(block: Block) -> None:
    """The transactions' part of ``CheckBlock`` (all but the proof)."""
    txids = [tx.txid() for tx in block.txs]
    if merkle_root(txids) != block.header.merkle_root:
        raise Reject("bad-txnmrklroot")
    if not block.txs or not block.txs[0].is_coinbase:
        raise Reject("bad-cb-missing")
    if any(tx.is_coinbase for tx in block.txs[1:]):
        raise Reject("bad-cb-multiple")
    if len(set(txids)) != len(txids):
        raise Reject("bad-txns-duplicate")
    coinbase = block.txs[0]
    commitment = next(
        (
            o.script_pubkey[6:38]
            for o in reversed(coinbase.vout)
            if len(o.script_pubkey) >= 38 and o.script_pubkey.startswith(WITNESS_COMMITMENT_HEADER)
        ),
        None,
    )
    if commitment is not None:
        stack = coinbase.vin[0].witness.script_witness
        if len(stack) != 1 or len(stack[0]) != 32:
            raise Reject("bad-witness-nonce-size")
        if dsha256(block.witness_root() + stack[0]) != commitment:
            raise Reject("bad-witness-merkle-match")
    elif any(tx.has_witness for tx in block.txs):
        raise Reject("unexpected-witness")


class Chain:
    """One devnet chain shared by every member endpoint."""

    def __init__(
        self,
        store: ChainStore,
        genesis: Block,
        *,
        name: str = "ocean_test",
        coinbase_destination: bytes = OP_RETURN,
    ):
        self.store = store
        self.name = name
        self.coinbase_destination = coinbase_destination
        self.lock = threading.RLock()
        self.genesis = genesis
        self.challenge = genesis.header.challenge
        self.contract_hash = genesis.header.contract_hash
        self.policy_asset = policy_asset_of(genesis)
        self._index: dict[bytes, Entry] = {}
        self._children: dict[bytes, int] = {}
        self._main: list[bytes] = []
        self.mempool = Mempool()
        #: the last ``testproposedblock`` verdict: (block, tip, blocks known, verdict)
        self._tested: tuple[Block, bytes, int, str | None] | None = None
        #: the last valid proposal's state diff: (transactions, tip, block time, diff)
        self._proposal_diff: tuple[tuple[Transaction, ...], bytes, int, BlockDiff] | None = None
        #: the last median time past found: (block hash, its median time past)
        self._mtp: tuple[bytes, int] | None = None
        genesis_hash = genesis.header.digest()
        if store.is_empty():
            store.add_block(
                genesis_hash,
                bytes(32),
                0,
                genesis.serialize(),
                new_main=[(0, genesis_hash)],
                diff=UtxoState().connect(genesis.txs, 0, MANDATORY_FLAGS),
            )
        for block_hash, height, head in store.iter_headers():
            self._remember(Entry(BlockHeader.read(Reader(head)), height, block_hash))
        self._main = store.main_chain()
        if not self._main or self._main[0] != genesis_hash:
            raise OceanfedError(f"{store.path}: the stored chain has a different genesis block")
        self.state, state_tip = store.load_state()
        if state_tip != self._main[-1]:
            try:
                self.state, index = self._replay(self._main)
            except Reject as exc:
                raise OceanfedError(
                    f"{store.path}: a stored main-chain block is invalid ({exc})"
                ) from None
            store.replace_state(self.state, index, self._main[-1])
        self._load_mempool()

    def _remember(self, entry: Entry) -> None:
        self._index[entry.hash] = entry
        if entry.height > 0:
            prev = entry.header.prev_hash
            self._children[prev] = self._children.get(prev, 0) + 1

    # -- reads --------------------------------------------------------------------------
    @property
    def height(self) -> int:
        with self.lock:
            return len(self._main) - 1

    def tip(self) -> Entry:
        with self.lock:
            return self._index[self._main[-1]]

    def entry(self, block_hash: bytes) -> Entry | None:
        with self.lock:
            return self._index.get(block_hash)

    def hash_at(self, height: int) -> bytes | None:
        with self.lock:
            return self._main[height] if 0 <= height < len(self._main) else None

    def is_main(self, entry: Entry) -> bool:
        with self.lock:
            return entry.height < len(self._main) and self._main[entry.height] == entry.hash

    def block(self, block_hash: bytes) -> Block | None:
        raw = self.store.raw_block(block_hash)
        return Block.from_bytes(raw) if raw is not None else None

    def median_time_past(self, entry: Entry) -> int:
        """Median of the times of ``entry`` and its ten predecessors (the last one found is
        kept: a block's ancestors never change, and every call of a height asks of its
        parent)."""
        known = self._mtp
        if known is not None and known[0] == entry.hash:
            return known[1]
        times: list[int] = []
        with self.lock:
            cur: Entry | None = entry
            while cur is not None and len(times) < 11:
                times.append(cur.header.time)
                cur = self._index.get(cur.header.prev_hash) if cur.height > 0 else None
        times.sort()
        mtp = times[len(times) // 2]
        self._mtp = (entry.hash, mtp)
        return mtp

    def tips(self) -> list[tuple[Entry, int, str]]:
        """``(entry, branch length, status)`` of every chain tip, the active one first."""
        with self.lock:
            out = [(self.tip(), 0, "active")]
            for entry in self._index.values():
                if self._children.get(entry.hash) or self.is_main(entry):
                    continue
                length, cur = 0, entry
                while not self.is_main(cur):
                    length += 1
                    cur = self._index[cur.header.prev_hash]
                out.append((entry, length, "valid-headers"))
            return out

    # -- state --------------------------------------------------------------------------
    def _connect(self, block: Block, height: int, state: UtxoState | None = None) -> BlockDiff:
        """The block's state diff on top of ``state`` (default: the tip's); raises Reject."""
        try:
            return (state or self.state).connect(
                block.txs, height, MANDATORY_FLAGS, block_time=block.header.time
            )
        except TxReject as exc:
            raise Reject(exc.reason) from None

    def _replay(self, hashes: list[bytes]) -> tuple[UtxoState, list[tuple[bytes, bytes, int]]]:
        """The state after the given chain (genesis first), and its transaction index."""
        state = UtxoState()
        index: list[tuple[bytes, bytes, int]] = []
        for height, block_hash in enumerate(hashes):
            block = self.block(block_hash)
            if block is None:
                raise Reject(f"block {block_hash[::-1].hex()} missing from the store")
            diff = self._connect(block, height, state)
            state.apply(diff)
            index += [(txid, block_hash, height) for txid in diff.txids]
        return state, index

    def save_mempool(self) -> None:
        """Store the pending transactions, for the next start (on a clean stop, as the node
        writes ``mempool.dat``)."""
        with self.lock:
            entries = [(e.tx.serialize(), e.time) for e in self.mempool.entries.values()]
        self.store.save_mempool(entries)

    def _load_mempool(self) -> None:
        """Re-accept the stored pending transactions; those now invalid are dropped."""
        now = int(_time.time())
        for raw, when in self.store.load_mempool():
            try:
                tx = Transaction.from_bytes(raw)
                self.mempool.accept(self.state, tx, self.height + 1, max(now, when))
            except (DecodeError, ValueError, TxReject):
                continue
            self.mempool.entries[tx.txid()].time = when

    def utxo_lookup(self, outpoint: tuple[bytes, int]) -> object:
        with self.lock:
            return self.state.get(outpoint)

    def accept_tx(self, tx: Transaction, now: int | None = None) -> bytes:
        """Add ``tx`` to the mempool for the next block; raises TxReject."""
        with self.lock:
            when = int(_time.time()) if now is None else now
            return self.mempool.accept(self.state, tx, self.height + 1, when)

    def find_tx(self, txid: bytes) -> tuple[Transaction, Entry | None] | None:
        """A mempool or main-chain transaction and its block entry (None: mempool)."""
        with self.lock:
            tx = self.mempool.get_tx(txid)
            if tx is not None:
                return tx, None
        where = self.store.tx_location(txid)
        if where is None:
            return None
        entry = self.entry(where[0])
        block = self.block(where[0])
        if entry is None or block is None:
            return None
        for tx in block.txs:
            if tx.txid() == txid:
                return tx, entry
        return None

    # -- validation ---------------------------------------------------------------------
    def _contextual(self, block: Block, parent: Entry) -> None:
        header = block.header
        if header.height != parent.height + 1:
            raise Reject("bad-height")
        if header.challenge != self.challenge:
            raise Reject("bad-diffbits")
        if header.time <= self.median_time_past(parent):
            raise Reject("time-too-old")
        if not block.txs[0].vin[0].script_sig.startswith(push_int(header.height)):
            raise Reject("bad-cb-height")

    def test_proposed(self, block: Block) -> None:
        """``testproposedblock``: raise ChainError unless ``block`` may extend the tip.

        The proof is not checked, as on the node.
        """
        with self.lock:
            tip = self.tip()
            last = self._tested
            if last is not None and last[0] is block and last[1:3] == (tip.hash, len(self._index)):
                verdict = last[3]  # every member asks about the same proposal on the same tip
            else:
                verdict = self._test_proposed(block, tip)
                self._tested = (block, tip.hash, len(self._index), verdict)
        if verdict is not None:
            raise ChainError(RPC_VERIFY_ERROR, verdict)

    def _test_proposed(self, block: Block, tip: Entry) -> str | None:
        """Why ``block`` may not extend ``tip`` (None: it may); under the lock."""
        if block.header.digest() in self._index:
            return "already have block"
        if block.header.prev_hash != tip.hash:
            return "proposal was not based on our best chain"
        try:
            check_block(block, check_proof=False)
            self._contextual(block, tip)
            diff = self._connect(block, tip.height + 1)
        except Reject as exc:
            return str(exc)
        self._proposal_diff = (block.txs, tip.hash, block.header.time, diff)
        return None

    def _diff_on_tip(self, block: Block, height: int) -> BlockDiff:
        """``block``'s state diff on the tip: the one its proposal's ``testproposedblock``
        found, when that had this body and time on this tip (the state is the tip's)."""
        known = self._proposal_diff
        if known is not None and known[0] is block.txs and known[1:3] == (self._main[-1], block.header.time):
            return known[3]
        return self._connect(block, height)

    def submit(self, block: Block) -> str | None:
        """``submitblock``: None when the block is now the tip, else the node's result string."""
        with self.lock:
            block_hash = block.header.digest()
            known = self._index.get(block_hash)
            if known is not None:
                return (
                    "duplicate"
                    if known.height > 0 and self.is_main(known)
                    else "duplicate-inconclusive"
                )
            try:
                check_block(block, check_proof=True)
                parent = self._index.get(block.header.prev_hash)
                if parent is None:
                    raise Reject("bad-prevblk")
                self._contextual(block, parent)
            except Reject as exc:
                return str(exc)
            entry = Entry(block.header, parent.height + 1, block_hash)
            raw = _DECODED.serialize(block)
            tip = self.tip()
            if parent.hash == tip.hash:
                try:
                    diff = self._diff_on_tip(block, entry.height)
                except Reject as exc:
                    return str(exc)
                self.store.add_block(
                    block_hash,
                    parent.hash,
                    entry.height,
                    raw,
                    new_main=[(entry.height, block_hash)],
                    diff=diff,
                )
                self._remember(entry)
                self._main.append(block_hash)
                self.state.apply(diff)
                self.mempool.refresh(self.state, entry.height + 1, int(_time.time()))
                return None
            if entry.height <= tip.height:
                self.store.add_block(block_hash, parent.hash, entry.height, raw)
                self._remember(entry)
                return "inconclusive"
            # A longer side branch: reorganise onto it.
            branch = [entry]
            cur = parent
            while not self.is_main(cur):
                branch.append(cur)
                cur = self._index[cur.header.prev_hash]
            branch.reverse()
            new_chain = self._main[: cur.height + 1] + [e.hash for e in branch[:-1]]
            try:
                state, index = self._replay(new_chain)
                diff = self._connect(block, entry.height, state)
            except Reject as exc:
                return str(exc)
            state.apply(diff)
            index += [(txid, block_hash, entry.height) for txid in diff.txids]
            self.store.add_block(
                block_hash,
                parent.hash,
                entry.height,
                raw,
                new_main=[(e.height, e.hash) for e in branch],
                truncate_above=cur.height,
                rebuilt=(state, index),
            )
            self._remember(entry)
            del self._main[cur.height + 1 :]
            self._main.extend(e.hash for e in branch)
            self.state = state
            self.mempool.refresh(self.state, entry.height + 1, int(_time.time()))
            return None

    # -- proposals ----------------------------------------------------------------------
    def new_block(self, now: int | None = None) -> Block:
        """``getnewblockhex``: a proposal on the tip holding the mempool, its time above
        the parent's. The coinbase pays the fees (per asset, the policy asset first) to
        the coinbase destination, or nothing to ``OP_RETURN`` when there are none."""
        with self.lock:
            tip = self.tip()
            txs, fees = self.mempool.block_txs()
        when = int(_time.time()) if now is None else now
        header = BlockHeader(
            version=PROPOSAL_VERSION,
            prev_hash=tip.hash,
            merkle_root=bytes(32),
            contract_hash=self.contract_hash,
            attestation_hash=bytes(32),
            mapping_hash=bytes(32),
            time=max(when, tip.header.time + 1),
            height=tip.height + 1,
            challenge=self.challenge,
        )
        policy_fee = fees.pop(self.policy_asset, 0)
        paid = policy_fee or any(fees.values())
        coinbase = coinbase_tx(
            header.height,
            self.policy_asset,
            self.coinbase_destination if paid else OP_RETURN,
            policy_fee,
        )
        extra = tuple(
            TxOut(explicit_asset(asset), explicit_value(fee), self.coinbase_destination)
            for asset, fee in sorted(fees.items())
            if fee
        )
        if extra:
            coinbase = replace(coinbase, vout=(coinbase.vout[0], *extra, coinbase.vout[-1]))
        return finish_block(header, [coinbase, *txs])
