"""Two schedulers, the leader killed with SIGKILL: the other takes over within one job
period, and no (job, period) runs twice or is skipped (issue #9 items 2 and 5).

Two ``vpp scheduler`` processes on one PostgreSQL database elect a leader by advisory
lock (``vpp.kit.leadership``). The per-minute jobs (``market_instructions``,
``correct_dispatch``: period = the minute, real time) are recorded in ``job_runs``.
Once the leader has completed a minute, it is killed at a random second; the follower
must lead within one period (60 s; in practice a leadership check or two), and
``job_runs`` must then hold every minute from the first one to the one after the
takeover, once each and completed.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.faults.harness import ROOT, alive, free_port, interpreter_env, wait_until
from vpp.kit.db import create_db_engine
from vpp.models import JobRun

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

VPP = ROOT / ".venv" / "bin" / "vpp"
MINUTE_JOBS = ("market_instructions", "correct_dispatch")
PERIOD = timedelta(minutes=1)
CHECK_S = 0.5
"""Leadership check period of both instances (s)."""


def leader_gauge(port: int) -> float | None:
    """The instance's ``vpp_scheduler_leader`` gauge; None if it does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3) as answer:
            text = answer.read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("vpp_scheduler_leader "):
            return float(line.split()[1])
    return None


def minute_runs(database_url: str) -> dict[tuple[str, datetime], str]:
    """(job, minute) -> status of the per-minute job runs."""
    engine = create_db_engine(database_url, pool_size=1, max_overflow=0)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(JobRun.job, JobRun.period, JobRun.status).where(JobRun.job.in_(MINUTE_JOBS))
            ).all()
    finally:
        engine.dispose()
    return {(r.job, datetime.fromisoformat(r.period)): r.status for r in rows}


@pytest.fixture
def schedulers(database: str, work_dir: Path) -> Iterator[dict[int, int]]:
    """Two ``vpp scheduler`` instances: metrics port -> pid."""
    env = interpreter_env() | {
        "VPP_DATABASE_URL": database,
        "VPP_SCHEDULER_LEADER_CHECK_S": str(CHECK_S),
        "VPP_SCHEDULER_LEADER_TIMEOUT_S": "10",
    }
    processes: dict[int, subprocess.Popen[bytes]] = {}
    for index in range(2):
        port = free_port()
        with (work_dir / f"scheduler-{index}.log").open("ab") as log:
            processes[port] = subprocess.Popen(  # noqa: S603  (our own command)
                [str(VPP), "scheduler", "--metrics-port", str(port), "--log-level", "warning"],
                env=env,
                cwd=work_dir,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
    try:
        yield {port: process.pid for port, process in processes.items()}
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.terminate()
        for process in processes.values():
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


def test_leader_killed_the_follower_takes_over_within_a_period(
    database: str, schedulers: dict[int, int], work_dir: Path
) -> None:
    ports = list(schedulers)

    def roles() -> list[float | None]:
        return [leader_gauge(port) for port in ports]

    assert wait_until(lambda: sorted(roles(), key=str) == [0.0, 1.0], 120, every_s=0.5), [
        (work_dir / f"scheduler-{i}.log").read_text() for i in range(2)
    ]
    leader_port = next(port for port in ports if leader_gauge(port) == 1.0)
    follower_port = next(port for port in ports if port != leader_port)

    def completed_minutes() -> set[datetime]:
        runs = minute_runs(database)
        return {minute for (job, minute), status in runs.items() if status == "done"}

    assert wait_until(lambda: bool(completed_minutes()), 90, every_s=0.5)
    first = min(completed_minutes())
    time.sleep(random.Random().uniform(0.0, 30.0))  # the random kill point
    os.kill(schedulers[leader_port], signal.SIGKILL)
    killed_at = datetime.now(UTC)
    assert wait_until(lambda: not alive(schedulers[leader_port]), 10, every_s=0.05)
    assert wait_until(lambda: leader_gauge(follower_port) == 1.0, PERIOD.total_seconds())
    takeover_s = (datetime.now(UTC) - killed_at).total_seconds()

    # Every minute from the first through the one after the kill's minute, each job once.
    last = killed_at.replace(second=0, microsecond=0) + PERIOD
    minutes = [first + PERIOD * n for n in range((last - first) // PERIOD + 1)]
    expected = {(job, minute) for job in MINUTE_JOBS for minute in minutes}
    assert wait_until(lambda: expected <= set(minute_runs(database)), 150, every_s=1.0)
    assert wait_until(
        lambda: all(minute_runs(database)[key] == "done" for key in expected), 30, every_s=1.0
    ), {key: minute_runs(database)[key] for key in expected}
    print(
        f"leader killed at {killed_at:%H:%M:%S}; the follower led {takeover_s:.1f} s later; "
        f"{len(expected)} minute runs from {first:%H:%M} to {last:%H:%M}, each done once"
    )
    assert takeover_s < PERIOD.total_seconds()
    assert alive(schedulers[follower_port])
