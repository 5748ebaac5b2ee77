"""Assemble a running member from a validated config: node, keys, plugins, state, machine."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any

from oceanfed import crypto
from oceanfed.config import FedConfig
from oceanfed.consensus.auth import WireAuthenticator
from oceanfed.consensus.machine import CoreConfig, Machine
from oceanfed.deadline import warn_if_slow
from oceanfed.driver import NODE_BACKOFF, RPC_IN_WARMUP, Driver, warmup_message
from oceanfed.errors import ConfigError, DecodeError, RPCError
from oceanfed.interfaces import MemberInfo, PluginContext
from oceanfed.keyfile import allows_group_readable, read_private_key
from oceanfed.nodechain import genesis_challenge
from oceanfed.plugins import check_tables, hook_manager, load_messenger, load_signer
from oceanfed.rpc import NodeClient, from_config
from oceanfed.statestore import Owner, StateStore

log = logging.getLogger("oceanfed")
#: seconds loading the signer may take before a warning says so (a hung token blocks it)
SLOW_SIGNER_LOAD = 10.0


def members_of(cfg: FedConfig) -> list[MemberInfo]:
    return [
        MemberInfo(i, m.name, bytes.fromhex(m.pubkey), bytes.fromhex(m.transport_pubkey))
        for i, m in enumerate(cfg.federation.members)
    ]


def plugin_context(cfg: FedConfig) -> PluginContext:
    return PluginContext(
        member_index=cfg.member_index,
        members=members_of(cfg),
        threshold=cfg.federation.threshold,
        chain=cfg.federation.chain,
        base_dir=cfg.base_dir,
        node_client=lambda: from_config(cfg.node, cfg.base_dir, cfg.federation.chain),
        logger=logging.getLogger("oceanfed.plugin"),
    )


def check_split_brain(cfg: FedConfig) -> str | None:
    """A warning when two halves of a partition could each complete a block."""
    fed = cfg.federation
    if 2 * fed.threshold <= len(fed.members):
        return (
            f"federation.threshold {fed.threshold} of {len(fed.members)} members is not a majority: "
            "two halves of a partition can each complete a block"
        )
    return None


def transport_key(cfg: FedConfig) -> bytes:
    path = cfg.path(cfg.member.transport_key_file)
    key = read_private_key(
        path, allow_group_readable=allows_group_readable(cfg.member.transport_key_file)
    )
    mine = cfg.federation.members[cfg.member_index].transport_pubkey
    if crypto.pubkey_of(key).hex() != mine:
        raise ConfigError(
            f"member.transport_key_file: {path} does not hold the transport key listed for "
            f"member {cfg.member.name!r} in federation.members"
        )
    return key


def check_chain(cfg: FedConfig, node: NodeClient) -> int:
    """Check that the node's chain is signed by our federation; return its height."""
    try:
        challenge = genesis_challenge(node)
    except DecodeError as exc:
        raise ConfigError(f"node at {cfg.node.url}: cannot read the genesis header ({exc})") from None
    if challenge != cfg.federation.script():
        raise ConfigError(
            f"node at {cfg.node.url}: the chain's signblockscript does not match "
            "federation.threshold and federation.members"
        )
    return int(node.call("getblockcount"))


def wait_while_starting(node: NodeClient, sleep: Callable[[float], None] = time.sleep) -> None:
    """Wait, with backoff, while the node answers that it is still starting (code -28).

    Logged once when the wait begins and once when it ends; any other answer or failure
    returns at once, for the checks that follow to report.
    """
    pause, since = NODE_BACKOFF[0], None
    while True:
        try:
            node.call("getblockcount")
        except RPCError as exc:
            if exc.code != RPC_IN_WARMUP:
                return
            if since is None:
                since = time.monotonic()
                log.warning("node at %s is starting: waiting (%s)", node.url, warmup_message(exc))
            sleep(pause * random.uniform(0.5, 1.0))
            pause = min(NODE_BACKOFF[1], pause * 2)
            continue
        if since is not None:
            log.info("node at %s has started, after %.1fs", node.url, time.monotonic() - since)
        return


def open_state(cfg: FedConfig, first_height: int) -> StateStore:
    """The member's state store, its marker checked (or written on a first start)."""
    owner = Owner(cfg.federation.chain, cfg.member.name)
    return StateStore(cfg.path(cfg.member.state_dir), owner, first_height=first_height)


def core_config(cfg: FedConfig) -> CoreConfig:
    """The machine's settings: the federation's, and every field of ``[rounds]`` as is."""
    return CoreConfig(
        me=cfg.member_index,
        names=[m.name for m in cfg.federation.members],
        threshold=cfg.federation.threshold,
        challenge=cfg.federation.script(),
        block_time=cfg.federation.block_time,
        **cfg.rounds.model_dump(),
    )


def build_driver(cfg: FedConfig, **driver_kwargs: Any) -> Driver:
    """Everything a member needs, checked; raises OceanfedError with one clear line."""
    warning = check_split_brain(cfg)
    if warning and not cfg.federation.allow_split_brain:
        raise ConfigError(f"{warning}; set federation.allow_split_brain = true to run anyway")
    if warning:
        log.warning("%s", warning)
    tkey = transport_key(cfg)
    node = from_config(cfg.node, cfg.base_dir, cfg.federation.chain)
    wait_while_starting(node)
    tip = check_chain(cfg, node)
    context = plugin_context(cfg)
    with warn_if_slow(log, SLOW_SIGNER_LOAD, f"signer: loading driver {cfg.signer.driver!r}"):
        signer = load_signer(cfg.signer, context)
    if signer.pubkey() != context.me.pubkey:
        signer.close()
        raise ConfigError(
            f"signer: its key {signer.pubkey().hex()} is not member {cfg.member.name!r}'s "
            f"pubkey {context.me.pubkey.hex()}"
        )
    try:
        store = open_state(cfg, first_height=tip + 1)
    except BaseException:
        signer.close()
        raise
    try:
        messenger = load_messenger(cfg.messenger, context)
    except Exception:
        store.close()
        signer.close()
        raise
    members = context.members
    auth = WireAuthenticator(
        cfg.federation.chain, cfg.member_index, tkey,
        [m.transport_pubkey for m in members], [m.pubkey for m in members],
    )
    machine = Machine(core_config(cfg), auth, restored=store.load())
    try:
        hooks = hook_manager()
        check_tables(cfg, hooks)
        hooks.hook.oceanfed_member_started(config=cfg, context=context, signer=signer)
    except Exception:
        store.close()
        signer.close()
        messenger.close()
        raise
    driver_kwargs.setdefault("status_path", store.dir / "status.json")
    driver = Driver(
        machine, node=node, signer=signer, messenger=messenger, store=store,
        hooks=hooks, **driver_kwargs,
    )
    driver.signer_stuck_after = cfg.metrics.unhealthy_after
    return driver
