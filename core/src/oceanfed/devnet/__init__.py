"""An embedded, Ocean-compatible signed chain for demos, tests and benchmarks.

Modules: :mod:`.store` (SQLite), :mod:`.chain` (validation and the active chain),
:mod:`.rpc_methods` (JSON-RPC methods), :mod:`.server` (HTTP endpoints, one per member),
:mod:`.setup` (creating and opening a devnet directory).
"""
