"""oceanfed.plugins: drivers by entry point, option errors naming the field, hook loading."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from oceanfed import plugins
from oceanfed.config import PluginTable
from oceanfed.errors import ConfigError
from oceanfed.interfaces import MemberInfo, PluginContext
from oceanfed.keyfile import generate_private_key, write_private_key

from .conftest import install_hook_dist


def table(**options: object) -> PluginTable:
    return PluginTable.model_validate(options)


def _context(tmp_path: Path) -> PluginContext:
    members = [MemberInfo(i, n, b"", b"") for i, n in enumerate(["alice", "bob"])]
    return PluginContext(
        member_index=0, members=members, threshold=1, chain="ocean_test", base_dir=str(tmp_path)
    )


def test_installed_lists_name_distribution_version() -> None:
    assert ("zmq", "oceanfed-messenger-zmq", "0.1.0") in plugins.installed(plugins.MESSENGERS)
    names = [n for n, _, _ in plugins.installed(plugins.SIGNERS)]
    assert {"node", "soft"} <= set(names) and names == sorted(names)
    assert plugins.installed("oceanfed.no-such-group") == []


def test_unknown_driver_lists_installed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        plugins.load_signer(PluginTable(driver="yubikey"), _context(tmp_path))
    msg = str(err.value)
    assert msg.startswith("signer.driver: unknown signer 'yubikey' (installed: ")
    assert "soft" in msg and "node" in msg
    with pytest.raises(
        ConfigError,
        match=r"^messenger.driver: unknown messenger 'carrier-pigeon' \(installed: .*zmq",
    ):
        plugins.load_messenger(PluginTable(driver="carrier-pigeon"), _context(tmp_path))


def test_loads_soft_signer_with_relative_key(tmp_path: Path) -> None:
    key = generate_private_key()
    write_private_key(tmp_path / "block.key", key)
    signer = plugins.load_signer(table(driver="soft", key_file="block.key"), _context(tmp_path))
    from oceanfed.crypto import pubkey_of

    assert type(signer).__name__ == "SoftSigner"
    assert signer.pubkey() == pubkey_of(key)


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ({"driver": "soft"}, "signer.key_file: missing required key"),
        ({"driver": "soft", "key_file": "k", "colour": "red"}, "signer.colour: unknown key"),
        ({"driver": "soft", "key_file": 5},
         "signer.key_file: expected a file path, or a table { path = \"FILE\", allow_group_readable = true }"),
    ],
)
def test_signer_option_errors_name_the_field(tmp_path: Path, table: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        plugins.load_signer(PluginTable.model_validate(table), _context(tmp_path))
    assert str(err.value) == expected


def test_messenger_option_errors_name_the_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^messenger.bind: expected tcp://HOST:PORT"):
        plugins.load_messenger(table(driver="zmq", bind="127.0.0.1:7000"), _context(tmp_path))
    with pytest.raises(ConfigError, match=r"^fed.toml: messenger.bind: missing required key"):
        plugins.load_messenger(PluginTable(driver="zmq"), _context(tmp_path), source="fed.toml")


def test_hook_manager_loads_entry_points(tmp_path: Path) -> None:
    site = tmp_path / "site"
    install_hook_dist(site, "veto-hooks", "0.3", "veto")
    code = textwrap.dedent("""
        from oceanfed.plugins import hook_manager
        pm = hook_manager()
        print(sorted(n for n, _ in pm.list_name_plugin()))
        print(pm.hook.validate_proposal(height=11, block_hex="", extras={}))
        print(pm.hook.validate_proposal(height=3, block_hex="", extras={}))
    """)
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    names, vetoes_high, vetoes_low = proc.stdout.splitlines()
    assert "'veto'" in names
    # other installed hook plugins (the inflation plugin, unconfigured) answer None
    assert (vetoes_high, vetoes_low) == ("['too-tall']", "[]")


def test_hook_manager_validates_against_specs() -> None:
    pm = plugins.hook_manager()
    assert pm.hook.block_submitted(height=1, block_hash="00", result="accepted") == []

    class Bad:
        from oceanfed.hookspecs import hookimpl

        @hookimpl
        def block_submitted(self, height, nonsense):
            pass

    import pluggy

    with pytest.raises(pluggy.PluginValidationError):
        pm.register(Bad())
