"""Several senders on PostgreSQL never claim the same command (FOR UPDATE SKIP LOCKED)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from tests.conftest import migrated_pg_database
from vpp.dispatch import repository, service
from vpp.kit.db import create_db_engine, make_sessionmaker
from vpp.models import Account, Asset, Site

pytestmark = pytest.mark.postgres
NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)


@pytest.fixture
def pg_engine() -> Iterator[Engine]:
    with migrated_pg_database("vpp_claims") as url:
        engine = create_db_engine(url)
        try:
            yield engine
        finally:
            engine.dispose()


def test_concurrent_claims_are_disjoint_and_cover_everything(pg_engine: Engine) -> None:
    factory = make_sessionmaker(pg_engine)
    with factory() as session:
        account = Account(name="A", kind="enterprise")
        session.add(account)
        session.flush()
        site = Site(account_id=account.id, name="s", connection_point="p", voltage_kv=10)
        session.add(site)
        session.flush()
        asset = Asset(
            account_id=account.id,
            site_id=site.id,
            name="b",
            kind="battery",
            params={},
            adapter="simulated",
            adapter_settings={},
            baseline_kw=0,
            up_kw=1,
            down_kw=1,
        )
        session.add(asset)
        session.flush()
        for i in range(100):
            service.enqueue(session, asset, NOW, float(i), NOW + timedelta(minutes=15), NOW, "test")
        session.commit()

    lease = timedelta(seconds=30)
    first, second = factory(), factory()
    try:
        mine = repository.claim_due(first, NOW, 60, ["simulated"], lease)
        # The first sender has not committed: its rows stay locked and are skipped.
        theirs = repository.claim_due(second, NOW, 100, ["simulated"], lease)
        assert len(mine) == 60 and len(theirs) == 40
        assert not {c.command.id for c in mine} & {c.command.id for c in theirs}
        first.commit()
        second.commit()
    finally:
        first.close()
        second.close()
    with factory() as session:
        # Both leases run until NOW + 30 s: nothing is due again before then.
        assert (
            repository.claim_due(session, NOW + timedelta(seconds=29), 100, ["simulated"], lease)
            == []
        )
        again = repository.claim_due(
            session, NOW + timedelta(seconds=30), 100, ["simulated"], lease
        )
        assert len(again) == 100 and {c.command.attempt for c in again} == {2}
