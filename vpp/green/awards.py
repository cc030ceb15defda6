"""Green-power awards become green-power records: contracts and certificates per enterprise.

Called when a bid's awards are stored (`vpp.bidding.workflow.fetch_awards`), in the same
transaction: for a bid of a ``green_power.*`` product on the buying side (the pool buys
wind/solar energy with its GECs), each enterprise whose assets the bid allocated gets its
awarded share as green contracts (``source = "award"``, one per run of equal hourly power
and delivery day) and the whole GECs its month's awarded energy carries, by the rules of
`vpp.green.core.awards`. The month's green report then counts them like any contract
(matched in time with consumption, capped by the certificates), without manual entry.

Selling on-site PV surplus (the ``.sell`` products) records nothing here: the GECs of the
exported energy move to the buyer, and the green ledger already counts only PV consumed
on site.

Idempotent: contract references name the bid, the enterprise and the run's start, and GEC
ids are deterministic per enterprise, month and sequence, so storing the same awards again
creates nothing. Runs already recorded are kept as they were (the market's awards of a bid
are final once fetched); the caller commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol, runtime_checkable

from sqlalchemy.orm import Session

from vpp.domain.time import day_bounds_utc
from vpp.domain.units import Direction
from vpp.green import repository
from vpp.green.core.awards import award_gec_id, certificates_due, delivery_runs
from vpp.green.core.certificates import KWH_PER_CERTIFICATE, default_valid_until, next_month
from vpp.kit.audit import audit
from vpp.models import BidRow, GreenCertificate, GreenContract
from vpp.ports import MarketPack

GREEN_FAMILY = "green_power."
SOURCE = "award"


@runtime_checkable
class DeliversOnDays(Protocol):
    """A pack whose award for a market day is delivered on several days (monthly products)."""

    def delivery_days(self, day: date) -> list[date]: ...


@dataclass(frozen=True)
class AwardRecords:
    """What storing a bid's green-power awards created."""

    contracts: int
    certificates: int


def is_green_purchase(product: str, pack: MarketPack) -> bool:
    """A ``green_power.*`` product on the buying side (UP: the pool buys green power)."""
    return product.startswith(GREEN_FAMILY) and pack.limits().side == Direction.UP


def reference_prefix(bid_id: uuid.UUID) -> str:
    return f"{SOURCE}:{bid_id}:"


def record_green_awards(
    session: Session, packs: Mapping[str, MarketPack], bid: BidRow, now: datetime
) -> AwardRecords:
    """Turn a stored green-power purchase's awards into contracts and GECs (module
    docstring); any other bid records nothing. Returns what was created."""
    pack = packs.get(bid.product)
    if pack is None or not is_green_purchase(bid.product, pack):
        return AwardRecords(0, 0)
    intervals_per_day = pack.limits().intervals_per_day
    profiles: dict[uuid.UUID, list[float]] = {}
    for account_id, interval, kw in repository.awarded_by_account(session, bid.id):
        if 0 <= interval < intervals_per_day:
            profiles.setdefault(account_id, [0.0] * intervals_per_day)[interval] += kw
    days = pack.delivery_days(bid.day) if isinstance(pack, DeliversOnDays) else [bid.day]
    runs = delivery_runs(profiles, days, intervals_per_day)
    prefix = reference_prefix(bid.id)
    existing = repository.contract_references(session, prefix)
    # the last new contract of each enterprise and delivery month carries its new GECs
    new_contracts: dict[tuple[uuid.UUID, date], GreenContract] = {}
    created = 0
    for run in runs:
        reference = f"{prefix}{run.owner}:{run.start:%Y%m%dT%H%MZ}"
        if reference in existing:
            continue
        assert isinstance(run.owner, uuid.UUID)
        contract = GreenContract(
            account_id=run.owner,
            reference=reference,
            source=SOURCE,
            delivery_start=run.start,
            delivery_end=run.end,
            energy_kwh=run.energy_kwh,
            created_by=None,
            created_at=now,
        )
        session.add(contract)
        created += 1
        new_contracts[(run.owner, run.day.replace(day=1))] = contract
    session.flush()
    certificates = 0
    for (account_id, month), contract in sorted(new_contracts.items(), key=lambda kv: str(kv[0])):
        certificates += _certify_month(session, account_id, month, contract, now)
    if created:
        audit(
            session,
            None,
            "green.awards.record",
            "bid",
            bid.id,
            {"contracts": created, "certificates": certificates},
        )
    return AwardRecords(created, certificates)


def _certify_month(
    session: Session, account_id: uuid.UUID, month: date, contract: GreenContract, now: datetime
) -> int:
    """Issue the GECs the enterprise's awarded energy of ``month`` carries and it does not
    hold yet, attached to ``contract``; return how many."""
    start, end = day_bounds_utc(month)[0], day_bounds_utc(next_month(month))[0]
    due = certificates_due(repository.award_energy_kwh(session, account_id, start, end))
    held = repository.award_certificate_count(session, account_id, month)
    if due <= held:
        return 0
    session.add_all(
        GreenCertificate(
            gec_id=award_gec_id(str(account_id), month, sequence),
            account_id=account_id,
            contract_id=contract.id,
            production_month=month,
            valid_until=default_valid_until(month),
            energy_kwh=KWH_PER_CERTIFICATE,
            created_at=now,
        )
        for sequence in range(held + 1, due + 1)
    )
    session.flush()
    return due - held


__all__ = ["AwardRecords", "is_green_purchase", "record_green_awards", "reference_prefix"]
