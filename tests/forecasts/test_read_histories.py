"""Reading a block's telemetry for its forecast: the fast path reads what the ORM reads."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
from sqlalchemy.orm import Session

from tests.dispatch.park import add_asset, enterprise
from vpp.forecasts import service
from vpp.telemetry.repository import insert_readings

DAY = date(2026, 3, 10)


def test_the_fast_read_returns_every_reading_of_the_window_in_order(session: Session) -> None:
    owner = enterprise(session, "Reader Co")
    first, second, silent = (add_asset(session, owner, name=f"a{i}") for i in range(3))
    start, end = service._window(DAY)
    # Out of insertion order, at microsecond resolution, and one reading each side of
    # the window that must not be read.
    stamps = [start + timedelta(minutes=15 * k, microseconds=7 * k) for k in (3, 0, 2, 1)]
    rows = [
        (first.id, ts, 100.0 + 0.125 * k, None, None, "online", "good")
        for k, ts in enumerate(stamps)
    ]
    rows += [
        (second.id, start, -2.5, None, None, "online", "good"),
        (second.id, start - timedelta(microseconds=1), 9.0, None, None, "online", "good"),
        (second.id, end, 9.0, None, None, "online", "good"),
    ]
    insert_readings(session, rows)
    session.flush()

    ids = [first.id, second.id, silent.id]
    read = service.read_histories(session, ids, DAY)
    assert len(read) == 3
    expected = pd.Series(
        [100.125, 100.375, 100.25, 100.0],
        index=pd.DatetimeIndex(sorted(stamps), tz="UTC"),
    )
    pd.testing.assert_series_equal(read.series(0), expected, check_freq=False)
    assert read.series(1).tolist() == [-2.5]
    assert read.series(1).index[0] == pd.Timestamp(start)
    silent_series = read.series(2)
    assert silent_series.empty
    assert silent_series.index.equals(pd.DatetimeIndex([], tz="UTC"))
    generic = service._read_generic(session, ids, start, end)
    assert set(generic) == {first.id, second.id}
    for i, asset_id in enumerate(ids[:2]):
        ts_us, power_kw = generic[asset_id]
        assert read.series(i).index.equals(pd.DatetimeIndex(ts_us * 1000, tz="UTC"))
        assert read.series(i).tolist() == power_kw.tolist()
