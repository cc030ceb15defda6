"""The scheduled settlement: each awarded day once its data is complete, exactly once.

`settle_due` looks at the last ``settlement_catch_up_days`` market days; every day with
awards whose data is complete (its end + ``settlement_delay_hours``) is settled once,
claimed in ``job_runs`` under (``settle_day``, day) like the scheduler's other jobs: two
instances never settle the same day, a failed run is released for a later tick. Late
telemetry after that is settled by an operator (``POST /v1/settlements``), which appends a
new version.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import date, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from vpp.config import Settings
from vpp.domain.time import market_day_of
from vpp.kit.errors import Problem
from vpp.kit.jobruns import claim, finish
from vpp.ports import MarketPack
from vpp.settlement import repository
from vpp.settlement.service import data_complete_at, settle_day, settled_products

log = logging.getLogger(__name__)
JOB = "settle_day"


def due_days(
    factory: sessionmaker[Session],
    now: datetime,
    settings: Settings,
    packs: Mapping[str, MarketPack] | None = None,
) -> list[date]:
    """Days with awards (of the settled products of ``packs``, if given) in the catch-up
    window whose data is complete at ``now``."""
    today = market_day_of(now)
    first = today - timedelta(days=settings.settlement_catch_up_days)
    products = None if packs is None else list(settled_products(packs))
    with factory() as session:
        days = repository.award_days(session, first, today, products)
    return sorted(d for d in days if data_complete_at(d, settings) <= now)


def settle_due(
    factory: sessionmaker[Session],
    packs: Mapping[str, MarketPack],
    now: datetime,
    settings: Settings | None = None,
) -> list[str]:
    """Settle every due day not settled yet (module docstring); one line per day run."""
    settings = settings or Settings()
    done: list[str] = []
    for day in due_days(factory, now, settings, packs):
        period = day.isoformat()
        if not claim(factory, JOB, period, now):
            continue
        try:
            with factory() as session:
                outcome = settle_day(session, packs, day, now, settings)
                session.commit()
                row = outcome.settlement
                detail = f"version {row.version}, pool net {row.net_fen} fen"
        except Problem as problem:  # e.g. awards of products no pack settles
            finish(factory, JOB, period, now, "done", problem.detail)
            done.append(f"{period}: {problem.detail}")
            continue
        except Exception as exc:
            log.exception("settling %s failed", period)
            finish(factory, JOB, period, now, "failed", repr(exc))
            continue
        finish(factory, JOB, period, now, "done", detail)
        done.append(f"{period}: {detail}")
    return done
