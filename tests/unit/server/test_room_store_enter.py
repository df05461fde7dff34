"""Both room stores, SQLite and a real Redis: a hello's one read gives the room's definition
with the role its token grants, and a wrong token, an unknown room, a rotated or a deleted
room's token all get the same None."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from server.room_store import RoomStore
from server.room_store_redis import RedisRoomStore
from server.room_store_sqlite import SqliteRoomStore
from tests import redis_server
from tests.redis_server import RedisServer


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


async def test_enter_gives_the_definition_and_the_role(store: RoomStore) -> None:
    room, tokens = await store.create("Circle", guidelines="Be kind.", share_seconds=240)
    assert await store.enter(room.id, tokens.invite) == (room, "member")
    assert await store.enter(room.id, tokens.facilitator) == (room, "facilitator")


async def test_enter_refuses_every_wrong_way_in_alike(store: RoomStore) -> None:
    room, tokens = await store.create("Circle")
    other, other_tokens = await store.create("Other")
    assert await store.enter(room.id, "wrong") is None
    assert await store.enter(room.id, "") is None
    assert await store.enter("no-such-room", tokens.invite) is None
    assert await store.enter(room.id, other_tokens.facilitator) is None
    assert await store.enter(other.id, tokens.invite) is None


async def test_enter_sees_rotation_and_deletion_at_once(store: RoomStore) -> None:
    room, old = await store.create("Circle")
    rotated = await store.rotate(room.id)
    assert rotated is not None
    _, new = rotated
    assert await store.enter(room.id, old.invite) is None
    assert await store.enter(room.id, old.facilitator) is None
    assert await store.enter(room.id, new.facilitator) == (room, "facilitator")
    changed = await store.update(room.id, name="Renamed")
    assert await store.enter(room.id, new.invite) == (changed, "member")
    assert await store.delete(room.id)
    assert await store.enter(room.id, new.invite) is None
