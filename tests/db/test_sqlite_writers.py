"""Concurrent writers on SQLite wait their turn instead of failing with "database is locked"."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from vpp.kit import migrate
from vpp.kit.db import create_db_engine, for_writing, make_sessionmaker, writing
from vpp.models import TelemetryReading


@pytest.mark.parametrize("how", ["writing(session)", "for_writing(engine)"])
def test_read_then_write_transactions_from_four_threads_all_succeed(
    tmp_path: Path, how: str
) -> None:
    url = f"sqlite:///{tmp_path / 'writers.db'}"
    migrate.upgrade(url)
    engine = create_db_engine(url)
    factory = make_sessionmaker(for_writing(engine) if how == "for_writing(engine)" else engine)
    errors: list[BaseException] = []

    def worker() -> None:
        for i in range(40):
            try:
                with factory() as session:
                    if how == "writing(session)":
                        writing(session)
                    session.execute(select(func.count()).select_from(TelemetryReading)).scalar()
                    session.execute(
                        text(
                            "INSERT INTO telemetry (asset_id, ts, power_kw, quality) "
                            "VALUES (:a, :t, 1, 'good')"
                        ),
                        {"a": uuid.uuid4().hex, "t": f"2026-01-01 00:00:{i:02d}.000000"},
                    )
                    session.commit()
            except BaseException as exc:  # collected and asserted below
                errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with factory() as session:
        stored = session.execute(select(func.count()).select_from(TelemetryReading)).scalar_one()
    engine.dispose()
    assert errors == []
    assert stored == 160
