"""``oceanfed check --config fed.toml``: check a member's setup without running it.

Each check prints one line, ``ok``, ``warn`` or ``FAILED``, naming what was checked: every
config field, the transport key, the node (RPC auth, chain, signblockscript), the signer
(its pubkey must be this member's), the messenger, each hooks plugin's own settings (the
tables it declares) and the metrics address. ``info`` lines say where the config file and
each value that differs per deployment came from: the file, the environment
(``OCEANFED_*``, ``$STATE_DIRECTORY``, ``$CREDENTIALS_DIRECTORY``) or the default. The exit
status is 1 when any check failed.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oceanfed.cli.common import add_config_argument, config_path, config_source
from oceanfed.config import FedConfig, config_problems, read_toml
from oceanfed.deadline import NoAnswer, call_within
from oceanfed.errors import ConfigError, OceanfedError
from oceanfed.statestore import Owner, inspect_state

#: seconds the signer and the messenger each have to answer ``oceanfed check``
PLUGIN_TIMEOUT = 30.0


@dataclass
class Result:
    """One check's outcome: ``ok``, ``warn``, ``failed`` or ``skipped``; or ``info``, which
    is not a check (where a value came from)."""

    name: str
    status: str
    detail: str

    def line(self) -> str:
        label = {"ok": "ok", "warn": "warn", "failed": "FAILED", "skipped": "skip",
                 "info": "info"}[self.status]
        return f"{label:<7}{self.name}: {self.detail}"


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "check",
        help="check a fed.toml, the node, the signer and the messenger",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    add_config_argument(p)
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument(
        "--timeout", type=_seconds, default=PLUGIN_TIMEOUT, metavar="SECONDS",
        help=f"how long the signer and messenger may take to answer (default {PLUGIN_TIMEOUT:g})",
    )
    p.set_defaults(func=run)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds above 0, got {text!r}")
    return value


def config_errors(path: Path) -> tuple[FedConfig | None, list[str]]:
    """Load ``path`` with the environment's overrides; on failure, one line per bad field
    (not only the first)."""
    try:
        raw = read_toml(path)
    except ConfigError as exc:
        return None, [str(exc)]
    return config_problems(raw, path, str(path), os.environ)


def _value(cfg: FedConfig, field: str) -> str:
    table, key = field.split(".")
    value = getattr(getattr(cfg, table), key)
    if value is None:
        return "unset"
    if key.endswith("_file") or key == "state_dir":
        return str(cfg.path(value))
    return str(value)


def source_lines(cfg: FedConfig, path: Path, origin: str) -> list[Result]:
    """Where the config file and each per-deployment value came from (``info`` lines)."""
    out = [Result("config file", "info", f"{path} (from {origin}), config_version {cfg.config_version}")]
    for field, source in cfg.sources.items():
        where = {"file": f"from {path.name}", "default": "default"}.get(
            source, f"from ${source.removeprefix('env ')}"
        )
        out.append(Result(field, "info", f"{_value(cfg, field)} ({where})"))
    return out


def _attempt(
    name: str, fn: Callable[[], str | tuple[str, str]], within: float | None = None, hung: str = ""
) -> Result:
    """Run one check; an OceanfedError (or any failure of a plugin) is a failed line. With
    ``within``, a check that has not returned by then is a failed line too, asking whether
    ``hung`` is (it is left running: a PKCS#11 call into a hung token cannot be taken back)."""
    try:
        out = fn() if within is None else call_within(within, fn, name)
    except NoAnswer as exc:
        return Result(name, "failed", f"{exc}: a call into the {name} has not returned (is {hung} hung?)")
    except OceanfedError as exc:
        return Result(name, "failed", str(exc))
    except Exception as exc:  # a plugin's own bug still gets reported, not a traceback
        return Result(name, "failed", f"{type(exc).__name__}: {exc}")
    if isinstance(out, tuple):
        return Result(name, out[0], out[1])
    return Result(name, "ok", out)


def run_checks(path: Path, origin: str = "--config", timeout: float = PLUGIN_TIMEOUT) -> list[Result]:
    """Every check of ``oceanfed check``, in order; later ones are skipped if they cannot run."""
    from oceanfed import member as M
    from oceanfed.plugins import load_messenger, load_signer
    from oceanfed.rpc import from_config

    cfg, errors = config_errors(path)
    if cfg is None:
        return [Result("config", "failed", line) for line in errors]
    fed = cfg.federation
    results = [
        Result(
            "config",
            "ok",
            f"{path}: {fed.threshold}-of-{len(fed.members)} federation on chain {fed.chain}, "
            f"member {cfg.member.name}",
        )
    ]
    results += source_lines(cfg, path, origin)
    warning = M.check_split_brain(cfg)
    if warning:
        if fed.allow_split_brain:
            detail = f"{warning}; allowed by federation.allow_split_brain = true"
        else:
            detail = (
                f"{warning}; 'oceanfed run' refuses it unless federation.allow_split_brain = true"
            )
        results.append(Result("federation.threshold", "warn", detail))

    def transport() -> str:
        M.transport_key(cfg)
        return (
            f"{cfg.path(cfg.member.transport_key_file)} holds member {cfg.member.name}'s "
            "transport key"
        )

    results.append(_attempt("transport key", transport))
    results.append(_attempt("state_dir", lambda: check_state_dir(
        cfg.path(cfg.member.state_dir), Owner(fed.chain, cfg.member.name))))

    def node() -> str:
        client = from_config(cfg.node, cfg.base_dir, cfg.federation.chain)
        try:
            info = client.call("getblockchaininfo")
            chain = info.get("chain") if isinstance(info, dict) else None
            if chain is not None and chain != fed.chain:
                raise OceanfedError(
                    f"node at {cfg.node.url} serves chain {chain!r}, but federation.chain is "
                    f"{fed.chain!r}"
                )
            height = M.check_chain(cfg, client)
        finally:
            client.close()
        return (
            f"{cfg.node.url}: RPC auth ok, chain {fed.chain}, height {height}, "
            f"signblockscript matches {fed.threshold}-of-{len(fed.members)}"
        )

    results.append(_attempt("node", node))
    context = M.plugin_context(cfg)

    def signer() -> str:
        s = load_signer(cfg.signer, context, source=str(path))
        try:
            if s.pubkey() != context.me.pubkey:
                raise OceanfedError(
                    f"signer.driver {cfg.signer.driver!r}: its key {s.pubkey().hex()} is not "
                    f"member {cfg.member.name}'s pubkey {context.me.pubkey.hex()}"
                )
            detail = s.check()
        finally:
            s.close()
        return f"{cfg.signer.driver}: {detail}; pubkey matches member {cfg.member.name}"

    results.append(_attempt("signer", signer, timeout, "its token or HSM"))

    def messenger() -> str | tuple[str, str]:
        m = load_messenger(cfg.messenger, context, source=str(path))
        try:
            detail = f"{cfg.messenger.driver}: {m.check()}"
            warning = m.check_warning()
        finally:
            m.close()
        return ("warn", f"{detail}; {warning}") if warning else detail

    results.append(_attempt("messenger", messenger, timeout, "a broker or the network"))
    results += _plugin_checks(cfg, context)

    if cfg.metrics.listen:
        results.append(_attempt("metrics.listen", lambda: _check_listen(cfg.metrics.listen or "")))
    return results


def check_state_dir(directory: Path, owner: Owner) -> str | tuple[str, str]:
    """Can ``run`` use ``directory``: there or creatable, ours, writable, its state readable."""
    if not directory.exists():
        parent = directory.parent
        while not parent.exists():
            parent = parent.parent
        if not os.access(parent, os.W_OK | os.X_OK):
            raise OceanfedError(f"member.state_dir: {directory} does not exist and cannot be "
                                f"created ({parent} is not writable)")
        return "warn", (f"{directory} does not exist: 'oceanfed run' creates it on a first start; "
                        "if this member ran before, its sign-state is lost: see 'oceanfed state reset'")
    if not directory.is_dir():
        raise OceanfedError(f"member.state_dir: {directory} is not a directory")
    for path in [directory, *(p for p in directory.iterdir() if not p.name.startswith("."))]:
        uid = path.stat().st_uid
        if uid != os.geteuid():
            raise OceanfedError(
                f"member.state_dir: {path} is owned by uid {uid}, not by this user (uid "
                f"{os.geteuid()}); chown it to the user that runs the member"
            )
    if not _writable(directory):
        raise OceanfedError(f"member.state_dir: {directory} is not writable by this user")
    stored = inspect_state(directory, owner)
    if stored is None:
        return f"{directory} is usable; no member ran here yet (a first start)"
    ss = (stored.record or {}).get("sign_state") or {}
    if ss.get("height", -1) >= 0 and not ss.get("block_hash"):
        return f"{directory}: sign-state readable; signs only above height {ss['height']} (reset)"
    return f"{directory}: sign-state readable, height {ss.get('height')}"


def _writable(directory: Path) -> bool:
    """Whether a file can be made in ``directory`` (a real try: permissions, read-only mounts)."""
    if not os.access(directory, os.W_OK | os.X_OK):
        return False
    try:
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".check-"):
            return True
    except OSError:
        return False


def _plugin_checks(cfg: FedConfig, context: Any) -> list[Result]:
    """The hooks plugins' own checks (``oceanfed_check_config``) of the tables they read."""
    from oceanfed.plugins import check_tables, hook_manager

    try:
        pm = hook_manager()
        check_tables(cfg, pm)
    except OceanfedError as exc:
        return [Result("plugins", "failed", str(exc))]
    results = []
    plugins = pm.list_name_plugin()
    for name, plugin in plugins:
        # one plugin at a time, so one plugin's exception does not hide the others' lines
        only = pm.subset_hook_caller("oceanfed_check_config", [p for _, p in plugins if p is not plugin])
        try:
            answers = only(config=cfg, context=context)
        except OceanfedError as exc:
            results.append(Result(name, "failed", str(exc)))
            continue
        except Exception as exc:  # a plugin's own bug is a failed line, not a traceback
            results.append(Result(name, "failed", f"{type(exc).__name__}: {exc}"))
            continue
        for lines in answers:
            results += [Result(n, st if st in ("ok", "warn") else "failed", d) for n, st, d in lines or []]
    return results


def _check_listen(listen: str) -> tuple[str, str]:
    from oceanfed.metrics import parse_listen

    host, port = parse_listen(listen)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise OceanfedError(f"cannot resolve {host!r} ({exc.strerror})") from None
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        try:
            s.bind(addr)
        except OSError as exc:
            return "warn", (
                f"{listen} cannot be bound now ({exc.strerror}); "
                "fine if this member is already running"
            )
    return "ok", f"{listen} is free to serve /metrics and /health"


def run(args: argparse.Namespace) -> int:
    path = config_path(args)
    results = run_checks(Path(path), (config_source(args) or (path, "--config"))[1], args.timeout)
    if args.json:
        print(json.dumps([r.__dict__ for r in results], indent=2))
    else:
        for r in results:
            print(r.line())
    failed = sum(r.status == "failed" for r in results)
    checks = sum(r.status != "info" for r in results)
    warned = sum(r.status == "warn" for r in results)
    if not args.json:
        tail = f" ({warned} warning{'s' * (warned != 1)})" if warned else ""
        print((f"{failed} of {checks} checks failed" if failed else "all checks passed") + tail)
    return 1 if failed else 0
