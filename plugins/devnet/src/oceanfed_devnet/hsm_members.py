"""Put local federation members on a SoftHSM2 token (for the demo and the benchmarks).

Each chosen member's generated block key is imported into one temporary token under the
member's name, and its ``[signer]`` table is switched to a PKCS#11 driver reading the PIN
from a 0600 file. Needs the ``oceanfed[hsm]`` plugin and Debian's ``softhsm2``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from oceanfed.errors import OceanfedError
from oceanfed.keyfile import read_private_key
from oceanfed_devnet.launcher import LocalFederation


def softhsm_unavailable() -> str | None:
    """Why SoftHSM2 members cannot be set up here, or None."""
    try:
        from oceanfed_pkcs11.softhsm import unavailable_reason
    except ImportError:
        return "the PKCS#11 plugin is not installed (pip install 'oceanfed[hsm]')"
    return unavailable_reason()


def use_softhsm(fed: LocalFederation, members: Iterable[tuple[str, str]], token_dir: str | os.PathLike[str]) -> Any:
    """Move ``(member, driver)`` pairs onto a new SoftHSM2 token; return the token."""
    reason = softhsm_unavailable()
    if reason:
        raise OceanfedError(f"--signer pkcs11: {reason}")
    from oceanfed_pkcs11.softhsm import SoftHSMToken

    token = SoftHSMToken.create(token_dir, "oceanfed", so_pin="oceanfed-so", user_pin="oceanfed-user")
    for name, driver in members:
        token.import_key(name, read_private_key(fed.layout.block_key_file(name)))
        pin = token.write_pin_file(fed.layout.member_dir(name) / "user.pin")
        fed.member_env[name] = dict(token.env)
        fed.set_signer(name, {"driver": driver, "library": token.module, "token_label": token.label,
                              "key_label": name, "pin_file": str(pin)})
    return token
