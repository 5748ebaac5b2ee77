"""pluggy hook specifications: what plugins may observe or decide.

Register a plugin under the entry point group ``oceanfed.hooks``
(``[project.entry-points."oceanfed.hooks"] myplugin = "mypkg.hooks"``): a module, an object,
or a class that is built without arguments. Every ``@hookimpl`` in it is called; its name is
the hook's, with the ``oceanfed_`` prefix. A member refuses to start when a plugin implements
a hook that does not exist (a misspelt name would otherwise never run). Example::

    from oceanfed.hookspecs import hookimpl

    @hookimpl
    def oceanfed_block_submitted(height, block_hash, result):
        print("block", height, block_hash, result)

Threads: the observers (``oceanfed_proposal_received``, ``_accepted``, ``_rejected``,
``oceanfed_signature_received``, ``oceanfed_block_submitted``, ``oceanfed_round_timed_out``)
run on the driver's loop thread and must return at once; ``oceanfed_proposal_extras``,
``oceanfed_validate_proposal`` and ``oceanfed_block_complete`` on the driver's node-call
threads (``rpc-*``, up to four at a time; on the loop when the plugin's ``idle`` is true:
its hooks then do nothing); ``oceanfed_sign_extras`` on its signing thread
(``sign-0``); ``oceanfed_add_hookspecs``, ``oceanfed_config_tables``, ``oceanfed_member_started`` and
``oceanfed_check_config`` on the main thread before the loop starts (or in ``oceanfed check``);
``oceanfed_upstream_hsm_key`` and ``oceanfed_init_messenger`` on the main thread of
``oceanfed migrate`` and ``oceanfed init`` (no member is running).

The unprefixed names of oceanfed 0.1 (``block_submitted`` …) still work for this release,
with a :class:`DeprecationWarning` when the plugin is loaded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from oceanfed.config import FedConfig
    from oceanfed.interfaces import (
        HsmSignerTable,
        InitMessenger,
        InitMessengerAnswer,
        PluginContext,
        Signer,
        UpstreamHsm,
    )

PROJECT = "oceanfed"
#: the prefix of every hook's name
PREFIX = "oceanfed_"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

#: hook names of oceanfed 0.1, accepted (with a DeprecationWarning) for one more release
DEPRECATED_NAMES = (
    "proposal_received", "proposal_accepted", "proposal_rejected", "validate_proposal",
    "signature_received", "block_submitted", "round_timed_out", "member_started",
    "check_config", "proposal_extras", "sign_extras", "block_complete",
)


@hookspec
def oceanfed_add_hookspecs(pluginmanager: pluggy.PluginManager) -> None:
    """Add the hooks this plugin offers to other plugins: ``pluginmanager.add_hookspecs(mod)``.

    Called once, after every plugin is registered and before their hooks are checked
    against the specs, so other plugins may implement the added hooks. Example::

        @hookimpl
        def oceanfed_add_hookspecs(pluginmanager):
            pluginmanager.add_hookspecs(my_hookspecs)
    """


@hookspec
def oceanfed_config_tables() -> dict[str, str] | None:
    """The top-level tables of fed.toml this plugin reads: ``{name: one-line description}``.

    A table no installed plugin declares is an error (a member must not run as if it were
    absent); the plugin checks the table's contents in ``oceanfed_check_config`` and
    ``oceanfed_member_started``. Example::

        @hookimpl
        def oceanfed_config_tables():
            return {"audit": "where the audit plugin writes its log"}
    """


@hookspec
def oceanfed_proposal_received(height: int, round: int, proposer: str, block_hash: str) -> None:
    """A proposal arrived (before validation).

    Example::

        @hookimpl
        def oceanfed_proposal_received(height, round, proposer, block_hash):
            log.info("proposal %s at %d/%d from %s", block_hash, height, round, proposer)
    """


@hookspec
def oceanfed_proposal_accepted(height: int, round: int, proposer: str, block_hash: str) -> None:
    """A proposal passed every check and this member prevoted for it.

    Example::

        @hookimpl
        def oceanfed_proposal_accepted(height, round, proposer, block_hash):
            audit.write(f"prevote {block_hash}")
    """


@hookspec
def oceanfed_proposal_rejected(
    height: int, round: int, proposer: str, block_hash: str, reason: str
) -> None:
    """A proposal failed a check; ``reason`` is a short slug such as ``bad-parent``.

    Example::

        @hookimpl
        def oceanfed_proposal_rejected(height, round, proposer, block_hash, reason):
            alerts.send(f"{proposer} proposed a bad block: {reason}")
    """


@hookspec(firstresult=True)
def oceanfed_validate_proposal(height: int, block_hex: str, extras: dict[str, Any]) -> str | None:
    """Veto a proposal: return a reason string to refuse it, or None to allow.

    Called after the core's own checks and the node's ``testproposedblock`` pass.
    Implementations are asked in turn until one gives a reason (``firstresult``): any reason
    refuses the block. ``extras`` holds what the
    proposer attached (for example reissuance transactions). Example::

        @hookimpl
        def oceanfed_validate_proposal(height, block_hex, extras):
            if len(block_hex) > 2_000_000:
                return "block-too-large"
            return None
    """


@hookspec
def oceanfed_signature_received(height: int, block_hash: str, member: str, valid: bool) -> None:
    """A block signature arrived from ``member``; ``valid`` says whether it verified.

    Example::

        @hookimpl
        def oceanfed_signature_received(height, block_hash, member, valid):
            if not valid:
                log.warning("bad signature from %s", member)
    """


@hookspec
def oceanfed_block_submitted(height: int, block_hash: str, result: str) -> None:
    """This member submitted a completed block; ``result`` is ``accepted`` or the node's reason.

    Example::

        @hookimpl
        def oceanfed_block_submitted(height, block_hash, result):
            metrics.blocks.inc()
    """


@hookspec
def oceanfed_round_timed_out(height: int, round: int, step: str) -> None:
    """A round's ``propose``, ``prevote`` or ``precommit`` timeout fired.

    Example::

        @hookimpl
        def oceanfed_round_timed_out(height, round, step):
            log.warning("height %d round %d: %s timed out", height, round, step)
    """


@hookspec
def oceanfed_member_started(config: FedConfig, context: PluginContext, signer: Signer) -> None:
    """Called once when a member starts, before any round.

    ``config`` is the validated :class:`oceanfed.config.FedConfig` (a plugin reads its own
    table with ``config.table("name")``), ``context`` the :class:`oceanfed.interfaces.PluginContext`
    (members, threshold, a node client factory) and ``signer`` this member's block signer.
    Raise :class:`oceanfed.errors.ConfigError` to refuse to start. Example::

        @hookimpl
        def oceanfed_member_started(config, context, signer):
            global node
            node = context.node_client()
    """


@hookspec
def oceanfed_check_config(
    config: FedConfig, context: PluginContext
) -> list[tuple[str, str, str]] | None:
    """``oceanfed check``: this plugin's own checks of its settings, without side effects.

    Return ``(name, status, detail)`` lines, status ``"ok"``, ``"warn"`` or ``"failed"``, or
    None when the plugin is not configured. An exception is reported as one failed line
    named after the plugin. Example::

        @hookimpl
        def oceanfed_check_config(config, context):
            if config.table("audit") is None:
                return None
            opts = parse_options(config.table("audit"))  # raises ConfigError naming the field
            return [("audit", "ok", f"writing to {opts.path}")]
    """


@hookspec
def oceanfed_proposal_extras(height: int, block_hex: str) -> dict[str, Any] | None:
    """Proposer only: data to send along with a fresh proposal, keyed by plugin name.

    Every member sees it in ``oceanfed_validate_proposal(extras=…)`` and may refuse the proposal
    over it. Example::

        @hookimpl
        def oceanfed_proposal_extras(height, block_hex):
            if height % 10 == 0:
                return {"inflation": {"txs": build_reissuances(height)}}
            return None
    """


@hookspec
def oceanfed_sign_extras(height: int, block_hash: str, extras: dict[str, Any]) -> dict[str, Any] | None:
    """After a block is decided: this member's signatures over the proposal's extras.

    The result (keyed by plugin name) travels in this member's SIG message with its block
    signature. Example::

        @hookimpl
        def oceanfed_sign_extras(height, block_hash, extras):
            txs = extras.get("inflation", {}).get("txs", [])
            return {"inflation": [sign_tx(tx) for tx in txs]} if txs else None
    """


@hookspec
def oceanfed_block_complete(
    height: int, block_hash: str, extras: dict[str, Any], extra_sigs: dict[str, dict[str, Any]]
) -> None:
    """This member holds M block signatures and is submitting the block.

    ``extra_sigs`` maps each signing member's name to what its ``oceanfed_sign_extras`` returned.
    Several members may do this for one block; acting must be idempotent. Raise
    :class:`oceanfed.errors.FatalError` to stop the member. Example::

        @hookimpl
        def oceanfed_block_complete(height, block_hash, extras, extra_sigs):
            for tx in combine(extras, extra_sigs):
                node.call("sendrawtransaction", tx)
    """


@hookspec(firstresult=True)
def oceanfed_upstream_hsm_key(hsm: UpstreamHsm) -> HsmSignerTable | None:
    """``oceanfed migrate`` of an upstream ``--hsm`` member: find its block key on the HSM.

    A signer plugin that can read keys from ``hsm.library`` finds the key upstream signed
    with (see :class:`oceanfed.interfaces.UpstreamHsm`) and answers with its public key and
    the ``[signer]`` table that signs with it; None lets the next plugin answer (the first
    answer wins). Raise :class:`oceanfed.errors.ConfigError` (one line naming the variable,
    e.g. ``KEY_LABEL: no key labelled 'block1'``) when the key is not there. Example::

        @hookimpl
        def oceanfed_upstream_hsm_key(hsm):
            if not is_my_library(hsm.library):
                return None
            pub = my_hsm.public_key(hsm.library, f"{hsm.key_label}{hsm.member_id}", hsm.pin)
            return HsmSignerTable(
                pubkey=pub, driver="myhsm",
                rows=(("key_label", f"{hsm.key_label}{hsm.member_id}", "upstream's key"),
                      ("pin_env", hsm.PIN_VAR, "the PIN stays in this variable")),
                summary=f"myhsm: key {hsm.key_label}{hsm.member_id}",
            )
    """


@hookspec(firstresult=True)
def oceanfed_init_messenger(request: InitMessenger) -> InitMessengerAnswer | None:
    """``oceanfed init``: the ``[messenger]`` options and key material of ``request.driver``.

    The messenger plugin of that driver answers (others return None; the first answer
    wins) with options to add, secret files to create once the config is validated, and
    lines to print. A driver nobody answers for gets no key material. Raise
    :class:`oceanfed.errors.ConfigError` naming the flag for a bad or missing value. Example::

        @hookimpl
        def oceanfed_init_messenger(request):
            if request.driver != "udp":
                return None
            key = Path(request.base_dir, "udp.key")
            new = {} if key.exists() else {key: make_secret()}
            return InitMessengerAnswer(options={"key_file": "udp.key"}, new_secret_files=new)
    """
