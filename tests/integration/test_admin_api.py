"""The admin API and HTTP routes of a real node (uvicorn in a subprocess), over loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from server.app import WEB_DIR
from server.room_store_sqlite import SqliteRoomStore
from tests.integration.nodes import Node, NodeFactory

UNAUTHORIZED = {"error": "unauthorized"}
CREATE_FIELDS = {"id", "name", "invite", "facilitator", "invite_url", "facilitator_url"}
PUBLIC_FIELDS = {"id", "name", "guidelines", "crisis", "share_seconds", "schedule"}


@pytest.fixture
def node(node_factory: NodeFactory) -> Node:
    """These tests send dozens of wrong tokens on purpose, to see every 401 alike: lift the
    brake on wrong tokens (tests/integration/test_field_http.py checks it)."""
    return node_factory(env={"HEARTH_ADMIN_FAILURES_PER_MINUTE": "10000"})


@pytest.fixture
async def api(node: Node) -> AsyncIterator[httpx.AsyncClient]:
    """A client bearing the node's admin token; trust_env=False keeps proxies out."""
    async with httpx.AsyncClient(
        base_url=node.url, headers=node.auth, trust_env=False, timeout=5
    ) as client:
        yield client


@pytest.fixture
async def anon(node: Node) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=node.url, trust_env=False, timeout=5) as client:
        yield client


async def create(api: httpx.AsyncClient, **body: object) -> dict[str, object]:
    answer = await api.post("/api/rooms", json={"name": "Tuesday circle", **body})
    assert answer.status_code == 201, answer.text
    created: dict[str, object] = answer.json()
    return created


async def test_create_get_list_patch_delete(node: Node, api: httpx.AsyncClient) -> None:
    created = await create(api, guidelines="Listen.", crisis="Call 112", share_seconds=240)
    assert set(created) == CREATE_FIELDS
    room_id = created["id"]
    assert created["invite_url"] == f"{node.url}/r/{room_id}#{created['invite']}"
    assert created["facilitator_url"] == f"{node.url}/r/{room_id}#{created['facilitator']}"

    got = await api.get(f"/api/rooms/{room_id}")
    assert got.status_code == 200
    assert got.json() == {
        "id": room_id,
        "name": "Tuesday circle",
        "guidelines": "Listen.",
        "crisis": "Call 112",
        "share_seconds": 240,
        "schedule": None,
    }
    assert got.headers["cache-control"] == "no-store"

    listed = (await api.get("/api/rooms")).json()
    assert listed == {"rooms": [{**got.json(), "live": {"members": 0, "waiting": 0}}]}

    patched = await api.patch(f"/api/rooms/{room_id}", json={"name": "Thursday circle"})
    assert patched.status_code == 200
    assert patched.json() == {**got.json(), "name": "Thursday circle"}
    assert (await api.patch(f"/api/rooms/{room_id}", json={})).json() == patched.json()

    deleted = await api.delete(f"/api/rooms/{room_id}")
    assert deleted.status_code == 204
    assert (await api.get(f"/api/rooms/{room_id}")).status_code == 404
    assert (await api.get("/api/rooms")).json() == {"rooms": []}


async def test_rotate_issues_new_tokens_and_revokes_the_old(
    node: Node, api: httpx.AsyncClient
) -> None:
    created = await create(api)
    rotated = await api.post(f"/api/rooms/{created['id']}/rotate")
    assert rotated.status_code == 200
    fresh = rotated.json()
    assert set(fresh) == CREATE_FIELDS
    assert fresh["id"] == created["id"]
    assert {fresh["invite"], fresh["facilitator"]}.isdisjoint(
        {created["invite"], created["facilitator"]}
    )
    # What the node will check at hello: the store in its data directory.
    store = SqliteRoomStore.in_data_dir(node.data_dir)
    try:
        room_id = str(created["id"])
        room = await store.get(room_id)
        assert room is not None
        assert await store.enter(room_id, str(created["invite"])) is None
        assert await store.enter(room_id, str(created["facilitator"])) is None
        assert await store.enter(room_id, str(fresh["invite"])) == (room, "member")
        assert await store.enter(room_id, str(fresh["facilitator"])) == (room, "facilitator")
    finally:
        await store.close()


async def test_get_list_and_patch_never_return_tokens(api: httpx.AsyncClient) -> None:
    created = await create(api)
    tokens = [str(created["invite"]), str(created["facilitator"])]
    answers = [
        await api.get(f"/api/rooms/{created['id']}"),
        await api.get("/api/rooms"),
        await api.patch(f"/api/rooms/{created['id']}", json={"crisis": "x"}),
    ]
    for answer in answers:
        assert not any(token in answer.text for token in tokens)
    assert set(answers[0].json()) == PUBLIC_FIELDS


async def test_unknown_room_is_404(api: httpx.AsyncClient) -> None:
    for method, path, body in [
        ("GET", "/api/rooms/nope", None),
        ("PATCH", "/api/rooms/nope", {"name": "x"}),
        ("DELETE", "/api/rooms/nope", None),
        ("POST", "/api/rooms/nope/rotate", None),
    ]:
        answer = await api.request(method, path, json=body)
        assert answer.status_code == 404, (method, path)
        assert answer.json() == {"error": "not_found"}


async def test_401_is_the_same_whatever_was_asked(
    node: Node, anon: httpx.AsyncClient, api: httpx.AsyncClient
) -> None:
    existing = (await create(api))["id"]
    wrong = {"Authorization": "Bearer not-the-admin-token-at-all"}
    headers_variants: list[dict[str, str]] = [
        {},
        wrong,
        {"Authorization": node.admin_token},  # no scheme
        {"Authorization": f"Basic {node.admin_token}"},
        {"Authorization": "Bearer"},
        {"Authorization": f"Bearer {node.admin_token}x"},
    ]
    requests = [
        ("GET", "/api/rooms"),
        ("POST", "/api/rooms"),
        ("GET", f"/api/rooms/{existing}"),
        ("GET", "/api/rooms/does-not-exist"),
        ("DELETE", f"/api/rooms/{existing}"),
        ("POST", "/api/rooms/does-not-exist/rotate"),
        ("GET", "/api/no-such-route"),
    ]
    bodies = set()
    for headers in headers_variants:
        for method, path in requests:
            answer = await anon.request(method, path, headers=headers, json={"name": "x"})
            assert answer.status_code == 401, (headers, method, path)
            assert answer.json() == UNAUTHORIZED
            assert answer.headers["www-authenticate"] == "Bearer"
            bodies.add(answer.content)
    assert len(bodies) == 1
    # Nothing was changed by all that.
    assert (await api.get(f"/api/rooms/{existing}")).status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", "body"),
        (b"[1, 2]", "body"),
        (b'"a string"', "body"),
        (b'{"name": NaN}', "body"),
        (b"{}", "name"),
        (b'{"name": 42}', "name"),
        (b'{"name": null}', "name"),
        (b'{"name": "' + b"x" * 81 + b'"}', "name"),
        (b'{"name": "ok", "guidelines": ["x"]}', "guidelines"),
        (b'{"name": "ok", "crisis": "' + b"c" * 2001 + b'"}', "crisis"),
        (b'{"name": "ok", "share_seconds": "180"}', "share_seconds"),
        (b'{"name": "ok", "share_seconds": 5}', "share_seconds"),
        (b'{"name": "ok", "owner": "me"}', "owner"),
    ],
)
async def test_bad_create_bodies_are_400_naming_the_field(
    api: httpx.AsyncClient, body: bytes, field: str
) -> None:
    answer = await api.post(
        "/api/rooms", content=body, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid"
    assert answer.json()["message"].startswith(f"{field}: ")
    assert (await api.get("/api/rooms")).json() == {"rooms": []}


async def test_bad_patch_bodies_are_400_and_change_nothing(api: httpx.AsyncClient) -> None:
    created = await create(api)
    path = f"/api/rooms/{created['id']}"
    before = (await api.get(path)).json()
    for body in [{"topic": "x"}, {"name": ""}, {"share_seconds": True}, {"name": "y" * 81}]:
        answer = await api.patch(path, json=body)
        assert answer.status_code == 400, body
        assert answer.json()["error"] == "invalid"
    assert (await api.patch(path, content=b"nope")).status_code == 400
    assert (await api.get(path)).json() == before


async def test_bodies_over_64_kib_are_413(api: httpx.AsyncClient) -> None:
    answer = await api.post("/api/rooms", json={"name": "x", "guidelines": "g" * 70_000})
    assert answer.status_code == 413


async def test_health_readiness_and_metrics(anon: httpx.AsyncClient) -> None:
    health = await anon.get("/healthz")
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}
    ready = await anon.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready"}
    metrics = await anon.get("/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    for name in (
        "hearth_connections",
        "hearth_rooms_live",
        "hearth_frames_in_total",
        "hearth_frames_out_total",
        "hearth_fanout_seconds_bucket",
        'hearth_resumes_total{outcome="replay"}',
        'hearth_gc_pause_seconds_count{generation="2"}',
    ):
        assert name in metrics.text


async def test_web_client_and_room_page_with_security_headers(anon: httpx.AsyncClient) -> None:
    index = await anon.get("/")
    assert index.status_code == 200
    assert index.headers["content-type"].startswith("text/html")
    assert index.text == (WEB_DIR / "index.html").read_text()
    csp = index.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "connect-src 'self';" in csp  # CSP3: 'self' covers the page's own ws: and wss:
    assert "unsafe-inline" not in csp
    assert index.headers["referrer-policy"] == "no-referrer"
    assert index.headers["x-content-type-options"] == "nosniff"
    assert index.headers["permissions-policy"].startswith("camera=(self), microphone=(self)")
    assert index.headers["cache-control"] == "no-store"
    assert "server" not in index.headers

    page = await anon.get("/r/any-room-id")
    assert page.status_code == 200
    assert page.text == index.text
    assert page.headers["content-security-policy"] == csp

    css = await anon.get("/style.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert css.headers["cache-control"] == "no-cache"


async def test_logs_are_json_and_hold_no_tokens_or_names(
    node: Node, api: httpx.AsyncClient
) -> None:
    created = await create(api, guidelines="Private guidelines text")
    await api.patch(f"/api/rooms/{created['id']}", json={"name": "Secret Name Circle"})
    await api.post(f"/api/rooms/{created['id']}/rotate")
    async with httpx.AsyncClient(base_url=node.url, trust_env=False) as anon:
        await anon.get("/api/rooms", headers={"Authorization": "Bearer guess-guess-guess"})
    logs = node.log_text()
    assert '"event": "node started"' in logs
    assert '"event": "room created"' in logs
    for secret in (
        created["invite"],
        created["facilitator"],
        node.admin_token,
        "guess-guess-guess",
        "Tuesday circle",
        "Secret Name Circle",
        "Private guidelines",
        "127.0.0.1:",  # client addresses: no access log
    ):
        assert str(secret) not in logs
