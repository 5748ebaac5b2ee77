"""pluggy hook specifications: what plugins may observe or decide.

Register a plugin module or object under the entry point group ``oceanfed.hooks``
(``[project.entry-points."oceanfed.hooks"] myplugin = "mypkg.hooks"``); every ``@hookimpl``
function in it is called. All hooks are called by the driver, outside the core state machine,
and must return quickly. Example::

    from oceanfed.hookspecs import hookimpl

    @hookimpl
    def block_submitted(height, block_hash, result):
        print("block", height, block_hash, result)
"""

from __future__ import annotations

from typing import Any

import pluggy

PROJECT = "oceanfed"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def proposal_received(height: int, round: int, proposer: str, block_hash: str) -> None:
    """A proposal arrived (before validation).

    Example::

        @hookimpl
        def proposal_received(height, round, proposer, block_hash):
            log.info("proposal %s at %d/%d from %s", block_hash, height, round, proposer)
    """


@hookspec
def proposal_accepted(height: int, round: int, proposer: str, block_hash: str) -> None:
    """A proposal passed every check and this member prevoted for it.

    Example::

        @hookimpl
        def proposal_accepted(height, round, proposer, block_hash):
            audit.write(f"prevote {block_hash}")
    """


@hookspec
def proposal_rejected(
    height: int, round: int, proposer: str, block_hash: str, reason: str
) -> None:
    """A proposal failed a check; ``reason`` is a short slug such as ``bad-parent``.

    Example::

        @hookimpl
        def proposal_rejected(height, round, proposer, block_hash, reason):
            alerts.send(f"{proposer} proposed a bad block: {reason}")
    """


@hookspec
def validate_proposal(height: int, block_hex: str, extras: dict[str, Any]) -> str | None:
    """Veto a proposal: return a reason string to refuse it, or None to allow.

    Called after the core's own checks and the node's ``testproposedblock`` pass. Every
    implementation is asked; any reason refuses the block. ``extras`` holds what the
    proposer attached (for example reissuance transactions). Example::

        @hookimpl
        def validate_proposal(height, block_hex, extras):
            if len(block_hex) > 2_000_000:
                return "block-too-large"
            return None
    """


@hookspec
def signature_received(height: int, block_hash: str, member: str, valid: bool) -> None:
    """A block signature arrived from ``member``; ``valid`` says whether it verified.

    Example::

        @hookimpl
        def signature_received(height, block_hash, member, valid):
            if not valid:
                log.warning("bad signature from %s", member)
    """


@hookspec
def block_submitted(height: int, block_hash: str, result: str) -> None:
    """This member submitted a completed block; ``result`` is ``accepted`` or the node's reason.

    Example::

        @hookimpl
        def block_submitted(height, block_hash, result):
            metrics.blocks.inc()
    """


@hookspec
def round_timed_out(height: int, round: int, step: str) -> None:
    """A round's ``propose``, ``prevote`` or ``precommit`` timeout fired.

    Example::

        @hookimpl
        def round_timed_out(height, round, step):
            log.warning("height %d round %d: %s timed out", height, round, step)
    """


@hookspec
def member_started(config: Any, context: Any, signer: Any) -> None:
    """Called once when a member starts, before any round.

    ``config`` is the validated :class:`oceanfed.config.FedConfig` (a plugin reads its own
    table, e.g. ``config.inflation``), ``context`` the :class:`oceanfed.interfaces.PluginContext`
    (members, threshold, a node client factory) and ``signer`` this member's block signer.
    Raise :class:`oceanfed.errors.ConfigError` to refuse to start. Example::

        @hookimpl
        def member_started(config, context, signer):
            global node
            node = context.node_client()
    """


@hookspec
def check_config(config: Any, context: Any) -> list[tuple[str, str, str]] | None:
    """``oceanfed check``: this plugin's own checks of its settings, without side effects.

    Return ``(name, status, detail)`` lines, status ``"ok"``, ``"warn"`` or ``"failed"``, or
    None when the plugin is not configured. An exception is reported as one failed line
    named after the plugin. Example::

        @hookimpl
        def check_config(config, context):
            if config.inflation is None:
                return None
            opts = parse_options(config.inflation)  # raises ConfigError naming the field
            return [("inflation", "ok", f"policy {opts.policy}, every {opts.period} blocks")]
    """


@hookspec
def proposal_extras(height: int, block_hex: str) -> dict[str, Any] | None:
    """Proposer only: data to send along with a fresh proposal, keyed by plugin name.

    Every member sees it in ``validate_proposal(extras=…)`` and may refuse the proposal
    over it. Example::

        @hookimpl
        def proposal_extras(height, block_hex):
            if height % 10 == 0:
                return {"inflation": {"txs": build_reissuances(height)}}
            return None
    """


@hookspec
def sign_extras(height: int, block_hash: str, extras: dict[str, Any]) -> dict[str, Any] | None:
    """After a block is decided: this member's signatures over the proposal's extras.

    The result (keyed by plugin name) travels in this member's SIG message with its block
    signature. Example::

        @hookimpl
        def sign_extras(height, block_hash, extras):
            txs = extras.get("inflation", {}).get("txs", [])
            return {"inflation": [sign_tx(tx) for tx in txs]} if txs else None
    """


@hookspec
def block_complete(
    height: int, block_hash: str, extras: dict[str, Any], extra_sigs: dict[str, dict[str, Any]]
) -> None:
    """This member holds M block signatures and is submitting the block.

    ``extra_sigs`` maps each signing member's name to what its ``sign_extras`` returned.
    Several members may do this for one block; acting must be idempotent. Raise
    :class:`oceanfed.errors.FatalError` to stop the member. Example::

        @hookimpl
        def block_complete(height, block_hash, extras, extra_sigs):
            for tx in combine(extras, extra_sigs):
                node.call("sendrawtransaction", tx)
    """
