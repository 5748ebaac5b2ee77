"""Ocean chain formats: serialization, scripts, headers, blocks and transactions."""
