"""Run a coroutine on the event loop the service's processes use: uvloop where installed.

uvicorn already serves the API on uvloop (``uvicorn[standard]``); the scheduler process,
which runs the delivery engine and its adapters, runs on the same loop, and so do the
HTTP benchmarks (the webhook fan-out and the Python load generator).
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


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
