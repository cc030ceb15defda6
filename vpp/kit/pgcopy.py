"""PostgreSQL's binary COPY of fixed-width columns, built with numpy, into staging tables.

A re-plan of 10,000 assets writes tens of thousands of changed rows. Through the
driver's per-row conversion that is seconds of Python; in COPY's binary format every
tuple of fixed-width, non-null columns has the same layout, so numpy writes all of them
as one structured array (PostgreSQL docs, "COPY — Binary Format": a 19-byte header,
per tuple an int16 field count and per field an int32 length and the value in network
byte order, an int16 -1 trailer).

Types: ``uuid`` (16 bytes, as `uuid.UUID.bytes`), ``int4``, ``int8``, ``float8``,
``timestamptz`` (microseconds since 2000-01-01 UTC) and ``date`` (days since
2000-01-01, `date_days`); no NULLs. Text columns of a few distinct values (an adapter's
name, a constant state) are given as `Categories`: the rows of each combination of
them share a layout, so each such group is written as one array, the groups one after
the other (the rows then reach the table grouped, each group in the given order).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Categories:
    """A text column as positions into a few distinct values: row i is ``names[codes[i]]``."""

    codes: np.ndarray
    names: Sequence[str]

    @classmethod
    def constant(cls, value: str, count: int) -> Categories:
        """``value`` on every one of ``count`` rows."""
        return cls(np.zeros(count, np.intp), [value])

    def __len__(self) -> int:
        return len(self.codes)


Column = tuple[str, "np.ndarray | Categories"]
"""(PostgreSQL type, values): an array, or `Categories` for ``text``."""


def _tuple_dtype(types: Sequence[str], text: Mapping[int, bytes]) -> np.dtype[Any]:
    """The layout of one tuple; column k of type ``text`` holds ``text[k]``."""
    fields: list[tuple[str, str]] = [("count", ">i2")]
    for k, pg_type in enumerate(types):
        if pg_type == "text":
            fields.append((f"len{k}", ">i4"))
            if text[k]:  # an empty string is its length alone
                fields.append((f"v{k}", f"V{len(text[k])}"))
            continue
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


def encode(columns: Sequence[Column]) -> bytes:
    """A binary COPY stream of the (type, values) columns, all of one length."""
    return HEADER + b"".join(_chunks(columns)) + TRAILER


def _chunks(columns: Sequence[Column]) -> Iterator[bytes]:
    """The stream's tuples, `CHUNK_ROWS` at a time (a group of rows per combination of
    the text columns' values)."""
    n = len(columns[0][1]) if columns else 0
    if any(len(values) != n for _, values in columns):
        raise ValueError("columns of different lengths")
    text = [k for k, (pg_type, _) in enumerate(columns) if pg_type == "text"]
    categories = [columns[k][1] for k in text]
    if not all(isinstance(c, Categories) for c in categories):
        raise TypeError("text columns are given as Categories")
    if not text:
        yield from _group(columns, np.arange(n), {})
        return
    codes = np.stack([np.asarray(c.codes) for c in categories], axis=1)  # type: ignore[union-attr]
    keys, inverse = np.unique(codes, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    for g, key in enumerate(keys.tolist()):
        values = {
            k: c.names[code].encode()  # type: ignore[union-attr]
            for k, c, code in zip(text, categories, key, strict=True)
        }
        yield from _group(columns, np.flatnonzero(inverse == g), values)


def _group(
    columns: Sequence[Column], rows: np.ndarray, text: Mapping[int, bytes]
) -> Iterator[bytes]:
    """The tuples of ``rows``, whose text columns hold ``text``."""
    dtype = _tuple_dtype([t for t, _ in columns], text)
    whole = rows.size == len(columns[0][1]) if columns else True  # no gather needed
    for start in range(0, rows.size, CHUNK_ROWS):
        stop = min(start + CHUNK_ROWS, rows.size)
        chunk = slice(start, stop) if whole else rows[start:stop]
        out = np.empty(stop - start, dtype=dtype)
        out["count"] = len(columns)
        for k, (pg_type, values) in enumerate(columns):
            if pg_type == "text":
                out[f"len{k}"] = len(text[k])
                if text[k]:
                    out[f"v{k}"] = np.frombuffer(text[k], dtype=f"V{len(text[k])}")[0]
                continue
            out[f"len{k}"] = _WIDTH[pg_type]
            out[f"v{k}"] = values[chunk]  # type: ignore[index]
        yield out.tobytes()


def copy_into(session: Session, table: str, columns: Mapping[str, Column]) -> None:
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


def stage(session: Session, table: str, columns: Mapping[str, Column]) -> None:
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
