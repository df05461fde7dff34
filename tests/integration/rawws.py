"""Raw WebSocket peers and room set-up for wire robustness tests against a real node.

`Raw` speaks the wire byte for byte (any bytes, any map, text frames) with the `websockets`
client library and reads the server's frames back as maps; `Circle` is a room with a
facilitator and an admitted witness (`signaling.client.Client`s) around one raw member, and
`Circle.unharmed()` is the proof every robustness case ends with: the raw connection still
answers, and nobody else in the room received anything because of it. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import Any

import httpx
import msgpack
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from signaling.client import Client
from tests.integration.nodes import Node

Frame = dict[str, Any]
WAIT = 5.0

# DESIGN.md, "The core protocol, by name": every code an `error` frame may carry.
ERROR_CODES = frozenset(
    {
        "bad_frame",
        "too_large",
        "unknown_type",
        "not_allowed",
        "invalid",
        "rate_limited",
        "bad_token",
        "room_locked",
        "resume_expired",
        "unavailable",
    }
)


def pack(frame: object) -> bytes:
    return bytes(msgpack.packb(frame, use_bin_type=True))


# --- the admin API --------------------------------------------------------------------------


def api(node: Node) -> httpx.AsyncClient:
    """An admin client of `node`; trust_env=False keeps any proxy out of loopback."""
    return httpx.AsyncClient(base_url=node.url, headers=node.auth, trust_env=False, timeout=WAIT)


async def create_room(node: Node, name: str = "Tuesday circle", **fields: object) -> Frame:
    """A new room: {id, name, invite, facilitator, ...}, as the admin API answers it."""
    async with api(node) as http:
        answer = await http.post("/api/rooms", json={"name": name, **fields})
    assert answer.status_code == 201, answer.text
    created: Frame = answer.json()
    return created


async def rotate_room(node: Node, room_id: str) -> Frame:
    async with api(node) as http:
        answer = await http.post(f"/api/rooms/{room_id}/rotate")
    assert answer.status_code == 200, answer.text
    rotated: Frame = answer.json()
    return rotated


async def delete_room(node: Node, room_id: str) -> None:
    async with api(node) as http:
        answer = await http.delete(f"/api/rooms/{room_id}")
    assert answer.status_code == 204, answer.text


async def healthy(node: Node) -> bool:
    async with httpx.AsyncClient(trust_env=False, timeout=WAIT) as http:
        return (await http.get(f"{node.url}/healthz")).status_code == 200


# --- a raw peer -----------------------------------------------------------------------------


class Raw:
    """One WebSocket with nothing between the test and the wire."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.events: list[Frame] = []  # event frames read while waiting for something else
        self.welcome: Frame = {}
        self._ids = itertools.count(1_000_001)

    @classmethod
    async def connect(cls, url: str, *, source: str | None = None, **options: Any) -> Raw:
        """Open a socket (from loopback address `source`, e.g. "127.0.0.2", if given)."""
        if source is not None:
            options["local_addr"] = (source, 0)
        ws = await connect(
            url, compression=None, max_size=2**20, open_timeout=WAIT, close_timeout=2, **options
        )
        return cls(ws)

    def next_id(self) -> int:
        return next(self._ids)

    # sending

    async def send(self, frame: object) -> None:
        await self.ws.send(pack(frame))

    async def send_raw(self, data: bytes | str) -> None:
        await self.ws.send(data)

    # receiving

    async def recv(self, timeout: float = WAIT) -> Frame:
        """The next frame, whatever it is; ConnectionClosed if the socket closes."""
        async with asyncio.timeout(timeout):
            data = await self.ws.recv()
        assert isinstance(data, bytes), f"the server sent a text frame: {data!r}"
        frame = msgpack.unpackb(data, raw=False)
        assert isinstance(frame, dict), frame
        return frame

    async def reply(self, timeout: float = WAIT, *, welcome: bool = False) -> Frame:
        """The next frame that is not an event (events are kept in `events`). A `welcome`
        is a reply only when asked for (`welcome=True`, after a hello); one that arrives
        unasked (the node's fresh snapshot after being let in or promoted) replaces
        `self.welcome`."""
        async with asyncio.timeout(timeout):
            while True:
                frame = await self.recv(timeout)
                t = frame.get("t")
                if t == "event":
                    self.events.append(frame)
                elif t == "welcome" and not welcome:
                    self.welcome = frame
                else:
                    return frame

    async def reply_event(self, type_: str, timeout: float = WAIT) -> Frame:
        """The first event of `type_`, among those already read or still to come."""
        async with asyncio.timeout(timeout):
            while True:
                for i, frame in enumerate(self.events):
                    if frame.get("type") == type_:
                        del self.events[: i + 1]
                        return frame
                frame = await self.recv(timeout)
                if frame.get("t") == "event":
                    self.events.append(frame)

    async def expect_error(self, code: str, request_id: int | None = None) -> Frame:
        """The next reply must be an `error` with `code`, echoing `request_id`."""
        frame = await self.reply()
        assert frame.get("t") == "error", frame
        assert frame["code"] == code, frame
        assert frame["id"] == request_id, frame
        assert isinstance(frame["message"], str), frame
        assert frame["message"], frame
        return frame

    async def expect_closed(self, code: int, timeout: float = WAIT) -> None:
        """The server closes the socket with `code` within `timeout` (frames before it are
        read and dropped)."""
        async with asyncio.timeout(timeout):
            try:
                while True:
                    await self.ws.recv()
            except ConnectionClosed:
                pass
        assert self.ws.close_code == code, (self.ws.close_code, self.ws.close_reason)

    async def silent(self, seconds: float) -> None:
        """Nothing at all arrives for `seconds`."""
        try:
            async with asyncio.timeout(seconds):
                data = await self.ws.recv()
        except TimeoutError:
            return
        raise AssertionError(f"expected silence, got {data!r}")

    # the protocol, raw

    async def hello(
        self,
        room: str,
        token: str,
        name: str,
        *,
        accept: bool = True,
        key: str | None = None,
    ) -> Frame:
        """Say hello and return the welcome."""
        frame: Frame = {"t": "hello", "room": room, "token": token, "name": name}
        frame["accept"] = accept
        if key is not None:
            frame["key"] = key
        await self.send(frame)
        welcome = await self.reply(welcome=True)
        assert welcome.get("t") == "welcome", welcome
        self.welcome = welcome
        return welcome

    async def resume(self, token: str, seq: int) -> Frame:
        await self.send({"t": "hello", "resume": token, "seq": seq})
        welcome = await self.reply(welcome=True)
        assert welcome.get("t") == "welcome", welcome
        self.welcome = welcome
        return welcome

    async def ping(self) -> Frame:
        """A ping answered by its pong: the connection is alive and in step."""
        rid = self.next_id()
        await self.send({"t": "ping", "id": rid})
        pong = await self.reply()
        assert pong.get("t") == "pong", pong
        assert pong["id"] == rid, pong
        return pong

    async def chat(self, text: str) -> int:
        rid = self.next_id()
        await self.send({"t": "chat", "id": rid, "text": text})
        ack = await self.reply()
        assert ack == {"t": "ack", "id": rid}, ack
        return rid

    @property
    def me(self) -> str:
        return str(self.welcome.get("me", ""))

    async def close(self) -> None:
        await self.ws.close()


# --- a room around one raw member ---------------------------------------------------------


@dataclass
class Circle:
    """A room with a facilitator, an admitted witness and an admitted raw member."""

    node: Node
    room: Frame
    facilitator: Client
    witness: Client
    raw: Raw
    _marks: list[tuple[int, int, int, Frame]] = field(default_factory=list)
    _opened: list[Raw] = field(default_factory=list)

    @classmethod
    async def gather(cls, node: Node, **room_fields: object) -> Circle:
        room = await create_room(node, **room_fields)
        facilitator = await Client.join(node.ws_url, room["id"], room["facilitator"], "Fa")
        witness = await admitted(node, room, facilitator, "Wi")
        raw = await Raw.connect(node.ws_url)
        await raw.hello(room["id"], room["invite"], "Ra")
        await facilitator.command("admit", member=raw.me)
        admitted_event = await raw.reply_event("admitted")
        assert admitted_event["member"] == raw.me
        circle = cls(node, room, facilitator, witness, raw)
        await circle.settle()
        return circle

    async def connect(self, **options: Any) -> Raw:
        """Another raw socket to the same node, closed with the circle."""
        raw = await Raw.connect(self.node.ws_url, **options)
        self._opened.append(raw)
        return raw

    def others(self) -> tuple[Client, ...]:
        return (self.facilitator, self.witness)

    async def settle(self) -> None:
        """Bring every other client in step with the node, then mark what they have seen."""
        for client in self.others():
            await client.ping()
        self._marks = [
            (len(c.events), len(c.errors), c.signals.qsize(), c.welcome) for c in self.others()
        ]

    def news(self, client: Client) -> list[Frame]:
        """The events `client` (the facilitator or the witness) received since `settle`."""
        events = self._marks[self.others().index(client)][0]
        return client.events[events:]

    async def saw_nothing(self) -> None:
        """Nobody else received an event, an error or a signal since the last `settle`."""
        for client in self.others():
            await client.ping()  # anything sent to them before now has arrived by the pong
        for client, mark in zip(self.others(), self._marks, strict=True):
            events, errors, signals, welcome = mark
            assert client.events[events:] == [], client.events[events:]
            assert client.errors[errors:] == [], client.errors[errors:]
            assert client.signals.qsize() == signals
            assert client.welcome is welcome  # no fresh snapshot either
            assert client.close_code is None

    async def unharmed(self, raw: Raw | None = None) -> None:
        """The proof after a case: nobody else saw a thing; the raw member (or `raw`, a
        fresh connection that replaced it) still pings, chats, and is heard."""
        await self.saw_nothing()
        peer = raw or self.raw
        await peer.ping()
        text = f"still here {peer.next_id()}"
        rid = await peer.chat(text)
        await expect_event(self.witness, "chat", id=rid, text=text, **{"from": peer.me})
        await self.settle()

    async def close(self) -> None:
        for raw in (*self._opened, self.raw):
            await raw.close()
        await self.witness.close()
        await self.facilitator.close()


async def expect_event(client: Client, type_: str, **fields: object) -> Frame:
    """The first event of `type_` with these fields that `client` received (or receives
    within its timeout), wherever its event cursor stands."""
    after = 0
    while True:
        event = await client.next_event(type_, after=after)
        if all(event.get(k) == v for k, v in fields.items()):
            return event
        after = next(i for i, ev in enumerate(client.events) if ev is event) + 1


async def admitted(node: Node, room: Frame, facilitator: Client, name: str) -> Client:
    """A member who joined with the invite and was admitted by `facilitator`."""
    member = await Client.join(node.ws_url, room["id"], room["invite"], name)
    await facilitator.command("admit", member=member.me)
    await expect_event(member, "admitted", member=member.me)
    return member
