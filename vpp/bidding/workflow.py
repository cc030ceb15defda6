"""The bid workflow across the database and the market: draft, submit, fetch awards.

Used by the routes and by the scheduler's jobs alike. Database work runs in worker
threads (the sessions are synchronous); market calls are awaited in between, never
inside a transaction that holds locks.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Mapping, Sequence
from datetime import date, datetime
from typing import Protocol, TypeVar

from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from vpp.bidding import repository, service
from vpp.bidding.registry import pack_of
from vpp.bidding.schemas import BidState, DraftRequest
from vpp.config import Settings
from vpp.domain.market import Clearing, MarketOutlook
from vpp.green.awards import record_green_awards
from vpp.kit.auth import Principal
from vpp.kit.errors import Problem
from vpp.models import BidRow
from vpp.ports import Clock, MarketClient, MarketPack

T = TypeVar("T")


class MarketState(Protocol):
    """What the workflow needs of the application (``app.state`` satisfies it, and so can
    any object with these attributes: the CLI, benchmarks, tests)."""

    settings: Settings
    clock: Clock
    packs: Mapping[str, MarketPack]
    market: MarketClient
    participant: str


async def _market(call: Awaitable[T], what: str) -> T:
    """Await a market call; a market that fails or refuses becomes a 502 problem naming
    it (nothing was stored: callers make market calls outside their transactions)."""
    try:
        return await call
    except Problem:
        raise
    except Exception as exc:  # the port's implementations raise their own error trees
        raise Problem(
            502, f"the market failed to answer {what}: {type(exc).__name__}: {exc}", slug="market"
        ) from exc


async def outlooks(
    state: MarketState, products: Sequence[str], day: date
) -> dict[str, MarketOutlook]:
    for product in products:
        pack_of(state.packs, product)  # 422 for an unknown product before any market call
    return {
        product: await _market(state.market.outlook(product, day), f"the {product} outlook")
        for product in products
    }


async def draft(
    state: MarketState, session: Session, body: DraftRequest, principal: Principal | None
) -> list[BidRow]:
    """Draft one bid per product for ``body.day`` in ``session`` (not committed)."""
    products = body.products or state.settings.bidding_products
    published = await outlooks(state, products, body.day)
    return await run_in_threadpool(
        service.create_drafts,
        session,
        state.packs,
        published,
        body.day,
        body.risk_quantile,
        state.clock.now(),
        principal,
    )


async def submit(
    state: MarketState, session: Session, bid_id: uuid.UUID, principal: Principal | None
) -> BidRow:
    """Submit an approved bid exactly once and commit its receipt.

    The market call carries the bid's fixed submission key: if the process dies after
    the market accepted but before the receipt was stored, the next attempt gets the
    first receipt back instead of a second submission.
    """
    now = state.clock.now()
    submission = await run_in_threadpool(
        service.prepare_submission, session, state.packs, bid_id, now, state.participant
    )
    if submission is None:
        return await run_in_threadpool(service.get_bid, session, bid_id)
    await run_in_threadpool(session.rollback)  # hold no transaction across the market call
    receipt = await _market(
        state.market.submit(submission.bid, submission.key), f"the submission of bid {bid_id}"
    )

    def record() -> BidRow:
        row = service.record_receipt(session, principal, bid_id, receipt)
        session.commit()
        return row

    return await run_in_threadpool(record)


async def fetch_awards(
    state: MarketState, factory: sessionmaker[Session], day: date
) -> list[BidRow]:
    """Fetch and store the awards of every submitted bid of ``day`` the market cleared.

    A green-power purchase's awards also become the enterprises' green contracts and
    certificates in the same transaction (`vpp.green.awards`)."""

    def submitted() -> list[tuple[uuid.UUID, str]]:
        with factory() as session:
            rows = repository.list_bids(
                session, None, 1000, day=day, states=[BidState.SUBMITTED.value]
            )
            return [(row.id, row.product) for row in rows]

    updated = []
    for bid_id, product in await run_in_threadpool(submitted):
        cleared = await _market(state.market.clearing(product, day), f"the {product} clearing")
        if cleared is None:
            continue

        now = state.clock.now()
        updated.append(
            await run_in_threadpool(_record_clearing, factory, state.packs, bid_id, cleared, now)
        )
    return updated


def _record_clearing(
    factory: sessionmaker[Session],
    packs: Mapping[str, MarketPack],
    bid_id: uuid.UUID,
    clearing: Clearing,
    now: datetime,
) -> BidRow:
    with factory() as session:
        row = service.record_clearing(session, bid_id, clearing, now)
        record_green_awards(session, packs, row, now)
        session.commit()
        return row
