"""Day-ahead outlooks of many assets at once: baseline bands and flexibility (pure).

An asset's outlook is its net-load forecast (P10/P50/P90 per interval, kW) and the
flexibility around the median. Load-type assets of a block are forecast together by the
vectorised load model (`forecast_from_readings`: one fit over an (assets, days, 96)
array, each asset with its own coefficients, so the result per asset is the same as
forecasting it alone); PV plants by clear sky x learned cloudiness (`forecast_pv`).
`outlook_block` is a plain function of plain data, so the service fans blocks of assets
out over its distributed engine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from vpp.domain.assets import AssetParams, PvParams, flexibility_of, parse_params
from vpp.domain.flexibility import GeneralisedBattery
from vpp.forecast.calendar import FloatArray
from vpp.forecast.flexibility import (
    FlexEnvelope,
    deviation_bounds,
    envelope,
    pv_curtailment_bounds,
    robust_bounds,
)
from vpp.forecast.model import forecast_from_readings
from vpp.forecast.pv import forecast_pv
from vpp.forecast.quality import Confidence
from vpp.forecast.readings import PackedReadings


@dataclass(frozen=True)
class AssetOutlook:
    """An asset's day-ahead forecast, unrounded: what bidding and the API both read."""

    params: AssetParams
    battery: GeneralisedBattery
    mean_kw: FloatArray
    """Expected net load per interval (kW); NaN without a forecast."""
    bands_kw: FloatArray
    """Net-load quantiles P10, P50, P90 per interval, shape (3, 96) (kW)."""
    method: str
    confidence: Confidence
    notes: tuple[str, ...]
    envelope_bounds_kw: tuple[FloatArray, FloatArray] | None = None
    """Deviation bounds (lo, hi) per interval (kW) the envelope is built from."""
    envelope: FlexEnvelope | None = None
    """Flexibility around the median, if already built (else `flex_envelope` builds it:
    bidding never needs it, and it costs more than the forecast)."""

    def flex_envelope(self) -> FlexEnvelope:
        """Flexibility around the median (`vpp.forecast.flexibility.envelope`)."""
        if self.envelope is not None:
            return self.envelope
        return envelope(self.battery, self.envelope_bounds_kw)

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


@dataclass(frozen=True)
class OutlookJob:
    """A block of assets to forecast: kinds, stored parameters (JSON) and raw telemetry
    (kW; none for an asset without any), all in the same order."""

    day: date
    asset_ids: tuple[str, ...]
    kinds: tuple[str, ...]
    params: tuple[Mapping[str, Any], ...]
    history: PackedReadings
    history_days: int = 200
    """Days before ``day`` the load model looks at (`forecast_from_readings`)."""


def _unsure(confidence: Confidence, reason: str) -> tuple[str, ...]:
    """The note that says why a forecast is below confidence OK (none when it is OK)."""
    if confidence == Confidence.OK or not reason:
        return ()
    return (f"confidence {confidence.value}: {reason}",)


def pv_outlook(day: date, params: PvParams, history: pd.Series) -> AssetOutlook:
    """A PV plant's outlook from its recent net load (kW, generation negative)."""
    battery = flexibility_of(params)
    # numpy rather than Series.clip: pandas' clip costs 0.6 ms a plant, half its forecast
    generation = (
        pd.Series(np.maximum(-history.to_numpy(), 0.0), index=history.index)
        if not history.empty
        else None
    )
    pv = forecast_pv(day, params, generation)
    confidence = Confidence(pv.cloudiness.confidence)
    return AssetOutlook(
        params=params,
        battery=battery,
        mean_kw=pv.net_load_kw,
        bands_kw=-pv.quantile_kw[::-1],  # generation quantiles -> net-load quantiles
        method="pv clear-sky x cloudiness",
        confidence=confidence,
        notes=_unsure(confidence, pv.cloudiness.reason),
        envelope_bounds_kw=pv_curtailment_bounds(
            pv.generation_kw, params.ac_capacity_kw, params.curtailable
        ),
    )


def load_outlooks(
    day: date,
    asset_ids: Sequence[str],
    params: Sequence[AssetParams],
    history: Sequence[tuple[np.ndarray, FloatArray]],
    history_days: int = 200,
) -> list[AssetOutlook]:
    """Outlooks of load-type assets (anything but PV), forecast together (module docstring).

    history: each asset's readings as (UTC nanoseconds since the epoch, kW) arrays."""
    if not asset_ids:
        return []
    forecast, reports = forecast_from_readings(
        dict(zip(asset_ids, history, strict=True)), day, history_days=history_days
    )
    out = []
    for i, (asset_id, p) in enumerate(zip(asset_ids, params, strict=True)):
        battery = flexibility_of(p)
        bands = forecast.quantile_kw[i]
        median = np.where(np.isnan(bands[1]), battery.baseline_kw, bands[1])
        confidence = Confidence(forecast.confidence[i])
        reason = forecast.confidence_reasons[i] if forecast.confidence_reasons else ""
        notes = tuple(reports[asset_id].notes) + _unsure(confidence, reason)
        out.append(
            AssetOutlook(
                params=p,
                battery=battery,
                mean_kw=forecast.mean_kw[i],
                bands_kw=bands,
                method=forecast.method,
                confidence=confidence,
                notes=notes,
                envelope_bounds_kw=deviation_bounds(battery, median),
            )
        )
    return out


def outlook_block(job: OutlookJob) -> list[AssetOutlook]:
    """Every asset's outlook of ``job``, in its order."""
    params = [parse_params(k, p) for k, p in zip(job.kinds, job.params, strict=True)]
    out: list[AssetOutlook | None] = [None] * len(params)
    load = [i for i, p in enumerate(params) if not isinstance(p, PvParams)]
    for i, p in enumerate(params):
        if isinstance(p, PvParams):
            out[i] = pv_outlook(job.day, p, job.history.series(i))
    loads = load_outlooks(
        job.day,
        [job.asset_ids[i] for i in load],
        [params[i] for i in load],
        [job.history.arrays(i) for i in load],
        job.history_days,
    )
    for i, outlook in zip(load, loads, strict=True):
        out[i] = outlook
    return [o for o in out if o is not None]
