"""Turn one upstream member's command line into its fed.toml (see :func:`convert`)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oceanfed.crypto import pubkey_of
from oceanfed.errors import ConfigError
from oceanfed.keyfile import (
    generate_private_key,
    parse_private_key,
    read_private_key,
    write_private_key,
)
from oceanfed.migrate.cards import Card, merge_cards, read_cards
from oceanfed.migrate.chain import ChainInfo, read_chain
from oceanfed.migrate.report import Report
from oceanfed.migrate.signerkey import KEY_LABEL, PKCS11_LIB, USER_PIN, hsm_key, node_wallet_key
from oceanfed.migrate.upstream import (
    UPSTREAM_BLOCK_TIME,
    UPSTREAM_KAFKA_BROKER,
    UPSTREAM_KAFKA_MEMBERS,
    UPSTREAM_THRESHOLD,
    UpstreamArgs,
    parse_upstream,
)
from oceanfed.migrate.writer import Table, keep_or_write_secret, render, validate, write_new
from oceanfed.ocean.script import parse_multisig
from oceanfed.rpc import NodeClient


@dataclass
class Options:
    """Choices beyond the upstream command line (``oceanfed init`` flags); paths relative
    to the output file's directory unless absolute."""

    out: str = "fed.toml"
    block_time: float | None = None
    state_dir: str = "state"
    transport_key_file: str = "transport.key"
    password_file: str | None = None
    password_env: str | None = None
    cookie_file: str | None = None
    bootstrap: list[str] = field(default_factory=list)
    member_cards: list[str] = field(default_factory=list)
    member_card_files: list[str] = field(default_factory=list)
    metrics_listen: str | None = None
    log_format: str | None = None
    inflation_key_file: str = "reissuance.key"
    env: Mapping[str, str] | None = None


@dataclass
class Conversion:
    """The outcome: the report, this member's card, and the file written (if complete)."""

    report: Report
    card: Card
    name: str
    written: Path | None
    pending: list[str]


def member_name(index: int) -> str:
    """Members are named by their position in the chain's script."""
    return f"m{index}"


def convert(argv: Sequence[str], opts: Options) -> Conversion:
    """Parse ``argv`` (the upstream arguments), read the chain, write keys and fed.toml.

    fed.toml is written only once every other member's card is known; until then the
    report says which cards are missing. Bad input raises a one-line OceanfedError.
    """
    env = os.environ if opts.env is None else opts.env
    up = parse_upstream(argv)
    out = Path(opts.out)
    if out.exists():
        raise ConfigError(f"{out}: already exists; not overwriting (remove it or use --out)")
    if up.hsm:
        for var in (PKCS11_LIB, KEY_LABEL):
            if not env.get(var, "").strip():
                raise ConfigError(
                    f"upstream --hsm: environment variable {var} is not set (upstream's HSM "
                    f"signer read {PKCS11_LIB}, {KEY_LABEL} and {USER_PIN} from the environment)"
                )
    reissuance_key = _reissuance_key(up)
    base = out.resolve().parent
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{base}: cannot create the config directory ({exc.strerror})") from None

    report = Report()
    where = f"upstream --rpconnect {up.rpconnect} --rpcport {up.rpcport}"
    node = NodeClient(up.node_url, up.rpcuser, up.rpcpassword, timeout=10, retries=1)
    try:
        chain = read_chain(node, where)
        if any(len(k) != 33 for k in chain.pubkeys):
            raise ConfigError(f"{where}: the chain's signblockscript holds uncompressed keys")
        pubkey, signer = _signer(up, chain, node, where, env, report)
    finally:
        node.close()
    index = chain.index_of(pubkey)
    if index is None:
        raise ConfigError(
            f"signer: key {pubkey.hex()} is not in the chain's signblockscript "
            f"({chain.threshold}-of-{chain.members}); this member cannot sign this chain"
        )
    name = member_name(index)
    names = [member_name(i) for i in range(chain.members)]

    transport_pub = _transport_key(base / opts.transport_key_file, report)
    own = Card(up.id, pubkey, transport_pub)
    cards = merge_cards(read_cards(opts.member_cards, opts.member_card_files), own)
    for known in cards.values():
        if chain.index_of(known.pubkey) is None:
            raise ConfigError(
                f"member card {known.line()}: block key {known.pubkey.hex()} is not in the "
                "chain's signblockscript"
            )
        if up.nodes and known.upstream_id >= len(up.nodes):
            raise ConfigError(
                f"member card {known.line()}: upstream id {known.upstream_id} is outside --nodes "
                f"({len(up.nodes)} entries)"
            )
    pending = [n for n, k in zip(names, chain.pubkeys, strict=True) if k not in cards]

    _federation_report(up, chain, index, report)
    tables = [_federation(up, chain, opts, report)]
    for i, key in enumerate(chain.pubkeys):
        card = cards.get(key)
        entry = Table("federation.members", array=True)
        entry.add("name", names[i], f"script entry {i}" + (
            f", upstream --id {card.upstream_id}" if card else ""))
        entry.add("pubkey", key.hex())
        if card is not None:
            entry.add("transport_pubkey", card.transport_pubkey.hex(),
                      "from this member's transport key" if card == own else "from its member card")
        tables.append(entry)
    tables.append(_member(name, opts, base, chain, report))
    tables.append(_node(up, opts, base, report))
    tables.append(_messenger(up, chain, names, index, cards, opts, report))
    tables.append(signer)
    if up.inflation:
        tables.append(_inflation(up, opts, base, reissuance_key, report))
    if opts.log_format:
        tables.append(Table("log").add("format", opts.log_format))
    if opts.metrics_listen:
        tables.append(Table("metrics").add("listen", opts.metrics_listen))

    if pending:
        report.next(
            "member cards",
            f"fed.toml is not written yet: it needs the cards of {', '.join(pending)}. Give "
            "this member's card (below) to every other member, collect all cards in a file "
            "and run the same command again with --member-cards FILE",
        )
        return Conversion(report, own, name, None, pending)
    header = [
        "oceanfed member configuration, converted from the upstream federation daemon by",
        "'oceanfed init --from-upstream'. Check it: oceanfed check --config <this file>.",
        "Cut-over runbook: docs/migration.md. Relative paths are relative to this file.",
        "Upstream command line (secrets hidden):",
        f"  {up.redacted()}",
    ]
    text = render(header, tables)
    validate(text, out)
    write_new(out, text)
    report.next("check", f"wrote {out}; check it with: oceanfed check --config {out}")
    return Conversion(report, own, name, out, [])


# ---------------------------------------------------------------------------- pieces


def _signer(
    up: UpstreamArgs,
    chain: ChainInfo,
    node: NodeClient,
    where: str,
    env: Mapping[str, str],
    report: Report,
) -> tuple[bytes, Table]:
    table = Table("signer", "How this member signs blocks.")
    if not up.hsm:
        pubkey = node_wallet_key(node, chain, where)
        table.add("driver", "node", "upstream signed with the node wallet (signblock); so does this")
        report.decided("signer", f"node wallet (signblock); the wallet signs with {pubkey.hex()}")
        return pubkey, table
    if up.hsm_raw is not None and up.hsm_raw.strip().lower() in ("0", "false", "no", "off"):
        report.differs(
            "signer",
            f"upstream took --hsm {up.hsm_raw!r} as true (any non-empty value was), so the HSM "
            "was in use and stays in use; drop --hsm to convert a node-wallet member",
        )
    key = hsm_key(up.id, env)
    for note in key.notes:
        report.warning("signer", note)
    table.add("driver", key.driver, "upstream's --hsm: a PKCS#11 token")
    for row in key.rows:
        table.add(*row)
    report.decided("signer", f"{key.summary}; signs with pubkey {key.pubkey.hex()}")
    return key.pubkey, table


def _federation_report(up: UpstreamArgs, chain: ChainInfo, index: int, report: Report) -> None:
    report.decided(
        "members",
        f"from the chain's signblockscript (genesis challenge): {chain.threshold}-of-"
        f"{chain.members}, named m0..m{chain.members - 1} in script order; this member is "
        f"{member_name(index)}",
    )
    if chain.threshold != UPSTREAM_THRESHOLD:
        report.differs(
            "threshold",
            f"upstream fixed it at {UPSTREAM_THRESHOLD} signatures; the chain says "
            f"{chain.threshold}-of-{chain.members}; fed.toml uses {chain.threshold}",
        )
    if up.nodes and len(up.nodes) != chain.members:
        report.differs(
            "members",
            f"--nodes lists {len(up.nodes)} members; the chain's script has {chain.members}; "
            "fed.toml follows the chain",
        )
    if not up.nodes and chain.members != UPSTREAM_KAFKA_MEMBERS:
        report.differs(
            "members",
            f"upstream assumed {UPSTREAM_KAFKA_MEMBERS} members on kafka; the chain's script "
            f"has {chain.members}; fed.toml follows the chain",
        )
    if up.id != index:
        report.differs(
            "order",
            f"upstream --id {up.id} is script entry {index} ({member_name(index)}): oceanfed "
            "orders members by the script, not by --id",
        )
    if 2 * chain.threshold <= chain.members:
        report.warning(
            "threshold",
            f"{chain.threshold}-of-{chain.members} is not a majority: two halves of a partition "
            "could each complete a block; the chain fixes it, so allow_split_brain is set",
        )


def _federation(up: UpstreamArgs, chain: ChainInfo, opts: Options, report: Report) -> Table:
    block_time = UPSTREAM_BLOCK_TIME if opts.block_time is None else float(opts.block_time)
    t = Table("federation", "Who the federation is, read from the chain itself.")
    t.add("chain", chain.chain, "from the node (getblockchaininfo)")
    t.add("threshold", chain.threshold, f"M of the chain's script (upstream fixed {UPSTREAM_THRESHOLD})")
    t.add("block_time", block_time, "seconds; upstream's fixed value was 60"
          if block_time == UPSTREAM_BLOCK_TIME else "seconds; given to oceanfed init")
    t.add("signblockscript", chain.script.hex(), "the genesis challenge; checked against the members")
    if 2 * chain.threshold <= chain.members:
        t.add("allow_split_brain", True, "the chain's threshold is not a majority")
    report.decided("block time", f"{block_time:g} s" + (
        " (upstream's fixed value)" if block_time == UPSTREAM_BLOCK_TIME else " (given)"))
    return t


def _member(name: str, opts: Options, base: Path, chain: ChainInfo, report: Report) -> Table:
    t = Table("member", "Which member this daemon is.")
    t.add("name", name, "this member's position in the script")
    t.add("state_dir", opts.state_dir, "sign-state; a new one starts at the node's tip")
    t.add("transport_key_file", opts.transport_key_file, "message-signing key, made by the conversion")
    state = Path(opts.state_dir)
    state = state if state.is_absolute() else base / state
    if (state / "state.sqlite3").exists():
        report.warning("state", f"{state} already holds a sign-state; it is kept")
    else:
        report.decided(
            "state",
            f"{state} is new: the sign-state starts at the node's tip when the member first "
            f"runs (height {chain.tip_height} now)",
        )
    return t


def _node(up: UpstreamArgs, opts: Options, base: Path, report: Report) -> Table:
    t = Table("node", "This member's own Ocean node.")
    t.add("url", up.node_url, "from upstream --rpconnect and --rpcport")
    if opts.cookie_file:
        t.add("cookie_file", opts.cookie_file, "given to oceanfed init")
        report.decided("node", f"{up.node_url} with the cookie file {opts.cookie_file}")
        return t
    t.add("user", up.rpcuser, "from upstream --rpcuser")
    if opts.password_env:
        t.add("password_env", opts.password_env, "upstream --rpcpassword, from this variable")
        report.decided(
            "node",
            f"{up.node_url} as {up.rpcuser}; the password is read from ${opts.password_env}, "
            "which must hold upstream's --rpcpassword; it is not in fed.toml",
        )
        return t
    path_text = opts.password_file or "rpc.password"
    path = Path(path_text) if Path(path_text).is_absolute() else base / path_text
    done = keep_or_write_secret(path, up.rpcpassword, "RPC password", "--rpcpassword")
    t.add("password_file", path_text, "upstream --rpcpassword, in an owner-only file")
    report.decided(
        "node",
        f"{up.node_url} as {up.rpcuser}; the password is in {path} (0600, {done}), not in fed.toml",
    )
    return t


def _transport_key(path: Path, report: Report) -> bytes:
    if path.exists():
        key = read_private_key(path)
        report.decided("transport key", f"kept {path}; public key {pubkey_of(key).hex()}")
    else:
        key = generate_private_key()
        write_private_key(path, key)
        report.decided("transport key", f"made {path} (0600); public key {pubkey_of(key).hex()}")
    return pubkey_of(key)


def _messenger(
    up: UpstreamArgs,
    chain: ChainInfo,
    names: list[str],
    index: int,
    cards: Mapping[bytes, Card],
    opts: Options,
    report: Report,
) -> Table:
    t = Table("messenger", "How members exchange messages.")
    if up.msgtype == "kafka":
        servers = list(opts.bootstrap) or [UPSTREAM_KAFKA_BROKER]
        t.add("driver", "kafka", "upstream --msgtype kafka")
        t.add("bootstrap_servers", servers, "upstream's fixed broker; edit to your brokers"
              if not opts.bootstrap else "given to oceanfed init")
        if not opts.bootstrap:
            report.decided(
                "messenger",
                f"kafka with {UPSTREAM_KAFKA_BROKER} as bootstrap server, upstream's fixed "
                "broker, written out explicitly: edit messenger.bootstrap_servers if yours differs",
            )
        else:
            report.decided("messenger", f"kafka with {', '.join(servers)}")
        report.decided(
            "messenger",
            "topics change: oceanfed uses oceanfed.<chain>.proposals and .votes, not new-block "
            "and new-sig<id>; upstream and oceanfed members cannot talk to each other",
        )
        return t
    mine = up.nodes[up.id]
    peers: dict[str, str] = {}
    for i, key in enumerate(chain.pubkeys):
        card = cards.get(key)
        if i != index and card is not None:
            peers[names[i]] = up.nodes[card.upstream_id].tcp()
    t.add("driver", "zmq", "upstream --msgtype zmq")
    t.add("bind", f"tcp://*:{mine.port}", f"this member's --nodes entry {up.id} ({mine.host}:{mine.port}); same port")
    t.add("peers", peers, "every other member's --nodes entry, by the upstream id on its card")
    report.decided(
        "messenger",
        f"zmq keeps its ports: PUB on tcp://*:{mine.port}; peers from --nodes by upstream id",
    )
    return t


def _reissuance_key(up: UpstreamArgs) -> bytes | None:
    if not up.inflation:
        return None
    if not up.reissuanceprivkey:
        raise ConfigError("upstream --reissuanceprivkey: required with inflation (a WIF)")
    try:
        return parse_private_key(up.reissuanceprivkey)
    except ValueError as exc:
        raise ConfigError(f"upstream --reissuanceprivkey: {exc}") from None


def _inflation(
    up: UpstreamArgs, opts: Options, base: Path, key: bytes | None, report: Report
) -> Table:
    if up.inflationperiod <= 0 or not up.inflationaddress or not up.reissuancescript:
        missing = [
            flag for flag, ok in (
                ("--inflationperiod", up.inflationperiod > 0),
                ("--inflationaddress", bool(up.inflationaddress)),
                ("--reissuancescript", bool(up.reissuancescript)),
            ) if not ok
        ]  # fmt: skip
        raise ConfigError(f"upstream {', '.join(missing)}: required with inflation")
    assert key is not None
    path = Path(opts.inflation_key_file)
    path = path if path.is_absolute() else base / path
    done = keep_or_write_secret(path, up.reissuanceprivkey, "reissuance private key",
                                "--reissuanceprivkey")
    t = Table("inflation", "Scheduled reissuance, as upstream's --inflation* flags set it.")
    t.add("policy", "fixed-rate", "the inflation plugin's fixed-rate policy")
    t.add("rate", up.inflationrate, "upstream --inflationrate (per year)")
    t.add("period", up.inflationperiod, "upstream --inflationperiod, in blocks")
    t.add("address", up.inflationaddress, "upstream --inflationaddress")
    t.add("reissuance_script", up.reissuancescript, "upstream --reissuancescript")
    t.add("key_file", opts.inflation_key_file, "upstream --reissuanceprivkey (WIF), owner-only")
    report.decided(
        "inflation",
        f"rate {up.inflationrate:g} every {up.inflationperiod} blocks to {up.inflationaddress}; "
        f"the reissuance key is in {path} (0600, {done}), not in fed.toml",
    )
    _check_reissuance_script(up.reissuancescript, key, report)
    return t


def _check_reissuance_script(script_hex: str, key: bytes, report: Report) -> None:
    try:
        _, keys = parse_multisig(bytes.fromhex(script_hex))
    except Exception:
        report.warning("inflation", "--reissuancescript is not a CHECKMULTISIG; not checked")
        return
    import coincurve

    pub = coincurve.PrivateKey(key).public_key
    if pub.format(compressed=True) not in keys and pub.format(compressed=False) not in keys:
        report.warning(
            "inflation",
            "the --reissuanceprivkey key is not one of the --reissuancescript keys: this member "
            "cannot sign reissuances",
        )


def options_from(values: Mapping[str, Any]) -> Options:
    """Options from ``oceanfed init``'s parsed flags (missing ones take their defaults)."""
    opts = Options()
    for key in Options.__dataclass_fields__:
        if key in values and values[key] is not None and key != "env":
            setattr(opts, key, values[key])
    return opts
