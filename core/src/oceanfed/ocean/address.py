"""Ocean addresses and WIF keys (base58check), as the ``ocean_test`` chain encodes them.

P2PKH addresses use version byte 235 (they start with "2d"), P2SH addresses 75, and WIF
private keys 0xef with the compressed-key suffix 0x01 (FACTS.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import base58

from oceanfed.ocean.encoding import hash160


@dataclass(frozen=True)
class Network:
    """Base58 version bytes of one chain."""

    p2pkh: int = 235
    p2sh: int = 75
    wif: int = 0xEF


OCEAN_TEST = Network()


def p2pkh_script(h160: bytes) -> bytes:
    """``OP_DUP OP_HASH160 <h160> OP_EQUALVERIFY OP_CHECKSIG``."""
    return b"\x76\xa9\x14" + h160 + b"\x88\xac"


def p2sh_script(h160: bytes) -> bytes:
    """``OP_HASH160 <h160> OP_EQUAL``."""
    return b"\xa9\x14" + h160 + b"\x87"


def p2pkh_of_pubkey(pubkey: bytes) -> bytes:
    return p2pkh_script(hash160(pubkey))


def p2sh_of_redeem(redeem_script: bytes) -> bytes:
    return p2sh_script(hash160(redeem_script))


def is_p2pkh(script: bytes) -> bool:
    return len(script) == 25 and script[:3] == b"\x76\xa9\x14" and script[23:] == b"\x88\xac"


def is_p2sh(script: bytes) -> bool:
    return len(script) == 23 and script[:2] == b"\xa9\x14" and script[22] == 0x87


def script_to_address(script: bytes, net: Network = OCEAN_TEST) -> str | None:
    """The address of a P2PKH or P2SH scriptPubKey, or None for any other script."""
    if is_p2pkh(script):
        return base58.b58encode_check(bytes([net.p2pkh]) + script[3:23]).decode()
    if is_p2sh(script):
        return base58.b58encode_check(bytes([net.p2sh]) + script[2:22]).decode()
    return None


def address_to_script(address: str, net: Network = OCEAN_TEST) -> bytes:
    """The scriptPubKey an address pays to; ValueError when it is not one of ``net``'s."""
    try:
        payload = base58.b58decode_check(address)
    except ValueError:
        raise ValueError("not a base58check address") from None
    if len(payload) == 21 and payload[0] == net.p2pkh:
        return p2pkh_script(payload[1:])
    if len(payload) == 21 and payload[0] == net.p2sh:
        return p2sh_script(payload[1:])
    raise ValueError("not an address of this chain")


def encode_wif(privkey: bytes, net: Network = OCEAN_TEST) -> str:
    """WIF of a 32-byte private key (compressed public key)."""
    return base58.b58encode_check(bytes([net.wif]) + privkey + b"\x01").decode()


def decode_wif(text: str, net: Network = OCEAN_TEST) -> bytes:
    """The 32-byte private key of a WIF of this chain; ValueError otherwise."""
    try:
        payload = base58.b58decode_check(text)
    except ValueError:
        raise ValueError("not a base58check key") from None
    if len(payload) == 34 and payload[-1] == 1:
        payload = payload[:-1]
    if len(payload) != 33 or payload[0] != net.wif:
        raise ValueError("not a private key of this chain")
    return payload[1:]
