"""A seeded, realistic mix of park enterprises and their flexible assets (pure).

The shares and size ranges follow the kinds of the demo park (Hexi corridor, Gansu) and
what industrial parks of the region enrol: many rooftop PV plants and curtailable HVAC or
process loads, fewer but larger shiftable processes (electrolyzers, electric boilers,
kilns, batch computing), stationary batteries and EV depots. Sizes are log-uniform
within each kind's range, so small assets are common and large ones rare. Every asset's
parameters pass the kind's own validation (its parameter class's checks), and the
same (assets, enterprises, seed) always draws the same fleet.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vpp.domain.assets import PARAMS_BY_KIND, AssetKind, AssetParams, ProcessType

KIND_SHARES: Mapping[AssetKind, float] = {
    AssetKind.PV: 0.30,
    AssetKind.CURTAILABLE_LOAD: 0.30,
    AssetKind.SHIFTABLE_PROCESS: 0.15,
    AssetKind.BATTERY: 0.15,
    AssetKind.EV_FLEET: 0.10,
}
"""Share of each kind among the fleet's assets (sums to 1)."""

PROCESS_SHARES: Mapping[ProcessType, float] = {
    ProcessType.ELECTROLYZER: 0.2,
    ProcessType.ELECTRIC_BOILER: 0.3,
    ProcessType.KILN: 0.3,
    ProcessType.DATA_CENTER: 0.2,
}

PARK_LATITUDE = 38.93
PARK_LONGITUDE = 100.45
"""Centre of the park (degrees N, degrees E); sites spread about 0.2 degrees around it."""

ASSETS_PER_ENTERPRISE = 10
"""Default enterprises: one per this many assets (at least one)."""


@dataclass(frozen=True)
class EnterpriseSpec:
    """An enterprise (tenant account) with one site at its grid connection point."""

    name: str
    site_name: str
    connection_point: str
    voltage_kv: float
    latitude: float
    longitude: float


@dataclass(frozen=True)
class AssetSpec:
    """One asset: the enterprise it belongs to (index), its validated parameters, and the
    seed of its simulated device."""

    enterprise: int
    name: str
    params: AssetParams
    device_seed: int

    @property
    def kind(self) -> AssetKind:
        return self.params.kind


@dataclass(frozen=True)
class FleetSpec:
    """The whole synthetic fleet."""

    enterprises: tuple[EnterpriseSpec, ...]
    assets: tuple[AssetSpec, ...]

    def count_by_kind(self) -> dict[AssetKind, int]:
        counts = dict.fromkeys(AssetKind, 0)
        for asset in self.assets:
            counts[asset.kind] += 1
        return counts


def _log_uniform(rng: random.Random, low: float, high: float) -> float:
    return math.exp(rng.uniform(math.log(low), math.log(high)))


def _kw(value: float) -> float:
    """Round to 0.1 (kW, kWh): enrolled values are nameplate figures, not float noise."""
    return round(value, 1)


def _battery(rng: random.Random) -> dict[str, Any]:
    capacity = _kw(_log_uniform(rng, 200, 20_000))
    power = _kw(capacity * rng.choice((0.25, 0.5, 0.5, 1.0)))
    soc_min = round(rng.uniform(0.05, 0.15), 3)
    soc_max = round(rng.uniform(0.85, 0.95), 3)
    return {
        "capacity_kwh": capacity,
        "charge_power_kw": power,
        "discharge_power_kw": power,
        "soc_min": soc_min,
        "soc_max": soc_max,
        "soc_initial": round(rng.uniform(soc_min, soc_max), 3),
        "round_trip_efficiency": round(rng.uniform(0.85, 0.93), 3),
        "self_discharge_per_day": round(rng.uniform(0.0, 0.02), 4),
    }


def _curtailable(rng: random.Random) -> dict[str, Any]:
    nominal = _kw(_log_uniform(rng, 80, 3_000))
    params: dict[str, Any] = {
        "nominal_kw": nominal,
        "min_kw": _kw(nominal * rng.uniform(0.4, 0.8)),
        "max_kw": _kw(nominal * rng.uniform(1.0, 1.2)),
    }
    if rng.random() < 0.5:  # half declare a daily budget of 1-4 full-curtailment hours
        params["max_curtailment_kwh_per_day"] = _kw(nominal * rng.uniform(1.0, 4.0))
    return params


def _process(rng: random.Random) -> dict[str, Any]:
    process = rng.choices(list(PROCESS_SHARES), weights=list(PROCESS_SHARES.values()))[0]
    rated = _kw(_log_uniform(rng, 500, 15_000))
    params: dict[str, Any] = {
        "process": process.value,
        "rated_kw": rated,
        "min_stable_kw": _kw(rated * rng.uniform(0.1, 0.6)),
        "max_kw": _kw(rated * rng.uniform(1.0, 1.25)),
        "storage_kwh": _kw(rated * rng.uniform(1.0, 6.0)),
        "storage_initial_fraction": round(rng.uniform(0.3, 0.7), 3),
        "storage_loss_per_day": round(rng.uniform(0.0, 0.05), 4),
    }
    if process is ProcessType.KILN:  # thermal processes ramp slowly (1-2 % of rated a minute)
        params["ramp_kw_per_min"] = _kw(rated * rng.uniform(0.01, 0.02))
    return params


def _ev_fleet(rng: random.Random) -> dict[str, Any]:
    count = rng.randint(5, 60)
    power = rng.choice((7.0, 22.0, 60.0, 120.0))
    hours = round(rng.uniform(8.0, 14.0), 1)
    return {
        "charger_count": count,
        "charger_power_kw": power,
        "daily_energy_kwh": _kw(count * power * hours * rng.uniform(0.3, 0.8)),
        "plug_in_hours": hours,
        "v2g": rng.random() < 0.15,
    }


def _pv(rng: random.Random) -> dict[str, Any]:
    peak = _kw(_log_uniform(rng, 100, 8_000))
    return {
        "peak_kw": peak,
        "inverter_kw": _kw(peak * rng.uniform(0.9, 1.0)),
        "tilt_deg": round(rng.uniform(10.0, 35.0), 1),
        "azimuth_deg": round(rng.uniform(150.0, 210.0), 1),
    }


_DRAW = {
    AssetKind.BATTERY: _battery,
    AssetKind.CURTAILABLE_LOAD: _curtailable,
    AssetKind.SHIFTABLE_PROCESS: _process,
    AssetKind.EV_FLEET: _ev_fleet,
    AssetKind.PV: _pv,
}

_LABEL = {
    AssetKind.BATTERY: "Battery",
    AssetKind.CURTAILABLE_LOAD: "Curtailable load",
    AssetKind.SHIFTABLE_PROCESS: "Process",
    AssetKind.EV_FLEET: "EV depot",
    AssetKind.PV: "PV",
}


def default_enterprises(assets: int) -> int:
    """One enterprise per `ASSETS_PER_ENTERPRISE` assets, at least one."""
    return max(1, math.ceil(assets / ASSETS_PER_ENTERPRISE))


def draw_fleet(
    assets: int, enterprises: int | None = None, seed: int = 0, prefix: str | None = None
) -> FleetSpec:
    """Draw ``assets`` assets spread over ``enterprises`` enterprises (default: one per ten
    assets). Every enterprise gets at least one asset; the rest go to enterprises with
    Pareto-distributed weights (a few large enterprises, many small ones). Names start
    with ``prefix`` (default ``"Fleet <seed>"``) so fleets of different seeds coexist.
    """
    if assets < 1:
        raise ValueError("assets must be at least 1")
    count = default_enterprises(assets) if enterprises is None else enterprises
    if not 1 <= count <= assets:
        raise ValueError("enterprises must be between 1 and the number of assets")
    prefix = f"Fleet {seed}" if prefix is None else prefix
    rng = random.Random(seed)
    companies = tuple(
        EnterpriseSpec(
            name=f"{prefix} enterprise {i + 1:06d}",
            site_name=f"{prefix} site {i + 1:06d}",
            connection_point=f"FL-{seed}-{i + 1:06d}",
            voltage_kv=rng.choice((10.0, 10.0, 35.0, 110.0)),
            latitude=round(PARK_LATITUDE + rng.uniform(-0.2, 0.2), 5),
            longitude=round(PARK_LONGITUDE + rng.uniform(-0.2, 0.2), 5),
        )
        for i in range(count)
    )
    weights = [rng.paretovariate(1.5) for _ in range(count)]
    owners = list(range(count)) + rng.choices(range(count), weights=weights, k=assets - count)
    rng.shuffle(owners)
    kinds = rng.choices(list(KIND_SHARES), weights=list(KIND_SHARES.values()), k=assets)
    specs = []
    for index, (owner, kind) in enumerate(zip(owners, kinds, strict=True)):
        # The kind's class validates in __post_init__ (parse_params adds only the checks
        # for unknown and missing names, which the drawing functions cannot get wrong).
        params = PARAMS_BY_KIND[kind](**_DRAW[kind](rng))
        specs.append(
            AssetSpec(
                enterprise=owner,
                name=f"{_LABEL[kind]} {index + 1:06d}",
                params=params,
                device_seed=rng.randrange(1 << 31),
            )
        )
    return FleetSpec(companies, tuple(specs))
