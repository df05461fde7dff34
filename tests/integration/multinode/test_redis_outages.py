"""Redis going away under two live nodes: a crash, a freeze, a restart with nothing.

- `kill -9` of Redis, then a start on the same port and directory (its append-only file):
  every chat acknowledged before the crash is still in history, replayed to a member who
  resumes afterwards, and commands are acknowledged again within seconds.
- SIGSTOP for 15 s, then SIGCONT: `/healthz` answers throughout, `/readyz` says not ready
  within 3 s, a command is refused with `unavailable` within 2 s instead of hanging, and
  afterwards every transcript is gapless.
- A restart without data: every connected member gets a fresh snapshot in a new epoch,
  with their seat and the round as they were.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from rooms import events as e
from signaling.client import CommandError
from tests.integration.meeting import Room
from tests.integration.multinode.cluster import WAIT_SECONDS, Cluster, Member, Person, status, until
from tests.redis_server import RedisServer

RECOVERY_SECONDS = 5.0  # commands acknowledged again after Redis is back
PAUSE_SECONDS = 15.0
READY_SECONDS = 3.0  # /readyz says 503 after Redis froze
UNAVAILABLE_SECONDS = 2.0  # a command's refusal while Redis is frozen
MARGIN = 0.5  # for a busy machine, on the two figures above


async def gather_four(cluster: Cluster) -> tuple[Room, list[Person]]:
    """Two nodes; Fay and Bob on the first, Ann and Cy on the second."""
    n0, n1 = cluster.start(2)
    room = await cluster.room()
    fay = await cluster.facilitator(room, n0)
    ann = await cluster.member(room, n1, fay, "Ann")
    bob = await cluster.member(room, n0, fay, "Bob")
    cy = await cluster.member(room, n1, fay, "Cy")
    return room, [fay, ann, bob, cy]


async def chat_until_acked(conn: Member, text: str, chat_id: int, timeout: float) -> float:
    """Send one chat (the same id each time, so a lost ack is harmless) until it is
    acknowledged; the seconds it took."""
    started = time.monotonic()
    while True:
        try:
            await conn.chat(text, chat_id=chat_id)
            return time.monotonic() - started
        except (CommandError, TimeoutError) as exc:
            if isinstance(exc, CommandError) and exc.code != "unavailable":
                raise
            if time.monotonic() - started > timeout:
                raise AssertionError(f"{text!r} not acknowledged in {timeout} s") from exc
            await asyncio.sleep(0.1)


async def test_acknowledged_chat_survives_a_redis_crash(
    cluster: Cluster, redis: RedisServer
) -> None:
    room, (fay, ann, bob, cy) = await gather_four(cluster)
    await cy.now.drop()  # Cy is away through all of it, and resumes afterwards
    await until(lambda: bool(fay.seen("reconnecting", member=cy.me)), WAIT_SECONDS, "Cy away")
    since = await cluster.top(room)
    acked: dict[tuple[str, int], str] = {}
    refused: list[str] = []

    async def chatter(person: Person) -> None:
        for n in range(1, 100_000):
            text = f"{person.name} #{n}"
            try:
                await person.now.chat(text, chat_id=n)
            except CommandError as exc:
                refused.append(exc.code)
                return
            acked[(person.me, n)] = text

    talking = [asyncio.create_task(chatter(p)) for p in (fay, ann, bob)]
    await until(lambda: len(acked) >= 60, WAIT_SECONDS, "chat flowing")
    redis.kill()  # SIGKILL, mid-conversation
    done, hung = await asyncio.wait(talking, timeout=WAIT_SECONDS)
    for task in hung:
        task.cancel()
    assert not hung, "a chat hung instead of being refused"
    assert all(task.exception() is None for task in done)
    assert set(refused) == {"unavailable"}
    before_crash = dict(acked)

    redis.start()  # same port, same directory: the append-only file is read back
    took = await chat_until_acked(fay.now, "we're back", 900_001, 3 * RECOVERY_SECONDS)
    assert took <= RECOVERY_SECONDS, f"commands acknowledged again only after {took:.1f} s"
    await bob.now.command("raise_hand")

    # Cy resumes on the other node: every acknowledged chat is in the replay.
    back = await cluster.resume(cy, cluster.nodes[0])
    assert back.welcome["resumed"] is True
    replayed = {(ev["from"], ev["id"]): ev["text"] for ev in back.events if ev["type"] == "chat"}
    missing = {k: v for k, v in before_crash.items() if replayed.get(k) != v}
    assert not missing, f"acknowledged but not replayed: {sorted(missing.values())}"
    _view, history = await cluster.agree(room, [fay, ann, bob, cy], since=since)
    stored = {(ev.from_, ev.id) for sq in history if isinstance(ev := sq.event, e.ChatSent)}
    assert set(before_crash) <= stored
    print(f"{len(before_crash)} chats acknowledged before the crash; acks again after {took:.2f} s")


async def test_a_frozen_redis_makes_nodes_refuse_fast_and_recover_gapless(
    cluster: Cluster, redis: RedisServer
) -> None:
    room, people = await gather_four(cluster)
    fay, ann, bob, _cy = people
    n0, n1 = cluster.nodes
    since = await cluster.top(room)
    for i, p in enumerate(people):
        await p.now.chat(f"before {i}")

    health: list[int | None] = []
    frozen = asyncio.Event()

    async def watch_health() -> None:
        while not frozen.is_set():
            for node in (n0, n1):
                health.append(await status(f"{node.url}/healthz"))
            await asyncio.sleep(0.5)

    async def not_ready_after(url: str) -> float:
        started = time.monotonic()
        while await status(f"{url}/readyz", timeout=3.0) != 503:
            assert time.monotonic() - started < 3 * READY_SECONDS, "/readyz stayed ready"
            await asyncio.sleep(0.1)
        return time.monotonic() - started

    async def refusal(conn: Member, text: str) -> float:
        started = time.monotonic()
        with pytest.raises(CommandError) as caught:
            await conn.chat(text)
        assert caught.value.code == "unavailable"
        return time.monotonic() - started

    redis.pause()  # SIGSTOP: connections stay open, nothing answers
    paused_at = time.monotonic()
    watcher = asyncio.create_task(watch_health())
    try:
        ready_after = await asyncio.gather(not_ready_after(n0.url), not_ready_after(n1.url))
        refusals = refusal(fay.now, "frozen?"), refusal(ann.now, "hello?")
        refused_after = list(await asyncio.gather(*refusals))
        raise_after = time.monotonic()
        with pytest.raises(CommandError) as caught:
            await bob.now.command("raise_hand")
        assert caught.value.code == "unavailable"
        refused_after.append(time.monotonic() - raise_after)
        await asyncio.sleep(max(0.0, PAUSE_SECONDS - (time.monotonic() - paused_at)))
    finally:
        redis.resume()  # SIGCONT
        frozen.set()
        await watcher
    assert len(health) >= 2 * (PAUSE_SECONDS - READY_SECONDS), health  # polled throughout
    assert all(code == 200 for code in health), health
    assert max(ready_after) <= READY_SECONDS + MARGIN, ready_after
    assert max(refused_after) <= UNAVAILABLE_SECONDS + MARGIN, refused_after

    # Back: ready again, commands acknowledged, and nothing lost or doubled on the way.
    recovered = await asyncio.gather(
        *(chat_until_acked(p.now, f"after {p.name}", 900_000 + i, 20) for i, p in enumerate(people))
    )
    for node in (n0, n1):
        await until_ready(node.url)
    for round_ in range(3):
        await asyncio.gather(*(p.now.chat(f"{p.name} {round_}") for p in people))
    await bob.now.command("raise_hand")
    await cluster.agree(room, people, since=since)
    print(
        f"readyz 503 after {max(ready_after):.2f} s; unavailable after {max(refused_after):.2f} s;"
        f" acks again {max(recovered):.2f} s after SIGCONT"
    )


async def until_ready(url: str, timeout: float = 15.0) -> None:
    started = time.monotonic()
    while await status(f"{url}/readyz") != 200:
        assert time.monotonic() - started < timeout, f"{url} not ready again"
        await asyncio.sleep(0.2)


async def test_redis_restarted_empty_gives_everyone_a_new_epoch_and_a_snapshot(
    cluster: Cluster, redis: RedisServer
) -> None:
    room, people = await gather_four(cluster)
    fay, ann, bob, cy = people
    order = [ann.me, bob.me, cy.me]
    await fay.now.command("set_order", members=order)
    await fay.now.command("start_round", seconds=300)
    await cy.now.command("raise_hand")
    for p in people:
        await until(lambda p=p: bool(p.seen("hand_raised")), WAIT_SECONDS, "hand seen")  # type: ignore[misc]
    old = fay.now.epoch
    ids = {p.me for p in people}

    started = time.monotonic()
    redis.restart(empty=True)  # a clean stop, then back with nothing at all
    await until(
        lambda: all(p.now.welcomes[-1]["epoch"] != old for p in people),
        20,
        "a fresh welcome in a new epoch for everyone",
    )
    took = time.monotonic() - started
    epochs = {p.now.welcomes[-1]["epoch"] for p in people}
    assert len(epochs) == 1, epochs
    for p in people:
        welcome = p.now.welcomes[-1]
        assert welcome["resumed"] is False
        assert welcome["me"] == p.me
        assert p.now.epoch == welcome["epoch"]
        state = welcome["state"]
        assert {m["id"] for m in state["members"]} == ids
        assert state["order"] == order
        assert state["round"]["speaker"] == ann.me
        assert state["hands"] == [cy.me]
    # The meeting goes on in the new epoch, seqs from 1 for everyone.
    await asyncio.gather(
        *(chat_until_acked(p.now, f"still here {p.name}", 800_000, 20) for p in people)
    )
    await ann.now.command("done")
    view, _ = await cluster.agree(room, people, since=0, replayable=False)
    assert view.epoch in epochs
    assert view.state.round is not None
    assert view.state.round.turn is not None
    assert view.state.round.turn.speaker == bob.me
    print(f"new epoch and snapshot for everyone {took:.2f} s after the restart")
