"""Deadlines that fire with nobody acting, on a real node: a share's time running out, the
piece moving on after overtime (and staying without it), a paused turn that never times out,
an extended deadline, and a dropped member's grace period ending (the node runs with
HEARTH_GRACE_SECONDS=1). Who is next, as the node tells it, rides along.

Timing is the point here, so these tests measure it, with margins for a shared machine:
a deadline's event may come a little late, never early.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from tests.integration.meeting import Gathering, expect, mark, seen, settle, shared_node
from tests.integration.nodes import Node

GRACE_SECONDS = 1.0
LATE = 0.5  # how late a deadline's event may arrive on a busy two-core machine


@pytest.fixture(scope="module")
def timer_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    env = {"HEARTH_GRACE_SECONDS": str(GRACE_SECONDS)}
    yield from shared_node(tmp_path_factory, "timers", env)


@pytest.fixture
async def g(timer_node: Node) -> AsyncIterator[Gathering]:
    async with Gathering(timer_node) as gathering:
        yield gathering


async def test_time_up_arrives_when_the_share_runs_out(g: Gathering) -> None:
    c = await g.circle(1)
    fay, ann = c.fac, c.members[0]
    sent = time.monotonic()
    await fay.command("start_round", seconds=1, overtime=60)
    turn = await expect(ann, "turn", speaker=ann.me)
    up = await expect(ann, "time_up", turn_id=turn["turn_id"])
    arrived, wall = time.monotonic(), time.time()
    assert up["speaker"] == ann.me
    assert 1.0 <= arrived - sent <= 1.0 + LATE
    assert turn["deadline"] <= wall <= turn["deadline"] + LATE  # the node's clock is ours
    await expect(fay, "time_up", turn_id=turn["turn_id"])
    # Within overtime the speaker keeps the piece, and the deadline is announced once.
    await asyncio.sleep(0.3)
    await settle(fay, ann)
    assert len(seen(ann, "time_up")) == 1
    assert len(seen(ann, "turn")) == 1


async def test_overtime_moves_the_piece_on_by_itself(g: Gathering) -> None:
    c = await g.circle(2)
    fay, (ann, bob) = c.fac, c.members
    sent = time.monotonic()
    await fay.command("start_round", seconds=1, overtime=1, second_pass=False)
    first = await expect(bob, "turn", speaker=ann.me)
    await expect(bob, "time_up", turn_id=first["turn_id"])
    second = await expect(bob, "turn", speaker=bob.me)
    assert 2.0 <= time.monotonic() - sent <= 2.0 + 2 * LATE
    assert second["turn_id"] != first["turn_id"]
    assert second["deadline"] >= first["deadline"] + 2  # a fresh share from the handover


async def test_a_paused_turn_never_times_out(g: Gathering) -> None:
    c = await g.circle(1)
    fay, ann = c.fac, c.members[0]
    await fay.command("start_round", seconds=1)
    turn = await expect(ann, "turn", speaker=ann.me)
    await fay.command("pause")
    paused = await expect(ann, "timer", paused=True)
    assert 0 < paused["remaining"] <= 1
    await asyncio.sleep(1.0 + LATE)  # well past the original deadline
    await settle(fay, ann)
    assert seen(ann, "time_up") == []
    assert seen(fay, "time_up") == []

    unpaused_at = time.monotonic()
    await fay.command("unpause")
    await expect(ann, "timer", paused=False)
    await expect(ann, "time_up", turn_id=turn["turn_id"])
    waited = time.monotonic() - unpaused_at
    assert paused["remaining"] - 0.05 <= waited <= paused["remaining"] + LATE


async def test_extend_pushes_the_deadline(g: Gathering) -> None:
    c = await g.circle(1)
    fay, ann = c.fac, c.members[0]
    sent = time.monotonic()
    await fay.command("start_round", seconds=1, overtime=60)
    turn = await expect(ann, "turn", speaker=ann.me)
    await fay.command("extend", seconds=1)
    timer = await expect(ann, "timer")
    assert timer["deadline"] == turn["deadline"] + 1
    up = await expect(ann, "time_up", turn_id=turn["turn_id"])
    assert 2.0 <= time.monotonic() - sent <= 2.0 + LATE
    assert time.time() >= timer["deadline"]

    # Extended past its time-up, the turn is no longer over time, and is announced again.
    at = mark(ann)
    await fay.command("extend", seconds=1)
    again = await expect(ann, "timer", since=at)
    assert again["time_up"] is False
    assert again["deadline"] == timer["deadline"] + 1
    await expect(ann, "time_up", since=at, turn_id=up["turn_id"])
    assert time.time() >= again["deadline"]


async def test_a_dropped_member_is_reconnecting_then_leaves_after_the_grace(g: Gathering) -> None:
    c = await g.circle(2)
    fay, (ann, bob) = c.fac, c.members
    await ann.drop()
    for viewer in (fay, bob):
        reconnecting = await expect(viewer, "reconnecting", member=ann.me)
        assert reconnecting["waiting"] is False
    left = await expect(bob, "left", member=ann.me)
    gone_at = time.time()
    assert left["reason"] == "timeout"
    assert GRACE_SECONDS <= gone_at - reconnecting["since"] <= GRACE_SECONDS + LATE
    await expect(fay, "left", member=ann.me, reason="timeout")
    cal = await g.facilitator(c.room, "Cal")  # the seat is gone from the circle too
    assert cal.welcome["state"]["order"] == [bob.me]
    assert ann.me not in {m["id"] for m in cal.welcome["state"]["members"]}

    # Someone waiting in the lobby who drops goes the same way, seen by facilitators only.
    gus = await g.guest(c.room, "Gus")
    at = mark(bob)
    await gus.drop()
    await expect(fay, "reconnecting", member=gus.me, waiting=True)
    await expect(fay, "left", member=gus.me, reason="timeout", waiting=True)
    await settle(bob)
    assert seen(bob, since=at) == []


async def test_a_speaker_timing_out_passes_the_piece_on(g: Gathering) -> None:
    c = await g.circle(2)
    fay, (ann, bob) = c.fac, c.members
    await fay.command("start_round", seconds=60)
    await expect(bob, "turn", speaker=ann.me)
    at = mark(bob)
    await ann.drop()
    await expect(bob, "reconnecting", since=at, member=ann.me)
    await expect(bob, "left", since=at, member=ann.me, reason="timeout")
    turn = await expect(bob, "turn", since=at, speaker=bob.me)
    assert turn["pass_no"] == 1


async def test_back_within_the_grace_keeps_the_seat(g: Gathering) -> None:
    c = await g.circle(2)
    fay, (ann, bob) = c.fac, c.members
    await fay.command("start_round", seconds=60)
    await expect(bob, "turn", speaker=ann.me)
    await ann.drop()
    await expect(bob, "reconnecting", member=ann.me)
    welcome = await ann.reconnect()
    assert welcome["resumed"] is True
    await expect(bob, "present", member=ann.me, was="reconnecting")
    await asyncio.sleep(GRACE_SECONDS + LATE)  # past the grace the first drop started
    await settle(fay, bob, ann)
    assert seen(bob, "left") == []
    await ann.command("done")  # still the speaker
    await expect(bob, "turn", speaker=bob.me)


async def test_without_overtime_the_deadline_is_a_cue_and_the_piece_stays(g: Gathering) -> None:
    c = await g.circle(2)
    fay, (ann, bob) = c.fac, c.members
    await fay.command("start_round", seconds=1)  # no overtime: the default
    started = await expect(bob, "round_started")
    assert started["overtime"] is None
    turn = await expect(bob, "turn", speaker=ann.me)
    assert turn["next"] == bob.me
    for viewer in c.everyone:
        up = await expect(viewer, "time_up", turn_id=turn["turn_id"])
        assert up["speaker"] == ann.me
    at = mark(bob)
    await asyncio.sleep(2.0 + LATE)  # well past where overtime 0 or 1 would have moved it
    await settle(fay, ann, bob)
    assert seen(bob, "turn", since=at) == []
    assert len(seen(bob, "time_up")) == 1
    # A newcomer's snapshot tells the same: Ann holds the piece, over time, Bob is next.
    late = await g.facilitator(c.room, "Gil")
    shown = late.welcome["state"]["round"]
    assert (shown["speaker"], shown["time_up"], shown["next"]) == (ann.me, True, bob.me)
    assert shown["overtime"] is None
    # The piece moves when the speaker finishes.
    await ann.command("done")
    moved = await expect(bob, "turn", since=at, speaker=bob.me)
    assert moved["next"] == late.me  # a facilitator arriving mid-round joins the order


async def test_who_is_next_follows_the_circle_without_a_turn(g: Gathering) -> None:
    c = await g.circle(3)
    fay, (ann, bob, cy) = c.fac, c.members
    await fay.command("start_round", seconds=60)
    turn = await expect(cy, "turn", speaker=ann.me)
    assert turn["next"] == bob.me
    at = mark(cy)
    await bob.command("away")
    changed = await expect(cy, "next_changed", since=at)
    assert changed["next"] == cy.me
    at = mark(cy)
    await bob.command("present")
    changed = await expect(cy, "next_changed", since=at)
    assert changed["next"] == bob.me
    at = mark(cy)
    await fay.command("set_order", members=[ann.me, cy.me, bob.me])
    changed = await expect(cy, "next_changed", since=at)
    assert changed["next"] == cy.me
    await ann.command("done")
    moved = await expect(cy, "turn", since=at, speaker=cy.me)
    assert moved["next"] == bob.me
