"""Forecasting a pool block by block gives every asset the outlook it gets alone."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
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


class Recorder:
    """A fan-out of 2 workers that notes how `outlooks_of` hands it the blocks."""

    def __init__(self, reads: list[int]) -> None:
        self.reads = reads
        self.ahead = 0
        self.reads_when_first_sent = -1

    @property
    def workers(self) -> int:
        return 2

    def map(self, task: Callable[[T], R], blocks: Sequence[T]) -> list[R]:
        raise AssertionError("outlooks_of streams its blocks")

    def imap(self, task: Callable[[T], R], blocks: Iterable[T], ahead: int) -> Iterator[R]:
        self.ahead = ahead
        pending = iter(blocks)
        first = next(pending)
        self.reads_when_first_sent = len(self.reads)
        yield task(first)
        yield from (task(block) for block in pending)


def test_blocks_are_read_as_the_fan_out_takes_them(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each block's telemetry is read when the engine asks for the block, so reading and
    forecasting overlap (`BlockMap.imap`), two blocks per worker ahead."""
    owner = enterprise(session, "Stream Co")
    assets = [
        add_asset(session, owner, "curtailable_load", {"nominal_kw": 100 + n, "min_kw": 50})
        for n in range(5)
    ]
    session.flush()
    reads: list[int] = []
    read = service.read_histories

    def reading(*args: Any, **kwargs: Any) -> Any:
        reads.append(1)
        return read(*args, **kwargs)

    monkeypatch.setattr(service, "read_histories", reading)
    monkeypatch.setattr(service, "block_size", lambda _assets, _workers: 1)
    engine = Recorder(reads)
    outlooks = service.outlooks_of(session, assets, DAY, engine)
    assert engine.ahead == 2 * 2
    assert engine.reads_when_first_sent == 1  # not all five blocks read up front
    assert len(reads) == 5
    assert [o.median_kw[0] for o in outlooks] == [
        o.median_kw[0] for o in (service.outlook_of(session, a, DAY) for a in assets)
    ]
