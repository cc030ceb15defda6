"""Demo data of the energy-carbon ledger: daily meter readings of the other carriers and a
green-power contract with its certificates, for the simulated park."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from vpp.domain.time import day_bounds_utc, market_day_of
from vpp.green import repository
from vpp.green.core.carriers import CANONICAL_UNIT, Carrier
from vpp.green.core.certificates import KWH_PER_CERTIFICATE, default_valid_until, next_month
from vpp.models import Account, GreenCertificate, GreenContract, Site
from vpp.models.base import utcnow

PROJECT_CODE = "62070200000000001"
"""17-character project filing code of the demo's (fictitious) wind farm ([C17d])."""


def _daily(index: int, name: str) -> dict[Carrier, float]:
    """Daily quantities (canonical units) an enterprise of the demo meters."""
    out = {Carrier.WATER: 20.0 + 5.0 * index}
    if "Hydrogen" in name:
        out[Carrier.HYDROGEN] = 300.0
    if index % 2 == 1:
        out[Carrier.NATURAL_GAS] = 1500.0 + 100.0 * index
    if index % 3 == 0:
        out[Carrier.HEAT] = 40.0
    if index % 4 == 1:
        out[Carrier.STEAM] = 8.0
    return out


def seed_green(session: Session, enterprises: Sequence[Account], days: int) -> None:
    """Daily readings for the last ``days`` days at each enterprise's first site, and
    200 MWh of green power with 200 GECs for the first enterprise this month."""
    today = market_day_of(utcnow())
    rows = []
    for index, account in enumerate(enterprises):
        site = (
            session.execute(
                select(Site).where(Site.account_id == account.id).order_by(Site.created_at)
            )
            .scalars()
            .first()
        )
        if site is None:
            continue
        for carrier, quantity in _daily(index, account.name).items():
            for back in range(days, 0, -1):
                ts = day_bounds_utc(today - timedelta(days=back))[0]
                unit = CANONICAL_UNIT[carrier]
                rows.append(
                    {
                        "site_id": site.id,
                        "commodity": carrier.value,
                        "ts": ts,
                        "account_id": account.id,
                        "quantity": quantity,
                        "unit": unit,
                        "reported_quantity": quantity,
                        "reported_unit": unit,
                    }
                )
    repository.insert_readings(session, rows)
    if not enterprises:
        return
    month = today.replace(day=1)
    contract = GreenContract(
        account_id=enterprises[0].id,
        reference=f"GP-DEMO-{month:%Y%m}",
        source="manual",
        delivery_start=day_bounds_utc(month)[0],
        delivery_end=day_bounds_utc(next_month(month))[0],
        energy_kwh=200 * KWH_PER_CERTIFICATE,
    )
    session.add(contract)
    session.flush()
    session.add_all(
        GreenCertificate(
            gec_id=f"{PROJECT_CODE}{month:%Y%m}{serial:09d}",
            account_id=enterprises[0].id,
            contract_id=contract.id,
            production_month=month,
            valid_until=default_valid_until(month),
            energy_kwh=KWH_PER_CERTIFICATE,
        )
        for serial in range(1, 201)
    )
    session.flush()
