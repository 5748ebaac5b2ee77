"""Round latency with every member signing through PKCS#11 on SoftHSM2 tokens."""

from __future__ import annotations

import tempfile
from typing import Any

from oceanfed_devnet.bench.federation import round_latency
from oceanfed_devnet.bench.figures import Figure
from oceanfed_devnet.hsm_members import softhsm_unavailable, use_softhsm
from oceanfed_devnet.launcher import LocalFederation


def hsm_latency(blocks: int) -> list[Figure]:
    """3-of-5 round latency with every member on the ``pkcs11``, then the ``pykcs11`` signer."""
    reason = softhsm_unavailable()
    if reason:
        return [Figure("round_latency/zmq/pkcs11/3of5", "ms", float("nan"), None, 0, reason)]
    out = []
    for driver in ("pkcs11", "pykcs11"):
        with tempfile.TemporaryDirectory(prefix="oceanfed-bench-hsm-") as tmp:

            def setup(fed: LocalFederation, name: str, _signer: str, tmp: str = tmp,
                      driver: str = driver) -> Any:
                return use_softhsm(fed, [(name, driver)], f"{tmp}/{name}")

            out.append(round_latency(5, 3, signer=driver, blocks=blocks, hsm=setup))
    return out
