"""One client connection: hello, the seat, every frame after it, and the goodbye.

Rules:
- Every inbound frame is rate-limited, size-checked, decoded and validated before anything
  else; a bad one gets an `error` (echoing its id when it has one) and changes nothing. The
  connection stays open; only the transport closes for frames past the hard limit (1009).
- A socket that never says hello is closed after `hello_timeout_seconds`.
- The seat is registered with the hub (pending) before the arrival or resume is committed,
  so no event can slip between the welcome's snapshot and the live stream.
- A resume always answers plainly: `resumed: true` and exactly the missed events, or
  `resumed: false` and a fresh snapshot (also for a seq from before the seat existed). The
  resume token rotates every time.
- When what a viewer may see changes (let in from the lobby, promoted, demoted), a fresh
  `welcome` (`resumed: false`, their new snapshot) follows the events of that moment: a
  person let in learns who is in the circle, a new facilitator who is waiting.
- A socket that drops without `leave` marks the member reconnecting; the seat is kept for the
  grace period. A seat that ended (left, removed, denied, meeting over) is not.
- Frames are handled one at a time, in order. Once seated, where the server offers an
  `Inlet` and the broker never waits (`Broker.inline`), each frame is handled inside the
  read callback that brought it (signaling/eager.py); one that does wait holds the frames
  behind it in a small backlog, and reading pauses once that backlog is full.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import secrets
import time
from collections.abc import Awaitable, Callable

import structlog

from rooms import MemberId, RoomId, RoomInfo, RoomState, Viewer, may_see, snapshot, viewer_of
from rooms import commands as c
from rooms import events as e
from rooms.errors import RoomError
from rooms.state import OrderPreset, Role
from signaling import eager, wire
from signaling.broker import BrokerDown, Commit, Sequenced
from signaling.closes import Close
from signaling.codec import Chat, Cmd, Hello, Inbound, Ping, React, ResumeHello, Signal
from signaling.errors import (
    BadToken,
    Forbidden,
    InvalidFrame,
    RateLimited,
    ResumeExpired,
    SignalingError,
    describe,
)
from signaling.memory_broker import secret_hash
from signaling.node import Node
from signaling.outlet import INBOUND_BACKLOG, Inlet, OutFrame, Outlet
from signaling.session import (
    Phase,
    ResumeToken,
    TokenBucket,
    admit_frame,
    clean_name,
    new_member_id,
)

log = structlog.get_logger("hearth.connection")

Receive = Callable[[], Awaitable[bytes | str | None]]

# Events that end the viewer's seat, with the close code their connection gets.
_ENDINGS: dict[type[e.AnyEvent], Close] = {
    e.Removed: Close.REMOVED,
    e.Denied: Close.REMOVED,
    e.Left: Close.LEFT,
}


class Connection:
    # Thousands of these live at once; slots keep each one small (docs/performance.md).
    __slots__ = (
        "_backlog",
        "_bucket",
        "_busy",
        "_ending",
        "_heal_task",
        "_inlet",
        "_pending",
        "_seat_ended",
        "_token",
        "_view_task",
        "address",
        "close_code",
        "frames_in",
        "info",
        "member",
        "node",
        "outlet",
        "phase",
        "room",
        "viewer",
    )

    def __init__(self, node: Node, outlet: Outlet, address: str) -> None:
        self.node = node
        self.outlet = outlet
        self.address = address
        self.phase = Phase.GREETING
        self.room: RoomId | None = None
        self.member: MemberId = MemberId("")
        self.viewer: Viewer | None = None
        self.info: RoomInfo | None = None
        self.frames_in = 0
        self.close_code: int | None = None
        self._pending: list[tuple[str, Sequenced]] | None = None
        self._bucket = TokenBucket(
            node.limits.rate_per_second, node.limits.rate_burst, time.monotonic()
        )
        self._seat_ended = False
        self._ending: tuple[Close, str] | None = None
        self._token = ""
        self._view_task: asyncio.Task[None] | None = None
        self._heal_task: asyncio.Task[None] | None = None
        self._inlet: Inlet | None = None  # set once frames are pushed to us
        self._busy: asyncio.Task[None] | None = None  # a pushed frame that is waiting
        self._backlog: list[bytes | str] | None = None  # pushed frames behind `_busy`

    # --- the hub's side (signaling.hub.Seat) ----------------------------------------------

    def hold(self, epoch: str, sq: Sequenced) -> bool:
        if self._pending is None:
            return False
        self._pending.append((epoch, sq))
        return True

    def observe(self, event: e.AnyEvent) -> None:
        if isinstance(event, e.MeetingEnded):
            self._end(Close.ENDED, "meeting ended")
            return
        member = getattr(event, "member", None)
        if member != self.member or self.viewer is None:
            return
        if isinstance(event, e.Reconnecting):
            self._heal()
        elif isinstance(event, e.Admitted):
            self.viewer = dataclasses.replace(self.viewer, waiting=False, role=Role(event.role))
            self._review()
        elif isinstance(event, e.RoleChanged):
            self.viewer = dataclasses.replace(self.viewer, role=Role(event.role))
            self._review()
        else:
            code = _ENDINGS.get(type(event))
            if code is not None:
                self._end(code, event.TYPE)

    def refresh(self) -> None:
        self._review()

    def _heal(self) -> None:
        """The room says this seat is reconnecting while this connection serves it: a stale
        disconnect from an older connection (another node's, in a race) landed after our
        resume. Say we are here again, or the grace period would end a live seat."""
        if self.phase is Phase.SEATED and self.room is not None and self._heal_task is None:
            self._heal_task = asyncio.get_running_loop().create_task(self._send_present())

    async def _send_present(self) -> None:
        try:
            if self.room is not None:
                await self.node.transact_quietly(self.room, c.Reconnect(self.member))
        finally:
            self._heal_task = None

    def _review(self) -> None:
        """The viewer's place changed (let in, promoted, demoted), and with it what they may
        see: a fresh snapshot follows the events being delivered now, as a `welcome`."""
        if self._view_task is None:
            self._view_task = asyncio.get_running_loop().create_task(self._send_view())

    async def _send_view(self) -> None:
        try:
            now = await self.node.broker.now()
        except BrokerDown:
            now = time.time()  # the view matters more than the shared clock's exact reading
        finally:
            self._view_task = None
        local = self.node.hub.rooms.get(self.room) if self.room is not None else None
        if self.phase is not Phase.SEATED or local is None or self.info is None:
            return
        viewer = viewer_of(local.state, self.member)
        if viewer is None:
            return  # the seat ended meanwhile; its close is on the way
        self.send(
            {
                "t": "welcome",
                "me": self.member,
                "role": viewer.role.value,
                "resume": self._token,
                "epoch": local.epoch,
                "now": now,
                "ice": self.node.ice(self.member, now),
                "ice_policy": self.node.ice_policy,
                "resumed": False,
                "seq": local.seq,
                "state": snapshot(local.state, self.member, self.info),
            }
        )

    def _end(self, code: Close, reason: str) -> None:
        """The seat is over: close after whatever this step still sends (an ack)."""
        self._seat_ended = True
        self.phase = Phase.CLOSED
        self._ending = (code, reason)
        asyncio.get_running_loop().call_soon(self.close, code, reason)

    def close(self, code: int, reason: str) -> None:
        if self.close_code is None:
            self.close_code = code
        self.outlet.close(code, reason)

    # --- the pump -------------------------------------------------------------------------

    async def run(self, receive: Receive, inlet: Inlet | None = None) -> None:
        """Serve frames until the socket closes; always leaves the seat consistent."""
        deadline = time.monotonic() + self.node.limits.hello_timeout_seconds
        inline = inlet is not None and self.node.broker.inline
        try:
            while self.phase is not Phase.CLOSED:
                if inline and self.phase is Phase.SEATED:
                    assert inlet is not None
                    if inlet.attach(self.push):
                        self._inlet = inlet
                        await self._pushed_until_gone(receive)
                        return
                if self.phase is Phase.GREETING:
                    try:
                        data = await asyncio.wait_for(receive(), deadline - time.monotonic())
                    except TimeoutError:
                        self.close(Close.HELLO_TIMEOUT, "no hello")
                        return
                else:
                    data = await receive()
                if data is None:
                    return
                await self.receive(data)
        finally:
            if self._ending is not None:
                # Our own frame ended the seat (leave, end_meeting): close now, after its
                # ack, since the server cuts a socket whose handler returned unclosed (1006).
                self.close(*self._ending)
            await self._gone()

    async def _pushed_until_gone(self, receive: Receive) -> None:
        # Frames now come through `push`; `receive` only says goodbye (anything else it
        # still hands over joins the others, in order).
        while (data := await receive()) is not None:
            self.push(data)
        while self._busy is not None:  # the frames that arrived before the goodbye first
            await asyncio.wait({self._busy})

    def push(self, data: bytes | str) -> None:
        """A frame, handed over as it arrives (`Inlet`)."""
        if self.phase is Phase.CLOSED:
            return  # the seat is over; its close is on the way
        if self._busy is not None:
            backlog = self._backlog = self._backlog or []
            backlog.append(data)
            if len(backlog) == INBOUND_BACKLOG and self._inlet is not None:
                self._inlet.pause()
            return
        self._handle(data)

    def _handle(self, data: bytes | str) -> None:
        busy = eager.start(self.receive(data))
        if busy is not None:
            self._busy = busy
            busy.add_done_callback(self._handled)

    def _handled(self, _task: asyncio.Task[None]) -> None:
        self._busy = None
        backlog = self._backlog
        while backlog and self._busy is None:
            data = backlog.pop(0)
            if self.phase is not Phase.CLOSED:
                self._handle(data)
        if not backlog:
            self._backlog = None
            if self._inlet is not None:
                self._inlet.resume()

    async def receive(self, data: bytes | str) -> None:
        self.outlet.cork()
        try:
            await self._receive(data)
        finally:
            self.outlet.uncork()

    async def _receive(self, data: bytes | str) -> None:
        self.frames_in += 1
        self.node.telemetry.frame_in()
        request_id: int | None = None
        try:
            limited = not self._bucket.take(time.monotonic())
            try:
                m = self.node.codec.unpack(data)
            except SignalingError:
                if limited:
                    raise RateLimited() from None
                raise
            rid = m.get("id")
            if isinstance(rid, int) and not isinstance(rid, bool):
                request_id = rid
            if limited:  # refused after reading its id, so the client knows what to resend
                raise RateLimited()
            frame = self.node.codec.parse(m)
            admit_frame(self.phase, frame)
            await self._dispatch(frame)
        except Exception as exc:  # every failure becomes an error frame, never a crash
            code, message = describe(exc)
            self.node.telemetry.error(code)
            self.send(wire.error(request_id, code, message))
            if code == "internal":
                log.error(
                    "internal error",
                    room=self.room,
                    member=self.member,
                    exc_type=type(exc).__name__,
                )

    def send(self, frame: dict[str, object]) -> None:
        self.outlet.send(OutFrame(self.node.codec.pack(frame)))

    async def _dispatch(self, frame: Inbound) -> None:
        match frame:
            case Cmd():
                await self._command(frame)
            case Chat():
                await self._chat(frame)
            case React():
                await self._seated(c.React(frame.emoji), dedupe=None)
            case Signal():
                await self._signal(frame)
            case Ping():
                self.send(wire.pong(frame.id, await self.node.broker.now()))
            case Hello():
                await self._hello(frame)
            case ResumeHello():
                await self._resume(frame)

    # --- seated frames --------------------------------------------------------------------

    async def _command(self, frame: Cmd) -> None:
        command = frame.command
        if isinstance(command, c.StartRound) and command.order is OrderPreset.SHUFFLE:
            command = dataclasses.replace(command, seed=secrets.randbits(32))
        self.node.telemetry.command(frame.op)
        await self._seated(command, dedupe=f"{self.member}:cmd:{frame.id}")
        self.send(wire.ack(frame.id))

    async def _chat(self, frame: Chat) -> None:
        command = c.SendChat(frame.id, frame.text, frame.box)
        await self._seated(command, dedupe=f"{self.member}:chat:{frame.id}")
        self.send(wire.ack(frame.id))

    async def _seated(self, command: c.AnyCommand, *, dedupe: str | None) -> None:
        assert self.room is not None
        await self.node.transact(self.room, command, self.member, dedupe=dedupe)

    async def _signal(self, frame: Signal) -> None:
        assert self.room is not None
        state = self.node.hub.state(self.room) or RoomState()
        to = MemberId(frame.to)
        if to == self.member or not state.is_admitted(self.member) or not state.is_admitted(to):
            raise Forbidden("Signals go only between people in the circle.")
        payload = self.node.codec.pack(wire.signal(self.member, frame.data))
        await self.node.broker.direct(self.room, to, payload)

    # --- hello and resume -----------------------------------------------------------------

    async def _hello(self, hello: Hello) -> None:
        if not self.node.addresses.hello(self.address, time.monotonic()):
            raise RateLimited("Too many attempts from your network. Please wait a minute.")
        entry = await self.node.directory.enter(hello.room, hello.token)
        if entry is None:
            raise BadToken()
        info, role = entry
        if role is Role.MEMBER and not hello.accept:
            raise InvalidFrame("Please read and accept the group's guidelines first.")
        name = clean_name(hello.name)
        if not name:
            raise InvalidFrame("Please type the name you'd like to use here.")
        member = new_member_id()
        await self._take_seat(info, member)
        try:
            arrive = c.Arrive(member, name, role, hello.key)
            commit = await self.node.transact(info.room, arrive, None)
            assert isinstance(commit, Commit)
            token = ResumeToken.issue(info.room, member, commit.epoch)
            await self.node.broker.save_seat(info.room, member, secret_hash(token.secret))
            await self.node.broker.claim(info.room, member)
        except BaseException:
            await self._leave_seat()
            raise
        self._welcome(commit, token, resumed=None)

    async def _resume(self, hello: ResumeHello) -> None:
        token = ResumeToken.parse(hello.resume)
        if token is None or not await self.node.broker.seat_matches(
            token.room, token.member, secret_hash(token.secret)
        ):
            self._resumed("expired")
            raise ResumeExpired()
        info = await self.node.directory.info(token.room)
        if info is None:
            self._resumed("expired")
            raise ResumeExpired()
        await self._take_seat(info, token.member)
        try:
            commit = await self.node.transact(token.room, c.Reconnect(token.member), None)
            assert isinstance(commit, Commit)
            fresh = ResumeToken.issue(token.room, token.member, commit.epoch)
            await self.node.broker.save_seat(token.room, token.member, secret_hash(fresh.secret))
            await self.node.broker.claim(token.room, token.member)
        except RoomError:
            await self._leave_seat()
            self._resumed("expired")
            raise ResumeExpired() from None
        except BaseException:
            await self._leave_seat()
            raise
        missed: list[Sequenced] | None = None
        if token.epoch == commit.epoch and hello.seq <= commit.seq:
            missed = await self.node.broker.history(token.room, commit.epoch, hello.seq)
        if missed is not None and any(_arrival(sq.event, token.member) for sq in missed):
            missed = None  # from before the seat existed (seq 0): only a snapshot is theirs
        if missed is None:
            self._resumed("snapshot")
            self._welcome(commit, fresh, resumed=False)
        else:
            self._resumed("replay")
            self._welcome(commit, fresh, resumed=True, after=hello.seq, missed=missed)

    def _resumed(self, outcome: str) -> None:
        self.node.telemetry.resume(outcome)

    async def _take_seat(self, info: RoomInfo, member: MemberId) -> None:
        # Subscribe before anything is read or committed, so no commit can be missed.
        await self.node.broker.subscribe(info.room)
        self.room, self.member, self.info = info.room, member, info
        self._pending = []
        replaced = self.node.hub.seat(info.room, self)
        if replaced is not None:
            replaced.close(Close.REPLACED, "connected elsewhere")

    async def _leave_seat(self) -> None:
        room, self.room, self._pending = self.room, None, None
        if room is not None:
            self.node.hub.unseat(room, self)
            await self._unsubscribe(room)

    async def _unsubscribe(self, room: RoomId) -> None:
        # On an outage the subscription goes with the broker connection anyway.
        with contextlib.suppress(BrokerDown):
            await self.node.broker.unsubscribe(room)

    def _welcome(
        self,
        commit: Commit,
        token: ResumeToken,
        *,
        resumed: bool | None,
        after: int = 0,
        missed: list[Sequenced] | None = None,
    ) -> None:
        """Send the welcome, then every event the seat must see after it, in seq order."""
        assert self.info is not None
        viewer = viewer_of(commit.state, self.member)
        assert viewer is not None
        # The node's view of the room, which signals are checked against, knows what this
        # welcome says: a resume may commit no event to teach it (signaling/hub.py `learn`).
        self.node.hub.learn(commit)
        self._token = str(token)
        frame: dict[str, object] = {
            "t": "welcome",
            "me": self.member,
            "role": viewer.role.value,
            "resume": str(token),
            "epoch": commit.epoch,
            "now": commit.now,
            "ice": self.node.ice(self.member, commit.now),
            "ice_policy": self.node.ice_policy,
            "resumed": bool(resumed),
        }
        if missed is None:
            frame.update(seq=commit.seq, state=snapshot(commit.state, self.member, self.info))
            self.viewer, last, backlog = viewer, commit.seq, []
        else:
            frame.update(seq=after, state=None)
            self.viewer = _viewer_before(viewer, missed, commit.seq)
            last, backlog = after, missed
        self.send(frame)
        pending, self._pending = self._pending or [], None
        backlog = [*backlog, *(sq for ep, sq in pending if ep == commit.epoch)]
        self._catch_up(commit.epoch, last, backlog)
        if self.phase is Phase.GREETING:
            self.phase = Phase.SEATED

    def _catch_up(self, epoch: str, last: int, events: list[Sequenced]) -> None:
        for sq in events:
            if sq.seq <= last:
                continue
            last = sq.seq
            assert self.viewer is not None
            if may_see(self.viewer, sq.event.audience()):
                self.outlet.send(OutFrame(self.node.codec.pack(wire.event_frame(epoch, sq))))
            self.observe(sq.event)

    # --- goodbye --------------------------------------------------------------------------

    async def _gone(self) -> None:
        self.phase = Phase.CLOSED
        if self.room is None:
            return
        held = self.node.hub.unseat(self.room, self)
        if held and not self._seat_ended:
            await self.node.transact_quietly(self.room, c.Disconnect(self.member))
        await self._unsubscribe(self.room)


def _arrival(event: e.AnyEvent, member: MemberId) -> bool:
    """Whether `event` made `member`'s seat: into the lobby, or a facilitator's straight in
    (people let in from the lobby are admitted as members)."""
    if isinstance(event, e.JoinedLobby):
        return event.member == member
    return (
        isinstance(event, e.Admitted) and event.member == member and event.role == Role.FACILITATOR
    )


def _viewer_before(now_viewer: Viewer, missed: list[Sequenced], top: int) -> Viewer:
    """The viewer as they stood before `missed`, walking back from their place at `top`."""
    v = now_viewer
    for sq in reversed(missed):
        if sq.seq > top:
            continue
        ev = sq.event
        if isinstance(ev, e.Admitted) and ev.member == v.id:
            v = dataclasses.replace(v, waiting=True)
        elif isinstance(ev, e.RoleChanged) and ev.member == v.id:
            other = Role.MEMBER if Role(ev.role) is Role.FACILITATOR else Role.FACILITATOR
            v = dataclasses.replace(v, role=other)
    return v
