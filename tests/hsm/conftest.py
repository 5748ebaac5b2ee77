"""A real SoftHSM2 for the PKCS#11 signer tests.

SoftHSM reads SOFTHSM2_CONF once per process, when the library is first initialised, and
does not see tokens made later by another process. So one session fixture makes every
token the tests need (in a temporary directory), then points this process at it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from oceanfed.crypto import pubkey_of
from oceanfed.interfaces import MemberInfo, PluginContext
from oceanfed_pkcs11.softhsm import SoftHSMToken, unavailable_reason
from testsupport.vectors import VECTORS

PIN_VAR = "OCEANFED_TEST_HSM_PIN"
#: a fixed private key for keys whose private part the tests must know
KNOWN_KEY = bytes.fromhex("4b" * 32)
OTHER_KEY = bytes.fromhex("5c" * 32)


@dataclass
class HSM:
    module: str
    fed: SoftHSMToken
    spare: SoftHSMToken
    member_pub: bytes
    known_pub: bytes
    vector_pubs: dict[int, bytes] = field(default_factory=dict)
    vector_keys: list[dict[str, str]] = field(default_factory=list)


@pytest.fixture(scope="session")
def hsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HSM]:
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    d = tmp_path_factory.mktemp("softhsm")
    fed = SoftHSMToken.create(d, "fed", so_pin="so-1234", user_pin="user-5678")
    spare = SoftHSMToken.create(d, "spare", so_pin="so-1234", user_pin="user-5678")
    member_pub = fed.generate_key("member")
    known_pub = fed.import_key("known", KNOWN_KEY)
    fed.import_key("crossed", OTHER_KEY, key_id=b"\xcc")
    for driver in ("pkcs11", "pykcs11"):
        fed.import_key(f"doomed-{driver}", OTHER_KEY)
    fed.import_key("twin", KNOWN_KEY, key_id=b"\x01")
    fed.import_key("twin", OTHER_KEY, key_id=b"\x02")
    keys: list[dict[str, str]] = []
    pubs: dict[int, bytes] = {}
    if (VECTORS / "keys.json").exists():
        keys = json.loads((VECTORS / "keys.json").read_text())["keys"]
        for k in keys:
            pubs[int(k["index"])] = fed.import_key(
                f"vector{k['index']}", bytes.fromhex(k["privkey_hex"])
            )
    old = os.environ.get("SOFTHSM2_CONF")
    os.environ.update(fed.env)
    yield HSM(fed.module, fed, spare, member_pub, known_pub, pubs, keys)
    if old is None:
        os.environ.pop("SOFTHSM2_CONF", None)
    else:
        os.environ["SOFTHSM2_CONF"] = old


@pytest.fixture
def pin_env(hsm: HSM, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(PIN_VAR, hsm.fed.user_pin)
    return PIN_VAR


def context(pubkey: bytes, base_dir: str = ".") -> PluginContext:
    """A 2-of-3 context where this member (index 1) has ``pubkey``."""
    others = [pubkey_of(b"\x11" * 32), pubkey_of(b"\x22" * 32)]
    members = [
        MemberInfo(0, "m1", others[0], b""),
        MemberInfo(1, "m2", pubkey, b""),
        MemberInfo(2, "m3", others[1], b""),
    ]
    return PluginContext(
        member_index=1, members=members, threshold=2, chain="ocean_test", base_dir=base_dir
    )


@pytest.fixture
def make_options(hsm: HSM, pin_env: str) -> Callable[..., dict[str, object]]:
    def make(**overrides: object) -> dict[str, object]:
        opts: dict[str, object] = {
            "library": hsm.module,
            "token_label": "fed",
            "key_label": "member",
            "pin_env": pin_env,
        }
        opts.update(overrides)
        return {k: v for k, v in opts.items() if v is not None}

    return make
