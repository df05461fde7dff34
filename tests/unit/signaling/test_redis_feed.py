"""A served room's ordered delivery (signaling/redis_feed.py), without Redis.

Commits arrive from three sources in any order, twice, or not at all; the listener must see
each seq once, in order, each commit with the state after it.
"""

from __future__ import annotations

from rooms import AnyEvent, MemberId, RoomId, RoomState, replay
from rooms import events as e
from rooms.state import Role
from signaling.broker import Sequenced
from signaling.redis_feed import KEYS_KEPT, Batch, Feed
from tests.unit.signaling.broker_contract import Recorder

ROOM = RoomId("r")
F = MemberId("f")
NOW = 1000.0


def events(first: int, n: int) -> tuple[Sequenced, ...]:
    out: list[AnyEvent] = []
    for i in range(n):
        seq = first + i
        if seq == 1:
            out.append(e.Admitted(F, "Fay", Role.FACILITATOR.value))
        else:
            out.append(e.ChatSent(F, seq, f"m{seq}", None, NOW))
    return tuple(Sequenced(first + i, ev) for i, ev in enumerate(out))


def batch(first: int, n: int = 1, epoch: str = "E1", **kw: object) -> Batch:
    return Batch(epoch, first, events(first, n), NOW, **kw)  # type: ignore[arg-type]


def seeded(epoch: str = "", seq: int = 0, state: RoomState | None = None) -> tuple[Feed, Recorder]:
    heard = Recorder()
    feed = Feed(ROOM, lambda: heard)
    feed.seed(epoch, seq, state or RoomState())
    return feed, heard


def seqs(heard: Recorder) -> list[int]:
    return heard.seqs(ROOM)


async def test_in_order_commits_pass_straight_through() -> None:
    feed, heard = seeded()
    assert not feed.offer(batch(1))
    assert not feed.offer(batch(2, 3))
    assert seqs(heard) == [1, 2, 3, 4]
    assert heard.commits[-1].seq == 4
    assert heard.commits[-1].state == replay(sq.event for sq in events(1, 4))


async def test_repeats_are_dropped() -> None:
    feed, heard = seeded()
    feed.offer(batch(1))
    feed.offer(batch(2))
    assert not feed.offer(batch(2))
    assert not feed.offer(batch(1))
    assert seqs(heard) == [1, 2]


async def test_a_gap_holds_what_comes_after_it_and_asks_for_a_sync() -> None:
    feed, heard = seeded()
    feed.offer(batch(1))
    assert feed.offer(batch(3))  # 2 is missing
    assert feed.offer(batch(4, 2))
    assert seqs(heard) == [1]
    assert not feed.offer(batch(2))  # the missing one arrives (the log, or late pub/sub)
    assert seqs(heard) == [1, 2, 3, 4, 5]


async def test_a_batch_overlapping_what_was_delivered_gives_only_the_rest() -> None:
    feed, heard = seeded()
    feed.offer(batch(1, 2))
    feed.offer(batch(2, 3))  # seqs 2..4, read from the log from the middle of a commit
    assert seqs(heard) == [1, 2, 3, 4]


async def test_own_commits_keep_the_state_they_came_with() -> None:
    feed, heard = seeded()
    known = RoomState(locked=True)  # whatever the sender knew the state to be
    feed.offer(Batch("E1", 1, events(1, 1), NOW, state=known))
    assert heard.commits[-1].state is known


async def test_a_fresh_feed_adopts_a_new_epoch_at_seq_one_only() -> None:
    feed, heard = seeded()
    assert feed.offer(batch(2))  # we missed seq 1 of a meeting: a sync decides
    assert seqs(heard) == []
    feed2, heard2 = seeded()
    assert not feed2.offer(batch(1, epoch="E9"))
    assert (feed2.epoch, seqs(heard2)) == ("E9", [1])


async def test_another_epoch_asks_for_a_sync() -> None:
    feed, heard = seeded("E1", 1, replay([events(1, 1)[0].event]))
    assert feed.offer(batch(1, epoch="E2"))
    assert heard.commits == []


async def test_a_dropping_commit_ends_the_epoch_after_it_is_delivered() -> None:
    feed, heard = seeded()
    feed.offer(batch(1))
    feed.offer(batch(2, drop=True))
    assert seqs(heard) == [1, 2]
    assert heard.dropped == [(ROOM, "E1")]
    assert (feed.epoch, feed.seq) == ("", 0)
    assert not feed.offer(batch(2, epoch="E1"))  # a late copy of the ended epoch: ignored
    assert not feed.offer(batch(1, epoch="E2"))  # the next meeting starts cleanly
    assert feed.epoch == "E2"
    assert heard.dropped == [(ROOM, "E1")]


async def test_a_jump_hands_over_the_whole_state() -> None:
    feed, heard = seeded()
    feed.offer(batch(1))
    feed.offer(batch(9))  # held: 2..8 are missing, and were trimmed
    state = RoomState(locked=True)
    feed.jump("E1", 8, state, NOW)
    jumped = heard.commits[-2]
    assert (jumped.events, jumped.seq, jumped.state) == ((), 8, state)
    assert seqs(heard) == [1, 9]  # then what was held flows again


async def test_commits_before_seeding_are_held_and_sorted_by_the_seed() -> None:
    heard = Recorder()
    feed = Feed(ROOM, lambda: heard)
    feed.offer(batch(3))  # arrived between SUBSCRIBE and the read of the state
    feed.offer(batch(2))
    assert heard.commits == []
    state = replay(sq.event for sq in events(1, 2))
    assert not feed.seed("E1", 2, state)  # the read saw up to 2
    assert seqs(heard) == [3]


async def test_waiting_for_a_delivery() -> None:
    feed, _heard = seeded("E1", 1)
    assert feed.delivered("E1", 1)
    assert not feed.delivered("E1", 2)
    assert not await feed.wait("E1", 2, 0.01)
    feed.offer(batch(2))
    assert await feed.wait("E1", 2, 0.01)
    feed.close()  # unsubscribed: nobody waits for what won't come here
    assert feed.delivered("E1", 99)


# --- the mirror: its state version and the dedupe keys it heard ----------------------------


def mirror(feed: Feed) -> tuple[int | None, bool]:
    return feed.v, feed.current


async def test_the_mirror_is_current_while_its_version_is_known() -> None:
    feed, _heard = seeded()
    assert not feed.current  # no meeting
    feed.offer(batch(1, v=1))
    assert mirror(feed) == (1, True)
    feed.offer(batch(2))  # from the log, or an older node: the version is not said
    assert mirror(feed) == (None, False)
    feed.known("E1", 1, 1)  # a read of another seq says nothing about this one
    assert mirror(feed) == (None, False)
    feed.known("E1", 2, 1)
    assert mirror(feed) == (1, True)
    feed.offer(batch(4, v=1))  # 3 is missing: held, and the mirror (at 2, v 1) still exact
    assert (feed.seq, *mirror(feed)) == (2, 1, True)
    feed.offer(batch(3, v=1))
    assert (feed.seq, *mirror(feed)) == (4, 1, True)


async def test_a_seed_or_a_jump_sets_the_version() -> None:
    state = replay(sq.event for sq in events(1, 2))
    feed, _heard = seeded()
    feed.seed("E1", 2, state, 1)
    assert mirror(feed) == (1, True)
    feed.jump("E2", 0, state, NOW, 1)
    assert (feed.epoch, feed.v) == ("E2", 1)
    feed.jump("E2", 5, state, NOW)
    assert feed.v is None


async def test_an_ended_meeting_is_never_current() -> None:
    feed, _heard = seeded()
    feed.offer(batch(1, v=1))
    feed.offer(Batch("E1", 2, events(2, 1), NOW, state=RoomState(), v=2))  # nobody left
    assert not feed.current


async def test_dedupe_keys_of_delivered_commits_are_remembered_for_their_epoch() -> None:
    feed, _heard = seeded()
    feed.offer(batch(1, v=1, dedupe=("f:chat:1", NOW + 30)))
    assert feed.seen("f:chat:1", NOW)
    assert not feed.seen("f:chat:1", NOW + 30)  # the window closed
    assert not feed.seen("f:chat:2", NOW)
    feed.offer(batch(3, v=1, dedupe=("f:chat:3", NOW + 30)))  # held behind a gap: not yet
    assert not feed.seen("f:chat:3", NOW)
    feed.offer(batch(2, v=1))
    assert feed.seen("f:chat:3", NOW)
    feed.end("E1")
    assert not feed.seen("f:chat:1", NOW)  # the next meeting has its own keys


async def test_remembered_dedupe_keys_are_bounded() -> None:
    feed, _heard = seeded()
    feed.offer(batch(1, v=1))
    for i in range(KEYS_KEPT + 10):
        feed.offer(batch(2 + i, v=1, dedupe=(f"k{i}", NOW + 30)))
    assert len(feed.keys) == KEYS_KEPT
    assert not feed.seen("k0", NOW)
    assert feed.seen(f"k{KEYS_KEPT + 9}", NOW)
