"""Create a devnet directory, and open one to serve it.

``create_devnet(DIR, members=5, threshold=3)`` writes::

    DIR/devnet.toml          the devnet's own config (chain, ports, members)
    DIR/genesis.hex          the genesis block
    DIR/chain.sqlite         the chain (created on first serve)
    DIR/<name>/fed.toml      each member's oceanfed config
    DIR/<name>/block.key     its block-signing key (hex, 0600)
    DIR/<name>/transport.key its message-signing key (hex, 0600)
    DIR/<name>/rpc.password  its RPC password (0600)
    DIR/<name>/wallet.json   its wallet (0600), holding its block key
    DIR/<name>/curve.key     its ZeroMQ CURVE secret key (Z85, 0600): with the zmq
                             messenger, CURVE encryption is on unless ``curve=False``

Members are named ``m0`` … ``mN-1`` and listed in script order.

Clients: ``create_devnet(DIR, clients=2)`` adds endpoints ``c0``, ``c1`` … that are not
federation members: each has its own port, ``rpc.password`` and wallet, and serves the
same methods (``signblock`` answers "00"). Demo clients issue assets and send transfers
through them.

Initial free coins (``-initialfreecoins``): the genesis block issues
``initial_free_coins`` satoshi of the policy asset over 100 outputs, shared round-robin
between the endpoints named in ``free_coins_to`` (default: every client, or ``m0`` when
there are none). A member receives them at its block key's P2PKH address, a client at a
key generated into its wallet, so both can spend them at once. With ``genesis_hex`` (e.g.
the vectors' genesis) the coins are wherever that block puts them; import the key with
``importprivkey`` to spend them.
"""

from __future__ import annotations

import errno
import os
import secrets
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from oceanfed.atomicfile import write_atomic
from oceanfed.crypto import pubkey_of
from oceanfed.errors import ConfigError, DecodeError, OceanfedError
from oceanfed.keyfile import (
    generate_private_key,
    read_private_key,
    read_secret_file,
    write_private_key,
    write_secret_file,
)
from oceanfed.netutil import free_ports
from oceanfed.ocean.address import p2pkh_of_pubkey
from oceanfed.ocean.block import Block
from oceanfed.ocean.coinbase import OP_RETURN, genesis_block
from oceanfed.ocean.script import multisig_script, parse_multisig
from oceanfed.ocean.tx import merkle_root
from oceanfed.tomlwrite import toml_value
from oceanfed_devnet.chain import Chain
from oceanfed_devnet.rpc_registry import Endpoint
from oceanfed_devnet.server import DevnetServer, EndpointServer
from oceanfed_devnet.state import MAX_MONEY
from oceanfed_devnet.store import ChainStore
from oceanfed_devnet.wallet import Wallet

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEVNET_TOML = "devnet.toml"
GENESIS_FILE = "genesis.hex"
DB_FILE = "chain.sqlite"
MAX_MEMBERS = 16
#: ``-initialfreecoins`` default: 21 million coins, in satoshi
INITIAL_FREE_COINS = 21_000_000 * 100_000_000


@dataclass
class DevnetLayout:
    """Where everything of one devnet lives, and its ports."""

    dir: Path
    chain: str
    threshold: int
    block_time: float
    members: list[str]
    rpc_ports: list[int]
    messenger_ports: list[int]
    genesis_hash: str
    messenger: str = "zmq"
    coinbase_destination: str = OP_RETURN.hex()
    pubkeys: list[str] = field(default_factory=list)
    clients: list[str] = field(default_factory=list)
    client_ports: list[int] = field(default_factory=list)
    #: the backend: "devnet" (embedded) or "oceand" (real nodes, :mod:`.oceand`)
    node: str = "devnet"
    #: oceand only: each endpoint's P2P port (members, then clients)
    p2p_ports: list[int] = field(default_factory=list)
    #: oceand only: where oceand and ocean-cli live ("" = the default search)
    oceand_bindir: str = ""

    @property
    def endpoints(self) -> list[str]:
        """Every endpoint: the members, then the clients."""
        return self.members + self.clients

    @property
    def config_file(self) -> Path:
        return self.dir / DEVNET_TOML

    @property
    def genesis_file(self) -> Path:
        return self.dir / GENESIS_FILE

    @property
    def db_path(self) -> Path:
        return self.dir / DB_FILE

    def member_dir(self, name: str) -> Path:
        return self.dir / name

    def fed_toml(self, name: str) -> Path:
        return self.member_dir(name) / "fed.toml"

    def block_key_file(self, name: str) -> Path:
        return self.member_dir(name) / "block.key"

    def transport_key_file(self, name: str) -> Path:
        return self.member_dir(name) / "transport.key"

    def password_file(self, name: str) -> Path:
        return self.member_dir(name) / "rpc.password"

    def curve_key_file(self, name: str) -> Path:
        return self.member_dir(name) / "curve.key"

    def wallet_file(self, name: str) -> Path:
        return self.member_dir(name) / "wallet.json"

    def port(self, name: str) -> int:
        if name in self.clients:
            return self.client_ports[self.clients.index(name)]
        return self.rpc_ports[self.members.index(name)]

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port(name)}/"

    def password(self, name: str) -> str:
        return read_secret_file(self.password_file(name), "RPC password")


def _toml(tables: Sequence[tuple[str, dict[str, Any]]]) -> str:
    out = []
    for name, table in tables:
        out.append(f"[{name}]" if not name.startswith("[") else name)
        out.extend(f"{k} = {toml_value(v)}" for k, v in table.items() if v is not None)
        out.append("")
    return "\n".join(out)


def _write_text(path: Path, text: str) -> None:
    """Write a non-secret file atomically and durably."""
    write_atomic(path, text.encode("utf-8"), mode=0o644, replace=True)



def create_devnet(
    dir: str | os.PathLike[str],  # noqa: A002 - the documented parameter name
    members: int = 5,
    threshold: int = 3,
    *,
    base_port: int | None = None,
    block_time: float = 1.0,
    messenger: str = "zmq",
    chain: str = "ocean_test",
    genesis_hex: str | None = None,
    block_keys: Sequence[bytes] | None = None,
    coinbase_destination: bytes = OP_RETURN,
    kafka_bootstrap: str = "127.0.0.1:9092",
    clients: int = 0,
    initial_free_coins: int = INITIAL_FREE_COINS,
    free_coins_to: Sequence[str] | None = None,
    curve: bool = True,
) -> DevnetLayout:
    """Create a devnet in ``dir``; see the module docstring for what is written.

    ``block_keys`` (32-byte private keys, script order) replace the generated keys, and
    ``genesis_hex`` an existing genesis block, whose challenge must be the
    ``threshold``-of-``len(block_keys)`` multisig of those keys. ``clients``,
    ``initial_free_coins`` (satoshi) and ``free_coins_to`` are described in the module
    docstring. ``curve=False`` leaves the zmq messenger unencrypted.
    """
    root = Path(dir)
    if block_keys is not None:
        members = len(block_keys)
    _check_parameters(
        root, members, threshold, block_time, clients, initial_free_coins, messenger
    )
    names = [f"m{i}" for i in range(members)]
    client_names = [f"c{i}" for i in range(clients)]
    receivers = list(free_coins_to) if free_coins_to is not None else client_names or ["m0"]
    unknown = [r for r in receivers if r not in names + client_names]
    if unknown or not receivers:
        raise ConfigError(
            f"devnet: free_coins_to names {unknown or 'nothing'}; expected endpoint names"
            f" among {names + client_names}"
        )
    port_count = members * (2 if messenger == "zmq" else 1) + clients
    ports = _ports(base_port, port_count)
    rpc_ports, client_ports = ports[:members], ports[members : members + clients]
    messenger_ports = ports[members + clients :]

    keys = list(block_keys) if block_keys is not None else [generate_private_key() for _ in names]
    pubkeys = [pubkey_of(k) for k in keys]
    script = multisig_script(threshold, pubkeys)
    if genesis_hex is not None:
        try:
            genesis = Block.from_hex(genesis_hex.strip())
        except DecodeError as exc:
            raise ConfigError(f"devnet: genesis block: {exc}") from None
        if genesis.header.challenge != script:
            raise ConfigError(
                f"devnet: the genesis challenge is not the {threshold}-of-{members} multisig of the given keys"
            )
    client_keys = {n: generate_private_key() for n in client_names}
    coin_keys = {**dict(zip(names, keys, strict=True)), **client_keys}
    if genesis_hex is None:
        genesis = _genesis(
            script,
            [p2pkh_of_pubkey(pubkey_of(coin_keys[r])) for r in receivers],
            initial_free_coins,
        )

    _make_dirs(root, [root / name for name in names + client_names])

    layout = DevnetLayout(
        dir=root.resolve(),
        chain=chain,
        threshold=threshold,
        block_time=block_time,
        members=names,
        rpc_ports=rpc_ports,
        messenger_ports=messenger_ports,
        genesis_hash=genesis.hash_hex(),
        messenger=messenger,
        coinbase_destination=coinbase_destination.hex(),
        pubkeys=[p.hex() for p in pubkeys],
        clients=client_names,
        client_ports=client_ports,
    )
    for name, key in coin_keys.items():
        Wallet(layout.wallet_file(name)).import_key(key, "block" if name in names else "")
    for name in client_names:
        write_secret_file(layout.password_file(name), secrets.token_hex(16), force=True)
    for name in names:
        write_secret_file(layout.password_file(name), secrets.token_hex(16), force=True)
    _write_text(layout.genesis_file, genesis.block_hex() + "\n")
    _write_members(layout, keys, script, kafka_bootstrap, curve)
    _write_text(layout.config_file, _devnet_toml(layout))
    return layout


def _check_parameters(
    root: Path,
    members: int,
    threshold: int,
    block_time: float,
    clients: int,
    initial_free_coins: int,
    messenger: str,
) -> None:
    """ConfigError on the first parameter of a new devnet that is out of bounds."""
    if not 1 <= members <= MAX_MEMBERS:
        raise ConfigError(f"devnet: members must be between 1 and {MAX_MEMBERS}, got {members}")
    if not 1 <= threshold <= members:
        raise ConfigError(
            f"devnet: threshold {threshold} must be between 1 and the number of members ({members})"
        )
    if block_time < 0:
        raise ConfigError(f"devnet: block time must be >= 0, got {block_time}")
    if not 0 <= clients <= MAX_MEMBERS:
        raise ConfigError(f"devnet: clients must be between 0 and {MAX_MEMBERS}, got {clients}")
    if not 0 < initial_free_coins <= MAX_MONEY:
        raise ConfigError(
            f"devnet: initial free coins must be between 1 and {MAX_MONEY} satoshi,"
            f" got {initial_free_coins}"
        )
    if messenger not in ("zmq", "kafka"):
        raise ConfigError(f"devnet: messenger must be 'zmq' or 'kafka', got {messenger!r}")
    if (root / DEVNET_TOML).exists():
        raise ConfigError(
            f"{root}: already holds a devnet ({DEVNET_TOML}); choose an empty directory"
        )


def _ports(base_port: int | None, count: int) -> list[int]:
    """``count`` free ports, or ``count`` consecutive ones from ``base_port``."""
    if base_port is None:
        return free_ports(count)
    if not 1024 <= base_port <= 65535 - count:
        raise ConfigError(
            f"devnet: base port {base_port} leaves no room for {count} ports below 65536"
        )
    return list(range(base_port, base_port + count))


def _make_dirs(root: Path, dirs: Sequence[Path]) -> None:
    """Create ``root`` and ``dirs``; ConfigError naming ``root`` when that fails."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        for d in dirs:
            d.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{root}: cannot create the devnet directory ({exc.strerror})") from None


def _write_members(
    layout: DevnetLayout, keys: Sequence[bytes], script: bytes, kafka: str, curve: bool
) -> None:
    """Write each member's block key, a new transport key, CURVE key and ``fed.toml``."""
    transport_pubkeys = []
    for name, key in zip(layout.members, keys, strict=True):
        write_private_key(layout.block_key_file(name), key, force=True)
        transport = generate_private_key()
        write_private_key(layout.transport_key_file(name), transport, force=True)
        transport_pubkeys.append(pubkey_of(transport).hex())
    fed_members = [
        {"name": n, "pubkey": p, "transport_pubkey": t}
        for n, p, t in zip(layout.members, layout.pubkeys, transport_pubkeys, strict=True)
    ]
    curve_keys = _curve_keys(layout) if curve and layout.messenger == "zmq" else None
    for i, name in enumerate(layout.members):
        _write_text(
            layout.fed_toml(name),
            _fed_toml(layout, i, fed_members, script, kafka, curve_keys),
        )


def _genesis(challenge: bytes, destinations: list[bytes], total: int) -> Block:
    """A genesis block issuing ``total`` over 100 outputs, round-robin to ``destinations``."""
    block = genesis_block(
        challenge, time=int(time.time()), destination=destinations[0], total=total
    )
    coinbase, issue = block.txs
    issue = replace(
        issue,
        vout=tuple(
            replace(o, script_pubkey=destinations[i % len(destinations)])
            for i, o in enumerate(issue.vout)
        ),
    )
    header = replace(block.header, merkle_root=merkle_root([coinbase.txid(), issue.txid()]))
    return Block(header, (coinbase, issue))


def _curve_keys(layout: DevnetLayout) -> dict[str, str]:
    """Write each member's CURVE secret key file; return the public keys, by member."""
    try:
        import zmq
    except ImportError:
        raise ConfigError(
            "devnet: CURVE keys for the zmq messenger need pyzmq (pip install oceanfed[zmq]); "
            "or create the devnet without CURVE (--no-curve)"
        ) from None
    public = {}
    for name in layout.members:
        pub, secret = zmq.curve_keypair()
        write_secret_file(layout.curve_key_file(name), secret.decode("ascii"), force=True)
        public[name] = pub.decode("ascii")
    return public


def _fed_toml(
    layout: DevnetLayout,
    index: int,
    members: list[dict[str, str]],
    script: bytes,
    kafka: str,
    curve_keys: dict[str, str] | None = None,
) -> str:
    name = layout.members[index]
    if layout.messenger == "zmq":
        messenger: dict[str, Any] = {
            "driver": "zmq",
            "bind": f"tcp://127.0.0.1:{layout.messenger_ports[index]}",
            "peers": {
                n: f"tcp://127.0.0.1:{layout.messenger_ports[i]}"
                for i, n in enumerate(layout.members)
                if i != index
            },
        }
        if curve_keys is not None:
            messenger["curve_secret_key_file"] = "curve.key"
            messenger["curve_public_keys"] = curve_keys
    else:
        messenger = {"driver": "kafka", "bootstrap_servers": [kafka]}
    header = f"# oceanfed config of devnet member {name} (generated by 'oceanfed devnet')\n\n"
    body = _toml(
        [
            (
                "federation",
                {
                    "chain": layout.chain,
                    "threshold": layout.threshold,
                    "block_time": layout.block_time,
                    "signblockscript": script.hex(),
                },
            ),
            *(("[[federation.members]]", m) for m in members),
            ("member", {"name": name, "state_dir": "state", "transport_key_file": "transport.key"}),
            ("node", {"url": layout.url(name), "user": name, "password_file": "rpc.password"}),
            ("rounds", {}),
            ("messenger", messenger),
            ("signer", {"driver": "soft", "key_file": "block.key"}),
        ]
    )
    return header + body


def _devnet_toml(layout: DevnetLayout) -> str:
    p2p: list[int | None] = [*layout.p2p_ports] or [None] * len(layout.endpoints)
    return "# devnet chain served by 'oceanfed devnet serve'\n\n" + _toml(
        [
            (
                "devnet",
                {
                    "node": None if layout.node == "devnet" else layout.node,
                    "oceand_bindir": layout.oceand_bindir or None,
                    "chain": layout.chain,
                    "threshold": layout.threshold,
                    "block_time": layout.block_time,
                    "messenger": layout.messenger,
                    "genesis_hash": layout.genesis_hash,
                    "coinbase_destination": layout.coinbase_destination,
                },
            ),
            *(
                (
                    "[[members]]",
                    {"name": n, "pubkey": p, "rpc_port": r, "messenger_port": m, "p2p_port": q},
                )
                for n, p, r, m, q in zip(
                    layout.members,
                    layout.pubkeys,
                    layout.rpc_ports,
                    layout.messenger_ports or [0] * len(layout.members),
                    p2p[: len(layout.members)],
                    strict=True,
                )
            ),
            *(
                ("[[clients]]", {"name": n, "rpc_port": r, "p2p_port": q})
                for n, r, q in zip(
                    layout.clients, layout.client_ports, p2p[len(layout.members) :], strict=True
                )
            ),
        ]
    )


def load_layout(dir: str | os.PathLike[str]) -> DevnetLayout:  # noqa: A002
    """Read ``DIR/devnet.toml``; ConfigError naming the file when missing or invalid."""
    root = Path(dir).resolve()
    path = root / DEVNET_TOML
    try:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no devnet here (create one with 'oceanfed devnet --members N --threshold M --dir {dir}')"
        ) from None
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read devnet config ({exc})") from None
    try:
        d = raw["devnet"]
        members = raw["members"]
        return DevnetLayout(
            dir=root,
            chain=str(d["chain"]),
            threshold=int(d["threshold"]),
            block_time=float(d["block_time"]),
            members=[str(m["name"]) for m in members],
            rpc_ports=[int(m["rpc_port"]) for m in members],
            messenger_ports=[int(m["messenger_port"]) for m in members if m.get("messenger_port")],
            genesis_hash=str(d["genesis_hash"]),
            messenger=str(d.get("messenger", "zmq")),
            coinbase_destination=str(d.get("coinbase_destination", OP_RETURN.hex())),
            pubkeys=[str(m["pubkey"]) for m in members],
            clients=[str(c["name"]) for c in raw.get("clients", [])],
            client_ports=[int(c["rpc_port"]) for c in raw.get("clients", [])],
            node=str(d.get("node", "devnet")),
            p2p_ports=[
                int(e["p2p_port"]) for e in [*members, *raw.get("clients", [])] if "p2p_port" in e
            ],
            oceand_bindir=str(d.get("oceand_bindir", "")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: malformed devnet config ({exc})") from None


def open_chain(layout: DevnetLayout) -> Chain:
    """Open (or initialise) the devnet's chain database."""
    if layout.node != "devnet":
        raise ConfigError(
            f"{layout.config_file}: this devnet runs on {layout.node} nodes, not the embedded"
            f" chain (serve it with 'oceanfed devnet serve --dir {layout.dir}')"
        )
    try:
        genesis = Block.from_hex(layout.genesis_file.read_text().strip())
    except OSError as exc:
        raise ConfigError(
            f"{layout.genesis_file}: cannot read genesis block ({exc.strerror})"
        ) from None
    except DecodeError as exc:
        raise ConfigError(f"{layout.genesis_file}: {exc}") from None
    if genesis.hash_hex() != layout.genesis_hash:
        raise ConfigError(f"{layout.genesis_file}: genesis hash differs from {layout.config_file}")
    try:
        _, keys = parse_multisig(genesis.header.challenge)
    except DecodeError as exc:
        raise ConfigError(f"{layout.genesis_file}: challenge: {exc}") from None
    if [k.hex() for k in keys] != layout.pubkeys:
        raise ConfigError(f"{layout.config_file}: member pubkeys differ from the genesis challenge")
    try:
        destination = bytes.fromhex(layout.coinbase_destination)
    except ValueError:
        raise ConfigError(
            f"{layout.config_file}: devnet.coinbase_destination: expected script hex"
        ) from None
    return Chain(
        ChainStore(layout.db_path), genesis, name=layout.chain, coinbase_destination=destination
    )


def start_devnet(dir: str | os.PathLike[str]) -> tuple[DevnetLayout, DevnetServer]:  # noqa: A002
    """Open a devnet directory and serve every endpoint from background threads.

    ``server.chain`` is the chain; ``server.stop()`` stops serving and closes it.
    """
    layout = load_layout(dir)
    chain = open_chain(layout)
    try:
        server = open_servers(layout, chain)
    except BaseException:
        chain.store.close()
        raise
    server.start()
    return layout, server


def open_servers(layout: DevnetLayout, chain: Chain) -> DevnetServer:
    """Bind every member's endpoint (not yet serving); OceanfedError naming a taken port."""
    servers: list[EndpointServer] = []
    try:
        for name in layout.endpoints:
            port = layout.port(name)
            key = read_private_key(layout.block_key_file(name)) if name in layout.members else None
            endpoint = Endpoint(name, chain, key, Wallet(layout.wallet_file(name)))
            password = layout.password(name)
            if not password:
                raise ConfigError(f"{layout.password_file(name)}: RPC password file is empty")
            try:
                servers.append(EndpointServer(port, endpoint, password))
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise OceanfedError(
                        f"devnet: port {port} ({'member' if key else 'client'} {name}) is already in use"
                    ) from None
                raise OceanfedError(
                    f"devnet: cannot listen on 127.0.0.1:{port} ({exc.strerror})"
                ) from None
    except BaseException:
        for srv in servers:
            srv.server_close()
        raise
    return DevnetServer(servers, chain)
