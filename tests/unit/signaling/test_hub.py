"""The hub's fan-out: who sees which event, pending seats, personal events, encode once.

Most tests seat fakes that record what reaches them; the tests of personal events seat real
`Connection`s, whose `observe` is what updates a viewer between two events of one commit.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import msgpack
import pytest

from rooms import MemberId, RoomId, RoomInfo, RoomState, Viewer, may_see
from rooms import events as e
from rooms.ids import TurnId
from rooms.state import Role
from signaling import wire
from signaling.broker import Commit, Sequenced
from signaling.closes import Close
from signaling.codec import Codec
from signaling.connection import Connection
from signaling.hub import PERSONAL, Hub, Seat
from signaling.limits import Limits
from signaling.memory_broker import MemoryBroker
from signaling.node import Node
from signaling.outlet import OutFrame
from tests.unit.signaling.examples import EVENTS

ROOM = RoomId("r0")
EPOCH = "ep0ch"
F, A, B, W, P = (MemberId(m) for m in ("F", "A", "B", "W", "P"))
T1 = TurnId("1")


class FakeOutlet:
    def __init__(self) -> None:
        self.frames: list[OutFrame] = []
        self.closed: tuple[int, str] | None = None

    def cork(self) -> None:
        pass

    def uncork(self) -> None:
        pass

    def send(self, frame: OutFrame) -> bool:
        self.frames.append(frame)
        return True

    def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)

    def events(self) -> list[dict[str, object]]:
        return [msgpack.unpackb(f.payload, raw=False) for f in self.frames]

    def types(self) -> list[str]:
        return [str(ev["type"]) for ev in self.events()]


@dataclass(eq=False)
class FakeSeat:
    member: MemberId
    viewer: Viewer | None
    outlet: FakeOutlet = field(default_factory=FakeOutlet)
    held: list[tuple[str, Sequenced]] = field(default_factory=list)
    observed: list[e.AnyEvent] = field(default_factory=list)
    closed: tuple[int, str] | None = None

    def hold(self, epoch: str, sq: Sequenced) -> bool:
        if self.viewer is not None:
            return False
        self.held.append((epoch, sq))
        return True

    def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)

    def observe(self, event: e.AnyEvent) -> None:
        self.observed.append(event)


def seat(member: MemberId, role: Role = Role.MEMBER, *, waiting: bool = False) -> FakeSeat:
    return FakeSeat(member, Viewer(member, role, waiting))


class CountingCodec(Codec):
    def __init__(self) -> None:
        super().__init__(Limits())
        self.packed = 0

    def pack(self, frame: dict[str, object]) -> bytes:
        self.packed += 1
        return super().pack(frame)


def commit(*events: e.AnyEvent, first: int = 1, epoch: str = EPOCH) -> Commit:
    sequenced = tuple(Sequenced(first + i, ev) for i, ev in enumerate(events))
    return Commit(ROOM, epoch, sequenced, RoomState(), 1000.0, first + len(events) - 1)


@dataclass
class Room:
    hub: Hub
    codec: CountingCodec
    seats: dict[MemberId, FakeSeat]

    def receivers(self, ev: e.AnyEvent) -> set[MemberId]:
        self.hub.on_commit(commit(ev))
        got = {m for m, s in self.seats.items() if s.outlet.frames}
        for s in self.seats.values():
            s.outlet.frames.clear()
        return got


@pytest.fixture
def room() -> Room:
    """A facilitator F, members A and B, and W waiting in the lobby."""
    codec = CountingCodec()
    hub = Hub(codec)
    seats = {
        F: seat(F, Role.FACILITATOR),
        A: seat(A),
        B: seat(B),
        W: seat(W, waiting=True),
    }
    for s in seats.values():
        assert hub.seat(ROOM, s) is None
    return Room(hub, codec, seats)


# --- audience filtering ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (e.ChatSent(A, 1, "hi", None, 1000.0), {F, A, B}),
        (e.Reacted(A, "🙏"), {F, A, B}),
        (e.SupportAsked(A, "help", 1000.0), {F}),
        (e.JoinedLobby(W, "Wren", 1, "key"), {F}),
        (e.LobbyMessage("Soon"), {F, W}),
        (e.LobbyPosition(W, 1), {W}),
        (e.Admitted(W, "Wren", "member"), {F, A, B, W}),
        (e.Denied(W), {F, W}),
        (e.Left(A, "left"), {F, A, B}),
        (e.Left(W, "left", waiting=True), {F}),
        (e.Removed(A), {F, A, B}),
        (e.Removed(W, waiting=True), {F, W}),
        (e.Reconnecting(W, 1000.0, waiting=True), {F}),
        (e.Present(W, "reconnecting", waiting=True), {F, W}),
        (e.Present(A, "away"), {F, A, B}),
        (e.SuccessorSet(A), {F, A}),
        (e.SuccessorSet(None), {F}),
        (e.TurnStarted(T1, A, 1060.0, 60.0, 1), {F, A, B}),
        (e.MeetingEnded(), {F, A, B, W}),
    ],
    ids=lambda v: v.TYPE if isinstance(v, e.Event) else "",
)
def test_each_event_reaches_its_audience(
    room: Room, event: e.AnyEvent, expected: set[MemberId]
) -> None:
    assert room.receivers(event) == expected


@pytest.mark.parametrize("event", EVENTS, ids=lambda ev: ev.TYPE)
def test_every_event_type_is_filtered_by_may_see(room: Room, event: e.AnyEvent) -> None:
    expected = {
        m
        for m, s in room.seats.items()
        if s.viewer is not None and may_see(s.viewer, event.audience())
    }
    assert room.receivers(event) == expected


def test_the_frame_is_the_event_frame(room: Room) -> None:
    ev = e.ChatSent(A, 7, "hello", None, 1000.5)
    room.hub.on_commit(commit(ev, first=41))
    assert room.seats[B].outlet.events() == [wire.event_frame(EPOCH, Sequenced(41, ev))]


def test_events_arrive_in_seq_order(room: Room) -> None:
    chats = [e.ChatSent(A, i, f"m{i}", None, 1000.0) for i in range(5)]
    room.hub.on_commit(commit(*chats, first=10))
    assert [ev["seq"] for ev in room.seats[F].outlet.events()] == [10, 11, 12, 13, 14]


# --- pending seats ---------------------------------------------------------------------


def test_a_pending_seat_holds_every_event_and_is_sent_nothing(room: Room) -> None:
    pending = FakeSeat(P, None)
    room.hub.seat(ROOM, pending)
    events = (e.ChatSent(A, 1, "hi", None, 1000.0), e.SupportAsked(A, "help", 1000.0))
    room.hub.on_commit(commit(*events, first=5))
    # Held whatever their audience: the seat judges them once it knows its viewer.
    assert pending.held == [(EPOCH, Sequenced(5, events[0])), (EPOCH, Sequenced(6, events[1]))]
    assert pending.outlet.frames == []
    assert pending.observed == []


def test_a_pending_seat_holds_personal_events_without_observing_them(room: Room) -> None:
    pending = FakeSeat(P, None)
    room.hub.seat(ROOM, pending)
    room.hub.on_commit(commit(e.Admitted(P, "Pat", "member")))
    assert [sq.event for _, sq in pending.held] == [e.Admitted(P, "Pat", "member")]
    assert pending.observed == []


def test_a_signal_never_reaches_a_pending_seat(room: Room) -> None:
    pending = FakeSeat(P, None)
    room.hub.seat(ROOM, pending)
    room.hub.on_direct(ROOM, P, b"signal")
    room.hub.on_direct(ROOM, A, b"signal")
    room.hub.on_direct(ROOM, MemberId("nobody"), b"signal")
    room.hub.on_direct(RoomId("other"), A, b"signal")
    assert pending.outlet.frames == []
    assert [f.payload for f in room.seats[A].outlet.frames] == [b"signal"]


# --- personal events -------------------------------------------------------------------


def test_personal_events_are_observed_by_every_live_seat(room: Room) -> None:
    personal = [ev for ev in EVENTS if type(ev) in PERSONAL]
    others = [ev for ev in EVENTS if type(ev) not in PERSONAL]
    room.hub.on_commit(commit(*others, *personal))
    for s in room.seats.values():
        # Even where the seat may not see the event (a lobby departure, say): the seat
        # decides whether the event concerns it.
        assert s.observed == personal


def test_personal_events_are_observed_after_the_audience_check(room: Room) -> None:
    class Promoting(FakeSeat):
        def observe(self, event: e.AnyEvent) -> None:
            super().observe(event)
            assert self.viewer is not None
            if isinstance(event, e.Admitted) and event.member == self.member:
                self.viewer = Viewer(self.member, Role.MEMBER, waiting=False)

    w2 = MemberId("W2")
    waiting = Promoting(w2, Viewer(w2, Role.MEMBER, waiting=True))
    room.hub.seat(ROOM, waiting)
    room.hub.on_commit(commit(e.JoinedLobby(w2, "Wyn", 2), e.Admitted(w2, "Wyn", "member")))
    room.hub.on_commit(commit(e.ChatSent(A, 1, "welcome", None, 1000.0), first=3))
    assert waiting.outlet.types() == ["admitted", "chat"]


def node() -> Node:
    class NoRooms:
        async def enter(self, room: str, token: str) -> tuple[RoomInfo, Role] | None:
            return None

        async def info(self, room: str) -> RoomInfo | None:
            return None

    return Node(
        MemoryBroker(Limits(), grace_seconds=60), NoRooms(), limits=Limits(), grace_seconds=60
    )


def connection(n: Node, member: MemberId, role: Role, *, waiting: bool) -> Connection:
    """A real connection seated by hand. Its phase stays `greeting`, so the fresh `welcome`
    a live connection sends after `admitted` or `role_changed` (a matter of connection.py,
    not of the hub) stays out of these tests."""
    conn = Connection(n, FakeOutlet(), "10.0.0.1")
    conn.room, conn.member = ROOM, member
    conn.viewer = Viewer(member, role, waiting)
    seated: Seat = conn
    n.hub.seat(ROOM, seated)
    return conn


def frames_of(conn: Connection) -> list[str]:
    outlet = conn.outlet
    assert isinstance(outlet, FakeOutlet)
    return outlet.types()


async def test_admitted_lets_a_waiting_viewer_see_the_rest_of_the_commit() -> None:
    n = node()
    wren = connection(n, W, Role.MEMBER, waiting=True)
    n.hub.on_commit(
        commit(
            e.ChatSent(A, 1, "before", None, 1000.0),
            e.Admitted(W, "Wren", "member"),
            e.OrderSet((A, W)),
            e.ChatSent(A, 2, "after", None, 1000.0),
        )
    )
    assert frames_of(wren) == ["admitted", "order_set", "chat"]
    assert wren.viewer == Viewer(W, Role.MEMBER, waiting=False)


async def test_a_role_change_is_judged_from_the_next_event_on() -> None:
    n = node()
    ama = connection(n, A, Role.MEMBER, waiting=False)
    n.hub.on_commit(
        commit(
            e.SupportAsked(B, "before", 1000.0),
            e.RoleChanged(A, "facilitator", "promoted"),
            e.SupportAsked(B, "after", 1000.0),
            e.RoleChanged(A, "member", "demoted"),
            e.SupportAsked(B, "too late", 1000.0),
        )
    )
    texts = [ev.get("text") for ev in ama.outlet.events()]  # type: ignore[attr-defined]
    assert texts == [None, "after", None]
    assert ama.viewer == Viewer(A, Role.MEMBER, waiting=False)


async def test_someone_elses_personal_event_changes_nothing() -> None:
    n = node()
    ama = connection(n, A, Role.MEMBER, waiting=False)
    n.hub.on_commit(commit(e.RoleChanged(B, "facilitator", "promoted"), e.Removed(B)))
    await asyncio.sleep(0)
    assert ama.viewer == Viewer(A, Role.MEMBER, waiting=False)
    assert ama.outlet.closed is None  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("event", "code"),
    [
        (e.Removed(A), Close.REMOVED),
        (e.Left(A, "timeout"), Close.LEFT),
        (e.MeetingEnded(), Close.ENDED),
    ],
)
async def test_an_event_that_ends_the_seat_closes_it_after_delivery(
    event: e.AnyEvent, code: Close
) -> None:
    n = node()
    ama = connection(n, A, Role.MEMBER, waiting=False)
    n.hub.on_commit(commit(event))
    assert frames_of(ama) == [event.TYPE]
    assert ama.outlet.closed is None  # type: ignore[attr-defined]  # not before the ack
    await asyncio.sleep(0)
    assert ama.outlet.closed == (code, event.TYPE if code != Close.ENDED else "meeting ended")  # type: ignore[attr-defined]


async def test_denied_closes_the_waiting_seat() -> None:
    n = node()
    wren = connection(n, W, Role.MEMBER, waiting=True)
    n.hub.on_commit(commit(e.Denied(W)))
    await asyncio.sleep(0)
    assert frames_of(wren) == ["denied"]
    assert wren.outlet.closed == (Close.REMOVED, "denied")  # type: ignore[attr-defined]


# --- encode once -----------------------------------------------------------------------


def test_the_same_outframe_reaches_every_viewer(room: Room) -> None:
    room.hub.on_commit(commit(e.ChatSent(A, 1, "hi", None, 1000.0)))
    frames = [room.seats[m].outlet.frames for m in (F, A, B)]
    assert all(len(fs) == 1 for fs in frames)
    assert frames[0][0] is frames[1][0] is frames[2][0]
    assert room.codec.packed == 1


def test_each_event_is_encoded_once_whatever_the_audience(room: Room) -> None:
    for i in range(20):
        room.hub.seat(ROOM, seat(MemberId(f"M{i}")))
    events = (
        e.ChatSent(A, 1, "hi", None, 1000.0),
        e.SupportAsked(A, "help", 1000.0),
        e.LobbyMessage("soon"),
        e.MeetingEnded(),
    )
    room.hub.on_commit(commit(*events))
    assert room.codec.packed == len(events)
    ended = {id(s.outlet.frames[-1]) for s in room.seats.values()}
    assert len(ended) == 1


def test_an_event_nobody_may_see_is_never_encoded() -> None:
    codec = CountingCodec()
    hub = Hub(codec)
    hub.seat(ROOM, seat(A))
    hub.on_commit(commit(e.SupportAsked(A, "help", 1000.0), e.JoinedLobby(W, "Wren", 1)))
    assert codec.packed == 0


def test_fanout_is_reported(room: Room) -> None:
    reports: list[tuple[int, float]] = []
    hub = Hub(Codec(Limits()), on_fanout=lambda sent, seconds: reports.append((sent, seconds)))
    for s in room.seats.values():
        hub.seat(ROOM, s)
    hub.on_commit(commit(e.ChatSent(A, 1, "hi", None, 1000.0), e.SupportAsked(A, "x", 1000.0)))
    assert len(reports) == 1
    assert reports[0][0] == 4  # three chats and one support note
    assert reports[0][1] >= 0


# --- the room's local record and its seats ----------------------------------------------


def test_a_commit_updates_the_local_room(room: Room) -> None:
    state = RoomState(locked=True)
    room.hub.on_commit(Commit(ROOM, EPOCH, (Sequenced(8, e.Locked()),), state, 1000.0, 8))
    assert room.hub.state(ROOM) is state
    local = room.hub.rooms[ROOM]
    assert (local.epoch, local.seq) == (EPOCH, 8)


def test_observers_see_every_commit_served_here_or_not() -> None:
    hub = Hub(Codec(Limits()))
    seen: list[Commit] = []
    hub.observers.append(seen.append)
    c = commit(e.Locked())
    hub.on_commit(c)  # no seat here: nothing to deliver, observers still told
    assert seen == [c]
    assert hub.state(ROOM) is None


def test_a_new_seat_replaces_the_old_one_for_the_same_member(room: Room) -> None:
    old = room.seats[A]
    new = seat(A)
    assert room.hub.seat(ROOM, new) is old
    assert room.hub.seat(ROOM, new) is None  # seating the same seat again replaces nothing
    assert room.hub.holder(ROOM, A) is new
    assert not room.hub.unseat(ROOM, old)  # the replaced seat does not unseat the new one
    assert room.hub.holder(ROOM, A) is new
    assert room.hub.unseat(ROOM, new)
    assert room.hub.holder(ROOM, A) is None


def test_the_last_seat_to_go_forgets_the_room() -> None:
    hub = Hub(Codec(Limits()))
    a, b = seat(A), seat(B)
    hub.seat(ROOM, a)
    hub.seat(ROOM, b)
    hub.unseat(ROOM, a)
    assert ROOM in hub.rooms
    hub.unseat(ROOM, b)
    assert ROOM not in hub.rooms
    assert not hub.unseat(ROOM, b)
    assert hub.holder(ROOM, A) is None
