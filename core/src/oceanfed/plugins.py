"""Finding and building plugins: messengers, signers and hooks, through entry points.

``[messenger] driver = "zmq"`` names an entry point of group ``oceanfed.messengers``; the
rest of the table is validated by that class's ``Options`` model, and errors name the
field, e.g. ``messenger.bind: expected tcp://HOST:PORT``.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

import pluggy
from pydantic import ValidationError
from stevedore import DriverManager
from stevedore.exception import MultipleMatches, NoMatches

from oceanfed import hookspecs
from oceanfed.config import PluginTable, format_validation_error
from oceanfed.errors import ConfigError
from oceanfed.interfaces import Messenger, PluginContext, PluginOptions, Signer

MESSENGERS = "oceanfed.messengers"
SIGNERS = "oceanfed.signers"
INFLATION = "oceanfed.inflation"
HOOKS = "oceanfed.hooks"
COMMANDS = "oceanfed.commands"


def installed(group: str) -> list[tuple[str, str, str]]:
    """``(name, distribution, version)`` of each entry point in ``group``, sorted by name."""
    seen: set[tuple[str, str, str]] = set()
    for ep in entry_points(group=group):
        dist = ep.dist
        seen.add((ep.name, dist.name if dist else "?", dist.version if dist else "?"))
    return sorted(seen)


def _plugin_class(group: str, name: str, kind: str, base: type[Any]) -> type[Any]:
    def failed(_manager: Any, entrypoint: Any, exc: BaseException) -> None:
        raise ConfigError(
            f"{kind}.driver: {kind} {name!r} is installed but cannot be loaded "
            f"({entrypoint.value}: {type(exc).__name__}: {exc})"
        )

    try:
        manager: DriverManager[Any] = DriverManager(
            namespace=group,
            name=name,
            invoke_on_load=False,
            on_load_failure_callback=failed,
            on_missing_entrypoints_callback=lambda _names: None,
        )
    except MultipleMatches:
        raise ConfigError(
            f"{kind}.driver: several installed distributions provide {kind} {name!r}"
        ) from None
    except NoMatches:
        names = ", ".join(n for n, _, _ in installed(group)) or "none"
        raise ConfigError(f"{kind}.driver: unknown {kind} {name!r} (installed: {names})") from None
    cls = manager.driver
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise ConfigError(
            f"{kind}.driver: {kind} {name!r} does not provide a {base.__name__} class"
        )
    return cls


def validate_options(
    cls: type[Messenger] | type[Signer], table: PluginTable, kind: str, source: str = ""
) -> PluginOptions:
    """Check ``table``'s options against ``cls.Options``; ConfigError names the bad field."""
    try:
        return cls.Options.model_validate(table.options())
    except ValidationError as exc:
        line = format_validation_error(source, exc, prefix=f"{kind}.")
        raise ConfigError(line if source else line.removeprefix(": ")) from None


def load_messenger(table: PluginTable, context: PluginContext, *, source: str = "") -> Messenger:
    """Build the messenger named by ``table.driver`` with its validated options.

    ``source`` (a file name) prefixes error messages when given.
    """
    cls: type[Messenger] = _plugin_class(MESSENGERS, table.driver, "messenger", Messenger)
    return cls(validate_options(cls, table, "messenger", source), context)


def load_signer(table: PluginTable, context: PluginContext, *, source: str = "") -> Signer:
    """Build the signer named by ``table.driver`` with its validated options."""
    cls: type[Signer] = _plugin_class(SIGNERS, table.driver, "signer", Signer)
    return cls(validate_options(cls, table, "signer", source), context)


#: tables of the config that a hooks plugin reads, and the plugin that must be installed
TABLE_PLUGINS = {"inflation": ("inflation", "oceanfed[inflation]")}


def require_table_plugins(config: Any, pm: pluggy.PluginManager) -> None:
    """ConfigError when the config has a table (e.g. ``[inflation]``) whose plugin is not
    installed: a member must not run as if the table were absent."""
    for table, (plugin, extra) in TABLE_PLUGINS.items():
        if getattr(config, table, None) is not None and not pm.has_plugin(plugin):
            raise ConfigError(
                f"{table}: the [{table}] table needs the {plugin!r} hooks plugin, which is not "
                f"installed (pip install '{extra}')"
            )


def hook_manager() -> pluggy.PluginManager:
    """A pluggy manager with oceanfed's hook specs and every ``oceanfed.hooks`` plugin."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.load_setuptools_entrypoints(HOOKS)
    return pm
