"""The service's processes run their coroutines on uvloop (installed with uvicorn[standard])."""

from __future__ import annotations

import asyncio

import pytest
import uvloop

from vpp.kit import eventloop


async def _loop_type() -> type:
    await asyncio.sleep(0)
    return type(asyncio.get_running_loop())


def test_run_returns_the_result_on_uvloop() -> None:
    assert eventloop.run(_loop_type()) is uvloop.Loop


def test_run_propagates_the_exception() -> None:
    async def fail() -> None:
        raise LookupError("lost")

    with pytest.raises(LookupError, match="lost"):
        eventloop.run(fail())


def test_cancel_and_wait_ends_a_task_that_ignored_its_first_cancellation() -> None:
    """What asyncio.wait_for does on 3.11 when an answer and a cancel meet: the cancel is
    dropped, and the loop around it carries on."""
    rounds: list[int] = []

    async def stubborn() -> None:
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                if not rounds:
                    rounds.append(1)  # swallowed once, like wait_for's answer
                    continue
                raise

    async def main() -> tuple[bool, int]:
        task = asyncio.create_task(stubborn())
        await asyncio.sleep(0)
        async with asyncio.timeout(5):
            await eventloop.cancel_and_wait(task, None)
        return task.cancelled(), len(rounds)

    assert eventloop.run(main()) == (True, 1)


def test_cancel_and_wait_logs_what_a_task_raised(caplog: pytest.LogCaptureFixture) -> None:
    async def broken() -> None:
        raise LookupError("lost")

    async def main() -> None:
        task = asyncio.create_task(broken(), name="broken-loop")
        await asyncio.sleep(0)
        await eventloop.cancel_and_wait(task)

    eventloop.run(main())
    [record] = [r for r in caplog.records if r.name == "vpp.kit.eventloop"]
    assert "broken-loop" in record.getMessage()
    assert record.exc_info is not None and isinstance(record.exc_info[1], LookupError)
