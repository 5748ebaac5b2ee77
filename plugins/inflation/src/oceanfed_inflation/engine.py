"""The inflation plugin at work in one member: build, check, sign and send reissuances.

:meth:`Inflation.start` validates ``[inflation]`` and prepares the node; the hook module
(:mod:`oceanfed_inflation.hooks`) calls :meth:`extras` (proposer), :meth:`validate`
(every member), :meth:`sign` (after the block is decided) and :meth:`complete` (a member
holding M block signatures).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from oceanfed.crypto import pubkey_of
from oceanfed.errors import (
    ConfigError,
    DecodeError,
    FatalError,
    OceanfedError,
    RPCError,
    SignerError,
)
from oceanfed.interfaces import PluginContext, Signer
from oceanfed.keyfile import allows_group_readable, read_private_key
from oceanfed.ocean.address import encode_wif, p2pkh_of_pubkey, script_to_address
from oceanfed.ocean.script import parse_multisig
from oceanfed.ocean.tx import Transaction
from oceanfed.plugins import load
from oceanfed_inflation.options import InflationOptions, parse_options, validate_model
from oceanfed_inflation.plan import Plan, Planner, Reissuance, StaleView, proposed_amount, schedule
from oceanfed_inflation.policies import InflationPolicy, PolicySettings
from oceanfed_inflation.signing import NodeKey, ReissuanceKey, SignerKey, combine

PLUGIN = "inflation"
#: the entry point group of inflation policies (``[inflation] policy``)
POLICIES = "oceanfed.inflation"
LABEL = "reissuance"
#: heights of approved transactions kept after the height is done
KEEP_HEIGHTS = 16
#: node answers that mean "already sent": fine when several members send
ALREADY = ("already in block chain", "already-in-mempool", "already known", "txn-already")


def load_policy(opts: InflationOptions, settings: PolicySettings) -> InflationPolicy:
    """Build the policy named by ``opts.policy`` with its own options."""
    cls = load(POLICIES, opts.policy, InflationPolicy, field="inflation.policy", kind="policy")
    options = validate_model(cls.Options, opts.policy_options())
    policy: InflationPolicy = cls(options, settings)
    return policy


class Inflation:
    """One member's reissuance duties; safe to call from the driver's worker threads."""

    def __init__(
        self,
        opts: InflationOptions,
        policy: InflationPolicy,
        key: ReissuanceKey,
        context: PluginContext,
        *,
        p2sh_address: str,
        p2sh_script: bytes,
        vetoes: Callable[[int, Sequence[Reissuance]], str | None] | None = None,
        node_call: Any = None,
    ):
        self.opts = opts
        self.policy = policy
        self.key = key
        self.context = context
        self.redeem = opts.script()
        self.threshold, self.keys = parse_multisig(self.redeem)
        self.p2sh_address = p2sh_address
        self.p2sh_script = p2sh_script
        #: the other plugins' vetoes, asked after the policy's own
        self.vetoes = vetoes
        self.log = context.logger.getChild(PLUGIN) if context.logger else logging.getLogger(
            "oceanfed.plugin.inflation")
        self.counters: Counter[str] = Counter()
        self._local = threading.local()
        self._node_call = node_call
        self._lock = threading.Lock()
        self._approved: dict[int, set[str]] = {}
        self._confirmed: set[int] = set()
        #: assets whose tokens were found at the reissuance address and left alone (logged once)
        self._left_alone: set[str] = set()

    # ------------------------------------------------------------------ start-up

    @classmethod
    def start(
        cls, config: Any, context: PluginContext, signer: Signer,
        vetoes: Callable[[int, Sequence[Reissuance]], str | None] | None = None,
    ) -> Inflation:
        """Validate the ``[inflation]`` table, check it against the node and import the key
        and the P2SH address into the node's wallet when missing."""
        opts, policy = _options_and_policy(config)
        m, keys = parse_multisig(opts.script())
        key: ReissuanceKey
        privkey: bytes | None = None
        probe = _Probe(context)
        if opts.key_source == "signer":
            key = SignerKey(signer)
            try:
                key.probe()
            except SignerError as exc:
                raise ConfigError(f"inflation.key_source: the block signer is unusable here: {exc}") from None
        else:
            privkey = _read_key_file(config, opts)
            key = NodeKey(privkey, probe.call)
        _require_in_script(opts, key.pubkey)
        p2sh_address, p2sh_script = _check_node(probe, opts)
        _import_missing(probe, opts, p2sh_address, privkey)
        engine = cls(opts, policy, key, context, p2sh_address=p2sh_address, p2sh_script=p2sh_script,
                     vetoes=vetoes)
        if isinstance(key, NodeKey):
            key.call = engine.call
        engine.log.info(
            "inflation: policy %s, every %d blocks, to %s; tokens at %s (%d-of-%d) of %s; "
            "reissuance key %s from %s",
            opts.policy, opts.period, opts.address, p2sh_address, m, len(keys),
            _which_assets(opts), key.pubkey.hex(),
            "the block signer" if opts.key_source == "signer" else opts.key_file,
        )
        if opts.assets is None:
            engine.log.warning("%s", assets_unset_warning(p2sh_address))
        return engine

    # ------------------------------------------------------------------ node

    def call(self, method: str, *params: Any) -> Any:
        """A node call on this thread's own client."""
        if self._node_call is not None:
            return self._node_call(method, *params)
        client = getattr(self._local, "client", None)
        if client is None:
            assert self.context.node_client is not None
            client = self._local.client = self.context.node_client()
        return client.call(method, *params)

    def planner(self) -> Planner:
        return Planner(
            self.call, self.policy, period=self.opts.period, address=self.opts.address,
            p2sh_address=self.p2sh_address, assets=self.opts.assets,
        )

    def expected(self, height: int) -> tuple[Plan, list[Reissuance], str | None]:
        """The plan of ``height``, the reissuances it calls for after the veto hooks, and
        the veto reason if one refused them."""
        plan = self.planner().plan(height)
        self._note_confirmed(plan)
        if not plan.reissuances:
            return plan, [], None
        veto = self.policy.veto(height, plan.reissuances)
        if not veto and self.vetoes is not None:
            veto = self.vetoes(height, plan.reissuances)
        if veto:
            return plan, [], veto
        return plan, list(plan.reissuances), None

    def _note_confirmed(self, plan: Plan) -> None:
        for asset in sorted(set(plan.left_alone) - self._left_alone):
            self._left_alone.add(asset)
            self.log.warning("inflation: a token of asset %s sits at the reissuance address, but "
                             "the asset is not in inflation.assets: left alone", asset)
        due = plan.height - plan.height % self.opts.period
        if plan.confirmed and due not in self._confirmed:
            self._confirmed.add(due)
            self.counters["periods_confirmed"] += 1
            self.log.info("inflation: the reissuance of period %d is confirmed", due)
        elif plan.kind == "check" and plan.reissuances:
            self.counters["retries"] += 1
            self.log.warning(
                "inflation: the reissuance of period %d is not mined; building it again at %d",
                due, plan.height,
            )

    def _approve(self, height: int, hexes: list[str]) -> None:
        with self._lock:
            self._approved.setdefault(height, set()).update(hexes)
            for h in [h for h in self._approved if h < height - KEEP_HEIGHTS]:
                del self._approved[h]

    # ------------------------------------------------------------------ hooks

    def extras(self, height: int) -> dict[str, Any] | None:
        """Proposer: the reissuances to send with the proposal at ``height``."""
        if schedule(height, self.opts.period) == "idle":
            return None
        try:
            plan, chosen, veto = self.expected(height)
        except StaleView as exc:
            raise OceanfedError(f"inflation: cannot plan height {height}: {exc}") from None
        if plan.partial:
            self.counters["partial"] += 1
            raise FatalError(
                f"inflation: {plan.partial}; stopping (find out why, then restart the members)"
            )
        if veto:
            self.counters["vetoed"] += 1
            self.log.warning("inflation: height %d: reissuances vetoed (%s); proposing none", height, veto)
        if not chosen:
            return None
        self._approve(height, [r.hex for r in chosen])
        self.counters["proposed"] += len(chosen)
        self.log.info(
            "inflation: height %d: proposing %s", height,
            ", ".join(f"{r.amount} of {r.asset[:16]}" for r in chosen),
        )
        return {PLUGIN: {"height": height, "txs": [r.to_json() for r in chosen]}}

    def validate(self, height: int, extras: Mapping[str, Any]) -> str | None:
        """Every member: refuse a proposal whose reissuances differ from what its own node
        gives (amount, token, address, or presence)."""
        proposed = _proposed_hexes(extras)
        if proposed is None:
            return self._refuse(height, "inflation-malformed", "the reissuance extras are malformed")
        if schedule(height, self.opts.period) == "idle":
            if proposed:
                return self._refuse(height, "inflation-unexpected",
                                    f"{len(proposed)} reissuance(s) at a height with none due")
            return None
        try:
            plan, chosen, veto = self.expected(height)
        except StaleView:
            return "inflation-stale"
        except (RPCError, OceanfedError, KeyError, TypeError, ValueError) as exc:
            self.log.warning("inflation: height %d: cannot check the reissuances: %s", height, exc)
            return "inflation-unverifiable"
        if plan.partial:
            self.counters["partial"] += 1
            self.log.critical("inflation: %s; refusing every proposal", plan.partial)
            return "inflation-partial"
        expected = [r.hex for r in chosen]
        if proposed == expected:
            if expected:
                self._approve(height, expected)
                self.counters["approved"] += len(expected)
            return None
        if veto and proposed == plan.hexes:
            return self._refuse(height, "inflation-veto", f"vetoed: {veto}")
        if not proposed:
            return self._refuse(height, "inflation-missing",
                                f"{len(expected)} reissuance(s) due but none proposed")
        if not expected:
            return self._refuse(height, "inflation-unexpected",
                                f"{len(proposed)} reissuance(s) proposed, none due")
        return self._refuse(height, "inflation-mismatch", _difference(proposed, chosen))

    def _refuse(self, height: int, reason: str, detail: str) -> str:
        self.counters[reason] += 1
        self.log.warning("inflation: height %d: refusing the proposal (%s): %s", height, reason, detail)
        return reason

    def sign(self, height: int, extras: Mapping[str, Any]) -> dict[str, Any] | None:
        """After the decision: this member's signatures over the approved reissuances."""
        hexes = _proposed_hexes(extras)
        if not hexes:
            return None
        with self._lock:
            approved = set(self._approved.get(height, set()))
        if not set(hexes) <= approved:
            try:
                _, chosen, _ = self.expected(height)
            except (OceanfedError, KeyError, TypeError, ValueError) as exc:
                self.log.error("inflation: height %d: not signing reissuances I could not check: %s",
                               height, exc)
                return None
            if [r.hex for r in chosen] != hexes:
                self.counters["sign_refused"] += 1
                self.log.error("inflation: height %d: not signing reissuances that differ from mine",
                               height)
                return None
        sigs = []
        for item in extras[PLUGIN]["txs"]:
            tx = Transaction.from_hex(item["hex"])
            sigs.append(self.key.sign(height, tx, self.redeem, self.p2sh_script).hex())
        self.counters["signed"] += len(sigs)
        return {PLUGIN: {"pubkey": self.key.pubkey.hex(), "sigs": sigs}}

    def complete(self, height: int, extras: Mapping[str, Any], extra_sigs: Mapping[str, Any]) -> None:
        """A member holding M block signatures: combine M reissuance signatures per
        transaction and send it (idempotent: an "already known" answer is fine)."""
        hexes = _proposed_hexes(extras)
        if not hexes:
            return
        for index, tx_hex in enumerate(hexes):
            tx = Transaction.from_hex(tx_hex)
            sigs = _sigs_for(index, extra_sigs)
            final = combine(tx, self.redeem, sigs)
            if final is None:
                self.counters["send_short"] += 1
                self.log.warning(
                    "inflation: height %d: %d reissuance signature(s) of the %d needed for %s; "
                    "not sent (a later check height builds it again)",
                    height, len(sigs), self.threshold, tx.txid_hex()[:16],
                )
                continue
            try:
                txid = self.call("sendrawtransaction", final.hex())
            except RPCError as exc:
                if any(a in str(exc).lower() for a in ALREADY):
                    continue
                self.counters["send_failed"] += 1
                self.log.warning("inflation: height %d: the node refused reissuance %s: %s",
                                 height, final.txid_hex()[:16], exc)
                continue
            self.counters["sent"] += 1
            self.log.info("inflation: height %d: sent reissuance %s (%s)", height, txid,
                          proposed_amount(tx_hex))


def check(config: Any, context: PluginContext) -> list[tuple[str, str, str]]:
    """``oceanfed check`` of ``[inflation]``: the options, the policy, the reissuance key and
    the node's view of the addresses. Read-only: unlike :meth:`Inflation.start` it imports
    nothing into the node's wallet. The block signer's key is checked by ``check`` itself."""
    opts, _policy = _options_and_policy(config)
    m, keys = parse_multisig(opts.script())
    pubkey = context.me.pubkey if opts.key_source == "signer" else pubkey_of(
        _read_key_file(config, opts))
    _require_in_script(opts, pubkey)
    probe = _Probe(context)
    try:
        p2sh, _script = _check_node(probe, opts)
    finally:
        probe.close()
    source = "the block signer" if opts.key_source == "signer" else opts.key_file
    detail = (
        f"policy {opts.policy}, every {opts.period} blocks to {opts.address}; tokens at "
        f"{p2sh} ({m}-of-{len(keys)}) of {_which_assets(opts)}; reissuance key from {source} "
        "is in the script")
    if opts.assets is None:
        return [(PLUGIN, "warn", f"{detail}; {assets_unset_warning(p2sh)}")]
    return [(PLUGIN, "ok", detail)]


def assets_unset_warning(p2sh_address: str) -> str:
    """What ``oceanfed check`` and a member's start say while ``inflation.assets`` is unset."""
    return (
        f"inflation.assets is unset: the federation reissues every token sent to {p2sh_address}, "
        "whoever issued its asset; list the asset ids to reissue in [inflation] assets"
    )


def _which_assets(opts: InflationOptions) -> str:
    if opts.assets is None:
        return "every asset (inflation.assets unset)"
    return f"asset(s) {', '.join(a[:16] for a in opts.assets)}"


def _options_and_policy(config: Any) -> tuple[InflationOptions, InflationPolicy]:
    opts = parse_options(dict(config.table(PLUGIN) or {}))
    settings = PolicySettings(
        rate=opts.rate, period=opts.period,
        block_time=Decimal(repr(float(config.federation.block_time))),
    )
    return opts, load_policy(opts, settings)


def _read_key_file(config: Any, opts: InflationOptions) -> bytes:
    assert opts.key_file is not None  # InflationOptions requires key_file or key_source
    try:
        return read_private_key(
            config.path(opts.key_file),
            allow_group_readable=allows_group_readable(opts.key_file),
        )
    except ConfigError as exc:
        raise ConfigError(f"inflation.key_file: {exc}") from None


def _require_in_script(opts: InflationOptions, pubkey: bytes) -> None:
    m, keys = parse_multisig(opts.script())
    if pubkey not in keys:
        field, what = (("key_source", "the block signer's key") if opts.key_source == "signer"
                       else ("key_file", f"the key in {opts.key_file}"))
        raise ConfigError(
            f"inflation.{field}: {what} (pubkey {pubkey.hex()}) is not one of the "
            f"{len(keys)} keys of the {m}-of-{len(keys)} inflation.reissuance_script"
        )


class _Probe:
    """Node calls during start-up, from the starting thread."""

    def __init__(self, context: PluginContext):
        if context.node_client is None:
            raise ConfigError("inflation: the member has no node client")
        self.client = context.node_client()

    def call(self, method: str, *params: Any) -> Any:
        return self.client.call(method, *params)

    def close(self) -> None:
        self.client.close()


def _check_node(probe: _Probe, opts: InflationOptions) -> tuple[str, bytes]:
    """The P2SH address and scriptPubKey of the reissuance script, as the node sees them."""
    checked = probe.call("validateaddress", opts.address)
    if not checked.get("isvalid"):
        raise ConfigError(f"inflation.address: {opts.address!r} is not a valid address on the node's chain")
    decoded = probe.call("decodescript", opts.reissuance_script)
    p2sh = decoded.get("p2sh")
    if not isinstance(p2sh, str):
        raise ConfigError("inflation.reissuance_script: the node gives no P2SH address for it")
    info = probe.call("validateaddress", p2sh)
    try:
        script = bytes.fromhex(info["scriptPubKey"])
    except (KeyError, TypeError, ValueError):
        raise ConfigError(f"inflation.reissuance_script: the node cannot read its P2SH address {p2sh}") from None
    return p2sh, script


def _import_missing(
    probe: _Probe, opts: InflationOptions, p2sh: str, privkey: bytes | None
) -> None:
    info = probe.call("validateaddress", p2sh)
    if not (info.get("ismine") or info.get("iswatchonly")):
        probe.call("importaddress", p2sh, LABEL, True)
    if privkey is None:
        return
    address = script_to_address(p2pkh_of_pubkey(pubkey_of(privkey)))
    if address is None or not probe.call("validateaddress", address).get("ismine"):
        probe.call("importprivkey", encode_wif(privkey), LABEL, True)


def _proposed_hexes(extras: Mapping[str, Any]) -> list[str] | None:
    """The transaction hexes in a proposal's extras ([] when none; None when malformed)."""
    part = extras.get(PLUGIN) if isinstance(extras, Mapping) else None
    if part is None:
        return []
    if not isinstance(part, Mapping) or not isinstance(part.get("txs"), list):
        return None
    out = []
    for item in part["txs"]:
        if not isinstance(item, Mapping) or not isinstance(item.get("hex"), str):
            return None
        out.append(item["hex"])
    return out


def _sigs_for(index: int, extra_sigs: Mapping[str, Any]) -> dict[bytes, bytes]:
    """pubkey → signature of transaction ``index`` from every member's extra signatures."""
    out: dict[bytes, bytes] = {}
    for answer in extra_sigs.values():
        part = answer.get(PLUGIN) if isinstance(answer, Mapping) else None
        if not isinstance(part, Mapping):
            continue
        try:
            pubkey = bytes.fromhex(part["pubkey"])
            sig = bytes.fromhex(part["sigs"][index])
        except (KeyError, IndexError, TypeError, ValueError):
            continue
        out.setdefault(pubkey, sig)
    return out


def _difference(proposed: list[str], expected: list[Reissuance]) -> str:
    """A short description of how the proposed reissuances differ from ours."""
    if len(proposed) != len(expected):
        return f"{len(proposed)} reissuance(s) proposed, {len(expected)} computed here"
    for tx_hex, mine in zip(proposed, expected, strict=True):
        if tx_hex != mine.hex:
            amount = proposed_amount(tx_hex)
            if amount is not None and amount != mine.amount:
                return (f"asset {mine.asset[:16]}: proposed amount {amount:f}, "
                        f"computed here {mine.amount}")
            try:
                Transaction.from_hex(tx_hex)
            except (DecodeError, ValueError):
                return "a proposed reissuance does not decode"
            return f"asset {mine.asset[:16]}: the proposed transaction differs from mine"
    return "the reissuances differ"
