"""PKCS#11 HSM signers for oceanfed (python-pkcs11 and PyKCS11)."""
