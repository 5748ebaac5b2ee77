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
from testsupport.dists import install_dist

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


def _python(site: Path, code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter that also sees the distributions in ``site``."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True, text=True, timeout=60,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
    )


def test_load_errors_are_one_line_naming_the_setting(tmp_path: Path) -> None:
    site = tmp_path / "site"
    install_dist(site, "broken-signer", "1.0", {"oceanfed.signers": {
        "broken": "no_such_module:Signer", "notasigner": "plain:Plain", "twice": "plain:Plain",
    }}, {"plain": "class Plain:\n    pass\n"})
    install_dist(site, "other-signer", "2.0", {"oceanfed.signers": {"twice": "plain:Other"}}, {})
    proc = _python(site, """
        from oceanfed.errors import ConfigError
        from oceanfed.interfaces import Signer
        from oceanfed.plugins import SIGNERS, load
        for name in ("yubikey", "broken", "notasigner", "twice"):
            try:
                load(SIGNERS, name, Signer)
            except ConfigError as exc:
                print(exc)
        print(load(SIGNERS, "notasigner").__name__)  # no base: any object
        try:
            load("oceanfed.widgets", "x", field="widget.kind")
        except ConfigError as exc:
            print(exc)
    """)
    assert proc.returncode == 0, proc.stderr
    unknown, broken, notasigner, twice, plain, widget = proc.stdout.splitlines()
    assert unknown.startswith("signer.driver: unknown signer 'yubikey' (installed: ")
    assert "broken, node, notasigner, " in unknown and "soft" in unknown
    assert broken == ("signer.driver: signer 'broken' is installed but cannot be loaded "
                      "(no_such_module:Signer: ModuleNotFoundError: No module named 'no_such_module')")
    assert notasigner == "signer.driver: signer 'notasigner' does not provide a Signer class"
    assert twice == "signer.driver: several installed distributions provide signer 'twice'"
    assert plain == "Plain"
    assert widget == "widget.kind: unknown widgets 'x' (installed: none)"


VETO = """
    from oceanfed.hookspecs import hookimpl

    @hookimpl
    def oceanfed_validate_proposal(height, block_hex, extras):
        return "{reason}" if height > {above} else None
"""


def test_hook_manager_loads_entry_points_first_veto_wins(tmp_path: Path) -> None:
    site = tmp_path / "site"
    install_dist(site, "veto-a", "0.1", {"oceanfed.hooks": {"a": "veto_a"}},
                 {"veto_a": VETO.format(reason="too-tall", above=10)})
    install_dist(site, "veto-b", "0.1", {"oceanfed.hooks": {"b": "veto_b"}},
                 {"veto_b": VETO.format(reason="too-late", above=5)})
    proc = _python(site, """
        import warnings
        warnings.simplefilter("error")  # the prefixed names warn of nothing
        from oceanfed.plugins import hook_manager
        pm = hook_manager()
        print(sorted(n for n, _ in pm.list_name_plugin()))
        for height in (11, 7, 3):
            print(repr(pm.hook.oceanfed_validate_proposal(height=height, block_hex="", extras={})))
    """)
    assert proc.returncode == 0, proc.stderr
    names, *answers = proc.stdout.splitlines()
    assert "'a', 'b'" in names
    # one answer, not a list: the first reason given (plugins registered later are asked first)
    assert answers[0] in ("'too-tall'", "'too-late'")
    assert answers[1:] == ["'too-late'", "None"]


def test_old_hook_names_still_work_with_a_deprecation_warning(tmp_path: Path) -> None:
    site = tmp_path / "site"
    install_hook_dist(site, "veto-hooks", "0.3", "veto")  # implements 'validate_proposal'
    proc = _python(site, """
        import warnings
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            from oceanfed.plugins import hook_manager
            pm = hook_manager()
        for w in caught:
            print(w.category.__name__, w.message)
        print(pm.hook.oceanfed_validate_proposal(height=11, block_hex="", extras={}))
        print(pm.hook.oceanfed_validate_proposal(height=3, block_hex="", extras={}))
    """)
    assert proc.returncode == 0, proc.stderr
    *warned, high, low = proc.stdout.splitlines()
    assert warned == [
        "DeprecationWarning veto_hooks: hook 'validate_proposal' is deprecated and will stop "
        "working in the next release; name it 'oceanfed_validate_proposal'"
    ]
    assert (high, low) == ("too-tall", "None")


def test_a_misspelt_hook_fails_at_start_in_one_line(tmp_path: Path) -> None:
    site = tmp_path / "site"
    install_dist(site, "typo-hooks", "0.1", {"oceanfed.hooks": {"typo": "typo_hooks"}}, {
        "typo_hooks": """
            from oceanfed.hookspecs import hookimpl

            @hookimpl
            def oceanfed_blok_submitted(height, block_hash, result):
                pass
        """,
    })
    proc = _python(site, """
        from oceanfed.errors import ConfigError
        from oceanfed.plugins import hook_manager
        try:
            hook_manager()
        except ConfigError as exc:
            print(exc)
    """)
    assert proc.returncode == 0, proc.stderr
    (line,) = proc.stdout.splitlines()
    assert line.startswith("hooks plugin 'typo': 'oceanfed_blok_submitted' is not an oceanfed hook "
                           "(misspelt? known hooks: ")
    assert "oceanfed_block_submitted" in line


def test_optional_hooks_need_no_spec() -> None:
    pm = plugins.hook_manager(load_installed=False)

    class Newer:
        from oceanfed.hookspecs import hookimpl

        @hookimpl(optionalhook=True)
        def oceanfed_from_a_newer_release(self) -> None:
            pass

    pm.register(Newer(), name="newer")
    plugins.check_hooks(pm)

    class Typo:
        from oceanfed.hookspecs import hookimpl

        @hookimpl
        def oceanfed_round_timedout(self) -> None:
            pass

    pm.register(Typo(), name="typo")
    with pytest.raises(ConfigError, match=r"^hooks plugin 'typo': 'oceanfed_round_timedout' is not"):
        plugins.check_hooks(pm)


def test_hook_manager_validates_against_specs() -> None:
    pm = plugins.hook_manager()
    assert pm.hook.oceanfed_block_submitted(height=1, block_hash="00", result="accepted") == []

    class Bad:
        from oceanfed.hookspecs import hookimpl

        @hookimpl
        def oceanfed_block_submitted(self, height, nonsense):
            pass

    import pluggy

    with pytest.raises(pluggy.PluginValidationError):
        pm.register(Bad())


def test_plugin_tables_are_declared_by_their_plugins(tmp_path: Path) -> None:
    from oceanfed.config import validate_config
    from oceanfed.crypto import pubkey_of

    keys = [pubkey_of(generate_private_key()).hex() for _ in range(2)]
    raw = {
        "federation": {"chain": "ocean_test", "threshold": 1, "members": [
            {"name": "a", "pubkey": keys[0], "transport_pubkey": keys[1]}]},
        "member": {"name": "a", "transport_key_file": "t.key", "state_dir": "s"},
        "node": {"url": "http://127.0.0.1:1"},
        "messenger": {"driver": "zmq"}, "signer": {"driver": "soft"},
    }
    cfg = validate_config({**raw, "inflation": {"period": 5}}, tmp_path / "f.toml", "f.toml")
    assert cfg.table("inflation") == {"period": 5} and cfg.table("audit") is None
    plugins.check_tables(cfg, plugins.hook_manager())  # the inflation plugin declares it
    typo = validate_config({**raw, "round": {"propose_timeout": 1}}, tmp_path / "f.toml", "f.toml")
    with pytest.raises(ConfigError, match=r"^round: no installed plugin reads a \[round\] table "
                       r"\(hooks plugins installed: [^)]*\binflation\b[^)]*\); install the plugin"):
        plugins.check_tables(typo, plugins.hook_manager())
    with pytest.raises(ConfigError, match=r"^f.toml: colour: unknown key"):
        validate_config({**raw, "colour": "red"}, tmp_path / "f.toml", "f.toml")
