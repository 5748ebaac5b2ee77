"""Coverage-guided fuzzing with atheris (libFuzzer): ``python atheris_fuzz.py TARGET [libFuzzer flags]``.

TARGET is one of :data:`targets.TARGETS`. Any exception other than DecodeError, or a hang
past ``-timeout``, makes libFuzzer stop with a non-zero status and the crashing input.
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # targets, and testsupport

with atheris.instrument_imports():
    import targets  # noqa: E402


def main() -> None:
    name = sys.argv.pop(1)
    target = targets.TARGETS[name]
    atheris.Setup(sys.argv, target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
