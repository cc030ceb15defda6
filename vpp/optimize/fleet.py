"""A fleet of generalised batteries as arrays over n assets x T intervals, the optimisers' input."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
import numpy.typing as npt

from vpp.domain import INTERVAL_HOURS, INTERVALS_PER_DAY, GeneralisedBattery

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

_TOLERANCE_KWH = 1e-9
_PER_ASSET = (
    "e_min_kwh",
    "e_max_kwh",
    "e_initial_kwh",
    "retention",
    "efficiency",
    "ramp_kw",
    "activation_cost_cny_per_mwh",
)


@dataclass(frozen=True)
class Fleet:
    """n generalised batteries (DESIGN §3) over a horizon of T intervals of ``interval_hours``.

    Asset i's deviation p[i, t] (kW, net-load sign) from its baseline obeys
    lo_kw[i, t] <= p <= hi_kw[i, t], e[t+1] = retention·e[t] + efficiency·p[t]·Δt with
    e_min_kwh <= e <= e_max_kwh (±inf = unbounded) from e[0] = e_initial_kwh, and
    |p[t] - p[t-1]| <= ramp_kw (inf = none) between consecutive intervals of the horizon.
    """

    asset_ids: tuple[str, ...]
    lo_kw: FloatArray
    """(n, T) lowest deviation per interval (kW)."""
    hi_kw: FloatArray
    """(n, T) highest deviation per interval (kW)."""
    e_min_kwh: FloatArray
    """(n,) lower energy bound (kWh), may be -inf."""
    e_max_kwh: FloatArray
    """(n,) upper energy bound (kWh), may be +inf."""
    e_initial_kwh: FloatArray
    """(n,) energy state at the start of the horizon (kWh), within the bounds."""
    retention: FloatArray
    """(n,) a in (0, 1]: fraction of the energy state kept per interval."""
    efficiency: FloatArray
    """(n,) η in (0, 1]: energy-state change per kWh of deviation."""
    ramp_kw: FloatArray
    """(n,) largest change of p between consecutive intervals (kW), inf = none."""
    activation_cost_cny_per_mwh: FloatArray
    """(n,) cost of delivering one MWh of accepted flexibility (CNY/MWh, >= 0)."""
    interval_hours: float = INTERVAL_HOURS

    def __post_init__(self) -> None:
        lo = np.array(self.lo_kw, np.float64, ndmin=2)
        hi = np.array(self.hi_kw, np.float64, ndmin=2)
        n = len(self.asset_ids)
        if lo.shape != hi.shape or lo.shape[0] != n or lo.shape[1] == 0:
            raise ValueError(f"lo_kw and hi_kw must both have shape ({n}, T), T >= 1")
        if not (np.isfinite(lo).all() and np.isfinite(hi).all()):
            raise ValueError("power bounds must be finite")
        if (lo > hi).any():
            raise ValueError("lo_kw must not exceed hi_kw")
        if len(set(self.asset_ids)) != n:
            raise ValueError("asset ids must be unique")
        object.__setattr__(self, "asset_ids", tuple(self.asset_ids))
        object.__setattr__(self, "lo_kw", lo)
        object.__setattr__(self, "hi_kw", hi)
        for name in _PER_ASSET:
            value = np.array(np.broadcast_to(getattr(self, name), (n,)), np.float64)
            object.__setattr__(self, name, value)
        e_min, e_max, e0 = self.e_min_kwh, self.e_max_kwh, self.e_initial_kwh
        if not np.isfinite(e0).all():
            raise ValueError("e_initial_kwh must be finite")
        if ((e_min > e0 + _TOLERANCE_KWH) | (e0 > e_max + _TOLERANCE_KWH)).any():
            raise ValueError("e_initial_kwh must lie within [e_min_kwh, e_max_kwh]")
        for name in ("retention", "efficiency"):
            value = getattr(self, name)
            if ((value <= 0) | (value > 1)).any():
                raise ValueError(f"{name} must lie in (0, 1]")
        if (self.ramp_kw <= 0).any() or np.isnan(self.ramp_kw).any():
            raise ValueError("ramp_kw must be > 0 (inf = no limit)")
        if (self.activation_cost_cny_per_mwh < 0).any():
            raise ValueError("activation_cost_cny_per_mwh must be >= 0")
        if self.interval_hours <= 0:
            raise ValueError("interval_hours must be > 0")

    @property
    def n_assets(self) -> int:
        return len(self.asset_ids)

    @property
    def horizon(self) -> int:
        return int(self.lo_kw.shape[1])

    @property
    def energy_limited(self) -> BoolArray:
        """Assets with at least one finite energy bound."""
        return np.isfinite(self.e_min_kwh) | np.isfinite(self.e_max_kwh)

    @property
    def ramp_limited(self) -> BoolArray:
        return np.isfinite(self.ramp_kw)

    def take(self, index: IntArray | Sequence[int]) -> Fleet:
        """The sub-fleet of the assets at ``index`` (in that order)."""
        idx = np.asarray(index, np.int64)
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values["asset_ids"] = tuple(self.asset_ids[i] for i in idx)
        values["lo_kw"], values["hi_kw"] = self.lo_kw[idx], self.hi_kw[idx]
        for name in _PER_ASSET:
            values[name] = values[name][idx]
        return Fleet(**values)

    def with_reserve(self, margin: float) -> Fleet:
        """The fleet with a fraction ``margin`` of every headroom held back (0 <= margin < 1).

        Power bounds shrink by ``margin`` towards the point of [lo, hi] nearest to the
        baseline (p = 0), energy bounds towards e_initial_kwh and ramp limits by the same
        fraction, so the starting state stays feasible and each asset keeps that share of
        its flexibility for intraday correction.
        """
        if not 0.0 <= margin < 1.0:
            raise ValueError("reserve margin must lie in [0, 1)")
        if margin == 0.0:
            return self
        keep = 1.0 - margin
        centre = np.clip(0.0, self.lo_kw, self.hi_kw)
        e0 = self.e_initial_kwh
        with np.errstate(invalid="ignore"):
            e_min = np.where(
                np.isfinite(self.e_min_kwh), e0 - keep * (e0 - self.e_min_kwh), -np.inf
            )
            e_max = np.where(np.isfinite(self.e_max_kwh), e0 + keep * (self.e_max_kwh - e0), np.inf)
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(
            lo_kw=centre + keep * (self.lo_kw - centre),
            hi_kw=centre + keep * (self.hi_kw - centre),
            e_min_kwh=e_min,
            e_max_kwh=e_max,
            ramp_kw=self.ramp_kw * keep,
        )
        return Fleet(**values)

    @classmethod
    def from_batteries(
        cls,
        asset_ids: Sequence[str],
        batteries: Sequence[GeneralisedBattery],
        *,
        lo_kw: FloatArray | None = None,
        hi_kw: FloatArray | None = None,
        activation_cost_cny_per_mwh: float | FloatArray = 0.0,
        horizon: int = INTERVALS_PER_DAY,
    ) -> Fleet:
        """A fleet from `GeneralisedBattery` models (`vpp.domain.flexibility_of`).

        lo_kw / hi_kw: (n, T) per-interval deviation bounds (kW), e.g. from
        `vpp.forecast.flexibility.deviation_bounds` around a forecast baseline or
        `pv_curtailment_bounds`; default each battery's constant p_min_kw / p_max_kw.
        A ramp of None becomes inf.
        """
        if len(asset_ids) != len(batteries):
            raise ValueError("one asset id per battery")

        def column(name: str) -> FloatArray:
            return np.array([float(getattr(b, name)) for b in batteries], np.float64)

        n = len(batteries)
        lo = np.repeat(column("p_min_kw")[:, None], horizon, 1) if lo_kw is None else lo_kw
        hi = np.repeat(column("p_max_kw")[:, None], horizon, 1) if hi_kw is None else hi_kw
        ramps = [b.ramp_kw_per_interval for b in batteries]
        return cls(
            asset_ids=tuple(asset_ids),
            lo_kw=np.asarray(lo, np.float64).reshape(n, -1),
            hi_kw=np.asarray(hi, np.float64).reshape(n, -1),
            e_min_kwh=column("e_min_kwh"),
            e_max_kwh=column("e_max_kwh"),
            e_initial_kwh=column("e_initial_kwh"),
            retention=column("retention_per_interval"),
            efficiency=column("efficiency"),
            ramp_kw=np.array([np.inf if r is None else r for r in ramps], np.float64),
            activation_cost_cny_per_mwh=np.broadcast_to(
                np.asarray(activation_cost_cny_per_mwh, np.float64), (n,)
            ).copy(),
        )
