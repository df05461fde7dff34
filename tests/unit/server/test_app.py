"""The app in-process: lifespan, hooks and their failure modes.

Driven by httpx's ASGITransport inside the app's own lifespan context, rather than
Starlette's TestClient, which warns (an error here) when used with `httpx` instead of
`httpx2`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from server.app import create_app
from server.room_store_sqlite import SqliteRoomStore
from server.settings import Settings
from server.state import LifespanHook, node_state

TOKEN = "unit-test-admin-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", admin_token=TOKEN, port=8123)


@asynccontextmanager
async def running(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan entered, and a client that talks to it in-process."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hearth.test") as c:
            yield c


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with running(create_app(settings(tmp_path))) as c:
        yield c


async def test_lifespan_keeps_node_state_and_opens_the_store(tmp_path: Path) -> None:
    app = create_app(settings(tmp_path))
    async with running(app) as c:
        node = node_state(app)
        assert isinstance(node.store, SqliteRoomStore)
        assert node.settings.port == 8123
        assert (await c.get("/healthz")).json() == {"status": "ok"}
        assert (tmp_path / "data" / "rooms.sqlite3").exists()


def recording_hook(name: str, calls: list[str]) -> LifespanHook:
    @asynccontextmanager
    async def run(app: Starlette) -> AsyncIterator[None]:
        assert node_state(app).metrics is not None
        calls.append(f"enter {name}")
        yield
        calls.append(f"exit {name}")

    return run


async def test_lifespan_hooks_run_in_order_and_unwind_in_reverse(tmp_path: Path) -> None:
    calls: list[str] = []
    hooks = [recording_hook("a", calls), recording_hook("b", calls)]
    async with running(create_app(settings(tmp_path), lifespan_hooks=hooks)):
        assert calls == ["enter a", "enter b"]
    assert calls == ["enter a", "enter b", "exit b", "exit a"]


async def test_a_hook_may_replace_the_readiness_check(tmp_path: Path) -> None:
    async def not_ready() -> bool:
        return False

    @asynccontextmanager
    async def broker(app: Starlette) -> AsyncIterator[None]:
        node_state(app).readiness = not_ready
        yield

    async with running(create_app(settings(tmp_path), lifespan_hooks=[broker])) as c:
        answer = await c.get("/readyz")
    assert answer.status_code == 503
    assert answer.json() == {"status": "not_ready"}


@pytest.mark.parametrize("behaviour", ["false", "raise", "hang"])
async def test_readiness_failures_answer_503(tmp_path: Path, behaviour: str) -> None:
    async def check() -> bool:
        if behaviour == "raise":
            raise ConnectionError("redis down")
        if behaviour == "hang":
            await asyncio.sleep(30)
        return False

    async with running(create_app(settings(tmp_path), readiness=check)) as c:
        started = time.monotonic()
        answer = await c.get("/readyz")
        elapsed = time.monotonic() - started
    assert answer.status_code == 503
    assert answer.json() == {"status": "not_ready"}
    assert elapsed < 5


async def test_ready_by_default(client: httpx.AsyncClient) -> None:
    assert (await client.get("/readyz")).json() == {"status": "ready"}


async def test_live_counts_and_delete_hook_are_used(tmp_path: Path) -> None:
    deleted: list[str] = []

    async def live(room_id: str) -> tuple[int, int]:
        return (4, 1)

    async def on_deleted(room_id: str) -> None:
        deleted.append(room_id)

    app = create_app(settings(tmp_path), live_counts=live, on_room_deleted=on_deleted)
    async with running(app) as c:
        room = (await c.post("/api/rooms", json={"name": "Circle"}, headers=AUTH)).json()
        listed = (await c.get("/api/rooms", headers=AUTH)).json()["rooms"]
        assert listed[0]["live"] == {"members": 4, "waiting": 1}
        assert (await c.delete(f"/api/rooms/{room['id']}", headers=AUTH)).status_code == 204
    assert deleted == [room["id"]]


async def test_failing_hooks_do_not_crash_the_api(tmp_path: Path) -> None:
    async def live(room_id: str) -> tuple[int, int]:
        raise ConnectionError("broker down")

    async def on_deleted(room_id: str) -> None:
        raise ConnectionError("broker down")

    app = create_app(settings(tmp_path), live_counts=live, on_room_deleted=on_deleted)
    async with running(app) as c:
        room = (await c.post("/api/rooms", json={"name": "Circle"}, headers=AUTH)).json()
        listing = await c.get("/api/rooms", headers=AUTH)
        assert listing.status_code == 503
        assert listing.json()["error"] == "unavailable"
        assert (await c.delete(f"/api/rooms/{room['id']}", headers=AUTH)).status_code == 204


async def test_extra_routes_come_before_the_static_files(tmp_path: Path) -> None:
    async def probe(_request: Request) -> Response:
        return PlainTextResponse("probe")

    app = create_app(settings(tmp_path), extra_routes=[Route("/probe", probe)])
    async with running(app) as c:
        assert (await c.get("/probe")).text == "probe"


async def test_an_injected_store_is_used_and_left_open(tmp_path: Path) -> None:
    store = SqliteRoomStore(tmp_path / "own.sqlite3")
    async with running(create_app(settings(tmp_path), store=store)) as c:
        created = await c.post("/api/rooms", json={"name": "Mine"}, headers=AUTH)
        assert created.status_code == 201
    # The caller owns the store: it still answers after the app stopped.
    assert [room.name for room in await store.list()] == ["Mine"]
    await store.close()


async def test_admin_api_disabled_without_a_token(tmp_path: Path) -> None:
    async with running(create_app(Settings(data_dir=tmp_path))) as c:
        answer = await c.get("/api/rooms", headers={"Authorization": "Bearer "})
        assert answer.status_code == 401
        assert answer.json() == {"error": "unauthorized"}
        assert (await c.get("/api/rooms", headers=AUTH)).status_code == 401


async def test_bodies_past_64_kib_get_413(client: httpx.AsyncClient) -> None:
    big = b'{"name": "' + b"x" * (64 * 1024) + b'"}'
    assert (await client.post("/api/rooms", content=big, headers=AUTH)).status_code == 413

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: checked while streaming
        yield b'{"name": "'
        for _ in range(70):
            yield b"x" * 1024
        yield b'"}'

    answer = await client.post("/api/rooms", content=chunks(), headers=AUTH)
    assert answer.status_code == 413
    assert answer.json()["error"] == "too_large"


async def test_deeply_nested_json_is_invalid_not_a_crash(client: httpx.AsyncClient) -> None:
    answer = await client.post("/api/rooms", content=b"[" * 60000, headers=AUTH)
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid"


async def test_metrics_are_per_app(tmp_path: Path) -> None:
    first = create_app(settings(tmp_path / "1"))
    second = create_app(settings(tmp_path / "2"))
    async with running(first) as a, running(second) as b:
        node_state(first).metrics.connections.set(3)
        assert "hearth_connections 3.0" in (await a.get("/metrics")).text
        assert "hearth_connections 0.0" in (await b.get("/metrics")).text
