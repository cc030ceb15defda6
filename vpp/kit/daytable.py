"""Tables of one row per asset and interval of a market day, read as (assets, 96) arrays.

A day of 10,000 assets is 960,000 rows (plans, firm schedules): too many for per-row
objects. PostgreSQL packs each asset's rows into byte strings (``float8send`` and
``int4send``: big-endian binary) and returns one row per asset, which numpy reads
without a Python object per value; SQLite returns plain rows through the driver.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Table
from sqlalchemy.orm import Session

from vpp.domain.time import INTERVALS_PER_DAY
from vpp.domain.units import FloatArray
from vpp.kit import pgcopy
from vpp.kit.bulk import bulk_insert, sqlite_value


def driver_rows(session: Session, sql: str, params: Sequence[Any]) -> list[Any]:
    """Rows of a read through the driver's own cursor, in the session's transaction:
    for reads of one value per asset and interval or per asset, where building
    SQLAlchemy rows costs more than the query. ``sql`` takes ``%s`` placeholders (``?``
    on SQLite); SQLite gets the parameters and returns the values as stored (uuids as 32
    hex digits, timestamps as text, `vpp.kit.bulk.sqlite_value`)."""
    dbapi: Any = session.connection().connection.dbapi_connection
    if session.get_bind().dialect.name != "postgresql":
        sql, params = sql.replace("%s", "?"), [sqlite_value(v) for v in params]
    cursor = dbapi.cursor()
    try:
        cursor.execute(sql, params)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def binary_rows(session: Session, sql: str, params: Sequence[Any]) -> list[Any]:
    """Rows of a PostgreSQL statement through the driver's binary cursor, in the
    session's transaction (``%s`` placeholders; values as psycopg loads them)."""
    dbapi: Any = session.connection().connection.dbapi_connection
    with dbapi.cursor(binary=True) as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def _ids_of(keys: Sequence[str]) -> tuple[list[uuid.UUID], np.ndarray]:
    """The distinct ids among ``keys`` (uuid text as SQLite stores it: 32 hex digits),
    sorted, and each key's position among them. Only the distinct ids become `uuid.UUID`
    objects."""
    distinct = sorted(set(keys))  # lexicographic order of the hex digits = uuid order
    position = {key: i for i, key in enumerate(distinct)}
    index = np.fromiter(map(position.__getitem__, keys), dtype=np.intp, count=len(keys))
    return [uuid.UUID(key) for key in distinct], index


def day_matrix(
    session: Session,
    table: str,
    columns: Sequence[str],
    day: date,
    first: int = 0,
    last: int = INTERVALS_PER_DAY - 1,
) -> tuple[list[uuid.UUID], list[FloatArray]]:
    """The assets (sorted by id) with rows in ``table`` for ``day`` and, per float column,
    an (assets, last - first + 1) array over intervals ``first..last`` (0 where a row is
    missing). ``table`` and ``columns`` are trusted identifiers, never user input."""
    return asset_matrix(
        session,
        table,
        columns,
        "day = %s AND interval BETWEEN %s AND %s",
        [day, first, last],
        first,
        last - first + 1,
    )


def asset_matrix(
    session: Session,
    table: str,
    columns: Sequence[str],
    where: str,
    params: Sequence[Any],
    first: int = 0,
    width: int = INTERVALS_PER_DAY,
) -> tuple[list[uuid.UUID], list[FloatArray]]:
    """`day_matrix` over the rows of ``table`` that ``where`` (``%s`` placeholders for
    ``params``; trusted SQL, never user input) selects, e.g. one bid's allocations:
    the assets (sorted by id) and per float column an (assets, width) array of the
    intervals ``first..first + width - 1``."""
    window = f"FROM {table} WHERE {where}"
    if session.get_bind().dialect.name == "postgresql":
        packed_columns = ", ".join(f"string_agg(float8send({c}), ''::bytea)" for c in columns)
        packed = binary_rows(
            session,
            f"SELECT asset_id, string_agg(int4send(interval), ''::bytea), {packed_columns} "
            f"{window} GROUP BY asset_id ORDER BY asset_id",
            params,
        )
        ids = [row[0] for row in packed]
        t = np.frombuffer(b"".join(row[1] for row in packed), dtype=">i4").astype(np.intp)
        index = np.repeat(np.arange(len(ids)), [len(row[1]) // 4 for row in packed])
        values = [
            np.frombuffer(b"".join(row[2 + k] for row in packed), dtype=">f8")
            for k in range(len(columns))
        ]
    else:
        rows = driver_rows(
            session, f"SELECT asset_id, interval, {', '.join(columns)} {window}", params
        )
        if not rows:
            return [], [np.zeros((0, width)) for _ in columns]
        keys, intervals, *value_columns = zip(*rows, strict=True)
        ids, index = _ids_of(keys)
        t = np.fromiter(intervals, dtype=np.intp, count=len(rows))
        values = [np.fromiter(v, dtype=float, count=len(rows)) for v in value_columns]
    out = []
    for column in values:
        matrix = np.zeros((len(ids), width))
        matrix[index, t - first] = column
        out.append(matrix)
    return ids, out


def write_matrix(
    session: Session,
    table: Table,
    shared: Mapping[str, date | uuid.UUID],
    asset_ids: Sequence[uuid.UUID],
    account_ids: Sequence[uuid.UUID],
    values: Mapping[str, FloatArray],
    where: npt.NDArray[np.bool_] | None = None,
) -> int:
    """Append a row per asset and interval (those ``where`` is true, default all) to
    ``table``: the ``shared`` columns (a day, a bid id) on every row, ``asset_id``,
    ``interval``, ``account_id`` and one float column per (assets, T) array of
    ``values``; returns the rows written. The inverse of `day_matrix` and `asset_matrix`.

    PostgreSQL: one binary COPY built with numpy (`vpp.kit.pgcopy`), no Python object
    per row (a day plan of 100,000 assets is 9.6 million rows); SQLite: rows."""
    first = next(iter(values.values()))
    n, width = first.shape
    mask = np.ones((n, width), np.bool_) if where is None else where
    asset, interval = np.nonzero(mask)
    if asset.size == 0:
        return 0
    if session.get_bind().dialect.name == "postgresql":
        columns: dict[str, tuple[str, np.ndarray]] = {
            name: _shared_column(value, asset.size) for name, value in shared.items()
        }
        columns["asset_id"] = ("uuid", pgcopy.uuid_array(asset_ids)[asset])
        columns["interval"] = ("int4", interval.astype(np.int32))
        columns["account_id"] = ("uuid", pgcopy.uuid_array(account_ids)[asset])
        for name, matrix in values.items():
            columns[name] = ("float8", np.ascontiguousarray(matrix[asset, interval], np.float64))
        pgcopy.copy_into(session, table.name, columns)
        return int(asset.size)
    names = [*shared, "asset_id", "interval", "account_id", *values]
    constant = list(shared.values())
    floats = [matrix[asset, interval].tolist() for matrix in values.values()]
    bulk_insert(
        session,
        table,
        names,
        [
            (*constant, asset_ids[i], t, account_ids[i], *(column[j] for column in floats))
            for j, (i, t) in enumerate(zip(asset.tolist(), interval.tolist(), strict=True))
        ],
    )
    return int(asset.size)


def _shared_column(value: date | uuid.UUID, count: int) -> tuple[str, np.ndarray]:
    if isinstance(value, uuid.UUID):
        return "uuid", np.full(count, np.frombuffer(value.bytes, dtype="V16")[0])
    return "date", np.full(count, pgcopy.date_days(value), dtype=np.int32)
