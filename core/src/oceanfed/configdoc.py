"""Descriptions of every fed.toml field, and a walk of the schema that documents it.

The schema (types, defaults, bounds) comes from the pydantic models in
:mod:`oceanfed.config` and from each installed plugin's ``Options`` model; the prose for
core fields lives here in :data:`CORE`, and for plugin fields in their ``#:`` comments or
``Field(description=…)``. ``oceanfed init`` writes these as comments, and
``scripts/gen_config_docs.py`` renders ``docs/configuration.md`` from them.
"""

from __future__ import annotations

import inspect
import json
import re
import types
import typing
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from oceanfed.tomlwrite import toml_value

#: the tables of fed.toml, in file order, with one line about each
TABLES = {
    "federation": "Who the federation is: chain, members (in script order) and threshold.",
    "federation.members": "One ``[[federation.members]]`` entry per member, in signblockscript order.",
    "member": "Which member this daemon is, and where it keeps its state.",
    "node": "This member's own Ocean node (JSON-RPC).",
    "rounds": (
        "Consensus round timing (seconds). The defaults suit a WAN as well as a LAN: a round "
        "needs four one-way message delays (milliseconds on a LAN, well under a second between "
        "continents), and a timeout runs out only when a member is silent, so it sets how soon "
        "a silent proposer is skipped. On a LAN they may be lowered for faster failover."
    ),
    "messenger": "How members exchange messages: ``driver`` names a messenger plugin.",
    "signer": "How this member signs blocks: ``driver`` names a signer plugin.",
    "log": "Logging to stderr.",
    "metrics": "Prometheus ``/metrics`` and ``/health`` over HTTP.",
}

#: one description per core field (dotted path); the test suite checks none is missing
CORE = {
    "config_version": "Format version of this file. Absent means 1; a version newer than this oceanfed knows is refused with one line.",
    "federation.chain": "Chain name; signed into every message, so federations on different chains never mix.",
    "federation.threshold": "Signatures needed per block (M of the M-of-N signblockscript). Must be more than half of the members unless allow_split_brain is set.",
    "federation.members": "Every member, in the order of the keys in the signblockscript.",
    "federation.block_time": "Target seconds between blocks; the proposer waits until the slot of the next height.",
    "federation.signblockscript": "The chain's signblockscript (hex). Optional: when given it must equal the CHECKMULTISIG of threshold and members.",
    "federation.allow_split_brain": "Run even though threshold is at most half the members, so two halves of a network partition can each complete a different block.",
    "federation.members.name": "Member name (1-64 characters), unique; used in logs, peers tables and metrics.",
    "federation.members.pubkey": "The member's block-signing public key: 33-byte compressed secp256k1, hex.",
    "federation.members.transport_pubkey": "The member's message-signing public key (33-byte compressed, hex); a separate key from pubkey.",
    "member.name": "This member's name; must be one of federation.members.",
    "member.state_dir": "Directory of the durable state (sign-state, votes, status.json), relative to this file. One process per directory. OCEANFED_STATE_DIR overrides it; when unset here, systemd's $STATE_DIRECTORY is the default.",
    "member.transport_key_file": "File holding this member's transport private key (hex or WIF, mode 0600), relative to this file.",
    "node.url": "JSON-RPC URL of this member's node, http://host:port/.",
    "node.user": "RPC user name (not needed with cookie_file).",
    "node.password_file": "File holding the RPC password (mode 0600, or as docs/security.md allows). Give at most one of password_file, password_env, cookie_file.",
    "node.password_env": "Environment variable holding the RPC password.",
    "node.cookie_file": "The node's .cookie file (user:password), re-read on every new connection; or the node's datadir, where <datadir>/<chain>/.cookie, else <datadir>/.cookie, is used.",
    "node.max_answer_bytes": "Largest answer body read from the node (at least 1 MiB; a block of Ocean's largest size is 8 MB as hex). A larger answer, or one that runs past it to the end of the connection, ends the call as a failure with one line saying so, read no further: a URL that reaches something other than the node cannot fill the member's memory.",
    "node.timeout": "Seconds one RPC call may take in all (a deadline on connecting, sending, the whole answer and any retries). Over plain HTTP the member's loop carries the tip query, `getnewblockhex`, `testproposedblock` and `submitblock` itself, without waiting on them, on up to four kept-alive connections of its own (the same deadline, retries and errors; a failed attempt's retries run on a thread); HTTPS, a call whose hook a plugin implements (proposal extras, `validate_proposal`, `block_complete`), a fifth call at once and calls during a node outage run on four RPC threads.",
    "node.retries": "Retries of a call that cannot have reached the node, or of a read-only call; submitblock is never re-sent.",
    "rounds.propose_timeout": "Seconds to wait for the round's proposal before prevoting nil.",
    "rounds.prevote_timeout": "Seconds to wait for a prevote quorum before precommitting nil.",
    "rounds.precommit_timeout": "Seconds to wait for a precommit quorum before moving to the next round.",
    "rounds.timeout_step": "Seconds added to every timeout per round, so that slow networks eventually agree.",
    "rounds.gossip_interval": "Seconds between re-sends of this member's votes and the blocks that matter.",
    "rounds.tip_poll_interval": "Seconds between polls of the node's tip.",
    "messenger.driver": "Messenger plugin (entry point group oceanfed.messengers), e.g. zmq or kafka.",
    "signer.driver": "Signer plugin (entry point group oceanfed.signers), e.g. soft, pkcs11, pykcs11 or node.",
    "log.level": "Least severe level logged: debug, info, warning or error. OCEANFED_LOG_LEVEL, then --log-level, override it.",
    "log.format": "text (human-readable lines) or json (one JSON object per line). OCEANFED_LOG_FORMAT, then --log-format, override it.",
    "metrics.listen": "HOST:PORT to serve /metrics and /health on; unset: no HTTP listener. OCEANFED_METRICS_LISTEN overrides it.",
    "metrics.unhealthy_after": "Seconds the node, or the messenger's transport (Kafka brokers; for ZMQ, every peer connection), may stay unreachable, or fewer than threshold members (this one included) reachable, or a call into the signer run (a hung token), before /health answers 503; a signer call that runs this long is also logged as an error, once.",
}


#: example values (TOML text) of fields that have no default, for the commented lines of
#: ``oceanfed init``; other fields without a default get a placeholder of their type
EXAMPLES = {
    "federation.signblockscript": '"5221…53ae"',
    "node.user": '"oceanrpc"',
    "node.password_file": '"rpc.password"',
    "node.password_env": '"OCEANFED_RPC_PASSWORD"',
    "node.cookie_file": '"/var/lib/ocean"',
    "metrics.listen": '"127.0.0.1:9464"',
    "messenger.curve_secret_key_file": '"curve.key"',
}


@dataclass
class FieldDoc:
    """One documented field."""

    path: str
    type: str
    default: str | None  # TOML text of the default; None when required
    constraints: str
    description: str
    #: TOML text of an example value (always valid TOML)
    example: str = '""'

    @property
    def required(self) -> bool:
        return self.default is None


def _is_secret_file(metadata: Any) -> bool:
    return any(getattr(getattr(m, "func", None), "__name__", "") == "_secret_path" for m in metadata)


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return "secret file" if _is_secret_file(annotation.__metadata__) else _type_name(args[0])
    if origin in (typing.Union, types.UnionType):
        names = [_type_name(a) for a in args if a is not type(None)]
        return " | ".join(names) + (" (optional)" if type(None) in args else "")
    if origin is typing.Literal:
        return " | ".join(json.dumps(a) for a in args)
    if origin in (list, tuple):
        return f"list of {_type_name(args[0])}" if args else "list"
    if origin is dict:
        return f"table of {_type_name(args[1])}" if len(args) == 2 else "table"
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return "table"
        return {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}.get(
            annotation.__name__, annotation.__name__
        )
    return str(annotation).replace("typing.", "")


def _constraints(info: Any) -> str:
    out = []
    for m in info.metadata:
        for attr, sym in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"),
                          ("min_length", "min length"), ("max_length", "max length"),
                          ("pattern", "matches")):
            v = getattr(m, attr, None)
            if v is not None:
                out.append(f"{sym} {v}")
    return ", ".join(out)


def attribute_comments(cls: type) -> dict[str, str]:
    """``#:`` comments above the fields of ``cls`` (and its bases), by field name."""
    found: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        try:
            source = inspect.getsource(klass)
        except (OSError, TypeError):
            continue
        pending: list[str] = []
        for line in source.splitlines():
            stripped = line.strip()
            if stripped.startswith("#:"):
                pending.append(stripped[2:].strip())
                continue
            m = re.match(r"(\w+)\s*:", stripped)
            if m and pending:
                found[m.group(1)] = " ".join(pending)
            pending = []
    return found


def model_fields(
    model: type[BaseModel], prefix: str = "", descriptions: dict[str, str] | None = None
) -> list[FieldDoc]:
    """A FieldDoc per field of ``model`` (nested tables expanded), in declaration order."""
    comments = attribute_comments(model)
    out: list[FieldDoc] = []
    for name, info in model.model_fields.items():
        if name == "base_dir":
            continue
        path = f"{prefix}{name}"
        desc = (descriptions or {}).get(path) or info.description or comments.get(name, "")
        if info.is_required():
            default = None
        elif info.default_factory is not None:
            default = toml_value(info.default_factory())  # type: ignore[call-arg]
        elif info.default is None or info.default is PydanticUndefined:
            default = ""
        else:
            default = toml_value(info.default)
        typ = "secret file" if _is_secret_file(info.metadata) else _type_name(info.annotation)
        out.append(FieldDoc(path, typ, default, _constraints(info), desc, _example(path, info)))
    return out


def _example(path: str, info: Any) -> str:
    """TOML text of an example value of a field: :data:`EXAMPLES`, the field's own
    ``examples``, or a placeholder of its type."""
    if path in EXAMPLES:
        return EXAMPLES[path]
    if info.examples:
        return toml_value(info.examples[0])
    return _placeholder(info.annotation)


def _placeholder(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin in (typing.Union, types.UnionType):
        return _placeholder(args[0]) if args else '""'
    if origin is typing.Literal:
        return toml_value(args[0])
    if origin in (list, tuple):
        return "[]"
    if origin is dict or (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
        return "{}"
    return {bool: "false", int: "0", float: "0.0"}.get(annotation, '""')


def core_fields() -> list[FieldDoc]:
    """Every core field of fed.toml, table by table (plugin options excluded)."""
    from oceanfed.config import (
        FedConfig,
        Federation,
        Log,
        Member,
        MemberEntry,
        Metrics,
        Node,
        Rounds,
    )

    info = FedConfig.model_fields["config_version"]
    out: list[FieldDoc] = [
        FieldDoc("config_version", "integer", toml_value(info.default), _constraints(info),
                 CORE["config_version"], toml_value(info.default))
    ]
    for table, model in (("federation", Federation), ("federation.members", MemberEntry),
                         ("member", Member), ("node", Node), ("rounds", Rounds),
                         ("log", Log), ("metrics", Metrics)):
        out.extend(model_fields(model, f"{table}.", CORE))
    for table in ("messenger", "signer"):
        out.append(FieldDoc(f"{table}.driver", "string", None, "", CORE[f"{table}.driver"]))
    return out


def plugin_options() -> dict[str, list[tuple[str, str, type[BaseModel]]]]:
    """Installed messenger and signer plugins: ``{table: [(driver, distribution, Options)]}``."""
    from oceanfed.errors import ConfigError
    from oceanfed.interfaces import Messenger, Signer
    from oceanfed.plugins import MESSENGERS, SIGNERS, installed, load

    out: dict[str, list[tuple[str, str, type[BaseModel]]]] = {}
    for table, group, base in (("messenger", MESSENGERS, Messenger), ("signer", SIGNERS, Signer)):
        rows: list[tuple[str, str, type[BaseModel]]] = []
        for name, dist, _ in installed(group):
            try:
                cls: type[Messenger] | type[Signer] = load(group, name, base)
            except ConfigError:  # a broken plugin is reported by 'oceanfed plugins'
                continue
            rows.append((name, dist, cls.Options))
        out[table] = rows
    return out


def plugin_tables() -> list[tuple[str, str, str]]:
    """``(table, description, distribution)`` of each fed.toml table an installed hooks
    plugin declares (``oceanfed_config_tables``); none when the plugins cannot be loaded."""
    from oceanfed.errors import ConfigError
    from oceanfed.plugins import HOOKS, hook_manager, installed

    try:
        pm = hook_manager()
    except ConfigError:  # reported by 'oceanfed check' and 'run'
        return []
    dists = {name: dist for name, dist, _ in installed(HOOKS)}
    out = []
    for name, plugin in pm.list_name_plugin():
        others = [p for _, p in pm.list_name_plugin() if p is not plugin]
        for answer in pm.subset_hook_caller("oceanfed_config_tables", others)():
            out += [(t, about, dists.get(name, "?")) for t, about in (answer or {}).items()]
    return sorted(out)


def _table_md(fields: list[FieldDoc], strip: str) -> list[str]:
    lines = ["| key | type | default | description |", "| --- | --- | --- | --- |"]
    for f in fields:
        default = "**required**" if f.required else (f"`{f.default}`" if f.default else "unset")
        typ = f.type + (f" ({f.constraints})" if f.constraints else "")
        desc = f.description.replace("|", "\\|").replace("``", "`")
        lines.append(f"| `{f.path.removeprefix(strip)}` | {typ.replace('|', 'or')} | {default} | {desc} |")
    return lines


def markdown(include_plugins: tuple[str, ...] | None = None) -> str:
    """The whole configuration reference (docs/configuration.md).

    ``include_plugins`` limits plugin sections to these distributions (so the document does
    not depend on what else happens to be installed); None means every installed plugin.
    """
    fields = core_fields()
    out = [
        "# Configuration reference (fed.toml)",
        "",
        "<!-- generated by scripts/gen_config_docs.py from the config schema; do not edit -->",
        "",
        "Every member reads one TOML file, usually `fed.toml`. `oceanfed init` writes a",
        "commented one; `oceanfed check --config fed.toml` validates every field and names the",
        "first wrong one with the form it expects. Relative paths resolve against the",
        "directory of the file. Unknown keys are errors.",
        "",
        "A few values that differ per deployment may come from the environment instead, which",
        "wins over the file: `OCEANFED_STATE_DIR`, `OCEANFED_METRICS_LISTEN`, `OCEANFED_LOG_FORMAT`,",
        "`OCEANFED_LOG_LEVEL` (an empty variable counts as unset; a relative `OCEANFED_STATE_DIR` is",
        "relative to the working directory; `--log-format` and `--log-level` win over both).",
        "systemd's `$STATE_DIRECTORY` is the `state_dir` when the file sets none, and",
        "a secret file given by a bare name is looked up in `$CREDENTIALS_DIRECTORY` first.",
        "`oceanfed check` prints where each of these came from; a bad value gets one line naming",
        "the variable. `--config` (before or after the",
        "command) names the file; `$OCEANFED_CONFIG` is its default.",
        "",
        "A *secret file* is a path, or a table `{ path = \"…\", allow_group_readable = true }`",
        "for a secret others may read (Docker Swarm's 0444); docs/security.md says which files",
        "are accepted (owner-only, a symbolic link to an owner-only file of the member's user,",
        "or a file under `$CREDENTIALS_DIRECTORY`).",
        "",
        "## Top level",
        "",
        "Keys before the first table.",
        "",
    ]
    out += _table_md([f for f in fields if "." not in f.path], "") + [""]
    for table, about in TABLES.items():
        heading = f"[[{table}]]" if table == "federation.members" else f"[{table}]"
        out += [f"## `{heading}`", "", about.replace("``", "`"), ""]
        rows = [f for f in fields if f.path.rsplit(".", 1)[0] == table]
        out += _table_md(rows, f"{table}.") + [""]
        if table in ("messenger", "signer"):
            for driver, dist, options in plugin_options()[table]:
                if include_plugins is not None and dist not in include_plugins:
                    continue
                doc = (inspect.getdoc(options) or "").split("\n\n", 1)[0].replace("``", "`")
                out += [f"### `{table}.driver = \"{driver}\"` ({dist})", ""]
                if doc and not doc.startswith("Usage docs"):
                    out += [doc, ""]
                opts = model_fields(options, f"{table}.")
                out += (_table_md(opts, f"{table}.") if opts else ["No options."]) + [""]
    for table, about, dist in plugin_tables():
        if include_plugins is None or dist in include_plugins:
            out += [f"## `[{table}]`", "", about, "",
                    f"Optional; read and checked by the {dist} hooks plugin (see its README).", ""]
    return "\n".join(out).rstrip() + "\n"
