"""``oceanfed init``: write a fully commented fed.toml for one member.

Every field is written with its description; optional ones are left commented out at
their defaults (or, with no default, at an example marked as such), and every commented
line is valid TOML once uncommented. The file starts with its format version
(``config_version``). Values come from flags; a required value missing from the flags is
asked for on a terminal, and is an error otherwise. An existing file is never overwritten.
The file is --out, else --config (or $OCEANFED_CONFIG), else fed.toml.

The messenger plugin adds its key material. With the zmq messenger, CURVE encryption is on:
this member's CURVE secret key is read from --curve-key-file (default curve.key beside the
config), or generated there, and every other member's CURVE public key is given with
--curve-key NAME=KEY (their 'oceanfed keygen --curve' output). --no-curve leaves messages
unencrypted.

Example::

    oceanfed init --out fed.toml --name alice --threshold 2 \\
        --member alice:02ab…:03cd… --member bob:02ef…:0312… --member carol:…:… \\
        --node-url http://127.0.0.1:7041/ --node-user alice \\
        --messenger zmq --bind tcp://0.0.0.0:7000 \\
        --peer bob=tcp://10.0.0.2:7000 --peer carol=tcp://10.0.0.3:7000 \\
        --curve-key bob=<Z85> --curve-key carol=<Z85> \\
        --signer soft --signer-opt key_file=block.key
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from oceanfed.cli.common import add_config_argument, config_source
from oceanfed.config import CONFIG_VERSION, format_validation_error, validate_config
from oceanfed.configdoc import CORE, TABLES, FieldDoc, core_fields, model_fields, plugin_tables
from oceanfed.errors import ConfigError
from oceanfed.interfaces import InitMessenger, InitMessengerAnswer
from oceanfed.migrate.cli import add_from_upstream, run_from_upstream, wants_upstream
from oceanfed.migrate.writer import write_new
from oceanfed.tomlwrite import toml_value

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

WIDTH = 88
#: the trailing comment of a commented line that shows an example, not the default
EXAMPLE = "# example; unset by default"
#: the trailing comment of a commented line of a required key (init refuses to write one)
REQUIRED = "# required"


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "init",
        help="write a commented fed.toml (never overwrites)",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", help="file to write (default: --config, $OCEANFED_CONFIG or fed.toml)")
    add_config_argument(p, help="file to write, as --out")
    p.add_argument("--name", help="this member's name")
    p.add_argument(
        "--member", action="append", default=[], metavar="NAME:PUBKEY:TRANSPORT_PUBKEY",
        help="a federation member (repeat, in signblockscript order)",
    )
    p.add_argument("--threshold", type=int, help="signatures per block (default: a majority)")
    p.add_argument("--chain", default="ocean_test", help="chain name (default ocean_test)")
    p.add_argument("--block-time", type=float, default=60.0, help="seconds per block (default 60)")
    p.add_argument("--signblockscript", help="the chain's signblockscript hex (checked)")
    p.add_argument("--allow-split-brain", action="store_true",
                   help="allow a threshold of at most half the members")
    p.add_argument("--state-dir", help="state directory (default: $STATE_DIRECTORY under "
                   "systemd, else 'state' beside the file)")
    p.add_argument("--transport-key-file", default="transport.key")
    p.add_argument("--node-url", help="JSON-RPC URL of this member's node")
    p.add_argument("--node-user", help="RPC user")
    auth = p.add_mutually_exclusive_group()
    auth.add_argument("--password-file", help="file holding the RPC password (mode 0600)")
    auth.add_argument("--password-env", help="environment variable holding the RPC password")
    auth.add_argument("--cookie-file", help="the node's .cookie file")
    p.add_argument("--messenger", default="zmq", help="messenger driver (default zmq)")
    p.add_argument("--bind", help="zmq: this member's PUB address, e.g. tcp://0.0.0.0:7000")
    p.add_argument("--peer", action="append", default=[], metavar="NAME=ADDRESS",
                   help="zmq: a peer's PUB address (repeat)")
    p.add_argument("--bootstrap", action="append", default=[], metavar="HOST:PORT",
                   help="kafka: a bootstrap server (repeat)")
    p.add_argument("--curve-key", action="append", default=[], metavar="NAME=KEY",
                   help="zmq: a member's CURVE public key (Z85; repeat for every other member)")
    p.add_argument("--curve-key-file", default="curve.key",
                   help="zmq: this member's CURVE secret key file, generated if absent "
                        "(default curve.key)")
    p.add_argument("--no-curve", dest="curve", action="store_false",
                   help="zmq: leave messages unencrypted (not recommended)")
    p.add_argument("--messenger-opt", action="append", default=[], metavar="KEY=VALUE",
                   help="any other [messenger] option; VALUE is TOML or a bare string")
    p.add_argument("--signer", default="soft", help="signer driver (default soft)")
    p.add_argument("--signer-opt", action="append", default=[], metavar="KEY=VALUE",
                   help="a [signer] option, e.g. key_file=block.key; VALUE is TOML or a bare string")
    p.add_argument("--metrics-listen", metavar="HOST:PORT", help="serve /metrics and /health")
    p.add_argument("--log-format", dest="init_log_format", choices=("text", "json"),
                   help="log format written to [log]")
    add_from_upstream(p)
    p.set_defaults(func=run)


def _parse_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _pairs(items: list[str], flag: str, sep: str = "=") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, ok, value = item.partition(sep)
        if not ok or not key.strip():
            raise ConfigError(f"init {flag}: expected KEY{sep}VALUE, got {item!r}")
        out[key.strip()] = _parse_value(value.strip()) if sep == "=" else value.strip()
    return out


def _ask(flag: str, prompt: str, interactive: bool) -> str:
    if not interactive:
        raise ConfigError(f"init: {flag} is required (or run on a terminal to be asked)")
    value = input(f"{prompt}: ").strip()
    if not value:
        raise ConfigError(f"init: {flag} is required")
    return value


def gather(args: argparse.Namespace, interactive: bool) -> dict[str, Any]:
    """The values to write, as fed.toml tables (flags first, then questions)."""
    members = list(args.member)
    if not members:
        if not interactive:
            raise ConfigError("init: --member NAME:PUBKEY:TRANSPORT_PUBKEY is required (repeat it)")
        print("members, in signblockscript order, as NAME:PUBKEY:TRANSPORT_PUBKEY; empty line ends")
        while line := input(f"member {len(members)}: ").strip():
            members.append(line)
    entries = []
    for item in members:
        parts = item.split(":")
        if len(parts) != 3:
            raise ConfigError(f"init --member: expected NAME:PUBKEY:TRANSPORT_PUBKEY, got {item!r}")
        entries.append({"name": parts[0], "pubkey": parts[1], "transport_pubkey": parts[2]})
    name = args.name or _ask("--name", "this member's name", interactive)
    url = args.node_url or _ask("--node-url", "node RPC URL (http://host:port/)", interactive)
    threshold = args.threshold if args.threshold is not None else len(entries) // 2 + 1

    federation: dict[str, Any] = {"chain": args.chain, "threshold": threshold,
                                  "block_time": args.block_time}
    if args.signblockscript:
        federation["signblockscript"] = args.signblockscript
    if args.allow_split_brain:
        federation["allow_split_brain"] = True
    node: dict[str, Any] = {"url": url}
    if args.node_user:
        node["user"] = args.node_user
    for key in ("password_file", "password_env", "cookie_file"):
        if getattr(args, key):
            node[key] = getattr(args, key)
    if not any(k in node for k in ("password_file", "password_env", "cookie_file")):
        node["password_file"] = "rpc.password"

    messenger: dict[str, Any] = {"driver": args.messenger}
    if args.messenger == "zmq":
        messenger["bind"] = args.bind or "tcp://0.0.0.0:7000"
        messenger["peers"] = _pairs(args.peer, "--peer")
        for peer in messenger["peers"]:
            messenger["peers"][peer] = str(messenger["peers"][peer])
    elif args.messenger == "kafka":
        messenger["bootstrap_servers"] = args.bootstrap or ["127.0.0.1:9092"]
    args.messenger_keys = messenger_keys(args, [e["name"] for e in entries], name, interactive)
    messenger.update(args.messenger_keys.options)
    messenger.update(_pairs(args.messenger_opt, "--messenger-opt"))
    signer: dict[str, Any] = {"driver": args.signer}
    if args.signer == "soft":
        signer["key_file"] = "block.key"
    signer.update(_pairs(args.signer_opt, "--signer-opt"))
    tables: dict[str, Any] = {
        "federation": federation,
        "federation.members": entries,
        "member": {"name": name, "transport_key_file": args.transport_key_file,
                   **({"state_dir": args.state_dir} if args.state_dir else {})},
        "node": node,
        "messenger": messenger,
        "signer": signer,
        "metrics": {"listen": args.metrics_listen} if args.metrics_listen else {},
        "log": {"format": args.init_log_format} if args.init_log_format else {},
    }
    return tables


def messenger_keys(
    args: argparse.Namespace, names: list[str], me: str, interactive: bool
) -> InitMessengerAnswer:
    """The messenger plugin's options and key material (``oceanfed_init_messenger``): e.g. the
    zmq plugin's CURVE keys. None answering is no key material when the driver is installed,
    and one line naming it otherwise."""
    from oceanfed.plugins import MESSENGERS, hook_manager, load

    request = InitMessenger(
        driver=args.messenger, members=tuple(names), me=me, base_dir=Path(args.out).parent,
        flags=args, ask=lambda flag, prompt: _ask(flag, prompt, interactive),
        interactive=interactive,
    )
    answer: InitMessengerAnswer | None = hook_manager().hook.oceanfed_init_messenger(request=request)
    if answer is None:
        try:
            load(MESSENGERS, args.messenger, field="init --messenger")
        except ConfigError as exc:
            raise ConfigError(f"{exc}; install the plugin that provides it") from None
        answer = InitMessengerAnswer()
    return answer


def _comment(text: str, indent: str = "") -> list[str]:
    import textwrap

    return [f"{indent}# {line}" for line in textwrap.wrap(text.replace("``", "'"), WIDTH - 2)]


def _field_lines(f: FieldDoc, key: str, values: dict[str, Any]) -> list[str]:
    about = " ".join(x for x in (f.description, f"({f.constraints})" if f.constraints else "") if x)
    lines = _comment(about)
    if key in values:
        lines.append(f"{key} = {toml_value(values[key])}")
    elif f.required:
        lines.append(f"# {key} = {f.example}  {REQUIRED}")
    elif f.default:
        lines.append(f"# {key} = {f.default}")
    else:
        lines.append(f"# {key} = {f.example}  {EXAMPLE}")
    return lines


def _plugin_options(table: str, driver: str) -> type[BaseModel] | None:
    """The ``Options`` model of an installed plugin, or None when it is not installed."""
    from oceanfed.errors import ConfigError
    from oceanfed.plugins import MESSENGERS, SIGNERS, load

    try:
        cls = load(MESSENGERS if table == "messenger" else SIGNERS, driver)
    except ConfigError:
        return None
    options = getattr(cls, "Options", None)
    return options if isinstance(options, type) and issubclass(options, BaseModel) else None


def render(tables: dict[str, Any]) -> str:
    """The commented fed.toml for ``tables``."""
    fields = core_fields()
    out = [
        "# oceanfed member configuration, written by 'oceanfed init'.",
        "# Check it with: oceanfed check --config <this file>",
        "# Reference: docs/configuration.md. Relative paths are relative to this file.",
        "",
        *_comment(CORE["config_version"]),
        f"config_version = {CONFIG_VERSION}",
        "",
    ]
    for table, about in TABLES.items():
        rows = [f for f in fields if f.path.rsplit(".", 1)[0] == table]
        values = tables.get(table, {})
        if table == "federation.members":
            for entry in values:
                out += ["[[federation.members]]"]
                for f in rows:
                    out += _field_lines(f, f.path.rsplit(".", 1)[1], entry)
                out.append("")
            continue
        out += _comment(about) + [f"[{table}]"]
        for f in rows:
            key = f.path.rsplit(".", 1)[1]
            if key == "members":
                continue
            out += _field_lines(f, key, values)
        if table in ("messenger", "signer"):
            options = _plugin_options(table, values["driver"])
            known = set()
            if options is not None:
                out += _comment(f"Options of the {values['driver']!r} {table}:")
                for f in model_fields(options, f"{table}."):
                    key = f.path.rsplit(".", 1)[1]
                    known.add(key)
                    out += _field_lines(f, key, values)
            for key, value in values.items():
                if key != "driver" and key not in known:
                    out.append(f"{key} = {toml_value(value)}")
        out.append("")
    for table, about, dist in plugin_tables():
        out += _comment(f"{about} (optional; read by the {dist} plugin, see its README)")
        out += [f"# [{table}]", ""]
    return "\n".join(out).rstrip() + "\n"


def validate(text: str, out: Path) -> None:
    """Refuse to write a file that would not load (names the field)."""
    source = f"init ({out})"
    cfg = validate_config(tomllib.loads(text), out, source)
    for name in ("messenger", "signer"):
        table = getattr(cfg, name)
        options = _plugin_options(name, table.driver)
        if options is None:
            continue
        try:
            options.model_validate(table.options())
        except ValidationError as exc:
            raise ConfigError(format_validation_error(source, exc, prefix=f"{name}.")) from None


def run(args: argparse.Namespace, stdin_isatty: Callable[[], bool] = sys.stdin.isatty) -> int:
    args.out = args.out or (config_source(args) or ("fed.toml", ""))[0]
    if wants_upstream(args):
        return run_from_upstream(args)
    out = Path(args.out)
    if out.exists():
        raise ConfigError(f"{out}: already exists; not overwriting (remove it or use --out)")
    tables = gather(args, interactive=stdin_isatty())
    text = render(tables)
    validate(text, out)
    keys: InitMessengerAnswer = args.messenger_keys
    for path, content in keys.new_secret_files.items():
        from oceanfed.keyfile import write_secret_file

        write_secret_file(path, content)
        print(f"wrote secret key file {path}")
    write_new(out, text)
    print(f"wrote {out}; check it with: oceanfed check --config {out}")
    for line in keys.messages:
        print(line)
    return 0
