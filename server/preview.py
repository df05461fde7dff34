"""`POST /api/preview`: what the join page shows before anyone says hello.

A person opening an invite link must read the group's guidelines (and see its crisis
resources) before accepting them, and `hello` needs `accept: true` with an invite token, so
the page asks for them first with the room id and the token from its link:

    POST /api/preview  {"room": "r8Qx...", "token": "..."}
    200 {"name", "guidelines", "crisis", "share_seconds", "role": "member" | "facilitator",
         "ice", "ice_policy",   the RTCIceServer list and policy for the connection check
         "schedule", "next_start", "calendar"}   the regular meeting time or null (below)
    404 {"error": "bad_token"}     unknown or deleted room, wrong or rotated token (one answer)
    429 {"error": "rate_limited"}  past `hello_per_minute` for this address
    400 {"error": "invalid"}       not a JSON object of two short strings

Rules: it answers only to a valid token, so it tells a guesser nothing `hello` would not;
each call counts as a hello attempt against the address's budget; nothing from the body is
logged; every answer is `no-store`.

A room with a regular meeting time (server/schedule.py) also answers `schedule` (its JSON
form), `next_start` (epoch seconds of the meeting now running or next to come, computed here
with the zone's rules, so the browser only formats it) and `calendar` (an RFC 5545 file the
page offers as a download: name and times only, no token, no link). Without one, all three
are null. The schedule is read apart from the token check; if that read fails, the page
still gets everything else, with the schedule null.
"""

from __future__ import annotations

import json
import time
from typing import Final

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from server.echo import browser_ice_servers
from server.meetings import signaling_node
from server.room_store_redis import RoomStoreUnavailable
from server.schedule import calendar_text, next_start
from server.state import node_state

MAX_BODY_BYTES: Final = 1024
MAX_FIELD_CHARS: Final = 128
NO_STORE: Final = {"Cache-Control": "no-store"}


def _answer(body: dict[str, object], status: int = 200) -> Response:
    return JSONResponse(body, status_code=status, headers=NO_STORE)


async def preview(request: Request) -> Response:
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY_BYTES:
            return _answer({"error": "invalid"}, 400)
    try:
        body = json.loads(raw)
    except ValueError:
        return _answer({"error": "invalid"}, 400)
    room = body.get("room") if isinstance(body, dict) else None
    token = body.get("token") if isinstance(body, dict) else None
    if not (isinstance(room, str) and isinstance(token, str)):
        return _answer({"error": "invalid"}, 400)
    if not (0 < len(room) <= MAX_FIELD_CHARS and 0 < len(token) <= MAX_FIELD_CHARS):
        return _answer({"error": "bad_token"}, 404)
    node = signaling_node(request.scope)
    address = request.client.host if request.client else "unknown"
    if not node.addresses.hello(address, time.monotonic()):
        return _answer({"error": "rate_limited"}, 429)
    entry = await node.directory.enter(room, token)
    if entry is None:
        return _answer({"error": "bad_token"}, 404)
    info, role = entry
    return _answer(
        {
            "name": info.name,
            "guidelines": info.guidelines,
            "crisis": info.crisis,
            "share_seconds": info.share_seconds,
            "role": role.value,
            # The pre-join check tries the host's STUN/TURN (short-lived credentials) with the
            # meeting's policy; only a valid link gets them (server/echo.py).
            "ice": browser_ice_servers(node_state(request).settings, time.time()),
            "ice_policy": node_state(request).settings.ice_policy,
            **await _schedule(request, room),
        }
    )


async def _schedule(request: Request, room: str) -> dict[str, object]:
    now = time.time()
    try:
        found = await node_state(request).store.get(room)
    except RoomStoreUnavailable:
        found = None
    if found is None or found.schedule is None:
        return {"schedule": None, "next_start": None, "calendar": None}
    return {
        "schedule": found.schedule.to_json(),
        "next_start": next_start(found.schedule, now),
        "calendar": calendar_text(found.schedule, room_id=found.id, name=found.name, now=now),
    }
