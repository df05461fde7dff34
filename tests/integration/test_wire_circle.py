"""Every op of the core protocol end to end: `cmd` frames sent to a real node, and the events
each one produces as the other people in the room see them. Also chat, reactions, ping, and
`signal` relayed only between admitted members of the same room."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from rooms.commands import OPS
from signaling.closes import Close
from tests.integration.meeting import (
    Gathering,
    expect,
    mark,
    refused,
    seen,
    settle,
    shared_node,
    types,
)
from tests.integration.nodes import Node


@pytest.fixture(scope="module")
def circle_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    yield from shared_node(tmp_path_factory, "circle")


@pytest.fixture
async def g(circle_node: Node) -> AsyncIterator[Gathering]:
    async with Gathering(circle_node) as gathering:
        yield gathering


# --- hello, welcome, ping ----------------------------------------------------------------


async def test_facilitator_enters_at_once_and_ping_answers_with_server_time(g: Gathering) -> None:
    room = await g.room(guidelines="Listen.", crisis="Call 112")
    before = time.time()
    fay = await g.facilitator(room)
    w = fay.welcome
    assert w["role"] == "facilitator"
    assert w["resumed"] is False
    assert w["ice"] == []
    assert w["me"]
    assert w["epoch"]
    assert w["resume"].count(".") == 3
    state = w["state"]
    assert state["lobby"] is False
    assert state["guidelines"] == "Listen."
    assert state["crisis"] == "Call 112"
    assert state["room"] == room.id
    assert [m["name"] for m in state["members"]] == ["Fay"]
    assert state["order"] == []  # a facilitator arriving outside a round is not in the order

    pong = await fay.ping()
    assert pong["t"] == "pong"
    assert isinstance(pong["id"], int)
    assert before - 1 <= pong["now"] <= time.time() + 1  # the node's clock, on this machine
    assert pong["now"] >= w["now"]


# --- the lobby -----------------------------------------------------------------------------


async def test_admit_shows_the_newcomer_to_the_circle(g: Gathering) -> None:
    c = await g.circle(1)
    fay, ann = c.fac, c.members[0]
    at = mark(ann)
    bob = await g.guest(c.room, "Bob", key="browser-bob")
    arrival = await expect(fay, "joined_lobby", member=bob.me)
    assert arrival == {**arrival, "name": "Bob", "position": 1}
    assert "key" not in arrival  # the browser key stays in the node's state

    await fay.command("admit", member=bob.me)
    for viewer in (fay, ann, bob):
        got = await expect(viewer, "admitted", member=bob.me)
        assert got["name"] == "Bob"
        assert got["role"] == "member"
        assert "key" not in got
        order = await expect(viewer, "order_set", since=viewer.events.index(got))
        assert order["order"] == [ann.me, bob.me]
    await settle(ann)
    assert "joined_lobby" not in types(ann, since=at)

    await refused("invalid", fay.command("admit", member=bob.me))  # not waiting any more
    await refused("not_allowed", ann.command("admit", member=bob.me))


async def test_deny_closes_the_guest_and_moves_the_line_up(g: Gathering) -> None:
    room = await g.room()
    fay = await g.facilitator(room)
    first, second, third = [await g.guest(room, n) for n in ("Gus", "Hal", "Ivy")]
    assert [first.welcome["state"]["position"], third.welcome["state"]["position"]] == [1, 3]

    await fay.command("deny", member=first.me)
    assert (await expect(fay, "denied", member=first.me))["member"] == first.me
    await expect(first, "denied", member=first.me)
    assert await first.wait_closed() == Close.REMOVED
    await expect(second, "lobby_position", member=second.me, position=1)
    await expect(third, "lobby_position", member=third.me, position=2)

    await fay.command("admit", member=second.me)
    await expect(third, "lobby_position", member=third.me, position=1)
    await settle(third)
    # Waiting people learn their own place only: not who was denied or admitted.
    assert set(types(third)) == {"lobby_position"}
    assert all(ev["member"] == third.me for ev in third.events)


async def test_admit_all_lets_everyone_waiting_in(g: Gathering) -> None:
    c = await g.circle(1)
    fay, ann = c.fac, c.members[0]
    guests = [await g.guest(c.room, n) for n in ("Gus", "Hal")]
    await fay.command("admit_all")
    for viewer in (fay, ann):
        for guest in guests:
            await expect(viewer, "admitted", member=guest.me, role="member")
        await expect(viewer, "order_set", order=[ann.me, *(x.me for x in guests)])
    for guest in guests:
        await expect(guest, "admitted", member=guest.me)
        await expect(guest, "order_set", order=[ann.me, *(x.me for x in guests)])
    await refused("invalid", fay.command("admit_all"))  # nobody is waiting


async def test_lobby_message_reaches_the_lobby_and_facilitators(g: Gathering) -> None:
    c = await g.circle(1)
    fay, ann = c.fac, c.members[0]
    gus = await g.guest(c.room, "Gus")
    at = mark(ann)
    await fay.command("lobby_message", text="  Five more minutes, thank you for waiting.  ")
    for viewer in (gus, fay):
        got = await expect(viewer, "lobby_message")
        assert got["text"] == "Five more minutes, thank you for waiting."
    await settle(ann)
    assert types(ann, since=at) == []
    await refused("invalid", fay.command("lobby_message", text="   "))
    await refused("not_allowed", ann.command("lobby_message", text="hi"))


async def test_locked_room_refuses_invites_but_not_facilitators(g: Gathering) -> None:
    c = await g.circle(1)
    fay, ann = c.fac, c.members[0]
    await fay.command("lock")
    for viewer in c.everyone:
        await expect(viewer, "locked")
    await refused("invalid", fay.command("lock"))  # already locked

    await refused("room_locked", g.hello(c.room, c.room.invite, "Gus"))
    cal = await g.facilitator(c.room, "Cal")  # a facilitator token always enters
    assert cal.welcome["role"] == "facilitator"
    assert cal.welcome["state"]["locked"] is True
    assert cal.welcome["state"]["order"] == [ann.me]
    await expect(ann, "admitted", member=cal.me, role="facilitator")

    await cal.command("unlock")
    for viewer in (fay, ann, cal):
        await expect(viewer, "unlocked")
    gus = await g.guest(c.room, "Gus")
    await expect(fay, "joined_lobby", member=gus.me)


# --- the circle and its rounds ---------------------------------------------------------


async def test_set_order(g: Gathering) -> None:
    c = await g.circle(3)
    fay, (ann, bob, cy) = c.fac, c.members
    await fay.command("set_order", members=[cy.me, fay.me, ann.me, bob.me])
    for viewer in c.everyone:
        await expect(viewer, "order_set", order=[cy.me, fay.me, ann.me, bob.me])
    await refused("invalid", fay.command("set_order", members=[ann.me, ann.me]))
    await refused("invalid", fay.command("set_order", members=[ann.me, "nobody"]))
    await refused("invalid", fay.command("set_order", members=ann.me))  # not a list
    await refused("not_allowed", bob.command("set_order", members=[bob.me]))


async def test_round_with_pass_done_and_second_pass(g: Gathering) -> None:
    c = await g.circle(2)
    fay, (ann, bob) = c.fac, c.members
    sent = time.time()
    await fay.command("start_round", seconds=60)
    for viewer in c.everyone:
        started = await expect(viewer, "round_started")
        assert started == {**started, "kind": "share", "seconds": 60, "overtime": None}
        assert started["second_pass"] is True
        turn = await expect(viewer, "turn", speaker=ann.me, pass_no=1)
        assert sent + 60 - 1 <= turn["deadline"] <= time.time() + 60 + 1
        assert turn["seconds"] == 60
        assert turn["back"] is False
        assert turn["next"] == bob.me

    await refused("not_allowed", bob.command("pass"))  # only the speaker passes
    await refused("not_allowed", bob.command("done"))
    await ann.command("pass")
    for viewer in c.everyone:
        await expect(viewer, "passed", member=ann.me, pass_no=1)
        await expect(viewer, "turn", speaker=bob.me, pass_no=1)
    await bob.command("done")
    for viewer in c.everyone:
        await expect(viewer, "finished", member=bob.me)
        await expect(viewer, "turn", speaker=ann.me, pass_no=2)  # the second pass
    await ann.command("done")
    for viewer in c.everyone:
        await expect(viewer, "round_ended", reason="complete")
    await refused("invalid", ann.command("pass"))  # no round


async def test_next_back_skip_and_end_round(g: Gathering) -> None:
    c = await g.circle(3)
    fay, (ann, bob, cy) = c.fac, c.members
    await fay.command("start_round", seconds=60, second_pass=False)
    await expect(cy, "round_started", second_pass=False)
    await expect(cy, "turn", speaker=ann.me)
    await refused("invalid", fay.command("back"))  # nobody spoke before

    at = mark(cy)
    await fay.command("next")
    await expect(cy, "turn", since=at, speaker=bob.me, back=False)
    await fay.command("back")
    await expect(cy, "turn", since=at, speaker=ann.me, back=True)
    at = mark(cy)
    await fay.command("next")
    await expect(cy, "turn", since=at, speaker=bob.me)  # who lost the piece to `back` is next
    await fay.command("skip")
    skipped = await expect(cy, "skipped", since=at, member=bob.me)
    assert skipped["auto"] is False
    await expect(cy, "turn", since=at, speaker=cy.me)
    await refused("not_allowed", ann.command("skip"))
    await refused("not_allowed", ann.command("next"))

    await fay.command("end_round")
    for viewer in c.everyone:
        await expect(viewer, "round_ended", reason="ended")
    await refused("invalid", fay.command("end_round"))


async def test_start_round_presets_and_kinds(g: Gathering) -> None:
    c = await g.circle(3)
    fay, (ann, bob, cy) = c.fac, c.members
    await fay.command("set_order", members=[cy.me, bob.me, ann.me])

    at = mark(ann)
    await fay.command("start_round", seconds=30, order="arrival", kind="check_in")
    await expect(ann, "order_set", since=at, order=[ann.me, bob.me, cy.me])
    await expect(ann, "round_started", since=at, kind="check_in", seconds=30)
    await expect(ann, "turn", since=at, speaker=ann.me)
    await refused("invalid", fay.command("start_round", seconds=30))  # one at a time
    await fay.command("end_round")

    at = mark(ann)
    await fay.command("start_round", seconds=30, overtime=5, order="facilitator_last")
    await expect(ann, "order_set", since=at, order=[ann.me, bob.me, cy.me, fay.me])
    started = await expect(ann, "round_started", since=at, kind="share", overtime=5)
    assert started["second_pass"] is True
    await fay.command("end_round")

    at = mark(ann)
    await fay.command("start_round", seconds=30, order="shuffle", kind="check_out")
    await expect(ann, "round_started", since=at, kind="check_out")
    turn = await expect(ann, "turn", since=at)
    reordered = seen(ann, "order_set", since=at)
    order = reordered[-1]["order"] if reordered else [ann.me, bob.me, cy.me, fay.me]
    assert sorted(order) == sorted([ann.me, bob.me, cy.me, fay.me])
    assert turn["speaker"] == order[0]
    await fay.command("end_round")

    await refused("invalid", fay.command("start_round", seconds=0))
    await refused("invalid", fay.command("start_round", seconds=30, kind="debate"))
    await refused("invalid", fay.command("start_round", seconds=30, order="alphabetical"))
    await refused("invalid", fay.command("start_round", seconds=30, bogus=1))


async def test_extend_pause_unpause_are_announced_as_timer(g: Gathering) -> None:
    c = await g.circle(1)
    fay, ann = c.fac, c.members[0]
    await fay.command("start_round", seconds=60)
    deadline = (await expect(ann, "turn", speaker=ann.me))["deadline"]

    await fay.command("extend", seconds=30)
    timer = await expect(ann, "timer")
    assert timer == {**timer, "deadline": deadline + 30, "paused": False, "remaining": None}
    assert timer["seconds"] == 90
    assert timer["time_up"] is False

    at = mark(ann)
    await fay.command("pause")
    paused = await expect(ann, "timer", since=at, paused=True)
    assert paused["deadline"] is None
    assert 85 < paused["remaining"] <= 90
    await refused("invalid", fay.command("pause"))
    await fay.command("unpause")
    resumed = await expect(ann, "timer", since=at, paused=False)
    assert resumed["remaining"] is None
    assert abs(resumed["deadline"] - (time.time() + paused["remaining"])) < 2
    await refused("invalid", fay.command("unpause"))
    await refused("invalid", fay.command("extend", seconds=0))
    await refused("not_allowed", ann.command("extend", seconds=30))


# --- open discussion -------------------------------------------------------------------


async def test_hands_call_on_and_the_floor(g: Gathering) -> None:
    c = await g.circle(2)
    fay, (ann, bob) = c.fac, c.members
    await ann.command("raise_hand")
    await bob.command("raise_hand")
    for viewer in c.everyone:
        await expect(viewer, "hand_raised", member=ann.me)
        await expect(viewer, "hand_raised", member=bob.me)
    await refused("invalid", ann.command("raise_hand"))

    await bob.command("lower_hand")  # withdraw
    await expect(ann, "hand_lowered", member=bob.me, by=bob.me)
    await bob.command("raise_hand")
    await refused("not_allowed", ann.command("lower_hand", member=bob.me))
    await fay.command("lower_hand", member=bob.me)
    await expect(ann, "hand_lowered", member=bob.me, by=fay.me)
    await refused("invalid", fay.command("lower_hand", member=bob.me))

    await fay.command("call_on", member=ann.me)
    for viewer in c.everyone:
        await expect(viewer, "called_on", member=ann.me)
    await ann.command("done")  # give the floor back
    await expect(bob, "floor_cleared", member=ann.me)
    await refused("invalid", bob.command("done"))

    # `next` outside a round calls on the first hand in the queue.
    await bob.command("raise_hand")
    at = mark(ann)
    await fay.command("next")
    await expect(ann, "called_on", since=at, member=bob.me)
    await fay.command("done")  # a facilitator may close someone's floor
    await expect(ann, "floor_cleared", since=at, member=bob.me)

    # During a round hands wait: raising is fine, calling on is not.
    await fay.command("start_round", seconds=60)
    await bob.command("raise_hand")
    await refused("invalid", fay.command("call_on", member=bob.me))
    await refused("not_allowed", ann.command("call_on", member=bob.me))


# --- people ----------------------------------------------------------------------------


async def test_mute_and_unmute(g: Gathering) -> None:
    c = await g.circle(2)
    fay, (ann, bob) = c.fac, c.members
    await fay.command("mute", member=ann.me)
    for viewer in c.everyone:
        await expect(viewer, "muted", member=ann.me)
    await refused("invalid", fay.command("mute", member=ann.me))
    await refused("not_allowed", bob.command("mute", member=ann.me))
    await refused("invalid", bob.command("unmute"))  # bob is not muted
    await ann.command("unmute")  # only yourself
    for viewer in c.everyone:
        await expect(viewer, "unmuted", member=ann.me)


async def test_promote_and_demote(g: Gathering) -> None:
    c = await g.circle(2)
    fay, (ann, bob) = c.fac, c.members
    await refused("not_allowed", ann.command("lock"))
    await fay.command("promote", member=ann.me)
    for viewer in c.everyone:
        await expect(viewer, "role_changed", member=ann.me, role="facilitator", reason="promoted")
    await refused("invalid", fay.command("promote", member=ann.me))
    await ann.command("lock")  # a co-facilitator may do what facilitators do
    await expect(bob, "locked")

    await ann.command("demote", member=fay.me)
    for viewer in c.everyone:
        await expect(viewer, "role_changed", member=fay.me, role="member", reason="demoted")
    await refused("invalid", ann.command("demote", member=ann.me))  # the last facilitator
    await refused("not_allowed", fay.command("unlock"))


async def test_hand_over(g: Gathering) -> None:
    c = await g.circle(2)
    fay, (ann, bob) = c.fac, c.members
    await refused("invalid", fay.command("hand_over", member=fay.me))
    await fay.command("hand_over", member=ann.me)
    for viewer in c.everyone:
        got = await expect(viewer, "role_changed", member=ann.me, role="facilitator")
        assert got["reason"] == "handover"
        await expect(viewer, "role_changed", member=fay.me, role="member", reason="handover")
    await refused("not_allowed", fay.command("lock"))
    await ann.command("lock")
    await expect(bob, "locked")


async def test_successor_takes_over_when_the_last_facilitator_leaves(g: Gathering) -> None:
    c = await g.circle(2)
    fay, (ann, bob) = c.fac, c.members
    at = mark(ann)
    await fay.command("set_successor", member=bob.me)
    for viewer in (fay, bob):
        await expect(viewer, "successor_set", member=bob.me)
    await settle(ann)
    assert "successor_set" not in types(ann, since=at)  # facilitators and the chosen one

    await fay.command("leave")
    assert await fay.wait_closed() == Close.LEFT
    for viewer in (ann, bob):
        await expect(viewer, "left", member=fay.me, reason="left")
        await expect(viewer, "role_changed", member=bob.me, role="facilitator", reason="handover")
    await bob.command("lock")  # the room is not locked out of itself


async def test_away_and_present_and_the_piece_skips_the_absent(g: Gathering) -> None:
    c = await g.circle(2)
    fay, (ann, bob) = c.fac, c.members
    await bob.command("away")
    for viewer in c.everyone:
        await expect(viewer, "away", member=bob.me)
    await refused("invalid", bob.command("away"))
    await fay.command("start_round", seconds=60, second_pass=False)
    await expect(fay, "turn", speaker=ann.me)
    at = mark(fay)
    await ann.command("done")
    skipped = await expect(fay, "skipped", since=at, member=bob.me)
    assert skipped["auto"] is True
    await expect(fay, "round_ended", since=at, reason="complete")

    await bob.command("present")
    for viewer in c.everyone:
        await expect(viewer, "present", member=bob.me, was="away")
    await refused("invalid", bob.command("present"))

    # The speaker stepping away passes the piece on by itself.
    at = mark(fay)
    await fay.command("start_round", seconds=60)
    await expect(fay, "turn", since=at, speaker=ann.me)
    await ann.command("away")
    await expect(fay, "skipped", since=at, member=ann.me, auto=True)
    await expect(fay, "turn", since=at, speaker=bob.me)


async def test_support_note_reaches_facilitators_only(g: Gathering) -> None:
    c = await g.circle(2)
    fay, (ann, bob) = c.fac, c.members
    gus = await g.guest(c.room, "Gus")
    at_bob, at_gus = mark(bob), mark(gus)
    await ann.command("support", text="  I'm struggling tonight  ")
    note = await expect(fay, "support", **{"from": ann.me})
    assert note["text"] == "I'm struggling tonight"
    assert note["at"] > 0
    await gus.command("support", text="Can I talk to someone?")  # from the lobby, too
    await expect(fay, "support", **{"from": gus.me})
    await fay.command("support_seen", note=note["id"])  # kept for facilitators until seen
    await expect(fay, "support_seen", note=note["id"], by=fay.me)
    await refused("not_allowed", bob.command("support_seen", note=note["id"]))
    await settle(ann, bob, gus)
    others = types(bob, since=at_bob) + types(gus, since=at_gus) + types(ann)
    assert "support" not in others
    assert "support_seen" not in others
    await refused("invalid", ann.command("support", text="  "))


async def test_set_topic(g: Gathering) -> None:
    c = await g.circle(1)
    fay, ann = c.fac, c.members[0]
    await fay.command("set_topic", text="Gratitude")
    await expect(ann, "topic_set", text="Gratitude")
    at = mark(ann)
    await fay.command("set_topic")  # no text: clear it
    await expect(ann, "topic_set", since=at, text=None)
    await refused("not_allowed", ann.command("set_topic", text="Mine"))
    await refused("too_large", fay.command("set_topic", text="x" * 5000))


async def test_remove_ends_the_seat_and_its_token(g: Gathering) -> None:
    c = await g.circle(2)
    fay, (ann, bob) = c.fac, c.members
    token = ann.resume_token
    await refused("invalid", fay.command("remove", member=fay.me))
    await fay.command("remove", member=ann.me)
    for viewer in (fay, bob):
        await expect(viewer, "removed", member=ann.me, block=False)
    await expect(ann, "removed", member=ann.me)
    assert await ann.wait_closed() == Close.REMOVED
    await refused("resume_expired", g.resume(token, ann.seq))
    # Without `block`, the person may knock again.
    again = await g.guest(c.room, "Ann")
    await expect(fay, "joined_lobby", member=again.me)


async def test_remove_with_block_refuses_that_browser(g: Gathering) -> None:
    room = await g.room()
    fay = await g.facilitator(room)
    ann = await g.admitted(room, fay, "Ann", key="browser-ann")
    bob = await g.admitted(room, fay, "Bob")
    await fay.command("remove", member=ann.me, block=True)
    await expect(bob, "removed", member=ann.me, block=True)
    assert await ann.wait_closed() == Close.REMOVED
    await refused("not_allowed", g.hello(room, room.invite, "Ann again", key="browser-ann"))

    # Removing someone still waiting tells the facilitators and them, not the circle.
    gus = await g.guest(room, "Gus", key="browser-gus")
    at = mark(bob)
    await fay.command("remove", member=gus.me, block=True)
    await expect(fay, "removed", member=gus.me, waiting=True)
    await expect(gus, "removed", member=gus.me)
    assert await gus.wait_closed() == Close.REMOVED
    await settle(bob)
    assert types(bob, since=at) == []
    await refused("not_allowed", g.hello(room, room.invite, "Gus", key="browser-gus"))
    await g.guest(room, "Someone else", key="another-browser")


async def test_leave(g: Gathering) -> None:
    c = await g.circle(2)
    fay, (ann, bob) = c.fac, c.members
    first, second = await g.guest(c.room, "Gus"), await g.guest(c.room, "Hal")
    at = mark(bob)
    await ann.command("leave")
    assert await ann.wait_closed() == Close.LEFT
    for viewer in (fay, bob):
        await expect(viewer, "left", member=ann.me, reason="left", waiting=False)

    await first.command("leave")  # from the lobby
    assert await first.wait_closed() == Close.LEFT
    await expect(fay, "left", member=first.me, waiting=True)
    await expect(second, "lobby_position", member=second.me, position=1)
    await settle(bob)
    assert types(bob, since=at) == ["left"]


async def test_returning_people_come_straight_back_unless_the_room_asks_them_to_knock(
    g: Gathering,
) -> None:
    room = await g.room()
    fay = await g.facilitator(room)
    ann = await g.admitted(room, fay, "Ann", key="browser-of-ann")
    bob = await g.admitted(room, fay, "Bob", key="browser-of-bob")
    assert fay.welcome["state"]["returning"] == "welcome"  # on by default, for facilitators
    assert bob.welcome["state"]["returning"] is None
    await ann.command("leave")
    assert await ann.wait_closed() == Close.LEFT

    # The same browser through the link again: straight into the circle, as a new seat.
    back = await g.hello(room, room.invite, "Ann", key="browser-of-ann")
    assert back.welcome["state"]["lobby"] is False
    assert back.me in back.welcome["state"]["order"]
    await expect(bob, "admitted", member=back.me, name="Ann", role="member")

    await refused("not_allowed", bob.command("set_returning", returning="knock"))
    await refused("invalid", fay.command("set_returning", returning="sometimes"))
    at = mark(bob)
    await fay.command("set_returning", returning="knock")
    await expect(fay, "returning_set", returning="knock")
    await back.command("leave")
    again = await g.guest(room, "Ann", key="browser-of-ann")  # asserts the lobby
    await expect(fay, "joined_lobby", member=again.me)
    await settle(bob)
    assert "returning_set" not in types(bob, since=at)  # facilitators only


async def test_end_meeting_closes_everyone(g: Gathering) -> None:
    c = await g.circle(2)
    fay, (ann, bob) = c.fac, c.members
    gus = await g.guest(c.room, "Gus")
    old_epoch = fay.epoch
    await refused("not_allowed", ann.command("end_meeting"))
    await fay.command("end_meeting")  # acked before the close
    for viewer in (fay, ann, bob, gus):
        await expect(viewer, "meeting_ended")
        assert await viewer.wait_closed() == Close.ENDED
    await refused("resume_expired", g.resume(ann.resume_token, ann.seq))
    # The next meeting in the room starts afresh, in a new epoch.
    fresh = await g.facilitator(c.room, "Fay")
    assert fresh.epoch != old_epoch
    assert [m["name"] for m in fresh.welcome["state"]["members"]] == ["Fay"]


# --- chat, reactions, signals ----------------------------------------------------------


async def test_chat_and_reactions(g: Gathering) -> None:
    c = await g.circle(2)
    fay, (ann, bob) = c.fac, c.members
    gus = await g.guest(c.room, "Gus")
    sent = time.time()
    ack = await ann.chat("  Thank you all  ", chat_id=41)
    assert ack == {"t": "ack", "id": 41}
    for viewer in c.everyone:
        chat = await expect(viewer, "chat", id=41)
        assert chat == {**chat, "from": ann.me, "text": "Thank you all", "box": None}
        assert sent - 1 <= chat["at"] <= time.time() + 1
    await bob.request({"t": "chat", "box": b"\x01ciphertext"}, request_id=42)
    assert (await expect(fay, "chat", id=42))["box"] == b"\x01ciphertext"

    await bob.react("🙏")
    for viewer in c.everyone:
        await expect(viewer, "reaction", emoji="🙏", **{"from": bob.me})
    await bob.react("💩")
    await settle(bob)
    assert [(e["id"], e["code"]) for e in bob.errors] == [(None, "invalid")]

    await refused("invalid", ann.chat("   "))
    await refused("too_large", ann.chat("x" * 3000))
    await refused("not_allowed", gus.chat("hello?"))
    await settle(gus)
    assert seen(gus, "chat") == []
    assert seen(gus, "reaction") == []


async def test_signals_go_only_between_admitted_members_of_one_room(g: Gathering) -> None:
    c = await g.circle(2)
    fay, (ann, bob) = c.fac, c.members
    gus = await g.guest(c.room, "Gus")
    other = await g.circle(1, names=("Ola",))
    offer = {"sdp": "v=0 offer", "type": "offer"}

    await ann.signal(bob.me, offer)
    async with asyncio.timeout(5):
        relayed = await bob.signals.get()
    assert relayed == {"t": "signal", "from": ann.me, "data": offer}
    await bob.signal(fay.me, {"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host"})
    async with asyncio.timeout(5):
        assert (await fay.signals.get())["from"] == bob.me

    for to in (gus.me, other.members[0].me, "0123456789ab", ann.me):
        await ann.signal(to, offer)
    await gus.signal(ann.me, offer)  # from the lobby
    await settle(ann, gus, other.members[0])
    assert [e["code"] for e in ann.errors] == ["not_allowed"] * 4
    assert [e["code"] for e in gus.errors] == ["not_allowed"]
    assert gus.signals.empty()
    assert other.members[0].signals.empty()
    assert ann.signals.empty()


# --- every op has its scenario above -----------------------------------------------------

COVERED = {
    "admit": test_admit_shows_the_newcomer_to_the_circle,
    "admit_all": test_admit_all_lets_everyone_waiting_in,
    "deny": test_deny_closes_the_guest_and_moves_the_line_up,
    "lobby_message": test_lobby_message_reaches_the_lobby_and_facilitators,
    "remove": test_remove_ends_the_seat_and_its_token,
    "mute": test_mute_and_unmute,
    "unmute": test_mute_and_unmute,
    "promote": test_promote_and_demote,
    "demote": test_promote_and_demote,
    "hand_over": test_hand_over,
    "set_successor": test_successor_takes_over_when_the_last_facilitator_leaves,
    "set_returning": test_returning_people_come_straight_back_unless_the_room_asks_them_to_knock,
    "away": test_away_and_present_and_the_piece_skips_the_absent,
    "present": test_away_and_present_and_the_piece_skips_the_absent,
    "leave": test_leave,
    "lock": test_locked_room_refuses_invites_but_not_facilitators,
    "unlock": test_locked_room_refuses_invites_but_not_facilitators,
    "set_topic": test_set_topic,
    "end_meeting": test_end_meeting_closes_everyone,
    "set_order": test_set_order,
    "start_round": test_start_round_presets_and_kinds,
    "next": test_next_back_skip_and_end_round,
    "back": test_next_back_skip_and_end_round,
    "skip": test_next_back_skip_and_end_round,
    "pass": test_round_with_pass_done_and_second_pass,
    "done": test_round_with_pass_done_and_second_pass,
    "extend": test_extend_pause_unpause_are_announced_as_timer,
    "pause": test_extend_pause_unpause_are_announced_as_timer,
    "unpause": test_extend_pause_unpause_are_announced_as_timer,
    "end_round": test_next_back_skip_and_end_round,
    "raise_hand": test_hands_call_on_and_the_floor,
    "lower_hand": test_hands_call_on_and_the_floor,
    "call_on": test_hands_call_on_and_the_floor,
    "support": test_support_note_reaches_facilitators_only,
    "support_seen": test_support_note_reaches_facilitators_only,
}


def test_every_op_has_an_end_to_end_scenario() -> None:
    assert set(COVERED) == set(OPS)
