"""Support notes on a real node: kept in the room for the facilitators until one marks them
seen, found again by a facilitator's fresh snapshot and by a co-facilitator promoted later,
and never in any frame to anyone else: live, in a snapshot, or in a resume's replay.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import msgpack
import pytest

from signaling.client import Client
from tests.integration.meeting import (
    Gathering,
    expect,
    mark,
    refused,
    seen,
    settle,
    shared_node,
)
from tests.integration.nodes import Node

NOTE = "I'm not doing well tonight"


@pytest.fixture(scope="module")
def notes_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    yield from shared_node(tmp_path_factory, "notes")


@pytest.fixture
async def g(notes_node: Node) -> AsyncIterator[Gathering]:
    async with Gathering(notes_node) as gathering:
        yield gathering


def mentions(client: Client, *words: str) -> list[str]:
    """Which of `words` appear anywhere in what `client` received (welcomes and events)."""
    blob = msgpack.packb([client.welcome, client.events], use_bin_type=True)
    return [w for w in words if w.encode() in blob]


def notes_in(client: Client) -> list[dict[str, object]]:
    notes = client.welcome["state"]["notes"]
    assert isinstance(notes, list)
    return notes


async def test_a_note_stays_for_the_facilitators_until_one_marks_it_seen(g: Gathering) -> None:
    c = await g.circle(2)
    fay, (ann, bob) = c.fac, c.members
    cal = await g.facilitator(c.room, "Cal")
    await ann.command("support", text=NOTE)
    asked = await expect(fay, "support", text=NOTE, name="Ann", **{"from": ann.me})
    await expect(cal, "support", id=asked["id"])

    # A reload of the facilitator's page: a fresh snapshot still holds the unseen note.
    again = await g.resume(fay.resume_token, fay.seq + 10**6)
    assert [(n["id"], n["text"], n["name"], n["seen"]) for n in notes_in(again)] == [
        (asked["id"], NOTE, "Ann", False)
    ]
    fresh_member = await g.resume(bob.resume_token, bob.seq + 10**6)
    assert notes_in(fresh_member) == []

    await cal.command("support_seen", note=asked["id"])
    await expect(again, "support_seen", note=asked["id"], by=cal.me)
    await cal.command("support_seen", note=asked["id"])  # twice: an ack, nothing more
    await refused("not_allowed", fresh_member.command("support_seen", note=asked["id"]))
    await refused("invalid", cal.command("support_seen", note=asked["id"] + 100))
    after = await g.resume(cal.resume_token, cal.seq + 10**6)
    assert [n["seen"] for n in notes_in(after)] == [True]

    await settle(ann, fresh_member, again)
    assert len(seen(again, "support_seen")) == 1
    for other in (ann, fresh_member):
        assert seen(other, "support") == seen(other, "support_seen") == []
        assert mentions(other, NOTE) == []


async def test_a_co_facilitator_promoted_later_is_given_the_unseen_notes(g: Gathering) -> None:
    c = await g.circle(2)
    fay, (ann, bob) = c.fac, c.members
    await ann.command("support", text=NOTE)
    await expect(fay, "support", text=NOTE)
    await settle(bob)
    assert mentions(bob, NOTE) == []
    await fay.command("promote", member=bob.me)
    await expect(bob, "role_changed", member=bob.me, role="facilitator")
    await settle(bob)
    assert [n["text"] for n in notes_in(bob)] == [NOTE]
    await bob.command("support_seen", note=notes_in(bob)[0]["id"])
    await expect(fay, "support_seen", by=bob.me)


async def test_a_resume_never_replays_a_note_to_anyone_else(g: Gathering) -> None:
    c = await g.circle(2)
    fay, (ann, bob) = c.fac, c.members
    gus = await g.guest(c.room, "Gus")
    await settle(ann, gus)
    await ann.drop()
    await gus.drop()
    at_fay = mark(fay)
    await bob.command("support", text=NOTE)
    asked = await expect(fay, "support", since=at_fay)
    await fay.command("support_seen", note=asked["id"])
    await fay.command("set_topic", text="after the note")  # so the replay is not empty
    await expect(fay, "support_seen", since=at_fay)

    for client in (ann, gus):
        at = mark(client)
        welcome = await client.reconnect()
        assert welcome["resumed"] is True
        await settle(client)
        assert seen(client, "support", since=at) == []
        assert seen(client, "support_seen", since=at) == []
        assert mentions(client, NOTE) == []
    await expect(ann, "topic_set", text="after the note")


async def test_a_paused_turn_says_why(g: Gathering) -> None:
    c = await g.circle(1)
    fay, (ann,) = c.fac, c.members
    await fay.command("start_round", seconds=60)
    await fay.command("pause")
    paused = await expect(ann, "timer", paused=True)
    assert paused["pause_reason"] == "facilitator"
    fresh = await g.resume(ann.resume_token, ann.seq + 10**6)
    assert fresh.welcome["state"]["round"]["pause_reason"] == "facilitator"
    await fay.command("unpause")
    running = await expect(fresh, "timer", paused=False)  # the resume replaced Ann's socket
    assert running["pause_reason"] is None
