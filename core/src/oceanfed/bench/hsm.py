"""Round latency with every member signing through PKCS#11 on SoftHSM2 tokens."""

from __future__ import annotations

import tempfile
from typing import Any

from oceanfed.bench.federation import round_latency
from oceanfed.bench.figures import Figure
from oceanfed.keyfile import read_private_key
from oceanfed.launcher import LocalFederation, set_table


def _use_token(tmp: str) -> Any:
    from oceanfed_pkcs11.softhsm import SoftHSMToken

    token = SoftHSMToken.create(tmp, "bench", so_pin="bench-so", user_pin="bench-user")

    def setup(fed: LocalFederation, name: str, driver: str) -> None:
        token.import_key(name, read_private_key(fed.layout.block_key_file(name)))
        pin = token.write_pin_file(fed.layout.member_dir(name) / "user.pin")
        fed.member_env[name] = token.env
        set_table(fed.layout.fed_toml(name), "signer", {"driver": driver, "library": token.module,
                                                       "token_label": token.label, "key_label": name,
                                                       "pin_file": str(pin)})

    return setup


def hsm_latency(blocks: int) -> list[Figure]:
    """3-of-5 round latency with the ``pkcs11`` and with the ``pykcs11`` signer."""
    try:
        from oceanfed_pkcs11.softhsm import unavailable_reason
    except ImportError:
        return [Figure("round_latency/zmq/pkcs11/3of5", "ms", float("nan"), None, 0,
                       "oceanfed[hsm] not installed")]
    reason = unavailable_reason()
    if reason:
        return [Figure("round_latency/zmq/pkcs11/3of5", "ms", float("nan"), None, 0, reason)]
    out = []
    for driver in ("pkcs11", "pykcs11"):
        with tempfile.TemporaryDirectory(prefix="oceanfed-bench-hsm-") as tmp:
            out.append(round_latency(5, 3, signer=driver, blocks=blocks, hsm=_use_token(tmp)))
    return out
