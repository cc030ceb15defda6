"""Browser tests of the dashboard: the real app served by uvicorn on a free loopback port
over a SQLite file the tests seed, driven by Debian's Chromium (headless) through
Selenium and chromedriver. ``scripts/ensure-chromium`` installs both when missing.

One server and one seeded park for the session, one browser per test module. Each test
saves a screenshot under ``var/artefacts/web/`` (git-ignored).
"""

from __future__ import annotations

import math
import os
import random
import socket
import subprocess
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from selenium.webdriver import Chrome, ChromeOptions
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import select

import vpp.app
from tests.conftest import make_settings
from vpp.accounts import service as accounts
from vpp.app import create_app
from vpp.domain.time import floor_to_interval, market_day_of
from vpp.grid.service import publish_schedule
from vpp.kit import migrate
from vpp.kit.db import create_db_engine, make_sessionmaker
from vpp.models import (
    AssetDelivery,
    AwardRow,
    BidAllocation,
    BidRow,
    GridInstruction,
    PlannedSetpointRow,
    PoolTarget,
    SetpointCommandRow,
)

ROOT = Path(__file__).resolve().parents[2]
ENSURE_CHROMIUM = ROOT / "scripts" / "ensure-chromium"
ARTEFACTS = ROOT / "var" / "artefacts" / "web"
WAIT_S = 30.0
HISTORY_DAYS = 28
XSS_NAME = "<img src=x onerror=alert(1)>"


# --- the server -----------------------------------------------------------------------


class _Server(uvicorn.Server):
    """uvicorn that signals the thread which started it once it accepts connections."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.ready.set()


@dataclass
class Tenant:
    name: str
    token: str
    account_id: str = ""
    asset_names: list[str] = field(default_factory=list)
    site_names: list[str] = field(default_factory=list)
    asset_ids: dict[str, str] = field(default_factory=dict)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Park:
    """The seeded park and the live server's address."""

    base_url: str
    today: date
    operator: str
    grid: str
    admin: str
    a: Tenant
    b: Tenant
    drafts: dict[str, str]
    """Product -> id of the draft bid the operator drafted for ``draft_day``."""
    draft_day: date
    settled_day: date
    """A past day with awards, a plan, measured deliveries and a settlement."""
    settlement: dict[str, Any]
    """The settled day's settlement as the operator reads it (``GET /v1/settlements/{id}``)."""
    gas_m3: float
    """Natural gas A metered this month (m3)."""

    def get(self, path: str, token: str, **params: str) -> Any:
        """The JSON answer of ``GET path`` with ``token``, waiting as long as the browser
        waits: the server shares two cores with Chromium and the dashboard's own requests,
        so httpx's 5-second default is too short a patience for a test."""
        answer = httpx.get(
            f"{self.base_url}{path}",
            params=params,
            headers={"Authorization": f"Bearer {token}"},
            timeout=WAIT_S,
        )
        assert answer.status_code == 200, answer.text
        return answer.json()


AWARDED_INTERVALS = range(72, 80)
"""Today's awards of peak_shaving.peak_cut (18:00-20:00 Beijing), 1500 + 10 * interval kW."""
SHORTFALL_KW = {78: 250.0, 79: 250.0}
"""Where today's plan falls short of the awards (19:30-20:00 Beijing), and by how much."""
PLAN_SHARES = {"Mill battery": 0.5, "Qilian boiler B-7": 0.4, "Furnace cooling": 0.1}
"""How today's plan shares the planned delivery among the assets (the rest follow their
baselines)."""


def awarded_kw(interval: int) -> float:
    return 1500.0 + 10 * interval


SETTLED_DAYS_AGO = 2
"""The day two days back is complete, tracked and settled (its data is complete 6 h after
it ends, whatever the time of day the tests run)."""
DELIVERY_FACTOR = {76: 0.9, 77: 1.04}
"""Measured response of every dispatched asset on the settled day as a multiple of its
planned response (1.0 elsewhere). Against the awards: intervals 72-75 and 77 are within
±5 %; 76 (-10 %) and 78-79 (the plan's 250 kW shortfall, -11 %) are not: 5 of 8. Against
an enterprise's planned share only 76 is outside: 7 of 8."""
INSTRUCTED_INTERVALS = [76, 77, 78, 79]
INSTRUCTED_KW = 1800.0
"""Today's accepted grid instruction: peak_cut held at 1,800 kW in 19:00-20:00 Beijing."""


SITE_A = {"name": "Rolling mill", "connection_point": "GS-ZY-901", "voltage_kv": 35.0}
SITE_B = {"name": "Qilian secret works", "connection_point": "GS-ZY-902", "voltage_kv": 35.0}
ASSETS_A: list[dict[str, Any]] = [
    {
        "name": "Mill battery",
        "kind": "battery",
        "params": {"capacity_kwh": 4000, "charge_power_kw": 2000, "discharge_power_kw": 2000},
    },
    {
        "name": "Furnace cooling",
        "kind": "curtailable_load",
        "params": {"nominal_kw": 900, "min_kw": 500, "max_curtailment_kwh_per_day": 1500},
    },
    {"name": XSS_NAME, "kind": "pv", "params": {"peak_kw": 600}},
]
ASSETS_B: list[dict[str, Any]] = [
    {
        "name": "Qilian boiler B-7",
        "kind": "shiftable_process",
        "params": {
            "process": "electric_boiler",
            "rated_kw": 3000,
            "min_stable_kw": 1000,
            "max_kw": 4000,
            "storage_kwh": 9000,
        },
    },
    {
        "name": "Qilian chiller B-9",
        "kind": "curtailable_load",
        "params": {"nominal_kw": 1200, "min_kw": 900},
    },
]


def synthetic_power_kw(
    kind: str, params: dict[str, Any], ts: datetime, rng: random.Random
) -> float:
    """A plausible net load for the asset at ``ts`` (kW, + consumption): idle batteries,
    daily-cycling loads around their nominal power, PV by a daylight arc (Beijing)."""
    local_hour = ((ts.hour + 8) % 24) + ts.minute / 60
    if kind == "battery":
        return 0.0
    if kind == "pv":
        if not 7 <= local_hour <= 19:
            return 0.0
        return -float(params["peak_kw"]) * 0.8 * math.sin(math.pi * (local_hour - 7) / 12)
    nominal = float(params.get("nominal_kw") or params.get("rated_kw") or 0)
    daily = 0.08 * math.sin(2 * math.pi * (local_hour - 9) / 24)
    return nominal * (1 + daily) + rng.gauss(0, nominal * 0.01)


def history(
    asset: dict[str, Any], asset_id: str, end: datetime, rng: random.Random
) -> list[dict[str, Any]]:
    readings = []
    for i in range(HISTORY_DAYS * 96, 0, -1):
        ts = end - timedelta(minutes=15 * i)
        reading: dict[str, Any] = {
            "asset_id": asset_id,
            "ts": ts.isoformat(),
            "power_kw": round(synthetic_power_kw(asset["kind"], asset["params"], ts, rng), 3),
        }
        if asset["kind"] == "battery":
            reading["soc"] = 0.5
        readings.append(reading)
    return readings


def enroll(
    client: httpx.Client, tenant: Tenant, site: dict[str, Any], assets: list[dict[str, Any]]
) -> None:
    rng = random.Random(tenant.name)
    end = floor_to_interval(datetime.now(UTC))
    response = client.post("/v1/sites", json=site, headers=tenant.headers)
    assert response.status_code == 201, response.text
    tenant.site_names.append(site["name"])
    for body in assets:
        created = client.post(
            "/v1/assets", json={**body, "site_id": response.json()["id"]}, headers=tenant.headers
        )
        assert created.status_code == 201, created.text
        asset_id = created.json()["id"]
        tenant.asset_names.append(body["name"])
        tenant.asset_ids[body["name"]] = asset_id
        pushed = client.post(
            "/v1/telemetry",
            json={"readings": history(body, asset_id, end, rng)},
            headers=tenant.headers,
        )
        assert pushed.status_code == 200, pushed.text


def seed_database(url: str) -> dict[str, str]:
    """Accounts and keys (straight into the database, as the CLI does)."""
    engine = create_db_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            tokens = {}
            for name, kind in (
                ("Hexi Steel A", "enterprise"),
                ("Qilian Chemicals B", "enterprise"),
                ("Park operations", "operator"),
                ("Gansu grid dispatch", "grid"),
                ("Park admin", "admin"),
            ):
                account = accounts.create_account(session, name, kind, actor=None)
                tokens[name] = accounts.issue_key(session, account.id, "web", None, actor=None)[1]
            session.commit()
    finally:
        engine.dispose()
    return tokens


def seed_records(url: str, today: date, a_asset: str, a_account: str) -> None:
    """What the API cannot create yet: an awarded bid of today with its awards, and an
    expired and an acknowledged setpoint command of one of A's assets."""
    engine = create_db_engine(url)
    now = datetime.now(UTC)
    try:
        with make_sessionmaker(engine)() as session:
            bid = BidRow(
                product="peak_shaving.peak_cut",
                pack_version="test",
                day=today,
                side="down",
                state="awarded",
                risk_quantile=0.1,
                ladder=[{"interval": i, "steps": []} for i in range(96)],
                offered_kwh=4000.0,
                expected_revenue_cny=1200.0,
                awarded_kwh=3000.0,
            )
            session.add(bid)
            session.flush()
            for interval in AWARDED_INTERVALS:
                session.add(
                    AwardRow(
                        bid_id=bid.id,
                        product=bid.product,
                        day=today,
                        side="down",
                        interval=interval,
                        quantity_kw=awarded_kw(interval),
                        price_cny_per_mwh=400.0,
                        clearing_price_cny_per_mwh=420.0,
                    )
                )
            for state, age in (("expired", timedelta(hours=2)), ("acked", timedelta(minutes=20))):
                start = floor_to_interval(now - age)
                session.add(
                    SetpointCommandRow(
                        asset_id=uuid.UUID(a_asset),
                        account_id=uuid.UUID(a_account),
                        adapter="simulated",
                        interval_start=start,
                        power_kw=-250.0,
                        state=state,
                        attempts=3 if state == "expired" else 1,
                        source="manual",
                        detail="no acknowledgement before expiry" if state == "expired" else "",
                        created_at=start,
                        expires_at=start + timedelta(minutes=15),
                        next_attempt_at=start,
                    )
                )
            session.commit()
    finally:
        engine.dispose()


def seed_plan(url: str, day: date, tenants: list[Tenant]) -> None:
    """Today's day-ahead plan as the scheduler stores it once the day is cleared (the web
    server runs on the system clock, so the tests cannot walk it to the gate): every
    asset's baseline and setpoint for 96 intervals, and the pool's peak_cut targets,
    short of the awards in two intervals."""
    engine = create_db_engine(url)
    start = datetime.combine(day, datetime.min.time(), tzinfo=UTC) - timedelta(hours=8)
    params = {body["name"]: body for body in [*ASSETS_A, *ASSETS_B]}
    planned = {k: awarded_kw(k) - SHORTFALL_KW.get(k, 0.0) for k in AWARDED_INTERVALS}
    try:
        with make_sessionmaker(engine)() as session:
            for tenant in tenants:
                for name, asset_id in tenant.asset_ids.items():
                    rng = random.Random(name)
                    share = PLAN_SHARES.get(name, 0.0)
                    for k in range(96):
                        ts = start + timedelta(minutes=15 * k)
                        body = params[name]
                        baseline = synthetic_power_kw(body["kind"], body["params"], ts, rng)
                        deviation = -share * planned.get(k, 0.0)  # down: less net load
                        session.add(
                            PlannedSetpointRow(
                                day=day,
                                asset_id=uuid.UUID(asset_id),
                                interval=k,
                                account_id=uuid.UUID(tenant.account_id),
                                baseline_kw=round(baseline, 3),
                                deviation_kw=round(deviation, 3),
                                setpoint_kw=round(baseline + deviation, 3),
                            )
                        )
            for k in AWARDED_INTERVALS:
                session.add(
                    PoolTarget(
                        day=day,
                        product="peak_shaving.peak_cut",
                        interval=k,
                        awarded_kw=awarded_kw(k),
                        planned_kw=planned[k],
                        shortfall_kw=SHORTFALL_KW.get(k, 0.0),
                    )
                )
            session.commit()
    finally:
        engine.dispose()


def seed_settled_day(url: str, day: date, tenants: list[Tenant]) -> None:
    """An awarded, planned and measured past day (after ``seed_plan`` of that day): the
    bid, awards at 400 CNY/MWh and allocations as the plan shares them, and each planned
    asset's mean reading per awarded interval (``DELIVERY_FACTOR``), as `close_interval`
    stores them."""
    engine = create_db_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            bid = BidRow(
                product="peak_shaving.peak_cut",
                pack_version="test",
                day=day,
                side="down",
                state="awarded",
                risk_quantile=0.1,
                ladder=[{"interval": i, "steps": []} for i in range(96)],
                offered_kwh=4500.0,
                expected_revenue_cny=1500.0,
                awarded_kwh=sum(awarded_kw(k) for k in AWARDED_INTERVALS) / 4,
            )
            session.add(bid)
            session.flush()
            owners = {aid: t.account_id for t in tenants for aid in t.asset_ids.values()}
            names = {aid: name for t in tenants for name, aid in t.asset_ids.items()}
            for k in AWARDED_INTERVALS:
                session.add(
                    AwardRow(
                        bid_id=bid.id,
                        product=bid.product,
                        day=day,
                        side="down",
                        interval=k,
                        quantity_kw=awarded_kw(k),
                        price_cny_per_mwh=400.0,
                        clearing_price_cny_per_mwh=400.0,
                    )
                )
                for asset_id, owner in owners.items():
                    share = PLAN_SHARES.get(names[asset_id], 0.0)
                    if share:
                        session.add(
                            BidAllocation(
                                bid_id=bid.id,
                                asset_id=uuid.UUID(asset_id),
                                interval=k,
                                account_id=uuid.UUID(owner),
                                capacity_kw=share * awarded_kw(k),
                                offered_kw=share * awarded_kw(k),
                                awarded_kw=share * awarded_kw(k),
                            )
                        )
            planned = select(PlannedSetpointRow).where(
                PlannedSetpointRow.day == day,
                PlannedSetpointRow.interval.in_(list(AWARDED_INTERVALS)),
            )
            for row in session.scalars(planned):
                if abs(row.deviation_kw) < 0.5:
                    continue
                factor = DELIVERY_FACTOR.get(row.interval, 1.0)
                session.add(
                    AssetDelivery(
                        day=day,
                        asset_id=row.asset_id,
                        interval=row.interval,
                        account_id=row.account_id,
                        measured_kw=round(row.baseline_kw + factor * row.deviation_kw, 3),
                        samples=15,
                    )
                )
            session.commit()
    finally:
        engine.dispose()


def seed_grid(url: str, today: date, grid_account: str) -> None:
    """Today's schedule as the grid saw it: the day-ahead version (published the evening
    before), an accepted instruction that lowers peak_cut to 1,800 kW in intervals 76-79,
    the current version that carries it, and a rejected instruction."""
    engine = create_db_engine(url)
    day_start = datetime.combine(today, datetime.min.time(), tzinfo=UTC) - timedelta(hours=8)
    now = datetime.now(UTC)
    try:
        with make_sessionmaker(engine)() as session:
            assert publish_schedule(
                session, today, day_start - timedelta(hours=4), "day-ahead plan"
            )
            for row in session.scalars(
                select(PoolTarget).where(
                    PoolTarget.day == today, PoolTarget.interval.in_(INSTRUCTED_INTERVALS)
                )
            ):
                row.target_kw = INSTRUCTED_KW
            session.flush()
            current = publish_schedule(session, today, now, "instruction web-ins-1")
            assert current is not None
            common = {
                "account_id": uuid.UUID(grid_account),
                "source": "api",
                "product": "peak_shaving.peak_cut",
                "day": today,
                "direction": "down",
                "content_hash": "0" * 64,
                "issued_at": now - timedelta(minutes=2),
                "received_at": now - timedelta(minutes=1),
            }
            n = len(INSTRUCTED_INTERVALS)
            session.add(
                GridInstruction(
                    instruction_id="web-ins-1",
                    intervals=INSTRUCTED_INTERVALS,
                    target_kw=[INSTRUCTED_KW] * n,
                    feasible_kw=[INSTRUCTED_KW] * n,
                    status="accepted",
                    reason="",
                    schedule_version=current.version,
                    **common,
                )
            )
            session.add(
                GridInstruction(
                    instruction_id="web-ins-2",
                    intervals=[95],
                    target_kw=[90000.0],
                    feasible_kw=[0.0],
                    status="rejected",
                    reason="beyond the pool's enrolled capacity",
                    schedule_version=None,
                    **{**common, "received_at": now},
                )
            )
            session.commit()
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def park(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Park]:
    """A live server over a seeded park: enterprises A (with an asset named like markup)
    and B, an operator, a grid company, an admin; 28 days of telemetry; draft bids for
    the day after tomorrow (open whatever the time of day); awards and a day-ahead plan
    of today."""
    path = tmp_path_factory.mktemp("web") / "vpp.db"
    url = f"sqlite:///{path}"
    migrate.upgrade(url)
    today = market_day_of(datetime.now(UTC))
    tokens = seed_database(url)

    settings = make_settings(database_url=url, telemetry_max_batch=10_000)
    app = create_app(settings)
    # The lifespan tunes the garbage collector for a server process (gc.freeze); this one
    # shares the test process, so it keeps the defaults.
    patch = pytest.MonkeyPatch()
    patch.setattr(vpp.app, "tune_garbage_collector", lambda: None)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = _Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        assert server.ready.wait(WAIT_S) and server.started, "the server did not start"
        base_url = f"http://127.0.0.1:{port}"
        a = Tenant("Hexi Steel A", tokens["Hexi Steel A"])
        b = Tenant("Qilian Chemicals B", tokens["Qilian Chemicals B"])
        operator = tokens["Park operations"]
        with httpx.Client(base_url=base_url, timeout=60) as client:
            for tenant in (a, b):
                me = client.get("/v1/me", headers=tenant.headers)
                assert me.status_code == 200, me.text
                tenant.account_id = me.json()["account_id"]
            enroll(client, a, SITE_A, ASSETS_A)
            enroll(client, b, SITE_B, ASSETS_B)
            draft_day = today + timedelta(days=2)
            drafted = client.post(
                "/v1/bids",
                json={"day": str(draft_day)},
                headers={"Authorization": f"Bearer {operator}"},
            )
            assert drafted.status_code == 201, drafted.text
        seed_records(url, today, a.asset_ids["Mill battery"], a.account_id)
        seed_plan(url, today, [a, b])
        settled_day = today - timedelta(days=SETTLED_DAYS_AGO)
        seed_plan(url, settled_day, [a, b])
        seed_settled_day(url, settled_day, [a, b])
        gas_m3 = 1250.0
        with httpx.Client(base_url=base_url, timeout=60) as client:
            grid = client.get(
                "/v1/me", headers={"Authorization": f"Bearer {tokens['Gansu grid dispatch']}"}
            )
            seed_grid(url, today, grid.json()["account_id"])
            settled = client.post(
                "/v1/settlements",
                json={"day": str(settled_day)},
                headers={"Authorization": f"Bearer {operator}"},
            )
            assert settled.status_code == 201, settled.text
            site_a = client.get("/v1/sites", headers=a.headers).json()["items"][0]["id"]
            day_start = datetime.combine(today, datetime.min.time(), tzinfo=UTC) - timedelta(
                hours=8
            )
            metered = client.post(
                "/v1/meters/readings",
                json={
                    "readings": [
                        {
                            "site_id": site_a,
                            "commodity": "natural_gas",
                            "ts": day_start.isoformat(),
                            "quantity": gas_m3,
                            "unit": "m3",
                        }
                    ]
                },
                headers=a.headers,
            )
            assert metered.status_code == 200, metered.text
        yield Park(
            base_url=base_url,
            today=today,
            operator=operator,
            grid=tokens["Gansu grid dispatch"],
            admin=tokens["Park admin"],
            a=a,
            b=b,
            drafts={bid["product"]: bid["id"] for bid in drafted.json()},
            draft_day=draft_day,
            settled_day=settled_day,
            settlement=settled.json(),
            gas_m3=gas_m3,
        )
    finally:
        server.should_exit = True
        thread.join(WAIT_S)
        sock.close()
        patch.undo()


# --- the browser ----------------------------------------------------------------------


@pytest.fixture(scope="session")
def chromium() -> tuple[str, str]:
    """Paths of Debian's Chromium and chromedriver, installing them first when missing."""
    result = subprocess.run(  # noqa: S603
        [str(ENSURE_CHROMIUM)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        message = f"Chromium unavailable: {result.stderr.strip()}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    browser, driver = result.stdout.strip().splitlines()[-2:]
    return browser, driver


@pytest.fixture(scope="module")
def browser(
    chromium: tuple[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Chrome]:
    """One headless Chromium per test module, its console captured, prompts left open
    (so a test sees an alert instead of the driver dismissing it)."""
    binary, driver_path = chromium
    options = ChromeOptions()
    options.binary_location = binary
    for argument in (
        "--headless=new",
        "--no-sandbox",  # root in CI containers
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1400,1000",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    options.unhandled_prompt_behavior = "ignore"
    driver = Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_script_timeout(WAIT_S)
    try:
        yield driver
    finally:
        driver.quit()


def wait(driver: Chrome, css: str, timeout: float = WAIT_S) -> Any:
    """The elements matching ``css`` once there is at least one."""
    return WebDriverWait(driver, timeout).until(lambda d: d.find_elements(By.CSS_SELECTOR, css))


def log_in(driver: Chrome, base_url: str, key: str) -> None:
    """Open the dashboard in a fresh tab and log in with ``key``."""
    # A new tab has an empty session storage; closing the old one stops its requests.
    old = driver.current_window_handle
    driver.switch_to.new_window("tab")
    new = driver.current_window_handle
    driver.switch_to.window(old)
    driver.close()
    driver.switch_to.window(new)
    driver.get(f"{base_url}/")
    wait(driver, "#api-key")[0].send_keys(key)
    driver.find_element(By.CSS_SELECTOR, "#login button[type=submit]").click()
    wait(driver, "main[data-view]")


def console_errors(driver: Chrome) -> list[str]:
    """Console errors since the last call (every view should show none: no refused or
    failed call, no script error)."""
    entries: list[dict[str, Any]] = driver.get_log("browser")  # type: ignore[no-untyped-call]
    return [entry["message"] for entry in entries if entry["level"] == "SEVERE"]


def screenshot(driver: Chrome, name: str) -> Path:
    """Save the whole page as ``var/artefacts/web/<name>.png``."""
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    driver.execute_script("window.scrollTo(0, 0)")
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1400, min(max(int(height) + 40, 800), 6000))
    path = ARTEFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    driver.set_window_size(1400, 1000)
    return path


def foreign_resources(driver: Chrome, base_url: str) -> list[str]:
    """Resources the page loaded from anywhere but the service (there should be none)."""
    names: list[str] = driver.execute_script(
        "return performance.getEntriesByType('resource').map((e) => e.name)"
    )
    return [n for n in names if not n.startswith(f"{base_url}/")]


CAPTURE_BLOBS_JS = """
window.__blobs = [];
const original = URL.createObjectURL.bind(URL);
URL.createObjectURL = (blob) => { window.__blobs.push(blob); return original(blob); };
"""
BLOB_TEXTS_JS = """
const done = arguments[arguments.length - 1];
Promise.all(window.__blobs.map((b) => b.text().then((text) => ({ type: b.type, text }))))
  .then(done, (error) => done([{ type: 'error', text: String(error) }]));
"""


def capture_blobs(driver: Chrome) -> None:
    """Record every blob the page turns into a URL (downloads, opened statements)."""
    driver.execute_script(CAPTURE_BLOBS_JS)


def blob_texts(driver: Chrome, count: int) -> list[dict[str, str]]:
    """The recorded blobs' types and texts, once there are ``count`` of them."""
    WebDriverWait(driver, WAIT_S).until(
        lambda d: d.execute_script("return window.__blobs.length") >= count
    )
    texts: list[dict[str, str]] = driver.execute_async_script(BLOB_TEXTS_JS)
    return texts


def step_to(driver: Chrome, panel: str, clicks: int) -> None:
    """Step a panel's day or month picker ``clicks`` times back (negative: forward)."""
    buttons = wait(driver, f"#{panel} .day-picker button")
    for _ in range(abs(clicks)):
        (buttons[0] if clicks > 0 else buttons[-1]).click()


def months_between(later: date, earlier: date) -> int:
    """Whole calendar months from ``earlier``'s month to ``later``'s."""
    return (later.year - earlier.year) * 12 + later.month - earlier.month


def resource_urls(driver: Chrome) -> list[str]:
    """Every URL the page fetched."""
    names: list[str] = driver.execute_script(
        "return performance.getEntriesByType('resource').map((e) => e.name)"
    )
    return names
