"""PostgreSQL restarted mid-run: the service reconnects and loses nothing acknowledged
(issue #9 item 5; DESIGN.md section 6).

The test owns a PostgreSQL cluster (initdb in a temporary directory, as
``scripts/prod-local`` does) and runs against it an API replica (``vpp serve
--no-scheduler``) and a sender (outbox writer, ``DeliveryEngine``, ``http`` adapter)
delivering to a real device endpoint. Mid-run it stops the server (fast shutdown: every
connection is cut), checks that ``/readyz`` says so, starts it again, and then expects
the same two processes, never restarted, to carry on: ``/readyz`` ready again (the pool
pings a connection before handing it out, ``vpp.kit.db``), new batches written and
acknowledged, every acknowledgement from before the restart still there, nothing
applied twice.
"""

from __future__ import annotations

import subprocess
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.harness import (
    ROOT,
    Device,
    OwnedPostgres,
    Senders,
    alive,
    free_port,
    interpreter_env,
    owned_postgres,
    postgres_available,
    read_commands,
    seed_http_assets,
    serve_device,
    wait_until,
)
from vpp.kit import migrate

pytestmark = pytest.mark.slow

ASSETS = 10
VPP = ROOT / ".venv" / "bin" / "vpp"


@pytest.fixture
def cluster() -> Iterator[OwnedPostgres]:
    if not postgres_available():
        pytest.skip("PostgreSQL 15 server binaries are not installed")
    with owned_postgres() as cluster:
        migrate.upgrade(cluster.url)
        yield cluster


def readyz(port: int) -> int | None:
    """The replica's /readyz status code (None: no answer)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


@pytest.fixture
def replica(cluster: OwnedPostgres, work_dir: Path) -> Iterator[tuple[int, int]]:
    """An API replica on the test's cluster: (port, pid)."""
    port = free_port()
    env = interpreter_env() | {"VPP_DATABASE_URL": cluster.url}
    with (work_dir / "api.log").open("ab") as log:
        process = subprocess.Popen(  # noqa: S603  (our own command, fixed arguments)
            [str(VPP), "serve", "--no-scheduler", "--port", str(port), "--no-access-log"],
            env=env,
            cwd=work_dir,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        yield port, process.pid
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def test_restarted_database_is_reconnected_and_nothing_acked_is_lost(
    cluster: OwnedPostgres, replica: tuple[int, int], work_dir: Path
) -> None:
    port, api_pid = replica
    with serve_device(Device()) as device:
        seed_http_assets(cluster.url, device.url, ASSETS)
        senders = Senders(cluster.url, work_dir)
        try:
            sender = senders.spawn()
            senders.wait_ready(sender)
            assert wait_until(lambda: readyz(port) == 200, 90), (work_dir / "api.log").read_text()
            assert wait_until(lambda: len(read_commands(cluster.url).with_state("acked")) >= 30, 60)

            acked_before = read_commands(cluster.url).with_state("acked")
            cluster.stop()  # fast shutdown: every session is cut mid-whatever
            assert wait_until(lambda: readyz(port) == 503, 15)
            applied_while_down = len(device.applied)
            cluster.start()

            assert wait_until(lambda: readyz(port) == 200, 30)
            # The same sender, never restarted, writes and delivers again.
            assert wait_until(lambda: len(device.applied) >= applied_while_down + 3 * ASSETS, 60)
            senders.stop_writing()
            assert wait_until(lambda: not read_commands(cluster.url).open, 60, every_s=0.5)
            assert alive(sender) and alive(api_pid)
        finally:
            senders.stop_all()

    commands = read_commands(cluster.url)
    acked = commands.with_state("acked")
    applied = Counter(device.applied)
    print(
        f"{len(commands.state)} commands, {len(acked_before)} acked before the restart, "
        f"{len(acked)} after; {sum(device.deliveries.values())} deliveries"
    )
    assert acked_before <= acked  # nothing acknowledged lost by the restart
    assert acked == set(commands.state), Counter(commands.state.values())  # the rest got through
    assert acked <= set(applied)
    assert max(applied.values()) == 1
    assert set(Counter(commands.source.values()).values()) == {ASSETS}  # batches whole
