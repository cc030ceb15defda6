"""What the fault tests share: a receiving device, sender processes, a database of their own.

The device is a real HTTP endpoint on loopback (uvicorn in a thread of the test
process, so it outlives every sender it serves): the webhook receiver of
``adapters/http`` in front of a device that records each command id it applies (the
receiver dedupes by id, as devices must) and counts every raw delivery.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn
from sqlalchemy import select, text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from adapters.http import ReceivedCommand, WebhookReceiver
from tests.faults.sender import STOP_WRITING
from vpp.accounts import service as accounts
from vpp.assets.service import apply_params
from vpp.domain.assets import parse_params
from vpp.kit.db import create_db_engine, make_sessionmaker
from vpp.models import Asset, SetpointCommandRow, Site

ROOT = Path(__file__).resolve().parents[2]
PYTHON = ROOT / ".venv" / "bin" / "python"
SECRET_ID = "device-1"
SECRET = "the-device-webhook-secret-of-32-bytes+!"
HTTP_CONFIG: dict[str, object] = {
    "require_https": False,
    "allow_hosts": ["127.0.0.0/8"],
    "secrets": {SECRET_ID: SECRET},
}
"""The http adapter's configuration for a loopback device (tests only)."""
BATTERY = {
    "capacity_kwh": 1000.0,
    "charge_power_kw": 100.0,
    "discharge_power_kw": 100.0,
    "soc_initial": 0.5,
}
TERMINAL = ("acked", "rejected", "failed", "expired", "superseded")


def wait_until(condition: Callable[[], bool], timeout_s: float, every_s: float = 0.1) -> bool:
    """Poll ``condition`` until it holds or ``timeout_s`` passes; its last answer."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every_s)
    return condition()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --- the device --------------------------------------------------------------------------


@dataclass
class Device:
    """A device behind the webhook receiver: what it applied and what reached it.

    ``applied``: command ids in the order the device applied them (the receiver calls
    ``apply`` once per id). ``deliveries``: how often each id arrived, redeliveries
    included. ``answer_delay_s``: the device answers that long after applying, so a
    sender killed in between has delivered a command it never recorded.
    """

    answer_delay_s: tuple[float, float] = (0.0, 0.03)
    applied: list[uuid.UUID] = field(default_factory=list)
    deliveries: Counter[uuid.UUID] = field(default_factory=Counter)
    url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def apply(self, command: ReceivedCommand) -> None:
        self.applied.append(command.command_id)

    def app(self) -> Starlette:
        receiver = WebhookReceiver({SECRET_ID: SECRET}, self.apply)
        rng = random.Random(7)

        async def endpoint(request: Request) -> Response:
            body = await request.body()
            with self._lock:
                try:
                    for item in json.loads(body)["commands"]:
                        self.deliveries[uuid.UUID(item["command_id"])] += 1
                except (ValueError, KeyError, TypeError):
                    pass  # the receiver answers malformed bodies itself
                answer = receiver.handle(request.headers, body)
            await asyncio.sleep(rng.uniform(*self.answer_delay_s))
            return Response(answer.content(), answer.status_code, media_type="application/json")

        return Starlette(routes=[Route("/setpoints", endpoint, methods=["POST"])])


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self.ready.set()


@contextmanager
def serve_device(device: Device) -> Iterator[Device]:
    """Serve ``device`` on a free loopback port for the block's duration."""
    port = free_port()
    config = uvicorn.Config(
        device.app(), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
    )
    server = _Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    assert server.ready.wait(10), "device endpoint did not start"
    device.url = f"http://127.0.0.1:{port}/setpoints"
    try:
        yield device
    finally:
        server.should_exit = True
        thread.join(10)


# --- the database ------------------------------------------------------------------------


def seed_http_assets(database_url: str, device_url: str, count: int) -> list[uuid.UUID]:
    """One enterprise with ``count`` batteries bound to the device through ``http``."""
    engine = create_db_engine(database_url, pool_size=1, max_overflow=0)
    try:
        with make_sessionmaker(engine)() as session:
            account = accounts.create_account(session, "Device owner", "enterprise", actor=None)
            session.flush()
            site = Site(
                account_id=account.id, name="Plant", connection_point="GS-1", voltage_kv=10.0
            )
            session.add(site)
            session.flush()
            ids = []
            for index in range(count):
                asset = Asset(
                    account_id=account.id,
                    site_id=site.id,
                    name=f"battery {index}",
                    kind="battery",
                    adapter="http",
                    adapter_settings={"url": device_url, "secret_id": SECRET_ID},
                )
                apply_params(asset, parse_params("battery", dict(BATTERY)))
                session.add(asset)
                session.flush()
                ids.append(asset.id)
            session.commit()
            return ids
    finally:
        engine.dispose()


@dataclass(frozen=True)
class Commands:
    """The outbox as the database shows it."""

    state: dict[uuid.UUID, str]
    source: dict[uuid.UUID, str]

    def with_state(self, *states: str) -> set[uuid.UUID]:
        return {command_id for command_id, s in self.state.items() if s in states}

    @property
    def open(self) -> set[uuid.UUID]:
        return {command_id for command_id, s in self.state.items() if s not in TERMINAL}


def read_commands(database_url: str) -> Commands:
    engine = create_db_engine(database_url, pool_size=1, max_overflow=0)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(SetpointCommandRow.id, SetpointCommandRow.state, SetpointCommandRow.source)
            ).all()
    finally:
        engine.dispose()
    return Commands({r.id: r.state for r in rows}, {r.id: r.source for r in rows})


# --- sender processes --------------------------------------------------------------------


def alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie has exited)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


@dataclass
class Senders:
    """Sender processes (``tests.faults.sender``) writing into one database, forked on
    demand by one fork server that has imported the service already."""

    database_url: str
    work_dir: Path
    pids: list[int] = field(default_factory=list)
    killed: int = 0
    _server: subprocess.Popen[str] | None = None

    def _fork_server(self) -> subprocess.Popen[str]:
        if self._server is None:
            self._server = subprocess.Popen(  # noqa: S603  (our interpreter, fixed arguments)
                [
                    str(PYTHON),
                    "-m",
                    "tests.faults.sender",
                    "--fork-server",
                    "--database-url",
                    self.database_url,
                    "--work-dir",
                    str(self.work_dir),
                    "--adapter-config",
                    json.dumps(HTTP_CONFIG),
                ],
                cwd=ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                env=interpreter_env(),
            )
        return self._server

    def spawn(self) -> int:
        server = self._fork_server()
        assert server.stdin is not None and server.stdout is not None
        server.stdin.write("spawn\n")
        server.stdin.flush()
        pid = int(server.stdout.readline())
        self.pids.append(pid)
        return pid

    def ready(self, pid: int) -> bool:
        return (self.work_dir / f"{pid}.ready").exists()

    def wait_ready(self, pid: int, timeout_s: float = 60.0) -> None:
        assert wait_until(lambda: self.ready(pid) or not alive(pid), timeout_s)
        assert alive(pid), f"sender {pid} exited: {self.log()}"

    def kill(self, pid: int) -> None:
        """SIGKILL: no handler, no cleanup, connections dropped mid-whatever."""
        os.kill(pid, signal.SIGKILL)
        assert wait_until(lambda: not alive(pid), 10, every_s=0.01)
        self.pids.remove(pid)
        self.killed += 1

    def stop_writing(self) -> None:
        (self.work_dir / STOP_WRITING).touch()

    def stop_all(self) -> None:
        for pid in self.pids:
            if alive(pid):
                os.kill(pid, signal.SIGTERM)
        for pid in self.pids:
            if not wait_until(lambda pid=pid: not alive(pid), 15):  # type: ignore[misc]
                os.kill(pid, signal.SIGKILL)
        self.pids.clear()
        if self._server is not None:
            assert self._server.stdin is not None and self._server.stdout is not None
            self._server.stdin.close()
            self._server.wait(15)
            self._server.stdout.close()
            self._server = None

    def log(self) -> str:
        path = self.work_dir / "senders.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""


# --- a PostgreSQL cluster the test owns --------------------------------------------------

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _as_postgres(command: list[str]) -> list[str]:
    """The server refuses to run as root: run its tools as the ``postgres`` user then."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@dataclass
class OwnedPostgres:
    """A throwaway PostgreSQL 15 cluster in a temporary directory, started and stopped
    (and restarted) by the test itself, with trust authentication on loopback."""

    base: Path
    port: int

    @property
    def data(self) -> Path:
        return self.base / "data"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://vpp@127.0.0.1:{self.port}/vpp"

    def pg_ctl(self, *args: str) -> None:
        subprocess.run(  # noqa: S603  (the server's own tool, fixed arguments)
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), *args]),
            check=True,
            capture_output=True,
            timeout=120,
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 "
            f"-c unix_socket_directories={self.base} -c max_connections=100"
        )
        self.pg_ctl("start", "-w", "-t", "60", "-l", str(self.base / "log"), "-o", options)

    def stop(self) -> None:
        self.pg_ctl("stop", "-w", "-t", "60", "-m", "fast")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()


def postgres_available() -> bool:
    return (PG_BIN / "initdb").exists() and (
        os.geteuid() != 0 or shutil.which("runuser") is not None
    )


@contextmanager
def owned_postgres() -> Iterator[OwnedPostgres]:
    """initdb, start, create the ``vpp`` database; stop and remove everything after."""
    base = Path(tempfile.mkdtemp(prefix="vpp-faults-pg-"))
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    cluster = OwnedPostgres(base, free_port())
    try:
        subprocess.run(  # noqa: S603
            _as_postgres(
                [
                    str(PG_BIN / "initdb"),
                    "-D",
                    str(cluster.data),
                    "-U",
                    "vpp",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--no-sync",
                ]
            ),
            check=True,
            capture_output=True,
            timeout=120,
        )
        cluster.start()
        admin = create_db_engine(
            f"postgresql+psycopg://vpp@127.0.0.1:{cluster.port}/postgres",
            isolation_level="AUTOCOMMIT",
        )
        with admin.connect() as connection:
            connection.execute(text("CREATE DATABASE vpp"))
        admin.dispose()
        yield cluster
    finally:
        if cluster.running():
            subprocess.run(  # noqa: S603
                _as_postgres(
                    [str(PG_BIN / "pg_ctl"), "-D", str(cluster.data), "stop", "-m", "immediate"]
                ),
                check=False,
                capture_output=True,
                timeout=60,
            )
        shutil.rmtree(base, ignore_errors=True)


def interpreter_env() -> dict[str, str]:
    """The environment for child processes: ours, minus the service's settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith("VPP_")} | {
        "PYTHONPATH": str(ROOT)
    }
