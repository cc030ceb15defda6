"""Small fleets and products shared by the optimiser tests."""

from __future__ import annotations

from typing import Any

import numpy as np

from vpp.domain.market import OfferLimits, Pricing
from vpp.domain.units import Direction
from vpp.optimize.bidding import ProductInput
from vpp.optimize.fleet import Fleet


def limits(
    side: Direction,
    horizon: int,
    *,
    floor: float = 0.0,
    cap: float = 5000.0,
    min_quantity: float = 0.0,
    step: float = 0.0,
    duration: int = 1,
    max_steps: int = 5,
    pricing: Pricing = Pricing.UNIFORM,
) -> OfferLimits:
    return OfferLimits(
        side=side,
        intervals_per_day=horizon,
        price_floor_cny_per_mwh=floor,
        price_cap_cny_per_mwh=cap,
        min_quantity_kw=min_quantity,
        quantity_step_kw=step,
        min_duration_intervals=duration,
        max_steps=max_steps,
        pricing=pricing,
        penalty_threshold=0.5,
        penalty_factor=0.5,
    )


def battery_fleet(
    n: int = 1,
    horizon: int = 4,
    *,
    power_kw: float = 10.0,
    e_max_kwh: float = 20.0,
    e_initial_kwh: float = 10.0,
    activation: float = 0.0,
) -> Fleet:
    """n identical batteries: p in [-power, power], e in [0, e_max], η = a = 1."""
    return Fleet(
        tuple(f"b{i}" for i in range(n)),
        lo_kw=np.full((n, horizon), -power_kw),
        hi_kw=np.full((n, horizon), power_kw),
        e_min_kwh=np.zeros(n),
        e_max_kwh=np.full(n, e_max_kwh),
        e_initial_kwh=np.full(n, e_initial_kwh),
        retention=np.ones(n),
        efficiency=np.ones(n),
        ramp_kw=np.full(n, np.inf),
        activation_cost_cny_per_mwh=np.full(n, activation),
    )


def mixed_fleet(n: int, horizon: int, seed: int) -> Fleet:
    """n random assets: mostly energy-limited, half with ramp limits, varied costs."""
    rng = np.random.default_rng(seed)
    e_max = rng.uniform(5, 60, n)
    return Fleet(
        tuple(f"a{i}" for i in range(n)),
        lo_kw=-rng.uniform(0, 30, (n, horizon)),
        hi_kw=rng.uniform(0, 30, (n, horizon)),
        e_min_kwh=np.where(rng.random(n) < 0.8, 0.0, -np.inf),
        e_max_kwh=np.where(rng.random(n) < 0.8, e_max, np.inf),
        e_initial_kwh=e_max * rng.uniform(0.2, 0.8, n),
        retention=rng.uniform(0.97, 1.0, n),
        efficiency=rng.uniform(0.85, 1.0, n),
        ramp_kw=np.where(rng.random(n) < 0.5, rng.uniform(10, 40, n), np.inf),
        activation_cost_cny_per_mwh=rng.uniform(0, 150, n),
    )


def random_products(horizon: int, seed: int, **rules: Any) -> tuple[ProductInput, ...]:
    """One UP and one DOWN product with random expected prices."""
    rng = np.random.default_rng(seed + 100)
    return (
        ProductInput("up", limits(Direction.UP, horizon, **rules), rng.uniform(0, 600, horizon)),
        ProductInput(
            "down", limits(Direction.DOWN, horizon, **rules), rng.uniform(0, 900, horizon)
        ),
    )
