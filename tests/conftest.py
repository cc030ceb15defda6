"""Test databases: migrated once per backend (SQLite, PostgreSQL), each test rolled back."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from vpp.accounts import service as accounts
from vpp.app import create_app
from vpp.config import Settings
from vpp.kit import migrate
from vpp.kit.db import create_db_engine, make_sessionmaker

PG_ENV = "VPP_TEST_POSTGRES_URL"
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def postgres_url() -> str:
    url = os.environ.get(PG_ENV)
    if not url:
        if os.environ.get("CI"):
            pytest.fail(f"{PG_ENV} is not set: run the tests with `make test`")
        pytest.skip(f"PostgreSQL not started ({PG_ENV} unset); `make test` starts one")
    return url


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    return postgres_url()


def create_pg_database(admin_url: str, prefix: str) -> tuple[str, Callable[[], None]]:
    """A fresh, empty PostgreSQL database and the function that drops it."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_db_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url, drop


@contextmanager
def migrated_pg_database(prefix: str) -> Iterator[str]:
    """A fresh PostgreSQL database migrated to head, dropped on exit (even if the
    migration fails)."""
    url, drop = create_pg_database(postgres_url(), prefix)
    try:
        migrate.upgrade(url)
        yield url
    finally:
        drop()


@pytest.fixture(scope="session", params=BACKENDS)
def db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A migrated database of each backend, shared by the whole session."""
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("db") / "vpp.db"
        url = f"sqlite:///{path}"
        migrate.upgrade(url)
        yield url
        return
    with migrated_pg_database("vpp_test") as url:
        yield url


@pytest.fixture(scope="session")
def engine(db_url: str) -> Iterator[Engine]:
    engine = create_db_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    """One connection per test inside a transaction that is always rolled back."""
    with engine.connect() as conn:
        transaction = conn.begin()
        try:
            yield conn
        finally:
            transaction.rollback()


@pytest.fixture
def session_factory(connection: Connection) -> sessionmaker[Session]:
    """Sessions whose commits are savepoints inside the test's transaction."""
    return make_sessionmaker(connection, join_transaction_mode="create_savepoint")


@pytest.fixture
def session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    with session_factory() as session:
        yield session


def make_settings(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "environment": "test",
        "database_url": "sqlite://",
        "rate_limit_per_s": 10_000.0,
        "rate_limit_burst": 10_000,
        "telemetry_max_batch": 1_000,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings() -> Settings:
    return make_settings()


@pytest.fixture
def app(settings: Settings, session_factory: sessionmaker[Session]) -> FastAPI:
    return create_app(settings, session_factory=session_factory)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@dataclass
class Caller:
    """An account with a key, for calling the API as it."""

    account_id: uuid.UUID
    key_id: uuid.UUID
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def make_caller(session_factory: sessionmaker[Session]) -> Callable[..., Caller]:
    def make(kind: str, name: str | None = None) -> Caller:
        with session_factory() as session:
            account = accounts.create_account(
                session, name or f"{kind}-{uuid.uuid4().hex[:8]}", kind, actor=None
            )
            key, token = accounts.issue_key(session, account.id, "test", None, actor=None)
            session.commit()
            return Caller(account.id, key.id, token)

    return make


@pytest.fixture
def enterprise(make_caller: Callable[..., Caller]) -> Caller:
    return make_caller("enterprise", "Enterprise A")


@pytest.fixture
def other_enterprise(make_caller: Callable[..., Caller]) -> Caller:
    return make_caller("enterprise", "Enterprise B")


@pytest.fixture
def operator(make_caller: Callable[..., Caller]) -> Caller:
    return make_caller("operator")


@pytest.fixture
def grid(make_caller: Callable[..., Caller]) -> Caller:
    return make_caller("grid")


@pytest.fixture
def admin(make_caller: Callable[..., Caller]) -> Caller:
    return make_caller("admin")


SITE = {"name": "Plant 1", "connection_point": "GS-ZY-001", "voltage_kv": 35.0}
BATTERY = {
    "name": "Battery 1",
    "kind": "battery",
    "params": {"capacity_kwh": 1000, "charge_power_kw": 500, "discharge_power_kw": 400},
}


def create_site(client: TestClient, caller: Caller, **overrides: object) -> dict[str, object]:
    response = client.post("/v1/sites", json={**SITE, **overrides}, headers=caller.headers)
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


def create_battery(
    client: TestClient, caller: Caller, site_id: object, **overrides: object
) -> dict[str, object]:
    body = {**BATTERY, "site_id": site_id, **overrides}
    response = client.post("/v1/assets", json=body, headers=caller.headers)
    assert response.status_code == 201, response.text
    result: dict[str, object] = response.json()
    return result


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
