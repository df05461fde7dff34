"""The node's clockwork: it fires the room engine's deadlines as commands.

Two kinds of deadline, both derived from room state, never remembered apart from it:
- a turn's: `rooms.next_wakeup(state)` says when `TurnTimeUp(turn_id)` is due (the deadline,
  then, only in a round started with `overtime`, the end of it; without, nothing more is
  scheduled after the `time_up` cue, and the piece stays until someone moves it);
- a lost connection's: a `reconnecting` event's `since` plus the grace period is when
  `GraceExpired(member, since)` is due.

A third duty, for many nodes: every few seconds it asks the broker which members of the rooms
served here sat on a node that has died (`Broker.reap`), and marks them disconnected, so
their grace period starts like anyone else's.

Because deadlines come from state and the commands are idempotent (a stale, early or repeated
one changes nothing), a timer that fires twice, early or late is harmless, and `rebuild`
after a restart of this service re-derives every pending deadline from the broker.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog

from rooms import MemberId, RoomId, RoomState, TurnId, next_wakeup
from rooms import commands as c
from rooms import events as e
from signaling.broker import Commit
from signaling.node import Node

log = structlog.get_logger("hearth.timers")

# Fire a little after the deadline: loop timers may run up to a millisecond early.
MARGIN_SECONDS = 0.005
RETRY_SECONDS = 0.5
RETRY_ATTEMPTS = 20  # ~10 s of a broker outage; past it the next commit or rebuild re-arms
REAP_SECONDS = 3.0


class Timers:
    def __init__(self, node: Node, clock: Callable[[], float] | None = None) -> None:
        self._node = node
        self._clock = clock or node.broker.clock
        self._turns: dict[RoomId, tuple[TurnId, float, asyncio.TimerHandle]] = {}
        self._graces: dict[tuple[RoomId, MemberId], asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._running = False
        self._reaper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._running = True
        self._node.hub.observers.append(self.on_commit)
        await self.rebuild()
        self._reaper = asyncio.get_running_loop().create_task(self._reap_forever())

    async def close(self) -> None:
        self._running = False
        if self._reaper is not None:
            self._reaper.cancel()
        if self.on_commit in self._node.hub.observers:
            self._node.hub.observers.remove(self.on_commit)
        for _, _, handle in self._turns.values():
            handle.cancel()
        for handle in self._graces.values():
            handle.cancel()
        self._turns.clear()
        self._graces.clear()
        for task in list(self._tasks):
            task.cancel()

    async def rebuild(self) -> None:
        """Derive every pending deadline from the broker's rooms (after a restart)."""
        for room in await self._node.broker.live_rooms():
            view = await self._node.broker.read(room)
            self._schedule_turn(room, view.state)
            for p in view.state.people:
                if p.reconnecting_since is not None:
                    self._schedule_grace(room, p.id, p.reconnecting_since)

    def pending(self) -> int:
        return len(self._turns) + len(self._graces)

    # --- watching commits -----------------------------------------------------------------

    def on_commit(self, commit: Commit) -> None:
        if not self._running:
            return
        self._schedule_turn(commit.room, commit.state)
        for sq in commit.events:
            ev = sq.event
            if isinstance(ev, e.Reconnecting):
                self._schedule_grace(commit.room, ev.member, ev.since)
            elif isinstance(ev, e.Present | e.Left | e.Removed | e.Denied):
                self._cancel_grace(commit.room, ev.member)
            elif isinstance(ev, e.MeetingEnded):
                for room, member in [k for k in self._graces if k[0] == commit.room]:
                    self._cancel_grace(room, member)

    def _schedule_turn(self, room: RoomId, state: RoomState) -> None:
        wake = next_wakeup(state)
        current = self._turns.get(room)
        if current is not None:
            if wake is not None and current[:2] == wake:
                return
            current[2].cancel()
            del self._turns[room]
        if wake is None:
            return
        turn_id, at = wake
        handle = self._later(at, lambda: self._spawn(self._fire_turn(room, turn_id, at)))
        self._turns[room] = (turn_id, at, handle)

    def _schedule_grace(self, room: RoomId, member: MemberId, since: float) -> None:
        self._cancel_grace(room, member)
        at = since + self._node.grace_seconds
        self._graces[(room, member)] = self._later(
            at, lambda: self._spawn(self._fire_grace(room, member, since))
        )

    def _cancel_grace(self, room: RoomId, member: MemberId) -> None:
        handle = self._graces.pop((room, member), None)
        if handle is not None:
            handle.cancel()

    def _later(self, at: float, callback: Callable[[], None]) -> asyncio.TimerHandle:
        delay = max(0.0, at - self._clock()) + MARGIN_SECONDS
        return asyncio.get_running_loop().call_later(delay, callback)

    def _spawn(self, coro: object) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- firing ---------------------------------------------------------------------------

    async def _fire_turn(self, room: RoomId, turn_id: TurnId, at: float, attempt: int = 0) -> None:
        current = self._turns.get(room)
        if current is not None and current[0] == turn_id and current[1] == at:
            del self._turns[room]
        commit = await self._node.transact_quietly(room, c.TurnTimeUp(turn_id))
        if commit is None:
            log.warning("timer failed", room=room, reason="turn", count=attempt)
            self._retry(
                attempt, lambda: self._spawn(self._fire_turn(room, turn_id, at, attempt + 1))
            )
            return
        # A no-op (fired early, or the turn moved on): make sure the true next wake-up is set.
        if not commit.events and self._running:
            self._schedule_turn(room, commit.state)

    async def _fire_grace(
        self, room: RoomId, member: MemberId, since: float, attempt: int = 0
    ) -> None:
        self._graces.pop((room, member), None)
        commit = await self._node.transact_quietly(room, c.GraceExpired(member, since))
        if commit is None:
            log.warning("timer failed", room=room, reason="grace", count=attempt)
            self._retry(
                attempt, lambda: self._spawn(self._fire_grace(room, member, since, attempt + 1))
            )
            return
        person = commit.state.person(member)
        if person is not None and person.reconnecting_since == since and self._running:
            self._schedule_grace(room, member, since)  # fired early: try again at the deadline

    async def _reap_forever(self) -> None:
        while self._running:
            await asyncio.sleep(REAP_SECONDS)
            await self.reap()

    async def reap(self) -> int:
        """Mark disconnected the members whose node has died, in every live room (not only
        those served here: a room whose every member sat on the dead node has nobody else to
        do it); how many."""
        count = 0
        try:
            if not await self._node.broker.may_reap():
                return 0
            rooms = await self._node.broker.live_rooms()
        except Exception:  # an outage: the next round tries again
            log.warning("reap failed", reason="rooms")
            return 0
        try:
            found = await self._node.broker.reap(rooms)
        except Exception:
            log.warning("reap failed", reason="members", count=len(rooms))
            return 0
        for room, orphans in found.items():
            for member in orphans:
                commit = await self._node.transact_quietly(room, c.Disconnect(member))
                if commit is not None:
                    count += 1
                    self.on_commit(commit)  # their grace period starts here, served or not
        return count

    def _retry(self, attempt: int, callback: Callable[[], None]) -> None:
        if self._running and attempt < RETRY_ATTEMPTS:
            asyncio.get_running_loop().call_later(RETRY_SECONDS, callback)
