"""signaling/eager.py: a coroutine run at once, then by a task once it waits."""

from __future__ import annotations

import asyncio

import pytest

from signaling import eager


async def test_a_coroutine_that_never_waits_runs_to_the_end_with_no_task() -> None:
    done: list[str] = []

    async def quick() -> None:
        done.append("ran")

    tasks_before = len(asyncio.all_tasks())
    assert eager.start(quick()) is None
    assert done == ["ran"]
    assert len(asyncio.all_tasks()) == tasks_before


async def test_once_it_waits_a_task_goes_on_with_it_inside_that_task() -> None:
    gate: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    seen: list[object] = []

    async def waits() -> None:
        seen.append("before")
        seen.append(await gate)
        await asyncio.sleep(0)  # a bare yield to the loop passes through too
        seen.append(asyncio.current_task())

    task = eager.start(waits())
    assert task is not None
    assert seen == ["before"]  # ran up to the wait, in the caller's stack
    gate.set_result("answer")
    await task
    assert seen == ["before", "answer", task]


@pytest.mark.parametrize(
    ("gate_fails", "raised", "message"),
    [
        # the future's own exception, thrown into the coroutine, uncaught
        (True, KeyError, "from the future"),
        (False, ValueError, "boom"),  # the coroutine's own, raised once it goes on
    ],
)
async def test_an_exception_after_the_wait_ends_the_task_with_it(
    gate_fails: bool, raised: type[Exception], message: str
) -> None:
    gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def fails() -> None:
        await gate
        raise ValueError("boom")

    task = eager.start(fails())
    assert task is not None
    if gate_fails:
        gate.set_exception(KeyError("from the future"))
    else:
        gate.set_result(None)
    with pytest.raises(raised, match=message):
        await task


async def test_an_exception_before_any_wait_reaches_the_caller() -> None:
    async def fails() -> None:
        raise ValueError("at once")

    with pytest.raises(ValueError, match="at once"):
        eager.start(fails())


async def test_cancelling_the_task_cancels_the_coroutine_where_it_waits() -> None:
    cleaned: list[str] = []

    async def waits_forever() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cleaned.append("finally")

    task = eager.start(waits_forever())
    assert task is not None
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cleaned == ["finally"]


async def test_a_coroutine_that_handles_a_failed_wait_goes_on() -> None:
    gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    seen: list[str] = []

    async def recovers() -> None:
        try:
            await gate
        except KeyError:
            seen.append("handled")
        await asyncio.sleep(0)
        seen.append("after")

    task = eager.start(recovers())
    assert task is not None
    gate.set_exception(KeyError())
    await task
    assert seen == ["handled", "after"]
