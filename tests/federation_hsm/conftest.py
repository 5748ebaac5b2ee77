"""A 3-of-5 federation whose members sign on real SoftHSM2 tokens (and two on soft keys).

Each HSM member gets its own token directory (SoftHSM reads ``SOFTHSM2_CONF`` once per
process, so the member process is started with that token's environment), and the
member's generated block key is imported onto it: the token then holds exactly the key
the devnet's signblockscript names.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from oceanfed.audit import audit_chain
from oceanfed.keyfile import read_private_key
from oceanfed.ocean.block import Block
from oceanfed_devnet.launcher import LocalFederation
from oceanfed_pkcs11.softhsm import SoftHSMToken, unavailable_reason
from testsupport.federation import fast_rounds
from testsupport.federation import verify_chain as check_chain

FAST_ROUNDS = fast_rounds(0.25)
BLOCK_TIME = 0.3
PIN_VAR = "OCEANFED_HSM_PIN"
KEY_LABEL = "block"


@dataclass
class HsmMember:
    """How one member reaches its token."""

    name: str
    driver: str  # "pkcs11" or "pykcs11"
    token: SoftHSMToken
    pin_source: str  # "file" or "env"

    def signer_table(self) -> dict[str, str]:
        table = {
            "driver": self.driver,
            "library": self.token.module,
            "token_label": self.token.label,
            "key_label": KEY_LABEL,
            "mechanism": "ecdsa",
        }
        if self.pin_source == "file":
            table["pin_file"] = "hsm.pin"
        else:
            table["pin_env"] = PIN_VAR
        return table

    def env(self) -> dict[str, str]:
        env = dict(self.token.env)
        if self.pin_source == "env":
            env[PIN_VAR] = self.token.user_pin
        return env


def make_token(root: Path, name: str) -> SoftHSMToken:
    """A fresh token for ``name`` in its own directory, with a PIN of its own."""
    return SoftHSMToken.create(
        root / name, f"fed-{name}", so_pin=f"so-{name}-8421", user_pin=f"pin-{name}-3579"
    )


def use_hsm(fed: LocalFederation, member: HsmMember) -> None:
    """Point ``member`` at its token: PIN file if asked for, then the whole [signer] table."""
    if member.pin_source == "file":
        member.token.write_pin_file(fed.layout.member_dir(member.name) / "hsm.pin")
    fed.set_signer(member.name, member.signer_table())


@pytest.fixture
def softhsm_root(tmp_path: Path) -> Path:
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    return tmp_path / "softhsm"


@pytest.fixture
def hsm_federation(
    tmp_path: Path, softhsm_root: Path
) -> Iterator[tuple[LocalFederation, list[HsmMember]]]:
    """m0 and m1 on ``pkcs11``, m2 on ``pykcs11``, m3 and m4 on soft keys (not started)."""
    fed = LocalFederation(tmp_path / "fed", 5, 3, block_time=BLOCK_TIME, rounds=FAST_ROUNDS)
    plan = [("m0", "pkcs11", "file"), ("m1", "pkcs11", "env"), ("m2", "pykcs11", "file")]
    hsm_members = []
    for name, driver, pin_source in plan:
        token = make_token(softhsm_root, name)
        token.import_key(KEY_LABEL, read_private_key(fed.layout.block_key_file(name)))
        member = HsmMember(name, driver, token, pin_source)
        use_hsm(fed, member)
        hsm_members.append(member)
    try:
        yield fed, hsm_members
    finally:
        fed.close()


def verify_chain(fed: LocalFederation) -> list[Block]:
    """The devnet's chain, checked block by block against the signblockscript, with no
    branch besides the active chain; then the members' sign-state audit against it."""
    blocks = check_chain(fed)
    tables = {name: fed.signed(name) for name in fed.members}
    assert audit_chain([b.header for b in blocks], fed.layout.threshold, tables, fed.members) == []
    return blocks
