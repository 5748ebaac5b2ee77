"""Signer throughput: soft keys through ecdsa and coincurve, and the PKCS#11 bindings."""

from __future__ import annotations

import os

from oceanfed_devnet.bench.figures import Figure, figure, per_second


def soft_signers(n: int = 700) -> list[Figure]:
    import coincurve

    key = os.urandom(32)
    digest = os.urandom(32)
    cc = coincurve.PrivateKey(key)
    coin = figure("signer_throughput/soft-coincurve", "sig/s",
                  per_second(lambda: cc.sign(digest, hasher=None), n * 4))
    try:
        import ecdsa
        from ecdsa.util import sigencode_der_canonize
    except ImportError:  # the pure-Python backend comes with oceanfed[bench] or [soft]
        return [Figure("signer_throughput/soft-ecdsa", "sig/s", float("nan"), None, 0,
                       "ecdsa not installed (oceanfed[bench])"), coin]
    sk = ecdsa.SigningKey.from_string(key, curve=ecdsa.SECP256k1)
    return [
        figure("signer_throughput/soft-ecdsa", "sig/s",
               per_second(lambda: sk.sign_digest_deterministic(digest, sigencode=sigencode_der_canonize), n // 4)),
        coin,
    ]


def pkcs11_signers(n: int = 700) -> list[Figure]:
    """python-pkcs11, PyKCS11 and raw SoftHSM2 calls, when the HSM plugin is installed."""
    try:
        from oceanfed_pkcs11.bench import signer_benchmarks
    except ImportError:
        return [Figure("signer_throughput/pkcs11", "sig/s", float("nan"), None, 0,
                       "oceanfed[hsm] not installed")]
    try:
        results, ratios = signer_benchmarks(n, 20)
    except Exception as exc:  # no SoftHSM2 here: report, do not fail the whole run
        return [Figure("signer_throughput/pkcs11", "sig/s", float("nan"), None, 0, str(exc)[:80])]
    names = {
        "softhsm2 raw C_Sign (python-pkcs11)": "signer_throughput/softhsm2-raw-python-pkcs11",
        "softhsm2 raw C_Sign (PyKCS11)": "signer_throughput/softhsm2-raw-pykcs11",
        "signer pkcs11 (python-pkcs11)": "signer_throughput/pkcs11",
        "signer pykcs11 (PyKCS11)": "signer_throughput/pykcs11",
    }
    shares = {
        "signer pkcs11 (python-pkcs11) / raw C_Sign": "signer_vs_raw/pkcs11",
        "signer pykcs11 (PyKCS11) / raw C_Sign": "signer_vs_raw/pykcs11",
    }
    return [
        Figure(names[r["name"]], r["unit"], round(r["median"], 1), None, r["n"],
               "median of per-signature rates")
        for r in results
        if r["name"] in names
    ] + [
        Figure(shares[r["name"]], r["unit"], round(r["median"], 1), round(r["p99"], 1), r["n"],
               "raw C_Sign time / signer time, interleaved rounds: median (p99: lowest round)")
        for r in ratios
        if r["name"] in shares
    ]
