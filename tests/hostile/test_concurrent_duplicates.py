"""Twenty concurrent duplicates of one write, through a live server: exactly one effect.

Design rule (DESIGN.md section 6): every write that must not happen twice (bid
submission, instruction receipt, telemetry batch) is idempotent by a client-supplied key.
Here 20 copies of the same request arrive at once over 20 connections (httpx async
clients against uvicorn, the app with its own engine and pools, on SQLite and on
PostgreSQL); afterwards the database holds one effect and every answer agrees.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select

from market.factories import DrivenMarketClient, simulated_client
from tests.conftest import BATTERY, SITE, make_settings
from tests.hostile.live import Account, create_accounts, fresh_database, serve
from vpp.app import create_app
from vpp.grid.signing import KEY_ID_HEADER, SIGNATURE_HEADER, encode_public_key, sign_body
from vpp.kit.db import create_db_engine, make_sessionmaker
from vpp.models import (
    AuditEntry,
    BidRow,
    GridInstruction,
    IdempotencyRecord,
    PoolTarget,
    ScheduleVersion,
    SetpointCommandRow,
    TelemetryReading,
)
from vpp.ports import ManualClock

pytestmark = [pytest.mark.slow, pytest.mark.anyio]

COPIES = 20
REPLAYED = "Idempotent-Replayed"
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]

BID_DAY = date(2026, 3, 10)
BID_MORNING = datetime(2026, 3, 9, 0, 0, tzinfo=UTC)
"""08:00 Beijing the day before BID_DAY: its gate (10:00 Beijing) is still open."""
GRID_NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
"""10:00 Beijing on 2026-11-26: interval 40 is under way, 42 and 43 are ahead."""
LOSSLESS_BATTERY = {
    **BATTERY,
    "params": {**BATTERY["params"], "round_trip_efficiency": 1.0},  # type: ignore[dict-item]
}


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request.param, tmp_path, "vpp_dup") as url:
        yield url


def count(url: str, *queries: Any) -> list[int]:
    """The scalar counts of ``queries`` in the live database."""
    engine = create_db_engine(url, pool_size=1, max_overflow=0)
    try:
        with make_sessionmaker(engine)() as session:
            return [int(session.scalar(query) or 0) for query in queries]
    finally:
        engine.dispose()


async def at_once(base_url: str, method: str, path: str, **kwargs: Any) -> list[httpx.Response]:
    """``COPIES`` identical requests, each on its own connection, all in flight together."""
    limits = httpx.Limits(max_connections=COPIES, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as client:
        return list(
            await asyncio.gather(*(client.request(method, path, **kwargs) for _ in range(COPIES)))
        )


def post(client: httpx.Client, path: str, who: Account, body: Any) -> Any:
    response = client.post(path, json=body, headers=who.headers)
    assert response.status_code in (200, 201), response.text
    return response.json()


def enroll(client: httpx.Client, who: Account, asset: dict[str, Any]) -> str:
    site = post(client, "/v1/sites", who, SITE)
    created = post(client, "/v1/assets", who, {**asset, "site_id": site["id"]})
    return str(created["id"])


def assert_one_answer(responses: list[httpx.Response], status: int = 200) -> Any:
    """Every response is ``status`` with the same body, and exactly one is not a replay."""
    assert [r.status_code for r in responses] == [status] * len(responses), [
        (r.status_code, r.text) for r in responses if r.status_code != status
    ]
    bodies = [r.json() for r in responses]
    assert all(body == bodies[0] for body in bodies), bodies
    originals = [r for r in responses if r.headers.get(REPLAYED) != "true"]
    assert len(originals) == 1, [dict(r.headers) for r in responses]
    return bodies[0]


async def test_a_bid_submitted_20_times_at_once_is_submitted_once(
    database_url: str, anyio_backend: str
) -> None:
    enterprise, operator = create_accounts(database_url, "enterprise", "operator")
    clock = ManualClock(BID_MORNING)
    market = simulated_client({"seed": 7}, clock, "vpp")
    assert isinstance(market, DrivenMarketClient)
    app = create_app(make_settings(database_url=database_url), clock=clock, market=market)
    with serve(app) as url:
        with httpx.Client(base_url=url, timeout=120) as client:
            enroll(client, enterprise, {**BATTERY, "name": "Big battery"})
            drafts = post(client, "/v1/bids", operator, {"day": str(BID_DAY)})
            bid = next(b for b in drafts if b["product"] == "peak_shaving.peak_cut")
            post(client, f"/v1/bids/{bid['id']}/approve", operator, None)
        headers = {**operator.headers, "Idempotency-Key": f"submit-{bid['id']}"}
        responses = await at_once(url, "POST", f"/v1/bids/{bid['id']}/submit", headers=headers)

    assert [r.status_code for r in responses] == [200] * COPIES, [r.text for r in responses]
    bodies = [r.json() for r in responses]
    assert {b["state"] for b in bodies} == {"submitted"}
    assert all(b["receipt"] == bodies[0]["receipt"] for b in bodies)
    assert bodies[0]["receipt"]["accepted"] is True
    # One submission reached the market; one receipt and one audit entry were stored.
    assert len(await market.market.receipts("vpp")) == 1
    submitted = count(
        database_url,
        select(func.count()).select_from(BidRow).where(BidRow.state == "submitted"),
        select(func.count())
        .select_from(AuditEntry)
        .where(AuditEntry.action == "bid.submit", AuditEntry.object_id == str(bid["id"])),
    )
    assert submitted == [1, 1]


async def test_an_instruction_received_20_times_at_once_is_applied_once(
    database_url: str, anyio_backend: str
) -> None:
    enterprise, grid, admin = create_accounts(database_url, "enterprise", "grid", "admin")
    clock = ManualClock(GRID_NOW)
    app = create_app(make_settings(database_url=database_url), clock=clock)
    key = Ed25519PrivateKey.generate()
    with serve(app) as url:
        with httpx.Client(base_url=url, timeout=60) as client:
            asset_id = enroll(client, enterprise, LOSSLESS_BATTERY)
            reading = {
                "asset_id": asset_id,
                "ts": (GRID_NOW - timedelta(minutes=1)).isoformat(),
                "power_kw": 0.0,
                "energy_kwh": 500.0,
            }
            post(client, "/v1/telemetry", enterprise, {"readings": [reading]})
            public_key = encode_public_key(key.public_key().public_bytes_raw())
            registered = {"account_id": str(grid.account_id), "public_key": public_key}
            post(client, "/v1/grid/keys", admin, {**registered, "key_id": "dispatch-1"})
        body = json.dumps(
            {
                "instruction_id": "ins-dup-1",
                "product": "peak_shaving.peak_cut",
                "day": "2026-11-26",
                "intervals": [42, 43],
                "target_kw": [100.0, 100.0],
                "issued_at": GRID_NOW.isoformat(),
            }
        ).encode()
        headers = {
            **grid.headers,
            "Content-Type": "application/json",
            KEY_ID_HEADER: "dispatch-1",
            SIGNATURE_HEADER: sign_body(key, body),
        }
        responses = await at_once(
            url, "POST", "/v1/grid/instructions", content=body, headers=headers
        )

    answer = assert_one_answer(responses)
    assert (answer["status"], answer["feasible_kw"]) == ("accepted", [100.0, 100.0])
    assert answer["schedule_version"] == 1
    # One instruction, its two pool targets, one schedule version, two setpoint commands.
    stored = count(
        database_url,
        select(func.count()).select_from(GridInstruction),
        select(func.count()).select_from(PoolTarget),
        select(func.count()).select_from(ScheduleVersion),
        select(func.count()).select_from(SetpointCommandRow),
    )
    assert stored == [1, 2, 1, 2]


async def test_a_telemetry_batch_posted_20_times_at_once_is_stored_once(
    database_url: str, anyio_backend: str
) -> None:
    (enterprise,) = create_accounts(database_url, "enterprise")
    app = create_app(make_settings(database_url=database_url))
    with serve(app) as url:
        with httpx.Client(base_url=url, timeout=60) as client:
            asset_id = enroll(client, enterprise, BATTERY)
        start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=2)
        readings = [
            {
                "asset_id": asset_id,
                "ts": (start + timedelta(minutes=k)).isoformat(),
                "power_kw": float(k),
            }
            for k in range(100)
        ]
        headers = {**enterprise.headers, "Idempotency-Key": "batch-0001"}
        responses = await at_once(
            url, "POST", "/v1/telemetry", json={"readings": readings}, headers=headers
        )
        # A duplicate that arrived while the first was being written is told so (409,
        # Retry-After); a client retries it as asked and then gets the stored answer.
        retried = await retry_in_progress(url, responses, {"readings": readings}, headers)

    assert all(
        r.status_code == 200 or (r.status_code == 409 and r.headers["Retry-After"] == "1")
        for r in responses
    ), [(r.status_code, r.text) for r in responses]
    assert assert_one_answer(retried) == {"accepted": 100, "duplicates": 0}
    stored = count(
        database_url,
        select(func.count()).select_from(TelemetryReading),
        select(func.count())
        .select_from(IdempotencyRecord)
        .where(IdempotencyRecord.account_id == enterprise.account_id),
    )
    assert stored == [100, 1]


async def retry_in_progress(
    base_url: str, responses: list[httpx.Response], body: Any, headers: dict[str, str]
) -> list[httpx.Response]:
    """The final answers: each 409 (still in progress) resent after its Retry-After."""
    final = list(responses)
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        for attempt in range(10):
            waiting = [i for i, r in enumerate(final) if r.status_code == 409]
            if not waiting:
                break
            await asyncio.sleep(float(final[waiting[0]].headers["Retry-After"]))
            for i in waiting:
                final[i] = await client.post("/v1/telemetry", json=body, headers=headers)
            assert attempt < 9, "the first request never completed"
    return final
