"""A token the library could not read when it started is looked for again; a refused PIN
is never tried twice.

SoftHSM2 lists a token only if its ``token.object`` was readable when the library was
initialised, and a process logging in rewrites that file (truncated, then written). A
member started beside another on the same token missed it now and then and exited with
"no initialised token". Here the file is empty while the library starts, as a writer
leaves it for a moment, and is written back once the signer says it will look again.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from oceanfed.cli.main import main
from oceanfed.crypto import verify_digest
from oceanfed.errors import SignerError
from oceanfed.interfaces import SignRequest
from oceanfed.ocean.encoding import dsha256
from oceanfed_pkcs11.binding_pykcs11 import PyKCS11Binding
from oceanfed_pkcs11.p11 import library_lock
from oceanfed_pkcs11.token import OPEN_PAUSES

from .conftest import HSM, PIN_VAR
from .test_errors import _kill_sessions, ids, start

LOOKING = "looking again"


def _restart_library(hsm: HSM) -> None:
    """C_Finalize and C_Initialize, as a member's process starting now would."""
    with library_lock(hsm.module):
        PyKCS11Binding(hsm.module).reinitialize()


@pytest.fixture
def unreadable(hsm: HSM) -> Iterator[dict[Path, bytes]]:
    """Every token's ``token.object`` emptied and the library started so; yields what the
    files held, and writes it back afterwards."""
    with _unreadable_tokens(hsm) as saved:
        yield saved


@contextlib.contextmanager
def _unreadable_tokens(hsm: HSM) -> Iterator[dict[Path, bytes]]:
    files = sorted((Path(hsm.fed.conf_path).parent / "tokens").glob("*/token.object"))
    saved = {f: f.read_bytes() for f in files}
    assert files and all(saved.values())
    for f in files:
        f.write_bytes(b"")
    _restart_library(hsm)
    with library_lock(hsm.module):
        assert "fed" not in [s.token_label for s in PyKCS11Binding(hsm.module).slots()]
    try:
        yield saved
    finally:
        for f, data in saved.items():
            f.write_bytes(data)
        _restart_library(hsm)


class _WriteBackWhenAsked(logging.Handler):
    """Writes the token's files back at the first "looking again" line (a writer done)."""

    def __init__(self, saved: dict[Path, bytes]):
        super().__init__()
        self.saved = saved
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        line = record.getMessage()
        if LOOKING in line and not self.lines_looking():
            for f, data in self.saved.items():
                f.write_bytes(data)
        self.lines.append(line)

    def lines_looking(self) -> list[str]:
        return [line for line in self.lines if LOOKING in line]


@contextlib.contextmanager
def _writing_back_when_asked(saved: dict[Path, bytes]) -> Iterator[_WriteBackWhenAsked]:
    """A :class:`_WriteBackWhenAsked` on the ``oceanfed`` logger at INFO while in the block."""
    handler = _WriteBackWhenAsked(saved)
    logger = logging.getLogger("oceanfed")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


@ids
def test_a_token_unreadable_at_start_is_looked_for_again(
    cls, hsm: HSM, make_options, unreadable: dict[Path, bytes]
) -> None:
    with _writing_back_when_asked(unreadable) as handler:
        signer = start(cls, make_options, hsm.member_pub)
    try:
        looked = handler.lines_looking()
        assert len(looked) == 1, handler.lines
        assert "'fed'" in looked[0] and hsm.fed.user_pin not in "".join(handler.lines)
        assert any("signer ready" in line for line in handler.lines), handler.lines
    finally:
        signer.close()


@ids
def test_a_token_that_stays_unreadable_is_one_clear_line(
    cls, hsm: HSM, make_options, unreadable: dict[Path, bytes], caplog
) -> None:
    with caplog.at_level(logging.INFO, logger="oceanfed"), pytest.raises(SignerError) as exc:
        start(cls, make_options, hsm.member_pub)
    msg = str(exc.value)
    assert "\n" not in msg and "signer.token_label" in msg and "'fed'" in msg, msg
    assert caplog.text.count(LOOKING) == len(OPEN_PAUSES), caplog.text


@ids
def test_a_token_unreadable_when_a_lost_session_is_reopened_is_looked_for_again(
    cls, hsm: HSM, make_options
) -> None:
    """The library restarted while the token's files were being rewritten: the session is
    lost, and the token is missing when the signer reopens it. It looks again, as at start,
    and the signature is made in the same call."""
    signer = start(cls, make_options, hsm.member_pub)
    try:
        with _unreadable_tokens(hsm) as saved, _writing_back_when_asked(saved) as handler:
            req = SignRequest(1, dsha256(b"reopened"), b"reopened", "")
            sig = signer.sign(req)
        assert verify_digest(hsm.member_pub, req.digest, sig)
        assert len(handler.lines_looking()) == 1, handler.lines
        assert any("session lost" in line for line in handler.lines), handler.lines
    finally:
        signer.close()


@ids
def test_a_refused_pin_is_tried_once(cls, hsm: HSM, make_options, monkeypatch, caplog) -> None:
    _kill_sessions(hsm)  # a logged-in session would let any PIN through
    monkeypatch.setenv(PIN_VAR, "not-the-pin-9876")
    with caplog.at_level(logging.INFO, logger="oceanfed"), pytest.raises(SignerError) as exc:
        start(cls, make_options, hsm.member_pub)
    assert "CKR_PIN_INCORRECT" in str(exc.value)
    assert LOOKING not in caplog.text


def _hsm_init(hsm: HSM, label: str) -> list[str]:
    return ["hsm", "init", "--library", hsm.module, "--token-label", "spare", "--pin-env", PIN_VAR,
            "--label", label, "--force"]


def test_hsm_init_looks_for_an_unreadable_token_again(
    hsm: HSM, pin_env: str, unreadable: dict[Path, bytes], capsys
) -> None:
    with _writing_back_when_asked(unreadable) as handler:
        status = main(_hsm_init(hsm, "retried"))
    out = capsys.readouterr()
    assert status == 0, out.err
    looked = handler.lines_looking()
    assert len(looked) == 1 and "'spare'" in looked[0], handler.lines
    assert len([ln for ln in out.out.splitlines() if ln.startswith("pubkey ")]) == 1, out.out


def test_hsm_init_on_a_token_that_stays_unreadable_is_one_clear_line(
    hsm: HSM, pin_env: str, unreadable: dict[Path, bytes], capsys, caplog
) -> None:
    with caplog.at_level(logging.INFO, logger="oceanfed"):
        status = main(_hsm_init(hsm, "never"))
    err = capsys.readouterr().err
    assert status != 0 and "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("oceanfed: error: --token-label:"), err
    assert "'spare'" in lines[0] and hsm.spare.user_pin not in err + caplog.text
    assert caplog.text.count(LOOKING) == len(OPEN_PAUSES), caplog.text
