"""The bid life cycle: drafts from the optimiser, edits, approval, submission, awards.

Services never commit; the route or job owning the unit of work does. Submission and
award fetching talk to the market, so they come as a *prepare* step (database, in the
caller's thread), the market call (awaited by the caller), and a *record* step.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from vpp.assets import repository as assets_repository
from vpp.assets.repository import AssetRef
from vpp.bidding import repository
from vpp.bidding.planner import PlannedBid, PoolAsset, plan_bids
from vpp.bidding.registry import pack_of
from vpp.bidding.schemas import (
    EDITABLE,
    AssetParticipation,
    BidEdit,
    BidState,
    MarketOut,
    Participation,
)
from vpp.domain.assets import flexibility_of, parse_params
from vpp.domain.market import (
    Bid,
    BidStep,
    Clearing,
    IntervalOffer,
    MarketOutlook,
    Receipt,
    RuleViolation,
)
from vpp.domain.time import market_day_of
from vpp.domain.units import Direction, FloatArray
from vpp.forecast.flexibility import pooled_bands
from vpp.forecasts.service import outlooks_of
from vpp.kit.audit import audit
from vpp.kit.auth import Principal
from vpp.kit.bulk import bulk_insert
from vpp.kit.compute import current
from vpp.kit.errors import Problem, not_found
from vpp.models import AwardRow, BidRow, PoolOutlookRow
from vpp.optimize.blocks import BlockMap
from vpp.ports import MarketPack

QUANTITY_TOLERANCE_KW = 1e-6


# --- conversions -------------------------------------------------------------------------------


def ladder_json(offers: Sequence[IntervalOffer]) -> list[dict[str, object]]:
    return [
        {
            "interval": offer.interval,
            "steps": [
                {"price_cny_per_mwh": s.price_cny_per_mwh, "quantity_kw": s.quantity_kw}
                for s in offer.steps
            ],
        }
        for offer in offers
    ]


def ladder_of(raw: Sequence[Mapping[str, object]]) -> tuple[IntervalOffer, ...]:
    return tuple(
        IntervalOffer(
            interval=int(entry["interval"]),  # type: ignore[call-overload]
            steps=tuple(
                BidStep(float(s["price_cny_per_mwh"]), float(s["quantity_kw"]))
                for s in entry["steps"]  # type: ignore[attr-defined]
            ),
        )
        for entry in raw
    )


def bid_of(row: BidRow, participant: str, now: datetime | None = None) -> Bid:
    """The domain bid a row stands for, as the market receives it."""
    return Bid(
        product=row.product,
        day=row.day,
        participant=participant,
        side=Direction(row.side),
        intervals=ladder_of(row.ladder),
        submitted_at=now,
    )


def offered_kwh(offers: Sequence[IntervalOffer], interval_hours: float) -> float:
    return sum(o.quantity_kw for o in offers) * interval_hours


def violations_problem(violations: Sequence[RuleViolation], what: str) -> Problem:
    """422 naming every rule a bid breaks."""
    first = violations[0]
    return Problem(
        422,
        f"{what} breaks {len(violations)} market rule(s); first: {first.field}: {first.message}",
        slug="validation",
        errors=[{"field": v.field, "rule": v.rule, "message": v.message} for v in violations],
    )


# --- reading -----------------------------------------------------------------------------------


def get_bid(session: Session, bid_id: uuid.UUID, *, lock: bool = False) -> BidRow:
    row = repository.get_bid(session, bid_id, lock=lock)
    if row is None:
        raise not_found("bid")
    return row


def markets(packs: Mapping[str, MarketPack], now: datetime) -> list[MarketOut]:
    tomorrow = date.fromordinal(market_day_of(now).toordinal() + 1)
    out = []
    for product in sorted(packs):
        pack = packs[product]
        limits = pack.limits()
        described = pack.describe()
        out.append(
            MarketOut(
                product=product,
                version=pack.version,
                side=limits.side.value,
                intervals_per_day=limits.intervals_per_day,
                gate_closure_for_tomorrow=pack.gate_closure(tomorrow),
                rules=described.get("rules", {}),
            )
        )
    return out


def participation(session: Session, principal: Principal, day: date) -> Participation:
    """Per asset and product: what of its flexibility was offered and awarded (kWh)."""
    scope = None if principal.role == "operator" else principal.account_id
    grouped: dict[tuple[uuid.UUID, uuid.UUID], tuple[BidRow, dict[int, tuple[float, float]]]] = {}
    for alloc, bid in repository.participation_rows(session, day, scope):
        entry = grouped.setdefault((alloc.asset_id, bid.id), (bid, {}))
        entry[1][alloc.interval] = (alloc.offered_kw, alloc.awarded_kw)
    items = []
    for (asset_id, _), (bid, by_interval) in grouped.items():
        n = max(len(bid.ladder), 1)
        hours = 24.0 / n
        offered = [by_interval.get(i, (0.0, 0.0))[0] for i in range(n)]
        awarded = [by_interval.get(i, (0.0, 0.0))[1] for i in range(n)]
        items.append(
            AssetParticipation(
                asset_id=asset_id,
                product=bid.product,
                bid_id=bid.id,
                bid_state=BidState(bid.state),
                offered_kwh=round(sum(offered) * hours, 3),
                awarded_kwh=round(sum(awarded) * hours, 3),
                offered_kw=[round(v, 3) for v in offered],
                awarded_kw=[round(v, 3) for v in awarded],
            )
        )
    return Participation(day=day, items=items)


# --- drafting ----------------------------------------------------------------------------------


ERROR_CORRELATION = 0.5
"""Assumed correlation of forecast errors between any two assets of the park (same weather,
same calendar, same production orders); an assumption until it is estimated from the
forecasts' residuals. 1 would sum the assets' bands as they are."""


def pool_assets(
    session: Session,
    day: date,
    risk_quantile: float,
    correlation: float = ERROR_CORRELATION,
    blocks: BlockMap | None = None,
) -> list[PoolAsset]:
    """Every active asset with its forecast deviation bounds at the risk setting (the
    cautious setting at the pool's P10-P90, `pooled_bands`). The forecasts fan out over
    ``blocks`` (None: the process's engine, ``vpp.kit.compute``)."""
    assets = assets_repository.active_assets(session)
    return _forecast_pool(session, assets, day, risk_quantile, correlation, blocks)


def _forecast_pool(
    session: Session,
    assets: Sequence[AssetRef],
    day: date,
    risk_quantile: float,
    correlation: float,
    blocks: BlockMap | None,
) -> list[PoolAsset]:
    """`pool_assets` of the given ``assets`` (their bands pooled among themselves)."""
    if not assets:
        return []
    outlooks = outlooks_of(session, assets, day, blocks)
    bands = [o.band(risk_quantile) for o in outlooks]
    low, high = pooled_bands(
        np.stack([o.median_kw for o in outlooks]),
        np.stack([b[0] for b in bands]),
        np.stack([b[1] for b in bands]),
        correlation,
    )
    pool = []
    for i, (asset, outlook) in enumerate(zip(assets, outlooks, strict=True)):
        lo, hi = outlook.bounds_within(low[i], high[i])
        pool.append(
            PoolAsset(
                asset_id=asset.id,
                account_id=asset.account_id,
                params=outlook.params,
                battery=outlook.battery,
                lo_kw=lo,
                hi_kw=hi,
                baseline_kw=outlook.median_kw,
            )
        )
    return pool


_POOL_OUTLOOK_COLUMNS = (
    "day", "risk_quantile", "asset_id", "account_id", "baseline_kw", "lo_kw", "hi_kw",
    "created_at",
)  # fmt: skip


def _blob(values: FloatArray) -> bytes:
    return np.ascontiguousarray(values, dtype="<f8").tobytes()


def _array(blob: bytes) -> FloatArray:
    return np.frombuffer(blob, dtype="<f8").astype(np.float64)


def store_pool(
    session: Session, day: date, risk_quantile: float, pool: Sequence[PoolAsset], now: datetime
) -> None:
    """Keep the pool's baselines and deviation bounds (kW per interval) the day's bids are
    built on (`PoolOutlookRow`), replacing any stored for ``day`` at any risk setting:
    new drafts supersede the bids the old ones backed. Not committed."""
    session.execute(delete(PoolOutlookRow).where(PoolOutlookRow.day == day))
    if not pool:
        return
    # one COPY on PostgreSQL (10,000 assets: 0.52 s as an executemany of INSERTs)
    bulk_insert(
        session,
        PoolOutlookRow.__table__,  # type: ignore[arg-type]
        _POOL_OUTLOOK_COLUMNS,
        [
            (
                day, risk_quantile, a.asset_id, a.account_id,
                _blob(a.baseline_kw), _blob(a.lo_kw), _blob(a.hi_kw), now,
            )
            for a in pool
        ],
    )  # fmt: skip


def planning_pool(
    session: Session,
    day: date,
    risk_quantile: float,
    correlation: float = ERROR_CORRELATION,
    blocks: BlockMap | None = None,
) -> list[PoolAsset]:
    """The pool as the day's bids saw it: every active asset with the baseline and bounds
    stored when the bids were drafted at ``risk_quantile`` (`store_pool`), in
    `pool_assets` order, so the plan splits the awards on the baselines the offers relied
    on and the pool is forecast once per day and risk setting. Assets without a stored
    outlook (enrolled after drafting, or no drafts yet) are forecast now, their bands
    pooled among themselves."""
    assets = assets_repository.active_assets(session)
    stored = {
        row.asset_id: row
        for row in session.execute(
            select(
                PoolOutlookRow.asset_id,
                PoolOutlookRow.baseline_kw,
                PoolOutlookRow.lo_kw,
                PoolOutlookRow.hi_kw,
            ).where(PoolOutlookRow.day == day, PoolOutlookRow.risk_quantile == risk_quantile)
        )
    }
    missing = [a for a in assets if a.id not in stored]
    fresh = {
        p.asset_id: p
        for p in _forecast_pool(session, missing, day, risk_quantile, correlation, blocks)
    }
    pool = []
    for asset in assets:
        if asset.id in fresh:
            pool.append(fresh[asset.id])
            continue
        row = stored[asset.id]
        params = parse_params(asset.kind, asset.params)
        pool.append(
            PoolAsset(
                asset_id=asset.id,
                account_id=asset.account_id,
                params=params,
                battery=flexibility_of(params),
                lo_kw=_array(row.lo_kw),
                hi_kw=_array(row.hi_kw),
                baseline_kw=_array(row.baseline_kw),
            )
        )
    return pool


def create_drafts(
    session: Session,
    packs: Mapping[str, MarketPack],
    outlooks: Mapping[str, MarketOutlook],
    day: date,
    risk_quantile: float,
    now: datetime,
    principal: Principal | None,
    energy_price_cny_per_mwh: np.ndarray | None = None,
    *,
    blocks: BlockMap | None = None,
    assets: Sequence[PoolAsset] | None = None,
) -> list[BidRow]:
    """Optimise the pool's firm schedules and offers for ``day``; store one draft per product.

    ``blocks``: where forecasts and the per-asset LPs fan out (None: the process's engine,
    ``vpp.kit.compute``); ``assets``: the pool's forecasts if the caller made them
    already (`pool_assets` at this ``risk_quantile``). The pool's forecasts are kept
    (`store_pool`) for the day's plan (`planning_pool`).

    Earlier drafts and approved bids of the day are superseded (the new firm schedules
    replace the ones they relied on); once any bid of the day was submitted, drafting is
    refused (409): the market holds it.
    """
    for product in outlooks:
        pack = pack_of(packs, product)
        if now >= pack.gate_closure(day):
            raise Problem(
                409,
                f"gate closure for {product} on {day} passed at "
                f"{pack.gate_closure(day).isoformat()}",
                slug="conflict",
                errors=[{"field": "day", "rule": "gate_closure", "message": "gate closed"}],
            )
    committed = repository.any_committed_bid(session, day)
    if committed is not None:
        # The firm schedules back every bid of the day: once the market holds one, the
        # day's plan is fixed.
        raise Problem(
            409,
            f"{day} already has a {committed.state} bid {committed.id} ({committed.product}); "
            "the day's plan is committed",
            slug="conflict",
        )
    engine = current() if blocks is None else blocks
    if assets is None:
        assets = pool_assets(session, day, risk_quantile, blocks=engine)
    store_pool(session, day, risk_quantile, assets, now)
    plan = plan_bids(
        assets,
        {p: packs[p] for p in outlooks},
        outlooks,
        energy_price_cny_per_mwh=energy_price_cny_per_mwh,
        risk_quantile=risk_quantile,
        blocks=engine,
    )
    for live in repository.live_bids_of_day(session, day):
        live.state = BidState.SUPERSEDED.value
        live.updated_at = now
    repository.replace_firm_schedules(
        session,
        day,
        [a.asset_id for a in assets],
        [a.account_id for a in assets],
        plan.firm_kw,
        np.abs(plan.firm_kw) > QUANTITY_TOLERANCE_KW,
    )
    return [
        _store_draft(session, packs[bid.product], bid, assets, day, risk_quantile, now, principal)
        for bid in plan.bids
    ]


def _store_draft(
    session: Session,
    pack: MarketPack,
    plan: PlannedBid,
    assets: Sequence[PoolAsset],
    day: date,
    risk_quantile: float,
    now: datetime,
    principal: Principal | None,
) -> BidRow:
    limits = pack.limits()
    row = BidRow(
        product=plan.product,
        pack_version=pack.version,
        day=day,
        side=limits.side.value,
        state=BidState.DRAFT.value,
        revision=1,
        risk_quantile=risk_quantile,
        ladder=ladder_json(plan.ladder),
        offered_kwh=round(offered_kwh(plan.ladder, 24.0 / limits.intervals_per_day), 3),
        expected_revenue_cny=round(plan.expected_revenue_cny, 2),
        submission_key=uuid.uuid4(),
        detail=plan.detail,
        created_by=principal.account_id if principal else None,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    capacity = plan.allocation_kw
    box = capacity.sum(axis=0)
    ladder_total = np.zeros_like(box)
    for offer in plan.ladder:
        ladder_total[offer.interval] = offer.quantity_kw
    share = np.divide(ladder_total, box, out=np.zeros_like(box), where=box > 0).clip(0.0, 1.0)
    repository.add_allocations(
        session,
        row.id,
        [a.asset_id for a in assets],
        [a.account_id for a in assets],
        capacity,
        capacity * share[None, :],
        capacity > QUANTITY_TOLERANCE_KW,
    )
    audit(
        session,
        principal,
        "bid.draft",
        "bid",
        row.id,
        {"product": row.product, "day": day.isoformat(), "offered_kwh": row.offered_kwh},
    )
    return row


# --- editing and approval ----------------------------------------------------------------------


def _editable(row: BidRow, revision: int | None = None) -> None:
    if BidState(row.state) not in EDITABLE:
        raise Problem(409, f"bid {row.id} is {row.state}; only drafts and approved bids change")
    if revision is not None and revision != row.revision:
        raise Problem(
            409,
            f"bid {row.id} is at revision {row.revision}, the edit was based on {revision}",
            slug="conflict",
            errors=[{"field": "revision", "rule": "current_revision", "message": "stale"}],
        )


def edit_bid(
    session: Session,
    principal: Principal,
    packs: Mapping[str, MarketPack],
    bid_id: uuid.UUID,
    body: BidEdit,
    now: datetime,
    participant: str,
) -> BidRow:
    """Replace a bid's ladder. The new ladder must pass its pack and stay within what the
    fleet can deliver: per interval at most what the assets' capacities add up to (the
    optimiser's robust box); each asset then offers the same share of its capacity. An
    edit voids an approval."""
    row = get_bid(session, bid_id, lock=True)
    _editable(row, body.revision)
    pack = pack_of(packs, row.product)
    offers = tuple(
        IntervalOffer(
            interval=i.interval,
            steps=tuple(BidStep(s.price_cny_per_mwh, s.quantity_kw) for s in i.steps),
        )
        for i in body.intervals
    )
    candidate = Bid(row.product, row.day, participant, Direction(row.side), offers, now)
    violations = pack.validate(candidate, now)
    capacity_of = repository.capacity_by_interval(session, row.id)
    for offer in offers:
        limit = capacity_of.get(offer.interval, 0.0)
        if offer.quantity_kw > limit + QUANTITY_TOLERANCE_KW:
            violations.append(
                RuleViolation(
                    "fleet_feasibility",
                    f"intervals[{offer.interval}]",
                    f"{offer.quantity_kw:.1f} kW offered but the fleet can deliver at most "
                    f"{limit:.1f} kW in interval {offer.interval} within every asset's limits",
                )
            )
    if violations:
        raise violations_problem(violations, "the edited bid")
    _offer_shares(session, row.id, offers, capacity_of)
    row.ladder = ladder_json(offers)
    row.offered_kwh = round(offered_kwh(offers, 24.0 / pack.limits().intervals_per_day), 3)
    row.revision += 1
    row.state = BidState.DRAFT.value
    row.approved_at = None
    row.approved_by = None
    row.updated_at = now
    audit(session, principal, "bid.edit", "bid", row.id, {"revision": row.revision})
    return row


def _offer_shares(
    session: Session,
    bid_id: uuid.UUID,
    offers: Sequence[IntervalOffer],
    capacity_of: Mapping[int, float],
) -> None:
    for offer in offers:
        box = capacity_of.get(offer.interval, 0.0)
        if box > 0:
            share = min(offer.quantity_kw / box, 1.0)
            repository.set_offered(session, bid_id, offer.interval, share)


def approve_bid(
    session: Session,
    principal: Principal | None,
    packs: Mapping[str, MarketPack],
    bid_id: uuid.UUID,
    now: datetime,
    participant: str,
) -> BidRow:
    """Approve a draft for submission; it must pass its pack at ``now`` (gate included)."""
    row = get_bid(session, bid_id, lock=True)
    if row.state == BidState.APPROVED.value:
        return row
    _editable(row)
    violations = pack_of(packs, row.product).validate(bid_of(row, participant, now), now)
    if violations:
        raise violations_problem(violations, "the bid")
    row.state = BidState.APPROVED.value
    row.approved_at = now
    row.approved_by = principal.account_id if principal else None
    row.updated_at = now
    audit(session, principal, "bid.approve", "bid", row.id, {"revision": row.revision})
    return row


# --- submission and awards ---------------------------------------------------------------------


@dataclass(frozen=True)
class Submission:
    """What to send: the bid and the key that makes sending it twice harmless."""

    bid_id: uuid.UUID
    bid: Bid
    key: str


def prepare_submission(
    session: Session,
    packs: Mapping[str, MarketPack],
    bid_id: uuid.UUID,
    now: datetime,
    participant: str,
) -> Submission | None:
    """The submission of an approved bid; None if it was already submitted (the stored
    receipt stands). Drafts must be approved first (409)."""
    row = get_bid(session, bid_id)
    if row.receipt is not None:
        return None
    if row.state != BidState.APPROVED.value:
        raise Problem(409, f"bid {row.id} is {row.state}; approve it before submitting")
    bid = bid_of(row, participant, now)
    violations = pack_of(packs, row.product).validate(bid, now)
    if violations:
        raise violations_problem(violations, "the bid")
    return Submission(row.id, bid, str(row.submission_key))


def record_receipt(
    session: Session, principal: Principal | None, bid_id: uuid.UUID, receipt: Receipt
) -> BidRow:
    """Store the market's receipt once; a second receipt for the same bid is ignored."""
    row = get_bid(session, bid_id, lock=True)
    if row.receipt is not None:
        return row
    row.receipt = {
        "receipt_id": receipt.receipt_id,
        "received_at": receipt.received_at.isoformat(),
        "accepted": receipt.accepted,
        "violations": [
            {"rule": v.rule, "field": v.field, "message": v.message} for v in receipt.violations
        ],
    }
    row.state = (BidState.SUBMITTED if receipt.accepted else BidState.REJECTED).value
    row.submitted_at = receipt.received_at
    row.updated_at = receipt.received_at
    if not receipt.accepted:
        row.detail = "; ".join(f"{v.rule}: {v.message}" for v in receipt.violations)[:1000]
    audit(
        session,
        principal,
        "bid.submit",
        "bid",
        row.id,
        {"receipt_id": receipt.receipt_id, "accepted": receipt.accepted},
    )
    return row


def record_clearing(
    session: Session, bid_id: uuid.UUID, clearing: Clearing, now: datetime
) -> BidRow:
    """Store the bid's awards and each asset's share of them.

    Every asset gets the same fraction of its offer as the pool got of its bid in that
    interval; the offers are robust boxes, so any fraction is deliverable.
    """
    row = get_bid(session, bid_id, lock=True)
    by_interval: dict[int, float] = {}
    awards = []
    for award in clearing.awards:
        if award.quantity_kw <= QUANTITY_TOLERANCE_KW:
            continue
        by_interval[award.interval] = by_interval.get(award.interval, 0.0) + award.quantity_kw
        clearing_price = clearing.clearing_price_cny_per_mwh[award.interval]
        awards.append(
            AwardRow(
                bid_id=row.id,
                product=row.product,
                day=row.day,
                side=row.side,
                interval=award.interval,
                quantity_kw=award.quantity_kw,
                price_cny_per_mwh=award.price_cny_per_mwh,
                clearing_price_cny_per_mwh=None if math.isnan(clearing_price) else clearing_price,
                fetched_at=now,
            )
        )
    repository.replace_awards(session, row.id, awards)
    for interval, box in repository.capacity_by_interval(session, row.id).items():
        if box > 0:
            share = min(by_interval.get(interval, 0.0) / box, 1.0)
            repository.set_awarded(session, row.id, interval, share)
    hours = 24.0 / max(len(row.ladder), 1)
    row.awarded_kwh = round(sum(by_interval.values()) * hours, 3)
    row.state = (BidState.AWARDED if by_interval else BidState.NOT_AWARDED).value
    row.updated_at = now
    audit(session, None, "bid.awards", "bid", row.id, {"awarded_kwh": row.awarded_kwh})
    return row
