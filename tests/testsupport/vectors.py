"""Where the real-node test vectors are: ``$OCEANFED_VECTORS`` if set, else the copy in
``tests/data/ocean-vectors`` (recorded from a real ``oceand`` v2.1.1.1, see its README)."""

from __future__ import annotations

import json
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
#: the copy kept in the repository, so a fresh clone tests itself
BUNDLED = REPO / "tests" / "data" / "ocean-vectors"


def find_vectors() -> Path:
    """``$OCEANFED_VECTORS`` when set (an override), else the bundled copy."""
    override = os.environ.get("OCEANFED_VECTORS", "")
    return Path(override) if override else BUNDLED


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
