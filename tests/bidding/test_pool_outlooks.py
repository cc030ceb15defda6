"""The pool is forecast once a day per risk: drafting keeps the forecasts, planning reuses them."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.bidding.conftest import DAY, MORNING_BEFORE
from tests.bidding.test_bids_api import BIG_BATTERY, KILN, draft, enroll
from tests.conftest import Caller
from vpp.bidding import service
from vpp.bidding.planner import PoolAsset
from vpp.dispatch.planning import plan_day
from vpp.models import PlannedSetpointRow, PoolOutlookRow


def same(a: PoolAsset, b: PoolAsset) -> None:
    assert (a.asset_id, a.account_id, a.params, a.battery) == (
        b.asset_id,
        b.account_id,
        b.params,
        b.battery,
    )
    for name in ("baseline_kw", "lo_kw", "hi_kw"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def stored_rows(session: Session) -> int:
    return int(
        session.scalar(
            select(func.count()).select_from(PoolOutlookRow).where(PoolOutlookRow.day == DAY)
        )
        or 0
    )


def no_forecast(*_: object, **__: object) -> None:
    raise AssertionError("the pool was forecast again")


def test_the_plan_reuses_the_forecasts_the_bids_were_drafted_on(
    client: TestClient,
    operator: Caller,
    enterprise: Caller,
    session_factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    enroll(client, enterprise, BIG_BATTERY, KILN)
    with session_factory() as session:
        forecast = service.pool_assets(session, DAY, 0.1)
    draft(client, operator, risk_quantile=0.1)
    monkeypatch.setattr(service, "outlooks_of", no_forecast)
    with session_factory() as session:
        assert stored_rows(session) == 2
        reused = service.planning_pool(session, DAY, 0.1)
    assert len(reused) == len(forecast) == 2
    for a, b in zip(reused, forecast, strict=True):
        same(a, b)


def test_assets_without_a_stored_forecast_are_forecast_now(
    client: TestClient,
    operator: Caller,
    enterprise: Caller,
    other_enterprise: Caller,
    session_factory: sessionmaker[Session],
) -> None:
    enroll(client, enterprise, BIG_BATTERY)
    draft(client, operator, risk_quantile=0.1)
    late = enroll(client, other_enterprise, KILN)[0]
    with session_factory() as session:
        pool = service.planning_pool(session, DAY, 0.1)
        fresh = service.pool_assets(session, DAY, 0.1)
        other_risk = service.planning_pool(session, DAY, 0.5)
        at_median = service.pool_assets(session, DAY, 0.5)
    assert [str(a.asset_id) for a in pool] == [str(a.asset_id) for a in fresh]
    assert late in {str(a.asset_id) for a in pool}
    for a, b in zip(pool, fresh, strict=True):
        assert a.params == b.params
        np.testing.assert_array_equal(a.baseline_kw, b.baseline_kw)
    # Nothing stored at another risk setting: the whole pool is forecast at that one.
    for a, b in zip(other_risk, at_median, strict=True):
        same(a, b)


def test_drafting_again_replaces_the_stored_forecasts(
    client: TestClient,
    operator: Caller,
    enterprise: Caller,
    session_factory: sessionmaker[Session],
) -> None:
    enroll(client, enterprise, BIG_BATTERY, KILN)
    draft(client, operator, risk_quantile=0.1)
    draft(client, operator, risk_quantile=0.5)
    with session_factory() as session:
        assert stored_rows(session) == 2
        risks = set(session.scalars(select(PoolOutlookRow.risk_quantile)))
    assert risks == {0.5}


def test_the_day_ahead_plan_stands_on_the_stored_baselines(
    app: FastAPI,
    client: TestClient,
    operator: Caller,
    enterprise: Caller,
    session_factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    enroll(client, enterprise, BIG_BATTERY, KILN)
    draft(client, operator, risk_quantile=0.1)
    with session_factory() as session:
        stored = {a.asset_id: a for a in service.planning_pool(session, DAY, 0.1)}
    monkeypatch.setattr(service, "outlooks_of", no_forecast)
    with session_factory() as session:
        summary = plan_day(session, app.state.packs, DAY, MORNING_BEFORE)
        rows = session.scalars(select(PlannedSetpointRow).where(PlannedSetpointRow.day == DAY))
        baseline = {(r.asset_id, r.interval): r.baseline_kw for r in rows}
    assert summary.assets == 2
    assert len(baseline) == 2 * 96
    for (asset_id, t), kw in baseline.items():
        assert kw == stored[asset_id].baseline_kw[t]
