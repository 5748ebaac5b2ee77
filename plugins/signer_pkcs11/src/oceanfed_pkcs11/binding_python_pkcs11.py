"""The :class:`~oceanfed_pkcs11.p11.Binding` on python-pkcs11."""

from __future__ import annotations

import contextlib
import functools
import re
import sys
from typing import Any

import pkcs11
from pkcs11 import Attribute, KeyType, Mechanism, TokenFlag
from pkcs11 import exceptions as p11exc

from oceanfed_pkcs11.p11 import CKA_EC_PARAMS, Binding, LibraryLoadError, P11Failure, SlotInfo


def _ckr_name(exc: BaseException) -> str:
    """``PinIncorrect`` -> ``CKR_PIN_INCORRECT``; python-pkcs11 names each code as a class."""
    if type(exc) is p11exc.PKCS11Error:
        text = str(exc).lower()
        if "not initialized" in text:
            return "CKR_CRYPTOKI_NOT_INITIALIZED"
        if "already initialized" in text:
            return "CKR_CRYPTOKI_ALREADY_INITIALIZED"
        return "CKR_GENERAL_ERROR"
    name = type(exc).__name__
    special = {
        "TokenNotRecognised": "CKR_TOKEN_NOT_RECOGNIZED",
        "FunctionCancelled": "CKR_FUNCTION_CANCELED",
        "SlotIDInvalid": "CKR_SLOT_ID_INVALID",
        "RandomNoRNG": "CKR_RANDOM_NO_RNG",
    }
    if name in special:
        return special[name]
    return "CKR_" + re.sub(r"(?<!^)(?=[A-Z])", "_", name).upper()


@functools.cache
def _mechanism(number: int) -> Mechanism:
    """The :class:`pkcs11.Mechanism` member for a ``CKM_*`` number, looked up once."""
    return Mechanism(number)


def _failure(exc: BaseException, call: str) -> P11Failure:
    return P11Failure(_ckr_name(exc), call)


class PythonPkcs11Binding(Binding):
    """python-pkcs11 (Cython; releases the GIL during library calls)."""

    name = "python-pkcs11"

    def __init__(self, library: str):
        super().__init__(library)
        try:
            self._lib = self._load(library)
        except p11exc.PKCS11Error as exc:
            raise LibraryLoadError(str(exc) or _ckr_name(exc)) from None

    @staticmethod
    def _load(library: str) -> Any:
        try:
            return pkcs11.lib(library)
        except p11exc.PKCS11Error as exc:
            if _ckr_name(exc) != "CKR_CRYPTOKI_ALREADY_INITIALIZED":
                raise
        # PyKCS11 initialised this library first in this process: let python-pkcs11 own
        # the initialisation (PyKCS11 tolerates that); PyKCS11 sessions are reopened.
        pykcs11 = sys.modules.get("PyKCS11")
        loaded = getattr(getattr(pykcs11, "PyKCS11Lib", None), "_loaded_libs", {})
        if library not in loaded:
            raise LibraryLoadError(
                f"{library} is already initialised by another user in this process"
            )
        loaded[library]["ref"].C_Finalize()
        pkcs11.unload(library)
        return pkcs11.lib(library)

    def _slot(self, slot_id: int) -> Any:
        for slot in self._lib.get_slots(token_present=True):
            if slot.slot_id == slot_id:
                return slot
        raise P11Failure("CKR_SLOT_ID_INVALID", "C_GetSlotList")

    def slots(self) -> list[SlotInfo]:
        out = []
        try:
            for slot in self._lib.get_slots(token_present=True):
                token = slot.get_token()
                flags = token.flags
                out.append(
                    SlotInfo(
                        slot.slot_id,
                        token.label.strip(),
                        bool(flags & TokenFlag.TOKEN_INITIALIZED),
                        bool(flags & TokenFlag.USER_PIN_INITIALIZED),
                    )
                )
        except p11exc.PKCS11Error as exc:
            raise _failure(exc, "C_GetSlotList") from None
        return out

    def mechanisms(self, slot_id: int) -> set[int]:
        try:
            return {int(m) for m in self._slot(slot_id).get_mechanisms()}
        except p11exc.PKCS11Error as exc:
            raise _failure(exc, "C_GetMechanismList") from None

    def open_session(self, slot_id: int, pin: str | None, rw: bool = False) -> Any:
        try:
            token = self._slot(slot_id).get_token()
        except p11exc.PKCS11Error as exc:
            raise _failure(exc, "C_GetTokenInfo") from None
        try:
            return token.open(rw=rw, user_pin=pin)
        except p11exc.UserAlreadyLoggedIn:
            pass  # login state is per application and token: another session has it
        except p11exc.PKCS11Error as exc:
            raise _failure(exc, "C_Login" if pin is not None else "C_OpenSession") from None
        try:
            return token.open(rw=rw)
        except p11exc.PKCS11Error as exc:
            raise _failure(exc, "C_OpenSession") from None

    def close_session(self, session: Any) -> None:
        with contextlib.suppress(p11exc.PKCS11Error):
            session.close()

    def find(self, session: Any, template: dict[int, Any]) -> list[Any]:
        try:
            return list(session.get_objects({Attribute(k): v for k, v in template.items()}))
        except p11exc.PKCS11Error as exc:
            raise _failure(exc, "C_FindObjects") from None

    def attribute(self, session: Any, obj: Any, cka: int) -> bytes | None:
        try:
            value = obj[Attribute(cka)]
        except (p11exc.AttributeTypeInvalid, p11exc.AttributeSensitive):
            return None
        except p11exc.PKCS11Error as exc:
            raise _failure(exc, "C_GetAttributeValue") from None
        return bytes(value) if value else None

    def sign(self, session: Any, key: Any, mechanism: int, data: bytes) -> bytes:
        try:
            return bytes(key.sign(data, mechanism=_mechanism(mechanism)))
        except p11exc.PKCS11Error as exc:
            raise _failure(exc, "C_Sign") from None

    def create(self, session: Any, template: dict[int, Any]) -> Any:
        try:
            return session.create_object({Attribute(k): v for k, v in template.items()})
        except p11exc.PKCS11Error as exc:
            raise _failure(exc, "C_CreateObject") from None

    def generate_ec_keypair(
        self, session: Any, public: dict[int, Any], private: dict[int, Any]
    ) -> tuple[Any, Any]:
        try:
            params = session.create_domain_parameters(
                KeyType.EC, {Attribute.EC_PARAMS: public[CKA_EC_PARAMS]}, local=True
            )
            pub, priv = params.generate_keypair(
                store=True,
                mechanism=Mechanism.EC_KEY_PAIR_GEN,
                public_template={Attribute(k): v for k, v in public.items()},
                private_template={Attribute(k): v for k, v in private.items()},
            )
        except p11exc.PKCS11Error as exc:
            raise _failure(exc, "C_GenerateKeyPair") from None
        return pub, priv

    def destroy(self, session: Any, obj: Any) -> None:
        try:
            obj.destroy()
        except p11exc.PKCS11Error as exc:
            raise _failure(exc, "C_DestroyObject") from None

    def reinitialize(self) -> None:
        with contextlib.suppress(p11exc.PKCS11Error):  # already finalised behind our back
            self._lib.finalize()
        try:
            self._lib.initialize()
        except p11exc.PKCS11Error as exc:
            if _ckr_name(exc) != "CKR_CRYPTOKI_ALREADY_INITIALIZED":
                raise _failure(exc, "C_Initialize") from None
