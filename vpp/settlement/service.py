"""Settling a market day from the database, and reading settlements, statements and evidence.

`settle_day` loads the day's awards, the awarded allocations (which assets backed them),
the telemetry of those assets over the baseline look-back window and the agency
agreements, runs the pure core (`vpp.settlement.core`), seals the inputs and results in the
ledger (`vpp.settlement.ledger`) and stores a new settlement version. Settling a day whose
inputs did not change returns the stored version (idempotent); late telemetry or a changed
agreement gives version + 1, and the old version and its ledger records stay as they were.
Nothing is written when the request is refused; the caller commits.
"""

from __future__ import annotations

import csv
import html
import io
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from vpp.config import Settings
from vpp.domain.market import IntervalScore
from vpp.domain.time import INTERVAL, INTERVALS_PER_DAY, day_bounds_utc, interval_starts_utc
from vpp.forecast.baselines import MorningAdjustment
from vpp.forecast.calendar import market_days
from vpp.kit.audit import audit
from vpp.kit.auth import Principal
from vpp.kit.errors import Problem, field_error, not_found
from vpp.models import (
    Account,
    AgencyAgreement,
    LedgerRecord,
    Settlement,
    SettlementInterval,
    SettlementShare,
    SettlementStatement,
)
from vpp.ports import MarketPack
from vpp.settlement import repository
from vpp.settlement.core import DayInputs, DayResult, FloatArray, ProductDay, Scorer, settle
from vpp.settlement.ledger import FORMAT, GENESIS, Record, canonical, day_bodies, seal, sha256
from vpp.settlement.measurement import (
    BaselineMethod,
    BaselineRule,
    GapRule,
    fill_day_tensor,
    interval_means,
)
from vpp.settlement.schemas import (
    AgreementIn,
    AgreementOut,
    PoolTotals,
    SettlementList,
    SettlementOut,
    StatementLine,
)
from vpp.settlement.sharing import BASIS_POINTS, FEN_PER_CNY, Agreement, cny_text

CNY = Decimal("0.01")
MORNING = MorningAdjustment(start_interval=40, end_interval=52, cap=0.2)
"""Same-day adjustment window when enabled: 10:00-13:00 Beijing, capped at ±20 %."""


@dataclass(frozen=True)
class SettleOutcome:
    settlement: Settlement
    created: bool
    """False when the day's inputs were unchanged and the stored version was returned."""


def cny(fen: int) -> Decimal:
    return Decimal(cny_text(fen))


def baseline_rule(settings: Settings, product: str) -> BaselineRule:
    """The product's settlement baseline rule from the settings."""
    method = settings.settlement_baseline.get(product, settings.settlement_default_baseline)
    return BaselineRule(
        BaselineMethod(method),
        adjustment=MORNING if settings.settlement_same_day_adjustment else None,
        lookback_days=settings.settlement_lookback_days,
    )


def default_agreement(settings: Settings) -> Agreement:
    return Agreement(
        ratio_bp=round(settings.settlement_aggregator_ratio * BASIS_POINTS),
        fee_fen_per_mwh=round(settings.settlement_fee_cny_per_mwh * FEN_PER_CNY),
    )


def pack_scorer(packs: Mapping[str, MarketPack]) -> Scorer:
    """The core's scorer: each product's `MarketPack.score`."""

    def score(
        product: str, awarded: FloatArray, delivered: FloatArray, price: FloatArray
    ) -> Sequence[IntervalScore]:
        return packs[product].score(awarded.tolist(), delivered.tolist(), price.tolist())

    return score


GREEN_FAMILY = "green_power."


def settled_products(packs: Mapping[str, MarketPack]) -> dict[str, MarketPack]:
    """The packs whose awards are settled here by measurement and verification.

    Products of the 96-interval market day (peak shaving, spot) are measured against the
    settlement baseline. Green-power trades (``green_power.*``, hourly energy with its
    certificates) are not a response to measure: their awards become green-power records
    (`vpp.green.awards`) and count in the green report instead.
    """
    return {
        product: pack
        for product, pack in packs.items()
        if not product.startswith(GREEN_FAMILY)
        and pack.limits().intervals_per_day == INTERVALS_PER_DAY
    }


def data_complete_at(day: date, settings: Settings) -> datetime:
    """When a market day's data counts as complete (its end + the configured delay)."""
    return day_bounds_utc(day)[1] + timedelta(hours=settings.settlement_delay_hours)


def _check_settleable(day: date, now: datetime, settings: Settings) -> None:
    ready = data_complete_at(day, settings)
    if now < ready:
        raise field_error(
            "day",
            "day_not_complete",
            f"{day} cannot be settled before its data is complete at {ready.isoformat()}",
        )


def _products(
    awards: Sequence[Any], packs: Mapping[str, MarketPack]
) -> dict[str, tuple[FloatArray, FloatArray]]:
    """Awarded kW and quantity-weighted price (CNY/MWh) per product and interval."""
    out: dict[str, tuple[FloatArray, FloatArray]] = {}
    for row in awards:
        kw, value = out.setdefault(
            row.product, (np.zeros(INTERVALS_PER_DAY), np.zeros(INTERVALS_PER_DAY))
        )
        kw[row.interval] += row.quantity_kw
        value[row.interval] += row.quantity_kw * row.price_cny_per_mwh
    return {
        p: (kw, np.divide(value, kw, out=np.zeros_like(kw), where=kw > 0))
        for p, (kw, value) in out.items()
        if p in packs
    }


def _readings_digest(rows: Sequence[tuple[datetime, float]]) -> str:
    """SHA-256 of the canonical list of one asset's readings of the day."""
    return sha256(canonical([[ts.isoformat(), kw] for ts, kw in rows]))


def load_inputs(
    session: Session, packs: Mapping[str, MarketPack], day: date, settings: Settings
) -> DayInputs:
    """Everything `settle` needs for ``day`` (422 when it has no award to settle).

    Only the awards of `settled_products` count, as awards and as event days."""
    packs = settled_products(packs)
    awards = repository.awards_of_day(session, day, list(packs))
    awarded = _products(awards, packs)
    if not any((kw > 0).any() for kw, _ in awarded.values()):
        raise field_error("day", "no_awards", f"{day} has no awards to settle")
    alloc_rows = repository.allocations(session, sorted({a.bid_id for a in awards}, key=str))
    owner = {asset: account for asset, account, *_ in alloc_rows}
    asset_ids = sorted(owner, key=str)
    accounts = sorted(set(owner.values()), key=str)
    a_index = {a: i for i, a in enumerate(asset_ids)}
    e_index = {e: i for i, e in enumerate(accounts)}
    n = len(asset_ids)
    lookback = settings.settlement_lookback_days + 2
    first = day - timedelta(days=lookback)
    days = tuple(market_days(first, day))
    start, _ = day_bounds_utc(first)
    day_start, end = day_bounds_utc(day)
    raw = repository.readings(session, asset_ids, start, end)
    slots = len(days) * INTERVALS_PER_DAY
    if raw:
        ts = pd.DatetimeIndex([r[1] for r in raw]).tz_convert("UTC")
        slot = np.asarray((ts - pd.Timestamp(start)) // pd.Timedelta(INTERVAL), dtype=np.int64)
        idx = np.array([a_index[r[0]] for r in raw], dtype=np.int64)
        means = interval_means(idx, slot, np.array([r[2] for r in raw]), n, slots)
    else:
        means = np.full((n, slots), np.nan)
    tensor = np.ascontiguousarray(means.reshape(n, len(days), INTERVALS_PER_DAY).transpose(1, 0, 2))
    gap_rule = GapRule(settings.settlement_max_fill_intervals)
    values, filled = fill_day_tensor(tensor, gap_rule)
    by_asset: dict[uuid.UUID, list[tuple[datetime, float]]] = {a: [] for a in asset_ids}
    for asset, ts_i, reading_kw in raw:
        if ts_i >= day_start:
            by_asset[asset].append((ts_i, reading_kw))
    products: list[ProductDay] = []
    for product in sorted(awarded):
        kw, price = awarded[product]
        alloc = np.zeros((n, INTERVALS_PER_DAY))
        for asset, _acc, p, t, a_kw in alloc_rows:
            if p == product:
                alloc[a_index[asset], t] += a_kw
        products.append(
            ProductDay(
                product,
                packs[product].limits().side,
                kw,
                price,
                alloc,
                rule=baseline_rule(settings, product),
            )
        )
    stored = repository.agreements(session)
    default = default_agreement(settings)
    agreements = tuple(
        Agreement(stored[e].ratio_bp, stored[e].fee_fen_per_mwh) if e in stored else default
        for e in accounts
    )
    return DayInputs(
        day=day,
        days=days,
        values_kw=values,
        filled=filled[-1],
        asset_account=np.array([e_index[owner[a]] for a in asset_ids], dtype=np.int64),
        accounts=tuple(str(e) for e in accounts),
        agreements=agreements,
        products=tuple(products),
        rule=baseline_rule(settings, ""),
        event_days=frozenset(repository.award_days(session, first, day, list(packs))),
        asset_ids=tuple(str(a) for a in asset_ids),
        readings_sha256=tuple(_readings_digest(by_asset[a]) for a in asset_ids),
    )


def settle_day(
    session: Session,
    packs: Mapping[str, MarketPack],
    day: date,
    now: datetime,
    settings: Settings,
    actor: Principal | None = None,
) -> SettleOutcome:
    """Settle ``day`` (module docstring); 422 for a day not yet complete or without awards."""
    _check_settleable(day, now, settings)
    inputs = load_inputs(session, packs, day, settings)
    result = settle(inputs, pack_scorer(packs))
    latest = repository.latest_version(session, day)
    version = 1 if latest is None else latest.version + 1
    gap_rule = GapRule(settings.settlement_max_fill_intervals)
    sealed = day_bodies(inputs, result, version=version, settled_at=now, gap_rule=gap_rule)
    inputs_sha = sealed.inputs_sha256
    if latest is not None and latest.inputs_sha256 == inputs_sha:
        return SettleOutcome(latest, created=False)
    seq, prev = repository.ledger_tail(session, day)
    records = seal(
        sealed.bodies,
        day=day.isoformat(),
        version=version,
        prev_hash=prev or GENESIS,
        first_seq=seq,
        texts=sealed.texts,
    )
    row = _store(session, inputs, result, version, now, actor, inputs_sha, records[-1].hash)
    for rec, body_text in zip(records, sealed.texts, strict=True):
        session.add(
            LedgerRecord(
                day=day,
                seq=rec.seq,
                version=rec.version,
                kind=rec.kind,
                account_id=None if rec.account is None else uuid.UUID(rec.account),
                prev_hash=rec.prev_hash,
                body_sha256=rec.body_sha256,
                hash=rec.hash,
                body=body_text,
                sealed_at=now,
            )
        )
    audit(
        session,
        actor,
        "settlement.settle",
        "settlement",
        row.id,
        {"day": day.isoformat(), "version": version, "net_fen": row.net_fen},
    )
    session.flush()
    return SettleOutcome(row, created=True)


def _store(
    session: Session,
    inputs: DayInputs,
    result: DayResult,
    version: int,
    now: datetime,
    actor: Principal | None,
    inputs_sha: str,
    head: str,
) -> Settlement:
    accounts = [uuid.UUID(a) for a in inputs.accounts]
    hours = 24.0 / INTERVALS_PER_DAY
    flagged = sum(int(p.flagged.sum()) for p in result.products)
    rules = {p.product: (p.rule or inputs.rule).describe() for p in inputs.products}
    row = Settlement(
        id=uuid.uuid4(),
        day=inputs.day,
        version=version,
        settled_at=now,
        settled_by=actor.account_id if actor else None,
        rule=json.dumps(rules, sort_keys=True)[:200],
        inputs_sha256=inputs_sha,
        head_hash=head,
        payment_fen=result.pool_payment_fen,
        penalty_fen=result.pool_penalty_fen,
        net_fen=result.pool_net_fen,
        aggregator_fen=result.aggregator_fen,
        enterprises_net_fen=result.enterprises_net_fen,
        flagged=flagged,
    )
    session.add(row)
    session.flush()
    for p in result.products:
        active = np.flatnonzero(p.awarded_kw > 0).tolist()
        session.add_all(
            SettlementInterval(
                settlement_id=row.id,
                product=p.product,
                interval=t,
                side=p.side.value,
                awarded_kw=float(p.awarded_kw[t]),
                price_cny_per_mwh=float(p.price_cny_per_mwh[t]),
                delivered_kw=round(float(p.delivered_kw[t]), 3),
                response_rate=round(float(p.response_rate[t]), 6),
                payment_fen=int(p.payment_fen[t]),
                penalty_fen=int(p.penalty_fen[t]),
            )
            for t in active
        )
        for e, account in enumerate(accounts):
            session.add_all(
                SettlementShare(
                    settlement_id=row.id,
                    account_id=account,
                    product=p.product,
                    interval=t,
                    allocated_kw=round(float(p.allocated_kw[e, t]), 3),
                    response_kw=round(float(p.response_kw[e, t]), 3),
                    flagged=int(p.flagged[e, t]),
                    payment_fen=int(p.payment_share_fen[e, t]),
                    penalty_fen=int(p.penalty_share_fen[e, t]),
                )
                for t in active
            )
            agreement = inputs.agreements[e]
            session.add(
                SettlementStatement(
                    settlement_id=row.id,
                    account_id=account,
                    product=p.product,
                    allocated_kwh=round(float(p.allocated_kw[e].sum()) * hours, 3),
                    response_kwh=round(float(p.response_kw[e].sum()) * hours, 3),
                    positive_mwh=float(p.positive_mwh[e]),
                    flagged=int(p.flagged[e].sum()),
                    ratio_bp=agreement.ratio_bp,
                    fee_fen_per_mwh=agreement.fee_fen_per_mwh,
                    payment_fen=int(p.payment_share_fen[e].sum()),
                    penalty_fen=int(p.penalty_share_fen[e].sum()),
                    gross_fen=int(p.gross_fen[e]),
                    aggregator_fen=int(p.aggregator_fen[e]),
                    net_fen=int(p.net_fen[e]),
                )
            )
    return row


# --- reading -------------------------------------------------------------------------------


def scope(principal: Principal) -> uuid.UUID | None:
    """Whose statement lines the caller may read: an enterprise its own, others all."""
    return principal.account_id if principal.role == "enterprise" else None


def _line(s: SettlementStatement) -> StatementLine:
    return StatementLine(
        account_id=s.account_id,
        product=s.product,
        allocated_kwh=s.allocated_kwh,
        response_kwh=s.response_kwh,
        flagged_intervals=s.flagged,
        payment_cny=cny(s.payment_fen),
        penalty_cny=cny(s.penalty_fen),
        gross_cny=cny(s.gross_fen),
        aggregator_cny=cny(s.aggregator_fen),
        net_cny=cny(s.net_fen),
    )


def _out(row: Settlement, lines: list[SettlementStatement], principal: Principal) -> SettlementOut:
    pool = None
    if principal.role in ("operator", "grid"):
        pool = PoolTotals(
            payment_cny=cny(row.payment_fen),
            penalty_cny=cny(row.penalty_fen),
            net_cny=cny(row.net_fen),
            aggregator_cny=cny(row.aggregator_fen),
            enterprises_net_cny=cny(row.enterprises_net_fen),
            flagged_intervals=row.flagged,
        )
    return SettlementOut(
        id=row.id,
        day=row.day,
        version=row.version,
        settled_at=row.settled_at,
        rule=row.rule,
        inputs_sha256=row.inputs_sha256,
        head_hash=row.head_hash,
        pool=pool,
        lines=[] if principal.role == "grid" else [_line(s) for s in lines],
    )


def _totals(lines: Sequence[SettlementStatement]) -> list[StatementLine]:
    sums: dict[tuple[uuid.UUID, str], list[float]] = {}
    for s in lines:
        acc = sums.setdefault((s.account_id, s.product), [0.0] * 8)
        for i, v in enumerate(
            (
                s.allocated_kwh,
                s.response_kwh,
                s.flagged,
                s.payment_fen,
                s.penalty_fen,
                s.gross_fen,
                s.aggregator_fen,
                s.net_fen,
            )
        ):
            acc[i] += v
    return [
        StatementLine(
            account_id=account,
            product=product,
            allocated_kwh=round(v[0], 3),
            response_kwh=round(v[1], 3),
            flagged_intervals=int(v[2]),
            payment_cny=cny(int(v[3])),
            penalty_cny=cny(int(v[4])),
            gross_cny=cny(int(v[5])),
            aggregator_cny=cny(int(v[6])),
            net_cny=cny(int(v[7])),
        )
        for (account, product), v in sorted(sums.items(), key=lambda kv: (str(kv[0][0]), kv[0][1]))
    ]


def list_settlements(
    session: Session, principal: Principal, first: date, last: date
) -> SettlementList:
    """Latest versions of the days in [first, last] with the caller's lines and totals."""
    rows = repository.latest_settlements(session, first, last)
    lines = repository.statements(session, [r.id for r in rows], scope(principal))
    by_settlement: dict[uuid.UUID, list[SettlementStatement]] = {}
    for s in lines:
        by_settlement.setdefault(s.settlement_id, []).append(s)
    items = [_out(r, by_settlement.get(r.id, []), principal) for r in rows]
    if principal.role == "enterprise":
        items = [i for i in items if i.lines]
    totals = [] if principal.role == "grid" else _totals(lines)
    return SettlementList(items=items, totals=totals)


def get_settlement(
    session: Session, settlement_id: uuid.UUID, principal: Principal
) -> tuple[Settlement, list[SettlementStatement]]:
    """A settlement version the caller may see (an enterprise only one it has lines in)."""
    row = repository.get_settlement(session, settlement_id)
    if row is None:
        raise not_found("settlement")
    lines = repository.statements(session, [row.id], scope(principal))
    if principal.role == "enterprise" and not lines:
        raise not_found("settlement")
    return row, lines


def settlement_out(
    session: Session, settlement_id: uuid.UUID, principal: Principal
) -> SettlementOut:
    row, lines = get_settlement(session, settlement_id, principal)
    return _out(row, lines, principal)


ENTERPRISE_COLUMNS = (
    "record",
    "day",
    "version",
    "account_id",
    "product",
    "interval",
    "interval_start_utc",
    "allocated_kw",
    "response_kw",
    "flagged",
    "payment_cny",
    "penalty_cny",
    "gross_cny",
    "aggregator_cny",
    "net_cny",
)
POOL_COLUMNS = (
    "record",
    "day",
    "version",
    "product",
    "interval",
    "interval_start_utc",
    "awarded_kw",
    "price_cny_per_mwh",
    "delivered_kw",
    "response_rate",
    "payment_cny",
    "penalty_cny",
    "net_cny",
)


def statement_rows(
    session: Session, settlement_id: uuid.UUID, principal: Principal, level: str
) -> tuple[Settlement, tuple[str, ...], list[list[str]]]:
    """The statement as rows: ``interval`` lines, then one ``total`` line per group.

    level ``enterprise``: per enterprise, product and interval (an enterprise: its own);
    ``pool``: per product and interval (operator and grid).
    """
    row, lines = get_settlement(session, settlement_id, principal)
    starts = [ts.isoformat() for ts in interval_starts_utc(row.day)]
    day, version = row.day.isoformat(), str(row.version)
    out: list[list[str]] = []
    if level == "pool":
        if principal.role == "enterprise":
            raise Problem(403, "the pool-level statement is for the operator and the grid")
        intervals = repository.pool_intervals(session, row.id)
        for i in intervals:
            out.append(
                [
                    "interval",
                    day,
                    version,
                    i.product,
                    str(i.interval),
                    starts[i.interval],
                    f"{i.awarded_kw:.3f}",
                    f"{i.price_cny_per_mwh:.2f}",
                    f"{i.delivered_kw:.3f}",
                    f"{i.response_rate:.4f}",
                    cny_text(i.payment_fen),
                    cny_text(i.penalty_fen),
                    cny_text(i.payment_fen - i.penalty_fen),
                ]
            )
        out.append(
            [
                "total",
                day,
                version,
                *[""] * 7,
                cny_text(row.payment_fen),
                cny_text(row.penalty_fen),
                cny_text(row.net_fen),
            ]
        )
        return row, POOL_COLUMNS, out
    if principal.role == "grid":
        raise Problem(403, "the grid reads the pool-level statement (?level=pool)")
    for share in repository.shares(session, row.id, scope(principal)):
        out.append(
            [
                "interval",
                day,
                version,
                str(share.account_id),
                share.product,
                str(share.interval),
                starts[share.interval],
                f"{share.allocated_kw:.3f}",
                f"{share.response_kw:.3f}",
                str(share.flagged),
                cny_text(share.payment_fen),
                cny_text(share.penalty_fen),
                cny_text(share.payment_fen - share.penalty_fen),
                "",
                "",
            ]
        )
    for s in lines:
        out.append(
            [
                "total",
                day,
                version,
                str(s.account_id),
                s.product,
                "",
                "",
                f"{s.allocated_kwh:.3f}",
                f"{s.response_kwh:.3f}",
                str(s.flagged),
                cny_text(s.payment_fen),
                cny_text(s.penalty_fen),
                cny_text(s.gross_fen),
                cny_text(s.aggregator_fen),
                cny_text(s.net_fen),
            ]
        )
    return row, ENTERPRISE_COLUMNS, out


def statement_csv(
    session: Session, settlement_id: uuid.UUID, principal: Principal, level: str
) -> str:
    _, columns, rows = statement_rows(session, settlement_id, principal, level)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return buffer.getvalue()


def statement_html(
    session: Session, settlement_id: uuid.UUID, principal: Principal, level: str
) -> str:
    """A printable statement: the totals first, then every interval (CNY, kW)."""
    row, columns, rows = statement_rows(session, settlement_id, principal, level)
    totals = [r for r in rows if r[0] == "total"]
    intervals = [r for r in rows if r[0] == "interval"]

    def table(items: list[list[str]]) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in columns[1:])
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in r[1:]) + "</tr>" for r in items
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    title = f"Settlement statement {row.day.isoformat()} (version {row.version})"
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>"
        "body{font:12px sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #999;padding:2px 6px;text-align:right}"
        "@media print{h2{page-break-before:always}}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f"<p>Settled {html.escape(row.settled_at.isoformat())}; baseline rule "
        f"{html.escape(row.rule)}; sealed ledger head {html.escape(row.head_hash)}. "
        "Money in CNY, power in kW (15-minute intervals, UTC starts).</p>"
        f"<h2>Totals</h2>{table(totals)}<h2>Intervals</h2>{table(intervals)}</body></html>"
    )


# --- evidence ------------------------------------------------------------------------------


def evidence(session: Session, day: date, principal: Principal) -> dict[str, Any]:
    """The day's sealed chain for the caller: own (enterprise) or pool-level (grid) bodies,
    every record (operator); the rest redacted to their hashes. 404 if nothing is sealed
    for the caller."""
    rows = repository.ledger_of_day(session, day)
    mine = str(principal.account_id) if principal.role == "enterprise" else None
    if not rows or (mine and not any(str(r.account_id) == mine for r in rows)):
        raise not_found("evidence for this day")
    records = []
    for r in rows:
        account = None if r.account_id is None else str(r.account_id)
        visible = (
            principal.role == "operator"
            or (principal.role == "grid" and account is None)
            or (mine is not None and account == mine)
        )
        rec = Record(
            r.seq,
            r.day.isoformat(),
            r.version,
            r.kind,
            account,
            r.prev_hash,
            r.body_sha256,
            r.hash,
            json.loads(r.body),
        )
        records.append(rec.to_json(redact=not visible))
    return {
        "format": FORMAT,
        "day": day.isoformat(),
        "caller": {"role": principal.role, "account_id": str(principal.account_id)},
        "head": rows[-1].hash,
        "verify": "vpp verify FILE",
        "records": records,
    }


# --- agreements ----------------------------------------------------------------------------


def _agreement_out(
    account_id: uuid.UUID, row: AgencyAgreement | None, settings: Settings
) -> AgreementOut:
    if row is None:
        d = default_agreement(settings)
        return AgreementOut(
            account_id=account_id,
            ratio=Decimal(d.ratio_bp) / BASIS_POINTS,
            fee_cny_per_mwh=cny(d.fee_fen_per_mwh),
            default=True,
        )
    return AgreementOut(
        account_id=account_id,
        ratio=Decimal(row.ratio_bp) / BASIS_POINTS,
        fee_cny_per_mwh=cny(row.fee_fen_per_mwh),
        default=False,
        updated_at=row.updated_at,
    )


def list_agreements(
    session: Session, principal: Principal, settings: Settings
) -> list[AgreementOut]:
    """Every enterprise's agreement (operator) or the caller's own (enterprise)."""
    stored = repository.agreements(session)
    if principal.role == "enterprise":
        ids = [principal.account_id]
    else:
        ids = list(
            session.scalars(
                select(Account.id).where(Account.kind == "enterprise").order_by(Account.id)
            )
        )
    return [_agreement_out(a, stored.get(a), settings) for a in ids]


def set_agreement(
    session: Session,
    principal: Principal,
    account_id: uuid.UUID,
    body: AgreementIn,
    now: datetime,
    settings: Settings,
) -> AgreementOut:
    """Store an enterprise's agreement (it applies to days settled from now on)."""
    account = session.get(Account, account_id)
    if account is None or account.kind != "enterprise":
        raise not_found("enterprise account")
    ratio_bp = int(body.ratio * BASIS_POINTS)
    fee = int(body.fee_cny_per_mwh * FEN_PER_CNY)
    row = repository.get_agreement(session, account_id)
    if row is None:
        row = AgencyAgreement(account_id=account_id, ratio_bp=ratio_bp, fee_fen_per_mwh=fee)
        session.add(row)
    row.ratio_bp, row.fee_fen_per_mwh = ratio_bp, fee
    row.updated_at, row.updated_by = now, principal.account_id
    session.flush()
    audit(
        session,
        principal,
        "agreement.set",
        "agreement",
        account_id,
        {"ratio_bp": ratio_bp, "fee_fen_per_mwh": fee},
    )
    return _agreement_out(account_id, row, settings)


def readings_digest_of(rows: Sequence[tuple[datetime, float]]) -> str:
    """What an enterprise compares with its ``readings_sha256``: the digest of its readings
    of the day as ``[[ts ISO 8601 UTC, power_kw], ...]`` in time order (canonical JSON)."""
    return _readings_digest(rows)
