"""A SoftHSM2 token made to hang as a hung HSM would: another process holds every file of
its store locked, so the library blocks (in ``C_Initialize``, ``C_Sign``, ...) until they are
released."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from oceanfed_pkcs11.softhsm import SoftHSMToken
from testsupport.waiting import wait_until

_LOCKER = """
import fcntl, pathlib, sys
files = [open(path, "r+b") for path in sys.argv[2:]]
for f in files:
    fcntl.lockf(f, fcntl.LOCK_EX)
pathlib.Path(sys.argv[1]).write_text("locked")
sys.stdin.read()  # until the test closes our stdin
"""


class TokenLock:
    """``with TokenLock(token):`` the token hangs; on leaving, it answers again."""

    def __init__(self, token: SoftHSMToken):
        self.dir = Path(token.conf_path).parent / "tokens"
        self.ready = Path(token.conf_path).parent / "locked"

    def __enter__(self) -> TokenLock:
        files = sorted(str(p) for p in self.dir.glob("*/*") if p.is_file())
        assert files, f"no token files under {self.dir}"
        self.ready.unlink(missing_ok=True)
        self.proc = subprocess.Popen([sys.executable, "-c", _LOCKER, str(self.ready), *files],
                                     stdin=subprocess.PIPE)
        wait_until(self.ready.exists, timeout=30, what="the token's files to be locked")
        return self

    def __exit__(self, *_exc: object) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=10)
