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
