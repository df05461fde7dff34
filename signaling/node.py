"""What one node's connections share: the broker, the hub, the codec, the room directory.

The node is the seam between the wire and the process: the server layer builds it with a
broker, a `Directory` of room definitions and a `Telemetry` sink, and hands each accepted
WebSocket to a `signaling.connection.Connection` that uses it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, Protocol

from rooms import AnyCommand, AnyEvent, MemberId, RoomId, RoomInfo, RoomState, decide
from rooms.state import Role
from signaling.broker import Broker, BrokerDown, Commit, Duplicate
from signaling.codec import Codec
from signaling.errors import Unavailable
from signaling.guards import AddressGuard
from signaling.hub import Hub
from signaling.limits import Limits


class Directory(Protocol):
    """Room definitions, as the host set them (durable, unlike meeting state)."""

    async def enter(self, room: str, token: str) -> tuple[RoomInfo, Role] | None:
        """The room and the role a token opens; None for an unknown room or a wrong token."""
        ...

    async def info(self, room: str) -> RoomInfo | None: ...


class Telemetry(Protocol):
    def frame_in(self) -> None: ...

    def frames_out(self, count: int) -> None: ...

    def error(self, code: str) -> None: ...

    def command(self, op: str) -> None: ...

    def fanout(self, seconds: float) -> None: ...

    def resume(self, outcome: str) -> None: ...

    def connections(self, delta: int) -> None: ...


class NoTelemetry:
    def frame_in(self) -> None:
        pass

    def frames_out(self, count: int) -> None:
        pass

    def error(self, code: str) -> None:
        pass

    def command(self, op: str) -> None:
        pass

    def fanout(self, seconds: float) -> None:
        pass

    def resume(self, outcome: str) -> None:
        pass

    def connections(self, delta: int) -> None:
        pass


IceServers = Callable[[MemberId, float], list[dict[str, object]]]
# The browsers' RTCPeerConnection iceTransportPolicy, sent in `welcome` beside `ice`. "relay"
# sends all media through TURN, so members never learn each other's IP addresses.
IcePolicy = Literal["all", "relay"]


def no_ice(member: MemberId, now: float) -> list[dict[str, object]]:
    return []


class Node:
    def __init__(
        self,
        broker: Broker,
        directory: Directory,
        *,
        limits: Limits,
        grace_seconds: float,
        ice: IceServers = no_ice,
        ice_policy: IcePolicy = "all",
        telemetry: Telemetry | None = None,
    ) -> None:
        self.broker = broker
        self.directory = directory
        self.limits = limits
        self.grace_seconds = grace_seconds
        self.ice = ice
        self.ice_policy: IcePolicy = ice_policy
        self.telemetry: Telemetry = telemetry or NoTelemetry()
        self.codec = Codec(limits)
        self.hub = Hub(self.codec, on_fanout=self._fanout)
        self.addresses = AddressGuard(limits)
        broker.attach(self.hub)

    def _fanout(self, sent: int, seconds: float) -> None:
        self.telemetry.frames_out(sent)
        self.telemetry.fanout(seconds)

    async def transact(
        self,
        room: RoomId,
        command: AnyCommand,
        actor: MemberId | None,
        *,
        dedupe: str | None = None,
    ) -> Commit | Duplicate:
        """Run `command` through the engine in the broker; `Unavailable` if it can't."""

        def run(state: RoomState, now: float) -> list[AnyEvent]:
            return decide(state, command, actor, now)

        try:
            return await self.broker.transact(room, run, dedupe=dedupe)
        except BrokerDown as exc:
            raise Unavailable() from exc

    async def transact_quietly(self, room: RoomId, command: AnyCommand) -> Commit | None:
        """A node command (timer, lost connection) whose refusal or outage is only logged
        by the caller: None when it could not run."""
        try:
            result = await self.transact(room, command, None)
        except Exception:  # the caller logs it; the next timer or resume tries again
            return None
        return result if isinstance(result, Commit) else None
