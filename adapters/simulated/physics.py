"""Device physics for the simulated park, one small model per asset kind.

Each device answers ``step(now, dt_s)`` with its net power (kW, + consumption) and
state after ``dt_s`` seconds, following its target while the target is valid and its
own behaviour otherwise (the fallback a real device has when the VPP goes silent).
Noise is seeded per device, so a park replays identically under the same seed.
"""

from __future__ import annotations

import math
import random
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from adapters.simulated.solar import clear_sky_fraction, sun_elevation_deg
from vpp.domain.assets import (
    AssetKind,
    BatteryParams,
    CurtailableLoadParams,
    EvFleetParams,
    PvParams,
    ShiftableProcessParams,
    parse_params,
)
from vpp.domain.time import MARKET_TZ


@dataclass(frozen=True)
class State:
    power_kw: float
    soc: float | None = None
    energy_kwh: float | None = None
    status: str = "online"


def local_hours(now: datetime) -> float:
    local = now.astimezone(MARKET_TZ)
    return local.hour + local.minute / 60 + local.second / 3600


class Device(ABC):
    """A simulated asset: a target with an expiry, and its own behaviour without one."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.target_kw: float | None = None
        self.target_expires: datetime | None = None
        self.noise = 0.0

    def set_target(self, power_kw: float, expires_at: datetime) -> None:
        self.target_kw = power_kw
        self.target_expires = expires_at

    def target(self, now: datetime) -> float | None:
        if self.target_expires is not None and now >= self.target_expires:
            self.target_kw = self.target_expires = None
        return self.target_kw

    def _noise(self, sigma: float, dt_s: float) -> float:
        """AR(1) noise with a 15-minute correlation time; stationary std ``sigma``."""
        rho = math.exp(-dt_s / 900.0)
        self.noise = rho * self.noise + math.sqrt(1 - rho * rho) * self.rng.gauss(0.0, sigma)
        return self.noise

    @abstractmethod
    def step(self, now: datetime, dt_s: float) -> State:
        """Advance ``dt_s`` seconds to ``now``; return the state at ``now``."""


def _daily_shape(hours: float, amplitude: float) -> float:
    """Industrial load shape: higher in the working day, lowest before dawn."""
    return 1.0 + amplitude * math.sin(2 * math.pi * (hours - 9.0) / 24.0)


class Battery(Device):
    def __init__(self, p: BatteryParams, seed: int) -> None:
        super().__init__(seed)
        self.p = p
        self.energy_kwh = p.soc_initial * p.capacity_kwh
        self.power_kw = 0.0

    def step(self, now: datetime, dt_s: float) -> State:
        p, hours = self.p, dt_s / 3600
        wanted = self.target(now) or 0.0
        power = min(max(wanted, -p.discharge_power_kw), p.charge_power_kw)
        if p.ramp_kw_per_min is not None:
            limit = p.ramp_kw_per_min * dt_s / 60
            power = min(max(power, self.power_kw - limit), self.power_kw + limit)
        e_min, e_max = p.soc_min * p.capacity_kwh, p.soc_max * p.capacity_kwh
        # Round-trip losses are booked on charging (the generalised-battery convention).
        if power > 0:
            power = min(
                power, max(0.0, (e_max - self.energy_kwh) / (hours * p.round_trip_efficiency))
            )
            self.energy_kwh += power * hours * p.round_trip_efficiency
        else:
            power = max(power, -max(0.0, (self.energy_kwh - e_min) / hours))
            self.energy_kwh += power * hours
        self.energy_kwh *= (1 - p.self_discharge_per_day) ** (dt_s / 86400)
        self.power_kw = power
        return State(round(power, 3), self.energy_kwh / p.capacity_kwh, self.energy_kwh)


class CurtailableLoad(Device):
    def __init__(self, p: CurtailableLoadParams, seed: int) -> None:
        super().__init__(seed)
        self.p = p
        self.curtailed_kwh = 0.0
        self.day: date | None = None

    def step(self, now: datetime, dt_s: float) -> State:
        p = self.p
        day = now.astimezone(MARKET_TZ).date()
        if self.day != day:
            self.day, self.curtailed_kwh = day, 0.0  # the curtailment budget is per day
        baseline = max(
            0.0, p.nominal_kw * _daily_shape(local_hours(now), 0.08) * (1 + self._noise(0.03, dt_s))
        )
        wanted = self.target(now)
        budget_left = (
            math.inf
            if p.max_curtailment_kwh_per_day is None
            else p.max_curtailment_kwh_per_day - self.curtailed_kwh
        )
        if wanted is None or budget_left <= 0:
            power = baseline
        else:
            max_kw = p.max_kw if p.max_kw is not None else p.nominal_kw
            power = min(max(wanted, p.min_kw), max(max_kw, baseline))
        self.curtailed_kwh += max(0.0, baseline - power) * dt_s / 3600
        return State(round(power, 3))


class ShiftableProcess(Device):
    def __init__(self, p: ShiftableProcessParams, seed: int) -> None:
        super().__init__(seed)
        self.p = p
        self.power_kw = p.rated_kw
        self.stored_kwh = p.storage_initial_fraction * p.storage_kwh

    def step(self, now: datetime, dt_s: float) -> State:
        p, hours = self.p, dt_s / 3600
        max_kw = p.max_kw if p.max_kw is not None else p.rated_kw
        wanted = self.target(now)
        goal = p.rated_kw * (1 + self._noise(0.01, dt_s)) if wanted is None else wanted
        goal = min(max(goal, p.min_stable_kw), max_kw)
        # The buffer (hydrogen, heat, queued work) takes the difference to the rated
        # rate; a full buffer cannot take more, an empty one cannot give more.
        if p.storage_kwh > 0:
            room = (p.storage_kwh - self.stored_kwh) / hours
            goal = (
                min(goal, p.rated_kw + room)
                if goal > p.rated_kw
                else max(goal, p.rated_kw - self.stored_kwh / hours)
            )
        else:
            goal = p.rated_kw if wanted is None else goal
        if p.ramp_kw_per_min is not None:
            limit = p.ramp_kw_per_min * dt_s / 60
            goal = min(max(goal, self.power_kw - limit), self.power_kw + limit)
        self.power_kw = goal
        self.stored_kwh = min(
            p.storage_kwh, max(0.0, self.stored_kwh + (goal - p.rated_kw) * hours)
        )
        self.stored_kwh *= (1 - p.storage_loss_per_day) ** (dt_s / 86400)
        fraction = self.stored_kwh / p.storage_kwh if p.storage_kwh > 0 else None
        return State(round(goal, 3), fraction, self.stored_kwh)


class EvFleet(Device):
    """Vehicles plug in at ``PLUG_IN_HOUR`` local for ``plug_in_hours`` and need
    ``daily_energy_kwh`` between them; unmanaged they charge evenly over the window."""

    PLUG_IN_HOUR = 18.0

    def __init__(self, p: EvFleetParams, seed: int) -> None:
        super().__init__(seed)
        self.p = p
        self.window_start: datetime | None = None
        self.needed_kwh = 0.0

    def _in_window(self, now: datetime) -> float | None:
        """Hours left in the plug-in window, or None outside it."""
        since = (local_hours(now) - self.PLUG_IN_HOUR) % 24
        return self.p.plug_in_hours - since if since < self.p.plug_in_hours else None

    def step(self, now: datetime, dt_s: float) -> State:
        p, hours = self.p, dt_s / 3600
        left = self._in_window(now)
        if left is None:
            self.window_start = None
            return State(0.0, status="away")
        if self.window_start is None:
            self.window_start = now
            self.needed_kwh = p.daily_energy_kwh * (1 + 0.1 * self.rng.uniform(-1, 1))
        connected = max(1, round(p.charger_count * (0.85 + 0.15 * self.rng.random())))
        max_kw = connected * p.charger_power_kw
        min_kw = -max_kw if p.v2g else 0.0
        # Energy must still fit into what is left of the window at full power.
        must_kw = max(0.0, (self.needed_kwh - max_kw * max(0.0, left - hours)) / hours)
        wanted = self.target(now)
        plain = self.needed_kwh / max(left, hours)
        power = plain if wanted is None else wanted
        power = min(max(power, min_kw, must_kw), max_kw)
        if power > 0:
            power = min(power, self.needed_kwh / hours)  # a full battery takes no more
        self.needed_kwh = max(0.0, self.needed_kwh - power * hours)
        return State(
            round(power, 3), energy_kwh=self.needed_kwh, status="charging" if power > 0 else "idle"
        )


class Pv(Device):
    def __init__(self, p: PvParams, seed: int, latitude: float, longitude: float) -> None:
        super().__init__(seed)
        self.p = p
        self.latitude = latitude
        self.longitude = longitude
        self.cloud = 0.8

    def step(self, now: datetime, dt_s: float) -> State:
        p = self.p
        clear = clear_sky_fraction(sun_elevation_deg(now, self.latitude, self.longitude))
        # Cloudiness drifts slowly between 0.2 and 1 (a mean-reverting random walk).
        rho = math.exp(-dt_s / 3600)
        self.cloud = min(
            1.0, max(0.2, rho * self.cloud + (1 - rho) * 0.8 + self.rng.gauss(0, 0.05))
        )
        generation = min(p.peak_kw * clear * self.cloud, p.ac_capacity_kw)
        power = -generation
        wanted = self.target(now)
        if wanted is not None and p.curtailable:
            power = min(0.0, max(power, wanted))  # curtailment only ever raises net load
        return State(round(power, 3), status="online" if generation > 0 else "night")


def make_device(
    kind: str, params: Mapping[str, Any], seed: int, latitude: float, longitude: float
) -> Device:
    """The simulated device for an asset of ``kind`` with the stored ``params``."""
    parsed = parse_params(kind, params)
    if isinstance(parsed, BatteryParams):
        return Battery(parsed, seed)
    if isinstance(parsed, CurtailableLoadParams):
        return CurtailableLoad(parsed, seed)
    if isinstance(parsed, ShiftableProcessParams):
        return ShiftableProcess(parsed, seed)
    if isinstance(parsed, EvFleetParams):
        return EvFleet(parsed, seed)
    if isinstance(parsed, PvParams):
        return Pv(parsed, seed, latitude, longitude)
    raise ValueError(f"no simulation for asset kind {AssetKind(kind)}")
