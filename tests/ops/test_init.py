"""``oceanfed init``: a commented fed.toml that loads, never overwriting."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

import zmq
from oceanfed.cli.init_cmd import EXAMPLE, REQUIRED
from oceanfed.config import CONFIG_VERSION, Rounds, load_config
from oceanfed.configdoc import core_fields
from oceanfed.crypto import pubkey_of
from oceanfed.keyfile import generate_private_key
from oceanfed_soft.signer import SoftOptions
from oceanfed_zmq.options import ZmqOptions, curve_public_of
from testsupport.dists import install_dist

from .conftest import oceanfed

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def _members(n: int) -> list[str]:
    out = []
    for i in range(n):
        block, transport = generate_private_key(), generate_private_key()
        out += ["--member", f"m{i}:{pubkey_of(block).hex()}:{pubkey_of(transport).hex()}"]
    return out


def _curve_keys(*names: str) -> list[str]:
    out = []
    for name in names:
        public, _ = zmq.curve_keypair()
        out += ["--curve-key", f"{name}={public.decode()}"]
    return out


def _init(path: Path, *extra: str, curve: bool = True) -> list[str]:
    return ["init", "--out", str(path), "--name", "m1", *_members(3),
            "--node-url", "http://127.0.0.1:7041/", "--node-user", "m1",
            "--bind", "tcp://0.0.0.0:7001", "--peer", "m0=tcp://10.0.0.1:7000",
            "--peer", "m2=tcp://10.0.0.3:7000",
            *(_curve_keys("m0", "m2") if curve else ["--no-curve"]), *extra]


def test_init_writes_a_commented_config_that_loads(tmp_path: Path) -> None:
    path = tmp_path / "fed.toml"
    out = oceanfed(*_init(path, "--metrics-listen", "127.0.0.1:9464"))
    assert out.returncode == 0, out.stderr
    cfg = load_config(path)
    assert cfg.member.name == "m1" and cfg.federation.threshold == 2
    assert cfg.messenger.options()["peers"] == {"m0": "tcp://10.0.0.1:7000", "m2": "tcp://10.0.0.3:7000"}
    assert cfg.metrics.listen == "127.0.0.1:9464"
    text = path.read_text()
    # every core field appears, set or commented out, under its description
    fields = [f for f in core_fields() if not f.path.endswith(".members")]
    for f in fields:
        key = f.path.rsplit(".", 1)[-1]
        assert f"\n{key} = " in text or f"\n# {key} =" in text, key
        assert f.description.split(";")[0][:40] in " ".join(text.replace("\n# ", " ").split())
    # optional zmq options are offered, commented out at their defaults
    assert "# heartbeat_ivl_ms = 1000" in text
    # uncommenting every offered default changes nothing: the comments tell the truth
    known = {f.path.rsplit(".", 1)[-1] for f in fields} | {"heartbeat_ivl_ms", "sndhwm", "backend"}
    lines = []
    for line in text.splitlines():
        m = re.match(r"# (\w+) = (.+)$", line)
        default = m and m.group(1) in known and not line.endswith((EXAMPLE, REQUIRED))
        lines.append(line[2:] if default else line)
    uncommented = tmp_path / "uncommented.toml"
    uncommented.write_text("\n".join(lines))
    again = load_config(uncommented)
    plugin_tables = {"base_dir", "messenger", "signer"}
    assert again.model_dump(exclude=plugin_tables) == cfg.model_dump(exclude=plugin_tables)
    assert ZmqOptions.model_validate(again.messenger.options()) == ZmqOptions.model_validate(
        cfg.messenger.options()
    )
    assert SoftOptions.model_validate(again.signer.options()) == SoftOptions.model_validate(
        cfg.signer.options()
    )


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "fed.toml"
    path.write_text("keep me\n")
    out = oceanfed(*_init(path))
    assert out.returncode == 1
    assert "already exists; not overwriting" in out.stderr
    assert path.read_text() == "keep me\n"


def test_init_without_a_terminal_asks_nothing(tmp_path: Path) -> None:
    path = tmp_path / "fed.toml"
    out = oceanfed("init", "--out", str(path), *_members(3), "--node-url", "http://h:1/")
    assert out.returncode == 1 and "--name is required" in out.stderr
    assert not path.exists()


def test_init_names_a_bad_value(tmp_path: Path) -> None:
    path = tmp_path / "fed.toml"
    out = oceanfed(*_init(path, "--threshold", "5"))
    assert out.returncode == 1
    assert "threshold 5 is above the number of members" in out.stderr
    out = oceanfed(*_init(path, "--signer", "soft", "--signer-opt", "backend=fast"))
    assert out.returncode == 1 and "signer.backend" in out.stderr
    assert not path.exists()


#: a commented line that is a TOML key or table, not prose
_EXAMPLE_LINE = re.compile(r"# (\[\[?[\w.]+\]\]?|[A-Za-z_][\w-]* = .*)$")


@pytest.mark.parametrize(
    "extra",
    [
        (),
        ("--messenger", "kafka", "--bootstrap", "127.0.0.1:9092", "--signer", "pkcs11",
         "--signer-opt", "library=/usr/lib/softhsm/libsofthsm2.so",
         "--signer-opt", "token_label=oceanfed", "--signer-opt", "key_label=m1",
         "--signer-opt", "pin_env=OCEANFED_HSM_PIN"),
    ],
    ids=["zmq-soft", "kafka-pkcs11"],
)
def test_every_commented_line_is_valid_toml_when_uncommented(
    tmp_path: Path, extra: tuple[str, ...]
) -> None:
    path = tmp_path / "fed.toml"
    args = _init(path, *extra)
    if extra:  # kafka takes no zmq flags
        for flag in ("--bind", "--peer", "--peer"):
            i = args.index(flag)
            del args[i:i + 2]
    out = oceanfed(*args)
    assert out.returncode == 0, out.stderr
    lines = path.read_text().splitlines()
    examples = [i for i, line in enumerate(lines) if _EXAMPLE_LINE.match(line)]
    assert len(examples) >= 20
    for i in examples:
        text = "\n".join(lines[:i] + [lines[i][2:]] + lines[i + 1:])
        try:
            tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise AssertionError(f"line {i + 1} {lines[i]!r} uncommented: {exc}") from None
    # prose never looks like a half-written key: every '# key =' line is a full example
    for line in lines:
        if re.match(r"# [A-Za-z_][\w-]* =", line):
            assert _EXAMPLE_LINE.match(line) and not line.rstrip().endswith("="), line


def test_the_file_starts_with_its_format_version(tmp_path: Path) -> None:
    path = tmp_path / "fed.toml"
    assert oceanfed(*_init(path)).returncode == 0
    keys = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    assert keys[0] == f"config_version = {CONFIG_VERSION}"
    assert tomllib.loads(path.read_text())["config_version"] == CONFIG_VERSION


def test_init_and_the_readme_say_the_same_about_round_defaults(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    sample = re.search(r"```toml\n(.*?)```", readme[readme.index("## Configuration"):], re.S)
    assert sample is not None
    rounds_line = next(x for x in sample.group(1).splitlines() if x.startswith("[rounds]"))
    claim = rounds_line.split("#", 1)[1].split(";")[0].strip()  # "the defaults suit …"
    assert "WAN" in claim and "LAN" in claim
    path = tmp_path / "fed.toml"
    assert oceanfed(*_init(path)).returncode == 0
    prose = " ".join(x[2:] for x in path.read_text().splitlines() if x.startswith("# "))
    assert claim[0].upper() + claim[1:] in prose
    # the README's sample shows the real defaults, and so does the file
    readme_rounds = tomllib.loads(sample.group(1).replace("…", ""))["rounds"]
    assert readme_rounds == {k: v for k, v in Rounds().model_dump().items() if k in readme_rounds}
    assert "config_version" in tomllib.loads(sample.group(1).replace("…", ""))


def test_init_turns_curve_on(tmp_path: Path) -> None:
    """The member's CURVE key is generated beside the config (0600) and every member's
    public key is listed; the others' keys are required, or --no-curve."""
    path = tmp_path / "fed.toml"
    out = oceanfed(*_init(path))
    assert out.returncode == 0, out.stderr
    options = load_config(path).messenger.options()
    key_file = tmp_path / "curve.key"
    assert options["curve_secret_key_file"] == "curve.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    public = curve_public_of(key_file.read_text().strip().encode()).decode()
    assert options["curve_public_keys"]["m1"] == public
    assert sorted(options["curve_public_keys"]) == ["m0", "m1", "m2"]
    assert f"CURVE public key of m1: {public}" in out.stdout
    # a second config for the same member reuses the key file
    again = tmp_path / "again.toml"
    assert oceanfed(*_init(again)).returncode == 0
    assert load_config(again).messenger.options()["curve_public_keys"]["m1"] == public

    missing = tmp_path / "missing.toml"
    args = _init(missing, curve=False)
    args.remove("--no-curve")
    out = oceanfed(*args, *_curve_keys("m0"))
    assert out.returncode == 1
    assert out.stderr == (
        "oceanfed: error: init: --curve-key NAME=KEY is required for member(s) m2 (their "
        "'oceanfed keygen --curve' public key), or --no-curve to run unencrypted\n"
    )
    assert not missing.exists()

    plain = tmp_path / "plain" / "fed.toml"
    plain.parent.mkdir()
    out = oceanfed(*_init(plain, curve=False))
    assert out.returncode == 0, out.stderr
    assert "curve_public_keys" not in load_config(plain).messenger.options()
    assert not (plain.parent / "curve.key").exists()


def test_init_asks_the_messenger_plugin_for_its_keys(tmp_path: Path) -> None:
    """A plugin answering ``oceanfed_init_messenger`` for its driver adds options, has its
    secret file created (0600) only once the config validates, and its lines printed."""
    site = tmp_path / "site"
    install_dist(site, "udp-keys", "0.1", {"oceanfed.hooks": {"udpkeys": "udp_keys"}}, {
        "udp_keys": """
            from oceanfed.hookspecs import hookimpl
            from oceanfed.interfaces import InitMessengerAnswer

            @hookimpl
            def oceanfed_init_messenger(request):
                if request.driver != "udp":
                    return None
                key = request.base_dir / "udp.key"
                return InitMessengerAnswer(
                    options={"key_file": "udp.key", "peers": list(request.members)},
                    new_secret_files={key: "udp-secret-" + request.me},
                    messages=("udp key of " + request.me + " made",))
        """})
    path = tmp_path / "fed.toml"
    out = oceanfed(*_init(path, "--messenger", "udp", curve=False), env={"PYTHONPATH": str(site)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == "udp key of m1 made"
    options = load_config(path).messenger.options()
    assert options["key_file"] == "udp.key" and options["peers"] == ["m0", "m1", "m2"]
    key = tmp_path / "udp.key"
    assert key.read_text().strip() == "udp-secret-m1" and key.stat().st_mode & 0o777 == 0o600
    assert "udp-secret" not in out.stdout + path.read_text()

    # a bad value elsewhere: nothing is written, not even the plugin's secret file
    bad = tmp_path / "bad" / "fed.toml"
    bad.parent.mkdir()
    out = oceanfed(*_init(bad, "--messenger", "udp", "--threshold", "7", curve=False),
                   env={"PYTHONPATH": str(site)})
    assert out.returncode == 1 and not bad.exists() and not (bad.parent / "udp.key").exists()


def test_init_for_a_messenger_nobody_provides_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "fed.toml"
    out = oceanfed(*_init(path, "--messenger", "nosuch", curve=False))
    assert out.returncode == 1 and not path.exists()
    assert re.fullmatch(
        r"oceanfed: error: init --messenger: unknown messenger 'nosuch' \(installed: [^)]*\bzmq\b"
        r"[^)]*\); install the plugin that provides it\n", out.stderr), out.stderr
