"""The synthetic fleet: a seeded realistic mix, bulk-written like enrolment would write it."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vpp.assets.service import apply_params
from vpp.cli import main
from vpp.dispatch.registry import validate_binding
from vpp.domain.assets import AssetKind, EvFleetParams, parse_params
from vpp.fleet.mix import KIND_SHARES, default_enterprises, draw_fleet
from vpp.fleet.repository import write_fleet
from vpp.kit import migrate
from vpp.kit.errors import Problem
from vpp.models import Account, Asset, AuditEntry, Site
from vpp.models.base import utcnow


def test_the_same_seed_draws_the_same_fleet() -> None:
    assert draw_fleet(40, 4, seed=3) == draw_fleet(40, 4, seed=3)
    assert draw_fleet(40, 4, seed=3) != draw_fleet(40, 4, seed=4)


def test_default_enterprises_are_one_per_ten_assets() -> None:
    assert [default_enterprises(n) for n in (1, 10, 11, 25, 100_000)] == [1, 1, 2, 3, 10_000]
    fleet = draw_fleet(25, seed=1)
    assert len(fleet.enterprises) == 3
    assert fleet.enterprises[0].name == "Fleet 1 enterprise 000001"
    assert fleet.enterprises[2].connection_point == "FL-1-000003"


def test_every_enterprise_owns_an_asset_and_the_mix_follows_the_shares() -> None:
    fleet = draw_fleet(3_000, 300, seed=11)
    assert len(fleet.assets) == 3_000
    owners = Counter(asset.enterprise for asset in fleet.assets)
    assert sorted(owners) == list(range(300))
    assert max(owners.values()) > 3 * min(owners.values())  # a few large enterprises
    counts = fleet.count_by_kind()
    assert sum(counts.values()) == 3_000
    for kind, share in KIND_SHARES.items():
        # Binomial standard deviation at n = 3000 is <= 0.0092; 4 sigma is 0.037.
        assert abs(counts[kind] / 3_000 - share) < 0.037, kind
    assert math.isclose(sum(KIND_SHARES.values()), 1.0)


def test_drawn_parameters_pass_their_kinds_validation() -> None:
    fleet = draw_fleet(500, seed=2)
    for asset in fleet.assets:
        params = asset.params
        # Round-trips through the same parser enrolment uses.
        mapping = {k: v for k, v in vars(params).items() if v is not None}
        assert parse_params(asset.kind, mapping) == params
        if isinstance(params, EvFleetParams):
            limit = params.charger_count * params.charger_power_kw * params.plug_in_hours
            assert params.daily_energy_kwh <= limit


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="assets must be at least 1"):
        draw_fleet(0)
    with pytest.raises(ValueError, match="enterprises must be between 1"):
        draw_fleet(5, 6)
    with pytest.raises(ValueError, match="enterprises must be between 1"):
        draw_fleet(5, 0)


def test_written_fleet_reads_back_as_enrolled_assets(session: Session) -> None:
    fleet = draw_fleet(60, 6, seed=21)
    written = write_fleet(session, fleet, utcnow())
    session.flush()
    assert (written.enterprises, written.assets) == (6, 60)
    names = [company.name for company in fleet.enterprises]
    accounts = session.scalars(select(Account).where(Account.name.in_(names))).all()
    assert len(accounts) == 6
    assert {account.kind for account in accounts} == {"enterprise"}
    ids = [account.id for account in accounts]
    sites = session.scalars(select(Site).where(Site.account_id.in_(ids))).all()
    assert len(sites) == 6
    by_name = {
        row.name: row for row in session.scalars(select(Asset).where(Asset.account_id.in_(ids)))
    }
    assert sorted(by_name) == sorted(asset.name for asset in fleet.assets)
    site_of = {site.id: site for site in sites}
    account_name = {account.id: account.name for account in accounts}
    for spec in fleet.assets:
        row = by_name[spec.name]
        assert row.kind == spec.kind.value
        assert parse_params(row.kind, row.params) == spec.params
        enrolled = Asset()
        apply_params(enrolled, spec.params)  # what POST /v1/assets would store
        assert (row.params, row.baseline_kw, row.up_kw, row.down_kw) == (
            enrolled.params,
            enrolled.baseline_kw,
            enrolled.up_kw,
            enrolled.down_kw,
        )
        assert account_name[row.account_id] == fleet.enterprises[spec.enterprise].name
        assert site_of[row.site_id].account_id == row.account_id
        assert row.adapter == "simulated"
        assert validate_binding("simulated", row.adapter_settings) == row.adapter_settings
        assert row.created_at.tzinfo is not None and row.retired_at is None
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "fleet.generate")).one()
    assert entry.detail == {"enterprises": 6, "assets": 60, "first": names[0]}


def test_writing_the_same_fleet_twice_is_a_conflict(session: Session) -> None:
    fleet = draw_fleet(12, 2, seed=22)
    write_fleet(session, fleet, utcnow())
    with pytest.raises(Problem) as raised:
        write_fleet(session, fleet, utcnow())
    assert raised.value.status == 409
    assert "Fleet 22 enterprise 000001" in raised.value.detail
    count = session.scalar(
        select(func.count()).select_from(Asset).where(Asset.name.like("% 0000%"))
    )
    assert count == 12


def test_cli_generates_into_the_configured_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'fleet.db'}"
    migrate.upgrade(url)
    argv = ["--database-url", url, "fleet", "generate", "--assets", "30", "--seed", "9"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("30 assets of 3 enterprises written (")
    assert main(argv) == 2  # the same fleet again: 409, said on stderr
    assert "choose another --seed or --prefix" in capsys.readouterr().err
    assert main([*argv, "--prefix", "Second park"]) == 0
    assert (
        main(["--database-url", url, "fleet", "generate", "--assets", "3", "--enterprises", "4"])
        == 2
    )
    assert "enterprises must be between 1" in capsys.readouterr().err

    from vpp.kit.db import create_db_engine, make_sessionmaker

    engine = create_db_engine(url)
    with make_sessionmaker(engine)() as session:
        kinds = Counter(session.scalars(select(Asset.kind)).all())
        assert sum(kinds.values()) == 60
        assert set(kinds) <= {kind.value for kind in AssetKind}
    engine.dispose()
