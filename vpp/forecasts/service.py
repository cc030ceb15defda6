"""Day-ahead forecasts and envelopes from stored telemetry, through ``vpp.forecast``."""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from vpp.assets import repository as assets_repository
from vpp.assets.service import get_asset
from vpp.domain.assets import AssetParams, PvParams, flexibility_of, parse_params
from vpp.domain.flexibility import GeneralisedBattery
from vpp.domain.time import day_bounds_utc, interval_starts_utc
from vpp.forecast.calendar import FloatArray
from vpp.forecast.flexibility import (
    FlexEnvelope,
    deviation_bounds,
    envelope,
    pool_envelope,
    pv_curtailment_bounds,
    robust_bounds,
)
from vpp.forecast.model import forecast_from_telemetry
from vpp.forecast.pv import forecast_pv
from vpp.forecast.quality import Confidence
from vpp.forecasts.schemas import AssetForecast, IntervalForecast, PoolFlexibility, PoolInterval
from vpp.kit.auth import Principal
from vpp.models import Asset
from vpp.telemetry.repository import read_range

HISTORY_DAYS = 42
MAX_READINGS = 200_000


def _history(session: Session, asset: Asset, day: date) -> pd.Series:
    start, _ = day_bounds_utc(day - timedelta(days=HISTORY_DAYS))
    end, _ = day_bounds_utc(day)
    rows = read_range(session, asset.id, start, end, MAX_READINGS)
    return pd.Series(
        [r.power_kw for r in rows],
        index=pd.DatetimeIndex([r.ts for r in rows], tz="UTC"),
        dtype=float,
    )


def _number(value: float) -> float | None:
    return None if math.isnan(value) else round(float(value), 3) + 0.0  # no -0.0


@dataclass(frozen=True)
class AssetOutlook:
    """An asset's day-ahead forecast, unrounded: what bidding and the API both read."""

    params: AssetParams
    battery: GeneralisedBattery
    mean_kw: FloatArray
    """Expected net load per interval (kW); NaN without a forecast."""
    bands_kw: FloatArray
    """Net-load quantiles P10, P50, P90 per interval, shape (3, 96) (kW)."""
    envelope: FlexEnvelope
    """Flexibility around the median."""
    method: str
    confidence: Confidence
    notes: tuple[str, ...]

    @property
    def median_kw(self) -> FloatArray:
        """P50 net load per interval (kW); the nominal baseline where there is no forecast."""
        return np.where(np.isnan(self.bands_kw[1]), self.battery.baseline_kw, self.bands_kw[1])

    def band(self, quantile: float) -> tuple[FloatArray, FloatArray]:
        """Net-load band (low, high) per interval (kW) between the ``quantile`` and
        ``1 - quantile`` forecasts (0.5: the median twice); nominal where none."""
        low, high = (0, 2) if quantile < 0.5 else (1, 1)
        fallback = self.battery.baseline_kw
        return (
            np.where(np.isnan(self.bands_kw[low]), fallback, self.bands_kw[low]),
            np.where(np.isnan(self.bands_kw[high]), fallback, self.bands_kw[high]),
        )

    def deviation_bounds(self, quantile: float) -> tuple[FloatArray, FloatArray]:
        """Deviation bounds (lo, hi) in kW deliverable for any baseline between the
        ``quantile`` and ``1 - quantile`` forecasts (0.5 = around the median, 0.1 = for
        any baseline in the P10-P90 band); the operator's risk setting."""
        return self.bounds_within(*self.band(quantile))

    def bounds_within(
        self, low_kw: FloatArray, high_kw: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        """Deviation bounds (lo, hi) in kW good for any net-load baseline in [low, high]."""
        if isinstance(self.params, PvParams):
            generation = np.clip(-high_kw, 0.0, None)  # the least generation to curtail
            return pv_curtailment_bounds(
                generation, self.params.ac_capacity_kw, self.params.curtailable
            )
        lo, hi = robust_bounds(self.battery, low_kw, high_kw)
        # A band wider than the asset's range (or a quantile outside it) leaves no
        # deviation good for every baseline in it; following the baseline (0) always is.
        return np.minimum(lo, 0.0), np.maximum(hi, 0.0)


def outlook_of(session: Session, asset: Asset, day: date) -> AssetOutlook:
    """The asset's baseline band for ``day`` and the flexibility around its median."""
    params = parse_params(asset.kind, asset.params)
    battery = flexibility_of(params)
    history = _history(session, asset, day)
    if isinstance(params, PvParams):
        generation = history.clip(upper=0.0).abs() if not history.empty else None
        pv = forecast_pv(day, params, generation)
        return AssetOutlook(
            params=params,
            battery=battery,
            mean_kw=pv.net_load_kw,
            bands_kw=-pv.quantile_kw[::-1],  # generation quantiles -> net-load quantiles
            envelope=envelope(
                battery,
                pv_curtailment_bounds(pv.generation_kw, params.ac_capacity_kw, params.curtailable),
            ),
            method="pv clear-sky x cloudiness",
            confidence=Confidence(pv.cloudiness.confidence),
            notes=(),
        )
    forecast, reports = forecast_from_telemetry({str(asset.id): history}, day)
    bands = forecast.quantile_kw[0]
    median = np.where(np.isnan(bands[1]), battery.baseline_kw, bands[1])
    return AssetOutlook(
        params=params,
        battery=battery,
        mean_kw=forecast.mean_kw[0],
        bands_kw=bands,
        envelope=envelope(battery, deviation_bounds(battery, median)),
        method=forecast.method,
        confidence=Confidence(forecast.confidence[0]),
        notes=tuple(reports[str(asset.id)].notes),
    )


def forecast_asset(session: Session, asset: Asset, day: date) -> tuple[AssetForecast, FlexEnvelope]:
    """The asset's forecast as the API shows it, and its envelope."""
    outlook = outlook_of(session, asset, day)
    mean, bands, env = outlook.mean_kw, outlook.bands_kw, outlook.envelope
    intervals = [
        IntervalForecast(
            start=start.to_pydatetime(),
            baseline_kw=_number(mean[i]),
            p10_kw=_number(bands[0][i]),
            p50_kw=_number(bands[1][i]),
            p90_kw=_number(bands[2][i]),
            up_kw=round(float(env.up_kw[i]), 3),
            down_kw=round(float(env.down_kw[i]), 3),
        )
        for i, start in enumerate(interval_starts_utc(day))
    ]
    out = AssetForecast(
        asset_id=asset.id,
        day=day,
        method=outlook.method,
        confidence=outlook.confidence.value,
        quality_notes=list(outlook.notes),
        intervals=intervals,
    )
    return out, env


def asset_forecast(
    session: Session, principal: Principal, asset_id: uuid.UUID, day: date
) -> AssetForecast:
    return forecast_asset(session, get_asset(session, principal, asset_id), day)[0]


def pool_flexibility(session: Session, day: date) -> PoolFlexibility:
    """Every active asset forecast and its envelope summed (the guaranteed boxes add up)."""
    assets: Sequence[Asset] = assets_repository.list_assets(session, None, None, 1_000_000)
    forecasts = [forecast_asset(session, asset, day) for asset in assets]
    if not forecasts:
        return PoolFlexibility(day=day, assets=0, assets_without_forecast=0, intervals=[])
    pool = pool_envelope([env for _, env in forecasts])
    baseline = np.nansum(
        [
            [iv.p50_kw if iv.p50_kw is not None else np.nan for iv in f.intervals]
            for f, _ in forecasts
        ],
        axis=0,
    )
    return PoolFlexibility(
        day=day,
        assets=len(forecasts),
        assets_without_forecast=sum(f.confidence == Confidence.NONE.value for f, _ in forecasts),
        intervals=[
            PoolInterval(
                start=start.to_pydatetime(),
                baseline_kw=round(float(baseline[i]), 3),
                up_kw=round(float(pool.up_kw[i]), 3),
                down_kw=round(float(pool.down_kw[i]), 3),
                up_call_kw=round(float(pool.up_call_kw[i]), 3),
                down_call_kw=round(float(pool.down_call_kw[i]), 3),
            )
            for i, start in enumerate(interval_starts_utc(day))
        ],
    )
