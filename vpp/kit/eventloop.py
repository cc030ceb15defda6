"""Run a coroutine on the event loop the service's processes use (uvloop where installed),
and stop background tasks for certain.

uvicorn already serves the API on uvloop (``uvicorn[standard]``); the scheduler process,
which runs the delivery engine and its adapters, runs on the same loop, and so do the
HTTP benchmarks (the webhook fan-out and the Python load generator).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)

RECANCEL_S = 0.1
"""How long a cancelled task is given to end before it is cancelled again."""


def runner() -> asyncio.Runner:
    """An ``asyncio.Runner`` on uvloop if it is installed, on asyncio's loop otherwise."""
    try:
        uvloop = importlib.import_module("uvloop")
    except ImportError:
        return asyncio.Runner()
    return asyncio.Runner(loop_factory=uvloop.new_event_loop)


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on the service's loop."""
    with runner() as loop_runner:
        return loop_runner.run(main)


async def cancel_and_wait(*tasks: asyncio.Task[Any] | None) -> None:
    """Cancel ``tasks`` (None ones are skipped) and return once every one has ended.

    One ``cancel()`` does not always end a task on Python 3.11: ``asyncio.wait_for``
    returns the awaited answer and drops the cancellation when both arrive in the same
    turn of the loop (CPython bpo-42130, fixed in 3.12). pymodbus awaits every answer that
    way, so a polling loop cancelled once may carry on, and a stop that awaited it would
    wait forever. A task still running after `RECANCEL_S` is therefore cancelled again.
    What a task raised is logged, not re-raised: the caller is stopping it.
    """
    pending = {task for task in tasks if task is not None}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=RECANCEL_S)
    for ended in tasks:
        if ended is not None and not ended.cancelled() and ended.exception() is not None:
            log.error(
                "task %s ended with an error when it was stopped",
                ended.get_name(),
                exc_info=ended.exception(),
            )
