"""The bid benchmark's building blocks (the timed run itself is `make bench`)."""

from __future__ import annotations

import numpy as np

from bench.bid_bench import bid_inputs, synthetic_fleet
from vpp.optimize.bidding import build_bids


def test_synthetic_fleet_mixes_every_kind() -> None:
    fleet, risk = synthetic_fleet(60, seed=3)
    kinds = {asset.split("-")[0] for asset in fleet.asset_ids}
    assert kinds == {"battery", "curtailable", "process", "ev", "pv"}
    assert fleet.lo_kw.shape == (60, 96)
    assert risk.shape == (60, 96)
    assert fleet.energy_limited.any()
    assert (~fleet.energy_limited).any()


def test_small_bench_instance_bids_profitably() -> None:
    fleet, risk = synthetic_fleet(12, seed=4)
    inputs = bid_inputs(fleet, risk, seed=4)
    plan = build_bids(inputs)
    assert plan.objective_cny > 0
    assert (plan.pool_offer_kw <= inputs.pool_caps_kw + 1e-3).all()
    assert np.isfinite(plan.firm_kw).all()
