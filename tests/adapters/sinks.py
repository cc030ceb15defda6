"""An ``AdapterSink`` that records what adapters report, for adapter tests."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence

import anyio

from vpp.domain.commands import Acknowledgement, TelemetryPoint


class RecordingSink:
    def __init__(self) -> None:
        self.readings: list[TelemetryPoint] = []
        self.acks: list[Acknowledgement] = []
        self._changed = asyncio.Condition()

    async def telemetry(self, readings: Sequence[TelemetryPoint]) -> None:
        async with self._changed:
            self.readings.extend(readings)
            self._changed.notify_all()

    async def acknowledged(self, acks: Sequence[Acknowledgement]) -> None:
        self.acks.extend(acks)

    def mark(self) -> int:
        return len(self.readings)

    async def reading(
        self,
        asset_id: uuid.UUID,
        since: int,
        where: Callable[[TelemetryPoint], bool] = lambda _: True,
    ) -> TelemetryPoint:
        """The first reading of ``asset_id`` after index ``since`` that satisfies ``where``
        (waits up to 5 s for it)."""

        def found() -> TelemetryPoint | None:
            return next(
                (r for r in self.readings[since:] if r.asset_id == asset_id and where(r)), None
            )

        with anyio.fail_after(5):
            async with self._changed:
                await self._changed.wait_for(lambda: found() is not None)
        reading = found()
        assert reading is not None
        return reading

    async def next_reading(
        self, asset_id: uuid.UUID, where: Callable[[TelemetryPoint], bool] = lambda _: True
    ) -> TelemetryPoint:
        """The first reading of ``asset_id`` from now on that satisfies ``where``."""
        return await self.reading(asset_id, self.mark(), where)
