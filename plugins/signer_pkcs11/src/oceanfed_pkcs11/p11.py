"""The binding-neutral view of a PKCS#11 library that both signer drivers share.

Each binding (python-pkcs11, PyKCS11) implements :class:`Binding`; everything above it —
token lookup, key lookup, the signing flow, locking and retries — is written once, on
plain PKCS#11 numbers (``CKA_*``, ``CKM_*``, ``CKR_*`` names).

Thread safety: both bindings call ``C_Initialize(NULL)``, which tells the library that the
application will not call it from several threads at once. SoftHSM2 2.6.1 then turns its
internal mutexes off, and concurrent signing through python-pkcs11 (which releases the
GIL) crashes the process (heap corruption); PyKCS11 holds the GIL during calls, but it
shares the library's global state with python-pkcs11 in the same process. Every call
into a library therefore goes through one process-wide lock per library file
(:func:`library_lock`).
"""

from __future__ import annotations

import abc
import os
import threading
from dataclasses import dataclass
from typing import Any

# PKCS#11 constants (from the specification), used by both bindings.
CKO_PUBLIC_KEY = 0x02
CKO_PRIVATE_KEY = 0x03
CKK_EC = 0x03
CKA_CLASS = 0x00
CKA_TOKEN = 0x01
CKA_PRIVATE = 0x02
CKA_LABEL = 0x03
CKA_KEY_TYPE = 0x100
CKA_ID = 0x102
CKA_SENSITIVE = 0x103
CKA_SIGN = 0x108
CKA_VERIFY = 0x10A
CKA_EXTRACTABLE = 0x162
CKA_VALUE = 0x11
CKA_EC_PARAMS = 0x180
CKA_EC_POINT = 0x181
CKM_EC_KEY_PAIR_GEN = 0x1040
CKM_ECDSA = 0x1041
CKM_ECDSA_SHA256 = 0x1044

MECHANISM_NAMES = {CKM_ECDSA: "CKM_ECDSA", CKM_ECDSA_SHA256: "CKM_ECDSA_SHA256"}

#: DER of the named-curve OID 1.3.132.0.10 (secp256k1), the value of CKA_EC_PARAMS.
SECP256K1_PARAMS = bytes.fromhex("06052b8104000a")

#: Return codes after which the session (or the whole library state) is gone and a fresh
#: session may succeed.
SESSION_LOST = frozenset(
    {
        "CKR_SESSION_HANDLE_INVALID",
        "CKR_SESSION_CLOSED",
        "CKR_DEVICE_REMOVED",
        "CKR_DEVICE_ERROR",
        "CKR_TOKEN_NOT_PRESENT",
        "CKR_TOKEN_NOT_RECOGNIZED",
        "CKR_CRYPTOKI_NOT_INITIALIZED",
        "CKR_USER_NOT_LOGGED_IN",
        "CKR_OBJECT_HANDLE_INVALID",
        "CKR_KEY_HANDLE_INVALID",
    }
)
PIN_REJECTED = frozenset(
    {
        "CKR_PIN_INCORRECT",
        "CKR_PIN_INVALID",
        "CKR_PIN_LEN_RANGE",
        "CKR_PIN_EXPIRED",
        "CKR_PIN_LOCKED",
    }
)


class P11Failure(Exception):
    """A PKCS#11 call failed; ``code`` is the ``CKR_*`` name (no secrets in it)."""

    def __init__(self, code: str, call: str = ""):
        super().__init__(f"{call} failed: {code}" if call else code)
        self.code = code
        self.call = call

    @property
    def session_lost(self) -> bool:
        return self.code in SESSION_LOST


class LibraryLoadError(Exception):
    """The library file could not be loaded as a PKCS#11 module."""


@dataclass(frozen=True)
class SlotInfo:
    slot_id: int
    token_label: str
    initialized: bool
    user_pin_initialized: bool


class Binding(abc.ABC):
    """One loaded PKCS#11 library, seen through one Python binding.

    Sessions and objects are opaque values owned by the binding. Callers hold
    :func:`library_lock` around every call.
    """

    name: str = ""

    def __init__(self, library: str):
        self.library = library

    @abc.abstractmethod
    def slots(self) -> list[SlotInfo]:
        """Slots that hold a token (initialised or not)."""

    @abc.abstractmethod
    def mechanisms(self, slot_id: int) -> set[int]:
        """The ``CKM_*`` numbers the token in ``slot_id`` offers."""

    @abc.abstractmethod
    def open_session(self, slot_id: int, pin: str | None, rw: bool = False) -> Any:
        """Open a session and log the user in (already logged in is fine)."""

    @abc.abstractmethod
    def close_session(self, session: Any) -> None:
        """Close a session; errors are ignored (it may already be gone)."""

    @abc.abstractmethod
    def find(self, session: Any, template: dict[int, Any]) -> list[Any]:
        """Objects matching ``template`` (CKA number -> value)."""

    @abc.abstractmethod
    def attribute(self, session: Any, obj: Any, cka: int) -> bytes | None:
        """A byte-valued attribute, or None when the object has none."""

    @abc.abstractmethod
    def sign(self, session: Any, key: Any, mechanism: int, data: bytes) -> bytes:
        """C_SignInit + C_Sign."""

    @abc.abstractmethod
    def create(self, session: Any, template: dict[int, Any]) -> Any:
        """C_CreateObject."""

    @abc.abstractmethod
    def generate_ec_keypair(
        self, session: Any, public: dict[int, Any], private: dict[int, Any]
    ) -> tuple[Any, Any]:
        """C_GenerateKeyPair with CKM_EC_KEY_PAIR_GEN; returns ``(public, private)``."""

    @abc.abstractmethod
    def destroy(self, session: Any, obj: Any) -> None:
        """C_DestroyObject."""

    @abc.abstractmethod
    def reinitialize(self) -> None:
        """C_Finalize then C_Initialize: recover from a library that lost its state."""


_locks: dict[str, threading.RLock] = {}
_locks_guard = threading.Lock()


def library_lock(library: str) -> threading.RLock:
    """The process-wide lock that serialises every call into ``library``."""
    key = os.path.realpath(library)
    with _locks_guard:
        lock = _locks.get(key)
        if lock is None:
            lock = _locks[key] = threading.RLock()
        return lock
