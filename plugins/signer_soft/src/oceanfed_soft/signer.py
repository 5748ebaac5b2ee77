"""A signer holding the block key in a local file (see :mod:`oceanfed.keyfile`).

Signatures are RFC 6979 deterministic ECDSA, strict DER with low S: byte for byte what the
node's ``signblock`` produces. libsecp256k1 (coincurve) is used when importable, the pure
Python ``ecdsa`` library otherwise; ``backend`` in the options forces one.

fed.toml::

    [signer]
    driver = "soft"
    key_file = "keys/block.key"     # relative to the config file, mode 0600
"""

from __future__ import annotations

import hashlib
from typing import Literal

import ecdsa
from ecdsa.util import sigencode_der_canonize

from oceanfed.errors import SignerError
from oceanfed.interfaces import PluginContext, PluginOptions, Signer, SignRequest
from oceanfed.keyfile import SecretFile, allows_group_readable, read_private_key, resolve_path

try:
    import coincurve

    HAVE_COINCURVE = True
except ImportError:  # pragma: no cover - coincurve is a core dependency
    HAVE_COINCURVE = False

Backend = Literal["auto", "coincurve", "ecdsa"]


class SoftOptions(PluginOptions):
    """``[signer]`` options of the ``soft`` driver."""

    #: private key file (hex or WIF, mode 0600/0400), relative to the config file
    key_file: SecretFile
    #: ``auto`` prefers coincurve (libsecp256k1) and falls back to ``ecdsa``
    backend: Backend = "auto"


class _CoincurveKey:
    name = "coincurve"

    def __init__(self, secret: bytes):
        self._key = coincurve.PrivateKey(secret)

    def pubkey(self) -> bytes:
        return bytes(self._key.public_key.format(compressed=True))

    def sign(self, digest: bytes) -> bytes:
        return bytes(self._key.sign(digest, hasher=None))


class _EcdsaKey:
    name = "ecdsa"

    def __init__(self, secret: bytes):
        self._key = ecdsa.SigningKey.from_string(
            secret, curve=ecdsa.SECP256k1, hashfunc=hashlib.sha256
        )

    def pubkey(self) -> bytes:
        vk = self._key.get_verifying_key()
        assert vk is not None
        return bytes(vk.to_string("compressed"))

    def sign(self, digest: bytes) -> bytes:
        return bytes(
            self._key.sign_digest_deterministic(
                digest, hashfunc=hashlib.sha256, sigencode=sigencode_der_canonize
            )
        )


def _backend(choice: Backend, secret: bytes) -> _CoincurveKey | _EcdsaKey:
    if choice == "ecdsa" or (choice == "auto" and not HAVE_COINCURVE):
        return _EcdsaKey(secret)
    if not HAVE_COINCURVE:
        raise SignerError("signer.backend: coincurve is not installed")
    return _CoincurveKey(secret)


class SoftSigner(Signer):
    """Signs block header digests with a private key read from ``key_file``."""

    Options = SoftOptions
    #: the key is in this process: a signature takes microseconds, the loop signs itself
    blocking = False

    def __init__(self, options: PluginOptions, context: PluginContext):
        super().__init__(options, context)
        assert isinstance(options, SoftOptions)
        self._path = context_path(context, options.key_file)
        impl = _backend(
            options.backend,
            read_private_key(
                self._path, allow_group_readable=allows_group_readable(options.key_file)
            ),
        )
        self._backend_name = impl.name
        self._pubkey = impl.pubkey()
        self._impl: _CoincurveKey | _EcdsaKey | None = impl

    def __repr__(self) -> str:
        return (
            f"SoftSigner(key_file={self._path!r}, pubkey={self._pubkey.hex()}, "
            f"backend={self._backend_name})"
        )

    @property
    def backend(self) -> str:
        """``coincurve`` or ``ecdsa``: the implementation in use."""
        return self._backend_name

    def pubkey(self) -> bytes:
        return self._pubkey

    def sign(self, request: SignRequest) -> bytes:
        if len(request.digest) != 32:
            raise SignerError(f"soft signer: digest must be 32 bytes, got {len(request.digest)}")
        if self._impl is None:
            raise SignerError("soft signer: closed")
        return self._impl.sign(request.digest)

    def check(self) -> str:
        members = self.context.members
        if members:
            expected = self.context.me.pubkey
            if expected != self._pubkey:
                raise SignerError(
                    f"signer.key_file: {self._path} holds the key of pubkey {self._pubkey.hex()}, "
                    f"but federation.members lists {expected.hex()} for {self.context.me.name!r}"
                )
        return f"soft signer ({self._backend_name}) {self._path}: pubkey {self._pubkey.hex()}"

    def close(self) -> None:
        self._impl = None


def context_path(context: PluginContext, value: str) -> str:
    """Resolve ``value`` against the config file's directory (``context.base_dir``)."""
    return str(resolve_path(context.base_dir, value))
