"""PostgreSQL's binary COPY of fixed-width columns, built with numpy, into staging tables.

A re-plan of 10,000 assets writes tens of thousands of changed rows. Through the
driver's per-row conversion that is seconds of Python; in COPY's binary format every
tuple of fixed-width, non-null columns has the same layout, so numpy writes all of them
as one structured array (PostgreSQL docs, "COPY — Binary Format": a 19-byte header,
per tuple an int16 field count and per field an int32 length and the value in network
byte order, an int16 -1 trailer).

Types: ``uuid`` (16 bytes, as `uuid.UUID.bytes`), ``int4``, ``int8``, ``float8``,
``timestamptz`` (microseconds since 2000-01-01 UTC) and ``date`` (days since
2000-01-01, `date_days`); no NULLs.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
TRAILER = b"\xff\xff"
PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)

_WIDTH = {"uuid": 16, "int4": 4, "int8": 8, "float8": 8, "timestamptz": 8, "date": 4}
_DTYPE = {
    "uuid": "V16",
    "int4": ">i4",
    "int8": ">i8",
    "float8": ">f8",
    "timestamptz": ">i8",
    "date": ">i4",
}


def _tuple_dtype(types: Sequence[str]) -> np.dtype[Any]:
    fields: list[tuple[str, str]] = [("count", ">i2")]
    for k, pg_type in enumerate(types):
        if pg_type not in _DTYPE:
            raise TypeError(f"no fixed-width binary COPY for {pg_type!r}")
        fields += [(f"len{k}", ">i4"), (f"v{k}", _DTYPE[pg_type])]
    return np.dtype(fields)


def uuid_array(ids: Sequence[uuid.UUID]) -> np.ndarray:
    """(n,) 16-byte values of ``ids`` (``V16``), ordered as the uuids are."""
    return np.frombuffer(b"".join(i.bytes for i in ids), dtype="V16").copy()


def timestamp_us(value: datetime) -> int:
    """An aware datetime as microseconds since PostgreSQL's epoch."""
    delta = value - PG_EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def date_days(value: date) -> int:
    """A date as days since PostgreSQL's epoch (2000-01-01)."""
    return (value - PG_EPOCH.date()).days


CHUNK_ROWS = 250_000
"""Tuples encoded and sent at a time: a day plan of 100,000 assets is 9.6 million rows,
whose whole stream would be about 1 GB held twice over (array and bytes)."""


def encode(columns: Sequence[tuple[str, np.ndarray]]) -> bytes:
    """A binary COPY stream of the (type, values) columns, all of one length."""
    return HEADER + b"".join(_chunks(columns)) + TRAILER


def _chunks(columns: Sequence[tuple[str, np.ndarray]]) -> Iterator[bytes]:
    """The stream's tuples, `CHUNK_ROWS` at a time."""
    types = [t for t, _ in columns]
    n = len(columns[0][1]) if columns else 0
    if any(len(values) != n for _, values in columns):
        raise ValueError("columns of different lengths")
    dtype = _tuple_dtype(types)
    for start in range(0, n, CHUNK_ROWS):
        stop = min(start + CHUNK_ROWS, n)
        out = np.empty(stop - start, dtype=dtype)
        out["count"] = len(columns)
        for k, (pg_type, values) in enumerate(columns):
            out[f"len{k}"] = _WIDTH[pg_type]
            out[f"v{k}"] = values[start:stop]
        yield out.tobytes()


def copy_into(session: Session, table: str, columns: Mapping[str, tuple[str, np.ndarray]]) -> None:
    """Append the columns {name: (type, values)} to ``table`` with one binary COPY, in
    the session's transaction, streamed in chunks of `CHUNK_ROWS` tuples."""
    dbapi: Any = session.connection().connection.dbapi_connection
    with (
        dbapi.cursor() as cursor,
        cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)") as copy,
    ):
        copy.write(HEADER)
        for chunk in _chunks(list(columns.values())):
            copy.write(chunk)
        copy.write(TRAILER)


def stage(session: Session, table: str, columns: Mapping[str, tuple[str, np.ndarray]]) -> None:
    """Fill the temporary table ``table`` (created for this transaction, emptied if it
    exists) with the columns {name: (type, values)}.

    Statements joining a staged table run inside `staged_join`."""
    definition = ", ".join(f"{name} {pg_type} NOT NULL" for name, (pg_type, _) in columns.items())
    dbapi: Any = session.connection().connection.dbapi_connection
    with dbapi.cursor() as cursor:
        cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {table} ({definition}) ON COMMIT DROP")
        cursor.execute(f"TRUNCATE {table}")
    copy_into(session, table, columns)
    with dbapi.cursor() as cursor:
        # Autovacuum never sees temporary tables; without statistics the planner joins
        # a few thousand staged rows by hashing every open command.
        cursor.execute(f"ANALYZE {table}")


@contextmanager
def staged_join(session: Session) -> Iterator[None]:
    """Run the statements inside without merge joins, then restore the setting.

    A staged change often holds one interval (a correction): the join's estimate then
    uses the whole table's count of distinct intervals, comes out a hundred times too
    small, and the planner merges on the interval alone, comparing every staged row
    with every row of that interval (30 million comparisons for 3,000 changes). Hash
    and nested-loop joins are right at every size here.
    """
    previous: str = session.execute(text("SELECT current_setting('enable_mergejoin')")).scalar_one()
    session.execute(text("SELECT set_config('enable_mergejoin', 'off', true)"))
    try:
        yield
    finally:
        session.execute(
            text("SELECT set_config('enable_mergejoin', :value, true)"), {"value": previous}
        )
