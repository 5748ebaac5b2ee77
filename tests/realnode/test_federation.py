"""Federations of oceanfed members on real oceand nodes, one node per member."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from oceanfed.audit import chain_headers, read_signed, signers_of
from oceanfed_devnet.launcher import LocalFederation
from testsupport.federation import fast_rounds
from testsupport.realnode import audit, same_chain_everywhere, wait_all_at, wait_for

pytestmark = [pytest.mark.realnode, pytest.mark.slow]

ROUNDS = fast_rounds(0.3)


@pytest.fixture
def make_fed(tmp_path: Path) -> Iterator[object]:
    feds: list[LocalFederation] = []

    def make(members: int, threshold: int, **options: object) -> LocalFederation:
        options.setdefault("block_time", 0.5)
        options.setdefault("rounds", ROUNDS)
        fed = LocalFederation(tmp_path / f"fed{len(feds)}", members, threshold, node="oceand",
                              **options)  # type: ignore[arg-type]
        feds.append(fed)
        return fed

    yield make
    for fed in feds:
        fed.close()


def wait_height(fed: LocalFederation, height: int, timeout: float) -> None:
    wait_for(lambda: fed.height() >= height, timeout,
             f"height {height} (at {fed.height()}; m0: {fed.log_tail('m0', 2)})", interval=0.2)


def no_side_branches(fed: LocalFederation) -> None:
    """No node knows a block outside the active chain: no height was ever signed twice."""
    for name in fed.layout.endpoints:
        tips = fed.rpc(name).call("getchaintips")
        assert [t["status"] for t in tips] == ["active"], f"{name} knows other branches: {tips}"


def test_3of5_to_50_blocks_with_the_next_proposer_killed(make_fed) -> None:
    fed: LocalFederation = make_fed(5, 3)
    fed.start()
    restarted: dict[str, int] = {}
    for at in (8, 22, 36):
        wait_height(fed, at, 120)
        h = fed.height()
        victim = fed.members[(h + 1) % len(fed.members)]
        fed.kill(victim)  # SIGKILL, right after a block: it would propose the next one
        wait_height(fed, h + 2, 120)  # the others take over its slot
        fed.start_member(victim)
        restarted[victim] = fed.height()
    wait_height(fed, 50, 240)
    wait_all_at(fed, 50, 60)
    same_chain_everywhere(fed, 50)
    no_side_branches(fed)
    assert audit(fed) >= 50
    # each killed member came back and signed again
    for name, since in restarted.items():
        assert max(read_signed(fed.layout.member_dir(name) / "state")) > since, name


def test_2of3_with_the_node_signer(make_fed) -> None:
    fed: LocalFederation = make_fed(3, 2)
    for name in fed.members:
        fed.set_signer(name, {"driver": "node"})
        # the signature can only come from the node's wallet
        fed.layout.block_key_file(name).unlink()
    fed.start()
    wait_height(fed, 10, 120)
    wait_all_at(fed, 10, 60)
    same_chain_everywhere(fed, 10)
    no_side_branches(fed)
    assert audit(fed) >= 10
    headers = chain_headers(fed.rpc())
    assert {i for h in headers[1:] for i in signers_of(h)} == {0, 1, 2}


def test_member_waits_for_its_restarted_node_and_catches_up(make_fed) -> None:
    fed: LocalFederation = make_fed(3, 2)
    fed.start()
    wait_height(fed, 5, 120)
    fed.kill_node("m1")  # SIGKILL its oceand, mid-run
    down_at = fed.height()
    wait_height(fed, down_at + 5, 120)  # m0 and m2 carry on
    assert fed.running("m1"), f"m1 exited while its node was down: {fed.log_tail('m1')}"
    fed.start_node("m1")
    wait_all_at(fed, down_at + 8, 120)
    back = fed.height()
    wait_for(lambda: max(read_signed(fed.layout.member_dir("m1") / "state")) > back, 120,
             "m1 signing again after its node came back", interval=0.25)
    assert fed.running("m1")
    same_chain_everywhere(fed, back)
    no_side_branches(fed)
    assert audit(fed) >= back


def test_pkcs11_pykcs11_and_soft_members_on_softhsm(make_fed, tmp_path: Path) -> None:
    from oceanfed_devnet.hsm_members import softhsm_unavailable, use_softhsm

    reason = softhsm_unavailable()
    if reason:
        pytest.skip(reason)
    fed: LocalFederation = make_fed(3, 2)
    use_softhsm(fed, [("m0", "pkcs11"), ("m1", "pykcs11")], tmp_path / "softhsm")
    for name in ("m0", "m1"):  # the token holds the key now, not a file
        fed.layout.block_key_file(name).unlink()
    fed.start()
    wait_height(fed, 8, 120)
    for name in ("m0", "m1"):
        assert "signer ready: token" in (fed.dir / "logs" / f"{name}.log").read_text(), name
    fed.stop("m2")  # the two HSM members alone make the quorum
    base = fed.height()
    wait_height(fed, base + 4, 120)
    wait_all_at(fed, base + 4, 60)
    same_chain_everywhere(fed, base + 4)
    no_side_branches(fed)
    assert audit(fed) >= base + 4
    headers = chain_headers(fed.rpc())
    assert [signers_of(h) for h in headers[base + 2 : base + 5]] == [[0, 1]] * 3
