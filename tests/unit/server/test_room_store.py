"""SqliteRoomStore: definitions survive, tokens exist only as hashes, rotation revokes."""

from __future__ import annotations

import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from server.room_store import (
    RoomDefError,
    RoomStore,
    check_fields,
    new_room_id,
    new_tokens,
    token_hash,
)
from server.room_store_sqlite import FILENAME, SqliteRoomStore


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteRoomStore]:
    s = SqliteRoomStore.in_data_dir(tmp_path / "data")
    yield s
    await s.close()


def on_disk(directory: Path) -> bytes:
    """Every byte SQLite wrote: the database and its WAL and shared-memory files."""
    return b"".join(p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file())


def test_sqlite_store_satisfies_the_protocol(store: SqliteRoomStore) -> None:
    typed: RoomStore = store
    assert typed is store


async def test_create_then_get_and_list(store: SqliteRoomStore) -> None:
    room, tokens = await store.create(
        "  Tuesday circle ", guidelines="Be kind.", crisis="Call 112", share_seconds=240
    )
    assert room.name == "Tuesday circle"
    assert (room.guidelines, room.crisis, room.share_seconds) == ("Be kind.", "Call 112", 240)
    assert tokens.invite != tokens.facilitator
    assert await store.get(room.id) == room
    assert await store.list() == [room]
    assert await store.get("nope") is None


async def test_defaults_of_a_new_room(store: SqliteRoomStore) -> None:
    room, _ = await store.create("Circle")
    assert (room.guidelines, room.crisis, room.share_seconds) == ("", "", 180)


async def test_list_is_oldest_first(tmp_path: Path) -> None:
    ticks = iter([1.0, 2.0, 3.0])
    s = SqliteRoomStore(tmp_path / FILENAME, clock=lambda: next(ticks))
    try:
        names = [(await s.create(n))[0].name for n in ("a", "b", "c")]
        assert [r.name for r in await s.list()] == names
    finally:
        await s.close()


async def test_rotate_revokes_old_tokens(store: SqliteRoomStore) -> None:
    room, old = await store.create("Circle")
    rotated = await store.rotate(room.id)
    assert rotated is not None
    same_room, new = rotated
    assert same_room == room
    assert {new.invite, new.facilitator}.isdisjoint({old.invite, old.facilitator})
    assert await store.enter(room.id, old.invite) is None
    assert await store.enter(room.id, old.facilitator) is None
    assert await store.enter(room.id, new.invite) == (room, "member")
    assert await store.enter(room.id, new.facilitator) == (room, "facilitator")
    assert await store.rotate("nope") is None


async def test_update_changes_only_given_fields(store: SqliteRoomStore) -> None:
    room, tokens = await store.create("Circle", guidelines="g", crisis="c", share_seconds=60)
    updated = await store.update(room.id, crisis="new crisis text")
    assert updated is not None
    assert (updated.name, updated.guidelines, updated.crisis) == ("Circle", "g", "new crisis text")
    assert updated.share_seconds == 60
    assert updated.created_at == room.created_at
    assert await store.get(room.id) == updated
    assert await store.update(room.id) == updated  # nothing given, nothing changed
    assert await store.update("nope", name="x") is None
    assert await store.enter(room.id, tokens.invite) == (updated, "member")  # tokens untouched


async def test_delete_forgets_room_and_tokens(store: SqliteRoomStore) -> None:
    room, tokens = await store.create("Circle")
    assert await store.delete(room.id) is True
    assert await store.get(room.id) is None
    assert await store.enter(room.id, tokens.facilitator) is None
    assert await store.delete(room.id) is False


async def test_only_token_hashes_reach_the_disk(tmp_path: Path) -> None:
    data = tmp_path / "data"
    s = SqliteRoomStore.in_data_dir(data)
    _, first = await s.create("Circle")
    room, second = await s.create("Other")
    rotated = await s.rotate(room.id)
    assert rotated is not None
    third = rotated[1]
    # Checked while the connection is open (WAL files present) and after closing.
    for check in ("open", "closed"):
        raw = on_disk(data)
        for tokens in (first, second, third):
            for token in (tokens.invite, tokens.facilitator):
                assert token.encode() not in raw, check
        assert token_hash(third.invite).encode() in raw, check  # we read the right bytes
        await s.close()


async def test_definitions_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / FILENAME
    first = SqliteRoomStore(path)
    room, tokens = await first.create("Circle", guidelines="Listen.")
    await first.close()
    await first.close()  # closing twice is harmless
    second = SqliteRoomStore(path)
    try:
        assert await second.get(room.id) == room
        assert await second.enter(room.id, tokens.invite) == (room, "member")
    finally:
        await second.close()


async def test_directory_is_private_and_file_is_owner_only(tmp_path: Path) -> None:
    data = tmp_path / "fresh" / "data"
    s = SqliteRoomStore.in_data_dir(data)
    try:
        await s.create("Circle")
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        for path in data.iterdir():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
    finally:
        await s.close()


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 81}, "name"),
        ({"name": "bell\x07"}, "name"),
        ({"name": "two\nlines"}, "name"),
        ({"name": 5}, "name"),
        ({"guidelines": "g" * 5001}, "guidelines"),
        ({"guidelines": "nul\x00"}, "guidelines"),
        ({"crisis": "c" * 2001}, "crisis"),
        ({"crisis": ["list"]}, "crisis"),
        ({"share_seconds": 9}, "share_seconds"),
        ({"share_seconds": 3601}, "share_seconds"),
        ({"share_seconds": True}, "share_seconds"),
        ({"share_seconds": 60.0}, "share_seconds"),
    ],
)
def test_field_rules(fields: dict[str, object], bad: str) -> None:
    with pytest.raises(RoomDefError) as caught:
        check_fields(**fields)
    assert caught.value.field == bad
    assert str(caught.value).startswith(f"{bad}: ")


def test_fields_at_their_bounds_pass() -> None:
    checked = check_fields(
        name="x" * 80, guidelines="line\n\tindented\r\nnext", crisis="c" * 2000, share_seconds=10
    )
    assert checked.guidelines == "line\n\tindented\nnext"
    assert check_fields(share_seconds=3600).share_seconds == 3600
    assert check_fields() == check_fields(name=None)


async def test_store_refuses_bad_fields(store: SqliteRoomStore) -> None:
    with pytest.raises(RoomDefError):
        await store.create("")
    room, _ = await store.create("Circle")
    with pytest.raises(RoomDefError):
        await store.update(room.id, share_seconds=1)
    assert await store.get(room.id) == room


def test_room_ids_are_url_path_safe_and_never_look_like_flags() -> None:
    for _ in range(500):
        room_id = new_room_id()
        assert room_id[0].isalnum()
        assert all(c.isalnum() or c in "-_" for c in room_id)


def test_issued_tokens_hide_themselves_in_repr() -> None:
    tokens = new_tokens()
    assert tokens.invite not in repr(tokens)
    assert tokens.facilitator not in repr(tokens)
