"""Who sees what, on a real node: people in the lobby learn nothing of the circle, members
never see the lobby, support notes reach facilitators only, and every snapshot is rendered
for the one person it is sent to (at hello, and again when their place in the room changes).
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
    member_ids,
    seen,
    settle,
    shared_node,
    types,
)
from tests.integration.nodes import Node

CIRCLE_NAMES = ("Fay", "Ann", "Bob")


@pytest.fixture(scope="module")
def audience_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    yield from shared_node(tmp_path_factory, "audience")


@pytest.fixture
async def g(audience_node: Node) -> AsyncIterator[Gathering]:
    async with Gathering(audience_node) as gathering:
        yield gathering


def mentions(frames: object, *words: str) -> list[str]:
    """Which of `words` appear anywhere in the frames' bytes."""
    blob = msgpack.packb(frames, use_bin_type=True)
    return [w for w in words if w.encode() in blob]


async def busy_circle(g: Gathering, fay: Client, ann: Client, bob: Client) -> None:
    """A stretch of meeting that touches every kind of circle event."""
    await fay.command("set_topic", text="Gratitude")
    await ann.chat("Ann's chat line")
    await bob.react("🙏")
    await ann.command("raise_hand")
    await fay.command("start_round", seconds=60)
    await ann.command("pass")
    await fay.command("mute", member=bob.me)
    await bob.command("away")
    await fay.command("end_round")
    await bob.command("present")
    await ann.command("support", text="Ann's support note")


async def test_lobby_member_learns_nothing_of_the_circle(g: Gathering) -> None:
    c = await g.circle(2, names=CIRCLE_NAMES[1:])
    fay, (ann, bob) = c.fac, c.members
    await fay.command("set_topic", text="Before you came")
    await ann.chat("said before the guest came")
    gus = await g.guest(c.room, "Gus")
    state = gus.welcome["state"]
    assert state["lobby"] is True
    assert state["position"] == 1
    assert state["members"] == []
    assert state["order"] == []
    assert state["waiting"] == []
    assert state["round"] is None
    assert state["hands"] == []
    assert state["topic"] is None
    assert mentions(gus.welcome, *CIRCLE_NAMES) == []

    await busy_circle(g, fay, ann, bob)
    late = await g.admitted(c.room, fay, "Hal")  # someone else let in: not Gus's business
    await late.command("leave")
    await ann.drop()  # reconnecting, then back
    await ann.reconnect()
    await fay.command("lobby_message", text="Nearly there")
    await expect(gus, "lobby_message", text="Nearly there")
    await settle(gus)
    assert types(gus) == ["lobby_message"]
    assert mentions(gus.events, *CIRCLE_NAMES, "Hal", ann.me, bob.me, fay.me) == []


async def test_members_never_see_the_lobby(g: Gathering) -> None:
    c = await g.circle(2)
    fay, (ann, bob) = c.fac, c.members
    gus, hal, ivy = [await g.guest(c.room, n) for n in ("Gus", "Hal", "Ivy")]
    at_ann, at_bob = mark(ann), mark(bob)
    await fay.command("deny", member=gus.me)
    await hal.command("leave")
    await hal.wait_closed()
    await fay.command("lobby_message", text="One moment")
    await ivy.drop()
    await expect(fay, "reconnecting", member=ivy.me, waiting=True)
    await fay.command("remove", member=ivy.me)
    await expect(fay, "removed", member=ivy.me, waiting=True)
    await settle(ann, bob)
    assert types(ann, since=at_ann) == []
    assert types(bob, since=at_bob) == []
    assert mentions(ann.events + bob.events, "Gus", "Hal", "Ivy") == []
    arrivals = [ev["member"] for ev in seen(fay, "joined_lobby")]
    assert arrivals[-3:] == [gus.me, hal.me, ivy.me]  # while the facilitator saw it all

    # A member's snapshot has no lobby, even with people waiting; a facilitator's has it.
    kim = await g.guest(c.room, "Kim")
    cal = await g.facilitator(c.room, "Cal")
    assert [w["name"] for w in cal.welcome["state"]["waiting"]] == ["Kim"]
    fresh = await g.resume(ann.resume_token, ann.seq + 10**6)  # beyond the top: a snapshot
    assert fresh.welcome["resumed"] is False
    assert fresh.welcome["state"]["waiting"] == []
    assert fresh.welcome["state"]["lobby"] is False
    assert mentions(fresh.welcome, "Kim", kim.me) == []


async def test_support_notes_reach_facilitators_only(g: Gathering) -> None:
    c = await g.circle(2)
    fay, (ann, bob) = c.fac, c.members
    cal = await g.facilitator(c.room, "Cal")
    gus = await g.guest(c.room, "Gus")
    marks = {id(x): mark(x) for x in (ann, bob, gus)}
    await ann.command("support", text="Ann needs a moment")
    await gus.command("support", text="Gus is scared to come in")
    for facilitator in (fay, cal):
        await expect(facilitator, "support", text="Ann needs a moment", **{"from": ann.me})
        await expect(facilitator, "support", text="Gus is scared to come in", **{"from": gus.me})
    await settle(ann, bob, gus)
    for other in (ann, bob, gus):
        assert seen(other, "support", since=marks[id(other)]) == []
        assert mentions(other.events, "needs a moment", "scared") == []


async def test_welcome_snapshot_is_per_viewer(g: Gathering) -> None:
    c = await g.circle(2)
    fay, (ann, bob) = c.fac, c.members
    await fay.command("set_successor", member=bob.me)
    await ann.command("raise_hand")
    gus = await g.guest(c.room, "Gus")
    await settle(*c.everyone)

    cal = await g.facilitator(c.room, "Cal")
    member = await g.resume(ann.resume_token, ann.seq + 10**6)  # a fresh snapshot for Ann
    hal = await g.guest(c.room, "Hal")
    as_fac, as_member, as_guest = (x.welcome["state"] for x in (cal, member, hal))

    assert as_fac["lobby"] is False
    assert as_member["lobby"] is False
    assert as_guest["lobby"] is True
    assert member_ids(as_fac) == {fay.me, ann.me, bob.me, cal.me} == member_ids(as_member)
    assert as_fac["order"] == as_member["order"] == [ann.me, bob.me]
    assert as_fac["hands"] == as_member["hands"] == [ann.me]
    assert [w["name"] for w in as_fac["waiting"]] == ["Gus"]
    assert as_fac["successor"] == bob.me
    assert as_member["waiting"] == []
    assert as_member["successor"] is None
    assert as_guest["members"] == []
    assert as_guest["hands"] == []
    assert as_guest["position"] == 2
    assert mentions(hal.welcome, "Fay", "Ann", "Bob", "Cal", "Gus", gus.me) == []
    assert (cal.welcome["role"], member.welcome["role"], hal.welcome["role"]) == (
        "facilitator",
        "member",
        "member",
    )


async def test_a_member_let_in_is_shown_the_circle(g: Gathering) -> None:
    c = await g.circle(2)
    fay, (ann, bob) = c.fac, c.members
    await fay.command("set_topic", text="Gratitude")
    await fay.command("start_round", seconds=60)
    gus, hal = await g.guest(c.room, "Gus"), await g.guest(c.room, "Hal")
    await ann.chat("said while Gus waited")
    welcomes = []
    await fay.command("admit_all")
    for guest in (gus, hal):
        await expect(guest, "admitted", member=guest.me)
        await settle(guest)
        welcome = guest.welcome
        welcomes.append(welcome)
        # Let in, the guest gets the room as a member sees it, at the seq it stands at.
        state = welcome["state"]
        assert welcome["resumed"] is False
        assert welcome["me"] == guest.me
        assert state["lobby"] is False
        assert state["topic"] == "Gratitude"
        assert member_ids(state) == {fay.me, ann.me, bob.me, gus.me, hal.me}
        assert {m["name"] for m in state["members"]} >= {"Fay", "Ann", "Bob"}
        assert state["round"]["speaker"] == ann.me
        assert state["waiting"] == []
        assert welcome["seq"] >= max(ev["seq"] for ev in guest.events)
        assert seen(guest, "chat") == []  # chat from before they came in stays unseen
    assert welcomes[0]["resume"] == gus.resume_token


async def test_a_promoted_member_is_shown_the_lobby(g: Gathering) -> None:
    c = await g.circle(2)
    fay, (ann, bob) = c.fac, c.members
    gus = await g.guest(c.room, "Gus")
    await fay.command("promote", member=ann.me)
    await expect(ann, "role_changed", member=ann.me, role="facilitator")
    await settle(ann)
    assert ann.role == "facilitator"
    assert [w["name"] for w in ann.welcome["state"]["waiting"]] == ["Gus"]
    hal = await g.guest(c.room, "Hal")
    await expect(ann, "joined_lobby", member=hal.me)  # and its news from now on

    await fay.command("demote", member=ann.me)
    await expect(ann, "role_changed", member=ann.me, role="member")
    await settle(ann)
    assert ann.role == "member"
    assert ann.welcome["state"]["waiting"] == []
    at = mark(ann)
    await g.guest(c.room, "Ivy")
    await fay.command("set_topic", text="barrier")
    await expect(ann, "topic_set", since=at)
    assert types(ann, since=at) == ["topic_set"]
    await settle(bob, gus)
