"""End to end: a simulated month of a small park, settled by the scheduler's job, read back.

March 2026 in a park of three enterprises and ten assets (A: three loads and a PV plant;
B and C: three loads each), with 21 days of history before it:

- **Awards.** Injected for every Monday, Wednesday and Friday (13 days): peak cutting
  18:00-20:00 Beijing (intervals 72-79), each load allocated 30 % of its level; on
  Wednesdays also valley filling 12:00-14:00 (48-55), 20 % of the level. On Tuesdays the
  pool buys green power 10:00-14:00 (1,000 kW, half backed by A's loads, half by B's),
  fetched through the award workflow from a market that publishes the clearing.
- **Telemetry** follows the plans with noise: every load draws level x a daily shape, plus
  on event intervals its planned deviation times a delivery factor (the day's, drawn from
  0.2-1.4, times ±20 % per load: some days are penalised, some capped at the band), plus
  N(0, 0.5 % of the level) per reading. On 11 March one of B's loads loses an hour of
  readings in the event (a gap longer than the gap rule fills: counted 0 and flagged).
- **Carriers.** Every energy carrier is metered once a day: A natural gas, water and
  hydrogen output, B heat and steam, C electricity of load not enrolled and water.

The scheduler's settlement (`vpp.settlement.jobs.settle_due`) runs once a day after each
day's data is complete. Then: a statement for every enterprise for the month; statement
CSVs re-totalled to the month's totals; shares + aggregator = pool net to the fen; the
measured pool response equal to what the park simulated; `vpp verify` on each enterprise's
evidence, passing and then failing after tampering; the park's green-share and
carbon-intensity report and its CSV re-totalled, with the green share recomputed from the
simulated numbers (awarded green power counted through its certificates).
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import numpy.typing as npt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import Caller, make_settings
from tests.green.conftest import add_site
from tests.green.market import State, clearing, submitted_bid
from vpp.bidding import workflow
from vpp.bidding.registry import load_packs
from vpp.cli import main
from vpp.domain.time import day_bounds_utc, interval_starts_utc
from vpp.models import AwardRow, BidAllocation, BidRow, PlannedSetpointRow
from vpp.ports import ManualClock
from vpp.settlement.jobs import settle_due
from vpp.telemetry.repository import insert_readings

pytestmark = pytest.mark.slow

FloatArray = npt.NDArray[np.float64]
MONTH = "2026-03"
FIRST = date(2026, 3, 1)
DAYS = [FIRST + timedelta(days=d) for d in range(31)]
HISTORY = [FIRST - timedelta(days=21 - d) for d in range(21)]
ALL_DAYS = HISTORY + DAYS
PEAK_CUT, VALLEY_FILL = "peak_shaving.peak_cut", "peak_shaving.valley_fill"
GREEN_BUY = "green_power.day_ahead.buy"
CUT = range(72, 80)
FILL = range(48, 56)
GREEN_HOURS = range(10, 14)
EVENT_DAYS = [d for d in DAYS if d.weekday() in (0, 2, 4)]
GREEN_DAYS = [d for d in DAYS if d.weekday() == 1]
GAP_DAY, GAP_ASSET, GAP = date(2026, 3, 11), "b0", range(72, 76)
GRID_KG_PER_KWH = 0.5543
LEVELS = {"a0": 900.0, "a1": 700.0, "a2": 500.0}
LEVELS |= {"b0": 800.0, "b1": 600.0, "b2": 400.0, "c0": 500.0, "c1": 300.0, "c2": 200.0}
PV_PEAK_KW = 300.0
SHAPE = 1.0 + 0.2 * np.sin(2 * np.pi * (np.arange(96) - 30) / 96)
PACKS = load_packs()


def pv_kw() -> FloatArray:
    """A's PV plant (net load, kW): a half sine from 06:00 to 18:00 Beijing."""
    hours = np.arange(96) / 4
    return np.asarray(-PV_PEAK_KW * np.clip(np.sin(np.pi * (hours - 6) / 12), 0, None))


@dataclass
class Park:
    callers: dict[str, Caller]
    sites: dict[str, uuid.UUID]
    assets: dict[str, uuid.UUID]
    owner: dict[str, str]
    readings: dict[str, FloatArray]
    """Per asset, (days, 96) kW as stored (NaN = no reading)."""
    factor: dict[tuple[date, str], float]
    allocation: dict[str, dict[str, float]]
    """Per product, each load's allocated kW in the event intervals."""


def simulate(
    rng: np.random.Generator,
) -> tuple[dict[str, FloatArray], dict[tuple[date, str], float]]:
    """Readings (kW) of every asset over the history and the month (module docstring)."""
    readings: dict[str, FloatArray] = {}
    # the pool delivers a day's share drawn from 0.2-1.4, each load within ±20 % of it
    factor = {
        (d, a): day_factor * float(rng.uniform(0.8, 1.2))
        for d in EVENT_DAYS
        for day_factor in [float(rng.uniform(0.2, 1.4))]
        for a in LEVELS
    }
    for name, level in LEVELS.items():
        values = level * SHAPE[None, :] + rng.normal(0, 0.005 * level, (len(ALL_DAYS), 96))
        for i, day in enumerate(ALL_DAYS):
            if day in EVENT_DAYS:
                values[i, CUT.start : CUT.stop] -= factor[(day, name)] * 0.3 * level
                if day.weekday() == 2:
                    values[i, FILL.start : FILL.stop] += factor[(day, name)] * 0.2 * level
        if name == GAP_ASSET:
            values[ALL_DAYS.index(GAP_DAY), GAP.start : GAP.stop] = np.nan
        readings[name] = values
    readings["pv"] = np.tile(pv_kw(), (len(ALL_DAYS), 1))
    return readings, factor


def store_readings(factory: sessionmaker[Session], asset_id: uuid.UUID, values: FloatArray) -> None:
    rows = [
        (asset_id, ts.to_pydatetime(), float(values[i, k]), None, None, None, "good")
        for i, day in enumerate(ALL_DAYS)
        for k, ts in enumerate(interval_starts_utc(day))
        if np.isfinite(values[i, k])
    ]
    with factory() as session:
        insert_readings(session, rows)
        session.commit()


def inject_awards(session: Session, park: Park, day: date, product: str, when: range) -> None:
    """An awarded bid of the pool: each load's allocation in ``when``, the plan it follows."""
    side = "down" if product == PEAK_CUT else "up"
    allocation = park.allocation[product]
    bid = BidRow(
        product=product,
        pack_version="gansu-2025.1",
        day=day,
        side=side,
        state="awarded",
        risk_quantile=0.5,
        ladder=[{"interval": k, "steps": []} for k in range(96)],
        offered_kwh=0.0,
        expected_revenue_cny=0.0,
    )
    session.add(bid)
    session.flush()
    price = 400.0 if product == PEAK_CUT else 150.0
    sign = -1.0 if product == PEAK_CUT else 1.0
    for k in when:
        session.add(
            AwardRow(
                bid_id=bid.id,
                product=product,
                day=day,
                side=side,
                interval=k,
                quantity_kw=sum(allocation.values()),
                price_cny_per_mwh=price,
            )
        )
        for name, kw in allocation.items():
            asset_id, account_id = park.assets[name], park.callers[park.owner[name]].account_id
            session.add(
                BidAllocation(
                    bid_id=bid.id,
                    asset_id=asset_id,
                    interval=k,
                    account_id=account_id,
                    capacity_kw=kw,
                    offered_kw=kw,
                    awarded_kw=kw,
                )
            )
            baseline = LEVELS[name] * float(SHAPE[k])
            session.add(
                PlannedSetpointRow(
                    day=day,
                    asset_id=asset_id,
                    interval=k,
                    account_id=account_id,
                    baseline_kw=baseline,
                    deviation_kw=sign * kw,
                    setpoint_kw=baseline + sign * kw,
                )
            )


def daily(site_id: uuid.UUID, commodity: str, quantity: float, unit: str) -> list[dict[str, Any]]:
    return [
        {
            "site_id": str(site_id),
            "commodity": commodity,
            "ts": day_bounds_utc(day)[0].isoformat(),
            "quantity": quantity,
            "unit": unit,
        }
        for day in DAYS
    ]


METERED = {
    "A": [("natural_gas", 500.0, "m3"), ("water", 20.0, "m3"), ("hydrogen", 100.0, "kg")],
    "B": [("heat", 20.0, "GJ"), ("steam", 3.0, "t")],
    "C": [("electricity", 2000.0, "kWh"), ("water", 10.0, "m3")],
}


@pytest.fixture
def park(
    client: TestClient,
    session_factory: sessionmaker[Session],
    make_caller: Callable[..., Caller],
) -> Park:
    callers = {name: make_caller("enterprise", f"{name} Works") for name in "ABC"}
    kinds = {"A": ["a0", "a1", "a2", "pv"], "B": ["b0", "b1", "b2"], "C": ["c0", "c1", "c2"]}
    sites: dict[str, uuid.UUID] = {}
    assets: dict[str, uuid.UUID] = {}
    owner: dict[str, str] = {}
    for enterprise, names in kinds.items():
        site = add_site(
            session_factory,
            callers[enterprise],
            {n: "pv" if n == "pv" else "curtailable_load" for n in names},
        )
        sites[enterprise] = site.site_id
        assets |= site.assets
        owner |= {n: enterprise for n in names}
    readings, factor = simulate(np.random.default_rng(2026))
    for name, values in readings.items():
        store_readings(session_factory, assets[name], values)
    allocation = {
        PEAK_CUT: {n: 0.3 * level for n, level in LEVELS.items()},
        VALLEY_FILL: {n: 0.2 * level for n, level in LEVELS.items()},
    }
    built = Park(callers, sites, assets, owner, readings, factor, allocation)
    with session_factory() as session:
        for day in EVENT_DAYS:
            inject_awards(session, built, day, PEAK_CUT, CUT)
            if day.weekday() == 2:
                inject_awards(session, built, day, VALLEY_FILL, FILL)
        session.commit()
    for enterprise, items in METERED.items():
        batch = [r for c, q, u in items for r in daily(sites[enterprise], c, q, u)]
        response = client.post(
            "/v1/meters/readings", json={"readings": batch}, headers=callers[enterprise].headers
        )
        assert response.json() == {"accepted": len(batch), "duplicates": 0}
    return built


def buy_green_power(park: Park, factory: sessionmaker[Session]) -> None:
    """Each Tuesday: the pool's 1,000 kW green-power bid for 10:00-14:00, half backed by
    A's loads a0 + a1 (300 + 200 kW), half by B's b0; awarded in full, fetched the day
    before through the award workflow."""
    for day in GREEN_DAYS:
        with factory() as session:
            submitted_bid(
                session,
                GREEN_BUY,
                day,
                "up",
                {
                    (park.assets[n], park.callers[park.owner[n]].account_id): {
                        h: kw for h in GREEN_HOURS
                    }
                    for n, kw in (("a0", 300.0), ("a1", 200.0), ("b0", 500.0))
                },
            )
            session.commit()
        state = State(make_settings(), ManualClock(day_bounds_utc(day)[0]), PACKS)
        state.published.publish(clearing(GREEN_BUY, day, {h: 1000.0 for h in GREEN_HOURS}, 350))

        async def fetch(day: date = day, state: State = state) -> None:
            (row,) = await workflow.fetch_awards(state, factory, day)
            assert row.state == "awarded"

        anyio.run(fetch)


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def cny(text: str) -> Decimal:
    value = Decimal(text)
    assert value == value.quantize(Decimal("0.01")), text  # money is whole fen
    return value


def test_a_simulated_month(
    client: TestClient,
    park: Park,
    operator: Caller,
    grid: Caller,
    session_factory: sessionmaker[Session],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    buy_green_power(park, session_factory)
    settings = make_settings(settlement_lookback_days=21)

    # --- the scheduler's settlement, once a day after the data delay --------------------
    ran: list[str] = []
    for day in DAYS:
        now = day_bounds_utc(day)[1] + timedelta(hours=7)  # D+1 07:00 Beijing
        ran += settle_due(session_factory, PACKS, now, settings)
    assert [line.split(":")[0] for line in ran] == [d.isoformat() for d in EVENT_DAYS]
    assert all("version 1" in line for line in ran)
    later = datetime(2026, 4, 1, 0, 0, tzinfo=UTC)
    assert settle_due(session_factory, PACKS, later, settings) == []  # each day once

    # --- a statement for every enterprise -------------------------------------------------
    operator_month = client.get(
        "/v1/settlements", params={"month": MONTH}, headers=operator.headers
    ).json()
    items = operator_month["items"]
    assert [i["day"] for i in items] == [d.isoformat() for d in EVENT_DAYS]
    ids = {p: str(c.account_id) for p, c in park.callers.items()}
    for item in items:
        assert {line["account_id"] for line in item["lines"]} == set(ids.values())
        pool = item["pool"]
        # shares + aggregator = pool net, to the fen, every day
        assert cny(pool["aggregator_cny"]) + cny(pool["enterprises_net_cny"]) == cny(
            pool["net_cny"]
        )
        assert sum(cny(line["net_cny"]) for line in item["lines"]) == cny(
            pool["enterprises_net_cny"]
        )
    gap_item = next(i for i in items if i["day"] == GAP_DAY.isoformat())
    assert gap_item["pool"]["flagged_intervals"] == len(GAP)
    assert all(i["pool"]["flagged_intervals"] == 0 for i in items if i is not gap_item)
    penalties = sum(cny(i["pool"]["penalty_cny"]) for i in items)
    payments = sum(cny(i["pool"]["payment_cny"]) for i in items)
    assert penalties > 0 and payments > penalties  # the draw delivers some, misses some

    for name, caller in park.callers.items():
        own = client.get("/v1/settlements", params={"month": MONTH}, headers=caller.headers).json()
        assert [i["day"] for i in own["items"]] == [d.isoformat() for d in EVENT_DAYS]
        assert {line["account_id"] for i in own["items"] for line in i["lines"]} == {ids[name]}
        assert all(i["pool"] is None for i in own["items"])
        totals = {t["product"]: t for t in own["totals"]}
        assert set(totals) == {PEAK_CUT, VALLEY_FILL}
        # every day's statement CSV re-totals to its total rows, and the days to the month
        month_net = {p: Decimal(0) for p in totals}
        month_payment = {p: Decimal(0) for p in totals}
        for item in own["items"]:
            text = client.get(
                f"/v1/settlements/{item['id']}/statement.csv", headers=caller.headers
            ).text
            rows = read_csv(text)
            assert {r["account_id"] for r in rows} == {ids[name]}
            for total in (r for r in rows if r["record"] == "total"):
                lines = [
                    r
                    for r in rows
                    if r["record"] == "interval" and r["product"] == total["product"]
                ]
                for column in ("payment_cny", "penalty_cny", "gross_cny"):
                    assert sum(cny(r[column]) for r in lines) == cny(total[column]), column
                assert cny(total["gross_cny"]) - cny(total["aggregator_cny"]) == cny(
                    total["net_cny"]
                )
                month_net[total["product"]] += cny(total["net_cny"])
                month_payment[total["product"]] += cny(total["payment_cny"])
        for product, line in totals.items():
            assert month_net[product] == cny(line["net_cny"])
            assert month_payment[product] == cny(line["payment_cny"])

    # --- the pool statements: re-totalled, and the response the park simulated ----------
    pool_net = Decimal(0)
    for item in items:
        day = date.fromisoformat(item["day"])
        rows = read_csv(
            client.get(f"/v1/settlements/{item['id']}/statement.csv", headers=grid.headers).text
        )
        intervals = [r for r in rows if r["record"] == "interval"]
        (total,) = [r for r in rows if r["record"] == "total"]
        for column in ("payment_cny", "penalty_cny", "net_cny"):
            assert sum(cny(r[column]) for r in intervals) == cny(total[column])
        assert cny(total["net_cny"]) == cny(item["pool"]["net_cny"])
        pool_net += cny(total["net_cny"])
        for r in intervals:
            k, product = int(r["interval"]), r["product"]
            share = 0.3 if product == PEAK_CUT else 0.2
            counted = [n for n in LEVELS if not (day == GAP_DAY and n == GAP_ASSET and k in GAP)]
            expected = sum(park.factor[(day, n)] * share * LEVELS[n] for n in counted)
            # measured against the Jiangsu baseline: equal up to the readings' noise
            assert float(r["delivered_kw"]) == pytest.approx(expected, abs=40.0), (day, k)
    month_totals = operator_month["totals"]
    assert (
        sum(cny(t["net_cny"]) for t in month_totals)
        + sum(cny(i["pool"]["aggregator_cny"]) for i in items)
        == pool_net
    )

    # --- every enterprise re-verifies its evidence offline -------------------------------
    for name, caller in park.callers.items():
        for day in EVENT_DAYS:
            response = client.get(f"/v1/evidence/{day.isoformat()}", headers=caller.headers)
            path = tmp_path / f"{name}-{day.isoformat()}.json"
            path.write_text(response.text)
            assert main(["verify", str(path)]) == 0, capsys.readouterr().err
            assert f"recomputed enterprise {ids[name]}" in capsys.readouterr().out
    document = json.loads((tmp_path / f"B-{GAP_DAY.isoformat()}.json").read_text())
    seq = next(i for i, r in enumerate(document["records"]) if "body" in r)
    body = document["records"][seq]["body"]
    body["products"][PEAK_CUT]["payment_fen"][0] += 1
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(document))
    assert main(["verify", str(tampered)]) == 1
    assert f"TAMPERED: record {seq} (enterprise {ids['B']}" in capsys.readouterr().err

    # --- the park's green-power and carbon report ------------------------------------------
    report = client.get("/v1/green/report", params={"month": MONTH}, headers=operator.headers)
    assert report.status_code == 200, report.text
    body = report.json()
    scopes = {s["name"][0]: s for s in body["enterprises"]}
    month_rows = slice(len(HISTORY), len(ALL_DAYS))
    load = {
        e: sum(
            float(np.nansum(park.readings[n][month_rows])) * 0.25
            for n in LEVELS
            if park.owner[n] == e
        )
        for e in "ABC"
    }
    load["C"] += 2000.0 * len(DAYS)  # metered electricity of load not enrolled
    pv = float(-park.readings["pv"][month_rows].sum()) * 0.25
    awarded = 500.0 * len(GREEN_HOURS) * len(GREEN_DAYS)  # kWh each for A and B
    assert awarded == 10_000.0
    for e, scope in scopes.items():
        m = scope["matching_15min"]
        assert m["load_kwh"] == pytest.approx(load[e])
        green = awarded if e in "AB" else 0.0
        # A's PV all consumed on site; the awards matched in time, proven by 10 GECs each
        assert m["contract_kwh"] == pytest.approx(green)
        assert m["contract_green_kwh"] == pytest.approx(green)
        assert len(scope["certificates_used"]) == green / 1000
        assert m["green_share"] == pytest.approx((green + (pv if e == "A" else 0.0)) / load[e])
        electricity = next(c for c in scope["carriers"] if c["carrier"] == "electricity")
        assert electricity["co2_kg"] == pytest.approx(m["grid_residual_kwh"] * GRID_KG_PER_KWH)
    park_scope = body["park"]
    park_load = sum(load.values())
    assert park_scope["matching_15min"]["green_share"] == pytest.approx(
        (2 * awarded + pv) / park_load
    )
    carriers = {c["carrier"]: c for c in park_scope["carriers"]}
    assert set(carriers) == {"electricity", "natural_gas", "heat", "steam", "water", "hydrogen"}
    assert all(c["quantity"] > 0 for c in carriers.values())
    assert carriers["hydrogen"]["tce"] < 0  # an output, netted from the consumption
    assert park_scope["intensity_t_co2_per_tce"] == pytest.approx(
        park_scope["co2_kg"] / 1000 / park_scope["energy_tce"]
    )
    assert park_scope["shifting"]["peak_cut_kwh"] > 0
    csv_rows = read_csv(
        client.get("/v1/green/report.csv", params={"month": MONTH}, headers=operator.headers).text
    )
    assert {r["scope"] for r in csv_rows} == {*ids.values(), "park"}
    for scope_id in {r["scope"] for r in csv_rows}:
        own_rows = [r for r in csv_rows if r["scope"] == scope_id]
        (total_row,) = [r for r in own_rows if r["carrier"] == "total"]
        parts = [r for r in own_rows if r["carrier"] != "total"]
        assert sum(float(r["tce"]) for r in parts) == pytest.approx(float(total_row["tce"]))
        assert sum(float(r["co2_kg"]) for r in parts) == pytest.approx(float(total_row["co2_kg"]))
        assert float(total_row["intensity_t_co2_per_tce"]) == pytest.approx(
            float(total_row["co2_kg"]) / 1000 / float(total_row["tce"])
        )
    for carrier in carriers:
        members = [r for r in csv_rows if r["carrier"] == carrier and r["scope"] != "park"]
        (park_row,) = [r for r in csv_rows if r["carrier"] == carrier and r["scope"] == "park"]
        assert sum(float(r["quantity"]) for r in members) == pytest.approx(
            float(park_row["quantity"])
        )
        assert sum(float(r["co2_kg"]) for r in members) == pytest.approx(float(park_row["co2_kg"]))
    park_total = next(r for r in csv_rows if r["scope"] == "park" and r["carrier"] == "total")
    assert float(park_total["green_share_15min"]) == pytest.approx(
        park_scope["matching_15min"]["green_share"]
    )
