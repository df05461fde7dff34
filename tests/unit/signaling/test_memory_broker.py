"""`MemoryBroker` keeps the broker contract (tests/unit/signaling/broker_contract.py)."""

from __future__ import annotations

from collections.abc import Callable

from signaling.broker import Broker
from signaling.limits import Limits
from signaling.memory_broker import MemoryBroker
from tests.unit.signaling.broker_contract import BrokerContract


class TestMemoryBroker(BrokerContract):
    async def make_broker(
        self, limits: Limits, grace_seconds: float, clock: Callable[[], float]
    ) -> Broker:
        return MemoryBroker(limits, grace_seconds=grace_seconds, clock=clock)
