"""The distributed engine (``vpp.kit.compute``): configuration, placement, and the day-ahead
bids on a two-worker Dask cluster equal to the in-process ones."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError
from sqlalchemy.orm import Session

from tests.conftest import make_settings
from vpp.bidding.registry import load_packs
from vpp.bidding.service import create_drafts
from vpp.domain.market import MarketOutlook
from vpp.domain.time import INTERVALS_PER_DAY
from vpp.fleet.mix import draw_fleet
from vpp.fleet.repository import write_fleet
from vpp.kit.compute import DaskBlocks, current, installed, open_compute, validate_spec
from vpp.models import Asset
from vpp.optimize.blocks import IN_PROCESS, PARALLEL_MIN_ASSETS, InProcess

DAY = date(2026, 3, 10)
DRAFTING = datetime(2026, 3, 9, 0, 0, tzinfo=UTC)
"""08:00 Beijing the day before, ahead of the day-ahead gate."""


@pytest.mark.parametrize("spec", [None, "", "local", "local:2", "tcp://scheduler:8786"])
def test_valid_specs_are_accepted(spec: str | None) -> None:
    assert validate_spec(spec) == spec
    assert make_settings(compute=spec).compute == spec


@pytest.mark.parametrize("spec", ["local:0", "local:x", "scheduler:8786", "http://x:1", "tcp://"])
def test_invalid_specs_are_refused(spec: str) -> None:
    with pytest.raises(ValueError, match="VPP_COMPUTE"):
        validate_spec(spec)
    with pytest.raises(ValidationError, match="compute"):
        make_settings(compute=spec)


def test_unset_means_in_process_and_installing_nests() -> None:
    with open_compute(None) as compute:
        assert compute.blocks is IN_PROCESS
        assert compute.blocks.workers == 1
        assert compute.blocks.map(lambda x: x * 2, [1, 2, 3]) == [2, 4, 6]
    assert current() is IN_PROCESS
    inner = InProcess()
    with installed(inner):
        assert current() is inner
    assert current() is IN_PROCESS


@pytest.fixture(scope="module")
def dask_blocks() -> Iterator[DaskBlocks]:
    """A LocalCluster of two single-threaded worker processes (``VPP_COMPUTE=local:2``),
    started for this module and closed after it."""
    with open_compute("local:2") as compute:
        assert isinstance(compute.blocks, DaskBlocks)
        yield compute.blocks


@pytest.mark.slow
def test_block_i_always_runs_on_worker_i(dask_blocks: DaskBlocks) -> None:
    from distributed import get_worker

    blocks = dask_blocks
    assert blocks.workers == 2
    first = blocks.map(lambda _: get_worker().address, list(range(4)))
    again = blocks.map(lambda _: get_worker().address, list(range(4)))
    assert first == again
    assert first[0] == first[2] != first[1] == first[3]


@pytest.mark.slow
def test_imap_sends_blocks_ahead_and_answers_in_order(dask_blocks: DaskBlocks) -> None:
    events: list[tuple[str, int]] = []

    def blocks() -> Iterator[int]:
        for i in range(6):
            events.append(("read", i))
            yield i

    for answer in dask_blocks.imap(lambda x: x * x, blocks(), ahead=3):
        events.append(("answer", answer))
    assert [v for kind, v in events if kind == "answer"] == [i * i for i in range(6)]
    # three blocks out before the first answer is taken, and no fourth
    assert events.index(("read", 2)) < events.index(("answer", 0)) < events.index(("read", 3))


@pytest.mark.slow
def test_local_workers_leave_memory_management_to_glibc(dask_blocks: DaskBlocks) -> None:
    """Dask's default ``MALLOC_TRIM_THRESHOLD_`` made numpy-heavy blocks 2.4x slower
    (`vpp.kit.compute.WORKER_ENVIRONMENT`); the numerical libraries stay single-threaded."""

    def environment(_: int) -> tuple[str | None, str | None]:
        return os.environ.get("MALLOC_TRIM_THRESHOLD_"), os.environ.get("OPENBLAS_NUM_THREADS")

    assert dask_blocks.map(environment, [0, 1]) == [(None, "1"), (None, "1")]


def _outlooks(session: Session) -> dict[str, MarketOutlook]:
    """Demand a third of the fleet's rated flexibility (the caps bind), in two windows."""
    packs = load_packs(None)
    assets = session.query(Asset).all()
    up = sum(a.up_kw for a in assets)
    down = sum(a.down_kw for a in assets)
    out = {}
    for product, rated, window in (
        ("peak_shaving.valley_fill", up, range(44, 60)),
        ("peak_shaving.peak_cut", down, range(72, 88)),
    ):
        demand = np.zeros(INTERVALS_PER_DAY)
        demand[list(window)] = rated / 3
        price = 0.6 * packs[product].limits().price_cap_cny_per_mwh
        out[product] = MarketOutlook(
            product,
            DAY,
            packs[product].gate_closure(DAY),
            tuple(demand.tolist()),
            tuple([price] * INTERVALS_PER_DAY),
        )
    return out


def _ladder(rows: list[Any]) -> dict[tuple[str, int], tuple[float, float]]:
    """(product, interval) -> (total kW, kW-weighted mean price)."""
    out = {}
    for row in rows:
        for entry in row.ladder:
            kw = sum(s["quantity_kw"] for s in entry["steps"])
            money = sum(s["quantity_kw"] * s["price_cny_per_mwh"] for s in entry["steps"])
            out[(row.product, entry["interval"])] = (kw, money / kw if kw else 0.0)
    return out


@pytest.mark.slow
def test_day_ahead_bids_on_two_dask_workers_equal_the_in_process_ones(
    session: Session, dask_blocks: DaskBlocks
) -> None:
    fleet = draw_fleet(400, seed=11)
    write_fleet(session, fleet, DRAFTING - timedelta(days=30))
    session.flush()
    packs = dict(load_packs(None))
    outlooks = _outlooks(session)
    lp_assets = sum(
        a.kind in ("battery", "shiftable_process", "ev_fleet")
        or "max_curtailment_kwh_per_day" in a.params
        for a in session.query(Asset)
    )
    assert lp_assets >= PARALLEL_MIN_ASSETS  # the fan-out really happens

    here = create_drafts(session, packs, outlooks, DAY, 0.1, DRAFTING, None, blocks=IN_PROCESS)
    expected = _ladder(here)
    revenue = {r.product: r.expected_revenue_cny for r in here}
    there = create_drafts(session, packs, outlooks, DAY, 0.1, DRAFTING, None, blocks=dask_blocks)
    got = _ladder(there)

    assert sum(kw for kw, _ in expected.values()) > 0
    assert got.keys() == expected.keys()
    for key, (kw, price) in expected.items():
        assert got[key][0] == pytest.approx(kw, rel=1e-6, abs=1e-3), key
        assert got[key][1] == pytest.approx(price, rel=1e-6, abs=1e-3), key
    # What each asset backs of the same ladder may differ: an asset's LP can have several
    # optima (ties between intervals), and which one HiGHS lands on depends on the basis
    # it starts from, i.e. on which assets shared a worker before it. The pool's offers
    # are the same; the expected revenue of the split stays within a fraction of a percent.
    for row in there:
        assert row.expected_revenue_cny == pytest.approx(revenue[row.product], rel=5e-3)
