"""Bulk inserts through each database's fast path: COPY on PostgreSQL, executemany on SQLite.

For writes of thousands of rows (a plan's commands, their events): the ORM and
multi-row VALUES statements spend more time building SQL than the database spends
storing the rows. Values are converted to the representations SQLAlchemy's own types
use, so the rows read back through the ORM unchanged.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    Float,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Table,
    Uuid,
)
from sqlalchemy.orm import Session

from vpp.models.base import UtcDateTime


@lru_cache(maxsize=4096)
def sqlite_timestamp(ts: datetime) -> str:
    """A UTC timestamp as ``UtcDateTime`` stores it on SQLite (naive UTC, microseconds).

    Cached: a plan's thousands of rows share a few interval starts and expiries.
    """
    return ts.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _pg_type(column_type: Any) -> str:
    if isinstance(column_type, Uuid):
        return "uuid"
    if isinstance(column_type, UtcDateTime):
        return "timestamptz"
    if isinstance(column_type, Float):
        return "float8"
    if isinstance(column_type, BigInteger):
        return "int8"
    if isinstance(column_type, SmallInteger):
        return "int2"
    if isinstance(column_type, Integer):
        return "int4"
    if isinstance(column_type, Boolean):
        return "bool"
    if isinstance(column_type, Date):
        return "date"
    if isinstance(column_type, String):
        return "text"
    if isinstance(column_type, LargeBinary):
        return "bytea"
    raise TypeError(f"no bulk path for column type {column_type!r}")


def sqlite_value(value: Any) -> Any:
    """A parameter as SQLAlchemy's types store it on SQLite."""
    if isinstance(value, uuid.UUID):
        return value.hex
    if isinstance(value, datetime):
        return sqlite_timestamp(value)
    if isinstance(value, date):
        return value.isoformat()  # how SQLAlchemy's Date stores it on SQLite
    return value


def bulk_insert(
    session: Session, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Insert ``rows`` (tuples in ``columns`` order) in the caller's transaction."""
    if not rows:
        return
    connection = session.connection()
    dbapi: Any = connection.connection.dbapi_connection
    column_list = ", ".join(columns)
    if connection.dialect.name == "postgresql":
        types = [_pg_type(table.c[name].type) for name in columns]
        with (
            dbapi.cursor() as cursor,
            cursor.copy(f"COPY {table.name} ({column_list}) FROM STDIN (FORMAT BINARY)") as copy,
        ):
            copy.set_types(types)
            for row in rows:
                copy.write_row(row)
        return
    placeholders = ", ".join("?" * len(columns))
    cursor = dbapi.cursor()
    try:
        cursor.executemany(
            f"INSERT INTO {table.name} ({column_list}) VALUES ({placeholders})",  # noqa: S608
            ([sqlite_value(v) for v in row] for row in rows),
        )
    finally:
        cursor.close()
