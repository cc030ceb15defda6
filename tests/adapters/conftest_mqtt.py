"""Fixtures for the MQTT adapter tests: a real Mosquitto broker with enterprise ACLs.

Imported by the MQTT test modules (not a conftest.py, so other adapters' tests do not
start a broker). ``scripts/ensure-mosquitto`` installs the broker when it is missing.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters.mqtt import ConnectionOptions, Decision, MqttAdapter
from adapters.mqtt.broker import SERVICE_USER, BrokerUser, MosquittoBroker, TlsFiles
from vpp.domain.commands import Acknowledgement, SetpointCommand, TelemetryPoint
from vpp.ports import Clock, SystemClock

ROOT = Path(__file__).resolve().parents[2]
ENSURE_MOSQUITTO = ROOT / "scripts" / "ensure-mosquitto"
SITE_A, SITE_B = "site-a", "site-b"
WAIT_S = 5.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def mosquitto_binary() -> str:
    """The broker's path, installing it first when missing (as root)."""
    result = subprocess.run(  # noqa: S603
        [str(ENSURE_MOSQUITTO)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        message = f"Mosquitto unavailable: {result.stderr.strip()}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return result.stdout.strip().splitlines()[-1]


@dataclass
class BrokerEnv:
    """A running broker and the logins it knows: the service user, ent-a on site-a,
    ent-b on site-b."""

    broker: MosquittoBroker
    users: dict[str, BrokerUser]

    def options(self, user: str, client_id: str | None = None, **extra: Any) -> ConnectionOptions:
        login = self.users[user]
        return ConnectionOptions(
            host=self.broker.host,
            port=self.broker.port,
            client_id=client_id or f"{user}-{uuid.uuid4().hex[:8]}",
            username=login.username,
            password=login.password,
            connect_timeout_s=2.0,
            **extra,
        )

    def adapter_config(self, **overrides: Any) -> dict[str, Any]:
        login = self.users["service"]
        config: dict[str, Any] = {
            "host": self.broker.host,
            "port": self.broker.port,
            "username": login.username,
            "password": login.password,
            "client_id": f"vpp-test-{uuid.uuid4().hex[:8]}",
            "connect_timeout_s": 2.0,
            "publish_timeout_s": 2.0,
            "reconnect_initial_s": 0.05,
            "reconnect_max_s": 0.5,
            "telemetry_flush_s": 0.05,
        }
        config.update(overrides)
        return config


@pytest.fixture
def mqtt_broker(mosquitto_binary: str, tmp_path: Path) -> Iterator[BrokerEnv]:
    """A fresh broker per test (some tests kill it), stopped at the end."""
    users = {
        "service": BrokerUser(SERVICE_USER, secrets.token_urlsafe(12), service=True),
        "ent-a": BrokerUser("ent-a", secrets.token_urlsafe(12), sites=(SITE_A,)),
        "ent-b": BrokerUser("ent-b", secrets.token_urlsafe(12), sites=(SITE_B,)),
    }
    broker = MosquittoBroker(tmp_path / "mosquitto", list(users.values()), binary=mosquitto_binary)
    broker.start()
    try:
        yield BrokerEnv(broker, users)
    finally:
        broker.stop()


CA_SUBJECT = ("-days", "1", "-subj", "/CN=vpp test CA")


def make_certificates(directory: Path) -> TlsFiles:
    """A throwaway CA and a server certificate for 127.0.0.1 (openssl CLI, EC keys)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca = directory / "ca.key", directory / "ca.pem"
    key, csr, cert = directory / "server.key", directory / "server.csr", directory / "server.pem"
    san = directory / "san.ext"
    san.write_text("subjectAltName=IP:127.0.0.1\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    sign = ["-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-days", "1", "-extfile", san]
    commands = [
        ["openssl", "req", "-x509", *ec, "-keyout", ca_key, "-out", ca, *CA_SUBJECT],
        ["openssl", "req", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1"],
        ["openssl", "x509", "-req", "-in", csr, "-out", cert, *sign],
    ]
    for command in commands:
        subprocess.run([str(part) for part in command], check=True, capture_output=True)  # noqa: S603
    return TlsFiles(cafile=ca, certfile=cert, keyfile=key)


@pytest.fixture
def mqtt_tls_broker(mosquitto_binary: str, tmp_path: Path) -> Iterator[BrokerEnv]:
    """A broker whose only listener speaks TLS (certificate for 127.0.0.1)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make test certificates")
    tls = make_certificates(tmp_path / "tls")
    users = {"service": BrokerUser(SERVICE_USER, secrets.token_urlsafe(12), service=True)}
    users["ent-a"] = BrokerUser("ent-a", secrets.token_urlsafe(12), sites=(SITE_A,))
    broker = MosquittoBroker(
        tmp_path / "mosquitto", list(users.values()), binary=mosquitto_binary, tls=tls
    )
    broker.start()
    try:
        yield BrokerEnv(broker, users)
    finally:
        broker.stop()


class Changes:
    """Something that changes on the loop and can be waited on (no sleeping and hoping)."""

    def __init__(self) -> None:
        self._changed = asyncio.Event()

    def notify(self) -> None:
        self._changed.set()

    async def wait_for(self, predicate: Callable[[], bool], timeout_s: float = WAIT_S) -> None:
        async with asyncio.timeout(timeout_s):
            while not predicate():
                self._changed.clear()
                await self._changed.wait()


class RecordingSink(Changes):
    """An AdapterSink that keeps what it gets."""

    def __init__(self) -> None:
        super().__init__()
        self.readings: list[TelemetryPoint] = []
        self.acks: list[Acknowledgement] = []
        self.telemetry_calls = 0

    async def telemetry(self, readings: Sequence[TelemetryPoint]) -> None:
        self.telemetry_calls += 1
        self.readings.extend(readings)
        self.notify()

    async def acknowledged(self, acks: Sequence[Acknowledgement]) -> None:
        self.acks.extend(acks)
        self.notify()

    def acked(self, command_id: uuid.UUID) -> list[Acknowledgement]:
        return [a for a in self.acks if a.command_id == command_id]


@dataclass
class RecordingHandler(Changes):
    """A device's setpoint handler that records what it applies."""

    decide: Callable[[str, SetpointCommand], Decision] = field(
        default=lambda device, command: Decision(accepted=True)
    )
    applied: list[tuple[str, SetpointCommand]] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__()

    async def __call__(self, device: str, command: SetpointCommand) -> Decision:
        self.applied.append((device, command))
        self.notify()
        return self.decide(device, command)

    def times_applied(self, command_id: uuid.UUID) -> int:
        return sum(1 for _, c in self.applied if c.id == command_id)


async def wait_until(predicate: Callable[[], bool], timeout_s: float = WAIT_S) -> None:
    """Poll a condition that has no event of its own (connection state) until true."""
    async with asyncio.timeout(timeout_s):
        while not predicate():
            await asyncio.sleep(0.01)


def make_command(
    asset_id: uuid.UUID,
    settings: dict[str, Any],
    *,
    clock: Clock | None = None,
    power_kw: float = -250.0,
    expires_in_s: float = 60.0,
    attempt: int = 1,
) -> SetpointCommand:
    now = (clock or SystemClock()).now()
    start = now.replace(second=0, microsecond=0)
    return SetpointCommand(
        id=uuid.uuid4(),
        asset_id=asset_id,
        interval_start=start,
        power_kw=power_kw,
        expires_at=now + timedelta(seconds=expires_in_s),
        attempt=attempt,
        settings=settings,
    )


def new_adapter(env: BrokerEnv, clock: Clock | None = None, **config: Any) -> MqttAdapter:
    return MqttAdapter(clock or SystemClock(), env.adapter_config(**config))
