"""Run a coroutine at once, in the caller's own stack, until it first has to wait.

Why: a frame handled in the read callback that brought it costs no task switch and no
extra turn of the event loop, which on the fan-out path was a tenth of a node's Python
work per chat (docs/performance.md). Python 3.12 has this built in (eager tasks); 3.11,
which Hearth supports, does not.

`start(coro)` runs `coro` now. If it finishes without waiting, no task ever exists. If it
waits, a task takes it over from that point, exactly as if it had been awaited inside that
task all along: results, exceptions and cancellation pass through unchanged. The part
before the first wait runs outside any task, so it must not need one (`asyncio.timeout`
does): callers use this only where nothing waits on the way (`Broker.inline`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Generator
from typing import Any

Frame = Coroutine[Any, Any, None]


def start(coro: Frame) -> asyncio.Task[None] | None:
    """Run `coro` until it waits; None if it finished, else the task that goes on with it.

    An exception raised before the first wait propagates to the caller."""
    try:
        waiting_on = coro.send(None)
    except StopIteration:
        return None
    return asyncio.get_running_loop().create_task(_rest(coro, waiting_on))


async def _rest(coro: Frame, waiting_on: Any) -> None:
    await _Resumed(coro, waiting_on)


class _Resumed:
    """Awaitable that hands the task what `coro` waits on, and the outcome back to it."""

    __slots__ = ("_coro", "_waiting_on")

    def __init__(self, coro: Frame, waiting_on: Any) -> None:
        self._coro = coro
        self._waiting_on = waiting_on

    def __await__(self) -> Generator[Any, Any, None]:
        coro, waiting_on = self._coro, self._waiting_on
        while True:
            try:
                answer = yield waiting_on
            except BaseException as exc:  # the task was cancelled, or a future failed
                try:
                    waiting_on = coro.throw(exc)
                except StopIteration:
                    return
            else:
                try:
                    waiting_on = coro.send(answer)
                except StopIteration:
                    return
