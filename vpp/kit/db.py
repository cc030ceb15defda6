"""Database engines and sessions for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker


def normalise_url(url: str) -> URL:
    """Pick the drivers we ship: psycopg 3 for PostgreSQL, the stdlib for SQLite."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def create_db_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets foreign keys, WAL and real transactions.

    pysqlite's own transaction handling defers BEGIN and breaks SAVEPOINT, so we
    switch it off and emit BEGIN ourselves (the SQLAlchemy documented recipe).
    """
    parsed = normalise_url(url)
    # As many kept connections as the API has worker threads (40), plus room for the
    # delivery engine: a thread never waits for a connection another holds, and none
    # is opened and closed per request.
    kwargs.setdefault("pool_size", 40)
    kwargs.setdefault("max_overflow", 10)
    if parsed.get_backend_name() != "sqlite":
        kwargs.setdefault("pool_pre_ping", True)
        return create_engine(parsed, **kwargs)

    database = parsed.database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
    in_memory = not database or database == ":memory:"
    if in_memory:
        for option in ("pool_size", "max_overflow"):
            kwargs.pop(option)
    engine = create_engine(parsed, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        if not in_memory:
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    if not in_memory:
        # WAL is a property of the database file: set once here, not on every new
        # connection (asking takes a lock each time).
        raw = engine.raw_connection()
        try:
            raw.cursor().execute("PRAGMA journal_mode=WAL")
        finally:
            raw.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get(IMMEDIATE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


IMMEDIATE = "vpp_sqlite_immediate"


def for_writing(engine: Engine) -> Engine:
    """The engine whose SQLite transactions begin IMMEDIATE (see ``writing``); sessions
    bound to it take the write lock lazily, in whichever thread runs their first query."""
    return engine.execution_options(vpp_sqlite_immediate=True)


def writing(session: Session) -> Session:
    """Declare that the session's transaction will write.

    On SQLite it then begins IMMEDIATE: it waits (busy timeout) for the write lock up
    front, instead of failing with "database is locked" when it upgrades from reading
    after another writer committed. PostgreSQL ignores the option. Call it before the
    session's first statement.
    """
    session.connection(execution_options={"vpp_sqlite_immediate": True})
    return session


def make_sessionmaker(bind: Any, **kwargs: Any) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit (we return them as JSON)."""
    return sessionmaker(bind=bind, expire_on_commit=False, **kwargs)
