"""GET /v1/assets/{id} answered in one driver statement, beside FastAPI.

The asset read is the API's hottest route (adapters and dashboards poll it). Through
FastAPI it costs about 2.8 ms of CPU: routing, dependency solving, three thread-pool
hops, an ORM session with its BEGIN and ROLLBACK. This ASGI middleware answers the
ordinary case itself: a key the key cache already verified, a role that may read
assets, an asset the caller may see. It looks the asset up with one prepared statement
on a connection of its own and serialises the row with the route's own model
(`service.asset_out`), keeping the document of the last row it saw per asset, so an
unchanged asset costs a tuple comparison instead of a serialisation. Every answer is
read from the database, so a change made by another replica shows at once.

Everything else (no key, an unknown, expired or rate-limited key, another tenant's or
an unknown asset, a malformed id, a database error) goes on to the FastAPI route,
which gives the documented answer; so the route stays the single source of every error.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, select
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
STATEMENT_TIMEOUT_MS = 500  # the loop waits for the statement: never long

_HEADERS = [(b"content-type", b"application/json")]


@dataclass(frozen=True, slots=True)
class _Route:
    """What `MetricsMiddleware` reads to label the request with its route template."""

    path: str


_ROUTE = _Route(TEMPLATE)


class AssetReader:
    """One asset row by id through the DB-API, decoded like the ORM decodes it.

    Bound to an engine it keeps a connection of its own in autocommit, so each read
    sees the latest committed row; bound to a test's connection it reads inside that
    connection's transaction. Pools that hand every caller the same connection
    (in-memory SQLite) would mix its reads into other requests' transactions: there
    the reader stays off.
    """

    def __init__(self) -> None:
        self.served = 0
        self.passed_on = 0
        self._factory: sessionmaker[Session] | None = None
        self._connection: Any = None
        self._owned = False
        self._sql = ""
        self._positional = True
        self._bind_id: Callable[[Any], Any] | None = None
        self._decoders: list[Callable[[Any], Any] | None] = []
        self._names: list[str] = []
        self._dialect: Any = None
        # per asset: the raw row last seen, its owner and its document
        self._documents: dict[uuid.UUID, tuple[tuple[Any, ...], uuid.UUID, bytes]] = {}

    def close(self) -> None:
        """Close the connection this reader opened (not a test's)."""
        if self._owned and self._connection is not None:
            try:
                self._connection.close()
            except Exception:
                log.debug("closing the asset reader's connection failed", exc_info=True)
        self._connection = None
        self._owned = False

    def fetch(
        self, factory: sessionmaker[Session], asset_id: uuid.UUID
    ) -> tuple[uuid.UUID, bytes] | None:
        """The asset's owner and its document, or None when the row is missing or the
        reader cannot read (then the route answers)."""
        try:
            if factory is not self._factory:
                self.close()
                self._open(factory)
            if self._connection is None:
                return None
            cursor = self._connection.cursor()
            try:
                key = self._bind_id(asset_id) if self._bind_id is not None else asset_id
                cursor.execute(self._sql, (key,) if self._positional else {"id": key})
                row = cursor.fetchone()
                if not self._decoders:
                    self._decoders = self._decoders_for(cursor.description)
            finally:
                cursor.close()
        except Exception:
            log.warning("direct asset read failed; the route answers", exc_info=True)
            self.close()
            self._factory = None
            return None
        if row is None:
            return None
        raw = tuple(row)
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
        return cached[1], cached[2]

    def _open(self, factory: sessionmaker[Session]) -> None:
        self._factory = factory
        self._documents.clear()
        bind = factory.kw.get("bind")
        if isinstance(bind, Connection):
            engine, connection, owned = bind.engine, bind.connection.dbapi_connection, False
        elif isinstance(bind, Engine) and not isinstance(
            bind.pool, StaticPool | SingletonThreadPool
        ):
            engine, owned = bind, True
            connection = _own_connection(bind)
        else:
            return
        dialect = engine.dialect
        table = Asset.__table__
        compiled = select(table).where(table.c.id == bindparam("id")).compile(dialect=dialect)
        self._sql = str(compiled)
        self._positional = bool(compiled.positional)
        self._bind_id = table.c.id.type.dialect_impl(dialect).bind_processor(dialect)
        self._names = [column.key for column in table.columns]
        self._decoders = []
        self._dialect = dialect
        self._connection, self._owned = connection, owned

    def _decoders_for(self, description: Any) -> list[Callable[[Any], Any] | None]:
        """The ORM's result processors, given the driver's column types (psycopg's
        numeric decoder depends on them)."""
        dialect = self._dialect
        return [
            column.type.dialect_impl(dialect).result_processor(dialect, entry[1])
            for column, entry in zip(Asset.__table__.columns, description, strict=True)
        ]


def _own_connection(engine: Engine) -> Any:
    """A DB-API connection taken out of the engine's pool for good, in autocommit, with
    a short statement timeout."""
    proxy = engine.raw_connection()
    proxy.detach()
    connection: Any = proxy.dbapi_connection
    if engine.dialect.name == "sqlite":
        cursor = connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {STATEMENT_TIMEOUT_MS}")
        cursor.close()
    else:
        connection.rollback()
        connection.autocommit = True
        cursor = connection.cursor()
        cursor.execute(f"SET statement_timeout = {STATEMENT_TIMEOUT_MS}")
        cursor.close()
    return connection


class FastAssetRead:
    """ASGI middleware answering GET /v1/assets/{id} for verified readers (see module)."""

    def __init__(self, app: ASGIApp, state: State) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            path: str = scope["path"]
            if path.startswith(PREFIX):
                body = await self._answer(scope, path[len(PREFIX) :])
                if body is not None:
                    scope["route"] = _ROUTE
                    await send(
                        {
                            "type": "http.response.start",
                            "status": 200,
                            "headers": [*_HEADERS, (b"content-length", b"%d" % len(body))],
                        }
                    )
                    await send({"type": "http.response.body", "body": body})
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
        found = reader.fetch(self.state.sessionmaker, asset_id)
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
