"""``[signer] driver = "pykcs11"``: the PKCS#11 signer on PyKCS11."""

from __future__ import annotations

from oceanfed_pkcs11.binding_pykcs11 import PyKCS11Binding
from oceanfed_pkcs11.signer import TokenSigner


class PyKCS11Signer(TokenSigner):
    """Signs block digests with a secp256k1 key on a PKCS#11 token, via PyKCS11."""

    binding_class = PyKCS11Binding
    driver = "pykcs11"
