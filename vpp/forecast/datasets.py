"""Readers of the measured data the backtest replays (file access lives here, nowhere else)."""

from __future__ import annotations

import gzip
import importlib.util
from datetime import date
from pathlib import Path

import pandas as pd

from vpp.domain import INTERVALS_PER_DAY

COMMERCIAL_PROFILES: tuple[str, ...] = (
    "G0-A",
    "G0-M",
    "G1-A",
    "G1-B",
    "G1-C",
    "G2-A",
    "G3-A",
    "G3-M",
    "G4-A",
    "G4-B",
    "G4-M",
    "G5-A",
    "G6-A",
)
"""The 13 commercial load profiles of SimBench grid 1-MV-comm--0-sw."""

SIMBENCH_2016_HOLIDAYS: frozenset[date] = frozenset(
    date.fromisoformat(d)
    for d in (
        "2016-01-01",  # New Year
        "2016-03-25",  # Good Friday
        "2016-03-28",  # Easter Monday
        "2016-05-01",  # Labour Day (a Sunday)
        "2016-05-05",  # Ascension
        "2016-05-16",  # Whit Monday
        "2016-05-26",  # Corpus Christi (regional; the profiles show it)
        "2016-10-03",  # German Unity Day
        "2016-12-25",
        "2016-12-26",
    )
)
"""German public holidays of 2016 that the SimBench profiles follow (known in advance)."""

VENDORED_COMMERCIAL = (
    Path(__file__).resolve().parents[2]
    / "tests"
    / "data"
    / "simbench_1-MV-comm--0-sw_G_pload_2016.csv.gz"
)
"""The extract vendored in the repository (tests/data/README.md says how it was made)."""

_SIMBENCH_LOADPROFILE = ("networks", "1-complete_data-mixed-all-0-sw", "LoadProfile.csv")


def _as_market_time(wall_clock: pd.Series) -> pd.DatetimeIndex:
    """Consecutive 15-min market intervals from SimBench's first stamp, in UTC.

    SimBench labels its rows with German wall-clock time: the spring DST hour is absent
    from the labels and the autumn one repeated, yet the rows are consecutive 15-minute
    readings (366 x 96 in 2016). They are placed on a uniform axis, i.e. in Central
    European standard time, and that wall clock is read as Beijing time so that each
    SimBench day (00:00-24:00 CET) is the market day of the same date.
    """
    first = pd.to_datetime(wall_clock.iloc[0], format="%d.%m.%Y %H:%M")
    if len(wall_clock) % INTERVALS_PER_DAY or (first.hour, first.minute) != (0, 0):
        raise ValueError("expected whole days of 15-min rows starting at midnight")
    local = pd.date_range(first, periods=len(wall_clock), freq="15min", tz="Asia/Shanghai")
    return local.tz_convert("UTC")


def read_commercial_profiles(path: Path | None = None) -> pd.DataFrame:
    """Read the 13 SimBench commercial profiles (normalised active power, peak = 1).

    path: the vendored extract (default `VENDORED_COMMERCIAL`: columns time, G0-A, ...), or
    SimBench's own LoadProfile.csv (semicolon-separated, columns G0-A_pload, ...). Returns a
    frame indexed by UTC interval starts; each 2016 day of SimBench becomes the market day
    of the same date (its wall-clock times are read as Beijing time).
    """
    path = path or VENDORED_COMMERCIAL
    opener = gzip.open if path.read_bytes()[:2] == b"\x1f\x8b" else open
    with opener(path, "rt") as handle:
        header = handle.readline()
    raw = pd.read_csv(path, sep=";" if ";" in header else ",")
    if "G0-A_pload" in raw.columns:
        raw = raw.rename(columns={f"{p}_pload": p for p in COMMERCIAL_PROFILES})
    frame = raw[list(COMMERCIAL_PROFILES)].astype("float64")
    frame.index = _as_market_time(raw["time"])
    return frame


def simbench_loadprofile_path() -> Path | None:
    """LoadProfile.csv inside an installed `simbench` wheel (not imported), or None."""
    spec = importlib.util.find_spec("simbench")
    if spec is None or not spec.submodule_search_locations:
        return None
    candidate = Path(next(iter(spec.submodule_search_locations))).joinpath(*_SIMBENCH_LOADPROFILE)
    return candidate if candidate.exists() else None
