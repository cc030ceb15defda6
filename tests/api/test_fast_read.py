"""GET /v1/assets/{id} answered beside FastAPI (`vpp.assets.fast_read`): the same
document as the route, every change seen at once, and every other case left to the
route's own answers."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text, update
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import (
    BACKENDS,
    Caller,
    create_battery,
    create_site,
    make_settings,
    migrated_pg_database,
)
from tests.dispatch.park import add_asset
from tests.dispatch.park import enterprise as enterprise_account
from vpp.accounts import service as accounts
from vpp.app import create_app
from vpp.assets.fast_read import AssetReader
from vpp.assets.service import asset_out
from vpp.kit import migrate
from vpp.kit.auth import KeyCache
from vpp.kit.db import create_db_engine, make_sessionmaker
from vpp.models import ApiKey, Asset
from vpp.models.base import utcnow

PV = {
    "name": "Roof PV",
    "kind": "pv",
    "params": {"peak_kw": 800, "curtailable": True},
    "adapter": {"name": "simulated", "settings": {"seed": 7}},
}


def route_document(factory: sessionmaker[Session], asset_id: Any) -> dict[str, Any]:
    """What the FastAPI route answers: the ORM row through the route's model."""
    with factory() as session:
        asset = session.get(Asset, uuid.UUID(str(asset_id)))
        assert asset is not None
        document: dict[str, Any] = asset_out(asset).model_dump(mode="json")
        return document


def assert_found(
    found: list[Any], ids: list[uuid.UUID], owner: uuid.UUID, factory: sessionmaker[Session]
) -> None:
    """``found`` answers ``[*ids, ids[0], <unknown id>]``: each with its owner and the
    route's document, the unknown one None."""
    assert found[-1] is None
    for asset_id, answer in zip([*ids, ids[0]], found[:-1], strict=True):
        assert answer[0] == owner
        assert json.loads(answer[1]) == route_document(factory, asset_id)


def reader_of(app: FastAPI) -> AssetReader:
    reader: AssetReader = app.state.asset_reader
    return reader


def test_the_fast_read_answers_the_routes_document(
    app: FastAPI,
    client: TestClient,
    enterprise: Caller,
    operator: Caller,
    session_factory: sessionmaker[Session],
) -> None:
    site = create_site(client, enterprise)
    battery = create_battery(client, enterprise, site["id"])
    pv = client.post("/v1/assets", json={**PV, "site_id": site["id"]}, headers=enterprise.headers)
    assert pv.status_code == 201, pv.text
    reader = reader_of(app)
    for asset_id in (battery["id"], pv.json()["id"]):
        served = reader.served
        response = client.get(f"/v1/assets/{asset_id}", headers=enterprise.headers)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.json() == route_document(session_factory, asset_id)
        assert reader.served == served + 1
    # An operator reads every enterprise's assets (its first call verifies its key).
    assert client.get("/v1/pool/summary", headers=operator.headers).status_code == 200
    served = reader.served
    response = client.get(f"/v1/assets/{battery['id']}", headers=operator.headers)
    assert response.json() == route_document(session_factory, battery["id"])
    assert reader.served == served + 1


def test_the_fast_read_sees_an_update_at_once(
    app: FastAPI, client: TestClient, enterprise: Caller, session_factory: sessionmaker[Session]
) -> None:
    site = create_site(client, enterprise)
    asset = create_battery(client, enterprise, site["id"])
    path = f"/v1/assets/{asset['id']}"
    assert client.get(path, headers=enterprise.headers).json()["name"] == "Battery 1"
    patched = client.patch(
        path,
        json={"name": "Battery East", "params": {"charge_power_kw": 300}},
        headers=enterprise.headers,
    )
    assert patched.status_code == 200, patched.text
    served = reader_of(app).served
    read = client.get(path, headers=enterprise.headers).json()
    assert reader_of(app).served == served + 1
    assert read == patched.json() == route_document(session_factory, asset["id"])
    assert read["name"] == "Battery East"
    assert read["flexibility"]["up_kw"] == 300.0


def test_everything_else_is_left_to_the_route(
    app: FastAPI, client: TestClient, enterprise: Caller, other_enterprise: Caller, grid: Caller
) -> None:
    site = create_site(client, enterprise)
    asset = create_battery(client, enterprise, site["id"])
    path = f"/v1/assets/{asset['id']}"
    # Verify the other keys once, so the cache vouches for them.
    for caller in (other_enterprise, grid):
        assert client.get("/healthz", headers=caller.headers).status_code == 200
        client.get("/v1/sites", headers=caller.headers)
    reader = reader_of(app)
    served = reader.served
    cases = [
        (path, other_enterprise.headers, 404),  # another tenant's asset
        (f"/v1/assets/{uuid.uuid4()}", enterprise.headers, 404),  # no such asset
        ("/v1/assets/not-a-uuid", enterprise.headers, 422),
        (path, grid.headers, 403),  # a role that may not read assets
        (path, {}, 401),
        (path, {"Authorization": "Bearer vpp_unknown"}, 401),
        (path, {"Authorization": f"Basic {enterprise.token}"}, 401),
    ]
    for url, headers, status in cases:
        response = client.get(url, headers=headers)
        assert response.status_code == status, (url, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    assert reader.served == served
    assert reader.passed_on >= len(cases)


def test_the_rate_limit_holds_on_the_fast_read(
    session_factory: sessionmaker[Session], make_caller: Any
) -> None:
    app = create_app(
        make_settings(rate_limit_per_s=0.001, rate_limit_burst=3), session_factory=session_factory
    )
    enterprise: Caller = make_caller("enterprise")
    with TestClient(app, raise_server_exceptions=False) as client:
        site = create_site(client, enterprise)  # 1 token
        asset = create_battery(client, enterprise, site["id"])  # 2
        path = f"/v1/assets/{asset['id']}"
        assert client.get(path, headers=enterprise.headers).status_code == 200  # 3
        refused = client.get(path, headers=enterprise.headers)
        assert refused.status_code == 429
        assert "Retry-After" in refused.headers


def test_fast_reads_are_counted_in_the_metrics(
    client: TestClient, enterprise: Caller, app: FastAPI
) -> None:
    site = create_site(client, enterprise)
    asset = create_battery(client, enterprise, site["id"])
    for _ in range(3):
        client.get(f"/v1/assets/{asset['id']}", headers=enterprise.headers)
    assert reader_of(app).served >= 3
    metrics = client.get("/metrics").text
    line = next(
        row
        for row in metrics.splitlines()
        if row.startswith("vpp_http_requests_total{")
        and 'route="/v1/assets/{asset_id}"' in row
        and 'status="200"' in row
    )
    assert float(line.rsplit(" ", 1)[1]) == 3.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_key_revoked_elsewhere_is_refused_once_verified_again(
    app: FastAPI, client: TestClient, enterprise: Caller, session_factory: sessionmaker[Session]
) -> None:
    clock = FakeClock()
    app.state.key_cache = KeyCache(5.0, clock)
    site = create_site(client, enterprise)
    path = f"/v1/assets/{create_battery(client, enterprise, site['id'])['id']}"
    assert client.get(path, headers=enterprise.headers).status_code == 200
    # Revoked by another replica: this process's cache still vouches for the key ...
    with session_factory() as session:
        session.execute(
            update(ApiKey).where(ApiKey.id == enterprise.key_id).values(revoked_at=utcnow())
        )
        session.commit()
    clock.now += 2.0
    assert client.get(path, headers=enterprise.headers).status_code == 200
    # ... until the key is verified again, half a TTL after it was last verified.
    clock.now += 1.0
    assert client.get(path, headers=enterprise.headers).status_code == 401


@pytest.fixture(params=BACKENDS)
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of this test's own, so the app can open its engine on it."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'vpp.db'}"
        migrate.upgrade(url)
        yield url
        return
    with migrated_pg_database("vpp_fast_read") as url:
        yield url


def test_a_change_committed_by_another_process_shows_at_once(fresh_url: str) -> None:
    engine = create_db_engine(fresh_url)
    try:
        with make_sessionmaker(engine)() as session:
            account = accounts.create_account(session, "Hexi Steel", "enterprise", actor=None)
            _key, token = accounts.issue_key(session, account.id, "test", None, actor=None)
            session.commit()
        headers = {"Authorization": f"Bearer {token}"}
        settings = make_settings(
            database_url=fresh_url, dispatch_enabled=False, scheduler_enabled=False
        )
        app = create_app(settings)
        with TestClient(app, raise_server_exceptions=False) as client:
            site = client.post(
                "/v1/sites",
                json={"name": "Plant", "connection_point": "GS-1", "voltage_kv": 35.0},
                headers=headers,
            ).json()
            asset = create_battery_as(client, headers, site["id"])
            path = f"/v1/assets/{asset['id']}"
            assert client.get(path, headers=headers).json() == asset
            # Another replica (here: another engine) renames it and commits.
            with engine.begin() as connection:
                connection.execute(
                    update(Asset)
                    .where(Asset.id == uuid.UUID(asset["id"]))
                    .values(name="Renamed elsewhere", updated_at=utcnow())
                )
            served = reader_of(app).served
            read = client.get(path, headers=headers).json()
            assert reader_of(app).served == served + 1
            assert read["name"] == "Renamed elsewhere"
            assert read == route_document(make_sessionmaker(engine), asset["id"])
    finally:
        engine.dispose()


def create_battery_as(client: TestClient, headers: dict[str, str], site_id: str) -> dict[str, Any]:
    body = {
        "name": "Battery 1",
        "kind": "battery",
        "site_id": site_id,
        "params": {"capacity_kwh": 1000, "charge_power_kw": 500, "discharge_power_kw": 400},
    }
    response = client.post("/v1/assets", json=body, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def test_the_reads_of_one_turn_of_the_loop_share_one_statement(
    client: TestClient, enterprise: Caller, session_factory: sessionmaker[Session]
) -> None:
    site = create_site(client, enterprise)
    ids = [
        uuid.UUID(str(create_battery(client, enterprise, site["id"], name=f"B{n}")["id"]))
        for n in range(3)
    ]
    reader = AssetReader()

    async def read_together() -> list[Any]:
        wanted = [*ids, ids[0], uuid.uuid4()]  # one asked twice, one unknown
        return await asyncio.gather(*(reader.load(session_factory, i) for i in wanted))

    found = asyncio.run(read_together())
    assert reader.statements == 1
    assert_found(found, ids, enterprise.account_id, session_factory)


@contextmanager
def engine_with_batteries(
    url: str, count: int
) -> Iterator[tuple[Engine, sessionmaker[Session], uuid.UUID, list[uuid.UUID]]]:
    """An engine on ``url`` (disposed afterwards), its sessions, and an enterprise's
    ``count`` batteries committed there: (engine, factory, owner id, asset ids)."""
    engine = create_db_engine(url)
    try:
        factory = make_sessionmaker(engine)
        owner, ids = seed_batteries(factory, count)
        yield engine, factory, owner, ids
    finally:
        engine.dispose()


def seed_batteries(factory: sessionmaker[Session], count: int) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """An enterprise with ``count`` batteries, committed: (its id, the assets' ids)."""
    with factory() as session:
        owner = enterprise_account(session, "Hexi Steel")
        ids = [add_asset(session, owner, name=f"Battery {n}").id for n in range(count)]
        session.commit()
        return owner, ids


def test_a_reader_of_its_own_shares_statements_and_closes(fresh_url: str) -> None:
    """On an engine the reader keeps a connection of its own (an asynchronous one on
    PostgreSQL), and still reads the requests waiting together in one statement."""
    with engine_with_batteries(fresh_url, 3) as (_engine, factory, owner, ids):
        reader = AssetReader()

        async def read_together() -> list[Any]:
            try:
                first = await asyncio.gather(*(reader.load(factory, i) for i in ids))
                again = await asyncio.gather(
                    reader.load(factory, ids[0]), reader.load(factory, uuid.uuid4())
                )
                return [*first, *again]
            finally:
                await reader.aclose()

        found = asyncio.run(read_together())
        assert reader.statements == 2
        assert_found(found, ids, owner, factory)


@pytest.mark.postgres
def test_a_lost_postgresql_connection_passes_one_turn_on_then_reconnects() -> None:
    with (
        migrated_pg_database("vpp_fast_read") as url,
        engine_with_batteries(url, 1) as (engine, factory, owner, ids),
    ):
        reader = AssetReader()

        async def through_a_lost_connection() -> list[Any]:
            try:
                before = await reader.load(factory, ids[0])
                backend = reader._async.info.backend_pid  # type: ignore[union-attr]
                with engine.begin() as connection:
                    connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
                lost = await reader.load(factory, ids[0])  # the route answers this one
                after = await reader.load(factory, ids[0])
                return [before, lost, after]
            finally:
                await reader.aclose()

        before, lost, after = asyncio.run(through_a_lost_connection())
        assert lost is None
        assert before == after
        assert before is not None and before[0] == owner


def test_a_row_the_reader_cannot_serialise_leaves_the_request_to_the_route(
    session_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure after the statement (here: serialising the row) answers the waiting
    requests with None at once; none is left waiting."""
    _owner, ids = seed_batteries(session_factory, 1)
    reader = AssetReader()

    def broken(_asset: Asset) -> Any:
        raise ValueError("cannot serialise")

    monkeypatch.setattr("vpp.assets.fast_read.asset_out", broken)

    async def read() -> list[Any]:
        both = asyncio.gather(
            reader.load(session_factory, ids[0]), reader.load(session_factory, ids[0])
        )
        return list(await asyncio.wait_for(both, timeout=30))

    assert asyncio.run(read()) == [None, None]
