"""oceanfed's developer tooling: the embedded devnet, the demo and the benchmarks.

The devnet is an embedded, Ocean-compatible signed chain for demos, tests and benchmarks:
:mod:`.store` (SQLite: blocks and chain state), :mod:`.state` (UTXO set, assets, freeze
list, transaction rules), :mod:`.mempool`, :mod:`.chain` (validation and the active chain),
:mod:`.wallet` and :mod:`.signing` (per-endpoint wallets), :mod:`.rpc` (dispatching the
JSON-RPC methods of :mod:`.rpc_methods`, :mod:`.rpc_tx` and :mod:`.rpc_wallet`, registered
in :mod:`.rpc_registry`), :mod:`.txjson` (decoded forms), :mod:`.server` (HTTP endpoints,
one per member or client), :mod:`.setup` (creating and opening a devnet directory) and
:mod:`.oceand` (the same layout on real oceand nodes).

Around it: :mod:`.launcher` (a devnet and its members as child processes),
:mod:`.hsm_members` (members signing on a SoftHSM2 token), the packages :mod:`.demo` and
:mod:`.bench`, and :mod:`.cli` (the ``devnet``, ``demo`` and ``bench`` commands, entry
points of the group ``oceanfed.commands``).
"""
