"""Resume on a real node, as a table: every kind of `hello` with a resume token, and what it
is answered with. Plus the idempotent writes (`cmd.id`, `chat.id`), across a reconnect too.

A resume answers plainly: `resumed: true` with exactly the missed events the viewer may see,
each with its seq, or `resumed: false` with a fresh snapshot, or `resume_expired`. The token
rotates every time; a second socket for one seat closes the first with REPLACED.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

from signaling.client import Client, Frame
from signaling.closes import Close
from tests.integration.meeting import (
    Gathering,
    expect,
    mark,
    member_ids,
    refused,
    seen,
    settle,
    shared_node,
)
from tests.integration.nodes import Node, NodeFactory


@pytest.fixture(scope="module")
def resume_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    yield from shared_node(tmp_path_factory, "resume")


@pytest.fixture
async def g(resume_node: Node) -> AsyncIterator[Gathering]:
    async with Gathering(resume_node) as gathering:
        yield gathering


def secret(token: str) -> str:
    return token.rsplit(".", 1)[1]


def seqs(events: list[Frame]) -> list[int]:
    return [ev["seq"] for ev in events]


async def top(*clients: Client) -> int:
    """The room's top seq as the facilitator (who sees every event here) last saw it."""
    await settle(*clients)
    return clients[0].seq


# --- the table -----------------------------------------------------------------------------


async def test_seq_at_the_top_replays_only_the_way_back(g: Gathering) -> None:
    c = await g.circle(2)
    fay, (ann, bob) = c.fac, c.members
    last = ann.seq
    await ann.drop()
    reconnecting = await expect(fay, "reconnecting", member=ann.me)
    welcome = await ann.reconnect()
    assert welcome["resumed"] is True
    assert welcome["state"] is None
    assert welcome["seq"] == last
    assert welcome["epoch"] == fay.epoch
    present = await expect(ann, "present", member=ann.me, was="reconnecting")
    await settle(ann)
    # Exactly what was missed: Ann's own reconnecting, then her return.
    assert seqs(ann.events[-2:]) == [reconnecting["seq"], reconnecting["seq"] + 1]
    assert ann.events[-2] == reconnecting
    assert present["seq"] == reconnecting["seq"] + 1
    await expect(bob, "present", member=ann.me)


async def test_seq_zero_gets_a_fresh_snapshot(g: Gathering) -> None:
    c = await g.circle(2)
    fay, (ann, bob) = c.fac, c.members
    await fay.command("lobby_message", text="for the lobby only")
    await ann.chat("hello")
    await ann.drop()
    at = mark(ann)
    fresh = await g.resume(ann.resume_token, 0)
    # A client that has seen nothing, not even its welcome, can only be given the room anew:
    # a replay from the start would show events from before Ann's seat existed.
    assert fresh.welcome["resumed"] is False
    assert member_ids(fresh.welcome["state"]) == {fay.me, ann.me, bob.me}
    assert fresh.welcome["seq"] == await top(fay, bob)
    await settle(fresh)
    assert [ev["type"] for ev in fresh.events] == []
    assert ann.events[at:] == []


async def test_seq_beyond_the_top_gets_a_fresh_snapshot(g: Gathering) -> None:
    c = await g.circle(2)
    fay, (ann, bob) = c.fac, c.members
    await fay.command("set_topic", text="Courage")
    await ann.drop()
    fresh = await g.resume(ann.resume_token, ann.seq + 1000)
    assert fresh.welcome["resumed"] is False
    state = fresh.welcome["state"]
    assert state["topic"] == "Courage"
    assert member_ids(state) == {fay.me, ann.me, bob.me}
    assert fresh.welcome["seq"] == await top(fay, bob)
    await fresh.chat("back")  # the seat works
    await expect(bob, "chat", text="back", **{"from": ann.me})


async def test_a_wrong_epoch_gets_a_fresh_snapshot(g: Gathering) -> None:
    c = await g.circle(1)
    fay, ann = c.fac, c.members[0]
    room, member, epoch, key = ann.resume_token.split(".")
    assert epoch == ann.epoch
    await ann.drop()
    await expect(fay, "reconnecting", member=ann.me)
    edited = ".".join((room, member, "000000000000", key))
    fresh = await g.resume(edited, ann.seq)
    assert fresh.welcome["resumed"] is False
    assert fresh.welcome["epoch"] == epoch
    assert member_ids(fresh.welcome["state"]) == {fay.me, ann.me}
    assert fresh.welcome["seq"] == await top(fay)
    await expect(fay, "present", member=ann.me)


async def test_an_expired_seat_is_refused(node_factory: NodeFactory) -> None:
    node = node_factory(env={"HEARTH_GRACE_SECONDS": "0.5"})
    async with Gathering(node) as g:
        c = await g.circle(2)
        fay, (ann, bob) = c.fac, c.members
        await ann.drop()
        await expect(fay, "left", member=ann.me, reason="timeout")
        await refused("resume_expired", g.resume(ann.resume_token, ann.seq))
        # The refusal is plain and the socket stays open for a new hello.
        retry = Client(node.ws_url)
        g.track(retry)
        await refused("resume_expired", retry.open({"t": "hello", "resume": "x", "seq": 0}))
        hello = {"t": "hello", "room": c.room.id, "token": c.room.invite, "name": "A"}
        await retry.send({**hello, "accept": True})
        await expect(fay, "joined_lobby", name="A")
        await settle(bob)


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda t: "not a token", id="garbage"),
        pytest.param(lambda t: t.rsplit(".", 1)[0] + ".guessed-secret", id="wrong-secret"),
        pytest.param(lambda t: "room.member.epoch.secret", id="unknown-seat"),
        pytest.param(lambda t: t + "x", id="longer-secret"),
        pytest.param(lambda t: t.replace(".", "..", 1), id="malformed"),
    ],
)
async def test_a_forged_token_is_refused(g: Gathering, forge: object) -> None:
    c = await g.circle(1)
    fay, ann = c.fac, c.members[0]
    await ann.drop()
    await expect(fay, "reconnecting", member=ann.me)
    assert callable(forge)
    await refused("resume_expired", g.resume(forge(ann.resume_token), ann.seq))
    await settle(fay)
    assert seen(fay, "present") == []  # nothing happened to the seat
    assert (await g.resume(ann.resume_token, ann.seq)).welcome["resumed"] is True


async def test_a_reused_token_is_refused_and_the_token_rotates_every_time(g: Gathering) -> None:
    c = await g.circle(1)
    fay, ann = c.fac, c.members[0]
    tokens = [ann.resume_token]
    for _ in range(3):
        await ann.drop()
        await ann.reconnect()
        tokens.append(ann.resume_token)
    assert len({secret(t) for t in tokens}) == 4
    assert {t.rsplit(".", 1)[0] for t in tokens} == {tokens[0].rsplit(".", 1)[0]}
    for used in tokens[:-1]:
        await refused("resume_expired", g.resume(used, ann.seq))
    await ann.chat("still here")  # the refusals did not touch the live seat
    await expect(fay, "chat", text="still here")
    assert ann.close_code is None


async def test_two_tabs_resuming_one_seat(g: Gathering) -> None:
    c = await g.circle(2)
    fay, (ann, bob) = c.fac, c.members
    at = mark(bob)
    tab = await g.resume(ann.resume_token, ann.seq)  # while the first tab is still open
    assert tab.welcome["resumed"] is True
    assert tab.welcome["me"] == ann.me
    assert await ann.wait_closed() == Close.REPLACED
    await tab.chat("from the new tab")
    await expect(bob, "chat", text="from the new tab", **{"from": ann.me})
    await settle(bob)
    assert [ev["type"] for ev in bob.events[at:]] == ["chat"]  # no reconnecting, no present

    third = await g.resume(tab.resume_token, tab.seq)
    assert await tab.wait_closed() == Close.REPLACED
    await third.command("raise_hand")
    await expect(fay, "hand_raised", member=ann.me)


async def test_repeated_resumes_with_nothing_new(g: Gathering) -> None:
    c = await g.circle(1)
    fay, ann = c.fac, c.members[0]
    current, tokens = ann, {ann.resume_token}
    for _ in range(3):
        seq = await top(fay, current)
        tab = await g.resume(current.resume_token, seq)
        assert tab.welcome["resumed"] is True
        assert tab.welcome["seq"] == seq
        assert tab.welcome["state"] is None
        assert await current.wait_closed() == Close.REPLACED
        await settle(tab)
        assert tab.events == []  # an empty replay, said plainly
        tokens.add(tab.resume_token)
        current = tab
    assert len(tokens) == 4


async def test_missed_events_arrive_in_order_and_only_those_the_viewer_may_see(
    g: Gathering,
) -> None:
    c = await g.circle(2)
    fay, (ann, bob) = c.fac, c.members
    last = ann.seq
    await ann.drop()
    await expect(fay, "reconnecting", member=ann.me)
    for n in range(3):
        await bob.chat(f"missed {n}")
    await bob.command("support", text="for the facilitators")
    gus = await g.guest(c.room, "Gus")
    await fay.command("lobby_message", text="for the lobby")
    await fay.command("set_topic", text="Hope")
    await bob.react("🌱")
    at = mark(ann)
    await ann.reconnect()
    await expect(ann, "present", since=at, member=ann.me)
    await settle(fay, ann)

    replay = ann.events[at:]
    hidden = {"support", "joined_lobby", "lobby_message"}
    expected = [ev for ev in fay.events if ev["seq"] > last and ev["type"] not in hidden]
    assert replay == expected
    assert [ev["type"] for ev in replay] == [
        "reconnecting",
        "chat",
        "chat",
        "chat",
        "topic_set",
        "reaction",
        "present",
    ]
    assert [ev["text"] for ev in replay if ev["type"] == "chat"] == [
        "missed 0",
        "missed 1",
        "missed 2",
    ]
    assert seqs(replay) == sorted(seqs(replay))
    assert len(set(seqs(replay))) == len(replay)
    assert all(ev["epoch"] == ann.epoch for ev in replay)
    await settle(gus)


async def test_a_guest_let_in_while_away_resumes_into_the_circle(g: Gathering) -> None:
    c = await g.circle(1)
    fay, ann = c.fac, c.members[0]
    gus = await g.guest(c.room, "Gus")
    last = gus.seq
    await gus.drop()
    await expect(fay, "reconnecting", member=gus.me, waiting=True)
    await ann.chat("before Gus was let in")
    await fay.command("admit", member=gus.me)
    await ann.chat("after Gus was let in")
    at = mark(gus)
    welcome = await gus.reconnect()
    assert welcome["resumed"] is True
    assert welcome["seq"] == last
    await expect(gus, "present", since=at, member=gus.me)
    await settle(gus)
    replay = list(gus.events[at:])
    # Only what Gus could see at the time: nothing from before he was let in.
    assert [ev["type"] for ev in replay] == ["admitted", "order_set", "chat", "present"]
    assert replay[2]["text"] == "after Gus was let in"
    # And being let in brings the circle itself, as a fresh snapshot after the replay.
    assert gus.welcome["resumed"] is False
    assert member_ids(gus.welcome["state"]) == {
        fay.me,
        ann.me,
        gus.me,
    }


async def test_a_guest_still_waiting_resumes_into_the_lobby(g: Gathering) -> None:
    c = await g.circle(1)
    fay, ann = c.fac, c.members[0]
    gus = await g.guest(c.room, "Gus")
    await gus.drop()
    await expect(fay, "reconnecting", member=gus.me, waiting=True)
    await ann.chat("not for the lobby")
    at = mark(gus)
    welcome = await gus.reconnect()
    assert welcome["resumed"] is True
    await expect(fay, "present", member=gus.me, was="reconnecting", waiting=True)
    await settle(gus)
    assert [ev["type"] for ev in gus.events[at:]] == ["present"]


# --- idempotent writes -------------------------------------------------------------------


async def test_a_repeated_cmd_id_is_acked_and_takes_effect_once(g: Gathering) -> None:
    c = await g.circle(2)
    fay, (ann, bob) = c.fac, c.members
    frame = {"t": "cmd", "op": "raise_hand", "args": {}}
    first = await ann.request(frame, request_id=7)
    again = await ann.request(frame, request_id=7)
    assert first == again == {"t": "ack", "id": 7}
    await settle(bob, fay)
    assert len(seen(bob, "hand_raised")) == 1
    # The key is per member: Bob's cmd 7 is his own.
    await bob.request(frame, request_id=7)
    await expect(fay, "hand_raised", member=bob.me)

    # A refused command took no effect, so its id is not spent.
    await refused("invalid", ann.request(frame, request_id=8))
    await ann.request({"t": "cmd", "op": "lower_hand", "args": {}}, request_id=8)
    await expect(fay, "hand_lowered", member=ann.me)


async def test_a_repeated_chat_id_is_acked_and_sent_once_even_after_a_reconnect(
    g: Gathering,
) -> None:
    c = await g.circle(2)
    fay, (ann, bob) = c.fac, c.members
    assert await ann.chat("only once", chat_id=5) == {"t": "ack", "id": 5}
    assert await ann.chat("only once", chat_id=5) == {"t": "ack", "id": 5}
    await ann.drop()  # the ack was lost, say: send it again on the new socket
    await ann.reconnect()
    assert await ann.chat("only once", chat_id=5) == {"t": "ack", "id": 5}
    frame = {"t": "cmd", "op": "raise_hand", "args": {}}
    await ann.request(frame, request_id=5)  # cmd ids and chat ids are separate keys
    await ann.drop()
    await ann.reconnect()
    await ann.request(frame, request_id=5)
    await asyncio.gather(expect(bob, "hand_raised"), settle(fay, bob))
    await settle(fay, bob)
    assert [ev["id"] for ev in seen(bob, "chat")] == [5]
    assert [ev["id"] for ev in seen(fay, "chat")] == [5]
    assert len(seen(fay, "hand_raised")) == 1
