"""The throughput benchmark returns figures of the right shape (timings are not tested)."""

from __future__ import annotations

from oceanfed_pkcs11.bench import signer_ratios, signer_throughput

from .conftest import HSM


def test_signer_throughput_figures(hsm: HSM) -> None:
    figures = signer_throughput(n=5, warmup=1, token=hsm.fed, key_label="member")
    names = [f["name"] for f in figures]
    assert len(names) == 5 and len(set(names)) == 5
    assert any("python-pkcs11" in n for n in names) and any("PyKCS11" in n for n in names)
    assert any(n.startswith("soft") for n in names)
    for f in figures:
        assert f["unit"] == "sig/s" and f["n"] == 5
        assert f["median"] > 0 and f["p99"] > 0 and f["p99"] <= f["median"] * 1.0001


def test_signer_ratio_figures(hsm: HSM) -> None:
    """Raw and signer batches interleaved: one figure per binding, in percent."""
    figures = signer_ratios(rounds=3, per_round=2, warmup=1, token=hsm.fed, key_label="member")
    assert [f["name"] for f in figures] == [
        "signer pkcs11 (python-pkcs11) / raw C_Sign", "signer pykcs11 (PyKCS11) / raw C_Sign"]
    for f in figures:
        assert f["unit"] == "%" and f["n"] == 6
        assert 0 < f["p99"] <= f["median"]
