"""Helpers for the forecasting tests: build 15-min series from per-day values."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import numpy as np
import pandas as pd
import pytest

from vpp.domain import interval_starts_utc


def day_series(values: Mapping[date, float | np.ndarray]) -> pd.Series:
    """A UTC 15-min series holding, for each market day, a constant or 96 given values (kW)."""
    parts = []
    for day, value in sorted(values.items()):
        arr = np.broadcast_to(np.asarray(value, dtype=np.float64), (96,))
        parts.append(pd.Series(arr, index=interval_starts_utc(day)))
    return pd.concat(parts)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
