"""Running the real ``oceanfed`` command in a subprocess, as an operator would."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping


def oceanfed(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``oceanfed ARGS`` (stdin closed, output captured); ``env`` adds to the environment."""
    return subprocess.run(
        [sys.executable, "-m", "oceanfed.cli.main", *args],
        capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )
