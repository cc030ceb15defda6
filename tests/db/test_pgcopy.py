"""Binary COPY built with numpy (`vpp.kit.pgcopy`) against a real PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from vpp.kit import pgcopy

DAYS = (date(1999, 12, 31), date(2000, 1, 1), date(2026, 11, 26))
"""Before, at and after PostgreSQL's epoch."""

on_postgresql = pytest.mark.parametrize(
    "db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)


@on_postgresql
def test_staged_columns_read_back_exactly(session: Session) -> None:
    ids = sorted(uuid.uuid4() for _ in range(3))
    when = [
        datetime(2026, 11, 26, 2, 0, tzinfo=UTC) + timedelta(minutes=15 * k) for k in (0, 1, 95)
    ]
    pgcopy.stage(
        session,
        "staged_sample",
        {
            "asset_id": ("uuid", pgcopy.uuid_array(ids)),
            "t": ("int4", np.array([0, 40, 95])),
            "n": ("int8", np.array([-1, 0, 2**40])),
            "kw": ("float8", np.array([-12.5, 0.0, 1e7])),
            "at": ("timestamptz", np.array([pgcopy.timestamp_us(w) for w in when])),
            "d": ("date", np.array([pgcopy.date_days(d) for d in DAYS])),
        },
    )
    rows = session.execute(
        text("SELECT asset_id, t, n, kw, at, d FROM staged_sample ORDER BY t")
    ).all()
    assert [tuple(r) for r in rows] == [
        (ids[0], 0, -1, -12.5, when[0], DAYS[0]),
        (ids[1], 40, 0, 0.0, when[1], DAYS[1]),
        (ids[2], 95, 2**40, 1e7, when[2], DAYS[2]),
    ]
    # Staging again in the same transaction replaces the rows.
    pgcopy.stage(
        session, "staged_sample", {"t": ("int4", np.array([7]))} | _rest(ids[:1], when[:1])
    )
    assert session.execute(text("SELECT t FROM staged_sample")).scalars().all() == [7]


def _rest(ids: list[uuid.UUID], when: list[datetime]) -> dict[str, tuple[str, np.ndarray]]:
    return {
        "asset_id": ("uuid", pgcopy.uuid_array(ids)),
        "n": ("int8", np.zeros(1, dtype=np.int64)),
        "kw": ("float8", np.zeros(1)),
        "at": ("timestamptz", np.array([pgcopy.timestamp_us(w) for w in when])),
        "d": ("date", np.array([pgcopy.date_days(DAYS[0])])),
    }


@on_postgresql
def test_a_stream_of_several_chunks_arrives_whole(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pgcopy, "CHUNK_ROWS", 4)
    n = 11  # chunks of 4, 4 and 3
    pgcopy.stage(
        session,
        "staged_chunks",
        {"t": ("int4", np.arange(n)), "kw": ("float8", np.arange(n) * 0.5)},
    )
    rows = session.execute(text("SELECT t, kw FROM staged_chunks ORDER BY t")).all()
    assert [tuple(r) for r in rows] == [(t, t * 0.5) for t in range(n)]
    assert (
        pgcopy.encode([("int4", np.arange(n))])
        == pgcopy.HEADER
        + b"".join(b"\x00\x01\x00\x00\x00\x04" + int(t).to_bytes(4, "big") for t in range(n))
        + pgcopy.TRAILER
    )


def test_columns_of_other_lengths_or_types_are_refused() -> None:
    with pytest.raises(ValueError, match="different lengths"):
        pgcopy.encode([("int4", np.arange(2)), ("int4", np.arange(3))])
    with pytest.raises(TypeError, match="text"):
        pgcopy.encode([("text", np.array(["a"]))])


@on_postgresql
def test_staged_join_restores_the_planner_setting(session: Session) -> None:
    setting = "SELECT current_setting('enable_mergejoin')"
    with pgcopy.staged_join(session):
        assert session.execute(text(setting)).scalar_one() == "off"
    assert session.execute(text(setting)).scalar_one() == "on"


@on_postgresql
def test_text_columns_of_a_few_values_read_back_row_by_row(session: Session) -> None:
    """Rows of each combination of text values go in as one group; every row keeps its
    own values, the empty string and non-ASCII text included."""
    names = ["simulated", "", "mqtt-网关"]
    codes = np.array([0, 2, 1, 0, 2, 2])
    pgcopy.stage(
        session,
        "texts",
        {
            "n": ("int4", np.arange(6)),
            "adapter": ("text", pgcopy.Categories(codes, names)),
            "state": ("text", pgcopy.Categories.constant("pending", 6)),
        },
    )
    rows = session.execute(text("SELECT n, adapter, state FROM texts ORDER BY n")).all()
    assert [tuple(r) for r in rows] == [(i, names[c], "pending") for i, c in enumerate(codes)]


def test_text_columns_must_be_given_as_categories() -> None:
    with pytest.raises(TypeError, match="Categories"):
        pgcopy.encode([("text", np.array(["a", "b"]))])
