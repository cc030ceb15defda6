"""Packed telemetry: what a block of assets ships to a worker, unpacked per asset."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd

from vpp.forecast.readings import PackedReadings

HOUR_US = 3_600_000_000


def test_each_asset_gets_back_its_own_readings_in_order() -> None:
    first = (np.array([0, HOUR_US, 2 * HOUR_US]), np.array([1.0, 2.0, 3.0]))
    third = (np.array([5 * HOUR_US]), np.array([-4.5]))
    packed = pickle.loads(pickle.dumps(PackedReadings.pack([first, None, third])))  # noqa: S301
    assert len(packed) == 3
    assert [len(packed.series(i)) for i in range(3)] == [3, 0, 1]
    pd.testing.assert_series_equal(
        packed.series(0),
        pd.Series(
            [1.0, 2.0, 3.0],
            index=pd.DatetimeIndex(
                ["1970-01-01 00:00", "1970-01-01 01:00", "1970-01-01 02:00"], tz="UTC"
            ),
        ),
    )
    assert packed.series(1).empty and str(packed.series(1).index.tz) == "UTC"
    assert packed.series(2).index[0] == pd.Timestamp("1970-01-01 05:00", tz="UTC")
    assert packed.series(2).tolist() == [-4.5]


def test_a_series_is_a_copy_the_forecast_may_change() -> None:
    packed = PackedReadings.pack([(np.array([0, HOUR_US]), np.array([1.0, 2.0]))])
    series = packed.series(0)
    series.iloc[0] = 99.0
    assert packed.series(0).tolist() == [1.0, 2.0]


def test_a_block_without_any_reading() -> None:
    packed = PackedReadings.pack([None, None])
    assert len(packed) == 2
    assert packed.series(0).empty and packed.series(1).empty


def test_arrays_give_nanoseconds_and_a_read_only_view() -> None:
    packed = PackedReadings.pack(
        [(np.array([HOUR_US]), np.array([7.0])), (np.array([0, HOUR_US]), np.array([1.0, 2.0]))]
    )
    stamps, power = packed.arrays(1)
    assert stamps.tolist() == [0, 3_600_000_000_000]
    assert power.tolist() == [1.0, 2.0]
    assert not power.flags.writeable
    assert packed.power_kw.flags.writeable  # the block itself is untouched
