"""`scripts/prod-local` brings up the production topology as processes and fails over.

Starts PostgreSQL, Mosquitto, the simulated exchange, two API replicas and two
schedulers on free loopback ports, checks the replicas and that exactly one scheduler
leads, kills the leader with SIGKILL, sees the other take over, and stops everything.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from adapters.mqtt.broker import free_port

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "prod-local"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
TAKEOVER_S = 30.0

pytestmark = pytest.mark.slow


def run_script(
    command: str, env: dict[str, str], timeout_s: float = 300
) -> subprocess.CompletedProcess[str]:
    """``scripts/prod-local <command>`` (a fixed path and verb, no shell)."""
    return subprocess.run(  # noqa: S603
        [str(SCRIPT), command],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def wait_until(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


def get(url: str) -> tuple[int, str] | None:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:  # noqa: S310
            return int(response.status), response.read().decode()
    except OSError:
        return None


def leader_gauge(port: int) -> float | None:
    answer = get(f"http://127.0.0.1:{port}/metrics")
    if answer is None:
        return None
    for line in answer[1].splitlines():
        if line.startswith("vpp_scheduler_leader "):
            return float(line.split()[1])
    return None


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


@pytest.fixture
def topology() -> Iterator[tuple[dict[str, str], Path]]:
    installable = os.geteuid() == 0 and shutil.which("apt-get") is not None
    if not installable and (
        not (PG_BIN / "initdb").exists() or shutil.which("mosquitto_passwd") is None
    ):
        message = "PostgreSQL 15 or Mosquitto missing and not root to install them"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    # Under the checkout, not a private temporary directory: the database server runs as
    # the `postgres` user when the tests run as root, and must reach its data directory.
    base = ROOT / "var" / f"prod-local-test-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "PROD_LOCAL_DIR": str(base),
        "PROD_LOCAL_PG_PORT": str(free_port()),
        "PROD_LOCAL_MQTT_PORT": str(free_port()),
        "PROD_LOCAL_MARKET_PORT": str(free_port()),
        "PROD_LOCAL_API_PORTS": f"{free_port()} {free_port()}",
        "PROD_LOCAL_METRICS_PORTS": f"{free_port()} {free_port()}",
    }
    try:
        yield env, base
    finally:
        run_script("stop", env)
        shutil.rmtree(base, ignore_errors=True)


def test_prod_local_starts_fails_over_and_stops(
    topology: tuple[dict[str, str], Path],
) -> None:
    env, base = topology
    started = run_script("start", env)
    assert started.returncode == 0, started.stdout + started.stderr
    assert "leaders      1" in started.stdout

    for port in env["PROD_LOCAL_API_PORTS"].split():
        answer = get(f"http://127.0.0.1:{port}/readyz")
        assert answer is not None and answer[0] == 200
        assert '"database":"ok"' in answer[1]
        assert "scheduler" not in answer[1]  # replicas run no scheduler

    ports = [int(p) for p in env["PROD_LOCAL_METRICS_PORTS"].split()]
    roles = {port: leader_gauge(port) for port in ports}
    assert sorted(roles.values(), key=str) == [0.0, 1.0], roles
    (leader_port,) = (port for port, value in roles.items() if value == 1.0)
    (follower_port,) = (port for port in ports if port != leader_port)
    leader_name = f"scheduler-{ports.index(leader_port) + 1}"
    leader_pid = int((base / "run" / f"{leader_name}.pid").read_text())

    os.kill(leader_pid, signal.SIGKILL)
    assert wait_until(lambda: not alive(leader_pid), 10.0)
    assert wait_until(lambda: leader_gauge(follower_port) == 1.0, TAKEOVER_S)
    assert leader_gauge(leader_port) is None

    status = run_script("status", env)
    assert status.returncode == 1  # one scheduler is down ...
    assert f"{leader_name}  stopped" in status.stdout
    assert "leaders      1" in status.stdout  # ... and the other leads

    pids = [
        int(path.read_text()) for path in (base / "run").glob("*.pid") if path.stem != leader_name
    ]
    assert len(pids) == 5  # mosquitto, market, 2 API replicas, the surviving scheduler
    stopped = run_script("stop", env)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert not any(alive(pid) for pid in pids)
    assert list((base / "run").glob("*.pid")) == []
    assert "postgres stopped" in stopped.stdout
