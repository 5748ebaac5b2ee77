"""The PKCS#11 signer flow, written once for both bindings.

At start: load the library, find the token (label or slot), check the mechanism, log in,
find the private key by label (and id), read CKA_EC_POINT and refuse to start unless it
is this member's key in the signblockscript. Per signature: sign under the library lock
on the kept session; if the session or token was lost, reopen once (looking for a token
that is not ready again, as at start) and retry; turn r||s into strict low-S DER and
verify it before returning it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, ClassVar, cast

from oceanfed.errors import SignerError
from oceanfed.interfaces import PluginContext, PluginOptions, Signer, SignRequest
from oceanfed_pkcs11.options import Pkcs11Options, read_pin
from oceanfed_pkcs11.p11 import (
    CKM_ECDSA,
    CKM_ECDSA_SHA256,
    MECHANISM_NAMES,
    Binding,
    LibraryLoadError,
    P11Failure,
    SlotInfo,
    library_lock,
)
from oceanfed_pkcs11.signature import SignatureFinisher, mechanism_input
from oceanfed_pkcs11.token import (
    find_private_key,
    find_slot,
    open_user_session,
    read_public_key,
    when_ready,
)

_WANTED = {
    "ecdsa": [CKM_ECDSA],
    "ecdsa-sha256": [CKM_ECDSA_SHA256],
    "auto": [CKM_ECDSA, CKM_ECDSA_SHA256],
}


def load_binding(
    binding_class: type[Binding], library: str, field: str = "signer.library"
) -> Binding:
    """Load ``library`` through a binding; a wrong path is a one-line error."""
    if not os.path.isfile(library):
        raise SignerError(
            f"{field}: {library}: no such file (expected the PKCS#11 module, e.g. libsofthsm2.so)"
        )
    try:
        return binding_class(library)
    except LibraryLoadError as exc:
        raise SignerError(f"{field}: cannot load {library} as a PKCS#11 module ({exc})") from None


def choose_mechanism(binding: Binding, info: SlotInfo, wanted: str) -> int:
    """The CKM number to sign with, checked against what the token offers."""
    try:
        offered = binding.mechanisms(info.slot_id)
    except P11Failure as exc:
        raise SignerError(f"token {info.token_label!r}: cannot list mechanisms ({exc})") from None
    for mech in _WANTED[wanted]:
        if mech in offered:
            return mech
    names = " or ".join(MECHANISM_NAMES[m] for m in _WANTED[wanted])
    has = (
        ", ".join(MECHANISM_NAMES[m] for m in MECHANISM_NAMES if m in offered)
        or "no ECDSA mechanism"
    )
    raise SignerError(
        f"signer.mechanism: token {info.token_label!r} does not offer {names} (it offers {has})"
    )


class TokenSigner(Signer):
    """A :class:`~oceanfed.interfaces.Signer` on a PKCS#11 token; subclasses pick the binding."""

    Options: ClassVar[type[PluginOptions]] = Pkcs11Options
    binding_class: ClassVar[type[Binding]]
    driver: ClassVar[str] = ""

    def __init__(self, options: PluginOptions, context: PluginContext):
        super().__init__(options, context)
        opts = cast(Pkcs11Options, options)
        self._opts = opts
        library = Path(os.path.expanduser(opts.library))
        if not library.is_absolute():
            library = Path(context.base_dir) / library
        self._library = str(library)
        self._pin = read_pin(opts.pin_env, opts.pin_file, context.base_dir)
        self._lock = library_lock(self._library)
        self._session: Any = None
        self._key: Any = None
        self._pub = b""
        token = opts.token_label if opts.token_label is not None else f"slot {opts.slot}"
        self._where = f"signer {self.driver}: token {token!r} key {opts.key_label!r}"
        with self._lock:
            self._binding = load_binding(self.binding_class, self._library)
            self._open()
        me = context.me
        if self._pub != me.pubkey:
            self.close()
            raise SignerError(
                f"signer.key_label: key {opts.key_label!r} on token {self._info.token_label!r} has public key "
                f"{self._pub.hex()}, but member {me.name!r} is {me.pubkey.hex()} in the signblockscript; "
                "refusing to start"
            )
        self._started_pub = self._pub
        #: r||s to strict low-S DER, verified against the key (parsed once, here)
        self._finish = SignatureFinisher(self._pub)
        context.logger.info(
            "%s signer ready: token %r (slot %d), key %r, %s, pubkey %s",
            self.driver,
            self._info.token_label,
            self._info.slot_id,
            opts.key_label,
            MECHANISM_NAMES[self._mechanism],
            self._pub.hex(),
        )

    def _open(self) -> None:
        """:meth:`_connect`, tried again while the token is not ready
        (:func:`~oceanfed_pkcs11.token.when_ready`: a member started beside another on the
        same SoftHSM2 token missed it), at start and when a lost session is reopened."""
        when_ready(
            self._binding, self._connect,
            lambda line: self.context.logger.info("%s: %s", self._where, line),
        )

    def _connect(self) -> None:
        """Find the token, open and log in a session, find the key; lock held."""
        opts = self._opts
        self._info = find_slot(self._binding, opts.token_label, opts.slot)
        self._mechanism = choose_mechanism(self._binding, self._info, opts.mechanism)
        session = open_user_session(self._binding, self._info, self._pin.reveal())
        try:
            key = find_private_key(
                self._binding, session, self._info, opts.key_label, opts.key_id_bytes
            )
            pub = read_public_key(
                self._binding, session, self._info, opts.key_label, opts.key_id_bytes, key
            )
        except (SignerError, P11Failure):
            self._binding.close_session(session)
            raise
        self._session, self._key, self._pub = session, key, pub

    def _reconnect(self, lost: P11Failure) -> None:
        if self._session is not None:
            self._binding.close_session(self._session)
            self._session = None
        if lost.code == "CKR_CRYPTOKI_NOT_INITIALIZED":
            self._binding.reinitialize()
        self._open()
        if self._pub != self._started_pub:
            raise SignerError(
                f"{self._where}: after reopening, the key's public key changed to {self._pub.hex()}"
            )

    def pubkey(self) -> bytes:
        return self._pub

    def sign(self, request: SignRequest) -> bytes:
        """Strict low-S DER over ``request.digest``, verified against :meth:`pubkey`."""
        digest = request.digest
        with self._lock:
            if self._mechanism == CKM_ECDSA and len(digest) == 32:
                data = digest  # what mechanism_input gives, without the call
            else:
                data = mechanism_input(self._mechanism, digest, request.preimage)
            try:
                if self._session is None:
                    raise P11Failure("CKR_SESSION_CLOSED", "C_Sign")
                raw = self._binding.sign(self._session, self._key, self._mechanism, data)
            except P11Failure as exc:
                if not exc.session_lost:
                    raise SignerError(f"{self._where}: signing failed ({exc})") from None
                self.context.logger.warning(
                    "%s: session lost (%s); reopening it once", self._where, exc.code
                )
                try:
                    self._reconnect(exc)
                    raw = self._sign_raw(data)
                except (P11Failure, SignerError) as again:
                    raise SignerError(
                        f"{self._where}: session lost ({exc.code}) and the one retry failed: {again}"
                    ) from None
        return self._finish(raw, digest, self._where)

    def _sign_raw(self, data: bytes) -> bytes:
        if self._session is None:
            raise P11Failure("CKR_SESSION_CLOSED", "C_Sign")
        return self._binding.sign(self._session, self._key, self._mechanism, data)

    def check(self) -> str:
        """Sign a fixed test digest end to end; the line says what is in use."""
        digest = hashlib.sha256(hashlib.sha256(b"oceanfed check").digest()).digest()
        self.sign(SignRequest(height=0, digest=digest, preimage=b"oceanfed check", block_hex=""))
        return (
            f"{self.driver} ({self.binding_class.name}): token {self._info.token_label!r} slot "
            f"{self._info.slot_id}, key {self._opts.key_label!r}, {MECHANISM_NAMES[self._mechanism]}, "
            f"pubkey {self._pub.hex()}, test signature verified"
        )

    def close(self) -> None:
        with self._lock:
            if self._session is not None:
                self._binding.close_session(self._session)
                self._session = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._where}>"
