"""Where the real-node test vectors are: ``$OCEANFED_VECTORS``, else ``shared/`` beside the repo."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def find_vectors() -> Path:
    candidates = [
        os.environ.get("OCEANFED_VECTORS", ""),
        str(REPO.parent / "shared" / "ocean" / "vectors"),
        "/work/shared/ocean/vectors",
    ]
    for candidate in candidates:
        if candidate and (Path(candidate) / "keys.json").exists():
            return Path(candidate)
    return Path(candidates[1])


VECTORS = find_vectors()
