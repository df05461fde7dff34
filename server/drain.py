"""Graceful drain: on SIGTERM a node hands its members to the others and exits, quickly.

Hosts upgrade by draining one node at a time, so a drain must cost nobody their seat. The
sequence, in `DrainingServer` (uvicorn's `Server`, whose own shutdown would send every
WebSocket a bare 1012 and let the meetings hook close seats only after uvicorn had stopped):
1. In the signal handler itself, `NodeState.draining` turns true: from that instant `/readyz`
   answers 503, so a load balancer's health check takes the node out.
2. At the server's next tick (at most 0.1 s on), the listening sockets close: a new
   connection is refused, which a proxy retries on another upstream (Caddy's
   `lb_try_duration`), where a 503 or a refused handshake it would hand to the client.
3. `NodeState.move_everyone` closes every seat with `Close.MOVING` (1012) and a reason, and
   keeps the seat; this node's timers stop, so the other nodes fire its deadlines
   (server/meetings.py says how the seats are handed over). Clients resume at once, on
   another node. Idle HTTP keep-alive connections, and sockets that never said hello, are
   closed as uvicorn does.
4. The node waits up to `Settings.drain_seconds` for every socket to close and every command
   under way to finish (its result is stored before its connection's task ends), cancels
   what is left, runs the lifespan's shutdown (the broker closes and its Redis key goes), and
   exits 0: the signal was handled, so uvicorn's re-raising of it is dropped.
A second SIGINT still forces an exit, as uvicorn's does.

With the memory broker there is no other node: the node still drains and exits cleanly, and
its meetings end with the process.
"""

from __future__ import annotations

import asyncio
import socket
import time
from types import FrameType

import structlog
import uvicorn
from starlette.applications import Starlette

from server.state import NodeState

log = structlog.get_logger("hearth.drain")


def begin_drain(app: Starlette) -> NodeState | None:
    """Mark the node draining (not ready, taking no one new); its NodeState, or None before
    the lifespan made one. Safe in a signal handler: it only sets a flag."""
    node = getattr(app.state, "node", None)
    if not isinstance(node, NodeState):
        return None
    node.draining = True
    return node


class DrainingServer(uvicorn.Server):
    """uvicorn's server, stopping by the drain sequence above."""

    def __init__(self, config: uvicorn.Config, app: Starlette, drain_seconds: float) -> None:
        super().__init__(config)
        self._app = app
        self.drain_seconds = drain_seconds

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        begin_drain(self._app)  # before the loop wakes: the next /readyz already says 503
        super().handle_exit(sig, frame)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        started = time.monotonic()
        deadline = started + self.drain_seconds
        node = begin_drain(self._app)  # also when stopped another way than a signal
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        moved = 0
        if node is not None:
            try:
                async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                    moved = await node.move_everyone()
            except Exception as exc:  # the rest of the sequence must still run
                log.warning("drain: moving members failed", exc_type=type(exc).__name__)
        log.info("node draining", count=moved)
        for connection in list(self.server_state.connections):
            # A WebSocket told to move is finishing its closing handshake (bounded by its
            # close timeout): cutting it now could lose the close frame's reason. The rest,
            # idle keep-alives and sockets that never said hello, close as uvicorn's would.
            if not getattr(connection, "close_sent", False):
                connection.shutdown()
        try:
            async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                await self._wait_tasks_to_complete()
        except TimeoutError:
            log.warning(
                "drain: time is up",
                count=len(self.server_state.connections),
                tasks=len(self.server_state.tasks),
            )
            for connection in list(self.server_state.connections):
                connection.shutdown()
            for task in self.server_state.tasks:
                task.cancel(msg="drain time is up")
        if not self.force_exit:
            await self.lifespan.shutdown()
        log.info("node drained", duration_ms=round((time.monotonic() - started) * 1000))
        # uvicorn re-raises the signal it caught once serving ends, so the process would die
        # of it (status 143); a drained node has handled it and exits 0.
        self._captured_signals.clear()
