"""Signing throughput through each binding, against raw SoftHSM2 calls and a soft key.

:func:`signer_throughput` returns figures, never asserts timings. Each figure is
signatures per second: ``median`` from the median latency of one signature, ``p99``
from the 99th-percentile latency (the rate at the slow tail).
"""

from __future__ import annotations

import hashlib
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import TypedDict

from oceanfed.crypto import pubkey_of, sign_digest, verify_digest
from oceanfed.errors import SignerError
from oceanfed.interfaces import MemberInfo, PluginContext, SignRequest
from oceanfed_pkcs11.p11 import CKM_ECDSA, Binding, library_lock
from oceanfed_pkcs11.signer import TokenSigner
from oceanfed_pkcs11.softhsm import SoftHSMToken
from oceanfed_pkcs11.token import find_private_key, find_slot, open_user_session, read_public_key


class Figure(TypedDict):
    name: str
    unit: str
    median: float
    p99: float
    n: int


def _figure(name: str, fn: Callable[[bytes], object], n: int, warmup: int) -> Figure:
    digests = [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(n + warmup)]
    for d in digests[:warmup]:
        fn(d)
    lat = []
    for d in digests[warmup:]:
        t0 = time.perf_counter()
        fn(d)
        lat.append(time.perf_counter() - t0)
    lat.sort()
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    return Figure(name=name, unit="sig/s", median=1.0 / statistics.median(lat), p99=1.0 / p99, n=n)


def _raw(
    binding_class: type[Binding], token: SoftHSMToken, key_label: str
) -> tuple[Callable[[bytes], object], bytes, Callable[[], None]]:
    """A bare C_Sign through the binding, the key's public key, and a closer."""
    binding = binding_class(token.module)
    info = find_slot(binding, token.label, None)
    session = open_user_session(binding, info, token.user_pin)
    key = find_private_key(binding, session, info, key_label, None)
    pub = read_public_key(binding, session, info, key_label, None, key)
    return (
        (lambda d: binding.sign(session, key, CKM_ECDSA, d)),
        pub,
        lambda: binding.close_session(session),
    )


def _signer_call(signer: TokenSigner) -> Callable[[bytes], object]:
    return lambda d: signer.sign(SignRequest(0, d, b"", ""))


def _library_loaded(module: str) -> bool:
    pkcs11 = sys.modules.get("pkcs11")
    loaded = set(getattr(pkcs11, "_loaded", {}) or {})
    pykcs11 = sys.modules.get("PyKCS11")
    loaded |= set(getattr(getattr(pykcs11, "PyKCS11Lib", None), "_loaded_libs", {}) or {})
    return module in loaded


def signer_throughput(
    n: int = 200, warmup: int = 10, token: SoftHSMToken | None = None, key_label: str | None = None
) -> list[Figure]:
    """Figures for: raw python-pkcs11 and PyKCS11 C_Sign, the ``pkcs11`` and ``pykcs11``
    signers (lock, DER, low-S and verification included), and a soft key.

    Without ``token`` a temporary SoftHSM2 token is made; that needs SoftHSM2 not yet
    loaded in this process (it reads SOFTHSM2_CONF once).
    """
    from oceanfed_pkcs11.binding_pykcs11 import PyKCS11Binding
    from oceanfed_pkcs11.binding_python_pkcs11 import PythonPkcs11Binding
    from oceanfed_pkcs11.pykcs11_signer import PyKCS11Signer
    from oceanfed_pkcs11.python_pkcs11_signer import Pkcs11Signer

    tmp = None
    if token is None:
        tmp = tempfile.TemporaryDirectory(prefix="oceanfed-bench-")
        token = SoftHSMToken.create(tmp.name, "bench", so_pin="bench-so", user_pin="bench-user")
        if _library_loaded(token.module) and os.environ.get("SOFTHSM2_CONF") != token.conf_path:
            raise SignerError(
                "bench: SoftHSM2 is already loaded in this process; pass an existing token"
            )
        os.environ.update(token.env)
        key_label = "bench"
        token.generate_key(key_label)
    elif key_label is None:
        raise SignerError("bench: key_label is needed with an existing token")
    pin_var = "OCEANFED_BENCH_PIN"
    os.environ[pin_var] = token.user_pin
    figures: list[Figure] = []
    try:
        with library_lock(token.module):
            raw_pp, pub, close_pp = _raw(PythonPkcs11Binding, token, key_label)
            raw_py, _, close_py = _raw(PyKCS11Binding, token, key_label)
        try:
            figures.append(_figure("softhsm2 raw C_Sign (python-pkcs11)", raw_pp, n, warmup))
            figures.append(_figure("softhsm2 raw C_Sign (PyKCS11)", raw_py, n, warmup))
        finally:
            with library_lock(token.module):
                close_pp()
                close_py()
        for cls in (Pkcs11Signer, PyKCS11Signer):
            opts = cls.Options.model_validate(
                {
                    "library": token.module,
                    "token_label": token.label,
                    "key_label": key_label,
                    "pin_env": pin_var,
                }
            )
            member = MemberInfo(0, "bench", pub, pub)
            ctx = PluginContext(
                0, [member], 1, "ocean_test", logger=logging.getLogger("oceanfed.bench")
            )
            signer = cls(opts, ctx)
            try:
                name = f"signer {cls.driver} ({cls.binding_class.name})"
                figures.append(_figure(name, _signer_call(signer), n, warmup))
            finally:
                signer.close()
        soft = hashlib.sha256(b"oceanfed bench soft key").digest()
        soft_pub = pubkey_of(soft)
        figures.append(
            _figure(
                "soft key (libsecp256k1 sign + verify)",
                lambda d: verify_digest(soft_pub, d, sign_digest(soft, d)),
                n,
                warmup,
            )
        )
    finally:
        os.environ.pop(pin_var, None)
        if tmp is not None:
            tmp.cleanup()
    return figures
