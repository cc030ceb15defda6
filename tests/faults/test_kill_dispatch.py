"""kill -9 of senders at random points during dispatch, 50 times: nothing acked is lost,
nothing is applied twice (issue #9 item 5; DESIGN.md section 6).

Two sender processes (the production outbox writer, ``DeliveryEngine`` and ``http``
adapter; ``tests.faults.sender``) share one PostgreSQL database and deliver to one
real device endpoint on loopback. One of them is killed with SIGKILL at a random
moment, a new one started, fifty times; the device answers each request a few
milliseconds after applying it, so kills land between a device applying a command and
the sender recording the ack. Then the survivors drain the outbox.

What must hold:
- every command the database shows acknowledged was applied by the device (no
  acknowledged command is lost), and every command reaches a final state;
- the device applied each command once (redeliveries are deduped by command id);
- every batch written (one transaction) is in the outbox whole, or not at all.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.faults.harness import (
    Device,
    Senders,
    read_commands,
    seed_http_assets,
    serve_device,
    wait_until,
)

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

KILLS = 50
ASSETS = 10
DRAIN_TIMEOUT_S = 90.0


def test_fifty_kills_lose_no_ack_and_apply_nothing_twice(database: str, work_dir: Path) -> None:
    rng = random.Random(20261126)
    with serve_device(Device()) as device:
        seed_http_assets(database, device.url, ASSETS)
        senders = Senders(database, work_dir)
        try:
            for _ in range(2):
                senders.wait_ready(senders.spawn())
            while senders.killed < KILLS:
                # The older sender dies; its replacement starts while the other delivers.
                victim = senders.pids[0]
                senders.wait_ready(victim)
                # Dispatch under way: the device applies new commands.
                target = len(device.applied) + 1
                assert wait_until(lambda: len(device.applied) >= target, 30), senders.log()  # noqa: B023
                time.sleep(rng.uniform(0.0, 0.5))  # the random kill point
                senders.kill(victim)
                senders.spawn()
            senders.stop_writing()
            for pid in senders.pids:
                senders.wait_ready(pid)
            assert wait_until(
                lambda: not read_commands(database).open, DRAIN_TIMEOUT_S, every_s=0.5
            ), senders.log()
        finally:
            senders.stop_all()

    commands = read_commands(database)
    applied = Counter(device.applied)
    acked = commands.with_state("acked")
    redelivered = sum(n - 1 for n in device.deliveries.values())
    print(
        f"{senders.killed} kills: {len(commands.state)} commands, {len(acked)} acked, "
        f"{sum(device.deliveries.values())} deliveries ({redelivered} redeliveries)"
    )
    assert senders.killed == KILLS
    # Nothing acknowledged is lost: the device applied every command the database acked.
    assert acked <= set(applied)
    # Every command reached a final state, and with an accepting device that is acked.
    assert commands.open == set()
    assert acked == set(commands.state)
    # Nothing applied twice, although kills between applying and recording made the
    # senders deliver some commands again.
    assert max(applied.values()) == 1
    assert set(applied) == set(commands.state)  # and nothing unknown to the outbox
    assert redelivered > 0
    # Each batch (one transaction of the outbox writer) is whole: ASSETS commands.
    batches = Counter(commands.source.values())
    assert set(batches.values()) == {ASSETS}
