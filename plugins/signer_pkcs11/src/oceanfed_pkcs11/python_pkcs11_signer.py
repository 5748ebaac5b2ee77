"""``[signer] driver = "pkcs11"``: the PKCS#11 signer on python-pkcs11."""

from __future__ import annotations

from oceanfed_pkcs11.binding_python_pkcs11 import PythonPkcs11Binding
from oceanfed_pkcs11.signer import TokenSigner


class Pkcs11Signer(TokenSigner):
    """Signs block digests with a secp256k1 key on a PKCS#11 token, via python-pkcs11."""

    binding_class = PythonPkcs11Binding
    driver = "pkcs11"
