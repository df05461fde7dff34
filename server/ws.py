"""The WebSocket endpoint at `/ws`: a thin pump between ASGI and a signaling `Connection`.

It counts the connection against its address's cap (refusing the handshake past it), picks
the fastest outlet the server offers (`hearth.outlet`, see server/ws_protocol.py; any other
ASGI server gets a queued outlet), and logs one line when a connection opens and one when it
closes: ids and counts only, never an address, a name, a token or a payload.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

import structlog
from starlette.types import Message, Receive, Scope, Send

from server.ws_protocol import INLET_EXTENSION, OUTLET_EXTENSION
from signaling.connection import Connection
from signaling.node import Node
from signaling.outlet import Outlet, QueueOutlet

log = structlog.get_logger("hearth.ws")

NodeLookup = Callable[[Scope], Node]


class WebSocketEndpoint:
    """An ASGI app for one route; `node` is looked up per connection from the app state."""

    def __init__(self, node_of: NodeLookup) -> None:
        self._node_of = node_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        node = self._node_of(scope)
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        client = scope.get("client")
        address = client[0] if client else "unknown"
        if not node.addresses.connect(address):
            await send({"type": "websocket.close", "code": 1008})  # before accept: a 403
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
