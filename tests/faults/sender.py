"""A sender process for the fault tests: the production outbox, engine and webhook adapter.

Run as ``python -m tests.faults.sender --database-url URL --work-dir DIR ...``. It writes
setpoint batches into the outbox (``vpp.dispatch.service.enqueue_many``, one
transaction per batch) while the ``DeliveryEngine`` claims and delivers them through
the ``http`` adapter, exactly as a scheduler with ``VPP_DISPATCH_ENABLED`` does, with a
short lease and backoff so a killed sender's claims come due again within a second or
two instead of 30 s. The tests kill it with SIGKILL at random points and start another.

Files in ``--work-dir``: ``<pid>.ready`` once the engine runs; the sender stops writing
batches once ``stop-writing`` exists. SIGTERM stops it cleanly.

With ``--fork-server`` the process only imports the service (seconds on a busy
machine) and then forks one sender per ``spawn`` line read on stdin, printing each
sender's pid: a sender starts in milliseconds, and what the tests kill is still a whole
sender process with its own connections, event loop and adapter session.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from vpp.dispatch.engine import Backoff, DeliveryEngine
from vpp.dispatch.registry import adapter_class
from vpp.dispatch.service import PlannedSetpoint, enqueue_many
from vpp.domain.time import floor_to_interval
from vpp.kit.db import create_db_engine, make_sessionmaker
from vpp.models import Asset
from vpp.ports import SystemClock

log = logging.getLogger("tests.faults.sender")

STOP_WRITING = "stop-writing"
LEASE_S = 1.0
"""Seconds a claim is left alone (the engine's default is 30 s)."""
BACKOFF = Backoff(base_s=0.2, cap_s=1.0)
VALIDITY = timedelta(hours=1)
"""Commands expire an hour after they are written: none expires during a test."""


def source_tag(pid: int, batch: int) -> str:
    """The ``source`` of one batch's commands: which process wrote which batch."""
    return f"fault-{pid}-{batch}"


async def write_batches(
    factory: sessionmaker[Session],
    clock: SystemClock,
    work_dir: Path,
    stop: asyncio.Event,
    pause_s: float,
) -> None:
    """Write one setpoint per asset, one transaction per batch, until told to stop."""
    batch = 0

    def write(number: int) -> None:
        with factory() as session:
            assets = session.execute(
                select(Asset.id, Asset.account_id).where(Asset.adapter == "http")
            ).all()
            now = clock.now()
            planned = [
                PlannedSetpoint(
                    asset_id=row.id,
                    account_id=row.account_id,
                    adapter="http",
                    interval_start=floor_to_interval(now),
                    power_kw=float(number % 50),
                    expires_at=now + VALIDITY,
                )
                for row in assets
            ]
            enqueue_many(session, planned, now, source_tag(os.getpid(), number))
            session.commit()

    while not stop.is_set() and not (work_dir / STOP_WRITING).exists():
        try:
            await asyncio.to_thread(write, batch)
            batch += 1
        except Exception:  # the database may be restarting: try again shortly
            log.warning("writing batch %s failed", batch, exc_info=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), pause_s)


async def run(database_url: str, work_dir: Path, adapter_config: dict[str, object]) -> None:
    engine = create_db_engine(database_url, pool_size=4, max_overflow=4)
    factory = make_sessionmaker(engine)
    clock = SystemClock()
    adapter = adapter_class("http")(clock, adapter_config)
    delivery = DeliveryEngine(factory, {"http": adapter}, clock, lease_s=LEASE_S, backoff=BACKOFF)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await delivery.start()
    (work_dir / f"{os.getpid()}.ready").touch()
    try:
        await asyncio.gather(
            delivery.run(stop, idle_s=0.05), write_batches(factory, clock, work_dir, stop, 0.1)
        )
    finally:
        await delivery.stop()
        engine.dispose()


def fork_server(start: Callable[[], None], log_path: Path) -> None:
    """Fork one sender per ``spawn`` line on stdin and print its pid; exit at end of input.

    Forked before any thread, connection or event loop exists, so each child starts
    clean. Children are reaped automatically (SIGCHLD ignored here, restored in them).
    """
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    for line in sys.stdin:
        if line.strip() != "spawn":
            continue
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            descriptor = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            os.dup2(descriptor, 1)
            os.dup2(descriptor, 2)
            os.close(descriptor)
            code = 0
            try:
                start()
            except BaseException:
                log.exception("sender failed")
                code = 1
            finally:
                os._exit(code)
        print(pid, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--work-dir", required=True, type=Path)
    parser.add_argument("--adapter-config", required=True, help="the http adapter's JSON config")
    parser.add_argument("--fork-server", action="store_true", help="fork senders on demand")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    def start() -> None:
        asyncio.run(run(args.database_url, args.work_dir, json.loads(args.adapter_config)))

    if args.fork_server:
        fork_server(start, args.work_dir / "senders.log")
    else:
        start()


if __name__ == "__main__":
    main()
