"""The admin API: room definitions over JSON, for the host and their tools.

Rules of this module:
- Authorisation comes first, for every path under /api, before routing, body parsing or any
  lookup: a request without the right `Authorization: Bearer <HEARTH_ADMIN_TOKEN>` gets the
  same 401 body whatever it asked for, so a 401 never hints at what exists. With no admin
  token configured, the API is off and answers 401 to everything.
- Guessing is slowed per address: past `admin_failures_per_minute` wrong tokens in a sliding
  minute, every request from that address (right token or not, so a guess's answer says
  nothing) gets 429 with Retry-After until the oldest failure ages out. Other addresses are
  unaffected. The address is the client's as uvicorn gives it, which trusts X-Forwarded-For
  only from configured proxies (server/settings.py).
- Bodies are closed schemas: a JSON object of at most 64 KiB with known keys only. Types and
  sizes are checked by `room_store.check_fields`, the one place room field rules live.
  `schedule` (server/schedule.py) is the one field that may be null: in PATCH, null drops it.
- Tokens appear only in the answers to create and rotate, and in no log: nothing from a
  request body is ever logged. Every answer carries `Cache-Control: no-store`.
- Errors are JSON: {"error": "unauthorized" | "not_found" | "invalid" | "too_large" |
  "unavailable" | "rate_limited", "message"?: text naming the field}.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Final

import structlog
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from server.room_store import (
    DEFAULT_SHARE_SECONDS,
    IssuedTokens,
    RoomDef,
    RoomDefError,
    RoomFields,
    check_fields,
)
from server.room_store_redis import RoomStoreUnavailable
from server.state import NodeState, node_state

MAX_BODY_BYTES: Final = 64 * 1024
ROOM_FIELDS: Final = ("name", "guidelines", "crisis", "share_seconds", "schedule")
# Fields whose JSON null means something ("none"), not "not given".
NULLABLE_FIELDS: Final = ("schedule",)
# A live-count backend that does not answer within this time is treated as down.
LIVE_COUNTS_TIMEOUT_SECONDS: Final = 2.0
NO_STORE: Final = {"Cache-Control": "no-store"}

log = structlog.get_logger("hearth.admin")


class ApiError(Exception):
    """An answer other than success; `message` is shown to the admin, never logged."""

    def __init__(self, status: int, error: str, message: str | None = None) -> None:
        super().__init__(status, error)
        self.status = status
        self.error = error
        self.message = message

    def response(self) -> JSONResponse:
        body: dict[str, str] = {"error": self.error}
        if self.message is not None:
            body["message"] = self.message
        return JSONResponse(body, status_code=self.status, headers=NO_STORE)


class WrongTokenBrake:
    """Wrong tokens per address in a sliding minute. Pure: time is an argument.

    Not echo.CheckRateLimit, which counts as it answers: here the question "is this address
    braked?" comes first, for every request, and only a failure is counted. Memory: at most
    `per_minute` floats per address that failed in the last minute; addresses whose
    failures aged out are dropped once a minute.
    """

    WINDOW = 60.0

    def __init__(self, per_minute: int) -> None:
        self._per_minute = per_minute
        self._failures: dict[str, deque[float]] = {}
        self._swept = -math.inf

    def wait(self, address: str, now: float) -> float | None:
        """Seconds until `address` may try again, or None when it may now."""
        if now - self._swept >= self.WINDOW:
            self._sweep(now)
        failures = self._failures.get(address)
        if failures is None:
            return None
        while failures and failures[0] <= now - self.WINDOW:
            failures.popleft()
        if len(failures) < self._per_minute:
            return None
        return failures[0] + self.WINDOW - now

    def failed(self, address: str, now: float) -> None:
        self._failures.setdefault(address, deque()).append(now)

    def tracked(self) -> int:
        return len(self._failures)

    def _sweep(self, now: float) -> None:
        self._swept = now
        for address, failures in list(self._failures.items()):
            if not failures or failures[-1] <= now - self.WINDOW:
                del self._failures[address]


def _rate_limited(wait: float) -> JSONResponse:
    return JSONResponse(
        {"error": "rate_limited"},
        status_code=429,
        headers={**NO_STORE, "Retry-After": str(max(1, math.ceil(wait)))},
    )


def _unauthorized() -> JSONResponse:
    return JSONResponse(
        {"error": "unauthorized"},
        status_code=401,
        headers={**NO_STORE, "WWW-Authenticate": "Bearer"},
    )


class BearerAuth:
    """ASGI middleware: pass only requests bearing the admin token; 401 the rest, alike;
    429 to an address that failed too often lately (WrongTokenBrake)."""

    def __init__(self, app: ASGIApp, token: str | None, failures_per_minute: int = 5) -> None:
        self.app = app
        self._expected = None if token is None else token.encode("utf-8")
        self._brake = WrongTokenBrake(failures_per_minute)

    def allows(self, header: str | None) -> bool:
        if self._expected is None or header is None:
            return False
        scheme, _, presented = header.partition(" ")
        presented = presented.strip()
        if scheme.lower() != "bearer" or not presented:
            return False
        # Header text is latin-1 decoded by Starlette: encoding it back gives the raw bytes.
        return hmac.compare_digest(presented.encode("latin-1"), self._expected)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # no WebSockets under /api; close without a word
            await send({"type": "websocket.close", "code": 1008})
            return
        client = scope.get("client")
        address = client[0] if client else "unknown"
        now = time.monotonic()
        wait = self._brake.wait(address, now)
        if wait is not None:
            log.warning("admin request refused", status=429)
            await _rate_limited(wait)(scope, receive, send)
        elif self.allows(Headers(scope=scope).get("authorization")):
            await self.app(scope, receive, send)
        else:
            self._brake.failed(address, now)
            log.warning("admin request refused", status=401)
            await _unauthorized()(scope, receive, send)


Endpoint = Callable[[Request, NodeState], Awaitable[Response]]


def _endpoint(handler: Endpoint) -> Callable[[Request], Awaitable[Response]]:
    """Give a handler its NodeState and turn ApiError / RoomDefError into JSON answers."""

    async def endpoint(request: Request) -> Response:
        try:
            response = await handler(request, node_state(request))
        except ApiError as exc:
            return exc.response()
        except RoomDefError as exc:
            return ApiError(400, "invalid", str(exc)).response()
        except RoomStoreUnavailable:
            return ApiError(503, "unavailable", "the room store did not answer").response()
        response.headers.update(NO_STORE)
        return response

    return endpoint


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


async def _read_object(request: Request) -> dict[str, object]:
    too_large = ApiError(413, "too_large", f"body: larger than {MAX_BODY_BYTES} bytes")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise too_large
    try:
        value = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError):  # RecursionError: absurdly nested arrays
        raise ApiError(400, "invalid", "body: not valid JSON") from None
    if not isinstance(value, dict):
        raise ApiError(400, "invalid", "body: must be a JSON object")
    unknown = sorted(str(key) for key in value if key not in ROOM_FIELDS)
    if unknown:
        shown = unknown[0] if len(unknown[0]) <= 40 else unknown[0][:37] + "..."
        raise ApiError(400, "invalid", f"{shown}: unknown field")
    for key, item in value.items():
        if item is None and key not in NULLABLE_FIELDS:
            raise ApiError(400, "invalid", f"{key}: must not be null")
    return value


def _checked(body: dict[str, object]) -> RoomFields:
    """check_fields over a body from `_read_object`; `"schedule": null` asks to drop it."""
    clear = "schedule" in body and body["schedule"] is None
    return check_fields(
        name=body.get("name"),
        guidelines=body.get("guidelines"),
        crisis=body.get("crisis"),
        share_seconds=body.get("share_seconds"),
        schedule=body.get("schedule"),
        clear_schedule=clear,
    )


def _public(room: RoomDef) -> dict[str, object]:
    return {
        "id": room.id,
        "name": room.name,
        "guidelines": room.guidelines,
        "crisis": room.crisis,
        "share_seconds": room.share_seconds,
        "schedule": None if room.schedule is None else room.schedule.to_json(),
    }


def _issued(node: NodeState, room: RoomDef, tokens: IssuedTokens) -> dict[str, object]:
    return {
        "id": room.id,
        "name": room.name,
        "invite": tokens.invite,
        "facilitator": tokens.facilitator,
        "invite_url": node.settings.room_url(room.id, tokens.invite),
        "facilitator_url": node.settings.room_url(room.id, tokens.facilitator),
    }


async def create_room(request: Request, node: NodeState) -> Response:
    body = await _read_object(request)
    if "name" not in body:
        raise ApiError(400, "invalid", "name: required")
    fields = _checked(body)
    assert fields.name is not None  # checked just above
    room, tokens = await node.store.create(
        fields.name,
        guidelines=fields.guidelines or "",
        crisis=fields.crisis or "",
        share_seconds=DEFAULT_SHARE_SECONDS
        if fields.share_seconds is None
        else fields.share_seconds,
        schedule=fields.schedule,
    )
    log.info("room created", room=room.id)
    return JSONResponse(
        _issued(node, room, tokens), status_code=201, headers={"Location": f"/api/rooms/{room.id}"}
    )


async def list_rooms(request: Request, node: NodeState) -> Response:
    rooms = await node.store.list()
    try:
        async with asyncio.timeout(LIVE_COUNTS_TIMEOUT_SECONDS):
            counts = await asyncio.gather(*(node.live_counts(room.id) for room in rooms))
    except Exception as exc:  # a broker outage must not look like a crash
        log.error("live counts unavailable", exc_type=type(exc).__name__)
        raise ApiError(
            503, "unavailable", "live counts: the meeting backend did not answer"
        ) from None
    return JSONResponse(
        {
            "rooms": [
                {**_public(room), "live": {"members": members, "waiting": waiting}}
                for room, (members, waiting) in zip(rooms, counts, strict=True)
            ]
        }
    )


def _room_id(request: Request) -> str:
    return str(request.path_params["room_id"])


async def get_room(request: Request, node: NodeState) -> Response:
    room = await node.store.get(_room_id(request))
    if room is None:
        raise ApiError(404, "not_found")
    return JSONResponse(_public(room))


async def update_room(request: Request, node: NodeState) -> Response:
    body = await _read_object(request)
    fields = _checked(body)
    room = await node.store.update(
        _room_id(request),
        name=fields.name,
        guidelines=fields.guidelines,
        crisis=fields.crisis,
        share_seconds=fields.share_seconds,
        schedule=fields.schedule,
        clear_schedule=fields.clear_schedule,
    )
    if room is None:
        raise ApiError(404, "not_found")
    log.info("room updated", room=room.id)
    return JSONResponse(_public(room))


async def delete_room(request: Request, node: NodeState) -> Response:
    room_id = _room_id(request)
    if not await node.store.delete(room_id):
        raise ApiError(404, "not_found")
    log.info("room deleted", room=room_id)
    try:
        await node.on_room_deleted(room_id)
    except Exception as exc:  # the definition is gone either way; say so, loudly, in the log
        log.error("room deleted hook failed", room=room_id, exc_type=type(exc).__name__)
    return Response(status_code=204)


async def rotate_room(request: Request, node: NodeState) -> Response:
    rotated = await node.store.rotate(_room_id(request))
    if rotated is None:
        raise ApiError(404, "not_found")
    room, tokens = rotated
    log.info("room tokens rotated", room=room.id)
    return JSONResponse(_issued(node, room, tokens))


def admin_routes(admin_token: str | None, failures_per_minute: int = 5) -> list[BaseRoute]:
    """The /api mount, guarded as a whole by the bearer token (None: API disabled), with
    wrong tokens braked per address past `failures_per_minute`."""
    return [
        Mount(
            "/api",
            routes=[
                Route("/rooms", _endpoint(create_room), methods=["POST"]),
                Route("/rooms", _endpoint(list_rooms), methods=["GET"]),
                Route("/rooms/{room_id}", _endpoint(get_room), methods=["GET"]),
                Route("/rooms/{room_id}", _endpoint(update_room), methods=["PATCH"]),
                Route("/rooms/{room_id}", _endpoint(delete_room), methods=["DELETE"]),
                Route("/rooms/{room_id}/rotate", _endpoint(rotate_room), methods=["POST"]),
            ],
            middleware=[
                Middleware(BearerAuth, token=admin_token, failures_per_minute=failures_per_minute)
            ],
        )
    ]
