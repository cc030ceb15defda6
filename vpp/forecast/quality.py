"""Telemetry cleaning rules for forecasting: gaps, spikes, disorder, stuck meters; and a report.

The rules, applied in this order by `clean_series` (and by `clean_readings`, the same on
plain arrays; all counts go to `QualityReport`):

1. **Order and duplicates.** Readings are sorted by time (stable). Readings out of order are
   counted; of several readings for the same timestamp the one received last is kept.
2. **Non-finite values** (NaN, ±inf) are dropped and counted.
3. **Off-grid timestamps.** Readings not on a 15-minute boundary are averaged into the
   interval that contains them (an interval is named by its start, DESIGN §3). The series
   is then put on the full 15-minute grid from its first to its last interval; intervals
   without a reading are *missing*.
4. **Spikes.** With the robust range R = P99 - P1 of the series, a reading is a spike if it
   lies outside [P1 - R·range_margin, P99 + R·range_margin] (a unit error, a sign flip), or
   if it differs from the median of its ±4 neighbours by more than R·spike_jump (an isolated
   jump). Spikes become missing. The thresholds sit above what real load profiles show
   (SimBench's noisiest commercial profile reaches 1.17·R), so genuine noise is kept.
5. **Stuck at zero.** A run of at least `stuck_zero_intervals` exact zeros is a stuck meter
   where the asset is normally not at zero at those times of day (median |power| at that
   interval of day above 1 % of the series' P99 |power|); a PV plant's zeros at night are
   therefore kept. Stuck readings become missing.
6. **Flat line** (optional, off by default): a run of at least `flatline_intervals`
   identical non-zero readings becomes missing. Off by default because simulated and
   setpoint-driven assets can hold a value exactly.
7. **Gap filling.** Interior gaps of at most `max_fill_intervals` (default 4 = 1 h) are
   filled by linear interpolation; longer gaps stay missing, so a day with a long gap is
   skipped by the baselines and carries less weight in the model instead of being invented.

`assess_history` then says whether what is left is enough for a confident forecast.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import numpy.typing as npt
import pandas as pd

from vpp.domain import INTERVALS_PER_DAY, NaiveDatetimeError

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]

_INTERVAL = pd.Timedelta(minutes=15)
_NEIGHBOURS = 4
_QUARTER_NS = 15 * 60 * 10**9


@dataclass(frozen=True)
class CleaningRules:
    """Thresholds of the cleaning rules (see the module docstring)."""

    range_margin: float = 1.0
    """Readings beyond P1/P99 by more than this many robust ranges are spikes (R = P99 - P1)."""
    spike_jump: float = 1.5
    """A reading this many robust ranges away from its neighbours' median is a spike."""
    stuck_zero_intervals: int = 8
    """Shortest run of exact zeros (intervals; 8 = 2 h) treated as a stuck meter."""
    flatline_intervals: int | None = None
    """Shortest run of identical non-zero readings treated as frozen; None = rule off."""
    max_fill_intervals: int = 4
    """Longest interior gap (intervals; 4 = 1 h) filled by linear interpolation."""


@dataclass(frozen=True)
class QualityReport:
    """What `clean_series` found and did. Counts are readings (input) or 15-min intervals."""

    readings: int
    """Readings received."""
    out_of_order: int
    """Readings whose timestamp was earlier than the one received before them."""
    duplicates: int
    """Readings dropped because a later reading had the same timestamp."""
    non_finite: int
    """Readings dropped because their value was NaN or infinite."""
    off_grid: int
    """Readings not on a 15-min boundary, averaged into their interval."""
    intervals: int
    """Intervals on the grid from the first to the last reading."""
    missing: int
    """Intervals without any reading."""
    spikes: int
    """Intervals removed by the spike rule."""
    stuck_zero: int
    """Intervals removed by the stuck-at-zero rule."""
    flatline: int
    """Intervals removed by the flat-line rule."""
    filled: int
    """Intervals filled by interpolation."""
    missing_after: int
    """Intervals still missing after cleaning."""
    notes: tuple[str, ...] = field(default=())
    """One line per rule that changed something."""

    @property
    def valid_fraction(self) -> float:
        """Fraction of grid intervals holding a measured (not interpolated) value after cleaning."""
        if self.intervals == 0:
            return 0.0
        return (self.intervals - self.missing_after - self.filled) / self.intervals

    @property
    def changed(self) -> bool:
        """Whether any rule changed the data."""
        return bool(self.notes)


@dataclass(frozen=True)
class CleanedSeries:
    """A cleaned 15-min series (kW, UTC index on the full grid, NaN = missing) and its report."""

    series: pd.Series
    report: QualityReport
    filled: pd.Series
    """Boolean series on the same index: True where the value was interpolated."""


@dataclass(frozen=True)
class CleanedReadings:
    """`CleanedSeries` as plain arrays: grid point k starts at ``start_ns + k·15 min`` (UTC
    nanoseconds since the Unix epoch); NaN = missing."""

    start_ns: int
    values: FloatArray
    filled: BoolArray
    """True where the value was interpolated."""
    report: QualityReport


def _check_index(series: pd.Series) -> pd.DatetimeIndex:
    index = series.index
    if not isinstance(index, pd.DatetimeIndex):
        raise TypeError("telemetry must be indexed by timestamps (a pandas DatetimeIndex)")
    if index.tz is None:
        raise NaiveDatetimeError("telemetry.index")
    return index.tz_convert("UTC")


def _runs(mask: BoolArray) -> list[tuple[int, int]]:
    """Half-open [start, end) index ranges where `mask` is True."""
    if mask.size == 0:
        return []
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def nan_median(stack: FloatArray) -> FloatArray:
    """NaN-aware median along axis 0, NaN where a column has no value: `np.nanmedian`'s
    numbers from one sort (NaN sorts last), without its masked-array machinery and
    without a warning for an empty column (warning filters are process-wide, so
    silencing them is not safe in a threaded server)."""
    ordered = np.sort(stack, axis=0)
    count = np.isfinite(ordered).sum(axis=0)
    low = np.take_along_axis(ordered, np.maximum(count - 1, 0)[None] // 2, axis=0)[0]
    high = np.take_along_axis(ordered, (count // 2)[None], axis=0)[0]
    return np.asarray(np.where(count > 0, (low + high) / 2, np.nan), dtype=np.float64)


def _neighbours(values: FloatArray) -> FloatArray:
    """The ±4 neighbours of each point, the point itself excluded: (8, n), NaN beyond the ends."""
    n = values.size
    padded = np.concatenate((np.full(_NEIGHBOURS, np.nan), values, np.full(_NEIGHBOURS, np.nan)))
    offsets = [o for o in range(-_NEIGHBOURS, _NEIGHBOURS + 1) if o != 0]
    return np.stack([padded[_NEIGHBOURS + o : _NEIGHBOURS + o + n] for o in offsets])


def _isolated_jumps(values: FloatArray, limit: float) -> BoolArray:
    """Points farther than `limit` from the median of their ±4 neighbours (NaN-aware; a
    point without a neighbour is not a jump).

    The median lies between the neighbours' minimum and maximum, so a point within `limit`
    of both cannot be a jump; only the few others need their median (a sort of 8 values
    per point cost a third of an asset's cleaning).
    """
    around = _neighbours(values)
    low, high = np.fmin.reduce(around, axis=0), np.fmax.reduce(around, axis=0)
    maybe = np.flatnonzero((np.abs(values - low) > limit) | (np.abs(values - high) > limit))
    jumps = np.zeros(values.size, dtype=bool)
    if maybe.size:
        jump = np.abs(values[maybe] - nan_median(around[:, maybe]))
        jumps[maybe] = np.isfinite(jump) & (jump > limit)
    return jumps


def detect_spikes(values: FloatArray, rules: CleaningRules = CleaningRules()) -> BoolArray:
    """Mask of spikes in a gridded series (kW, NaN = missing) by rule 4 of the module."""
    finite = np.isfinite(values)
    spikes = np.zeros(values.size, dtype=bool)
    if finite.sum() < 3:
        return spikes
    p1, p99 = np.quantile(values[finite], [0.01, 0.99])
    width = float(p99 - p1)
    if width <= 0.0:
        width = max(abs(float(p99)), 1e-9)
    out_of_range = (values < p1 - rules.range_margin * width) | (
        values > p99 + rules.range_margin * width
    )
    spikes |= finite & out_of_range
    spikes |= _isolated_jumps(np.where(spikes, np.nan, values), rules.spike_jump * width)
    return spikes


def _typical_abs_by_interval(stamps_ns: IntArray, values: FloatArray) -> FloatArray:
    """Median |power| per grid point's interval of day (market time), NaN-aware."""
    # Laid out as market days x 96 intervals of day (UTC+8: 32 intervals ahead of UTC),
    # one grid point per cell, NaN where there is none: a column's median is the interval's.
    quarter = stamps_ns // _QUARTER_NS + 32
    slot = quarter % INTERVALS_PER_DAY
    day = quarter // INTERVALS_PER_DAY
    first = int(day.min()) if day.size else 0
    table = np.full((int(day.max()) - first + 1 if day.size else 1, INTERVALS_PER_DAY), np.nan)
    table[day - first, slot] = np.abs(values)
    typical = np.nan_to_num(nan_median(table), nan=0.0)
    return np.asarray(typical[slot], dtype=np.float64)


def detect_stuck_zero(
    stamps_ns: IntArray, values: FloatArray, rules: CleaningRules = CleaningRules()
) -> BoolArray:
    """Mask of stuck-at-zero intervals in a gridded series by rule 5 of the module
    (stamps_ns: each grid point's start, UTC nanoseconds since the Unix epoch)."""
    stuck = np.zeros(values.size, dtype=bool)
    zero_runs = [r for r in _runs(values == 0.0) if r[1] - r[0] >= rules.stuck_zero_intervals]
    if not zero_runs:
        return stuck
    finite = np.abs(values[np.isfinite(values)])
    scale = float(np.quantile(finite, 0.99)) if finite.size else 0.0
    typical = _typical_abs_by_interval(stamps_ns, values)
    for start, end in zero_runs:
        if np.median(typical[start:end]) > 0.01 * scale:
            stuck[start:end] = True
    return stuck


def detect_flatline(values: FloatArray, min_intervals: int) -> BoolArray:
    """Mask of runs of at least `min_intervals` identical non-zero readings."""
    flat = np.zeros(values.size, dtype=bool)
    if values.size < 2:
        return flat
    same = np.concatenate(([False], values[1:] == values[:-1])) & (values != 0.0)
    for start, end in _runs(same):
        if end - start + 1 >= min_intervals:
            flat[start - 1 : end] = True
    return flat


def _fill_short_gaps(values: FloatArray, max_gap: int) -> tuple[FloatArray, BoolArray]:
    filled = values.copy()
    mask = np.zeros(values.size, dtype=bool)
    for start, end in _runs(~np.isfinite(values)):
        if start == 0 or end == values.size or end - start > max_gap:
            continue
        left, right = values[start - 1], values[end]
        steps = np.arange(1, end - start + 1) / (end - start + 1)
        filled[start:end] = left + (right - left) * steps
        mask[start:end] = True
    return filled, mask


def readings_of(series: pd.Series) -> tuple[IntArray, FloatArray]:
    """A telemetry series (kW, aware index) as (UTC nanoseconds since the epoch, kW) arrays
    in the order received. Raises `NaiveDatetimeError` for a naive index (DESIGN §3)."""
    stamps = np.asarray(_check_index(series).as_unit("ns").asi8, dtype=np.int64)
    values = np.asarray(series.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)
    return stamps, values


def clean_series(series: pd.Series, rules: CleaningRules = CleaningRules()) -> CleanedSeries:
    """Apply the module's cleaning rules to raw telemetry (kW, aware timestamps).

    Returns the series on the full 15-min UTC grid (NaN = still missing), the mask of
    interpolated intervals, and a `QualityReport` of every rule that fired. Raises
    `NaiveDatetimeError` for a naive index (DESIGN §3).
    """
    cleaned = clean_readings(*readings_of(series), rules)
    grid = pd.DatetimeIndex(
        cleaned.start_ns + _QUARTER_NS * np.arange(cleaned.values.size, dtype=np.int64)
    ).tz_localize("UTC")
    return CleanedSeries(
        pd.Series(cleaned.values, index=grid, name=series.name, dtype=np.float64),
        cleaned.report,
        pd.Series(cleaned.filled, index=grid, dtype=bool),
    )


def clean_readings(
    stamps_ns: IntArray, power_kw: FloatArray, rules: CleaningRules = CleaningRules()
) -> CleanedReadings:
    """`clean_series` on plain arrays: readings as received, stamped in UTC nanoseconds
    since the Unix epoch (kW). What a block of many assets' telemetry is cleaned with,
    without a pandas object per asset."""
    raw = np.asarray(power_kw, dtype=np.float64)
    ns = np.asarray(stamps_ns, dtype=np.int64)
    readings = raw.size
    notes: list[str] = []
    if readings == 0:
        report = QualityReport(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, ("no readings",))
        return CleanedReadings(0, np.zeros(0), np.zeros(0, dtype=bool), report)

    out_of_order = int(np.sum(ns[1:] < np.maximum.accumulate(ns)[:-1]))
    if out_of_order:
        order = np.argsort(ns, kind="stable")
        ns_sorted, values = ns[order], raw[order]
    else:
        ns_sorted, values = ns, raw
    last_of_equal = np.concatenate((ns_sorted[1:] != ns_sorted[:-1], [True]))
    duplicates = int(readings - last_of_equal.sum())
    if duplicates:
        ns_sorted, values = ns_sorted[last_of_equal], values[last_of_equal]
    if out_of_order:
        notes.append(f"sorted {out_of_order} reading(s) received out of order")
    if duplicates:
        notes.append(f"dropped {duplicates} duplicate reading(s), kept the last received")

    finite = np.isfinite(values)
    non_finite = int(values.size - np.count_nonzero(finite))
    if non_finite:
        notes.append(f"dropped {non_finite} non-finite reading(s)")
        values = values[finite]
        stamp_ns = ns_sorted[finite]
    else:
        stamp_ns = ns_sorted

    if values.size == 0:
        report = QualityReport(
            readings, out_of_order, duplicates, non_finite, 0, 1, 1, 0, 0, 0, 0, 1, tuple(notes)
        )
        start = int(ns_sorted[0] - ns_sorted[0] % _QUARTER_NS)
        return CleanedReadings(start, np.full(1, np.nan), np.zeros(1, dtype=bool), report)

    # The 15-minute grid from the first reading's interval to the last one's, each
    # interval the mean of its readings (sorted above; integers: no pandas per asset).
    floored_ns = stamp_ns - stamp_ns % _QUARTER_NS
    off_grid = int(np.count_nonzero(floored_ns != stamp_ns))
    if off_grid:
        notes.append(f"averaged {off_grid} off-grid reading(s) into their 15-min interval")
    position = (floored_ns - floored_ns[0]) // _QUARTER_NS
    size = int(position[-1]) + 1
    if size == values.size and bool((position[1:] > position[:-1]).all()):
        # one reading per interval and none missing: the readings are the grid
        grid_values = values.copy()
    else:
        counts = np.bincount(position, minlength=size)
        sums = np.bincount(position, weights=values, minlength=size)
        with np.errstate(invalid="ignore", divide="ignore"):
            grid_values = np.where(counts > 0, sums / counts, np.nan)
    start_ns = int(floored_ns[0])
    missing = int(size - np.count_nonzero(np.isfinite(grid_values)))
    if missing:
        notes.append(f"{missing} interval(s) had no reading")

    spikes = detect_spikes(grid_values, rules)
    grid_values[spikes] = np.nan
    grid_ns = start_ns + _QUARTER_NS * np.arange(size, dtype=np.int64)
    stuck = detect_stuck_zero(grid_ns, grid_values, rules)
    grid_values[stuck] = np.nan
    flat = (
        detect_flatline(grid_values, rules.flatline_intervals)
        if rules.flatline_intervals is not None
        else np.zeros(grid_values.size, dtype=bool)
    )
    grid_values[flat] = np.nan
    for count, text in (
        (int(spikes.sum()), "spike(s) removed"),
        (int(stuck.sum()), "stuck-at-zero interval(s) removed"),
        (int(flat.sum()), "flat-line interval(s) removed"),
    ):
        if count:
            notes.append(f"{count} {text}")

    cleaned, filled_mask = _fill_short_gaps(grid_values, rules.max_fill_intervals)
    filled = int(filled_mask.sum())
    missing_after = int(size - np.count_nonzero(np.isfinite(cleaned)))
    if filled:
        notes.append(f"interpolated {filled} interval(s) in gaps of <= {rules.max_fill_intervals}")
    if missing_after:
        notes.append(f"{missing_after} interval(s) left missing (gaps too long to fill)")
    report = QualityReport(
        readings=readings,
        out_of_order=out_of_order,
        duplicates=duplicates,
        non_finite=non_finite,
        off_grid=off_grid,
        intervals=size,
        missing=missing,
        spikes=int(spikes.sum()),
        stuck_zero=int(stuck.sum()),
        flatline=int(flat.sum()),
        filled=filled,
        missing_after=missing_after,
        notes=tuple(notes),
    )
    return CleanedReadings(start_ns, cleaned, filled_mask, report)


class Confidence(StrEnum):
    """How far a forecast can be trusted given the history behind it."""

    OK = "ok"
    """Enough complete history: the model forecast with its fitted quantiles."""
    LOW = "low"
    """Some history, too little to fit: a similar-day fallback with widened quantiles."""
    NONE = "none"
    """No usable history: no number is given (NaN)."""


@dataclass(frozen=True)
class HistoryAssessment:
    """Verdict of `assess_history` for one asset."""

    confidence: Confidence
    complete_days: int
    """Days with all 96 intervals present (after cleaning)."""
    valid_fraction: float
    """Fraction of intervals present in the assessed window."""
    reason: str


def complete_days(matrix: FloatArray) -> BoolArray:
    """Mask of days (rows of a days x 96 matrix) with every interval present."""
    return np.asarray(np.isfinite(matrix).all(axis=-1))


def assess_history(
    matrix: FloatArray,
    *,
    min_complete_days: int = 14,
    min_days_for_fallback: int = 1,
    window_days: int = 56,
) -> HistoryAssessment:
    """Say whether a (days x 96) history (kW, NaN = missing) supports a confident forecast.

    Looks at the last `window_days` days: OK with at least `min_complete_days` complete
    days (two weeks give every weekday twice), LOW with at least `min_days_for_fallback`,
    NONE below that.
    """
    window = np.asarray(matrix[-window_days:], dtype=np.float64)
    n_complete = int(complete_days(window).sum()) if window.size else 0
    valid = float(np.isfinite(window).mean()) if window.size else 0.0
    if n_complete >= min_complete_days:
        return HistoryAssessment(
            Confidence.OK, n_complete, valid, f"{n_complete} complete day(s) of history"
        )
    if n_complete >= min_days_for_fallback:
        return HistoryAssessment(
            Confidence.LOW,
            n_complete,
            valid,
            f"only {n_complete} complete day(s) of history (< {min_complete_days})",
        )
    return HistoryAssessment(Confidence.NONE, n_complete, valid, "no complete day of history")
