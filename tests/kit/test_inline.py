"""run_inline: inline when nothing waits; a task that finishes the coroutine when something does."""

from __future__ import annotations

import asyncio

import pytest

from scoreboard.kit.inline import run_inline


async def test_a_coroutine_that_never_waits_runs_inside_the_call() -> None:
    done: list[str] = []

    async def write() -> None:
        done.append("written")

    assert run_inline(write()) is None
    assert done == ["written"]


async def test_a_coroutine_that_waits_on_an_event_is_finished_by_a_task() -> None:
    # The shape of uvicorn's send under flow control: await an Event, then write.
    writable, done = asyncio.Event(), []

    async def send() -> None:
        done.append("started")
        await writable.wait()
        await asyncio.sleep(0)
        done.append("written")

    task = run_inline(send())
    assert task is not None
    assert done == ["started"]
    await asyncio.sleep(0.01)
    assert not task.done()
    writable.set()
    await asyncio.wait_for(task, 1)
    assert done == ["started", "written"]


async def test_errors_after_the_wait_reach_the_task() -> None:
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def send() -> None:
        await future

    task = run_inline(send())
    assert task is not None
    future.set_exception(ConnectionResetError("gone"))
    with pytest.raises(ConnectionResetError):
        await asyncio.wait_for(task, 1)


async def test_cancelling_the_task_closes_the_coroutine() -> None:
    closed: list[bool] = []

    async def send() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            closed.append(True)

    task = run_inline(send())
    assert task is not None
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert closed == [True]
