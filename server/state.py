"""What one running node holds, reachable from any request or WebSocket of its app.

Rules of this module:
- Everything a node owns hangs off one `NodeState`, made by the app's lifespan and kept on
  `app.state.node`; there is no module-level mutable state anywhere in `server/`.
- The hooks (`live_counts`, `on_room_deleted`, `readiness`) start as what `create_app` was
  given and may be replaced by a lifespan hook once the thing they ask exists (a broker, a
  Redis client), e.g. `node_state(app).readiness = broker.ping`.
- Hooks must fail fast: callers bound them with short timeouts and treat an exception as
  "unavailable", never as a crash.
- `draining` turns true once, when the process is told to stop (server/drain.py), and never
  back: from then on the node is not ready and takes no one new. `move_everyone` is the
  drain's step that tells every seated member to resume elsewhere (server/meetings.py sets
  it); it must not wait on the members, only start their closes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import HTTPConnection

from server.metrics import Metrics
from server.room_store import RoomStore
from server.settings import Settings

LiveCounts = Callable[[str], Awaitable[tuple[int, int]]]
"""(members, waiting) of a room's meeting on this deployment; (0, 0) when none."""
RoomDeletedHook = Callable[[str], Awaitable[None]]
"""Called after a room's definition is deleted, to end its live meeting."""
ReadinessCheck = Callable[[], Awaitable[bool]]
"""True when this node can serve meetings (e.g. Redis answers)."""
LifespanHook = Callable[[Starlette], AbstractAsyncContextManager[None]]
"""Entered at start-up after the store and metrics exist, exited in reverse at shutdown."""
MoveEveryone = Callable[[], Awaitable[int]]
"""Close every seat on this node with the move code, keeping the seats; how many."""


async def no_live_counts(_room_id: str) -> tuple[int, int]:
    return (0, 0)


async def nothing_on_delete(_room_id: str) -> None:
    return None


async def always_ready() -> bool:
    return True


async def nobody_to_move() -> int:
    return 0


@dataclass(slots=True, eq=False)
class NodeState:
    settings: Settings
    store: RoomStore
    metrics: Metrics
    live_counts: LiveCounts = no_live_counts
    on_room_deleted: RoomDeletedHook = nothing_on_delete
    readiness: ReadinessCheck = always_ready
    move_everyone: MoveEveryone = nobody_to_move
    draining: bool = False


def node_state(source: Starlette | HTTPConnection) -> NodeState:
    """The NodeState of an app, or of the app serving a request or WebSocket."""
    app = source if isinstance(source, Starlette) else source.app
    node = getattr(app.state, "node", None)
    if not isinstance(node, NodeState):
        raise RuntimeError("the app's lifespan has not run: no NodeState on app.state")
    return node
