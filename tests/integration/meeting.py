"""Meetings on a real node, for the wire tests: rooms made through the admin API, people
joined with the package's own Python client, and bounded waits that read as scenarios.

    async with Gathering(node) as g:
        circle = await g.circle(2)               # a room, its facilitator, two admitted members
        fay, (ann, bob) = circle.fac, circle.members
        await fay.command("start_round", seconds=60)
        turn = await expect(ann, "turn", speaker=fay.me)

Every client opened through a `Gathering` is closed when it ends. `settle(*clients)` is the
barrier for negative assertions: a ping answered means every event committed before it has
already reached that client (the node writes events and the pong to one socket in order), so
"nothing arrived" is checked without sleeping.

A node shared by a test module is started with `LOOSE_LIMITS`: every client here connects
from 127.0.0.1, so the per-address caps (meant for strangers on the internet) would otherwise
count the whole module as one guesser.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import pytest

from signaling.client import Client, CommandError, Frame
from tests.integration.nodes import Node, start_node

LOOSE_LIMITS = {"HEARTH_HELLO_PER_MINUTE": "100000", "HEARTH_CONNECTIONS_PER_IP": "100000"}
WAIT_SECONDS = 5.0


def shared_node(
    tmp_path_factory: pytest.TempPathFactory, name: str, env: Mapping[str, str] = {}
) -> Iterator[Node]:
    """Body of a module-scoped node fixture: one node for every test of a module."""
    workdir: Path = tmp_path_factory.mktemp(name)
    node = start_node(workdir, env={**LOOSE_LIMITS, **env}, name=name)
    try:
        yield node
    finally:
        node.stop()


@dataclass(frozen=True, slots=True)
class Room:
    id: str
    invite: str
    facilitator: str


@dataclass(frozen=True, slots=True)
class Circle:
    room: Room
    fac: Client
    members: tuple[Client, ...]

    @property
    def everyone(self) -> tuple[Client, ...]:
        return (self.fac, *self.members)


class Gathering:
    """Rooms and clients for one test; every client is closed at the end."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.clients: list[Client] = []
        self._api = httpx.AsyncClient(
            base_url=node.url, headers=node.auth, trust_env=False, timeout=WAIT_SECONDS
        )

    async def __aenter__(self) -> Gathering:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for client in reversed(self.clients):
            await client.close()
        await self._api.aclose()

    def track(self, client: Client) -> Client:
        self.clients.append(client)
        return client

    # --- rooms ----------------------------------------------------------------------------

    async def room(self, name: str = "Tuesday circle", **body: object) -> Room:
        answer = await self._api.post("/api/rooms", json={"name": name, **body})
        assert answer.status_code == 201, answer.text
        made = answer.json()
        return Room(made["id"], made["invite"], made["facilitator"])

    # --- people ---------------------------------------------------------------------------

    async def facilitator(self, room: Room, name: str = "Fay") -> Client:
        return await self.hello(room, room.facilitator, name)

    async def guest(self, room: Room, name: str, *, key: str | None = None) -> Client:
        """Someone who opened the invite link and waits in the lobby."""
        client = await self.hello(room, room.invite, name, key=key)
        assert client.welcome["state"]["lobby"] is True
        return client

    async def hello(
        self,
        room: Room,
        token: str,
        name: str,
        *,
        key: str | None = None,
        accept: bool = True,
    ) -> Client:
        """Connect and say hello; a refusal raises CommandError (the socket is still closed
        at the end of the gathering)."""
        client = self.track(Client(self.node.ws_url, timeout=WAIT_SECONDS))
        frame: Frame = {"t": "hello", "room": room.id, "token": token, "name": name}
        frame["accept"] = accept
        if key is not None:
            frame["key"] = key
        await client.open(frame)
        return client

    async def admitted(self, room: Room, fac: Client, name: str, **hello: Any) -> Client:
        """A guest let in by `fac`; returns once the guest has seen their own admission."""
        guest = await self.guest(room, name, **hello)
        await fac.command("admit", member=guest.me)
        await expect(guest, "admitted", member=guest.me)
        return guest

    async def circle(self, members: int, *, names: tuple[str, ...] = (), **room: object) -> Circle:
        """A fresh room with its facilitator and `members` admitted members, all settled."""
        made = await self.room(**room)  # type: ignore[arg-type]
        fac = await self.facilitator(made)
        names = names or ("Ann", "Bob", "Cy", "Dee", "Eli", "Flo")[:members]
        people = [await self.admitted(made, fac, name) for name in names]
        everyone = (fac, *people)
        await settle(*everyone)
        return Circle(made, fac, tuple(people))

    async def resume(self, token: str, seq: int) -> Client:
        """A new socket resuming a seat; refusals raise CommandError."""
        client = self.track(Client(self.node.ws_url, timeout=WAIT_SECONDS))
        client.seq = seq
        await client.open({"t": "hello", "resume": token, "seq": seq})
        return client


# --- reading what arrived --------------------------------------------------------------


def mark(client: Client) -> int:
    """Where `client`'s transcript stands now; pass it as `since` to read only what follows."""
    return len(client.events)


def matches(event: Frame, type_: str, fields: Mapping[str, object]) -> bool:
    return event.get("type") == type_ and all(event.get(k) == v for k, v in fields.items())


async def expect(client: Client, type_: str, *, since: int = 0, **fields: object) -> Frame:
    """The first event of `type_` with these field values at or after index `since`,
    waiting for it (bounded by the client's timeout)."""
    try:
        async with asyncio.timeout(client.timeout):
            i = since
            while True:
                event = await client.next_event(type_, after=i)
                if matches(event, type_, fields):
                    return event
                i = client.events.index(event, i) + 1
    except TimeoutError:
        raise AssertionError(
            f"no {type_} {dict(fields)} after #{since}; saw {client.types()[since:]}"
        ) from None


def seen(client: Client, type_: str | None = None, *, since: int = 0) -> list[Frame]:
    return [ev for ev in client.events[since:] if type_ is None or ev.get("type") == type_]


def types(client: Client, *, since: int = 0) -> list[str]:
    return [str(ev.get("type")) for ev in client.events[since:]]


async def settle(*clients: Client) -> None:
    """Return once every event committed so far has reached each of `clients`."""
    await asyncio.gather(*(c.ping() for c in clients))


async def refused(code: str, request: Any) -> CommandError:
    """Await `request` (a client call) and return the error it was answered with."""
    with pytest.raises(CommandError) as caught:
        await request
    assert caught.value.code == code, caught.value
    return caught.value


def member_ids(snapshot: Mapping[str, Any]) -> set[str]:
    return {m["id"] for m in snapshot["members"]}
