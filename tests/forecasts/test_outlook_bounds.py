"""Risk-dependent deviation bounds of an asset's outlook stay usable for any forecast band."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from vpp.domain.assets import CurtailableLoadParams, flexibility_of
from vpp.forecast.flexibility import envelope
from vpp.forecast.quality import Confidence
from vpp.forecasts.service import AssetOutlook

KILN = CurtailableLoadParams(nominal_kw=1500, min_kw=300)


def outlook(p10: float, p50: float, p90: float) -> AssetOutlook:
    battery = flexibility_of(KILN)
    bands = np.array([[p10] * 96, [p50] * 96, [p90] * 96])
    return AssetOutlook(
        params=KILN,
        battery=battery,
        mean_kw=bands[1],
        bands_kw=bands,
        envelope=envelope(battery),
        method="test",
        confidence=Confidence.OK,
        notes=(),
    )


def test_a_cautious_setting_sheds_only_what_the_low_forecast_draws() -> None:
    lo, hi = outlook(1000, 1200, 1400).deviation_bounds(0.1)
    assert lo[0] == -(1000 - 300)  # the P10 baseline down to the 300 kW minimum
    assert hi[0] == 1500 - 1400  # up to nominal from the P90 baseline
    lo, hi = outlook(1000, 1200, 1400).deviation_bounds(0.5)
    assert (lo[0], hi[0]) == (-(1200 - 300), 1500 - 1200)


@given(st.floats(-500, 3000), st.floats(0, 3000), st.floats(0, 3000), st.sampled_from([0.1, 0.5]))
def test_bounds_never_cross_and_always_allow_following_the_baseline(
    p10: float, spread_50: float, spread_90: float, quantile: float
) -> None:
    lo, hi = outlook(p10, p10 + spread_50, p10 + spread_50 + spread_90).deviation_bounds(quantile)
    assert (lo <= 0).all() and (hi >= 0).all()
