"""Exceptions shared by the core and the plugins.

Anything derived from :class:`OceanfedError` is a user-facing problem: the CLI prints its
message on one line and exits non-zero, with no traceback. Messages must name the field,
file or peer at fault and never contain a secret.
"""

from __future__ import annotations


class OceanfedError(Exception):
    """A problem the operator can fix; printed as one line."""


class ConfigError(OceanfedError):
    """A configuration file or field is invalid."""


class DecodeError(OceanfedError):
    """Bytes from the network or a node could not be decoded."""


class RPCError(OceanfedError):
    """The node answered a JSON-RPC call with an error, or could not be reached."""

    def __init__(self, message: str, code: int | None = None, method: str | None = None):
        super().__init__(message)
        self.code = code
        self.method = method


class SignerError(OceanfedError):
    """A signer could not produce a valid signature."""


class MessengerError(OceanfedError):
    """A messenger could not be set up or has failed."""


class FatalError(OceanfedError):
    """A plugin found a state in which the member must stop (e.g. a half-done reissuance)."""


class BlockComplete(SignerError):
    """The node already has the block to be signed: the others completed it first.

    For a slower signer this is the normal end of a height, not a failure.
    """
