"""Forecasting a pool block by block gives every asset the outlook it gets alone."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import Any, TypeVar

import numpy as np
import pytest
from sqlalchemy.orm import Session

from tests.dispatch.park import add_asset, enterprise
from vpp.domain.time import day_bounds_utc
from vpp.forecasts import service
from vpp.optimize.blocks import IN_PROCESS
from vpp.telemetry.repository import insert_readings

DAY = date(2026, 3, 10)


def test_a_block_forecast_equals_each_asset_alone(session: Session) -> None:
    owner = enterprise(session, "Block Co")
    kiln = add_asset(
        session, owner, "curtailable_load", {"nominal_kw": 800, "min_kw": 300}, name="kiln"
    )
    pv = add_asset(session, owner, "pv", {"peak_kw": 500}, name="roof")
    fresh = add_asset(
        session, owner, "curtailable_load", {"nominal_kw": 100, "min_kw": 50}, name="new"
    )
    start, _ = day_bounds_utc(DAY - timedelta(days=20))
    steps = 20 * 96
    hours = (np.arange(steps) % 96) / 4.0
    stamps = [start + timedelta(minutes=15 * k) for k in range(steps)]
    load = 600 + 100 * np.sin(hours / 24 * 2 * np.pi) + 5 * np.cos(np.arange(steps))
    sun = -400 * np.clip(np.sin((hours - 6) / 12 * np.pi), 0, None)
    rows = [
        (asset.id, ts, float(kw), None, None, "online", "good")
        for asset, series in ((kiln, load), (pv, sun))
        for ts, kw in zip(stamps, series, strict=True)
    ]
    insert_readings(session, rows)
    session.flush()

    together = service.outlooks_of(session, [kiln, pv, fresh], DAY, IN_PROCESS)
    for asset, outlook in zip((kiln, pv, fresh), together, strict=True):
        alone = service.outlook_of(session, asset, DAY)
        np.testing.assert_array_equal(outlook.bands_kw, alone.bands_kw)
        assert outlook.confidence == alone.confidence
        np.testing.assert_array_equal(outlook.flex_envelope().up_kw, alone.flex_envelope().up_kw)
    assert together[0].confidence.value == "ok"
    assert np.isnan(together[2].bands_kw).all()  # no history: no forecast
    np.testing.assert_array_equal(together[2].median_kw, together[2].battery.baseline_kw)


def test_blocks_split_the_pool_evenly_over_the_workers() -> None:
    assert service.block_size(1000, 2) == 500
    assert service.block_size(10_000, 2) == service.BLOCK_ASSETS
    assert service.block_size(150, 2) == service.MIN_BLOCK_ASSETS
    assert service.block_size(3, 1) == service.MIN_BLOCK_ASSETS
    assert service.block_size(1001, 2) == 501


T = TypeVar("T")
R = TypeVar("R")


class Gate:
    """A fan-out of 2 workers whose every group but the last waits until the next group's
    telemetry is being read: it only gets through if reading and forecasting overlap."""

    def __init__(self, groups: int) -> None:
        self.groups = groups
        self.reading = threading.Event()
        self.overlapped: list[bool] = []

    @property
    def workers(self) -> int:
        return 2

    def map(self, task: Callable[[T], R], blocks: Sequence[T]) -> list[R]:
        if len(self.overlapped) < self.groups - 1:
            self.overlapped.append(self.reading.wait(timeout=30))
            self.reading.clear()
        return [task(block) for block in blocks]


def test_the_next_group_is_read_while_the_workers_forecast(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = enterprise(session, "Group Co")
    assets = [
        add_asset(session, owner, "curtailable_load", {"nominal_kw": 100 + n, "min_kw": 50})
        for n in range(5)
    ]
    session.flush()
    gate = Gate(groups=3)  # blocks of one asset, two per group: [a, b], [c, d], [e]
    read = service.read_histories

    def reading(*args: Any, **kwargs: Any) -> Any:
        gate.reading.set()
        return read(*args, **kwargs)

    monkeypatch.setattr(service, "read_histories", reading)
    monkeypatch.setattr(service, "block_size", lambda _assets, _workers: 1)
    outlooks = service.outlooks_of(session, assets, DAY, gate)
    assert gate.overlapped == [True, True]
    assert [o.median_kw[0] for o in outlooks] == [
        o.median_kw[0] for o in (service.outlook_of(session, a, DAY) for a in assets)
    ]
