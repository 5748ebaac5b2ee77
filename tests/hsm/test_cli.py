"""``oceanfed hsm init`` on a real SoftHSM2 token."""

from __future__ import annotations

import pytest
from pkcs11 import Attribute, ObjectClass

from oceanfed.cli.main import main
from oceanfed.crypto import verify_digest
from oceanfed.interfaces import SignRequest
from oceanfed.ocean.encoding import dsha256
from oceanfed.ocean.script import parse_multisig
from oceanfed_pkcs11.binding_python_pkcs11 import PythonPkcs11Binding
from oceanfed_pkcs11.p11 import library_lock
from oceanfed_pkcs11.pykcs11_signer import PyKCS11Signer
from oceanfed_pkcs11.python_pkcs11_signer import Pkcs11Signer
from oceanfed_pkcs11.token import find_slot, open_user_session

from .conftest import HSM, PIN_VAR, context

OTHERS = [
    "03f4efaf4720114073c12f48012259210bbd096410ab96082039b219f4af774d95",
    "026efcadfc828965c121bd67f43f18502facb534a5162b02b28fc1c7b8b629b515",
]


def init(hsm: HSM, *extra: str) -> list[str]:
    return [
        "hsm",
        "init",
        "--library",
        hsm.module,
        "--token-label",
        "spare",
        "--pin-env",
        PIN_VAR,
        *extra,
    ]


def pubkey_line(out: str) -> bytes:
    lines = [ln for ln in out.splitlines() if ln.startswith("pubkey ")]
    assert len(lines) == 1, out
    return bytes.fromhex(lines[0].split()[1])


def test_init_generates_a_protected_key(hsm: HSM, pin_env: str, capsys) -> None:
    assert main(init(hsm, "--label", "gen1")) == 0
    pub = pubkey_line(capsys.readouterr().out)
    assert len(pub) == 33 and pub[0] in (2, 3)
    with library_lock(hsm.module):
        binding = PythonPkcs11Binding(hsm.module)
        session = open_user_session(binding, find_slot(binding, "spare", None), hsm.spare.user_pin)
        try:
            (priv,) = session.get_objects(
                {Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.LABEL: "gen1"}
            )
            assert priv[Attribute.SENSITIVE] is True
            assert priv[Attribute.EXTRACTABLE] is False
            assert priv[Attribute.TOKEN] is True
            assert priv[Attribute.SIGN] is True
        finally:
            binding.close_session(session)
    # both drivers sign with it, and the signatures verify against the printed key
    for cls in (Pkcs11Signer, PyKCS11Signer):
        opts = {
            "library": hsm.module,
            "token_label": "spare",
            "key_label": "gen1",
            "pin_env": pin_env,
        }
        signer = cls(cls.Options.model_validate(opts), context(pub))
        try:
            req = SignRequest(1, dsha256(b"hdr"), b"hdr", "")
            assert verify_digest(pub, req.digest, signer.sign(req))
        finally:
            signer.close()


def test_init_refuses_to_overwrite_unless_forced(hsm: HSM, pin_env: str, capsys) -> None:
    assert main(init(hsm, "--label", "gen2")) == 0
    first = pubkey_line(capsys.readouterr().out)
    assert main(init(hsm, "--label", "gen2")) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--label" in err and "'gen2'" in err and "--force" in err
    assert main(init(hsm, "--label", "gen2", "--force", "--binding", "pykcs11")) == 0
    second = pubkey_line(capsys.readouterr().out)
    assert second != first


def test_init_prints_the_signblockscript(hsm: HSM, pin_env: str, capsys) -> None:
    members = f"{OTHERS[0]},self,{OTHERS[1]}"
    assert main(init(hsm, "--label", "gen3", "--members", members, "--threshold", "2")) == 0
    out = capsys.readouterr().out
    pub = pubkey_line(out)
    (script_line,) = [ln for ln in out.splitlines() if ln.startswith("signblockscript ")]
    m, keys = parse_multisig(bytes.fromhex(script_line.split()[1]))
    assert m == 2 and [k.hex() for k in keys] == [OTHERS[0], pub.hex(), OTHERS[1]]


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--label", "x", "--members", OTHERS[0]], "--members and --threshold go together"),
        (["--label", "x", "--members", "zz", "--threshold", "1"], "--members: entry 1"),
        (["--label", "x", "--members", OTHERS[0], "--threshold", "3"], "--threshold"),
        (["--label", "x", "--id", "xyz"], "--id"),
    ],
)
def test_init_bad_arguments(hsm: HSM, pin_env: str, capsys, extra: list[str], needle: str) -> None:
    assert main(init(hsm, *extra)) == 1
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1


def test_init_wrong_pin_and_token(hsm: HSM, monkeypatch, capsys) -> None:
    monkeypatch.setenv(PIN_VAR, "wrong-pin-000")
    assert main(init(hsm, "--label", "x")) == 1
    err = capsys.readouterr().err
    assert "CKR_PIN_INCORRECT" in err and "wrong-pin-000" not in err
    monkeypatch.setenv(PIN_VAR, hsm.spare.user_pin)
    args = [
        "hsm",
        "init",
        "--library",
        hsm.module,
        "--token-label",
        "absent",
        "--pin-env",
        PIN_VAR,
        "--label",
        "x",
    ]
    assert main(args) == 1
    assert "--token-label: no initialised token labelled 'absent'" in capsys.readouterr().err
