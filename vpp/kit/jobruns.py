"""Job runs: each scheduled job runs once per period, whichever scheduler instance gets there.

A run is claimed by inserting ``job_runs`` (job, period), which is unique: two instances (or
one restarted mid-run) never run a period twice. A failed run is released for a retry.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CursorResult, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from vpp.models import JobRun


def claim(factory: sessionmaker[Session], job: str, period: str, now: datetime) -> bool:
    """Take the (job, period) run; False if it ran, or runs, elsewhere."""
    with factory() as session:
        try:
            session.add(JobRun(job=job, period=period, status="running", started_at=now))
            session.commit()
            return True
        except IntegrityError:
            session.rollback()
        retried: CursorResult[Any] = session.execute(  # type: ignore[assignment]
            update(JobRun)
            .where(JobRun.job == job, JobRun.period == period, JobRun.status == "failed")
            .values(status="running", started_at=now, finished_at=None, detail="")
        )
        session.commit()
        return retried.rowcount == 1


def finish(
    factory: sessionmaker[Session], job: str, period: str, now: datetime, status: str, detail: str
) -> None:
    with factory() as session:
        session.execute(
            update(JobRun)
            .where(JobRun.job == job, JobRun.period == period)
            .values(status=status, finished_at=now, detail=detail[:1000])
        )
        session.commit()


def has_run(factory: sessionmaker[Session], job: str, period: str) -> bool:
    with factory() as session:
        return (
            session.scalars(
                select(JobRun.id).where(
                    JobRun.job == job, JobRun.period == period, JobRun.status == "done"
                )
            ).first()
            is not None
        )


def release_running(factory: sessionmaker[Session], now: datetime) -> int:
    """Release every run still marked running, for a retry; how many were released.

    Called when an instance starts to lead: only the leader runs jobs, so a run still
    running then belonged to a leader that died (or lost its lock) mid-run, and would
    otherwise block its period forever.
    """
    with factory() as session:
        released: CursorResult[Any] = session.execute(  # type: ignore[assignment]
            update(JobRun)
            .where(JobRun.status == "running")
            .values(
                status="failed",
                finished_at=now,
                detail="released: the scheduler that ran it stopped mid-run",
            )
        )
        session.commit()
        return released.rowcount
