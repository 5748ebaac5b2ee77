"""The upstream daemon's command line, parsed as the upstream daemon parsed it.

Flags and defaults follow ``python3 -m federation``: ``--rpconnect``, ``--rpcport``,
``--rpcuser``, ``--rpcpassword`` and ``--id`` are required; ``--msgtype`` defaults to
``kafka``; unambiguous prefixes (``--rpcpass``) are accepted, as argparse did upstream.
``--hsm`` was ``type=bool``: any non-empty value, ``0`` and ``false`` included, meant "on".
Errors are one-line :class:`~oceanfed.errors.ConfigError` naming the flag; the RPC
password and the reissuance key never appear in them or in ``repr``.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from oceanfed.errors import ConfigError

#: upstream's fixed values
UPSTREAM_THRESHOLD = 3
UPSTREAM_KAFKA_MEMBERS = 5
UPSTREAM_KAFKA_BROKER = "kafka:9092"
UPSTREAM_BLOCK_TIME = 60.0

#: flags whose values are secrets (redacted when the command line is echoed)
SECRET_FLAGS = ("--rpcpassword", "--reissuanceprivkey")

_HOST = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)$")


@dataclass(frozen=True)
class NodeAddress:
    """One ``--nodes`` entry: where upstream member ``index`` published over ZMQ."""

    index: int
    host: str
    port: int

    def tcp(self) -> str:
        return f"tcp://{self.host}:{self.port}"


@dataclass(frozen=True)
class UpstreamArgs:
    """What an upstream member was started with (secrets kept out of ``repr``)."""

    rpconnect: str
    rpcport: int
    rpcuser: str
    rpcpassword: str = field(repr=False)
    id: int
    msgtype: str
    nodes: list[NodeAddress]
    hsm: bool
    hsm_raw: str | None
    inflationrate: float
    inflationperiod: int
    inflationaddress: str
    reissuancescript: str
    reissuanceprivkey: str = field(repr=False)
    argv: tuple[str, ...] = field(repr=False, default=())

    @property
    def node_url(self) -> str:
        host = self.rpconnect
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{self.rpcport}/"

    @property
    def inflation(self) -> bool:
        """Upstream ran inflation when a rate, a period or a reissuance script was given."""
        return bool(self.inflationrate or self.inflationperiod or self.reissuancescript)

    def redacted(self) -> str:
        """The command line with the secret values replaced by ``***``."""
        return " ".join(redact(self.argv))


def redact(argv: Sequence[str]) -> list[str]:
    """``argv`` with the values of :data:`SECRET_FLAGS` (and their prefixes) hidden."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append("***")
            hide_next = False
            continue
        flag, eq, _ = arg.partition("=")
        secret = len(flag) > 5 and any(s.startswith(flag) for s in SECRET_FLAGS)
        if secret and eq:
            out.append(f"{flag}=***")
        else:
            out.append(arg)
            hide_next = secret
    return out


class _Parser(argparse.ArgumentParser):
    """argparse that raises ConfigError instead of exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise ConfigError(f"upstream arguments: {message}")


def _parser() -> _Parser:
    p = _Parser(prog="federation", add_help=False)
    p.add_argument("--rpconnect", required=True)
    p.add_argument("--rpcport", required=True)
    p.add_argument("--rpcuser", required=True)
    p.add_argument("--rpcpassword", required=True)
    p.add_argument("--id", required=True)
    p.add_argument("--msgtype", default="kafka")
    p.add_argument("--nodes", default="")
    p.add_argument("--inflationrate", default="0")
    p.add_argument("--inflationperiod", default="0")
    p.add_argument("--inflationaddress", default="")
    p.add_argument("--reissuancescript", default="")
    p.add_argument("--reissuanceprivkey", default="")
    p.add_argument("--hsm", default=None)
    return p


def parse_nodes(text: str) -> list[NodeAddress]:
    """``host:port,host:port,…``; ConfigError naming the malformed entry."""
    if not text.strip():
        return []
    out = []
    for i, entry in enumerate(text.split(",")):
        item = entry.strip()
        host, sep, port = item.rpartition(":")
        if not sep or not host or not _HOST.match(host) or not port.isdigit():
            raise ConfigError(
                f"upstream --nodes: entry {i} {item!r} is malformed (expected host:port)"
            )
        if not 0 < int(port) < 65536:
            raise ConfigError(
                f"upstream --nodes: entry {i} {item!r} has port {port} (expected 1-65535)"
            )
        out.append(NodeAddress(i, host, int(port)))
    return out


def _number(flag: str, value: str, kind: type[int] | type[float]) -> int | float:
    try:
        return kind(value)
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise ConfigError(f"upstream {flag}: expected {what}, got {value!r}") from None


def parse_upstream(argv: Sequence[str]) -> UpstreamArgs:
    """Parse the upstream command line; one-line ConfigError naming the bad flag."""
    argv = list(argv)
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        raise ConfigError(
            "upstream arguments: none given (pass them after '--', e.g. "
            "oceanfed init --from-upstream -- --rpconnect HOST --rpcport PORT …)"
        )
    ns, unknown = _parser().parse_known_args(argv)
    if unknown:
        flags = [u.split("=", 1)[0] for u in unknown if u.startswith("-")]
        if flags:
            raise ConfigError(
                f"upstream arguments: unknown flag {', '.join(flags)} (the upstream daemon "
                "has --rpconnect --rpcport --rpcuser --rpcpassword --id --msgtype --nodes --hsm "
                "--inflationrate --inflationperiod --inflationaddress --reissuancescript "
                "--reissuanceprivkey)"
            )
        raise ConfigError(
            f"upstream arguments: {len(unknown)} value(s) without a flag (values are not shown)"
        )
    port = int(_number("--rpcport", ns.rpcport, int))
    if not 0 < port < 65536:
        raise ConfigError(f"upstream --rpcport: {port} is not a TCP port (expected 1-65535)")
    if not ns.rpconnect or not _HOST.match(ns.rpconnect.strip("[]") if ":" in ns.rpconnect
                                              else ns.rpconnect):
        raise ConfigError(f"upstream --rpconnect: expected a host name or address, got {ns.rpconnect!r}")
    member_id = int(_number("--id", ns.id, int))
    msgtype = ns.msgtype.strip().lower()
    if msgtype not in ("kafka", "zmq"):
        raise ConfigError(f"upstream --msgtype: expected kafka or zmq, got {ns.msgtype!r}")
    nodes = parse_nodes(ns.nodes)
    if msgtype == "zmq" and not nodes:
        raise ConfigError("upstream --nodes: required with --msgtype zmq (host:port of every member)")
    count = len(nodes) if nodes else UPSTREAM_KAFKA_MEMBERS
    if not 0 <= member_id < count:
        where = (
            f"--nodes, which has {len(nodes)} entries (0-{len(nodes) - 1})"
            if nodes
            else f"the {UPSTREAM_KAFKA_MEMBERS} members upstream assumed with kafka (0-4)"
        )
        raise ConfigError(f"upstream --id: {member_id} is outside {where}")
    period = int(_number("--inflationperiod", ns.inflationperiod, int))
    if period < 0:
        raise ConfigError(f"upstream --inflationperiod: expected a positive number of blocks, got {period}")
    script = ns.reissuancescript.strip()
    if script:
        try:
            bytes.fromhex(script)
        except ValueError:
            raise ConfigError("upstream --reissuancescript: expected the script in hex") from None
    return UpstreamArgs(
        rpconnect=ns.rpconnect,
        rpcport=port,
        rpcuser=ns.rpcuser,
        rpcpassword=ns.rpcpassword,
        id=member_id,
        msgtype=msgtype,
        nodes=nodes,
        hsm=bool(ns.hsm),
        hsm_raw=ns.hsm,
        inflationrate=float(_number("--inflationrate", ns.inflationrate, float)),
        inflationperiod=period,
        inflationaddress=ns.inflationaddress.strip(),
        reissuancescript=script.lower(),
        reissuanceprivkey=ns.reissuanceprivkey.strip(),
        argv=tuple(argv),
    )
