"""Matching consumption with on-site PV and contracted green power, per 15 minutes or hour.

In each period (a 15-minute market interval or an hour; Asia/Shanghai hours coincide
with UTC hours since the offset is whole hours):

    pv_self      = min(pv, load)                 on-site PV consumed on site
    grid_import  = load - pv_self                 what the grid supplies
    pv_export    = pv - pv_self                   PV surplus injected
    contract_matched = min(contract, grid_import) contracted green power delivered in the
                                                  same period as consumption it can cover

Over the month, contracted green power counts only up to what its certificates prove
(``certified_kwh``: whole GECs x 1,000 kWh, `vpp.green.core.certificates`); PV generated
and consumed on site counts as green directly (it is metered behind the connection
point). Then

    green        = pv_self + min(sum(contract_matched), certified)
    green_share  = green / load
    self_consumption_share = sum(pv_self) / sum(pv)   (绿电直连: >= 60 %, 发改能源〔2025〕650号)

All energies are kWh and >= 0. Matching per period never lets energy of one period cover
consumption of another; a coarser period (the hour) lets the four quarter hours net.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pandas as pd

from vpp.domain.errors import InvalidParameterError

INPUT_COLUMNS = ("load_kwh", "pv_kwh", "contract_kwh")


class Resolution(StrEnum):
    """The matching period: a market interval or an hour."""

    QUARTER_HOUR = "15min"
    HOUR = "1h"


def match_periods(intervals: pd.DataFrame, resolution: Resolution) -> pd.DataFrame:
    """Per scope and period, match load with PV and contracted green power.

    ``intervals`` has columns ``scope``, ``ts`` (UTC interval start, tz-aware) and the
    kWh columns ``load_kwh``, ``pv_kwh``, ``contract_kwh`` (each >= 0). Returns one row
    per scope and period with those sums and ``pv_self_kwh``, ``grid_import_kwh``,
    ``pv_export_kwh``, ``contract_matched_kwh``. Vectorised over every scope at once.
    """
    missing = {"scope", "ts", *INPUT_COLUMNS} - set(intervals.columns)
    if missing:
        raise InvalidParameterError("intervals", "required", f"lacks columns {sorted(missing)}")
    values = intervals[list(INPUT_COLUMNS)].to_numpy(dtype=np.float64)
    if values.size and (not np.isfinite(values).all() or (values < 0).any()):
        raise InvalidParameterError("intervals", "non_negative", "energies must be finite, >= 0")
    frame = intervals.assign(period=intervals["ts"].dt.floor(resolution.value))
    sums = frame.groupby(["scope", "period"], sort=True)[list(INPUT_COLUMNS)].sum().reset_index()
    load = sums["load_kwh"].to_numpy()
    pv = sums["pv_kwh"].to_numpy()
    pv_self = np.minimum(load, pv)
    grid_import = load - pv_self
    sums["pv_self_kwh"] = pv_self
    sums["grid_import_kwh"] = grid_import
    sums["pv_export_kwh"] = pv - pv_self
    sums["contract_matched_kwh"] = np.minimum(sums["contract_kwh"].to_numpy(), grid_import)
    return sums


@dataclass(frozen=True)
class GreenTotals:
    """A scope's month of matching (kWh, shares as fractions 0-1 or None when undefined)."""

    load_kwh: float
    pv_kwh: float
    pv_self_kwh: float
    pv_export_kwh: float
    grid_import_kwh: float
    contract_kwh: float
    contract_matched_kwh: float
    certified_kwh: float
    contract_green_kwh: float
    """Contracted green power matched in time and proven by certificates."""
    green_kwh: float
    grid_residual_kwh: float
    """Grid electricity not covered by certified green power (emits at the grid factor)."""
    green_share: float | None
    self_consumption_share: float | None


def totals(periods: pd.DataFrame, certified_kwh: pd.Series) -> dict[object, GreenTotals]:
    """Month totals per scope of `match_periods` output, capped by each scope's certified kWh
    (``certified_kwh`` indexed by scope; a missing scope has none)."""
    columns = [
        "load_kwh",
        "pv_kwh",
        "pv_self_kwh",
        "pv_export_kwh",
        "grid_import_kwh",
        "contract_kwh",
        "contract_matched_kwh",
    ]
    sums = periods.groupby("scope")[columns].sum()
    cap = certified_kwh.reindex(sums.index).fillna(0.0).astype(np.float64)
    contract_green = np.minimum(sums["contract_matched_kwh"], cap)
    green = sums["pv_self_kwh"] + contract_green
    sums["certified_kwh"] = cap
    sums["contract_green_kwh"] = contract_green
    sums["green_kwh"] = green
    out: dict[object, GreenTotals] = {}
    for scope, row in sums.to_dict("index").items():
        load, pv = float(row["load_kwh"]), float(row["pv_kwh"])
        out[scope] = GreenTotals(
            load_kwh=load,
            pv_kwh=pv,
            pv_self_kwh=float(row["pv_self_kwh"]),
            pv_export_kwh=float(row["pv_export_kwh"]),
            grid_import_kwh=float(row["grid_import_kwh"]),
            contract_kwh=float(row["contract_kwh"]),
            contract_matched_kwh=float(row["contract_matched_kwh"]),
            certified_kwh=float(row["certified_kwh"]),
            contract_green_kwh=float(row["contract_green_kwh"]),
            green_kwh=float(row["green_kwh"]),
            grid_residual_kwh=float(row["grid_import_kwh"] - row["contract_green_kwh"]),
            green_share=float(row["green_kwh"]) / load if load > 0 else None,
            self_consumption_share=float(row["pv_self_kwh"]) / pv if pv > 0 else None,
        )
    return out


def flat_profile(
    start: pd.Timestamp, end: pd.Timestamp, energy_kwh: float, window: pd.DatetimeIndex
) -> pd.Series:
    """A contract's ``energy_kwh`` spread evenly over the 15-minute intervals of [start, end),
    restricted to ``window`` (UTC interval starts); kWh per interval."""
    intervals = pd.date_range(start, end, freq="15min", inclusive="left")
    if len(intervals) == 0:
        return pd.Series(0.0, index=window)
    per_interval = energy_kwh / len(intervals)
    inside = window[(window >= start) & (window < end)]
    return pd.Series(per_interval, index=inside).reindex(window, fill_value=0.0)
