"""A live API for end-to-end tests: a fresh migrated database of either backend and the
app served by uvicorn on a free loopback port, in a thread of the test process."""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI

import vpp.app
from tests.conftest import migrated_pg_database
from vpp.accounts import service as accounts
from vpp.kit import migrate
from vpp.kit.db import create_db_engine, make_sessionmaker

START_TIMEOUT_S = 30.0


@contextmanager
def fresh_database(backend: str, tmp_path: Path, prefix: str) -> Iterator[str]:
    """The URL of a new, migrated database (SQLite file or PostgreSQL), dropped after."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / f'{prefix}.db'}"
        migrate.upgrade(url)
        yield url
        return
    with migrated_pg_database(prefix) as url:
        yield url


@dataclass(frozen=True)
class Account:
    """An account of the live database and its bearer token."""

    account_id: uuid.UUID
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def create_accounts(url: str, *kinds: str) -> list[Account]:
    """One committed account with one key per kind (enterprise, operator, grid, admin)."""
    engine = create_db_engine(url, pool_size=1, max_overflow=0)
    try:
        with make_sessionmaker(engine)() as session:
            made = []
            for kind in kinds:
                account = accounts.create_account(
                    session, f"{kind}-{uuid.uuid4().hex[:8]}", kind, actor=None
                )
                _key, token = accounts.issue_key(session, account.id, "live", None, actor=None)
                made.append(Account(account.id, token))
            session.commit()
            return made
    finally:
        engine.dispose()


class _Server(uvicorn.Server):
    """uvicorn that tells the starting thread once it accepts connections."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self.ready.set()


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` (its own lifespan: engine, pools) on a free loopback port; yield the
    base URL. The socket is bound before uvicorn starts, so no other process can take the
    port in between."""
    # The lifespan tunes the garbage collector of a server process (gc.freeze); this one
    # shares the test process, so it keeps the defaults.
    patch = pytest.MonkeyPatch()
    patch.setattr(vpp.app, "tune_garbage_collector", lambda: None)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", ws="none")
    server = _Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        assert server.ready.wait(START_TIMEOUT_S) and server.started, "the server did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(START_TIMEOUT_S)
        patch.undo()
        sock.close()
