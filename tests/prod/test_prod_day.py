"""Acceptance of issue #9: `scripts/prod-local` brings the topology up and a day runs through it.

PostgreSQL, Mosquitto, two API replicas and two schedulers as processes, with an
accelerated service clock (``PROD_LOCAL_VPP_CLOCK_SPEED``: 900 simulated seconds per
wall second, so a tick of 2 s is 30 simulated minutes) that starts a few hours before
the next gate closure (``PROD_LOCAL_VPP_CLOCK_START``) and automatic bid approval. The
demo's Gansu park (simulated adapter, two weeks of telemetry history) is seeded into
the topology's database before the schedulers start; then the leading scheduler runs
the day on its own: draft -> submit -> awards -> plan -> setpoints delivered and
acknowledged. Everything is asserted through the API replicas, each answering the same.

The scheduler uses the simulated market in-process (``VPP_MARKET=simulated``), not the
exchange process: every process starts its accelerated clock at its own start, so the
exchange's clock runs minutes to hours of simulated time apart from the scheduler's,
enough to refuse bids as past the gate. At real speed (production) the clocks agree.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters.mqtt.broker import free_port
from tests.conftest import make_settings
from vpp.accounts import service as accounts
from vpp.bidding.registry import load_packs
from vpp.demo import seed_park
from vpp.domain.time import market_day_of
from vpp.kit.db import create_db_engine, make_sessionmaker

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "prod-local"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
SPEED = 900
HISTORY_DAYS = 14
"""The forecast's least history for a fitted model (``vpp.forecast.model``)."""
GATE_LEAD = timedelta(hours=4)
"""The service clocks start this long before the next gate closure: 16 wall seconds at
900x to draft (a few wall seconds of forecasting and optimising, each a quarter of an
hour of simulated time) and submit; then the day's first interval is 14 h after the gate."""
DAY_TIMEOUT_S = 420.0
"""Wall seconds for a whole day: ~18 simulated hours (72 s) from the clocks' start to
the day's first interval; a day missed at the gate would take 24 h (96 s) more; the rest
is slack for a busy machine."""

pytestmark = pytest.mark.slow


def run_script(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603  (a fixed path and verb, no shell)
        [str(SCRIPT), command], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def wait_for(what: str, check: Any, timeout_s: float, every_s: float = 1.0) -> Any:
    """Poll ``check`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(every_s)
    pytest.fail(f"{what}: not within {timeout_s:.0f} s")


@pytest.fixture
def topology() -> Iterator[tuple[dict[str, str], Path]]:
    installable = os.geteuid() == 0 and shutil.which("apt-get") is not None
    if not installable and (
        not (PG_BIN / "initdb").exists() or shutil.which("mosquitto_passwd") is None
    ):
        message = "PostgreSQL 15 or Mosquitto missing and not root to install them"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    base = ROOT / "var" / f"prod-day-test-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "PROD_LOCAL_DIR": str(base),
        "PROD_LOCAL_PG_PORT": str(free_port()),
        "PROD_LOCAL_MQTT_PORT": str(free_port()),
        "PROD_LOCAL_MARKET_PORT": str(free_port()),
        "PROD_LOCAL_API_PORTS": f"{free_port()} {free_port()}",
        "PROD_LOCAL_METRICS_PORTS": f"{free_port()} {free_port()}",
        "PROD_LOCAL_VPP_ENVIRONMENT": "development",  # production refuses a fast clock
        "PROD_LOCAL_VPP_CLOCK_SPEED": str(SPEED),
        "PROD_LOCAL_VPP_CLOCK_START": clock_start().isoformat(),
        "PROD_LOCAL_VPP_MARKET": "simulated",
        "PROD_LOCAL_VPP_MARKET_CONFIG": json.dumps({"seed": 0}),
        "PROD_LOCAL_VPP_BID_AUTO_APPROVE": "true",
    }
    try:
        yield env, base
    finally:
        run_script("stop", env)
        shutil.rmtree(base, ignore_errors=True)


def clock_start() -> datetime:
    """`GATE_LEAD` before the next gate closure of the products the scheduler bids."""
    settings = make_settings()
    packs = load_packs(settings.market_rules)
    now = datetime.now(UTC)
    today = market_day_of(now)
    for offset in range(3):
        day = today + timedelta(days=offset)
        gate = min(packs[p].gate_closure(day) for p in settings.bidding_products)
        if gate - GATE_LEAD > now:
            return gate - GATE_LEAD
    raise AssertionError("no gate closure within three days")


def database_url(env: dict[str, str], base: Path) -> str:
    secrets = dict(
        line.split("=", 1) for line in (base / "secrets.env").read_text().splitlines() if line
    )
    return (
        f"postgresql+psycopg://vpp:{secrets['POSTGRES_PASSWORD']}"
        f"@127.0.0.1:{env['PROD_LOCAL_PG_PORT']}/vpp"
    )


def seed(url: str) -> str:
    """The demo park with the history its forecasts need (14 days), and an operator key."""
    engine = create_db_engine(url, pool_size=1, max_overflow=0)
    try:
        with make_sessionmaker(engine)() as session:
            seed_park(session, history_days=HISTORY_DAYS)
            operator = accounts.create_account(session, "Operations", "operator", actor=None)
            session.flush()
            _, token = accounts.issue_key(session, operator.id, "day test", None, actor=None)
            session.commit()
            return token
    finally:
        engine.dispose()


def api(port: int, path: str, token: str) -> Any:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
        return json.loads(answer.read())


def test_a_day_runs_through_the_topology(topology: tuple[dict[str, str], Path]) -> None:
    env, base = topology
    # First without schedulers (no metrics ports): the park is seeded before any scheduler
    # runs a day, since the accelerated clocks would otherwise settle days of an empty pool.
    started = run_script("start", {**env, "PROD_LOCAL_METRICS_PORTS": ""})
    assert "api-2 ready" in started.stdout, started.stdout + started.stderr
    token = seed(database_url(env, base))
    restarted = run_script("start", env)  # the two schedulers join the running topology
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    assert "leaders      1" in restarted.stdout

    first, second = (int(port) for port in env["PROD_LOCAL_API_PORTS"].split())

    def awarded_day() -> date | None:
        today = market_day_of(datetime.now(UTC))  # the fast clocks run ahead of it
        for offset in range(4):
            day = date.fromordinal(today.toordinal() + offset)
            if api(second, f"/v1/awards?day={day}", token)["items"]:
                return day
        return None

    day: date = wait_for("awards of a day", awarded_day, DAY_TIMEOUT_S, every_s=2.0)
    bids = api(first, f"/v1/bids?day={day}", token)["items"]
    states = [bid["state"] for bid in bids]
    assert "awarded" in states and set(states) <= {"awarded", "not_awarded"}
    assert api(first, f"/v1/awards?day={day}", token) == api(second, f"/v1/awards?day={day}", token)

    plan = wait_for(
        "the day's plan",
        lambda: (p := api(second, f"/v1/dispatch/plan?day={day}", token))["assets"] and p,
        120,
    )
    assert plan["targets"] and plan["assets"]
    acked = wait_for(
        "acknowledged setpoints",
        lambda: api(first, "/v1/commands?state=acked&limit=50", token)["items"],
        DAY_TIMEOUT_S,
        every_s=2.0,
    )
    assert {command["state"] for command in acked} == {"acked"}
    one = acked[0]["id"]
    assert api(second, f"/v1/commands/{one}", token)["state"] == "acked"
