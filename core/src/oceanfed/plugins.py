"""Finding and building plugins: messengers, signers, hooks and commands, through entry points.

Every entry point is loaded by :func:`load`, whose errors are one line naming the setting
and listing what is installed. ``[messenger] driver = "zmq"`` names an entry point of group
``oceanfed.messengers``; the rest of the table is validated by that class's ``Options``
model, and errors name the field, e.g. ``messenger.bind: expected tcp://HOST:PORT``.
"""

from __future__ import annotations

import logging
import warnings
from importlib.metadata import entry_points
from typing import Any

import pluggy
from pydantic import ValidationError

from oceanfed import hookspecs
from oceanfed.config import PluginTable, format_validation_error
from oceanfed.errors import ConfigError
from oceanfed.interfaces import Messenger, PluginContext, PluginOptions, Signer

MESSENGERS = "oceanfed.messengers"
SIGNERS = "oceanfed.signers"
HOOKS = "oceanfed.hooks"
COMMANDS = "oceanfed.commands"

#: how errors name each core group's setting and kind of plugin: ``{group: (field, kind)}``
_NAMES = {
    MESSENGERS: ("messenger.driver", "messenger"),
    SIGNERS: ("signer.driver", "signer"),
    HOOKS: ("hooks", "hooks plugin"),
    COMMANDS: ("commands", "command"),
}

def installed(group: str) -> list[tuple[str, str, str]]:
    """``(name, distribution, version)`` of each entry point in ``group``, sorted by name."""
    seen: set[tuple[str, str, str]] = set()
    for ep in entry_points(group=group):
        dist = ep.dist
        seen.add((ep.name, dist.name if dist else "?", dist.version if dist else "?"))
    return sorted(seen)


def groups() -> list[str]:
    """Every installed entry point group of oceanfed (``oceanfed.*``), sorted."""
    return sorted(g for g in entry_points().groups if g.startswith("oceanfed."))


def load(
    group: str, name: str, base: type[Any] | None = None, *, field: str = "", kind: str = ""
) -> Any:
    """The object that entry point ``name`` of ``group`` names, a subclass of ``base`` if given.

    ConfigError, one line starting with ``field`` (e.g. ``signer.driver``), when no
    distribution or several provide ``name`` (listing the installed names), when it cannot be
    imported, or when it is not a ``base`` class.
    """
    default_field, default_kind = _NAMES.get(group, (group, group.rpartition(".")[2]))
    field, kind = field or default_field, kind or default_kind
    found = {ep.value: ep for ep in entry_points(group=group, name=name)}
    if not found:
        names = ", ".join(n for n, _, _ in installed(group)) or "none"
        raise ConfigError(f"{field}: unknown {kind} {name!r} (installed: {names})")
    if len(found) > 1:
        raise ConfigError(f"{field}: several installed distributions provide {kind} {name!r}")
    ep = next(iter(found.values()))
    try:
        obj = ep.load()
    except Exception as exc:
        raise ConfigError(
            f"{field}: {kind} {name!r} is installed but cannot be loaded "
            f"({ep.value}: {type(exc).__name__}: {exc})"
        ) from None
    if base is not None and not (isinstance(obj, type) and issubclass(obj, base)):
        raise ConfigError(f"{field}: {kind} {name!r} does not provide a {base.__name__} class")
    return obj


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
    cls: type[Messenger] = load(MESSENGERS, table.driver, Messenger)
    return cls(validate_options(cls, table, "messenger", source), context)


def load_signer(table: PluginTable, context: PluginContext, *, source: str = "") -> Signer:
    """Build the signer named by ``table.driver`` with its validated options."""
    cls: type[Signer] = load(SIGNERS, table.driver, Signer)
    return cls(validate_options(cls, table, "signer", source), context)


class HookManager(pluggy.PluginManager):
    """pluggy's manager, accepting the hook names of oceanfed 0.1 with a DeprecationWarning."""

    def parse_hookimpl_opts(self, plugin: Any, name: str) -> Any:
        opts = super().parse_hookimpl_opts(plugin, name)
        if opts is not None and name in hookspecs.DEPRECATED_NAMES and not opts.get("specname"):
            who = getattr(plugin, "__name__", type(plugin).__name__)
            message = (f"{who}: hook {name!r} is deprecated and will stop working in the next "
                       f"release; name it {hookspecs.PREFIX + name!r}")
            warnings.warn(message, DeprecationWarning, stacklevel=2)
            logging.getLogger("oceanfed").warning("%s", message)  # operators see it too
            opts = {**opts, "specname": hookspecs.PREFIX + name}
        return opts


def check_hooks(pm: pluggy.PluginManager) -> None:
    """pluggy's ``check_pending``, as one ConfigError line naming the plugin and the hook,
    when a plugin implements a hook that does not exist (misspelt, or from a newer oceanfed):
    such a hook would otherwise never run."""
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        hooks = {n: getattr(pm.hook, n) for n in vars(pm.hook) if not n.startswith("_")}
        unknown = sorted(
            n for n, caller in hooks.items() if not caller.has_spec()
            for impl in caller.get_hookimpls() if impl.plugin is exc.plugin
        )
        known = ", ".join(sorted(n for n, caller in hooks.items() if caller.has_spec()))
        raise ConfigError(
            f"hooks plugin {pm.get_name(exc.plugin)!r}: {', '.join(map(repr, unknown))} is not "
            f"an oceanfed hook (misspelt? known hooks: {known})"
        ) from None


def hook_manager(*, load_installed: bool = True) -> HookManager:
    """A manager with oceanfed's hook specs and every installed ``oceanfed.hooks`` plugin,
    each checked against the specs (:func:`check_hooks`).

    A hooks entry point names a module, an object, or a class built without arguments.
    """
    pm = HookManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    if not load_installed:
        return pm
    for name, _, _ in installed(HOOKS):
        plugin = load(HOOKS, name)
        if isinstance(plugin, type):
            try:
                plugin = plugin()
            except Exception as exc:
                raise ConfigError(
                    f"hooks: hooks plugin {name!r} cannot be built ({type(exc).__name__}: {exc})"
                ) from None
        try:
            pm.register(plugin, name=name)
        except pluggy.PluginValidationError as exc:
            raise ConfigError(f"hooks: hooks plugin {name!r}: {exc}") from None
    pm.hook.oceanfed_add_hookspecs(pluginmanager=pm)
    check_hooks(pm)
    return pm


def check_tables(config: Any, pm: pluggy.PluginManager) -> None:
    """ConfigError when the config has a table (e.g. ``[audit]``) that no installed plugin
    declares in ``oceanfed_config_tables``: a member must not run as if it were absent."""
    declared = declared_tables(pm)
    for table in config.plugin_tables:
        if table not in declared:
            plugins = ", ".join(n for n, _ in pm.list_name_plugin()) or "none"
            raise ConfigError(
                f"{table}: no installed plugin reads a [{table}] table (hooks plugins "
                f"installed: {plugins}); install the plugin it belongs to, or remove the table"
            )


def declared_tables(pm: pluggy.PluginManager) -> dict[str, str]:
    """The fed.toml tables that the registered plugins read: ``{name: description}``."""
    out: dict[str, str] = {}
    for answer in pm.hook.oceanfed_config_tables():
        out.update(answer or {})
    return out
