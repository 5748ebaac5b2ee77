"""Configuration the way deployments deliver it, through the real ``oceanfed`` command.

``--config`` before or after every command that reads one (``$OCEANFED_CONFIG`` its
default); ``OCEANFED_*`` overrides and systemd's ``$STATE_DIRECTORY`` and
``$CREDENTIALS_DIRECTORY``, reported by ``check`` with where each came from; a running
member that takes its state directory, metrics address and log settings from the
environment; ``config_version``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from oceanfed.config import load_config
from oceanfed.errors import ConfigError
from oceanfed.netutil import free_ports
from oceanfed_devnet.launcher import LocalFederation, replace_table, set_table
from testsupport.waiting import wait_until

#: every built-in command that reads a member's fed.toml
CONFIG_COMMANDS = ("run", "check", "status")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    fed = LocalFederation(tmp_path_factory.mktemp("deploy") / "fed", members=3, threshold=2)
    fed.start_devnet()
    try:
        yield fed
    finally:
        fed.close()


def _copy_member(fed: LocalFederation, name: str, dest: Path) -> Path:
    shutil.copytree(fed.layout.member_dir(name), dest)
    return dest / "fed.toml"


def _no_env(**extra: str) -> dict[str, str]:
    """An environment for the child without any deployment variable of this process."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("OCEANFED_") and k not in ("STATE_DIRECTORY", "CREDENTIALS_DIRECTORY")}
    return {**env, **extra}


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "oceanfed.cli.main", *args], capture_output=True, text=True,
        timeout=60, stdin=subprocess.DEVNULL, env=env if env is not None else _no_env(),
    )


# ------------------------------------------------------------------ --config everywhere


def _three_ways(command: str, config: Path, *rest: str) -> list[subprocess.CompletedProcess[str]]:
    return [
        _run("--config", str(config), command, *rest),
        _run(command, *rest, "--config", str(config)),
        _run(command, *rest, env=_no_env(OCEANFED_CONFIG=str(config))),
    ]


def test_status_and_check_take_config_before_or_after_or_from_the_environment(
    served: LocalFederation,
) -> None:
    config = served.layout.fed_toml("m0")
    outs = _three_ways("status", config, "--json")
    assert [o.returncode for o in outs] == [0, 0, 0], [o.stderr for o in outs]
    seen = [json.loads(o.stdout) for o in outs]
    for s in seen:
        assert s["member"] == "m0" and s["state_dir"] == str(served.state_dirs["m0"])
        assert s["node"]["url"] == served.layout.url("m0") and "height" in s["node"]
    checks = _three_ways("check", config, "--json")
    results = [json.loads(o.stdout) for o in checks]
    assert [o.returncode for o in checks] == [0, 0, 0], [o.stdout for o in checks]
    statuses = [[(r["name"], r["status"]) for r in res if r["status"] != "info"] for res in results]
    assert statuses[0] == statuses[1] == statuses[2] and ("node", "ok") in statuses[0]
    origins = [next(r["detail"] for r in res if r["name"] == "config file") for res in results]
    assert "(from --config)" in origins[0] and "(from --config)" in origins[1]
    assert "(from $OCEANFED_CONFIG)" in origins[2]


def test_run_takes_config_in_the_same_places(served: LocalFederation, tmp_path: Path) -> None:
    # a member that stops at its first check shows which file it read, without running
    config = _copy_member(served, "m1", tmp_path / "m1")
    (tmp_path / "m1" / "transport.key").unlink()
    outs = [*_three_ways("run", config), _run("--config", str(config))]
    for out in outs:
        assert out.returncode == 1, out.stderr
        assert out.stderr.strip() == (
            f"oceanfed: error: {tmp_path / 'm1' / 'transport.key'}: private key file not found"
        )


@pytest.mark.parametrize("command", CONFIG_COMMANDS)
def test_a_command_without_a_config_says_how_to_give_one(command: str) -> None:
    out = _run(command)
    assert out.returncode == 1
    assert out.stderr == "oceanfed: error: --config FILE is required (or set OCEANFED_CONFIG)\n"


def test_a_command_that_reads_a_config_has_config_among_its_options() -> None:
    from oceanfed.cli.main import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for command in (*CONFIG_COMMANDS, "init"):
        options = {s for a in sub.choices[command]._actions for s in a.option_strings}
        assert "--config" in options, command


def test_init_writes_where_config_points(tmp_path: Path) -> None:
    from .test_init import _init

    def args_without_out(path: Path) -> list[str]:
        args = _init(path)
        i = args.index("--out")
        return args[:i] + args[i + 2:]

    before, after, env = tmp_path / "before.toml", tmp_path / "after.toml", tmp_path / "env.toml"
    assert _run("--config", str(before), *args_without_out(before)).returncode == 0
    assert _run(*args_without_out(after), "--config", str(after)).returncode == 0
    assert _run(*args_without_out(env), env=_no_env(OCEANFED_CONFIG=str(env))).returncode == 0
    for path in (before, after, env):
        assert load_config(path, environ={}).member.name == "m1"
    out = tmp_path / "out.toml"
    assert _run("--config", str(tmp_path / "not.toml"), *_init(out)).returncode == 0
    assert out.exists() and not (tmp_path / "not.toml").exists()


# ------------------------------------------------------------------ environment overrides


def _without_state_dir(config: Path) -> None:
    member = load_config(config, environ={}).member
    replace_table(config, "member", {"name": member.name,
                                     "transport_key_file": str(member.transport_key_file)})


def test_environment_overrides_the_file_and_says_so(
    served: LocalFederation, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _copy_member(served, "m0", tmp_path / "m0")
    set_table(config, "log", {"level": "warning"})
    cfg = load_config(config, environ={})
    assert (cfg.member.state_dir, cfg.log.level, cfg.log.format, cfg.metrics.listen) == (
        "state", "warning", "text", None)
    assert cfg.sources == {
        "member.state_dir": "file", "metrics.listen": "default", "log.format": "default",
        "log.level": "file", "member.transport_key_file": "file", "node.password_file": "file",
    }
    env = {"OCEANFED_STATE_DIR": "rel/state", "OCEANFED_METRICS_LISTEN": "127.0.0.1:9999",
           "OCEANFED_LOG_FORMAT": "json", "OCEANFED_LOG_LEVEL": "error",
           "STATE_DIRECTORY": "/var/lib/oceanfed"}
    monkeypatch.chdir(tmp_path)
    cfg = load_config(config, environ=env)
    assert cfg.path(cfg.member.state_dir) == tmp_path / "rel" / "state"
    assert (cfg.metrics.listen, cfg.log.format, cfg.log.level) == ("127.0.0.1:9999", "json", "error")
    assert cfg.sources["member.state_dir"] == "env OCEANFED_STATE_DIR"
    assert cfg.sources["log.level"] == "env OCEANFED_LOG_LEVEL"
    # $STATE_DIRECTORY is only the default: the file's state_dir wins over it ...
    cfg = load_config(config, environ={"STATE_DIRECTORY": "/var/lib/oceanfed"})
    assert cfg.member.state_dir == "state" and cfg.sources["member.state_dir"] == "file"
    # ... and it is used when the file has none (first of a colon-separated list)
    _without_state_dir(config)
    cfg = load_config(config, environ={"STATE_DIRECTORY": "/var/lib/oceanfed:/var/lib/other"})
    assert cfg.member.state_dir == "/var/lib/oceanfed"
    assert cfg.sources["member.state_dir"] == "env STATE_DIRECTORY"
    # an empty variable counts as unset
    cfg = load_config(config, environ={"OCEANFED_LOG_LEVEL": "", "STATE_DIRECTORY": ""})
    assert cfg.log.level == "warning" and cfg.member.state_dir == "state"
    assert cfg.sources["member.state_dir"] == "default"


@pytest.mark.parametrize(
    ("var", "value", "expected"),
    [
        ("OCEANFED_LOG_LEVEL", "verbose", "'debug', 'info', 'warning' or 'error'"),
        ("OCEANFED_LOG_FORMAT", "xml", "'text' or 'json'"),
        ("OCEANFED_METRICS_LISTEN", "9464", "expected HOST:PORT"),
    ],
)
def test_a_bad_environment_value_is_one_line_naming_the_variable(
    served: LocalFederation, var: str, value: str, expected: str
) -> None:
    config = str(served.layout.fed_toml("m2"))
    line = f"{var} (environment): "
    for command in CONFIG_COMMANDS:
        out = _run(command, "--config", config, env=_no_env(**{var: value}))
        assert out.returncode == 1, (command, out.stdout, out.stderr)
        text = out.stderr if command != "check" else out.stdout
        bad = [x for x in text.splitlines() if line in x]
        assert len(bad) == 1 and expected in bad[0] and repr(value) in bad[0], text
        assert "Traceback" not in out.stderr
    with pytest.raises(ConfigError, match=f"^{var} \\(environment\\): "):
        load_config(config, environ={var: value})


def test_check_says_where_each_value_came_from(served: LocalFederation, tmp_path: Path) -> None:
    """A member laid out as under systemd: state from $STATE_DIRECTORY, the RPC password
    from LoadCredential, metrics and log format from the unit's environment."""
    config = _copy_member(served, "m0", tmp_path / "etc")
    _without_state_dir(config)
    set_table(config, "log", {"level": "warning"})
    creds = tmp_path / "credentials"
    creds.mkdir()
    shutil.move(tmp_path / "etc" / "rpc.password", creds / "rpc.password")
    (creds / "rpc.password").chmod(0o440)
    creds.chmod(0o500)
    (port,) = free_ports(1)
    env = _no_env(OCEANFED_CONFIG=str(config), STATE_DIRECTORY=str(tmp_path / "state"),
                  CREDENTIALS_DIRECTORY=str(creds), OCEANFED_METRICS_LISTEN=f"127.0.0.1:{port}",
                  OCEANFED_LOG_FORMAT="json")
    out = _run("check", env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    info = [line for line in out.stdout.splitlines() if line.startswith("info")]
    assert info == [
        f"info   config file: {config} (from $OCEANFED_CONFIG), config_version 1",
        f"info   member.state_dir: {tmp_path / 'state'} (from $STATE_DIRECTORY)",
        f"info   metrics.listen: 127.0.0.1:{port} (from $OCEANFED_METRICS_LISTEN)",
        "info   log.format: json (from $OCEANFED_LOG_FORMAT)",
        "info   log.level: warning (from fed.toml)",
        f"info   member.transport_key_file: {tmp_path / 'etc' / 'transport.key'} (from fed.toml)",
        f"info   node.password_file: {creds / 'rpc.password'} (from $CREDENTIALS_DIRECTORY)",
    ]
    assert "ok     node: " in out.stdout and "all checks passed" in out.stdout
    # without the credentials directory, the password is looked for beside the file
    del env["CREDENTIALS_DIRECTORY"]
    out = _run("check", env=env)
    assert out.returncode == 1 and "rpc.password: RPC password file not found" in out.stdout


def test_a_member_runs_from_the_environment(served: LocalFederation, tmp_path: Path) -> None:
    """State directory, metrics address and JSON debug logs from the environment; the
    transport key from $CREDENTIALS_DIRECTORY; the block key through a Kubernetes-style
    link: the member starts, serves /metrics and writes its status where it was told."""
    config = _copy_member(served, "m1", tmp_path / "etc")
    creds = tmp_path / "credentials"
    creds.mkdir()
    shutil.move(tmp_path / "etc" / "transport.key", creds / "transport.key")
    (creds / "transport.key").chmod(0o400)
    volume = tmp_path / "secret" / "..2026_11_27_14_00_00.1"
    volume.mkdir(parents=True)
    shutil.move(tmp_path / "etc" / "block.key", volume / "block.key")
    (tmp_path / "secret" / "..data").symlink_to(volume.name)
    (tmp_path / "secret" / "block.key").symlink_to("..data/block.key")
    set_table(config, "signer", {"key_file": str(tmp_path / "secret" / "block.key")})
    (port,) = free_ports(1)
    state = tmp_path / "var" / "state"
    env = _no_env(OCEANFED_CONFIG=str(config), OCEANFED_STATE_DIR=str(state),
                  OCEANFED_METRICS_LISTEN=f"127.0.0.1:{port}", OCEANFED_LOG_FORMAT="json",
                  OCEANFED_LOG_LEVEL="debug", CREDENTIALS_DIRECTORY=str(creds),
                  PYTHONUNBUFFERED="1")
    log_path = tmp_path / "member.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "oceanfed.cli.main", "run"], env=env,
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        def metrics_up() -> bool:
            assert proc.poll() is None, log_path.read_text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                    return r.status == 200
            except OSError:
                return False

        wait_until(metrics_up, 30, "the member's /metrics on the address from the environment")
        wait_until(lambda: (state / "status.json").exists(), 30, "status.json in OCEANFED_STATE_DIR")
        assert not (tmp_path / "etc" / "state").exists()
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    assert code == 0, log_path.read_text()
    records = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    assert records and any(r.get("level") == "debug" for r in records), records[:3]


# ------------------------------------------------------------------ config_version


def test_config_version(served: LocalFederation, tmp_path: Path) -> None:
    config = _copy_member(served, "m2", tmp_path / "m2")
    assert load_config(config, environ={}).config_version == 1  # absent means 1
    text = config.read_text()
    config.write_text("config_version = 1\n" + text)
    assert load_config(config, environ={}).config_version == 1
    config.write_text("config_version = 2\n" + text)
    for command in CONFIG_COMMANDS:
        out = _run(command, "--config", str(config))
        said = out.stdout + out.stderr
        assert out.returncode == 1 and "Traceback" not in said
        lines = [x for x in said.splitlines() if "config_version" in x]
        assert len(lines) == 1, said
        assert f"{config}: config_version 2 is newer than oceanfed" in lines[0]
        assert "understands (up to 1); upgrade oceanfed" in lines[0]
    config.write_text('config_version = "1"\n' + text)
    with pytest.raises(ConfigError, match=r"config_version: expected an integer"):
        load_config(config, environ={})
    config.write_text("config_version = 0\n" + text)
    with pytest.raises(ConfigError, match=r"config_version 0: expected 1 to 1"):
        load_config(config, environ={})
