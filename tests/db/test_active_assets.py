"""The pool's assets as plain tuples read what the ORM listing reads, retired ones left out."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session

from tests.dispatch.park import add_asset, enterprise
from vpp.assets import repository


def test_active_assets_match_the_orm_listing(session: Session) -> None:
    first, second = enterprise(session, "Tuple Co"), enterprise(session, "Other Co")
    kiln = {"nominal_kw": 300.0, "min_kw": 100.0}
    assets = [
        add_asset(session, first, name="battery"),
        add_asset(session, second, "curtailable_load", kiln, name="kiln"),
        add_asset(session, first, name="gone"),
    ]
    assets[2].retired_at = datetime(2026, 7, 1, tzinfo=UTC)
    session.flush()

    active = repository.active_assets(session)
    listed = repository.list_assets(session, None, None, 1_000_000)
    assert [a.id for a in active] == [a.id for a in listed] == sorted(a.id for a in assets[:2])
    for plain, orm in zip(active, listed, strict=True):
        assert (plain.account_id, plain.kind, plain.params) == (
            orm.account_id,
            orm.kind,
            orm.params,
        )
