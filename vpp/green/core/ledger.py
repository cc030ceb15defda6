"""The month's energy-carbon ledger of each enterprise and of the park.

Per scope (an enterprise, or the park = all enterprises together):

- one row per carrier: quantity in its canonical unit, tce (GB/T 2589, `carriers`), kg CO2;
  an output carrier (hydrogen) enters with negative tce, so the rows' tce add up to the
  comprehensive energy consumption (综合能耗 = energy consumed - energy supplied out);
- electricity is the consumption (on-site PV consumed plus grid import); its CO2 is the
  grid factor x grid import not proven green by certificates (15-minute matching);
- carbon intensity (单位能耗碳排放) = t CO2 / comprehensive tce, the zero-carbon park core
  indicator (发改环资〔2025〕910号);
- clean-energy share = tce of green electricity (PV consumed on site + certified green
  power) / tce of all energy consumed (natural gas counts as clean only if configured, as
  the national statistics' 清洁能源 do), against the park's target (80 % by 2028);
- emissions avoided by the VPP's load shifting (`shifted_energy`).

The park's matching nets PV and load across enterprises within each period (the park's
own network), and its contracted green power is capped by the certified green power the
enterprises used, so the park never claims more certificates than its members.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from vpp.green.core.carriers import CANONICAL_UNIT, Carrier, FactorSet, co2_kg_of, tce_of
from vpp.green.core.matching import GreenTotals, Resolution, match_periods, totals

PARK = "park"
"""The scope name of the whole park."""
TOTAL = "total"


@dataclass(frozen=True)
class Targets:
    """The park's goals and the rule thresholds a report is checked against."""

    clean_share: float = 0.8
    """Clean-energy share the park aims at (fraction), by ``clean_share_year``."""
    clean_share_year: int = 2028
    direct_supply_min_self_consumption: float = 0.6
    """绿电直连: at least 60 % of the directly supplied renewables consumed by the user."""
    clean_includes_natural_gas: bool = False


@dataclass(frozen=True)
class CarrierRow:
    """One carrier of one scope's month: quantity (canonical unit), tce, kg CO2."""

    carrier: str
    quantity: float
    unit: str
    tce: float
    co2_kg: float


@dataclass(frozen=True)
class ShiftTotals:
    """Load shifting delivered in a month and the emissions it avoided."""

    valley_fill_kwh: float
    """Extra consumption delivered in curtailment hours (kWh)."""
    peak_cut_kwh: float
    """Consumption removed in peak hours (kWh; recovered at another time)."""
    avoided_co2_kg: float


@dataclass(frozen=True)
class ScopeLedger:
    """Everything the report says about one scope for one month."""

    scope: Hashable
    matching: GreenTotals
    """15-minute matching (the headline)."""
    matching_hourly: GreenTotals
    carriers: list[CarrierRow]
    energy_tce: float
    """Comprehensive energy consumption: inputs minus outputs (tce)."""
    gross_energy_tce: float
    """Energy consumed, outputs not deducted (tce)."""
    co2_kg: float
    intensity_t_co2_per_tce: float | None
    clean_share: float | None
    shifting: ShiftTotals
    direct_supply_rule_met: bool | None
    """Self-consumption share of on-site PV >= the 绿电直连 threshold (None without PV)."""


@dataclass(frozen=True)
class ParkReport:
    month: date
    factors: FactorSet
    targets: Targets
    scopes: dict[Hashable, ScopeLedger] = field(default_factory=dict)

    @property
    def park(self) -> ScopeLedger:
        return self.scopes[PARK]


def shifted_energy(
    shifts: pd.DataFrame,
    curtailment_hours: Iterable[int],
    peak_hours: Iterable[int],
    grid_kg_co2_per_kwh: float,
) -> dict[Hashable, ShiftTotals]:
    """Valley-fill and peak-cut energy delivered per scope and the CO2 it avoided.

    ``shifts`` has one row per asset and 15-minute interval: ``scope``, ``ts`` (UTC start),
    ``baseline_kw``, ``measured_kw`` (mean telemetry), ``deviation_kw`` (the plan, + raises
    net load). Delivered valley fill = min(measured - baseline, planned raise), >= 0, in
    intervals whose Asia/Shanghai hour is a curtailment hour; delivered peak cut =
    min(baseline - measured, planned cut), >= 0, in peak hours.

    Method: in the Hexi corridor wind and solar are curtailed when the grid cannot absorb
    them; load moved into those hours consumes renewable energy that would otherwise be
    lost instead of grid energy at another time, so avoided CO2 = valley-fill kWh x grid
    factor. Peak-cut kWh are recovered at another time (often in the same valley) and
    avoid nothing by themselves; counting them too would count the same shift twice.
    """
    if shifts.empty:
        return {}
    local_hour = (shifts["ts"] + pd.Timedelta(hours=8)).dt.hour
    base = shifts["baseline_kw"].to_numpy(np.float64)
    measured = shifts["measured_kw"].to_numpy(np.float64)
    planned = shifts["deviation_kw"].to_numpy(np.float64)
    in_valley = local_hour.isin(list(curtailment_hours)).to_numpy()
    in_peak = local_hour.isin(list(peak_hours)).to_numpy()
    up = np.where(
        in_valley & (planned > 0), np.clip(np.minimum(measured - base, planned), 0, None), 0.0
    )
    down = np.where(
        in_peak & (planned < 0), np.clip(np.minimum(base - measured, -planned), 0, None), 0.0
    )
    frame = pd.DataFrame({"scope": shifts["scope"], "up": up * 0.25, "down": down * 0.25})
    sums = frame.groupby("scope")[["up", "down"]].sum()
    return {
        scope: ShiftTotals(
            float(row["up"]), float(row["down"]), float(row["up"]) * grid_kg_co2_per_kwh
        )
        for scope, row in sums.iterrows()
    }


def _carrier_rows(
    matching: GreenTotals, quantities: Mapping[Carrier, float], factors: FactorSet
) -> list[CarrierRow]:
    rows = [
        CarrierRow(
            Carrier.ELECTRICITY.value,
            matching.load_kwh,
            CANONICAL_UNIT[Carrier.ELECTRICITY],
            float(tce_of(Carrier.ELECTRICITY, matching.load_kwh, factors)),
            float(co2_kg_of(Carrier.ELECTRICITY, matching.grid_residual_kwh, factors)),
        )
    ]
    for carrier in Carrier:
        if carrier is Carrier.ELECTRICITY:
            continue
        quantity = float(quantities.get(carrier, 0.0))
        sign = -1.0 if factors.carriers[carrier].output else 1.0
        rows.append(
            CarrierRow(
                carrier.value,
                quantity,
                CANONICAL_UNIT[carrier],
                sign * float(tce_of(carrier, quantity, factors)),
                0.0 if sign < 0 else float(co2_kg_of(carrier, quantity, factors)),
            )
        )
    return rows


def build_report(
    month: date,
    intervals: pd.DataFrame,
    quantities: pd.DataFrame,
    certified_kwh: Mapping[Hashable, float],
    shifts: pd.DataFrame,
    factors: FactorSet,
    targets: Targets,
    curtailment_hours: Iterable[int] = range(10, 16),
    peak_hours: Iterable[int] = range(18, 22),
) -> ParkReport:
    """The month's ledger per enterprise and for the park.

    ``intervals``: ``scope``, ``ts``, ``load_kwh``, ``pv_kwh``, ``contract_kwh`` per
    15-minute interval (`match_periods`); ``quantities``: ``scope``, ``carrier``,
    ``quantity`` (canonical units, the month's metered totals of the carriers other than
    electricity); ``certified_kwh``: kWh of certificates each enterprise uses this month;
    ``shifts``: see `shifted_energy`. Scopes are the union of those present; the park is
    added as scope ``"park"``.
    """
    if intervals.empty:
        intervals = pd.DataFrame(
            {
                "scope": pd.Series(dtype=object),
                "ts": pd.Series(dtype="datetime64[ns, UTC]"),
                **{c: pd.Series(dtype=np.float64) for c in ("load_kwh", "pv_kwh", "contract_kwh")},
            }
        )
    park_intervals = intervals.groupby("ts", as_index=False)[["load_kwh", "pv_kwh", "contract_kwh"]]
    park_frame = park_intervals.sum().assign(scope=PARK)
    enterprise_cap = pd.Series(dict(certified_kwh), dtype=np.float64)

    by_resolution: dict[Resolution, dict[object, GreenTotals]] = {}
    for resolution in Resolution:
        periods = match_periods(intervals, resolution)
        own = totals(periods, enterprise_cap)
        park_cap = pd.Series({PARK: sum(t.contract_green_kwh for t in own.values())})
        park = totals(match_periods(park_frame, resolution), park_cap)
        by_resolution[resolution] = {**own, **park}
    quarter, hourly = by_resolution[Resolution.QUARTER_HOUR], by_resolution[Resolution.HOUR]

    shifting = shifted_energy(shifts, curtailment_hours, peak_hours, factors.grid_kg_co2_per_kwh)
    if shifting:
        shifting[PARK] = ShiftTotals(
            sum(s.valley_fill_kwh for s in shifting.values()),
            sum(s.peak_cut_kwh for s in shifting.values()),
            sum(s.avoided_co2_kg for s in shifting.values()),
        )
    none_shifted = ShiftTotals(0.0, 0.0, 0.0)

    per_scope: dict[Hashable, dict[Carrier, float]] = {}
    if not quantities.empty:
        sums = quantities.groupby(["scope", "carrier"], as_index=False)["quantity"].sum()
        for scope, name, value in zip(
            sums["scope"], sums["carrier"], sums["quantity"], strict=True
        ):
            carrier = Carrier(name)
            per_scope.setdefault(scope, {})[carrier] = float(value)
            park_row = per_scope.setdefault(PARK, {})
            park_row[carrier] = park_row.get(carrier, 0.0) + float(value)

    scopes: dict[Hashable, ScopeLedger] = {}
    empty = GreenTotals(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, None, None)
    names: list[Hashable] = sorted(
        {*quarter, *(s for s in per_scope if s != PARK)} - {PARK}, key=str
    )
    for scope in [*names, PARK]:
        matching = quarter.get(scope, empty)
        rows = _carrier_rows(matching, per_scope.get(scope, {}), factors)
        energy_tce = sum(r.tce for r in rows)
        gross_tce = sum(r.tce for r in rows if r.tce > 0)
        co2 = sum(r.co2_kg for r in rows)
        clean_tce = float(tce_of(Carrier.ELECTRICITY, matching.green_kwh, factors))
        if targets.clean_includes_natural_gas:
            clean_tce += next(r.tce for r in rows if r.carrier == Carrier.NATURAL_GAS.value)
        self_share = matching.self_consumption_share
        scopes[scope] = ScopeLedger(
            scope=scope,
            matching=matching,
            matching_hourly=hourly.get(scope, empty),
            carriers=rows,
            energy_tce=energy_tce,
            gross_energy_tce=gross_tce,
            co2_kg=co2,
            intensity_t_co2_per_tce=(co2 / 1000.0) / energy_tce if energy_tce > 0 else None,
            clean_share=clean_tce / gross_tce if gross_tce > 0 else None,
            shifting=shifting.get(scope, none_shifted),
            direct_supply_rule_met=(
                None
                if self_share is None
                else self_share >= targets.direct_supply_min_self_consumption
            ),
        )
    return ParkReport(month=month, factors=factors, targets=targets, scopes=scopes)
