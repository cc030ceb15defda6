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
    assert set(read) == {first.id, second.id}
    expected = pd.Series(
        [100.125, 100.375, 100.25, 100.0],
        index=pd.DatetimeIndex(sorted(stamps), tz="UTC"),
    )
    pd.testing.assert_series_equal(read[first.id], expected, check_freq=False)
    assert read[second.id].tolist() == [-2.5]
    assert read[second.id].index[0] == pd.Timestamp(start)
    generic = service._read_generic(session, ids, start, end)
    for asset_id, series in generic.items():
        pd.testing.assert_series_equal(read[asset_id], series)
        assert read[asset_id].index.equals(series.index)
