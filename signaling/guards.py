"""Per-address limits: how many connections one address may hold, and how often it may say
hello (which bounds guessing of invite tokens). Pure: time is an argument.

Memory is bounded: an address's record is dropped when it has no connections and its hello
window has passed, checked as connections close and by `sweep`, which the node runs every
minute.

An address's hellos are kept oldest first, so a hello only drops the ones that have aged out
from the front: its cost does not grow with the count in the window. Rebuilding the list on
every hello made a host who raised `hello_per_minute` for a crowd behind one address (and the
anchors' harness, which lifts it to join 5,000 members from 127.0.0.1) pay for every earlier
hello on each new one: a tenth of a node's CPU while 5,000 members joined.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from signaling.limits import Limits


@dataclass(slots=True)
class _Address:
    connections: int = 0
    hellos: deque[float] = field(default_factory=deque)  # oldest first


class AddressGuard:
    WINDOW = 60.0

    def __init__(self, limits: Limits) -> None:
        self._limits = limits
        self._by_address: dict[str, _Address] = {}

    def connect(self, address: str) -> bool:
        """Count a new connection from `address`; False (and not counted) past the cap."""
        a = self._by_address.setdefault(address, _Address())
        if a.connections >= self._limits.connections_per_ip:
            return False
        a.connections += 1
        return True

    def disconnect(self, address: str, now: float) -> None:
        a = self._by_address.get(address)
        if a is not None:
            a.connections = max(0, a.connections - 1)
            self._forget_if_idle(address, a, now)

    def hello(self, address: str, now: float) -> bool:
        """Count a hello attempt; False past `hello_per_minute` in the last minute."""
        a = self._by_address.setdefault(address, _Address())
        hellos, since = a.hellos, now - self.WINDOW
        while hellos and hellos[0] <= since:
            hellos.popleft()
        if len(hellos) >= self._limits.hello_per_minute:
            return False
        hellos.append(now)
        return True

    def sweep(self, now: float) -> None:
        for address, a in list(self._by_address.items()):
            self._forget_if_idle(address, a, now)

    def tracked(self) -> int:
        return len(self._by_address)

    def _forget_if_idle(self, address: str, a: _Address, now: float) -> None:
        if a.connections == 0 and (not a.hellos or a.hellos[-1] <= now - self.WINDOW):
            del self._by_address[address]
