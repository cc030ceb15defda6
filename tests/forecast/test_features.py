"""The load model's lagged means: hand-computed cases, and the fast path equals the plain one."""

from __future__ import annotations

import numpy as np

from vpp.forecast.model import _expected, _lag_means, _nan_quantiles, _Padded, _previous_same


def plain_lag_means(
    values: np.ndarray, index: np.ndarray, counts: list[int]
) -> dict[int, np.ndarray]:
    """The reference: a masked mean over the lagged days, one lag after the other."""
    total = np.zeros((values.shape[0], index.shape[0], 96))
    number = np.zeros_like(total)
    out = {}
    for j in range(max(counts)):
        idx = index[:, j]
        lag = values[:, np.maximum(idx, 0), :]
        ok = np.isfinite(lag) & (idx >= 0)[None, :, None]
        total += np.where(ok, lag, 0.0)
        number += ok
        if j + 1 in counts:
            with np.errstate(invalid="ignore", divide="ignore"):
                out[j + 1] = np.where(number > 0, total / number, np.nan)
    return out


def test_lagged_means_skip_missing_days_and_missing_lags() -> None:
    # One asset, four days of constant load 1, 2, (missing), 4 kW.
    values = np.stack([np.full(96, v) for v in (1.0, 2.0, np.nan, 4.0)])[None]
    index = np.array([[2, 1, 0, -1], [3, -1, -1, -1]])
    means = _lag_means(_Padded.of(values), index, [1, 2, 4])
    assert np.isnan(means[1][0, 0]).all()  # day 2 is missing
    np.testing.assert_array_equal(means[2][0, 0], 2.0)  # mean of (missing, 2)
    np.testing.assert_array_equal(means[4][0, 0], 1.5)  # mean of (missing, 2, 1, none)
    np.testing.assert_array_equal(means[1][0, 1], 4.0)
    np.testing.assert_array_equal(means[4][0, 1], 4.0)  # no further lags exist


def test_the_fast_lagged_means_equal_the_plain_ones_bit_for_bit() -> None:
    rng = np.random.default_rng(3)
    values = 50.0 + 10.0 * rng.standard_normal((7, 40, 96))
    values[rng.random(values.shape) < 0.1] = np.nan
    values[2, :12] = np.nan
    classes = rng.integers(0, 3, size=40)
    rows = np.arange(40, dtype=np.int64)
    index = _previous_same(classes, rows, 2, 20)
    fast = _lag_means(_Padded.of(values), index, [5, 10, 20])
    plain = plain_lag_means(values, index, [5, 10, 20])
    for c in (5, 10, 20):
        np.testing.assert_array_equal(fast[c], plain[c])
    # Each row's expectation is its own, however often and in whatever order it is asked.
    asked = np.array([5, 39, 5, 0, 17], dtype=np.int64)
    expected = _expected(_Padded.of(values), classes, asked)
    alone = plain_lag_means(values, _previous_same(classes, asked, 1, 10), [10])[10]
    np.testing.assert_array_equal(expected, alone)


def test_residual_quantiles_per_row_ignore_missing_values() -> None:
    rng = np.random.default_rng(5)
    z = rng.standard_normal((4, 50))
    levels = np.array([0.1, 0.5, 0.9])
    z[:, :7] = np.nan  # the same missing columns in every row
    expected = np.stack([np.quantile(row[7:], levels) for row in z])
    np.testing.assert_array_equal(_nan_quantiles(z, levels), expected)
    z[1, 20] = np.nan  # one row misses one more
    z[3] = np.nan  # and one has nothing
    ragged = _nan_quantiles(z, levels)
    np.testing.assert_array_equal(ragged[1], np.quantile(np.delete(z[1, 7:], 13), levels))
    np.testing.assert_array_equal(ragged[[0, 2]], expected[[0, 2]])
    assert np.isnan(ragged[3]).all()
