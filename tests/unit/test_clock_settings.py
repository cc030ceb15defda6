"""The service clock: real time in production; a demo or trial may run it fast and start
it elsewhere (VPP_CLOCK_SPEED, VPP_CLOCK_START)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import make_settings
from vpp.app import create_app
from vpp.ports import AcceleratedClock, SystemClock

START = datetime(2026, 3, 1, 1, 0, tzinfo=UTC)


def test_the_clock_starts_where_it_is_told() -> None:
    clock = create_app(make_settings(clock_start=START, clock_speed=900)).state.clock
    assert isinstance(clock, AcceleratedClock)
    # 900x from START: at most a few wall seconds have passed since the app was built.
    assert START <= clock.now() < START + timedelta(hours=1)


def test_a_start_alone_shifts_a_real_time_clock() -> None:
    clock = create_app(make_settings(clock_start=START.isoformat())).state.clock
    assert isinstance(clock, AcceleratedClock) and clock.speed == 1.0
    assert START <= clock.now() < START + timedelta(minutes=1)


def test_real_time_by_default() -> None:
    assert isinstance(create_app(make_settings()).state.clock, SystemClock)


@pytest.mark.parametrize(("setting", "value"), [("clock_start", START), ("clock_speed", 60.0)])
def test_production_runs_on_the_real_time(setting: str, value: object) -> None:
    with pytest.raises(ValueError, match="VPP_CLOCK"):
        make_settings(
            environment="production", database_url="postgresql://u@h/db", **{setting: value}
        )


def test_a_start_without_a_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        make_settings(clock_start="2026-03-01T01:00:00")
