"""GET /v1/assets/{id} answered in one driver statement, beside FastAPI.

The asset read is the API's hottest route (adapters and dashboards poll it). Through
FastAPI it costs about 2.8 ms of CPU: routing, dependency solving, three thread-pool
hops, an ORM session with its BEGIN and ROLLBACK. This ASGI middleware answers the
ordinary case itself: a key the key cache already verified, a role that may read
assets, an asset the caller may see. It reads the row through the driver on a
connection of its own, one statement for all the requests of a turn of the event loop,
and serialises it with the route's own model (`service.asset_out`), keeping the
document of the last row it saw per asset, so an unchanged asset costs a tuple
comparison instead of a serialisation. Every answer is read from the database, so a
change made by another replica shows at once.

Everything else (no key, an unknown, expired or rate-limited key, another tenant's or
an unknown asset, a malformed id, a database error) goes on to the FastAPI route,
which gives the documented answer; so the route stays the single source of every error.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
from sqlalchemy import Connection, Engine, select
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import SingletonThreadPool, StaticPool
from starlette.datastructures import State
from starlette.types import ASGIApp, Receive, Scope, Send

from vpp.assets.service import asset_out
from vpp.kit.auth import Principal, cached_principal, hash_token
from vpp.models import Asset
from vpp.models.base import utcnow

log = logging.getLogger(__name__)

PREFIX = "/v1/assets/"
TEMPLATE = "/v1/assets/{asset_id}"
READER_ROLES = frozenset({"enterprise", "operator"})  # the route's `reader` dependency
CACHED_DOCUMENTS = 20_000  # about 1 kB each
STATEMENT_TIMEOUT_MS = 500  # SQLite's statement blocks the loop: never long
ASYNC_READ_TIMEOUT_S = 2.0  # connecting and reading on PostgreSQL; then the route answers
BATCH = 500  # ids per statement (SQLite allows 32,766 parameters)

_HEADERS = [(b"content-type", b"application/json")]


_Found = tuple[uuid.UUID, bytes] | None  # an asset's owner and document


class AssetReader:
    """One asset row by id through the DB-API, decoded like the ORM decodes it.

    Bound to an engine it keeps a connection of its own in autocommit, so each read
    sees the latest committed row (on PostgreSQL an asynchronous one: the loop serves
    other requests while a statement runs); bound to a test's connection it reads
    inside that connection's transaction. Pools that hand every caller the same connection
    (in-memory SQLite) would mix its reads into other requests' transactions: there
    the reader stays off.
    """

    def __init__(self) -> None:
        self.served = 0
        self.passed_on = 0
        self.statements = 0
        self._factory: sessionmaker[Session] | None = None
        self._connection: Any = None  # a DB-API connection (sync) ...
        self._owned = False
        self._conninfo = ""  # ... or, for PostgreSQL engines, an async psycopg one
        self._async: psycopg.AsyncConnection[Any] | None = None
        self._select = ""
        self._dialect: Any = None
        self._bind_id: Callable[[Any], Any] | None = None
        self._decoders: list[Callable[[Any], Any] | None] = []
        self._names: list[str] = []
        # per asset: the raw row last seen, its owner and its document
        self._documents: dict[uuid.UUID, tuple[tuple[Any, ...], uuid.UUID, bytes]] = {}
        self._waiting: dict[uuid.UUID, list[asyncio.Future[_Found]]] = {}
        self._reading: asyncio.Task[None] | None = None

    async def aclose(self) -> None:
        """Close the connections this reader opened (not a test's)."""
        self._close_sync()
        if self._async is not None:
            connection, self._async = self._async, None
            try:
                await connection.close()
            except Exception:
                log.debug("closing the asset reader's connection failed", exc_info=True)

    def _close_sync(self) -> None:
        if self._owned and self._connection is not None:
            try:
                self._connection.close()
            except Exception:
                log.debug("closing the asset reader's connection failed", exc_info=True)
        self._connection = None
        self._owned = False

    async def load(self, factory: sessionmaker[Session], asset_id: uuid.UUID) -> _Found:
        """The asset's owner and its document, or None when the row is missing or the
        reader cannot read (then the route answers).

        Requests share statements (``WHERE id IN (...)``): those of one turn of the
        event loop, and on PostgreSQL all that arrive while a statement is under way,
        which the loop serves meanwhile. Under load a statement serves dozens.
        """
        future: asyncio.Future[_Found] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(asset_id, []).append(future)
        if self._reading is None:
            self._reading = asyncio.create_task(self._read_waiting(factory))
        return await future

    async def _read_waiting(self, factory: sessionmaker[Session]) -> None:
        try:
            while self._waiting:
                waiting, self._waiting = self._waiting, {}
                found = await self._read(factory, list(waiting))
                for asset_id, futures in waiting.items():
                    answer = found.get(asset_id)
                    for future in futures:
                        if not future.done():
                            future.set_result(answer)
        finally:
            self._reading = None

    async def _read(
        self, factory: sessionmaker[Session], asset_ids: list[uuid.UUID]
    ) -> dict[uuid.UUID, tuple[uuid.UUID, bytes]]:
        rows: list[tuple[Any, ...]] = []
        try:
            if factory is not self._factory:
                await self.aclose()
                self._open(factory)
            if self._dialect is None:
                return {}
            for start in range(0, len(asset_ids), BATCH):
                rows.extend(await self._select_rows(asset_ids[start : start + BATCH]))
            # Inside the guard: an error must leave every waiting request to the route,
            # never waiting for an answer that does not come.
            return dict(self._document(row) for row in rows)
        except Exception:
            log.warning("direct asset read failed; the route answers", exc_info=True)
            await self.aclose()
            self._factory = None
            return {}

    async def _select_rows(self, asset_ids: list[uuid.UUID]) -> list[tuple[Any, ...]]:
        keys = [self._bind_id(i) for i in asset_ids] if self._bind_id is not None else asset_ids
        if self._dialect.name == "sqlite":
            sql = f"{self._select} WHERE assets.id IN ({', '.join('?' * len(keys))})"
            parameters: Any = keys
        else:
            sql, parameters = f"{self._select} WHERE assets.id = ANY(%s)", (keys,)
        if self._conninfo:
            # Requests wait on this statement: a server that does not answer (a
            # partition, not a refusal) must not hold them beyond the route's own limits.
            async with asyncio.timeout(ASYNC_READ_TIMEOUT_S):
                if self._async is None:
                    self._async = await psycopg.AsyncConnection.connect(
                        self._conninfo, autocommit=True
                    )
                    await self._async.execute(f"SET statement_timeout = {STATEMENT_TIMEOUT_MS}")
                async with self._async.cursor() as cursor:
                    await cursor.execute(sql, parameters)
                    rows = [tuple(row) for row in await cursor.fetchall()]
                    description = cursor.description
        else:
            cursor = self._connection.cursor()
            try:
                cursor.execute(sql, parameters)
                rows = [tuple(row) for row in cursor.fetchall()]
                description = cursor.description
            finally:
                cursor.close()
        if not self._decoders:
            self._decoders = self._decoders_for(description)
        self.statements += 1
        return rows

    def _document(self, raw: tuple[Any, ...]) -> tuple[uuid.UUID, tuple[uuid.UUID, bytes]]:
        """(id, (owner, document)) of a raw row, the document serialised only when the
        row differs from the one last seen for the asset."""
        decode_id = self._decoders[0]  # the table's first column is the id
        asset_id: uuid.UUID = decode_id(raw[0]) if decode_id is not None else raw[0]
        cached = self._documents.get(asset_id)
        if cached is None or cached[0] != raw:
            asset = Asset(
                **{
                    name: (decode(value) if decode is not None and value is not None else value)
                    for name, decode, value in zip(self._names, self._decoders, raw, strict=True)
                }
            )
            cached = (raw, asset.account_id, asset_out(asset).model_dump_json().encode())
            if len(self._documents) >= CACHED_DOCUMENTS:
                self._documents.pop(next(iter(self._documents)))
            self._documents[asset_id] = cached
        return asset_id, (cached[1], cached[2])

    def _open(self, factory: sessionmaker[Session]) -> None:
        """Bind to the factory's connection or engine; leaves ``_dialect`` None when
        the reader cannot serve (see the class)."""
        self._factory = factory
        self._documents.clear()
        self._dialect = None
        bind = factory.kw.get("bind")
        if isinstance(bind, Connection):
            engine = bind.engine
        elif isinstance(bind, Engine) and not isinstance(
            bind.pool, StaticPool | SingletonThreadPool
        ):
            engine = bind
        else:
            return
        dialect = engine.dialect
        if dialect.name not in ("sqlite", "postgresql"):
            return
        self._conninfo = ""
        if isinstance(bind, Connection):
            self._connection, self._owned = bind.connection.dbapi_connection, False
        elif dialect.name == "sqlite":
            self._connection, self._owned = _own_sqlite_connection(engine), True
        else:
            url = engine.url.set(drivername="postgresql")
            self._conninfo = url.render_as_string(hide_password=False)
        table = Asset.__table__
        self._select = str(select(table).compile(dialect=dialect))
        self._bind_id = table.c.id.type.dialect_impl(dialect).bind_processor(dialect)
        self._names = [column.key for column in table.columns]
        self._decoders = []
        self._dialect = dialect

    def _decoders_for(self, description: Any) -> list[Callable[[Any], Any] | None]:
        """The ORM's result processors, given the driver's column types (psycopg's
        numeric decoder depends on them)."""
        dialect = self._dialect
        return [
            column.type.dialect_impl(dialect).result_processor(dialect, entry[1])
            for column, entry in zip(Asset.__table__.columns, description, strict=True)
        ]


def _own_sqlite_connection(engine: Engine) -> Any:
    """A DB-API connection taken out of the engine's pool for good (in autocommit, as
    the engine makes them), waiting at most a moment for a lock."""
    proxy = engine.raw_connection()
    proxy.detach()
    connection: Any = proxy.dbapi_connection
    cursor = connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {STATEMENT_TIMEOUT_MS}")
    cursor.close()
    return connection


class FastAssetRead:
    """ASGI middleware answering GET /v1/assets/{id} for verified readers (see module).

    It wraps the whole application, FastAPI's own middleware included (`VppApi`), so
    it counts its answers in the request metrics itself, and a failure of its own
    leaves the request to the application untouched.
    """

    def __init__(self, app: ASGIApp, state: State) -> None:
        self.app = app
        self.state = state
        # The request metrics' series of this route's answers, looked up once.
        self._answered = state.metrics.requests.labels("GET", TEMPLATE, "200")
        self._latency = state.metrics.latency.labels("GET", TEMPLATE)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            path: str = scope["path"]
            if path.startswith(PREFIX):
                start = time.perf_counter()
                try:
                    body = await self._answer(scope, path[len(PREFIX) :])
                except Exception:
                    log.exception("fast asset read failed; the route answers")
                    body = None
                if body is not None:
                    await send(
                        {
                            "type": "http.response.start",
                            "status": 200,
                            "headers": [*_HEADERS, (b"content-length", b"%d" % len(body))],
                        }
                    )
                    await send({"type": "http.response.body", "body": body})
                    self._answered.inc()
                    self._latency.observe(time.perf_counter() - start)
                    return
                self.state.asset_reader.passed_on += 1
        await self.app(scope, receive, send)

    async def _answer(self, scope: Scope, tail: str) -> bytes | None:
        """The document to answer with, or None to let the route answer."""
        if "/" in tail:
            return None
        try:
            asset_id = uuid.UUID(tail)
        except ValueError:
            return None
        principal = await self._principal(scope)
        if principal is None:
            return None
        reader: AssetReader = self.state.asset_reader
        found = await reader.load(self.state.sessionmaker, asset_id)
        if found is None:
            return None
        owner, document = found
        if principal.role != "operator" and owner != principal.account_id:
            return None
        reader.served += 1
        return document

    async def _principal(self, scope: Scope) -> Principal | None:
        """The caller, when the key cache vouches for it and the rate limit admits it
        (`vpp.kit.auth.authenticated` does the same checks and answers the failures)."""
        header = next((v for k, v in scope["headers"] if k == b"authorization"), None)
        if header is None:
            return None
        scheme, _, token = header.decode("latin-1").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None
        principal = await cached_principal(self.state, hash_token(token))
        if principal is None or principal.role not in READER_ROLES:
            return None
        if principal.expires_at is not None and principal.expires_at <= utcnow():
            return None
        if self.state.rate_limiter.acquire(principal.key_id) > 0:
            return None
        return principal
