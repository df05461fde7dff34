"""The broker contract (signaling/broker.py), as one suite every implementation subclasses.

    class TestMemoryBroker(BrokerContract):
        async def make_broker(self, limits, grace_seconds, clock):
            return MemoryBroker(limits, grace_seconds=grace_seconds, clock=clock)

The tests use only the `Broker` protocol: no implementation's internals. Time comes from an
injected clock, so windows and ages are tested without sleeping. A backend whose fan-out is
asynchronous (Redis pub/sub) is covered too: listener checks wait, boundedly, for what they
expect, and every room is subscribed before it is used. Each test uses a fresh room id, so a
backend with a shared store needs no cleanup between tests.

Decisions are the real engine's (`rooms.decide`) or literal event lists that `evolve`
accepts, the way the node uses a broker.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from rooms import AnyEvent, MemberId, RoomId, RoomState, decide, replay
from rooms import commands as c
from rooms import events as e
from rooms.errors import Invalid, RoomError
from rooms.state import Role
from signaling.broker import Broker, Commit, Decision, Duplicate, RoomView
from signaling.limits import Limits

T0 = 1_000_000.0
F, A, B = MemberId("f1"), MemberId("a1"), MemberId("b1")
WAIT = 2.0  # seconds a listener check waits for an asynchronous delivery


class Clock:
    """The broker's clock in these tests: it moves only when told to."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Recorder:
    """A `Listener` that keeps everything it is told."""

    commits: list[Commit] = field(default_factory=list)
    directs: list[tuple[RoomId, MemberId, bytes]] = field(default_factory=list)
    dropped: list[tuple[RoomId, str]] = field(default_factory=list)
    kicks: list[tuple[RoomId, MemberId]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def on_commit(self, commit: Commit) -> None:
        self.commits.append(commit)
        self.changed.set()

    def on_direct(self, room: RoomId, to: MemberId, payload: bytes) -> None:
        self.directs.append((room, to, payload))
        self.changed.set()

    def on_dropped(self, room: RoomId, epoch: str) -> None:
        self.dropped.append((room, epoch))
        self.changed.set()

    def on_kick(self, room: RoomId, member: MemberId) -> None:
        self.kicks.append((room, member))
        self.changed.set()

    async def until(self, ready: Callable[[], bool], wait: float = WAIT) -> None:
        """Wait (at most `wait` seconds) until `ready()` holds."""
        async with asyncio.timeout(wait):
            while not ready():
                self.changed.clear()
                await self.changed.wait()

    def seqs(self, room: RoomId) -> list[int]:
        return [sq.seq for cm in self.commits if cm.room == room for sq in cm.events]


@dataclass
class Harness:
    broker: Broker
    listener: Recorder
    clock: Clock


Opener = Callable[..., Awaitable[Harness]]


# --- decisions ---------------------------------------------------------------------------


def engine(command: c.AnyCommand, actor: MemberId | None = None) -> Decision:
    def run(state: RoomState, now: float) -> list[AnyEvent]:
        return decide(state, command, actor, now)

    return run


def arrive(member: MemberId, role: Role = Role.FACILITATOR) -> Decision:
    return engine(c.Arrive(member, f"name-{member}", role))


def chats(n: int, start: int = 0) -> Decision:
    """`n` chat events by F in one decision (F must be in the room for replay to agree)."""

    def run(state: RoomState, now: float) -> list[AnyEvent]:
        return [e.ChatSent(F, start + i, f"message {start + i}", None, now) for i in range(n)]

    return run


def refuse(state: RoomState, now: float) -> list[AnyEvent]:
    raise Invalid("No.")


def nothing(state: RoomState, now: float) -> list[AnyEvent]:
    return []


class Counting:
    """A decision that counts its runs."""

    def __init__(self, decision: Decision) -> None:
        self.decision = decision
        self.runs = 0

    def __call__(self, state: RoomState, now: float) -> list[AnyEvent]:
        self.runs += 1
        return self.decision(state, now)


async def committed(broker: Broker, room: RoomId, decision: Decision, **kw: str) -> Commit:
    result = await broker.transact(room, decision, **kw)
    assert isinstance(result, Commit), result
    return result


class BrokerContract:
    """Every broker keeps these promises. Subclass per backend and define `make_broker`."""

    async def make_broker(
        self, limits: Limits, grace_seconds: float, clock: Callable[[], float]
    ) -> Broker:
        """A fresh, unstarted broker of the backend under test, with nothing stored."""
        raise NotImplementedError

    # --- fixtures ------------------------------------------------------------------------

    @pytest.fixture
    async def open_broker(self) -> AsyncIterator[Opener]:
        opened: list[Broker] = []

        async def open_(limits: Limits | None = None, grace_seconds: float = 5.0) -> Harness:
            clock = Clock()
            broker = await self.make_broker(limits or Limits(), grace_seconds, clock)
            listener = Recorder()
            broker.attach(listener)
            await broker.start()
            opened.append(broker)
            return Harness(broker, listener, clock)

        yield open_
        for broker in reversed(opened):
            await broker.close()

    @pytest.fixture
    async def h(self, open_broker: Opener) -> Harness:
        return await open_broker()

    @pytest.fixture
    async def room(self, h: Harness) -> RoomId:
        """A fresh room, subscribed, that no test has used."""
        room = RoomId(f"room-{secrets.token_hex(4)}")
        await h.broker.subscribe(room)
        return room

    async def started(self, h: Harness, room: RoomId) -> Commit:
        """Open the room's meeting: the facilitator F arrives (seq 1)."""
        return await committed(h.broker, room, arrive(F))

    # --- the basics ----------------------------------------------------------------------

    async def test_ready_once_started(self, h: Harness) -> None:
        assert await h.broker.ready()

    async def test_now_is_the_brokers_clock(self, h: Harness, room: RoomId) -> None:
        assert await h.broker.now() == T0
        h.clock.advance(12.5)
        assert await h.broker.now() == T0 + 12.5
        first = await self.started(h, room)
        assert first.now == T0 + 12.5

    async def test_an_unknown_room_reads_empty(self, h: Harness, room: RoomId) -> None:
        assert await h.broker.read(room) == RoomView("", 0, RoomState())
        assert await h.broker.history(room, "", 0) is None
        assert room not in await h.broker.live_rooms()

    # --- sequence numbers ----------------------------------------------------------------

    async def test_seqs_start_at_one_and_are_consecutive(self, h: Harness, room: RoomId) -> None:
        first = await self.started(h, room)
        assert first.epoch
        assert [sq.seq for sq in first.events] == [1]
        assert first.seq == 1
        more = await committed(h.broker, room, chats(3))
        assert [sq.seq for sq in more.events] == [2, 3, 4]
        assert more.seq == 4
        assert more.epoch == first.epoch
        again = await committed(h.broker, room, arrive(A, Role.MEMBER))
        assert [sq.seq for sq in again.events] == [5]

    async def test_a_commit_carries_the_new_state(self, h: Harness, room: RoomId) -> None:
        await self.started(h, room)
        result = await committed(h.broker, room, engine(c.Lock(), F))
        assert result.state.locked
        assert [sq.event for sq in result.events] == [e.Locked()]
        view = await h.broker.read(room)
        assert view == RoomView(result.epoch, result.seq, result.state)

    async def test_the_decision_sees_the_stored_state_and_the_clock(
        self, h: Harness, room: RoomId
    ) -> None:
        await self.started(h, room)
        h.clock.advance(3)
        seen: list[tuple[RoomState, float]] = []

        def look(state: RoomState, now: float) -> list[AnyEvent]:
            seen.append((state, now))
            return []

        await h.broker.transact(room, look)
        assert seen[-1][1] == T0 + 3
        assert seen[-1][0] == (await h.broker.read(room)).state
        assert seen[-1][0].facilitators()[0].id == F

    # --- refusals and empty decisions ---------------------------------------------------

    async def test_a_refusal_stores_and_publishes_nothing(self, h: Harness, room: RoomId) -> None:
        await self.started(h, room)
        before = await h.broker.read(room)
        with pytest.raises(Invalid):
            await h.broker.transact(room, refuse)
        assert await h.broker.read(room) == before
        after = await committed(h.broker, room, chats(1))
        assert [sq.seq for sq in after.events] == [2]  # no seq was spent on the refusal
        await h.listener.until(lambda: len(h.listener.commits) >= 2)
        assert h.listener.seqs(room) == [1, 2]

    async def test_a_refusal_in_a_new_room_leaves_no_room(self, h: Harness, room: RoomId) -> None:
        with pytest.raises(Invalid):
            await h.broker.transact(room, refuse)
        assert await h.broker.read(room) == RoomView("", 0, RoomState())
        assert room not in await h.broker.live_rooms()

    async def test_a_decision_without_events_stores_nothing(self, h: Harness, room: RoomId) -> None:
        first = await self.started(h, room)
        h.clock.advance(1)
        result = await committed(h.broker, room, nothing)
        assert result.events == ()
        assert (result.epoch, result.seq, result.state) == (first.epoch, 1, first.state)
        assert await h.broker.read(room) == RoomView(first.epoch, 1, first.state)
        assert await h.broker.history(room, first.epoch, 0) == list(first.events)
        after = await committed(h.broker, room, chats(1))
        assert [sq.seq for sq in after.events] == [2]
        await h.listener.until(lambda: len(h.listener.commits) >= 2)
        assert [cm.seq for cm in h.listener.commits] == [1, 2]  # nothing published between

    async def test_no_events_in_a_new_room_leaves_no_room(self, h: Harness, room: RoomId) -> None:
        result = await committed(h.broker, room, nothing)
        assert (result.events, result.seq) == ((), 0)
        assert room not in await h.broker.live_rooms()
        assert (await h.broker.read(room)).epoch == ""

    # --- dedupe --------------------------------------------------------------------------

    async def test_a_repeated_dedupe_key_is_a_duplicate_and_runs_nothing(
        self, h: Harness, room: RoomId
    ) -> None:
        await self.started(h, room)
        first = Counting(chats(1))
        await committed(h.broker, room, first, dedupe="f1:chat:1")
        again = Counting(chats(1))
        assert await h.broker.transact(room, again, dedupe="f1:chat:1") == Duplicate()
        assert again.runs == 0
        assert (await h.broker.read(room)).seq == 2
        other = await committed(h.broker, room, chats(1), dedupe="f1:chat:2")
        assert other.seq == 3
        await h.listener.until(lambda: len(h.listener.commits) >= 3)
        assert h.listener.seqs(room) == [1, 2, 3]

    async def test_dedupe_keys_are_per_room(self, h: Harness, room: RoomId) -> None:
        other = RoomId(f"{room}-other")
        await h.broker.subscribe(other)
        await self.started(h, room)
        await self.started(h, other)
        await committed(h.broker, room, chats(1), dedupe="f1:cmd:1")
        assert isinstance(await h.broker.transact(other, chats(1), dedupe="f1:cmd:1"), Commit)

    async def test_the_dedupe_window_expires(self, open_broker: Opener) -> None:
        h = await open_broker(Limits(dedupe_window_seconds=30.0))
        room = RoomId(f"room-{secrets.token_hex(4)}")
        await h.broker.subscribe(room)
        await self.started(h, room)
        await committed(h.broker, room, chats(1), dedupe="f1:cmd:9")
        h.clock.advance(29)
        assert await h.broker.transact(room, chats(1), dedupe="f1:cmd:9") == Duplicate()
        h.clock.advance(2)  # 31 s after the first
        runs = Counting(chats(1))
        result = await committed(h.broker, room, runs, dedupe="f1:cmd:9")
        assert runs.runs == 1
        assert result.seq == 3

    async def test_a_refused_decision_does_not_spend_its_dedupe_key(
        self, h: Harness, room: RoomId
    ) -> None:
        await self.started(h, room)
        with pytest.raises(Invalid):
            await h.broker.transact(room, refuse, dedupe="f1:cmd:4")
        retry = Counting(chats(1))
        await committed(h.broker, room, retry, dedupe="f1:cmd:4")
        assert retry.runs == 1

    async def test_a_key_used_by_the_first_decision_of_a_room_is_kept(
        self, h: Harness, room: RoomId
    ) -> None:
        await committed(h.broker, room, arrive(F), dedupe="node:arrive:1")
        assert await h.broker.transact(room, arrive(F), dedupe="node:arrive:1") == Duplicate()

    # --- the listener --------------------------------------------------------------------

    async def test_the_listener_receives_every_commit_in_order(
        self, h: Harness, room: RoomId
    ) -> None:
        results = [await self.started(h, room)]
        for i in range(5):
            results.append(await committed(h.broker, room, chats(i + 1, start=10 * i)))
        await h.listener.until(lambda: len(h.listener.commits) >= 6)
        assert h.listener.commits == results
        assert h.listener.seqs(room) == list(range(1, 17))

    async def test_direct_reaches_the_listener(self, h: Harness, room: RoomId) -> None:
        await self.started(h, room)
        await h.broker.direct(room, F, b"\x81\xa1t\xa6signal")
        await h.listener.until(lambda: bool(h.listener.directs))
        assert h.listener.directs == [(room, F, b"\x81\xa1t\xa6signal")]
        assert (await h.broker.read(room)).seq == 1  # not stored
        assert await h.broker.history(room, (await h.broker.read(room)).epoch, 1) == []

    # --- history -------------------------------------------------------------------------

    async def test_history_gives_exactly_the_later_events(self, h: Harness, room: RoomId) -> None:
        first = await self.started(h, room)
        rest = await committed(h.broker, room, chats(4))
        everything = [*first.events, *rest.events]
        for after in range(5):
            assert await h.broker.history(room, first.epoch, after) == everything[after:]

    async def test_history_at_the_top_is_empty(self, h: Harness, room: RoomId) -> None:
        top = await committed(h.broker, room, arrive(F))
        assert await h.broker.history(room, top.epoch, top.seq) == []

    async def test_history_beyond_the_top_is_none(self, h: Harness, room: RoomId) -> None:
        top = await self.started(h, room)
        assert await h.broker.history(room, top.epoch, top.seq + 1) is None
        assert await h.broker.history(room, top.epoch, 10**9) is None

    async def test_history_of_another_epoch_is_none(self, h: Harness, room: RoomId) -> None:
        top = await self.started(h, room)
        assert await h.broker.history(room, top.epoch + "x", 0) is None
        assert await h.broker.history(room, "", 0) is None

    async def test_history_trimmed_by_count_is_none(self, open_broker: Opener) -> None:
        h = await open_broker(Limits(history_events=5))
        room = RoomId(f"room-{secrets.token_hex(4)}")
        await h.broker.subscribe(room)
        first = await self.started(h, room)
        top = await committed(h.broker, room, chats(9))  # seqs 2..10; 6..10 are kept
        assert top.seq == 10
        kept = await h.broker.history(room, first.epoch, 5)
        assert [sq.seq for sq in kept or []] == [6, 7, 8, 9, 10]
        assert await h.broker.history(room, first.epoch, 4) is None  # would need seq 5
        assert await h.broker.history(room, first.epoch, 0) is None
        assert await h.broker.history(room, first.epoch, 10) == []

    async def test_history_trimmed_by_age_is_none(self, open_broker: Opener) -> None:
        h = await open_broker(Limits(history_seconds=60.0), grace_seconds=1.0)
        room = RoomId(f"room-{secrets.token_hex(4)}")
        await h.broker.subscribe(room)
        first = await self.started(h, room)
        await committed(h.broker, room, chats(2))  # seqs 2, 3 at T0
        h.clock.advance(61)
        late = await committed(h.broker, room, chats(1, start=5))  # seq 4 at T0 + 61
        assert await h.broker.history(room, first.epoch, 0) is None
        assert await h.broker.history(room, first.epoch, 2) is None
        assert await h.broker.history(room, first.epoch, 3) == list(late.events)

    async def test_history_is_kept_at_least_as_long_as_the_grace_period(
        self, open_broker: Opener
    ) -> None:
        # A member back within the grace period always finds what they missed, even if the
        # configured age is shorter.
        h = await open_broker(Limits(history_seconds=10.0), grace_seconds=120.0)
        room = RoomId(f"room-{secrets.token_hex(4)}")
        await h.broker.subscribe(room)
        first = await self.started(h, room)
        early = await committed(h.broker, room, chats(2))
        h.clock.advance(119)
        late = await committed(h.broker, room, chats(1, start=5))
        assert await h.broker.history(room, first.epoch, 1) == [*early.events, *late.events]

    async def test_history_past_the_replay_bound_is_none(self, open_broker: Opener) -> None:
        h = await open_broker(Limits(replay_events=3))
        room = RoomId(f"room-{secrets.token_hex(4)}")
        await h.broker.subscribe(room)
        first = await self.started(h, room)
        await committed(h.broker, room, chats(5))  # top is 6
        assert await h.broker.history(room, first.epoch, 2) is None  # 4 to replay
        replayed = await h.broker.history(room, first.epoch, 3)  # exactly 3
        assert [sq.seq for sq in replayed or []] == [4, 5, 6]

    # --- epochs ---------------------------------------------------------------------------

    async def test_drop_room_ends_the_epoch(self, h: Harness, room: RoomId) -> None:
        first = await self.started(h, room)
        await committed(h.broker, room, chats(2))
        await h.broker.drop_room(room)
        assert await h.broker.read(room) == RoomView("", 0, RoomState())
        assert room not in await h.broker.live_rooms()
        assert await h.broker.history(room, first.epoch, 0) is None
        await h.listener.until(lambda: bool(h.listener.dropped))
        assert h.listener.dropped == [(room, first.epoch)]
        again = await self.started(h, room)
        assert again.epoch not in ("", first.epoch)
        assert [sq.seq for sq in again.events] == [1]
        assert again.state == first.state  # a fresh meeting: only F, just arrived

    async def test_drop_room_forgets_dedupe_keys(self, h: Harness, room: RoomId) -> None:
        await self.started(h, room)
        await committed(h.broker, room, chats(1), dedupe="f1:cmd:1")
        await h.broker.drop_room(room)
        await self.started(h, room)
        assert isinstance(await h.broker.transact(room, chats(1), dedupe="f1:cmd:1"), Commit)

    async def test_drop_room_of_an_unknown_room_does_nothing(
        self, h: Harness, room: RoomId
    ) -> None:
        await h.broker.drop_room(room)
        assert await h.broker.read(room) == RoomView("", 0, RoomState())

    async def test_the_epoch_ends_when_the_room_empties(self, h: Harness, room: RoomId) -> None:
        first = await self.started(h, room)
        last = await committed(h.broker, room, engine(c.Leave(), F))
        assert last.epoch == first.epoch  # the commit that emptied it is still published
        assert [type(sq.event) for sq in last.events] == [e.Left]
        await h.listener.until(lambda: bool(h.listener.dropped))
        assert h.listener.commits[-1] == last
        assert h.listener.dropped == [(room, first.epoch)]
        assert room not in await h.broker.live_rooms()
        assert await h.broker.history(room, first.epoch, 0) is None
        again = await self.started(h, room)
        assert again.epoch != first.epoch
        assert [sq.seq for sq in again.events] == [1]

    async def test_the_epoch_ends_when_the_meeting_ends(self, h: Harness, room: RoomId) -> None:
        first = await self.started(h, room)
        await committed(h.broker, room, arrive(A))
        await h.broker.save_seat(room, A, "hash-a")
        last = await committed(h.broker, room, engine(c.EndMeeting(), F))
        assert [type(sq.event) for sq in last.events] == [e.MeetingEnded]
        assert last.state.ended
        await h.listener.until(lambda: bool(h.listener.dropped))
        assert h.listener.dropped == [(room, first.epoch)]
        assert room not in await h.broker.live_rooms()
        assert not await h.broker.seat_matches(room, A, "hash-a")  # seats went with it
        again = await self.started(h, room)
        assert again.epoch != first.epoch
        assert again.seq == 1
        assert not again.state.ended

    # --- seats ----------------------------------------------------------------------------

    async def test_seats_save_match_and_drop(self, h: Harness, room: RoomId) -> None:
        await self.started(h, room)
        await h.broker.save_seat(room, F, "hash-1")
        assert await h.broker.seat_matches(room, F, "hash-1")
        assert not await h.broker.seat_matches(room, F, "hash-2")
        assert not await h.broker.seat_matches(room, F, "")
        assert not await h.broker.seat_matches(room, A, "hash-1")
        assert not await h.broker.seat_matches(RoomId(f"{room}-other"), F, "hash-1")
        await h.broker.drop_seat(room, F)
        assert not await h.broker.seat_matches(room, F, "hash-1")
        await h.broker.drop_seat(room, F)  # dropping twice is fine

    async def test_saving_a_seat_again_rotates_it(self, h: Harness, room: RoomId) -> None:
        await self.started(h, room)
        await h.broker.save_seat(room, F, "hash-1")
        await h.broker.save_seat(room, F, "hash-2")
        assert not await h.broker.seat_matches(room, F, "hash-1")
        assert await h.broker.seat_matches(room, F, "hash-2")

    async def test_seats_are_per_member(self, h: Harness, room: RoomId) -> None:
        await self.started(h, room)
        await committed(h.broker, room, arrive(A, Role.MEMBER))
        await h.broker.save_seat(room, F, "hash-f")
        await h.broker.save_seat(room, A, "hash-a")
        await h.broker.drop_seat(room, F)
        assert await h.broker.seat_matches(room, A, "hash-a")
        assert not await h.broker.seat_matches(room, A, "hash-f")

    async def test_seats_go_with_the_room(self, h: Harness, room: RoomId) -> None:
        await self.started(h, room)
        await h.broker.save_seat(room, F, "hash-1")
        await h.broker.drop_room(room)
        assert not await h.broker.seat_matches(room, F, "hash-1")

    # --- live rooms -----------------------------------------------------------------------

    async def test_live_rooms_are_the_rooms_with_meeting_state(
        self, h: Harness, room: RoomId
    ) -> None:
        other = RoomId(f"{room}-other")
        quiet = RoomId(f"{room}-quiet")
        for r in (other, quiet):
            await h.broker.subscribe(r)
        await self.started(h, room)
        await self.started(h, other)
        await h.broker.transact(quiet, nothing)
        live = await h.broker.live_rooms()
        assert {room, other} <= set(live)
        assert quiet not in live
        assert len(live) == len(set(live))
        await h.broker.drop_room(other)
        live = await h.broker.live_rooms()
        assert room in live
        assert other not in live

    # --- concurrency -----------------------------------------------------------------------

    async def test_concurrent_transacts_never_gap_or_repeat(self, h: Harness, room: RoomId) -> None:
        await self.started(h, room)
        n = 50
        results = await asyncio.gather(
            *(h.broker.transact(room, chats(1 + i % 3, start=100 * i)) for i in range(n))
        )
        seqs = sorted(sq.seq for r in results if isinstance(r, Commit) for sq in r.events)
        total = sum(1 + i % 3 for i in range(n))
        assert seqs == list(range(2, 2 + total))
        view = await h.broker.read(room)
        assert view.seq == 1 + total
        await h.listener.until(lambda: len(h.listener.seqs(room)) >= 1 + total)
        assert h.listener.seqs(room) == list(range(1, 2 + total))

    async def test_concurrent_engine_commands_replay_to_the_stored_state(
        self, h: Harness, room: RoomId
    ) -> None:
        await self.started(h, room)
        people = [MemberId(f"m{i}") for i in range(12)]
        await asyncio.gather(*(h.broker.transact(room, arrive(m, Role.MEMBER)) for m in people))
        attempts = [engine(c.Admit(m), F) for m in people] + [
            engine(c.RaiseHand(), m) for m in people
        ]

        async def attempt(decision: Decision) -> Commit | Duplicate | None:
            try:
                return await h.broker.transact(room, decision)
            except RoomError:
                return None  # a hand raised before its owner was admitted: refused

        await asyncio.gather(*(attempt(d) for d in attempts))
        view = await h.broker.read(room)
        history = await h.broker.history(room, view.epoch, 0)
        assert history is not None
        assert [sq.seq for sq in history] == list(range(1, view.seq + 1))
        assert replay(sq.event for sq in history) == view.state
        assert {p.id for p in view.state.admitted()} == {F, *people}

    async def test_rooms_do_not_share_sequences(self, h: Harness, room: RoomId) -> None:
        other = RoomId(f"{room}-other")
        await h.broker.subscribe(other)
        one = await self.started(h, room)
        two = await self.started(h, other)
        await committed(h.broker, room, chats(3))
        assert (await h.broker.read(other)).seq == 1
        assert one.epoch != two.epoch
        assert [sq.seq for sq in two.events] == [1]
