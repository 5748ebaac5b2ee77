"""Which block-signing key this member has: asked of its node wallet or read from its HSM.

* Node wallet: the node is asked for a proposal (``getnewblockhex``) and to sign it
  (``signblock``); the signature is checked against every key of the chain's script, which
  tells which key the wallet holds. Nothing is published.
* HSM: as upstream did, the first initialised token of ``PKCS11_LIB`` and the key labelled
  ``KEY_LABEL`` followed by the member's ``--id`` (or ``KEY_LABEL`` alone); the signer
  plugins are asked for it through the ``oceanfed_upstream_hsm_key`` hook (the pkcs11 plugin
  answers). ``USER_PIN`` logs in when it is set.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from oceanfed.crypto import unwrap_scriptsig, verify_digest
from oceanfed.errors import ConfigError, DecodeError, OceanfedError, RPCError
from oceanfed.interfaces import HsmSignerTable, UpstreamHsm
from oceanfed.migrate.chain import ChainInfo
from oceanfed.ocean.block import Block
from oceanfed.plugins import hook_manager
from oceanfed.rpc import NodeClient

#: the environment variables upstream's HSM path read
PKCS11_LIB = UpstreamHsm.LIBRARY_VAR
KEY_LABEL = UpstreamHsm.KEY_LABEL_VAR
USER_PIN = UpstreamHsm.PIN_VAR


def node_wallet_key(node: NodeClient, chain: ChainInfo, where: str, attempts: int = 3) -> bytes:
    """The script key the node's wallet signs with; OceanfedError if it holds none."""
    for attempt in range(attempts):
        try:
            block_hex = node.call("getnewblockhex")
            answer = node.call("signblock", block_hex)
        except RPCError as exc:
            if attempt + 1 < attempts and exc.code == -25:  # the tip moved meanwhile
                continue
            raise OceanfedError(f"{where}: cannot have the node sign a test proposal: {exc}") from None
        break
    if not isinstance(answer, str) or not isinstance(block_hex, str):
        raise OceanfedError(f"{where}: signblock did not answer a hex string")
    if answer == "00":
        raise ConfigError(
            f"{where}: the node's wallet holds no key of the chain's signblockscript "
            f"({chain.threshold}-of-{chain.members}); import this member's block key "
            "(importprivkey) or give --hsm"
        )
    try:
        digest = Block.from_hex(block_hex).header.digest()
        der = unwrap_scriptsig(bytes.fromhex(answer))
    except (ValueError, DecodeError):
        raise OceanfedError(f"{where}: signblock returned a malformed signature") from None
    for pubkey in chain.pubkeys:
        if verify_digest(pubkey, digest, der, lax=True):
            return pubkey
    raise ConfigError(
        f"{where}: the node's wallet signs with a key that is not in the chain's signblockscript"
    )


def _env(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(
            f"upstream --hsm: environment variable {name} is not set (upstream's HSM signer "
            f"needs {PKCS11_LIB} and {KEY_LABEL}, and {USER_PIN} for the PIN)"
        )
    return value


def hsm_key(member_id: int, env: Mapping[str, str] | None = None) -> HsmSignerTable:
    """Find the HSM key upstream member ``member_id`` signed with, by asking the installed
    signer plugins (``oceanfed_upstream_hsm_key``); ConfigError when none can."""
    env = os.environ if env is None else env
    hsm = UpstreamHsm(member_id, _env(env, PKCS11_LIB), _env(env, KEY_LABEL), env.get(USER_PIN) or None)
    answer: HsmSignerTable | None = hook_manager().hook.oceanfed_upstream_hsm_key(hsm=hsm)
    if answer is None:
        raise ConfigError(
            "migrate: no installed signer plugin can read keys from an HSM; "
            "install oceanfed[hsm] (the pkcs11 signer plugin)"
        )
    return answer
