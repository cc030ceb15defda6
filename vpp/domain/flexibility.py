"""The one flexibility model: every asset is a baseline plus a generalised-battery deviation."""

from __future__ import annotations

import math
from dataclasses import dataclass

from vpp.domain.errors import InvalidParameterError, check_number, check_range
from vpp.domain.units import Direction, split_flexibility


@dataclass(frozen=True)
class GeneralisedBattery:
    """Controllable deviation p (kW) of an asset's net load from its baseline (DESIGN §3).

    Net load = baseline + p, signs per `vpp.domain.units`. Per interval t (Δt = 0.25 h):

        p_min_kw <= p[t] <= p_max_kw
        e[t+1] = a·e[t] + η·p[t]·Δt,   e_min_kwh <= e[t] <= e_max_kwh,   e[0] = e_initial_kwh
        |p[t] - p[t-1]| <= ramp_kw_per_interval   (if given)

    Energy bounds may be ±math.inf for assets without energy coupling (e.g. PV curtailment).
    Batteries, curtailable loads, shiftable processes, EV fleets and curtailable PV are each
    a parameterisation (see `vpp.domain.assets`); that is what makes pooling one LP.
    """

    baseline_kw: float
    """Nominal baseline net load (kW, signed) used when no forecast exists."""
    p_min_kw: float
    """Lowest deviation (kW); usually <= 0: the most the asset can lower its net load."""
    p_max_kw: float
    """Highest deviation (kW); usually >= 0: the most the asset can raise its net load."""
    e_min_kwh: float = -math.inf
    """Lower bound of the deviation's energy state (kWh); may be -inf."""
    e_max_kwh: float = math.inf
    """Upper bound of the deviation's energy state (kWh); may be +inf."""
    e_initial_kwh: float = 0.0
    """Energy state at the start of the horizon (kWh); finite, within the bounds."""
    retention_per_interval: float = 1.0
    """a in (0, 1]: fraction of the energy state kept from one interval to the next."""
    efficiency: float = 1.0
    """η in (0, 1]: energy-state change per kWh of deviation."""
    ramp_kw_per_interval: float | None = None
    """Largest change of p between consecutive intervals (kW); None = unlimited."""

    def __post_init__(self) -> None:
        def put(name: str, value: float) -> None:
            object.__setattr__(self, name, value)

        put("baseline_kw", check_number("baseline_kw", self.baseline_kw))
        p_min = check_number("p_min_kw", self.p_min_kw)
        p_max = check_number("p_max_kw", self.p_max_kw)
        if p_min > p_max:
            raise InvalidParameterError("p_min_kw", "power_order", "must not exceed p_max_kw")
        put("p_min_kw", p_min)
        put("p_max_kw", p_max)
        e_min = check_number("e_min_kwh", self.e_min_kwh, allow_infinite=True)
        e_max = check_number("e_max_kwh", self.e_max_kwh, allow_infinite=True)
        e_initial = check_number("e_initial_kwh", self.e_initial_kwh)
        if e_min > e_max:
            raise InvalidParameterError("e_min_kwh", "energy_order", "must not exceed e_max_kwh")
        if not e_min <= e_initial <= e_max:
            raise InvalidParameterError(
                "e_initial_kwh", "energy_order", "must lie within [e_min_kwh, e_max_kwh]"
            )
        put("e_min_kwh", e_min)
        put("e_max_kwh", e_max)
        put("e_initial_kwh", e_initial)
        put(
            "retention_per_interval",
            check_range(
                "retention_per_interval",
                self.retention_per_interval,
                0.0,
                1.0,
                rule="retention_range",
                low_open=True,
            ),
        )
        put(
            "efficiency",
            check_range(
                "efficiency", self.efficiency, 0.0, 1.0, rule="efficiency_range", low_open=True
            ),
        )
        if self.ramp_kw_per_interval is not None:
            put(
                "ramp_kw_per_interval",
                check_range(
                    "ramp_kw_per_interval",
                    self.ramp_kw_per_interval,
                    0.0,
                    rule="positive",
                    low_open=True,
                ),
            )

    @property
    def up_kw(self) -> float:
        """Rated upward flexibility (kW, >= 0): max(p_max_kw, 0), ignoring energy bounds."""
        return split_flexibility(self.p_min_kw, self.p_max_kw)[0]

    @property
    def down_kw(self) -> float:
        """Rated downward flexibility (kW, >= 0): max(-p_min_kw, 0), ignoring energy bounds."""
        return split_flexibility(self.p_min_kw, self.p_max_kw)[1]

    def sustainable_kw(self, direction: Direction, hours: float) -> float:
        """Power (kW, >= 0) the asset can hold in `direction` for `hours` h from e_initial_kwh.

        UP:   min(up_kw, (e_max - e_initial) / (η·hours)).
        DOWN: min(down_kw, (e_initial - e_min) / hours).

        Retention (a < 1) and ramp limits are ignored, so this is a quick rating, not a
        schedule. DOWN does not divide by η: that is conservative (the linear model's η·p
        term would let a discharge draw only η kWh of state per kWh delivered).
        """
        hours = check_range("hours", hours, 0.0, rule="positive", low_open=True)
        if direction == Direction.UP:
            room_kwh = self.e_max_kwh - self.e_initial_kwh
            return min(self.up_kw, room_kwh / (self.efficiency * hours))
        stored_kwh = self.e_initial_kwh - self.e_min_kwh
        return min(self.down_kw, stored_kwh / hours)
