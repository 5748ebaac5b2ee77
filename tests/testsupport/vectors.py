"""Where the real-node test vectors are: ``$OCEANFED_VECTORS``, else ``shared/`` beside the repo."""

from __future__ import annotations

import json
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def find_vectors() -> Path:
    candidates = [
        os.environ.get("OCEANFED_VECTORS", ""),
        str(REPO.parent / "shared" / "ocean" / "vectors"),
    ]
    for candidate in candidates:
        if candidate and (Path(candidate) / "keys.json").exists():
            return Path(candidate)
    return Path(candidates[1])


VECTORS = find_vectors()


def block_keys() -> list[bytes]:
    """keys.json's private keys, in member (index) order."""
    data = json.loads((VECTORS / "keys.json").read_text())
    return [bytes.fromhex(k["privkey_hex"]) for k in sorted(data["keys"], key=lambda k: k["index"])]


def chain_files() -> list[Path]:
    """The real chain's ``*.blockhex`` files, by height."""
    return sorted((VECTORS / "chain").glob("*.blockhex"))


def chain_hexes() -> list[str]:
    """Hex of the real chain's blocks, by height."""
    return [p.read_text().strip() for p in chain_files()]


def transcripts() -> dict[str, list[dict]]:
    """The recorded JSON-RPC transcripts, by file name."""
    return {
        p.name: json.loads(p.read_text()) for p in sorted((VECTORS / "transcripts").glob("*.json"))
    }
