"""The driver interfaces that plugin distributions implement.

A plugin is a class registered under an entry point group and named in the TOML:

* ``oceanfed.messengers``: a :class:`Messenger` subclass, chosen by ``[messenger] driver``;
* ``oceanfed.signers``: a :class:`Signer` subclass, chosen by ``[signer] driver``.

The class is built as ``Cls(options, context)``. ``options`` is the plugin's own TOML table
(minus ``driver``) validated by the class's :attr:`Options` model (pydantic), so that errors
name the field, e.g. ``messenger.bind: expected a tcp:// address``. ``context`` carries what
the plugin may need from the federation (see :class:`PluginContext`).
"""

from __future__ import annotations

import abc
import argparse
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict


class PluginOptions(BaseModel):
    """Base for plugin option models: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class MemberInfo:
    """One federation member as the config lists it (index = position in the script)."""

    index: int
    name: str
    pubkey: bytes
    transport_pubkey: bytes


@dataclass
class PluginContext:
    """What the core hands a plugin at construction."""

    #: this member's index in :attr:`members`
    member_index: int
    members: list[MemberInfo]
    threshold: int
    #: chain name, e.g. ``ocean_test``
    chain: str
    #: directory of the config file: relative paths in options resolve against it
    base_dir: str = "."
    #: factory for a JSON-RPC client to this member's node (signers like ``node`` use it)
    node_client: Callable[[], Any] | None = None
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("oceanfed"))

    @property
    def me(self) -> MemberInfo:
        return self.members[self.member_index]


@dataclass(frozen=True)
class SignRequest:
    """What a signer is asked to sign: one block header.

    ``digest`` is the raw double-SHA256 of ``preimage`` (the header without its solution),
    in internal byte order: what ECDSA signs. ``block_hex`` is the whole unsigned block, for
    signers that delegate to a node (``signblock``).
    """

    height: int
    digest: bytes
    preimage: bytes
    block_hex: str


class Signer(abc.ABC):
    """Produces block signatures with this member's key.

    Example::

        class MySigner(Signer):
            Options = MyOptions
            def __init__(self, options, context): ...
            def pubkey(self) -> bytes: return self._pub
            def sign(self, request: SignRequest) -> bytes:
                return my_hsm.sign(request.digest)   # DER, any S

    The core normalises to low S and verifies the result against :meth:`pubkey` before it
    is used; a wrong signature is an error, never sent.
    """

    Options: ClassVar[type[PluginOptions]] = PluginOptions
    #: Whether :meth:`sign` may block (an HSM, a node, a remote service). A signer whose
    #: key is in this process and that signs in microseconds sets it to False: the driver
    #: then signs on its loop, without handing each signature to its signing thread.
    blocking: ClassVar[bool] = True

    def __init__(self, options: PluginOptions, context: PluginContext):
        self.options = options
        self.context = context

    @abc.abstractmethod
    def pubkey(self) -> bytes:
        """The 33-byte compressed public key this signer signs with."""

    @abc.abstractmethod
    def sign(self, request: SignRequest) -> bytes:
        """Return a DER ECDSA signature over ``request.digest``. May block (an HSM)."""

    def check(self) -> str:
        """A one-line description for ``oceanfed check``; raise SignerError if unusable."""
        return f"{type(self).__name__} pubkey {self.pubkey().hex()}"

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release sessions and handles."""


class Deliver(Protocol):
    """Called by a messenger, from any thread, with each raw message it receives.

    ``peer`` names the member whose connection carried the frame when the transport can
    tell (e.g. one socket per peer); the core then budgets its inbox per peer. Leave it
    None otherwise. Never raises for a bad frame, and never blocks for long.
    """

    def __call__(self, data: bytes, peer: str | None = None) -> None: ...


class Messenger(abc.ABC):
    """Moves opaque, already-authenticated envelopes between members.

    The core encodes and signs every message (see :mod:`oceanfed.wire`); a messenger only
    broadcasts bytes and hands received bytes to ``deliver``. Delivery is best effort:
    the core re-sends what matters, so a messenger may drop during an outage.

    Example::

        class LoopMessenger(Messenger):
            def start(self, deliver): self._deliver = deliver
            def broadcast(self, data): self._deliver(data)  # echo, for tests
            def close(self): pass
    """

    Options: ClassVar[type[PluginOptions]] = PluginOptions
    #: keys of :meth:`stats` that are current values (connections up, queue length),
    #: exported as gauges ``oceanfed_messenger_<key>``; every other key is a counter
    #: that only grows, exported as ``oceanfed_messenger_<key>_total``
    GAUGES: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, options: PluginOptions, context: PluginContext):
        self.options = options
        self.context = context

    @abc.abstractmethod
    def start(self, deliver: Deliver) -> None:
        """Open sockets/connections and start delivering received messages."""

    @abc.abstractmethod
    def broadcast(self, data: bytes) -> None:
        """Send ``data`` to every other member. Must not block for long."""

    def start_polled(self, deliver: Deliver) -> bool:
        """Optional: open without a receiving thread, for the caller's thread to receive on.

        The default returns False: the caller then calls :meth:`start`. A messenger that
        returns True is open, and the thread that called this (the driver's loop) waits until
        one of :meth:`poll_fds` is readable or the pause :meth:`pump` returned has passed,
        then calls :meth:`pump`, which hands what arrived to ``deliver`` (the same contract as
        for :meth:`start`): one thread hand-off less per frame.
        """
        return False

    def poll_fds(self) -> tuple[int, ...]:
        """File descriptors that turn readable when :meth:`pump` has work (a messenger
        started with :meth:`start_polled`); after a :meth:`pump` that changed them, a new
        tuple (the same object while they stay the same)."""
        return ()

    def pump(self, ready: Collection[int] = ()) -> float:
        """Do without blocking what is ready (receive, handle connection events, timers), on
        the thread that called :meth:`start_polled`; ``ready`` are the fds of
        :meth:`poll_fds` found readable since the last call (it is called with none before
        the caller waits: work may be ready without a readable fd). Returns the seconds
        until it must be called again even if no fd turns readable."""
        return 3600.0

    def pump_due(self) -> float:
        """Seconds until :meth:`pump` must be called even with no fd ready (0.0: now); a
        cheap look that lets the caller skip a pump with nothing to do before it waits.
        The default says now, always."""
        return 0.0

    def check(self) -> str:
        """A one-line description for ``oceanfed check``; raise MessengerError if unusable."""
        return type(self).__name__

    def check_warning(self) -> str | None:
        """A weakness ``oceanfed check`` warns about (e.g. no encryption), or None."""
        return None

    def stats(self) -> dict[str, int]:
        """Counters such as ``reconnects`` (and the gauges named in :attr:`GAUGES`), exported
        as metrics; keys are lower-case ``[a-z][a-z0-9_]*``."""
        return {}

    def outage(self) -> float | None:
        """Seconds this messenger has been cut off from its transport (its brokers, or every
        peer connection), ``0.0`` while connected, or None if it cannot tell.

        ``/health`` turns 503 once an outage outlasts ``[metrics] unhealthy_after``. For a
        messenger that cannot tell, silence from every peer stands in for an outage.
        Called from the metrics thread. Example::

            def outage(self):
                since = self._lost_at  # time.monotonic() when the link went down, or None
                return 0.0 if since is None else time.monotonic() - since
        """
        return None

    def reachable_peers(self) -> set[str] | None:
        """Names of the peers this messenger has a working link to now, or None if the
        transport cannot tell per peer (``/health`` then judges peers by their messages).
        Called from the metrics thread."""
        return None

    @abc.abstractmethod
    def close(self) -> None:
        """Stop threads and close sockets."""


# ------------------------------------------------------------ asked of plugins through hooks


@dataclass(frozen=True)
class UpstreamHsm:
    """An upstream member's ``--hsm`` settings, as ``oceanfed migrate`` read its environment.

    Upstream took the first initialised token of the PKCS#11 library ``$PKCS11_LIB`` and the
    key labelled ``$KEY_LABEL`` followed by the member's ``--id`` (else ``$KEY_LABEL`` alone),
    logging in with the PIN in ``$USER_PIN`` when it was set. Asked of signer plugins through
    ``oceanfed_upstream_hsm_key``; errors name these variables.
    """

    #: the environment variables upstream read
    LIBRARY_VAR: ClassVar[str] = "PKCS11_LIB"
    KEY_LABEL_VAR: ClassVar[str] = "KEY_LABEL"
    PIN_VAR: ClassVar[str] = "USER_PIN"

    member_id: int
    library: str
    key_label: str
    #: the PIN itself, to log in now; None when the variable is unset. Never printed.
    pin: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class HsmSignerTable:
    """A signer plugin's answer to :class:`UpstreamHsm`: the key found, and the ``[signer]``
    table that signs with it (the PIN stays in its variable, never in the table)."""

    #: the key's 33-byte compressed public key
    pubkey: bytes
    #: the ``[signer] driver`` to write
    driver: str
    #: the table's other rows, ``(key, value, why)``; ``why`` is written as a comment
    rows: tuple[tuple[str, Any, str], ...]
    #: one line for the migration report (the core adds the public key), e.g.
    #: ``pkcs11: /usr/lib/softhsm/libsofthsm2.so, token 'fed', key 'block0'``
    summary: str
    #: warnings for the report (e.g. which of several tokens was taken)
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class InitMessenger:
    """What ``oceanfed init`` knows when it asks messenger plugins for their key material
    (``oceanfed_init_messenger``)."""

    #: the ``[messenger] driver`` being written; answer only for your own
    driver: str
    #: every member's name, in signblockscript order
    members: tuple[str, ...]
    #: this member's name
    me: str
    #: the directory of the file being written (relative paths resolve against it)
    base_dir: Path
    #: init's command-line flags (e.g. ``curve_key``, ``curve_key_file``, ``curve``)
    flags: argparse.Namespace
    #: ``ask(flag, prompt)``: asks on a terminal; ConfigError naming ``flag`` otherwise
    ask: Callable[[str, str], str]
    #: whether ``ask`` can ask (stdin is a terminal)
    interactive: bool


@dataclass(frozen=True)
class InitMessengerAnswer:
    """A messenger plugin's answer to :class:`InitMessenger`."""

    #: keys added to the ``[messenger]`` table, e.g. ``{"curve_secret_key_file": "curve.key"}``
    options: dict[str, Any] = field(default_factory=dict)
    #: secret files to create (mode 0600) once the config is validated: ``{path: content}``
    new_secret_files: dict[Path, str] = field(default_factory=dict, repr=False)
    #: lines printed after the files are written (e.g. a public key to hand the others)
    messages: tuple[str, ...] = ()
