"""A room's regular meeting time in both room stores (SQLite and a real Redis): kept, changed,
dropped, refused when bad; and a SQLite file from before schedules existed opens, keeps its
rooms and links, and takes a schedule."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from server.room_store import RoomDefError, RoomStore, check_fields, token_hash
from server.room_store_redis import RedisRoomStore
from server.room_store_sqlite import FILENAME, SCHEMA_VERSION, SqliteRoomStore, StoreSchemaError
from server.schedule import check_schedule
from tests import redis_server
from tests.redis_server import RedisServer

WEEKLY = check_schedule(
    {
        "weekday": "tuesday",
        "time": "19:00",
        "duration_minutes": 90,
        "every_weeks": 1,
        "timezone": "Europe/Berlin",
    }
)
FORTNIGHTLY = check_schedule(
    {
        "weekday": "thursday",
        "time": "07:30",
        "duration_minutes": 60,
        "every_weeks": 2,
        "timezone": "America/New_York",
        "first_date": "2026-12-10",
    }
)


@pytest.fixture(scope="module")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    if not redis_server.available():
        pytest.skip("no redis-server")
    with RedisServer.launch(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(params=["sqlite", "redis"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[RoomStore]:
    s: RoomStore
    if request.param == "sqlite":
        s = SqliteRoomStore.in_data_dir(tmp_path / "data")
    else:
        s = RedisRoomStore(request.getfixturevalue("redis").url)
    yield s
    await s.close()


async def test_a_schedule_is_kept_and_read_back(store: RoomStore) -> None:
    room, tokens = await store.create("Circle", schedule=FORTNIGHTLY)
    assert room.schedule == FORTNIGHTLY
    assert await store.get(room.id) == room
    assert room in await store.list()
    assert await store.enter(room.id, tokens.invite) == (room, "member")
    plain, _ = await store.create("No rhythm")
    assert plain.schedule is None
    assert (await store.get(plain.id)) == plain


async def test_update_sets_changes_keeps_and_clears_the_schedule(store: RoomStore) -> None:
    room, _ = await store.create("Circle")
    changed = await store.update(room.id, schedule=WEEKLY)
    assert changed is not None
    assert changed.schedule == WEEKLY
    renamed = await store.update(room.id, name="Renamed")  # other fields keep it
    assert renamed is not None
    assert renamed.schedule == WEEKLY
    moved = await store.update(room.id, schedule=FORTNIGHTLY)
    assert moved is not None
    assert moved.schedule == FORTNIGHTLY
    cleared = await store.update(room.id, clear_schedule=True)
    assert cleared is not None
    assert cleared.schedule is None
    assert (await store.get(room.id)) == cleared
    assert await store.update("no-such-room", schedule=WEEKLY) is None


async def test_a_bad_schedule_is_refused_and_changes_nothing(store: RoomStore) -> None:
    room, _ = await store.create("Circle", schedule=WEEKLY)
    bad = {**WEEKLY.to_json(), "timezone": "Mars/Olympus"}
    with pytest.raises(RoomDefError) as caught:
        await store.update(room.id, schedule=check_fields(schedule=bad).schedule)
    assert caught.value.field == "schedule.timezone"
    assert (await store.get(room.id)) == room


def test_check_fields_names_the_schedule_field() -> None:
    with pytest.raises(RoomDefError, match=r"^schedule\.time: "):
        check_fields(schedule={**WEEKLY.to_json(), "time": "25:00"})
    with pytest.raises(RoomDefError, match=r"^schedule: must be an object"):
        check_fields(schedule="tuesday")
    with pytest.raises(RoomDefError, match=r"^schedule: cannot both"):
        check_fields(schedule=WEEKLY.to_json(), clear_schedule=True)
    assert check_fields(schedule=WEEKLY.to_json()).schedule == WEEKLY
    assert check_fields(clear_schedule=True).clear_schedule


# --- SQLite: a file from before schedules -------------------------------------------------------

VERSION_1 = """
CREATE TABLE rooms (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    guidelines TEXT NOT NULL,
    crisis TEXT NOT NULL,
    share_seconds INTEGER NOT NULL,
    created_at REAL NOT NULL,
    invite_hash TEXT NOT NULL,
    facilitator_hash TEXT NOT NULL
) STRICT
"""


def old_file(path: Path) -> None:
    """A rooms file exactly as Hearth with schema version 1 wrote it, with one room."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    try:
        conn.execute(VERSION_1)
        conn.execute(
            "INSERT INTO rooms VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            ("rOld1", "Old circle", "Be kind.", "Call 112", 240, 1.5, token_hash("inv"), "x"),
        )
        conn.execute("PRAGMA user_version = 1")
        conn.commit()
    finally:
        conn.close()


def version_and_columns(path: Path) -> tuple[int, list[str]]:
    conn = sqlite3.connect(path)
    try:
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        columns = [str(row[1]) for row in conn.execute("PRAGMA table_info(rooms)")]
    finally:
        conn.close()
    return int(version), columns


async def test_a_version_1_file_is_brought_up_to_date_and_keeps_its_rooms(tmp_path: Path) -> None:
    path = tmp_path / "data" / FILENAME
    old_file(path)
    store = SqliteRoomStore(path)
    try:
        (room,) = await store.list()
        assert (room.id, room.name, room.share_seconds, room.schedule) == (
            "rOld1",
            "Old circle",
            240,
            None,
        )
        assert await store.enter("rOld1", "inv") == (room, "member")
        updated = await store.update("rOld1", schedule=WEEKLY)
        assert updated is not None
        assert updated.schedule == WEEKLY
        fresh, _ = await store.create("New circle", schedule=FORTNIGHTLY)
    finally:
        await store.close()
    assert version_and_columns(path) == (
        SCHEMA_VERSION,
        [
            "id",
            "name",
            "guidelines",
            "crisis",
            "share_seconds",
            "created_at",
            "invite_hash",
            "facilitator_hash",
            "schedule",
        ],
    )
    again = SqliteRoomStore(path)  # opening an up-to-date file changes nothing
    try:
        assert [r.schedule for r in await again.list()] == [WEEKLY, FORTNIGHTLY]
        assert (await again.get(fresh.id)) == fresh
    finally:
        await again.close()


async def test_a_file_from_a_newer_hearth_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "data" / FILENAME
    old_file(path)
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    store = SqliteRoomStore(path)
    with pytest.raises(StoreSchemaError):
        await store.list()
    await store.close()
