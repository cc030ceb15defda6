"""Queries of dispatch: the outbox's claim, outcome, ack and expiry steps; plans and readings."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple

import numpy as np
from sqlalchemy import (
    ColumnElement,
    Table,
    Uuid,
    any_,
    bindparam,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from vpp.domain.commands import CommandState, SetpointCommand
from vpp.domain.units import FloatArray
from vpp.kit import daytable, pgcopy
from vpp.kit.bulk import bulk_insert, sqlite_timestamp
from vpp.models import (
    Asset,
    CommandEvent,
    SetpointCommandRow,
)

OPEN = (CommandState.PENDING.value, CommandState.SENT.value)
CHUNK = 2000
STAGED = 500
"""Batches from this size are staged with a binary COPY on PostgreSQL."""


def _chunks(ids: Sequence[uuid.UUID]) -> Iterable[Sequence[uuid.UUID]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


@dataclass(frozen=True, slots=True)
class Claimed:
    """A claimed command and the adapter that is to deliver it."""

    command: SetpointCommand
    adapter: str


_COMMANDS: Table = SetpointCommandRow.__table__  # type: ignore[assignment]
_EVENTS: Table = CommandEvent.__table__  # type: ignore[assignment]


def _id_in(session: Session, column: Any, ids: Sequence[uuid.UUID]) -> ColumnElement[bool]:
    """``column IN ids``; on PostgreSQL one array parameter (``= ANY(:ids)``) instead of
    thousands of placeholders, which the driver would otherwise parse per statement."""
    if session.get_bind().dialect.name == "postgresql":
        condition: ColumnElement[bool] = column == any_(
            bindparam("ids", list(ids), type_=ARRAY(Uuid()))
        )
        return condition
    expanded: ColumnElement[bool] = column.in_(ids)
    return expanded


def claim_due(
    session: Session,
    now: datetime,
    limit: int,
    adapters: Sequence[str],
    lease: timedelta,
    with_settings: Sequence[str] | None = None,
) -> list[Claimed]:
    """Take up to ``limit`` open, unexpired commands of ``adapters`` whose attempt is due.

    One statement, the queue pattern: ``UPDATE ... WHERE id IN (SELECT ... FOR UPDATE
    SKIP LOCKED) RETURNING ...`` counts the attempt and moves ``next_attempt_at`` to
    ``now + lease``, so no other sender takes the commands while this one delivers them
    (on SQLite, whose writers are serialised anyway, without the locking clause). The
    caller records each outcome, which sets the real next attempt (``schedule_retry``).
    Bindings are looked up for the commands of ``with_settings`` (default: all).
    """
    if session.get_bind().dialect.name == "postgresql":
        rows = _claim_pg(session, now, limit, adapters, lease)
    else:
        rows = _claim_sqlite(session, now, limit, adapters, lease)
    settings: dict[uuid.UUID, dict[str, Any]] = {}
    wanted = set(adapters if with_settings is None else with_settings)
    asset_ids = list({row[1] for row in rows if row[6] in wanted})
    for chunk in _chunks(asset_ids):
        stmt = select(Asset.id, Asset.adapter_settings).where(_id_in(session, Asset.id, chunk))
        settings.update((row.id, row.adapter_settings) for row in session.execute(stmt))
    return [
        Claimed(
            SetpointCommand(
                command_id,
                asset_id,
                start,
                power_kw,
                expires_at,
                attempt,
                settings.get(asset_id, {}),
            ),
            adapter,
        )
        for command_id, asset_id, start, power_kw, expires_at, attempt, adapter in rows
    ]


_ClaimRow = tuple[uuid.UUID, uuid.UUID, datetime, float, datetime, int, str]


def _claim_pg(
    session: Session, now: datetime, limit: int, adapters: Sequence[str], lease: timedelta
) -> list[_ClaimRow]:
    """The claim through the driver (binary results): a round claims up to 10,000 rows,
    and building SQLAlchemy rows for them costs more than PostgreSQL's update."""
    rows = daytable.binary_rows(
        session,
        # ARRAY(...) runs the locking subquery once, whatever the plan of the update.
        "UPDATE setpoint_commands SET attempts = attempts + 1, next_attempt_at = %s "
        "WHERE id = ANY(ARRAY(SELECT id FROM setpoint_commands "
        "WHERE state IN ('pending', 'sent') AND next_attempt_at <= %s AND expires_at > %s "
        "AND adapter = ANY(%s) ORDER BY next_attempt_at LIMIT %s FOR UPDATE SKIP LOCKED)) "
        "RETURNING id, asset_id, interval_start, power_kw, expires_at, attempts, adapter",
        [now + lease, now, now, list(adapters), limit],
    )
    utc: dict[datetime, datetime] = {}  # the session's time zone -> UTC, per distinct value

    def in_utc(value: datetime) -> datetime:
        if value not in utc:
            utc[value] = value.astimezone(UTC)
        return utc[value]

    return [(i, a, in_utc(s), p, in_utc(e), n, ad) for i, a, s, p, e, n, ad in rows]


def _claim_sqlite(
    session: Session, now: datetime, limit: int, adapters: Sequence[str], lease: timedelta
) -> list[_ClaimRow]:
    c = _COMMANDS.c
    due = (
        select(c.id)
        .where(
            c.state.in_(OPEN),
            c.next_attempt_at <= now,
            c.expires_at > now,
            c.adapter.in_(adapters),
        )
        .order_by(c.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    rows = session.execute(
        update(_COMMANDS)
        .where(c.id.in_(due))
        .values(attempts=c.attempts + 1, next_attempt_at=now + lease)
        .returning(
            c.id, c.asset_id, c.interval_start, c.power_kw, c.expires_at, c.attempts, c.adapter
        )
    ).all()
    return [tuple(row) for row in rows]  # type: ignore[misc]


def schedule_retry(
    session: Session, next_attempt: dict[uuid.UUID, datetime], detail: str | None = None
) -> None:
    """Set when open commands are next tried (after a sent or failed attempt)."""
    by_time: dict[datetime, list[uuid.UUID]] = defaultdict(list)
    for command_id, when in next_attempt.items():
        by_time[when].append(command_id)
    values: dict[str, object] = {} if detail is None else {"detail": detail[:500]}
    for when, ids in by_time.items():
        for chunk in _chunks(ids):
            session.execute(
                update(_COMMANDS)
                .where(_id_in(session, _COMMANDS.c.id, chunk), _COMMANDS.c.state.in_(OPEN))
                .values(next_attempt_at=when, **values)
            )


def transition(
    session: Session,
    ids: Sequence[uuid.UUID],
    state: CommandState,
    now: datetime,
    detail: str = "",
    *,
    attempts: dict[uuid.UUID, int] | None = None,
) -> list[uuid.UUID]:
    """Move open commands to ``state`` (final states are never changed); log events.

    Returns the ids that actually changed, so a late or repeated ack is a no-op.
    """
    if not ids:
        return []
    values: dict[str, object] = {"state": state.value, "detail": detail[:500]}
    if state is CommandState.SENT:
        values["sent_at"] = now
    elif not state.is_open:
        values["finished_at"] = now
    if len(ids) >= STAGED and session.get_bind().dialect.name == "postgresql":
        return _transition_staged(session, ids, values, now, detail[:500], attempts or {})
    changed: list[uuid.UUID] = []
    for chunk in _chunks(ids):
        result = session.execute(
            update(_COMMANDS)
            .where(_id_in(session, _COMMANDS.c.id, chunk), _COMMANDS.c.state.in_(OPEN))
            .values(**values)
            .returning(_COMMANDS.c.id)
        )
        changed += result.scalars()
    log_events(session, changed, state, now, detail, attempts)
    return changed


def _transition_staged(
    session: Session,
    ids: Sequence[uuid.UUID],
    values: dict[str, object],
    now: datetime,
    detail: str,
    attempts: dict[uuid.UUID, int],
) -> list[uuid.UUID]:
    """`transition` of a large batch on PostgreSQL: the ids staged with one binary COPY,
    the update and its events one statement (a round acknowledges up to 10,000)."""
    pgcopy.stage(
        session,
        "transitioned",
        {
            "id": ("uuid", pgcopy.uuid_array(ids)),
            "attempt": ("int4", np.fromiter((attempts.get(i, 0) for i in ids), np.int32, len(ids))),
        },
    )
    assignments = ", ".join(f"{column} = :{column}" for column in values)
    with pgcopy.staged_join(session):
        result = session.execute(
            text(
                f"WITH changed AS (UPDATE setpoint_commands AS c SET {assignments} "  # noqa: S608
                "FROM transitioned AS t WHERE c.id = t.id AND c.state IN ('pending', 'sent') "
                "RETURNING c.id, t.attempt) "
                "INSERT INTO command_events (command_id, at, state, attempt, detail) "
                "SELECT id, :now, :state, attempt, :detail FROM changed RETURNING command_id"
            ),
            {**values, "now": now, "detail": detail},
        )
        return list(result.scalars())


def log_events(
    session: Session,
    ids: Sequence[uuid.UUID],
    state: CommandState | None,
    now: datetime,
    detail: str,
    attempts: dict[uuid.UUID, int] | None = None,
) -> None:
    if not ids:
        return
    label = state.value if state else "retry"
    clipped = detail[:500]
    counts = attempts or {}
    bulk_insert(
        session,
        _EVENTS,
        ("command_id", "at", "state", "attempt", "detail"),
        [(command_id, now, label, counts.get(command_id, 0), clipped) for command_id in ids],
    )


def overdue(session: Session, now: datetime) -> list[uuid.UUID]:
    """Open commands whose expiry has passed."""
    stmt = select(SetpointCommandRow.id).where(
        SetpointCommandRow.state.in_(OPEN), SetpointCommandRow.expires_at <= now
    )
    return list(session.execute(stmt).scalars())


def get_command(
    session: Session, command_id: uuid.UUID, account_id: uuid.UUID | None
) -> SetpointCommandRow | None:
    stmt = select(SetpointCommandRow).where(SetpointCommandRow.id == command_id)
    if account_id is not None:
        stmt = stmt.where(SetpointCommandRow.account_id == account_id)
    return session.execute(stmt).scalar_one_or_none()


def list_commands(
    session: Session,
    account_id: uuid.UUID | None,
    after: uuid.UUID | None,
    limit: int,
    asset_id: uuid.UUID | None = None,
    state: str | None = None,
) -> Sequence[SetpointCommandRow]:
    stmt = select(SetpointCommandRow).order_by(SetpointCommandRow.id).limit(limit)
    if account_id is not None:
        stmt = stmt.where(SetpointCommandRow.account_id == account_id)
    if after is not None:
        stmt = stmt.where(SetpointCommandRow.id > after)
    if asset_id is not None:
        stmt = stmt.where(SetpointCommandRow.asset_id == asset_id)
    if state is not None:
        stmt = stmt.where(SetpointCommandRow.state == state)
    return session.execute(stmt).scalars().all()


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One step of a command's history, as the API shows it."""

    at: datetime
    state: str
    attempt: int
    detail: str


def history_of(session: Session, command: SetpointCommandRow) -> list[HistoryEntry]:
    """The command's creation, then its stored events in order.

    The creation is not stored as an event: the command row records it (``created_at``,
    ``source``), and a day plan creates hundreds of thousands of commands at once, whose
    creation events were a seventh of the 10,000-asset cycle's plan stage (migration
    0015)."""
    created = HistoryEntry(
        command.created_at, CommandState.PENDING.value, 0, f"created ({command.source})"
    )
    stmt = (
        select(CommandEvent).where(CommandEvent.command_id == command.id).order_by(CommandEvent.id)
    )
    return [created] + [
        HistoryEntry(e.at, e.state, e.attempt, e.detail) for e in session.scalars(stmt)
    ]


# --- intraday: plans, fresh telemetry and troubled commands -----------------------------

TROUBLED = (CommandState.FAILED.value, CommandState.EXPIRED.value, CommandState.REJECTED.value)


def _uuid(value: uuid.UUID | str) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(value)


class ActiveAsset(NamedTuple):
    """What the per-minute correction needs of an asset that is not retired."""

    id: uuid.UUID
    account_id: uuid.UUID
    adapter: str
    kind: str
    baseline_kw: float
    up_kw: float
    down_kw: float


def active_assets(session: Session) -> dict[uuid.UUID, ActiveAsset]:
    """Every asset not retired, by id (read through the driver: each minute, all of them)."""
    rows = daytable.driver_rows(
        session,
        "SELECT id, account_id, adapter, kind, baseline_kw, up_kw, down_kw FROM assets "
        "WHERE retired_at IS NULL",
        [],
    )
    return {
        asset.id: asset
        for asset in (ActiveAsset(_uuid(i), _uuid(a), *rest) for i, a, *rest in rows)
    }


def plan_rows(
    session: Session,
    day: date,
    first_interval: int = 0,
    last_interval: int = 95,
    account_id: uuid.UUID | None = None,
) -> list[tuple[uuid.UUID, int, float, float]]:
    """(asset_id, interval, baseline_kw, deviation_kw) of the day's plan in an interval
    range (of one enterprise's assets if ``account_id`` is given)."""
    sql = (
        "SELECT asset_id, interval, baseline_kw, deviation_kw FROM planned_setpoints "
        "WHERE day = %s AND interval >= %s AND interval <= %s"
    )
    params: list[Any] = [day, first_interval, last_interval]
    if account_id is not None:
        sql += " AND account_id = %s"
        params.append(account_id)
    return [(_uuid(a), t, b, d) for a, t, b, d in daytable.driver_rows(session, sql, params)]


@dataclass(frozen=True)
class PlanMatrix:
    """A day's stored plan as arrays: assets (sorted by id) x 96 intervals, kW."""

    asset_ids: list[uuid.UUID]
    baseline_kw: FloatArray
    deviation_kw: FloatArray


def plan_matrix(session: Session, day: date) -> PlanMatrix:
    """The day's stored plan as (n, 96) arrays (zero where a row is missing;
    `vpp.kit.daytable`: 960,000 rows for 10,000 assets)."""
    ids, (baseline, deviation) = daytable.day_matrix(
        session, "planned_setpoints", ("baseline_kw", "deviation_kw"), day
    )
    return PlanMatrix(ids, baseline, deviation)


def update_plan(
    session: Session,
    day: date,
    asset_ids: Sequence[uuid.UUID],
    changed: np.ndarray,
    deviation_kw: FloatArray,
    setpoint_kw: FloatArray,
) -> None:
    """Set deviation and setpoint (kW) of the stored plan rows marked in ``changed``
    ((n, 96) over ``asset_ids`` and the day's intervals, like the two arrays).

    On PostgreSQL one ``UPDATE ... FROM`` a staged table (`vpp.kit.pgcopy.stage`); on
    SQLite one executemany of plain values: a re-plan changes tens of thousands of rows.
    """
    rows, intervals = np.nonzero(changed)
    if rows.size == 0:
        return
    deviations, setpoints = deviation_kw[rows, intervals], setpoint_kw[rows, intervals]
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        pgcopy.stage(
            session,
            "plan_changes",
            {
                "asset_id": ("uuid", pgcopy.uuid_array(asset_ids)[rows]),
                "t": ("int4", intervals),
                "d": ("float8", deviations),
                "s": ("float8", setpoints),
            },
        )
        with pgcopy.staged_join(session):
            session.execute(
                text(
                    "UPDATE planned_setpoints AS p SET deviation_kw = v.d, setpoint_kw = v.s "
                    "FROM plan_changes AS v "
                    "WHERE p.day = :day AND p.asset_id = v.asset_id AND p.interval = v.t"
                ),
                {"day": day},
            )
        return
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    stored_day = day.isoformat()  # SQLAlchemy's Date and Uuid renderings on SQLite
    hexes = [a.hex for a in asset_ids]
    try:
        cursor.executemany(
            "UPDATE planned_setpoints SET deviation_kw = ?, setpoint_kw = ? "
            "WHERE day = ? AND asset_id = ? AND interval = ?",
            list(
                zip(
                    deviations.tolist(),
                    setpoints.tolist(),
                    [stored_day] * rows.size,
                    [hexes[i] for i in rows.tolist()],
                    intervals.tolist(),
                    strict=True,
                )
            ),
        )
    finally:
        cursor.close()


def troubled_assets(session: Session, since: datetime) -> set[uuid.UUID]:
    """Assets with a command that failed, expired or was rejected after ``since``."""
    c = SetpointCommandRow
    stmt = select(c.asset_id).where(c.state.in_(TROUBLED), c.finished_at > since).distinct()
    return set(session.execute(stmt).scalars())


def _pairs(
    rows: np.ndarray, cols: np.ndarray, ids: np.ndarray, starts: Sequence[datetime]
) -> dict[str, tuple[str, np.ndarray]]:
    """Staging columns of (asset, interval start) pairs: indices into ``ids`` (16-byte
    asset ids) and ``starts``."""
    start_us = np.array([pgcopy.timestamp_us(s) for s in starts], dtype=np.int64)
    return {"asset_id": ("uuid", ids[rows]), "interval_start": ("timestamptz", start_us[cols])}


def _open_commands_sqlite(
    session: Session,
    asset_ids: Sequence[uuid.UUID],
    starts: Sequence[datetime],
    cols: np.ndarray,
) -> list[tuple[uuid.UUID, int, int, str, int]]:
    """(id, asset index, interval index, state, attempts) of the open commands of
    ``asset_ids`` in the intervals from ``starts[cols.min()]`` to ``starts[cols.max()]``."""
    index = {a.hex: i for i, a in enumerate(asset_ids)}
    position = {sqlite_timestamp(start): t for t, start in enumerate(starts)}
    rows = daytable.driver_rows(
        session,
        "SELECT id, asset_id, interval_start, state, attempts FROM setpoint_commands "
        "WHERE state IN ('pending', 'sent') AND interval_start BETWEEN %s AND %s",
        [starts[int(cols.min())], starts[int(cols.max())]],
    )
    return [
        (uuid.UUID(command_id), i, k, state, attempts)
        for command_id, asset_key, start, state, attempts in rows
        if (i := index.get(asset_key)) is not None and (k := position.get(start)) is not None
    ]


def supersede_open(
    session: Session,
    asset_ids: Sequence[uuid.UUID],
    changed: np.ndarray,
    starts: Sequence[datetime],
    now: datetime,
    detail: str,
    *,
    keep_unsent: np.ndarray | None = None,
) -> int:
    """Supersede the open commands of the (asset, interval) pairs marked in ``changed``
    ((n, T) over ``asset_ids`` and the intervals starting at ``starts``), logging each;
    returns how many. Commands never handed to a sender (pending, no attempt) of the
    pairs marked in ``keep_unsent`` are left for `revise_unsent`. A re-plan replaces tens
    of thousands: on PostgreSQL one statement over a staged table."""
    rows, cols = np.nonzero(changed)
    if rows.size == 0:
        return 0
    keep = np.zeros_like(changed) if keep_unsent is None else keep_unsent
    clipped = detail[:500]
    if session.get_bind().dialect.name == "postgresql":
        pgcopy.stage(
            session,
            "replaced_setpoints",
            {
                **_pairs(rows, cols, pgcopy.uuid_array(asset_ids), starts),
                "keep_unsent": ("int4", keep[rows, cols].astype(np.int32)),
            },
        )
        with pgcopy.staged_join(session):
            result = session.execute(
                text(
                    "WITH superseded AS ("
                    " UPDATE setpoint_commands AS c"
                    " SET state = 'superseded', detail = :detail, finished_at = :now"
                    " FROM replaced_setpoints AS r"
                    " WHERE c.asset_id = r.asset_id AND c.interval_start = r.interval_start"
                    " AND c.state IN ('pending', 'sent')"
                    " AND c.interval_start BETWEEN :first AND :last"
                    " AND NOT (r.keep_unsent = 1 AND c.state = 'pending' AND c.attempts = 0)"
                    " RETURNING c.id)"
                    " INSERT INTO command_events (command_id, at, state, attempt, detail)"
                    " SELECT id, :now, 'superseded', 0, :detail FROM superseded"
                ),
                {
                    "detail": clipped,
                    "now": now,
                    "first": starts[int(cols.min())],
                    "last": starts[int(cols.max())],
                },
            )
        return int(result.rowcount)  # type: ignore[attr-defined]
    stale = [
        command_id
        for command_id, i, k, state, attempts in _open_commands_sqlite(
            session, asset_ids, starts, cols
        )
        if changed[i, k] and not (keep[i, k] and state == "pending" and attempts == 0)
    ]
    return len(transition(session, stale, CommandState.SUPERSEDED, now, clipped))


def revise_unsent(
    session: Session,
    asset_ids: Sequence[uuid.UUID],
    marked: np.ndarray,
    power_kw: FloatArray,
    starts: Sequence[datetime],
    send_at: Sequence[datetime],
    source: str,
) -> np.ndarray:
    """Give the commands never handed to a sender (pending, no attempt) of the pairs
    marked in ``marked`` ((n, T) like ``power_kw``) their new power, due at ``send_at``
    or earlier if they were, in place; returns the (n, T) mask of pairs so revised.

    No device has seen such a command, so revising it keeps delivery at-least-once with
    dedupe by id, and a re-plan does not double the outbox. Its ``source`` and ``detail``
    say what revised it; state changes and attempts stay in the command's events. The
    indexed send time mostly stays as it was, so PostgreSQL updates the row beside the
    old version without touching the indexes (fillfactor, migration 0010).
    """
    rows, cols = np.nonzero(marked)
    revised = np.zeros_like(marked)
    if rows.size == 0:
        return revised
    detail = f"revised ({source})"
    if session.get_bind().dialect.name == "postgresql":
        send_us = np.array([pgcopy.timestamp_us(s) for s in send_at], dtype=np.int64)
        pgcopy.stage(
            session,
            "revised_setpoints",
            {
                **_pairs(rows, cols, pgcopy.uuid_array(asset_ids), starts),
                "k": ("int4", np.arange(rows.size, dtype=np.int32)),
                "power_kw": ("float8", power_kw[rows, cols]),
                "send_at": ("timestamptz", send_us[cols]),
            },
        )
        with pgcopy.staged_join(session):
            returned = daytable.binary_rows(
                session,
                "UPDATE setpoint_commands AS c SET power_kw = r.power_kw, "
                "next_attempt_at = LEAST(c.next_attempt_at, r.send_at), source = %s, "
                "detail = %s "
                "FROM revised_setpoints AS r "
                "WHERE c.asset_id = r.asset_id AND c.interval_start = r.interval_start "
                "AND c.state IN ('pending', 'sent') AND c.interval_start BETWEEN %s AND %s "
                "AND c.state = 'pending' AND c.attempts = 0 RETURNING r.k",
                [source, detail, starts[int(cols.min())], starts[int(cols.max())]],
            )
        done = np.array([k for (k,) in returned], dtype=np.intp)
        revised[rows[done], cols[done]] = True
        return revised
    updates = []
    for command_id, i, k, state, attempts in _open_commands_sqlite(
        session, asset_ids, starts, cols
    ):
        if marked[i, k] and state == "pending" and attempts == 0:
            updates.append(
                (
                    float(power_kw[i, k]),
                    sqlite_timestamp(send_at[k]),
                    source,
                    detail,
                    command_id.hex,
                )
            )
            revised[i, k] = True
    cursor = session.connection().connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(
            "UPDATE setpoint_commands SET power_kw = ?, next_attempt_at = "
            "min(next_attempt_at, ?), source = ?, detail = ? WHERE id = ?",
            updates,
        )
    finally:
        cursor.close()
    return revised
