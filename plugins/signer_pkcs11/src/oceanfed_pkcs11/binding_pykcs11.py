"""The :class:`~oceanfed_pkcs11.p11.Binding` on PyKCS11."""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import PyKCS11
from PyKCS11 import LowLevel

from oceanfed_pkcs11.p11 import Binding, LibraryLoadError, P11Failure, SlotInfo

#: Loaded libraries, kept for the life of the process: unloading a PyKCS11Lib calls
#: C_Finalize, which would pull the library from under any other user in the process.
_LIBS: dict[str, PyKCS11.PyKCS11Lib] = {}
_LIBS_GUARD = threading.Lock()

#: Bytes reserved for a signature, so that C_Sign is called once (PyKCS11's Session.sign
#: calls it twice: for the length, then for the data). An EC signature is at most 139
#: bytes (P-521 in DER); should a token want more, the length is asked and C_Sign repeated.
SIGNATURE_BUFFER = 256


def _failure(exc: PyKCS11.PyKCS11Error, call: str) -> P11Failure:
    name = PyKCS11.CKR.get(exc.value)
    return P11Failure(name if isinstance(name, str) else f"CKR_0x{exc.value:08X}", call)


def _template(template: dict[int, Any]) -> list[tuple[int, Any]]:
    out: list[tuple[int, Any]] = []
    for k, v in template.items():
        if isinstance(v, bool):
            v = PyKCS11.CK_TRUE if v else PyKCS11.CK_FALSE
        elif isinstance(v, (bytes, bytearray)):
            v = tuple(v)
        out.append((k, v))
    return out


class PyKCS11Binding(Binding):
    """PyKCS11 (SWIG; holds the GIL during library calls)."""

    name = "PyKCS11"

    def __init__(self, library: str):
        super().__init__(library)
        with _LIBS_GUARD:
            lib = _LIBS.get(library)
            if lib is None:
                lib = PyKCS11.PyKCS11Lib()
                try:
                    lib.load(library)
                except PyKCS11.PyKCS11Error as exc:
                    raise LibraryLoadError(str(exc).strip()) from None
                _LIBS[library] = lib
        self._lib = lib
        self._mechanisms: dict[int, PyKCS11.Mechanism] = {}

    def slots(self) -> list[SlotInfo]:
        out = []
        try:
            for slot_id in self._lib.getSlotList(tokenPresent=True):
                info = self._lib.getTokenInfo(slot_id)
                out.append(
                    SlotInfo(
                        int(slot_id),
                        info.label.strip(),
                        bool(info.flags & PyKCS11.CKF_TOKEN_INITIALIZED),
                        bool(info.flags & PyKCS11.CKF_USER_PIN_INITIALIZED),
                    )
                )
        except PyKCS11.PyKCS11Error as exc:
            raise _failure(exc, "C_GetSlotList") from None
        return out

    def mechanisms(self, slot_id: int) -> set[int]:
        try:
            names = self._lib.getMechanismList(slot_id)
        except PyKCS11.PyKCS11Error as exc:
            raise _failure(exc, "C_GetMechanismList") from None
        out = set()
        for name in names:
            value = PyKCS11.CKM.get(name, name)
            if isinstance(value, int):
                out.add(value)
        return out

    def open_session(self, slot_id: int, pin: str | None, rw: bool = False) -> Any:
        flags = PyKCS11.CKF_SERIAL_SESSION | (PyKCS11.CKF_RW_SESSION if rw else 0)
        try:
            session = self._lib.openSession(slot_id, flags)
        except PyKCS11.PyKCS11Error as exc:
            raise _failure(exc, "C_OpenSession") from None
        if pin is None:
            return session
        try:
            session.login(pin)
        except PyKCS11.PyKCS11Error as exc:
            if exc.value != PyKCS11.CKR_USER_ALREADY_LOGGED_IN:
                self.close_session(session)
                raise _failure(exc, "C_Login") from None
        return session

    def close_session(self, session: Any) -> None:
        with contextlib.suppress(PyKCS11.PyKCS11Error):
            session.closeSession()

    def close_all_sessions(self, slot_id: int) -> None:
        """C_CloseAllSessions: every session of this process on the slot is gone."""
        try:
            self._lib.closeAllSessions(slot_id)
        except PyKCS11.PyKCS11Error as exc:
            raise _failure(exc, "C_CloseAllSessions") from None

    def find(self, session: Any, template: dict[int, Any]) -> list[Any]:
        try:
            return list(session.findObjects(_template(template)))
        except PyKCS11.PyKCS11Error as exc:
            raise _failure(exc, "C_FindObjects") from None

    def attribute(self, session: Any, obj: Any, cka: int) -> bytes | None:
        try:
            (value,) = session.getAttributeValue(obj, [cka], allAsBinary=True)
        except PyKCS11.PyKCS11Error as exc:
            if exc.value in (PyKCS11.CKR_ATTRIBUTE_TYPE_INVALID, PyKCS11.CKR_ATTRIBUTE_SENSITIVE):
                return None
            raise _failure(exc, "C_GetAttributeValue") from None
        return bytes(value) if value else None

    def sign(self, session: Any, key: Any, mechanism: int, data: bytes) -> bytes:
        """C_SignInit + one C_Sign through PyKCS11's low level, with the mechanism built
        once. The answer is read out through ``CK_ATTRIBUTE_SMART.GetBin``, which converts
        in C: ``bytes()`` over a ``ckbytelist`` walks it item by item (about 20 µs)."""
        mech = self._mechanisms.get(mechanism)
        if mech is None:
            mech = self._mechanisms[mechanism] = PyKCS11.Mechanism(mechanism, None)
        low, handle = session.lib, session.session
        out = LowLevel.ckbytelist(SIGNATURE_BUFFER)
        rv = low.C_SignInit(handle, mech.to_native(), key)
        if rv == PyKCS11.CKR_OK:
            data_list = LowLevel.ckbytelist(data)
            rv = low.C_Sign(handle, data_list, out)
            if rv == PyKCS11.CKR_BUFFER_TOO_SMALL:  # the operation is still active
                out = LowLevel.ckbytelist()
                rv = low.C_Sign(handle, data_list, out)  # sizes ``out``
                if rv == PyKCS11.CKR_OK:
                    rv = low.C_Sign(handle, data_list, out)
        if rv != PyKCS11.CKR_OK:
            raise _failure(PyKCS11.PyKCS11Error(rv), "C_Sign")
        value = LowLevel.CK_ATTRIBUTE_SMART()
        value.SetBin(0, out)
        return bytes(value.GetBin())

    def create(self, session: Any, template: dict[int, Any]) -> Any:
        try:
            return session.createObject(_template(template))
        except PyKCS11.PyKCS11Error as exc:
            raise _failure(exc, "C_CreateObject") from None

    def generate_ec_keypair(
        self, session: Any, public: dict[int, Any], private: dict[int, Any]
    ) -> tuple[Any, Any]:
        try:
            pub, priv = session.generateKeyPair(
                _template(public), _template(private), mecha=PyKCS11.MechanismECGENERATEKEYPAIR
            )
        except PyKCS11.PyKCS11Error as exc:
            raise _failure(exc, "C_GenerateKeyPair") from None
        return pub, priv

    def destroy(self, session: Any, obj: Any) -> None:
        try:
            session.destroyObject(obj)
        except PyKCS11.PyKCS11Error as exc:
            raise _failure(exc, "C_DestroyObject") from None

    def reinitialize(self) -> None:
        low: LowLevel.CPKCS11Lib = self._lib.lib
        low.C_Finalize()
        rv = low.C_Initialize()
        if rv not in (PyKCS11.CKR_OK, PyKCS11.CKR_CRYPTOKI_ALREADY_INITIALIZED):
            raise _failure(PyKCS11.PyKCS11Error(rv), "C_Initialize")
