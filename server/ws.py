"""The WebSocket endpoint at `/ws`: a thin pump between ASGI and a signaling `Connection`.

It refuses a handshake whose `Origin` is not this node's own page (cross-site WebSocket
hijacking: another site's page, opened by a member, connecting with the member's network
position), counts the connection against its address's cap (refusing the handshake past it),
picks the fastest outlet the server offers (`hearth.outlet`, see server/ws_protocol.py; any
other ASGI server gets a queued outlet), and logs one line when a connection opens and one when it
closes: ids and counts only, never an address, an origin, a name, a token or a payload.

Origins: with a public URL, only its origin; without one (`make run`, tests), only loopback
pages over http. A handshake with no `Origin` passes: browsers always send one on a
WebSocket, so its absence means a non-browser client (the Python client, the benchmarks),
which a cross-site page cannot be.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Iterable

import structlog
from starlette.types import Message, Receive, Scope, Send

from server.ws_protocol import INLET_EXTENSION, OUTLET_EXTENSION
from signaling.closes import Close
from signaling.connection import Connection
from signaling.node import Node
from signaling.outlet import Outlet, QueueOutlet

log = structlog.get_logger("hearth.ws")

NodeLookup = Callable[[Scope], Node]
# http://127.x.y.z, http://localhost, http://[::1], any port: a page served by this machine.
LOOPBACK_ORIGIN = re.compile(rb"http://(127(\.[0-9]{1,3}){3}|localhost|\[::1\])(:[0-9]{1,5})?")
REFUSED_ORIGIN = "bad_origin"  # its count in hearth_errors_total


def origin_allowed(headers: Iterable[tuple[bytes, bytes]], public_origin: str | None) -> bool:
    """True when every `Origin` header (usually one, often none) is the public URL's origin,
    or, with no public URL, a loopback one. Compared as browsers send it: lower case
    scheme and host, the default port left out."""
    wanted = None if public_origin is None else public_origin.encode("ascii")
    for name, value in headers:
        if name != b"origin":
            continue
        value = value.strip().lower()
        if wanted is not None:
            if value != wanted:
                return False
        elif LOOPBACK_ORIGIN.fullmatch(value) is None:
            return False
    return True


class WebSocketEndpoint:
    """An ASGI app for one route; `node` is looked up per connection from the app state.
    `public_origin` (Settings.public_origin) is the only page origin allowed; None: loopback
    pages only."""

    def __init__(self, node_of: NodeLookup, public_origin: str | None = None) -> None:
        self._node_of = node_of
        self._public_origin = public_origin

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        node = self._node_of(scope)
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        if not origin_allowed(scope.get("headers", ()), self._public_origin):
            node.telemetry.error(REFUSED_ORIGIN)
            log.info("connection refused", reason="origin")
            await send({"type": "websocket.close", "code": Close.POLICY})  # before accept: a 403
            return
        client = scope.get("client")
        address = client[0] if client else "unknown"
        if not node.addresses.connect(address):
            await send({"type": "websocket.close", "code": Close.POLICY})  # before accept: a 403
            return
        conn_id = secrets.token_hex(4)
        started = time.monotonic()
        queue_outlet: QueueOutlet | None = None
        conn: Connection | None = None
        node.telemetry.connections(1)
        try:
            await send({"type": "websocket.accept"})
            # The handshake's headers are never read again; don't keep them for hours.
            scope["headers"] = []
            outlet: Outlet | None = scope.get("extensions", {}).get(OUTLET_EXTENSION)
            if outlet is None:
                outlet = queue_outlet = QueueOutlet(send, node.limits.outbound_bytes)
            conn = Connection(node, outlet, address)
            # At debug: the closing line says all of it (and the time the connection lasted),
            # and one line per connection, not two, is half the logging cost of a crowd
            # joining at once (about 8 % of a node's CPU while 5,000 members joined).
            log.debug("connection opened", conn=conn_id)

            async def next_frame() -> bytes | str | None:
                msg: Message = await receive()
                if msg["type"] != "websocket.receive":
                    return None
                data: bytes | str | None = msg.get("bytes")
                return data if data is not None else msg.get("text")

            await conn.run(next_frame, scope.get("extensions", {}).get(INLET_EXTENSION))
        finally:
            node.telemetry.connections(-1)
            node.addresses.disconnect(address, time.monotonic())
            if queue_outlet is not None:
                await queue_outlet.finish()
            log.info(
                "connection closed",
                conn=conn_id,
                room=conn.room if conn else None,
                member=conn.member if conn else None,
                count=conn.frames_in if conn else 0,
                code=conn.close_code if conn else None,
                duration_ms=round((time.monotonic() - started) * 1000),
            )
