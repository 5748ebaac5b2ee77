"""Signing throughput through each binding, against raw SoftHSM2 calls and a soft key.

:func:`signer_throughput` returns figures, never asserts timings. Each figure is
signatures per second: ``median`` from the median latency of one signature, ``p99``
from the 99th-percentile latency (the rate at the slow tail).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
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


@contextlib.contextmanager
def _bench_token(
    token: SoftHSMToken | None, key_label: str | None
) -> Iterator[tuple[SoftHSMToken, str, str]]:
    """The token, key label and PIN variable to sign with: ``token`` as given, or a
    temporary SoftHSM2 token with a fresh key (removed afterwards)."""
    tmp = None
    if token is None:
        tmp = tempfile.TemporaryDirectory(prefix="oceanfed-bench-")
        token = SoftHSMToken.create(tmp.name, "bench", so_pin="bench-so", user_pin="bench-user")
        if _library_loaded(token.module) and os.environ.get("SOFTHSM2_CONF") != token.conf_path:
            tmp.cleanup()
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
    try:
        yield token, key_label, pin_var
    finally:
        os.environ.pop(pin_var, None)
        if tmp is not None:
            tmp.cleanup()


def _signer(cls: type[TokenSigner], token: SoftHSMToken, key_label: str, pin_var: str,
            pub: bytes) -> TokenSigner:
    opts = cls.Options.model_validate(
        {"library": token.module, "token_label": token.label, "key_label": key_label,
         "pin_env": pin_var}
    )
    member = MemberInfo(0, "bench", pub, pub)
    ctx = PluginContext(0, [member], 1, "ocean_test", logger=logging.getLogger("oceanfed.bench"))
    return cls(opts, ctx)


def _signer_classes() -> list[type[TokenSigner]]:
    from oceanfed_pkcs11.pykcs11_signer import PyKCS11Signer
    from oceanfed_pkcs11.python_pkcs11_signer import Pkcs11Signer

    return [Pkcs11Signer, PyKCS11Signer]


def signer_throughput(
    n: int = 200, warmup: int = 10, token: SoftHSMToken | None = None, key_label: str | None = None
) -> list[Figure]:
    """Figures for: raw python-pkcs11 and PyKCS11 C_Sign, the ``pkcs11`` and ``pykcs11``
    signers (lock, DER, low-S and verification included), and a soft key.

    Without ``token`` a temporary SoftHSM2 token is made; that needs SoftHSM2 not yet
    loaded in this process (it reads SOFTHSM2_CONF once).
    """
    with _bench_token(token, key_label) as (token, key_label, pin_var):
        return _throughput(token, key_label, pin_var, n, warmup)


def _throughput(token: SoftHSMToken, key_label: str, pin_var: str, n: int, warmup: int) -> list[Figure]:
    figures: list[Figure] = []
    raws = []
    with library_lock(token.module):
        for cls in _signer_classes():
            raws.append(_raw(cls.binding_class, token, key_label))
    pub = raws[0][1]
    try:
        for cls, (raw, _, _) in zip(_signer_classes(), raws, strict=True):
            name = f"softhsm2 raw C_Sign ({cls.binding_class.name})"
            figures.append(_figure(name, raw, n, warmup))
    finally:
        with library_lock(token.module):
            for _, _, close in raws:
                close()
    for cls in _signer_classes():
        signer = _signer(cls, token, key_label, pin_var, pub)
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
    return figures


def _paired(raw: Callable[[bytes], object], wrapped: Callable[[bytes], object],
            digests: list[bytes], wrapped_first: bool) -> float:
    """Raw and wrapped signatures alternately, one of each per digest; the ratio of their
    median latencies (raw / wrapped). Medians leave out signatures the scheduler stretched."""
    lat_raw: list[float] = []
    lat_wrapped: list[float] = []
    clock = time.perf_counter
    for d in digests:
        for fn, lat in (((wrapped, lat_wrapped), (raw, lat_raw)) if wrapped_first
                        else ((raw, lat_raw), (wrapped, lat_wrapped))):
            t0 = clock()
            fn(d)
            lat.append(clock() - t0)
    return statistics.median(lat_raw) / statistics.median(lat_wrapped)


def signer_ratios(
    rounds: int = 21, per_round: int = 40, warmup: int = 20,
    token: SoftHSMToken | None = None, key_label: str | None = None,
) -> list[Figure]:
    """Each signer's speed as a share of raw C_Sign through its own binding, in percent.

    Per round, ``per_round`` raw C_Sign calls and as many whole signatures through the
    signer (lock, low-S DER, verification against the key), alternating one by one over the
    same digests (which goes first swaps every round); a round's ratio is the raw median
    latency / the signer's. ``median`` is the median of the rounds' ratios, ``p99`` the
    lowest round's. Pairing each signer call with a raw one keeps load drifting during the
    run out of the figure, which separate throughput runs do not.
    """
    with _bench_token(token, key_label) as (token, key_label, pin_var):
        return _ratios(token, key_label, pin_var, rounds, per_round, warmup)


def signer_benchmarks(
    n: int = 200, warmup: int = 10, rounds: int = 21, per_round: int = 40,
    token: SoftHSMToken | None = None, key_label: str | None = None,
) -> tuple[list[Figure], list[Figure]]:
    """:func:`signer_throughput` and :func:`signer_ratios` on one token (a temporary
    SoftHSM2 token can be made only once per process)."""
    with _bench_token(token, key_label) as (token, key_label, pin_var):
        return (_throughput(token, key_label, pin_var, n, warmup),
                _ratios(token, key_label, pin_var, rounds, per_round, warmup))


def _ratios(token: SoftHSMToken, key_label: str, pin_var: str, rounds: int, per_round: int,
            warmup: int) -> list[Figure]:
    figures: list[Figure] = []
    for cls in _signer_classes():
        with library_lock(token.module):
            raw, pub, close = _raw(cls.binding_class, token, key_label)
        signer = _signer(cls, token, key_label, pin_var, pub)
        wrapped = _signer_call(signer)
        try:
            warm = [hashlib.sha256(b"warm" + i.to_bytes(4, "big")).digest() for i in range(warmup)]
            _paired(raw, wrapped, warm, False)
            ratios = []
            for r in range(rounds):
                digests = [hashlib.sha256(f"{r}-{i}".encode()).digest() for i in range(per_round)]
                ratios.append(_paired(raw, wrapped, digests, wrapped_first=r % 2 == 1))
        finally:
            signer.close()
            with library_lock(token.module):
                close()
        figures.append(Figure(
            name=f"signer {cls.driver} ({cls.binding_class.name}) / raw C_Sign", unit="%",
            median=100 * statistics.median(ratios), p99=100 * min(ratios), n=rounds * per_round,
        ))
    return figures
