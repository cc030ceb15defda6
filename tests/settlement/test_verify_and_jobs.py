"""`vpp verify` on downloaded evidence, and the scheduled settlement running each day once."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import Caller, make_settings
from tests.settlement.conftest import NOW, Park
from tests.settlement.helpers import DAY, PACKS
from vpp.cli import main
from vpp.models import JobRun, Settlement
from vpp.settlement.jobs import settle_due


def download(client: TestClient, caller: Caller, tmp_path: Path) -> tuple[Path, dict[str, object]]:
    response = client.get(f"/v1/evidence/{DAY.isoformat()}", headers=caller.headers)
    assert response.status_code == 200
    path = tmp_path / f"evidence-{caller.account_id}.json"
    path.write_text(response.text)
    return path, response.json()


def test_vpp_verify_accepts_the_download_and_names_a_tampered_record(
    client: TestClient,
    park: Park,
    operator: Caller,
    enterprise: Caller,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client.post("/v1/settlements", json={"day": DAY.isoformat()}, headers=operator.headers)
    path, document = download(client, enterprise, tmp_path)
    assert main(["verify", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"recomputed enterprise {enterprise.account_id}" in out
    records = document["records"]
    assert isinstance(records, list)
    own = next(i for i, r in enumerate(records) if "body" in r)
    statement = records[own]["body"]["statement"]["peak_shaving.peak_cut"]
    statement["net_fen"] += 1
    path.write_text(json.dumps(document))
    assert main(["verify", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"TAMPERED: record {own} (enterprise {enterprise.account_id}" in err
    path.write_text("{not json")
    assert main(["verify", str(path)]) == 2


def test_vpp_verify_checks_a_known_head(
    client: TestClient,
    park: Park,
    operator: Caller,
    grid: Caller,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client.post("/v1/settlements", json={"day": DAY.isoformat()}, headers=operator.headers)
    path, document = download(client, grid, tmp_path)
    head = str(document["head"])
    assert main(["verify", str(path), "--head", head]) == 0
    assert "pool totals re-added" in capsys.readouterr().out
    assert main(["verify", str(path), "--head", "0" * 64]) == 1


def test_settle_due_settles_each_complete_day_once(
    park: Park, session_factory: sessionmaker[Session]
) -> None:
    settings = make_settings()
    early = NOW - timedelta(hours=3)  # 05:00 Beijing: within the 6 h data delay
    assert settle_due(session_factory, PACKS, early, settings) == []
    first = settle_due(session_factory, PACKS, NOW, settings)
    assert first == [f"{DAY.isoformat()}: version 1, pool net 36500 fen"]
    assert settle_due(session_factory, PACKS, NOW + timedelta(hours=1), settings) == []
    with session_factory() as session:
        assert len(session.scalars(select(Settlement)).all()) == 1
        run = session.scalars(select(JobRun).where(JobRun.job == "settle_day")).one()
        assert (run.period, run.status) == (DAY.isoformat(), "done")
