"""SoftHSM2 tokens in a private directory, for tests, the demo and benchmarks.

A :class:`SoftHSMToken` lives in ``directory`` (its own ``softhsm2.conf`` and token
store), so it never touches the system's tokens. SoftHSM reads ``SOFTHSM2_CONF`` when
the library is initialised: pass :attr:`SoftHSMToken.env` to a child process, or set it
in this process before any PKCS#11 library is loaded. Several tokens may share one
directory.

Example::

    tok = SoftHSMToken.create(tmpdir, "member1", so_pin="1234", user_pin="5678")
    pub = tok.generate_key("member1")          # on the token, never extractable
    env = {**os.environ, **tok.env, "OCEANFED_HSM_PIN": tok.user_pin}
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import coincurve

from oceanfed.errors import SignerError

#: Where distributions put the SoftHSM2 module.
MODULE_PATHS = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
    "/usr/lib64/pkcs11/libsofthsm2.so",
    "/opt/homebrew/lib/softhsm/libsofthsm2.so",
)
CONF_NAME = "softhsm2.conf"


def find_module() -> str | None:
    """Path of libsofthsm2.so, or None if SoftHSM2 is not installed."""
    for path in MODULE_PATHS:
        if os.path.isfile(path):
            return path
    return None


def unavailable_reason() -> str | None:
    """Why SoftHSM2 cannot be used here, or None when it can."""
    if find_module() is None:
        return "SoftHSM2 is not installed (apt-get install softhsm2): libsofthsm2.so not found"
    if shutil.which("softhsm2-util") is None:
        return "SoftHSM2 is not installed (apt-get install softhsm2): softhsm2-util not on PATH"
    return None


def write_conf(directory: str | os.PathLike[str]) -> Path:
    """Write ``directory/softhsm2.conf`` with its token store in ``directory/tokens``."""
    d = Path(directory).resolve()
    (d / "tokens").mkdir(parents=True, exist_ok=True)
    conf = d / CONF_NAME
    if not conf.exists():
        conf.write_text(
            f"directories.tokendir = {d / 'tokens'}\n"
            "objectstore.backend = file\n"
            "log.level = ERROR\n"
            "slots.removable = false\n"
            "slots.mechanisms = ALL\n"
        )
    return conf


@dataclass(frozen=True)
class SoftHSMToken:
    """One initialised SoftHSM2 token; PINs are kept out of repr."""

    module: str
    conf_path: str
    label: str
    slot_id: int
    so_pin: str = field(repr=False)
    user_pin: str = field(repr=False)

    @property
    def env(self) -> dict[str, str]:
        """What a process needs in its environment to see this token."""
        return {"SOFTHSM2_CONF": self.conf_path}

    @classmethod
    def create(
        cls,
        directory: str | os.PathLike[str],
        label: str,
        so_pin: str,
        user_pin: str,
        module: str | None = None,
    ) -> SoftHSMToken:
        """Initialise a new token labelled ``label`` in ``directory`` (created if needed)."""
        module = module or find_module()
        reason = unavailable_reason()
        if module is None or reason:
            raise SignerError(reason or "SoftHSM2 is not installed")
        conf = write_conf(directory)
        out = cls._util(
            str(conf),
            ["--init-token", "--free", "--label", label, "--so-pin", so_pin, "--pin", user_pin],
        )
        match = re.search(r"reassigned to slot (\d+)", out)
        if not match:
            raise SignerError(f"softhsm2-util did not report the new slot of token {label!r}")
        return cls(module, str(conf), label, int(match.group(1)), so_pin, user_pin)

    @staticmethod
    def _util(conf: str, args: list[str]) -> str:
        env = {**os.environ, "SOFTHSM2_CONF": conf}
        proc = subprocess.run(
            ["softhsm2-util", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if proc.returncode != 0:
            # softhsm2-util's own messages carry no PIN
            raise SignerError(
                f"softhsm2-util {args[0]} failed: {(proc.stderr or proc.stdout).strip()}"
            )
        return proc.stdout

    def import_key(self, label: str, privkey: bytes, key_id: bytes | None = None) -> bytes:
        """Store a known private key (and its public key) on the token; returns the
        compressed public key. For tests with fixed vectors only."""
        key = coincurve.PrivateKey(privkey)
        key_id = key_id if key_id is not None else os.urandom(8)
        fd, path = tempfile.mkstemp(suffix=".pem")  # mode 0600
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(key.to_pem())
            self._util(
                self.conf_path,
                [
                    "--import",
                    path,
                    "--token",
                    self.label,
                    "--label",
                    label,
                    "--id",
                    key_id.hex(),
                    "--pin",
                    self.user_pin,
                ],
            )
        finally:
            os.unlink(path)
        return key.public_key.format(compressed=True)

    def generate_key(
        self, label: str, key_id: bytes | None = None, binding: str = "pkcs11"
    ) -> bytes:
        """Generate a keypair on the token with ``oceanfed hsm init`` (in a child process,
        so this process's library state is untouched); returns the compressed public key."""
        env = {**os.environ, **self.env, "OCEANFED_SOFTHSM_PIN": self.user_pin}
        cmd = [
            sys.executable, "-m", "oceanfed_pkcs11.cli", "--library", self.module, "--token-label", self.label,
            "--label", label, "--pin-env", "OCEANFED_SOFTHSM_PIN", "--binding", binding,
        ]  # fmt: skip
        if key_id is not None:
            cmd += ["--id", key_id.hex()]
        proc = subprocess.run(
            cmd, env=env, capture_output=True, text=True, timeout=120, check=False
        )
        match = re.search(r"^pubkey ([0-9a-f]{66})$", proc.stdout, re.M)
        if proc.returncode != 0 or not match:
            raise SignerError(f"hsm init failed: {(proc.stderr or proc.stdout).strip()}")
        return bytes.fromhex(match.group(1))

    def write_pin_file(self, path: str | os.PathLike[str]) -> Path:
        """Write the user PIN to ``path`` with mode 0600, as the signer's pin_file wants."""
        p = Path(path)
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(self.user_pin + "\n")
        os.chmod(p, 0o600)
        return p
