"""Scheduler leader election: exactly one instance leads, takeover when its session ends."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from types import SimpleNamespace

import psycopg
import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import create_pg_database, make_settings, postgres_url
from vpp.app import LeaderMarketDay, create_app
from vpp.kit.jobruns import claim
from vpp.kit.leadership import (
    LOCK_NAME,
    AdvisoryLockLeadership,
    AlwaysLeader,
    elect,
    libpq_conninfo,
    lock_key,
)
from vpp.models import JobRun
from vpp.ports import ManualClock
from vpp.scheduler import MarketDay

DEADLINE_S = 10.0


def wait_until(condition: Callable[[], bool], timeout_s: float = DEADLINE_S) -> bool:
    """Poll ``condition`` until it holds or ``timeout_s`` passes; whether it held."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def gauge(registry: CollectorRegistry) -> float | None:
    return registry.get_sample_value("vpp_scheduler_leader")


# --- no database -------------------------------------------------------------------------


def test_lock_key_is_stable_across_versions() -> None:
    # Instances of two versions must contend for the same lock during a rolling upgrade,
    # so the key of the scheduler's lock is part of the contract.
    assert lock_key(LOCK_NAME) == 1465947587161848192
    assert lock_key("another lock") != lock_key(LOCK_NAME)
    assert -(2**63) <= lock_key("x") < 2**63


def test_sqlite_instance_always_leads_and_says_so() -> None:
    registry = CollectorRegistry()
    leadership = elect("sqlite:///./var/x.db", registry=registry)
    assert isinstance(leadership, AlwaysLeader)
    leadership.start()
    assert leadership.check() is True
    assert leadership.is_leader is True
    assert gauge(registry) == 1.0
    leadership.stop()


def test_conninfo_drops_the_driver_and_refuses_sqlite() -> None:
    assert (
        libpq_conninfo("postgresql+psycopg://u:p%40w@db:5433/vpp")
        == "postgresql://u:p%40w@db:5433/vpp"
    )
    with pytest.raises(ValueError, match="needs PostgreSQL"):
        libpq_conninfo("sqlite:///x.db")


def test_session_timeout_must_exceed_the_check_period() -> None:
    with pytest.raises(ValueError, match="must exceed"):
        AdvisoryLockLeadership("postgresql://h/db", check_s=2.0, session_timeout_s=2.0)
    with pytest.raises(ValueError, match="VPP_SCHEDULER_LEADER_TIMEOUT_S must exceed"):
        make_settings(scheduler_leader_check_s=5.0, scheduler_leader_timeout_s=4.0)


class _Stub:
    """A leadership whose answer the test sets."""

    def __init__(self, leading: bool) -> None:
        self.leading = leading
        self.checks = 0

    @property
    def is_leader(self) -> bool:
        return self.leading

    def check(self) -> bool:
        self.checks += 1
        return self.leading

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


@pytest.mark.anyio
async def test_only_the_leader_runs_the_market_day_tick_and_a_new_leader_releases_open_runs(
    monkeypatch: pytest.MonkeyPatch, session_factory: sessionmaker[Session]
) -> None:
    ticks: list[str] = []

    async def tick(self: MarketDay) -> None:
        ticks.append("tick")

    def run_states() -> dict[str, str]:
        with session_factory() as session:
            rows = session.execute(select(JobRun.period, JobRun.status)).all()
            return {period: status for period, status in rows}

    now = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
    # A leader died while planning 2026-03-10: its run stays "running" and blocks the day.
    assert claim(session_factory, "plan_dispatch", "2026-03-10", now)
    monkeypatch.setattr(MarketDay, "tick", tick)
    stub = _Stub(leading=False)
    state = SimpleNamespace(clock=ManualClock(now))
    day = LeaderMarketDay(state, session_factory, leadership=stub)
    await day.tick()
    await day.tick()
    assert ticks == []
    assert run_states() == {"2026-03-10": "running"}  # a follower touches nothing
    stub.leading = True
    await day.tick()
    assert ticks == ["tick"]
    assert stub.checks == 3
    assert run_states() == {"2026-03-10": "failed"}
    assert claim(session_factory, "plan_dispatch", "2026-03-10", now)  # the day can run again
    await day.tick()  # still leading: its own open run is left alone
    assert run_states() == {"2026-03-10": "running"}


def test_readyz_names_the_scheduler_role(client: TestClient) -> None:
    assert "scheduler" not in client.get("/readyz").json()  # no scheduler in this process
    stub = _Stub(leading=False)
    client.app.state.leadership = stub  # type: ignore[attr-defined]
    assert client.get("/readyz").json() == {
        "status": "ready",
        "database": "ok",
        "scheduler": "follower",
    }
    stub.leading = True
    assert client.get("/readyz").json()["scheduler"] == "leader"


def test_embedded_app_with_scheduler_leads_on_sqlite(
    session_factory: sessionmaker[Session],
) -> None:
    app = create_app(
        make_settings(scheduler_enabled=True, bidding_products=["peak_shaving.valley_fill"]),
        session_factory=session_factory,
    )
    with TestClient(app) as client:
        assert client.get("/readyz").json()["scheduler"] == "leader"
        assert "vpp_scheduler_leader 1.0" in client.get("/metrics").text


# --- PostgreSQL --------------------------------------------------------------------------


@pytest.fixture
def pg_url() -> Iterator[str]:
    """An empty database of its own: advisory locks are per database."""
    url, drop = create_pg_database(postgres_url(), "vpp_leader")
    try:
        yield url
    finally:
        drop()


@pytest.fixture
def instances(pg_url: str) -> Iterator[Callable[..., AdvisoryLockLeadership]]:
    made: list[AdvisoryLockLeadership] = []

    def make(check_s: float = 2.0, session_timeout_s: float = 15.0) -> AdvisoryLockLeadership:
        leadership = AdvisoryLockLeadership(
            pg_url,
            check_s=check_s,
            session_timeout_s=session_timeout_s,
            registry=CollectorRegistry(),
        )
        made.append(leadership)
        return leadership

    yield make
    for leadership in made:
        leadership.stop()


def terminate(pg_url: str, backend_pid: int | None) -> None:
    """End a session from outside, as a lost connection or a server-side kill would."""
    assert backend_pid is not None
    with psycopg.connect(libpq_conninfo(pg_url), autocommit=True) as admin:
        # With a timeout the call returns once the backend has exited (its locks gone).
        row = admin.execute("SELECT pg_terminate_backend(%s, 5000)", (backend_pid,)).fetchone()
        assert row == (True,)


def lock_holders(pg_url: str) -> list[int]:
    """Server process ids of the sessions holding the scheduler's advisory lock in this
    database (an advisory lock is per database; tests running beside this one hold the
    same key in theirs)."""
    key = lock_key(LOCK_NAME) & 0xFFFFFFFFFFFFFFFF  # pg_locks splits it into two oids
    with psycopg.connect(libpq_conninfo(pg_url), autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            " AND classid = %s::bigint::oid AND objid = %s::bigint::oid AND objsubid = 1",
            (key >> 32, key & 0xFFFFFFFF),
        ).fetchall()
    return [int(row[0]) for row in rows]


@pytest.mark.postgres
def test_elect_on_postgres_is_an_advisory_lock(pg_url: str) -> None:
    leadership = elect(pg_url, check_s=1.0, session_timeout_s=5.0)
    assert isinstance(leadership, AdvisoryLockLeadership)
    assert leadership.check_s == 1.0
    leadership.stop()


@pytest.mark.postgres
def test_two_instances_exactly_one_leads(pg_url: str) -> None:
    registry_a, registry_b = CollectorRegistry(), CollectorRegistry()
    a = AdvisoryLockLeadership(pg_url, registry=registry_a)
    b = AdvisoryLockLeadership(pg_url, registry=registry_b)
    try:
        assert (gauge(registry_a), gauge(registry_b)) == (0.0, 0.0)
        assert (a.check(), b.check()) == (True, False)
        for _ in range(5):  # the leader keeps leading, the follower keeps following
            assert (b.check(), a.check()) == (False, True)
        assert (gauge(registry_a), gauge(registry_b)) == (1.0, 0.0)
        assert lock_holders(pg_url) == [a.backend_pid]
    finally:
        a.stop()
        b.stop()


@pytest.mark.postgres
def test_leader_connection_closed_the_other_takes_over(
    pg_url: str, instances: Callable[..., AdvisoryLockLeadership]
) -> None:
    a, b = instances(), instances()
    assert a.check() and not b.check()
    terminate(pg_url, a.backend_pid)
    assert lock_holders(pg_url) == []
    # The server released the lock with the session; the old leader learns it at its
    # next check (before its next tick), the follower takes the lock at its next try.
    assert a.check() is False
    assert b.check() is True
    assert lock_holders(pg_url) == [b.backend_pid]
    # The old leader, reconnected, is now the follower.
    assert a.check() is False
    assert (a.is_leader, b.is_leader) == (False, True)


@pytest.mark.postgres
def test_resigning_hands_over(
    pg_url: str, instances: Callable[..., AdvisoryLockLeadership]
) -> None:
    a, b = instances(), instances()
    assert a.check() and not b.check()
    assert lock_holders(pg_url) == [a.backend_pid]
    a.stop()
    assert lock_holders(pg_url) == []
    assert a.check() is False  # a stopped instance never leads again
    assert b.check() is True
    assert lock_holders(pg_url) == [b.backend_pid]


@pytest.mark.postgres
def test_a_hung_leader_loses_its_session_after_the_timeout(
    instances: Callable[..., AdvisoryLockLeadership],
) -> None:
    # The leader stops checking in (frozen process): the server ends its idle session
    # after session_timeout_s and the follower takes over.
    a = instances(check_s=0.2, session_timeout_s=1.0)
    b = instances(check_s=0.2, session_timeout_s=1.0)
    assert a.check() and not b.check()
    started = time.monotonic()
    assert wait_until(b.check)
    assert time.monotonic() - started >= 0.9
    assert a.check() is False


@pytest.mark.postgres
def test_background_elections_never_confirm_two_leaders(
    pg_url: str, instances: Callable[..., AdvisoryLockLeadership]
) -> None:
    """Three instances elect in their own threads while the leader's session is ended
    three times. Every confirmation (what gates a tick) is checked against the server's
    lock table; a sweep over the instances, atomic with respect to the terminations,
    never confirms two leaders."""
    group = [instances(check_s=0.05, session_timeout_s=5.0) for _ in range(3)]
    for leadership in group:
        leadership.start()
    mutex = threading.Lock()
    stop = threading.Event()
    sweeps: list[int] = []
    wrong: list[str] = []

    def watch() -> None:
        while not stop.is_set():
            with mutex:
                confirmed = [x for x in group if x.check()]
                for leader in confirmed:
                    if lock_holders(pg_url) != [leader.backend_pid]:
                        wrong.append(f"{leader.backend_pid} confirmed, not the holder")
                sweeps.append(len(confirmed))

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        for _ in range(3):  # three successive leaders lose their sessions
            assert wait_until(lambda: sum(x.is_leader for x in group) == 1)
            with mutex:
                (leader,) = (x for x in group if x.is_leader)
                terminate(pg_url, leader.backend_pid)
                assert leader.check() is False  # the next check before a tick says so
        assert wait_until(lambda: sum(x.is_leader for x in group) == 1)
        assert wait_until(lambda: len(sweeps) > 20)
    finally:
        stop.set()
        watcher.join()
    assert wrong == []
    assert max(sweeps) == 1
    assert sweeps.count(1) > 0


def test_the_market_day_type_still_takes_state_and_factory() -> None:
    # LeaderMarketDay extends the scheduler's MarketDay by one field.
    day = LeaderMarketDay(object(), sessionmaker())  # type: ignore[arg-type]
    assert isinstance(day.leadership, AlwaysLeader)
