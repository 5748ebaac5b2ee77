"""Hooks of the zmq messenger: the CURVE keys ``oceanfed init`` writes.

CURVE encryption is on unless init is given ``--no-curve``: this member's secret key is read
from ``--curve-key-file`` (beside the config), or generated there, and every other member's
public key is given with ``--curve-key NAME=KEY`` (asked for on a terminal).
"""

from __future__ import annotations

from pathlib import Path

import zmq
from oceanfed.errors import ConfigError
from oceanfed.hookspecs import hookimpl
from oceanfed.interfaces import InitMessenger, InitMessengerAnswer
from oceanfed_zmq.options import curve_public_of, decode_curve_key, read_curve_secret


@hookimpl
def oceanfed_init_messenger(request: InitMessenger) -> InitMessengerAnswer | None:
    """``[messenger]`` CURVE options for the zmq driver; None for any other driver."""
    if request.driver != "zmq":
        return None
    flags = request.flags
    if not getattr(flags, "curve", True):
        return InitMessengerAnswer()
    key_file = str(getattr(flags, "curve_key_file", None) or "curve.key")
    path = request.base_dir / key_file
    public, new_secret = _own_key(path)
    keys = _public_keys(request, list(getattr(flags, "curve_key", None) or []), public, path)
    return InitMessengerAnswer(
        options={"curve_secret_key_file": key_file, "curve_public_keys": keys},
        new_secret_files={path: new_secret} if new_secret is not None else {},
        messages=(f"CURVE public key of {request.me}: {public} "
                  f"(the others give it as --curve-key {request.me}={public})",),
    )


def _own_key(path: Path) -> tuple[str, str | None]:
    """This member's CURVE public key, and its new secret key when ``path`` does not exist."""
    if not path.exists():
        public, secret = zmq.curve_keypair()
        return public.decode("ascii"), secret.decode("ascii")
    return curve_public_of(read_curve_secret(path)).decode("ascii"), None


def _checked(who: str, key: str) -> str:
    try:
        decode_curve_key(key)
    except ValueError as exc:
        raise ConfigError(f"init --curve-key {who}: {exc}") from None
    return key


def _public_keys(request: InitMessenger, items: list[str], mine: str, path: Path) -> dict[str, str]:
    """Every member's CURVE public key, by name (this member's from its secret key)."""
    given: dict[str, str] = {}
    for item in items:
        who, ok, key = item.partition("=")
        if not ok or not who.strip() or not key.strip():
            raise ConfigError(f"init --curve-key: expected NAME=KEY, got {item!r}")
        who = who.strip()
        if who not in request.members:
            raise ConfigError(f"init --curve-key {who}: not one of the --member names")
        given[who] = _checked(who, key.strip())
    if given.setdefault(request.me, mine) != mine:
        raise ConfigError(f"init --curve-key {request.me}: does not match this member's key in {path}")
    missing = [n for n in request.members if n not in given]
    if missing and not request.interactive:
        raise ConfigError(
            f"init: --curve-key NAME=KEY is required for member(s) {', '.join(missing)} "
            "(their 'oceanfed keygen --curve' public key), or --no-curve to run unencrypted"
        )
    for who in missing:
        given[who] = _checked(who, request.ask("--curve-key", f"CURVE public key of member {who} (Z85)"))
    return {n: given[n] for n in request.members}
