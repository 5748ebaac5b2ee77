"""Child processes whose output goes to files, never to a pipe that nobody reads.

A child writing into a pipe the test has stopped reading blocks once the pipe's buffer is
full (64 KiB on Linux), which on a loaded machine turns into a test timing out. Here
stdout and stderr are files in a directory of the test's, read back as often as needed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any


class Spawned:
    """``Popen`` with stdout and stderr written to ``DIR/NAME.out`` and ``DIR/NAME.err``."""

    def __init__(
        self,
        args: list[str],
        directory: Path,
        name: str = "proc",
        env: Mapping[str, str] | None = None,
        **popen: Any,
    ):
        directory.mkdir(parents=True, exist_ok=True)
        self.out_path = directory / f"{name}.out"
        self.err_path = directory / f"{name}.err"
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(
                args, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}, **popen,
            )
        self.pid = self.proc.pid

    def stdout(self) -> str:
        return self.out_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def wait_for_line(
        self, predicate: Callable[[str], bool], timeout: float, what: str = "a line"
    ) -> str:
        """The first line of stdout matching ``predicate``; AssertionError (with the end of
        stderr) if the process exits or ``timeout`` passes first."""
        deadline = time.monotonic() + timeout
        while True:
            line = next((x for x in self.stdout().splitlines() if predicate(x)), None)
            if line is not None:
                return line
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"exited ({self.proc.returncode}) before {what}: {self.stderr()[-2000:]}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}: {self.stderr()[-2000:]}")
            time.sleep(0.05)

    def stop(self, sig: int, timeout: float = 30) -> int:
        """Send ``sig`` (if still running) and wait; SIGKILL after ``timeout``."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def stop_groups(procs: Iterable[subprocess.Popen[bytes]], timeout: float) -> None:
    """SIGTERM the process group of each child still running (each started with
    ``start_new_session=True``), then wait for each; SIGKILL a group after ``timeout``."""
    procs = list(procs)
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def oceanfed_args(*args: str) -> list[str]:
    """The command line of ``oceanfed ARGS`` with this interpreter."""
    return [sys.executable, "-m", "oceanfed.cli.main", *args]
