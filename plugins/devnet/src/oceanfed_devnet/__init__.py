"""An embedded, Ocean-compatible signed chain for demos, tests and benchmarks.

Modules: :mod:`.store` (SQLite: blocks and chain state), :mod:`.state` (UTXO set, assets,
freeze list, transaction rules), :mod:`.mempool`, :mod:`.chain` (validation and the active
chain), :mod:`.wallet` and :mod:`.signing` (per-endpoint wallets), :mod:`.rpc_methods`,
:mod:`.rpc_tx` and :mod:`.rpc_wallet` (JSON-RPC methods), :mod:`.txjson` (decoded forms),
:mod:`.server` (HTTP endpoints, one per member or client), :mod:`.setup` (creating and
opening a devnet directory).
"""
