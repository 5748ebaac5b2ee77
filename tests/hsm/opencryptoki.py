"""openCryptoki's soft token in a private store, for the CKM_ECDSA_SHA256 signer tests.

SoftHSM2 2.6.1 does not offer CKM_ECDSA_SHA256; openCryptoki's soft token (3.12 and
later; ``scripts/opencryptoki.sh`` installs it) does, on secp256k1. openCryptoki needs
its daemon, pkcsslotd, and its clients must be root or in group ``pkcs11``.

The token never touches the machine's own openCryptoki tokens: openCryptoki keeps a
token's files in ``$PKCS_APP_STORE/<token dir>`` when that variable is set (read when
the library is initialised), so each test session gets a new, empty store of its own.
A token is initialised only when it is seen uninitialised through that new store, and
only after openCryptoki is seen using the store (its shared memory is named after the
store's path); anything else is refused, never re-initialised.
"""

from __future__ import annotations

import contextlib
import glob
import grp
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

STORE_VAR = "PKCS_APP_STORE"
CONF = Path("/etc/opencryptoki/opencryptoki.conf")
RUN_DIR = Path("/run/opencryptoki")
PID_FILE = RUN_DIR / "pkcsslotd.pid"
SOCKET = RUN_DIR / "pkcsslotd.socket"
PKCSSLOTD = "/usr/sbin/pkcsslotd"
PKCSCONF = "/usr/sbin/pkcsconf"
MODULE_GLOBS = (
    "/usr/lib/*-linux-gnu/opencryptoki/libopencryptoki.so.0",
    "/usr/lib64/opencryptoki/libopencryptoki.so.0",
    "/usr/lib/opencryptoki/libopencryptoki.so.0",
)
#: the SO PIN of a freshly initialised openCryptoki token
DEFAULT_SO_PIN = "87654321"
#: the soft token's directory under the store (openCryptoki's SUB_DIR for libpkcs11_sw.so)
SOFT_DIR = "swtok"
CKF_USER_PIN_INITIALIZED = 0x8
CKF_TOKEN_INITIALIZED = 0x400
INSTALL_HINT = "bash scripts/opencryptoki.sh, as root"


class OpenCryptokiError(Exception):
    """openCryptoki cannot be used here, or the token is not this test session's own."""


def find_module() -> str | None:
    """Path of libopencryptoki.so.0, or None when openCryptoki is not installed."""
    for pattern in MODULE_GLOBS:
        for path in sorted(glob.glob(pattern)):
            if os.path.isfile(path):
                return path
    return None


def soft_slot(conf: Path = CONF) -> int | None:
    """The slot whose STDLL is the soft token (libpkcs11_sw.so) in opencryptoki.conf."""
    try:
        text = conf.read_text()
    except OSError:
        return None
    for match in re.finditer(r"^\s*slot\s+(\d+)\s*\{(.*?)\}", text, re.M | re.S):
        if re.search(r"^\s*stdll\s*=\s*libpkcs11_sw\.so\b", match.group(2), re.M):
            return int(match.group(1))
    return None


def _in_pkcs11_group() -> bool:
    try:
        gid = grp.getgrnam("pkcs11").gr_gid
    except KeyError:
        return False
    return gid in os.getgroups() or os.getegid() == gid


def unavailable_reason() -> str | None:
    """Why openCryptoki's soft token cannot be used here, or None when it can."""
    if find_module() is None:
        return f"openCryptoki is not installed ({INSTALL_HINT}): libopencryptoki.so.0 not found"
    for tool in (PKCSSLOTD, PKCSCONF):
        if not os.access(tool, os.X_OK):
            return f"openCryptoki is not installed ({INSTALL_HINT}): {tool} not found"
    if soft_slot() is None:
        return f"{CONF} has no slot with the soft token (stdll = libpkcs11_sw.so)"
    if os.geteuid() != 0 and not _in_pkcs11_group():
        return (
            f"openCryptoki clients must be root or in group pkcs11 (uid {os.geteuid()} is neither)"
        )
    return None


def daemon_pid() -> int | None:
    """The pid of a running pkcsslotd (answering on its socket), or None."""
    try:
        pid = int(PID_FILE.read_text().strip())
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    # "pid (comm) state ..."; a zombie is not running
    match = re.match(r"\d+ \((.*)\) (\S)", stat)
    if not match or match.group(1) != "pkcsslotd" or match.group(2) == "Z":
        return None
    return pid if SOCKET.exists() else None


def start_daemon(timeout: float = 10.0) -> int:
    """Start pkcsslotd (root only) and return its pid once its socket is up."""
    if os.geteuid() != 0:
        raise OpenCryptokiError(
            "pkcsslotd is not running and only root can start it (e.g. systemctl start pkcsslotd)"
        )
    if not RUN_DIR.is_dir():
        tmpfiles = Path("/usr/lib/tmpfiles.d/opencryptoki.conf")
        if shutil.which("systemd-tmpfiles") and tmpfiles.exists():
            subprocess.run(
                ["systemd-tmpfiles", "--create", str(tmpfiles)], capture_output=True, check=False
            )
        if not RUN_DIR.is_dir():
            subprocess.run(
                ["install", "-d", "-m", "0710", "-o", "pkcsslotd", "-g", "pkcs11", str(RUN_DIR)],
                capture_output=True,
                check=False,
            )
    proc = subprocess.run([PKCSSLOTD], capture_output=True, text=True, timeout=30, check=False)
    if proc.returncode != 0:
        raise OpenCryptokiError(
            f"{PKCSSLOTD} failed to start (exit {proc.returncode}): "
            f"{(proc.stderr or proc.stdout).strip() or 'no message'}"
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = daemon_pid()
        if pid is not None:
            return pid
        time.sleep(0.05)
    raise OpenCryptokiError(f"{PKCSSLOTD} started but {SOCKET} did not appear in {timeout:.0f}s")


def _start_time(pid: int) -> str | None:
    """The process's start time (field 22 of /proc/PID/stat), to tell a reused pid apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


_STOPPER = """
import os, signal, sys, time
watched, daemon, started = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]

def state(pid):
    try:
        with open(f"/proc/{pid}/stat") as fh:
            comm, rest = fh.read().rsplit(")", 1)
    except OSError:
        return None
    return comm.split("(", 1)[1], rest.split()[0], rest.split()[19]

while (s := state(watched)) is not None and s[1] != "Z":
    time.sleep(0.2)
for _ in range(300):
    s = state(daemon)
    if s is None or s[0] != "pkcsslotd" or s[1] == "Z" or s[2] != started:
        break
    os.kill(daemon, signal.SIGTERM)
    time.sleep(0.1)
"""


def stop_daemon_when_done(pid: int) -> None:
    """Stop the pkcsslotd with this pid (one this process started) once this process has
    ended: pkcsslotd does not exit while a process still has the library initialised,
    and the signer bindings keep it initialised for the life of the process."""
    started = _start_time(pid)
    if started is None:
        return
    subprocess.Popen(
        [sys.executable, "-c", _STOPPER, str(os.getpid()), str(pid), started],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def shm_prefix(store: Path) -> str:
    """/dev/shm name prefix openCryptoki derives from a token store's path."""
    return "/dev/shm/" + str(store.resolve()).lstrip("/").replace("/", ".")


@dataclass(frozen=True)
class TokenState:
    label: str
    flags: int

    @property
    def initialized(self) -> bool:
        return bool(self.flags & CKF_TOKEN_INITIALIZED)

    @property
    def user_pin_initialized(self) -> bool:
        return bool(self.flags & CKF_USER_PIN_INITIALIZED)


@dataclass(frozen=True)
class OpenCryptokiToken:
    """The soft token in a private store; PINs are kept out of repr."""

    module: str
    store: Path
    slot_id: int
    label: str
    so_pin: str = field(repr=False)
    user_pin: str = field(repr=False)

    @property
    def env(self) -> dict[str, str]:
        """What a process needs in its environment to see this token."""
        return {STORE_VAR: str(self.store)}

    @classmethod
    def create(cls, store: Path, label: str, so_pin: str, user_pin: str) -> OpenCryptokiToken:
        """Initialise the soft token in the new, empty directory ``store``."""
        module, slot = find_module(), soft_slot()
        if module is None or slot is None:
            raise OpenCryptokiError(unavailable_reason() or "openCryptoki is not installed")
        store = store.resolve()
        if any(store.iterdir()):
            raise OpenCryptokiError(f"{store} is not empty (a new token store is expected)")
        (store / SOFT_DIR / "TOK_OBJ").mkdir(parents=True)
        token = cls(module, store, slot, label, so_pin, user_pin)
        state = token.state()
        if not glob.glob(shm_prefix(store) + ".*"):
            raise OpenCryptokiError(
                f"openCryptoki does not keep its soft token in {STORE_VAR}={store}; "
                "refusing to initialise a token outside it"
            )
        if state.initialized:
            raise OpenCryptokiError(
                f"the soft token in slot {slot} is already initialised (label {state.label!r}) "
                f"although {store} is new: it is not this test session's token; left untouched"
            )
        token._pkcsconf(["-I", "-S", DEFAULT_SO_PIN], stdin=label + "\n")
        token._pkcsconf(["-P", "-S", DEFAULT_SO_PIN, "-n", so_pin])
        token._pkcsconf(["-u", "-S", so_pin, "-n", user_pin])
        state = token.state()
        if state.label != label or not state.user_pin_initialized:
            raise OpenCryptokiError(
                f"after initialising, the soft token is labelled {state.label!r} with flags "
                f"0x{state.flags:x} (expected {label!r} with a user PIN)"
            )
        if not (store / SOFT_DIR / "NVTOK.DAT").exists():
            raise OpenCryptokiError(f"the initialised token's data is not in {store / SOFT_DIR}")
        return token

    def _pkcsconf(self, args: list[str], stdin: str | None = None) -> str:
        proc = subprocess.run(
            [PKCSCONF, "-c", str(self.slot_id), *args],
            env={**os.environ, **self.env},
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if proc.returncode != 0:
            # pkcsconf's messages name the failing call, never a PIN; the command line has PINs
            message = (proc.stderr or proc.stdout).strip().splitlines()
            raise OpenCryptokiError(
                f"pkcsconf {args[0]} on slot {self.slot_id} failed (exit {proc.returncode}): "
                f"{message[-1] if message else 'no message'}"
            )
        return proc.stdout

    def state(self) -> TokenState:
        """Label and flags of the token, from ``pkcsconf -t``."""
        out = self._pkcsconf(["-t"])
        label = re.search(r"^\s*Label:\s*(.*?)\s*$", out, re.M)
        flags = re.search(r"^\s*Flags:\s*0x([0-9A-Fa-f]+)", out, re.M)
        if not label or not flags:
            raise OpenCryptokiError(f"pkcsconf -t on slot {self.slot_id}: no label or flags shown")
        return TokenState(label.group(1), int(flags.group(1), 16))

    def generate_key(self, label: str, binding: str = "pykcs11") -> bytes:
        """Generate a secp256k1 keypair on the token with ``oceanfed hsm init`` (in a child
        process, so this process's library state is untouched); returns the compressed
        public key."""
        env = {**os.environ, **self.env, "OCEANFED_OCK_PIN": self.user_pin}
        cmd = [
            sys.executable, "-m", "oceanfed_pkcs11.cli", "--library", self.module, "--token-label", self.label,
            "--label", label, "--pin-env", "OCEANFED_OCK_PIN", "--binding", binding,
        ]  # fmt: skip
        proc = subprocess.run(
            cmd, env=env, capture_output=True, text=True, timeout=120, check=False
        )
        match = re.search(r"^pubkey ([0-9a-f]{66})$", proc.stdout, re.M)
        if proc.returncode != 0 or not match:
            raise OpenCryptokiError(f"hsm init failed: {(proc.stderr or proc.stdout).strip()}")
        return bytes.fromhex(match.group(1))

    def write_pin_file(self, path: Path) -> Path:
        """Write the user PIN to ``path`` with mode 0600, as the signer's pin_file wants."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(self.user_pin + "\n")
        os.chmod(path, 0o600)
        return path

    def remove_shared_memory(self) -> None:
        """Remove the shared memory openCryptoki made for this store (only this store's)."""
        for path in glob.glob(shm_prefix(self.store) + ".*"):
            with contextlib.suppress(OSError):
                os.unlink(path)
