"""The Starlette app of one node: its routes, its lifespan, its security headers.

Rules of this module:
- `create_app` is the only way to build the app; routes are one list, read top to bottom,
  and every route's dependencies come from `NodeState` (`server.state`), made by the
  lifespan. Nothing is global, so two apps can live in one process.
- Liveness (`/healthz`) depends on nothing but the process answering; readiness (`/readyz`)
  asks the injected check, bounded by a timeout, and any failure means "not ready".
- The lifespan opens the room store before the node says it is up, so a bad data directory
  fails at start, not at the first request. Extra subsystems (broker, timers) join through
  `lifespan_hooks`: entered in order after the store and metrics exist, exited in reverse.
- Every HTTP answer carries the security headers below; the web client needs no inline
  script, no third-party origin and no framing, and the CSP says so. Every answer is
  `no-store` but the static scripts, styles and images, which are `no-cache`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Final

import structlog
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.admin_api import admin_routes
from server.collector import settle_collector
from server.echo import echo_hook, echo_routes
from server.meetings import meetings_hook, signaling_node
from server.metrics import Metrics
from server.preview import preview
from server.room_store import RoomStore
from server.room_store_redis import RedisRoomStore
from server.room_store_sqlite import SqliteRoomStore
from server.settings import Settings
from server.state import (
    LifespanHook,
    LiveCounts,
    NodeState,
    ReadinessCheck,
    RoomDeletedHook,
    always_ready,
    no_live_counts,
    node_state,
    nothing_on_delete,
)
from server.ws import WebSocketEndpoint

WEB_DIR: Final = Path(__file__).resolve().parent.parent / "web_client"
READINESS_TIMEOUT_SECONDS: Final = 1.0

SECURITY_HEADERS: Final = {
    # connect-src 'self' covers the page's own ws:/wss: origin (CSP3, as Chromium and Firefox
    # implement it), so a script injected somehow still cannot talk to another host.
    "Content-Security-Policy": (
        "default-src 'self'; connect-src 'self'; img-src 'self' data: blob:; "
        "media-src 'self' blob:; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    # Camera and microphone for this origin only; features the client never uses, for none.
    "Permissions-Policy": (
        "camera=(self), microphone=(self), display-capture=(), geolocation=(), payment=(), usb=()"
    ),
}
# Only when people reach the node over https: said over http, it would be ignored at best.
HSTS: Final = ("Strict-Transport-Security", "max-age=31536000")
# Pages and API answers are never stored (an admin's room list, a room page); static scripts
# and styles may be kept but are checked with the node each time (no build step: no hashes
# in their names, so an upgrade must reach browsers at once).
NO_STORE: Final = "no-store"
REVALIDATE: Final = "no-cache"

log = structlog.get_logger("hearth.node")


def hearth_version() -> str:
    try:
        return version("hearth")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"


class SecurityHeaders:
    """ASGI middleware adding SECURITY_HEADERS (and HSTS when `https`) to every HTTP response
    that lacks them, and `Cache-Control: no-store` to every one that says nothing of caching
    (only the static files say otherwise, see Revalidate)."""

    def __init__(self, app: ASGIApp, https: bool = False) -> None:
        self.app = app
        self._headers = {**SECURITY_HEADERS, "Cache-Control": NO_STORE}
        if https:
            self._headers[HSTS[0]] = HSTS[1]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self._headers.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


class Revalidate:
    """ASGI wrapper of the static files: a script, style or image found is `no-cache` (kept,
    checked each time); an HTML page keeps the middleware's `no-store`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_cache(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] in (200, 304):
                headers = MutableHeaders(scope=message)
                if not headers.get("content-type", "").startswith("text/html"):
                    headers.setdefault("Cache-Control", REVALIDATE)
            await send(message)

        await self.app(scope, receive, send_with_cache)


async def healthz(_request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    if node_state(request).draining:  # at once, without asking anything (server/drain.py)
        return JSONResponse({"status": "draining"}, status_code=503)
    try:
        async with asyncio.timeout(READINESS_TIMEOUT_SECONDS):
            ready = await node_state(request).readiness()
    except Exception as exc:  # a check that fails or hangs means "not ready", not a 500
        log.warning("readiness check failed", exc_type=type(exc).__name__)
        ready = False
    if ready:
        return JSONResponse({"status": "ready"})
    return JSONResponse({"status": "not_ready"}, status_code=503)


async def metrics(request: Request) -> Response:
    body, content_type = node_state(request).metrics.render()
    return Response(body, headers={"Content-Type": content_type})


def open_store(settings: Settings) -> RoomStore:
    """Room definitions: in Redis when the node runs on one (so every node sees them), else
    a SQLite file under the data directory."""
    if settings.redis_url is not None:
        return RedisRoomStore(settings.redis_url)
    return SqliteRoomStore.in_data_dir(settings.data_dir)


def create_app(
    settings: Settings,
    *,
    store: RoomStore | None = None,
    lifespan_hooks: Sequence[LifespanHook] = (),
    extra_routes: Sequence[BaseRoute] = (),
    readiness: ReadinessCheck = always_ready,
    live_counts: LiveCounts = no_live_counts,
    on_room_deleted: RoomDeletedHook = nothing_on_delete,
    web_dir: Path = WEB_DIR,
) -> Starlette:
    """The node's ASGI app.

    `store`: a RoomStore the caller owns (not closed here); default, `open_store(settings)`,
    opened and closed by the lifespan. `lifespan_hooks`: each is called with the app and
    entered as an async context manager once `node_state(app)` exists; a hook may replace
    `readiness`, `live_counts` or `on_room_deleted` on it. `extra_routes` go where the
    WebSocket route belongs, ahead of the static files.
    """

    async def room_page(_request: Request) -> Response:
        # The same page for every room: whether a room exists is answered only to a hello
        # bearing a valid token, never to someone guessing URLs.
        return FileResponse(web_dir / "index.html", headers={"Cache-Control": NO_STORE})

    async def host_page(_request: Request) -> Response:
        # The host's page asks for the admin token itself (web_client/host.js) and keeps it
        # in the tab; the page alone tells nothing, and is never stored.
        return FileResponse(web_dir / "host.html", headers={"Cache-Control": NO_STORE})

    routes: list[BaseRoute] = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        # The connection check needs no token, so it sits above the /api mount, whose guard
        # answers 401 to every other path under /api.
        *echo_routes(),
        # The join page's look at a room before hello (server/preview.py); above the mount too.
        Route("/api/preview", preview, methods=["POST"]),
        *admin_routes(settings.admin_token, settings.admin_failures_per_minute),
        # The WebSocket route must stay above the static mount at "/", which matches every
        # path and would swallow /ws.
        WebSocketRoute("/ws", WebSocketEndpoint(signaling_node, settings.public_origin)),
        *extra_routes,
        Route("/r/{room}", room_page, methods=["GET"]),
        Route("/host", host_page, methods=["GET"]),
        Mount("/", app=Revalidate(StaticFiles(directory=web_dir, html=True)), name="web_client"),
    ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            room_store: RoomStore
            if store is None:
                room_store = open_store(settings)
                stack.push_async_callback(room_store.close)
            else:
                room_store = store
            rooms = len(await room_store.list())  # opens the store now, failing early
            app.state.node = NodeState(
                settings=settings,
                store=room_store,
                metrics=Metrics(),
                live_counts=live_counts,
                on_room_deleted=on_room_deleted,
                readiness=readiness,
            )
            for hook in (meetings_hook, echo_hook, *lifespan_hooks):
                await stack.enter_async_context(hook(app))
            log.info(
                "node started",
                version=hearth_version(),
                mode="redis" if settings.redis_url else "memory",
                host=settings.host,
                port=settings.port,
                rooms=rooms,
            )
            # Everything made so far (modules, the app, its hooks) lives as long as the
            # process: keep it out of the collector's walks, so a full collection only
            # visits what meetings create (bench/fanout: a 54 ms pause became 22 ms); and
            # let full collections come a tenth as often (server/collector.py).
            settle_collector()
            yield
            log.info("node stopping")

    return Starlette(
        routes=routes,
        middleware=[Middleware(SecurityHeaders, https=settings.https)],
        lifespan=lifespan,
    )
