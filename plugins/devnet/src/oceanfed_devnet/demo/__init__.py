"""``oceanfed demo``: a local federation on the embedded devnet, with a live view."""
