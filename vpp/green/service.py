"""Meter readings, green-power contracts and certificates, and the month's energy-carbon
report of each enterprise and of the park (JSON and CSV)."""

from __future__ import annotations

import csv
import io
import math
import uuid
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from vpp.config import Settings
from vpp.domain.time import INTERVAL_HOURS, day_bounds_utc
from vpp.green import repository
from vpp.green.core.carriers import (
    CANONICAL_UNIT,
    Carrier,
    ElectricityBasis,
    FactorSet,
)
from vpp.green.core.certificates import (
    KWH_PER_CERTIFICATE,
    Certificate,
    allocate,
    default_valid_until,
    next_month,
)
from vpp.green.core.ledger import ParkReport, ScopeLedger, Targets, build_report
from vpp.green.core.matching import GreenTotals, Resolution, flat_profile, match_periods, totals
from vpp.green.schemas import (
    CarrierOut,
    ClaimResult,
    ContractCreate,
    ContractOut,
    FactorsOut,
    MatchingOut,
    MeterBatch,
    MeterIngestResult,
    ReportOut,
    ScopeOut,
    ShiftingOut,
    TargetsOut,
    parse_month,
)
from vpp.kit.audit import audit
from vpp.kit.auth import Principal
from vpp.kit.errors import Problem, field_error
from vpp.models import GreenCertificate, GreenContract


def ingest_readings(session: Session, principal: Principal, batch: MeterBatch) -> MeterIngestResult:
    """Store a batch all or nothing; a reading of a site that is not the caller's is refused
    (404, naming its index); repeated (site, commodity, ts) are stored once."""
    first_index: dict[uuid.UUID, int] = {}
    for index, reading in enumerate(batch.readings):
        first_index.setdefault(reading.site_id, index)
    own = repository.own_site_ids(session, principal.account_id, first_index)
    unknown = [i for site_id, i in first_index.items() if site_id not in own]
    if unknown:
        index = min(unknown)
        raise field_error(
            f"readings[{index}].site_id",
            "site_exists",
            f"no active site {batch.readings[index].site_id} of yours",
            status=404,
        )
    rows = [
        {
            "site_id": r.site_id,
            "commodity": r.commodity.value,
            "ts": r.ts,
            "account_id": principal.account_id,
            "quantity": r.canonical_quantity,
            "unit": CANONICAL_UNIT[r.commodity],
            "reported_quantity": r.quantity,
            "reported_unit": r.unit,
        }
        for r in batch.readings
    ]
    inserted = repository.insert_readings(session, rows)
    result = MeterIngestResult(accepted=inserted, duplicates=len(rows) - inserted)
    audit(
        session,
        principal,
        "meters.ingest",
        "meter_batch",
        detail={"readings": len(rows), **result.model_dump()},
    )
    return result


def create_contract(session: Session, principal: Principal, body: ContractCreate) -> ContractOut:
    """Record green power bought by an enterprise with its certificates (operator)."""
    if not repository.account_exists(session, body.account_id):
        raise field_error("account_id", "enterprise_exists", "no such enterprise", status=404)
    taken = repository.existing_certificate_ids(session, body.gec_ids)
    if taken:
        first = min(body.gec_ids.index(gec_id) for gec_id in taken)
        raise Problem(
            409,
            f"gec_ids[{first}]: certificate {body.gec_ids[first]} is already recorded",
            slug="conflict",
            errors=[
                {
                    "field": f"gec_ids[{first}]",
                    "rule": "unique",
                    "message": "certificate already recorded (a GEC is used once)",
                }
            ],
        )
    produced = parse_month(body.production_month, "production_month")
    contract = GreenContract(
        account_id=body.account_id,
        reference=body.reference,
        source=body.source,
        delivery_start=body.delivery_start,
        delivery_end=body.delivery_end,
        energy_kwh=body.energy_mwh * 1000.0,
        created_by=principal.account_id,
    )
    session.add(contract)
    session.flush()
    valid_until = body.valid_until or default_valid_until(produced)
    session.add_all(
        GreenCertificate(
            gec_id=gec_id,
            account_id=body.account_id,
            contract_id=contract.id,
            production_month=produced,
            valid_until=valid_until,
            energy_kwh=KWH_PER_CERTIFICATE,
        )
        for gec_id in body.gec_ids
    )
    session.flush()
    audit(
        session,
        principal,
        "green.contract.create",
        "green_contract",
        contract.id,
        {"account_id": str(body.account_id), "certificates": len(body.gec_ids)},
    )
    out = ContractOut.model_validate(contract)
    return out.model_copy(update={"certificates": len(body.gec_ids)})


def factors_of(settings: Settings) -> FactorSet:
    factors = FactorSet(
        grid_kg_co2_per_kwh=settings.green_grid_factor_kg_per_kwh,
        electricity_basis=ElectricityBasis(settings.green_electricity_basis),
        electricity_equivalent_kgce_per_kwh=settings.green_electricity_equivalent_kgce_per_kwh,
    )
    return factors.with_overrides(settings.green_carrier_factors)


def targets_of(settings: Settings) -> Targets:
    return Targets(
        clean_share=settings.green_clean_share_target,
        clean_share_year=settings.green_clean_share_target_year,
        direct_supply_min_self_consumption=settings.green_direct_supply_min_share,
        clean_includes_natural_gas=settings.green_clean_includes_natural_gas,
    )


def month_window(month: date) -> tuple[datetime, datetime]:
    """UTC bounds [start, end) of a calendar month in market time (Asia/Shanghai)."""
    return day_bounds_utc(month)[0], day_bounds_utc(next_month(month))[0]


@dataclass(frozen=True)
class MonthReport:
    """A computed month: the ledger, the enterprises' names, the certificates each uses."""

    report: ParkReport
    names: dict[uuid.UUID, str]
    certificates: dict[Hashable, list[str]]


def _intervals(
    session: Session, ids: list[uuid.UUID], start: datetime, end: datetime
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Per enterprise and 15-minute interval: load, PV and contracted kWh; the month's
    other carriers; and the asset-interval mean power (for the shifting)."""
    window = pd.date_range(start, end, freq="15min", inclusive="left")
    assets = repository.assets_frame(session, ids)
    telemetry = repository.telemetry_frame(session, assets["asset_id"].tolist(), start, end)
    telemetry["ts"] = telemetry["ts"].dt.floor("15min")
    means = telemetry.groupby(["asset_id", "ts"], as_index=False)["power_kw"].mean()
    means = means.merge(assets, on="asset_id")
    energy = means["power_kw"].to_numpy(np.float64) * INTERVAL_HOURS
    is_pv = (means["kind"] == "pv").to_numpy()
    means["pv_kwh"] = np.where(is_pv, np.clip(-energy, 0.0, None), 0.0)
    means["net_kwh"] = np.where(is_pv, 0.0, energy)
    per_interval = means.groupby(["account_id", "ts"])[["pv_kwh", "net_kwh"]].sum()

    readings = repository.readings_frame(session, ids, start, end)
    electricity = readings[readings["commodity"] == Carrier.ELECTRICITY.value].assign(
        ts=lambda f: f["ts"].dt.floor("15min")
    )
    metered = electricity.groupby(["account_id", "ts"])["quantity"].sum().rename("metered_kwh")

    grid = pd.MultiIndex.from_product([ids, window], names=["account_id", "ts"])
    frame = pd.DataFrame(index=grid).join(per_interval).join(metered).astype("float64").fillna(0.0)
    frame["load_kwh"] = np.clip(frame["net_kwh"] + frame["metered_kwh"], 0.0, None)
    contract_kwh = np.zeros((len(ids), len(window)))
    row_of = {account_id: i for i, account_id in enumerate(ids)}
    for contract in repository.contracts_overlapping(session, ids, start, end):
        profile = flat_profile(
            pd.Timestamp(contract.delivery_start),
            pd.Timestamp(contract.delivery_end),
            contract.energy_kwh,
            window,
        )
        contract_kwh[row_of[contract.account_id]] += profile.to_numpy()
    frame["contract_kwh"] = contract_kwh.reshape(-1)  # ids outer, intervals inner
    intervals = pd.DataFrame(
        {
            "scope": frame.index.get_level_values("account_id"),
            "ts": frame.index.get_level_values("ts"),
            "load_kwh": frame["load_kwh"].to_numpy(),
            "pv_kwh": frame["pv_kwh"].to_numpy(),
            "contract_kwh": frame["contract_kwh"].to_numpy(),
        }
    )
    others = readings[readings["commodity"] != Carrier.ELECTRICITY.value]
    sums = others.groupby(["account_id", "commodity"])["quantity"].sum()
    quantities = pd.DataFrame(
        {
            "scope": sums.index.get_level_values("account_id"),
            "carrier": sums.index.get_level_values("commodity"),
            "quantity": sums.to_numpy(),
        }
    )
    return intervals, quantities, means


def _shifts(
    session: Session, ids: list[uuid.UUID], month: date, means: pd.DataFrame
) -> pd.DataFrame:
    last_day = date.fromordinal(next_month(month).toordinal() - 1)
    plans = repository.plans_frame(session, ids, month, last_day)
    columns = ["scope", "ts", "baseline_kw", "measured_kw", "deviation_kw"]
    if plans.empty or means.empty:
        return pd.DataFrame(columns=columns)
    day_start = pd.to_datetime(plans["day"]).dt.tz_localize("UTC") - pd.Timedelta(hours=8)
    plans["ts"] = day_start + pd.to_timedelta(plans["interval"] * 15, unit="min")
    measured = means[["asset_id", "ts", "power_kw"]].rename(columns={"power_kw": "measured_kw"})
    joined = plans.merge(measured, on=["asset_id", "ts"], how="inner")
    return joined.rename(columns={"account_id": "scope"})[columns]


def month_report(
    session: Session, settings: Settings, month: date, account_id: uuid.UUID | None
) -> MonthReport:
    """The month's ledger of one enterprise (``account_id``) or of every enterprise and
    the park (``None``), with the certificates each enterprise uses (`allocate`)."""
    names = repository.enterprise_accounts(session, account_id)
    ids = list(names)
    start, end = month_window(month)
    intervals, quantities, means = _intervals(session, ids, start, end)
    need_totals = totals(
        match_periods(intervals, Resolution.QUARTER_HOUR),
        pd.Series(math.inf, index=pd.Index(ids, dtype=object)),
    )
    need = {scope: t.contract_matched_kwh for scope, t in need_totals.items()}
    certificates = [
        Certificate(c.gec_id, c.account_id, c.production_month, c.valid_until, c.claimed_month)
        for c in repository.certificates_of(session, ids)
    ]
    used = allocate(certificates, month, need)
    certified = {owner: KWH_PER_CERTIFICATE * len(gec_ids) for owner, gec_ids in used.items()}
    report = build_report(
        month,
        intervals,
        quantities,
        certified,
        _shifts(session, ids, month, means),
        factors_of(settings),
        targets_of(settings),
        settings.green_curtailment_hours,
        settings.green_peak_hours,
    )
    return MonthReport(report, names, used)


def claim_certificates(
    session: Session, principal: Principal, settings: Settings, month: date
) -> ClaimResult:
    """Mark the certificates each enterprise uses for ``month`` as used (once: a certificate
    used for another month is never reallocated). Repeating the claim changes nothing."""
    computed = month_report(session, settings, month, None)
    gec_ids = [gec_id for ids in computed.certificates.values() for gec_id in ids]
    changed = repository.claim(session, gec_ids, month)
    audit(
        session,
        principal,
        "green.certificates.claim",
        "green_month",
        month.isoformat(),
        {"claimed": changed, "already_claimed": len(gec_ids) - changed},
    )
    return ClaimResult(month=month, claimed=changed, already_claimed=len(gec_ids) - changed)


def _matching_out(totals_: GreenTotals) -> MatchingOut:
    return MatchingOut.model_validate(totals_, from_attributes=True)


def _scope_out(ledger: ScopeLedger, name: str, certificates: Sequence[str]) -> ScopeOut:
    return ScopeOut(
        scope=str(ledger.scope),
        name=name,
        matching_15min=_matching_out(ledger.matching),
        matching_hourly=_matching_out(ledger.matching_hourly),
        carriers=[CarrierOut.model_validate(r, from_attributes=True) for r in ledger.carriers],
        energy_tce=ledger.energy_tce,
        gross_energy_tce=ledger.gross_energy_tce,
        co2_kg=ledger.co2_kg,
        intensity_t_co2_per_tce=ledger.intensity_t_co2_per_tce,
        clean_share=ledger.clean_share,
        direct_supply_self_consumption_met=ledger.direct_supply_rule_met,
        certificates_used=list(certificates),
        shifting=ShiftingOut.model_validate(ledger.shifting, from_attributes=True),
    )


def report_out(computed: MonthReport, with_park: bool) -> ReportOut:
    report = computed.report
    factors, targets = report.factors, report.targets
    enterprises = [
        _scope_out(report.scopes[account_id], name, computed.certificates.get(account_id, []))
        for account_id, name in computed.names.items()
        if account_id in report.scopes
    ]
    park = _scope_out(report.park, "park", []) if with_park else None
    gap = None
    if park is not None and park.clean_share is not None:
        gap = targets.clean_share - park.clean_share
    return ReportOut(
        month=report.month,
        factors=FactorsOut(
            grid_kg_co2_per_kwh=factors.grid_kg_co2_per_kwh,
            electricity_basis=factors.electricity_basis.value,
            electricity_kgce_per_kwh=factors.electricity_kgce_per_kwh,
            carriers={
                carrier.value: {
                    "kgce_per_unit": factor.kgce_per_unit,
                    "kg_co2_per_unit": factor.kg_co2_per_unit,
                    "unit": CANONICAL_UNIT[carrier],
                    "output": factor.output,
                    "source": factor.source,
                }
                for carrier, factor in factors.carriers.items()
            },
        ),
        targets=TargetsOut(
            clean_share=targets.clean_share,
            clean_share_year=targets.clean_share_year,
            direct_supply_min_self_consumption=targets.direct_supply_min_self_consumption,
            clean_includes_natural_gas=targets.clean_includes_natural_gas,
            park_clean_share_gap=gap,
        ),
        enterprises=enterprises,
        park=park,
    )


REPORT_COLUMNS = (
    "month",
    "scope",
    "name",
    "carrier",
    "quantity",
    "unit",
    "tce",
    "co2_kg",
    "green_share_15min",
    "green_share_hourly",
    "clean_share",
    "intensity_t_co2_per_tce",
)


def _fmt(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def report_csv(out: ReportOut) -> str:
    """One row per scope and carrier, then the scope's ``total`` row with its shares."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(REPORT_COLUMNS)
    month = f"{out.month:%Y-%m}"
    for scope in [*out.enterprises, *([out.park] if out.park else [])]:
        for row in scope.carriers:
            writer.writerow(
                [
                    *(month, scope.scope, scope.name, row.carrier, _fmt(row.quantity), row.unit),
                    *(_fmt(row.tce), _fmt(row.co2_kg), "", "", "", ""),
                ]
            )
        writer.writerow(
            [
                *(month, scope.scope, scope.name, "total", "", "", _fmt(scope.energy_tce)),
                _fmt(scope.co2_kg),
                _fmt(scope.matching_15min.green_share),
                _fmt(scope.matching_hourly.green_share),
                _fmt(scope.clean_share),
                _fmt(scope.intensity_t_co2_per_tce),
            ]
        )
    return buffer.getvalue()


FOOTPRINT_COLUMNS = (
    "month",
    "account_id",
    "enterprise",
    "item",
    "quantity",
    "unit",
    "kgce_per_unit",
    "tce",
    "kg_co2_per_unit",
    "co2_kg",
    "ghg_scope",
    "factor_source",
)


def footprint_csv(out: ReportOut, factors: Mapping[str, Mapping[str, object]]) -> str:
    """An enterprise's month for product-footprint work: electricity split by origin
    (on-site PV, certified green power, grid; market-based scope 2) and every other carrier,
    with the factors used. The rows add up to the report's tce and CO2."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(FOOTPRINT_COLUMNS)
    month = f"{out.month:%Y-%m}"
    kgce_kwh = out.factors.electricity_kgce_per_kwh
    grid = out.factors.grid_kg_co2_per_kwh
    for scope in out.enterprises:
        m = scope.matching_15min
        electricity = [
            ("electricity_onsite_pv", m.pv_self_kwh, 0.0, "on-site PV consumed on site"),
            (
                "electricity_green_certified",
                m.contract_green_kwh,
                0.0,
                f"green-power contracts proven by {len(scope.certificates_used)} GEC(s)",
            ),
            (
                "electricity_grid",
                m.grid_residual_kwh,
                grid,
                "grid average factor, Northwest China regional grid (as configured)",
            ),
        ]
        prefix = [month, scope.scope, scope.name]
        for item, kwh, factor, source in electricity:
            writer.writerow(
                [
                    *(*prefix, item, _fmt(kwh), "kWh", _fmt(kgce_kwh), _fmt(kwh * kgce_kwh / 1000)),
                    *(_fmt(factor), _fmt(kwh * factor), "scope 2 (market-based)", source),
                ]
            )
        for row in scope.carriers:
            if row.carrier == Carrier.ELECTRICITY.value:
                continue
            factor_row = factors[row.carrier]
            ghg = {
                "natural_gas": "scope 1",
                "heat": "scope 2",
                "steam": "scope 2",
                "water": "scope 3",
                "hydrogen": "output",
            }[row.carrier]
            writer.writerow(
                [
                    *(*prefix, row.carrier, _fmt(row.quantity), row.unit),
                    *(_fmt(float(str(factor_row["kgce_per_unit"]))), _fmt(row.tce)),
                    *(_fmt(float(str(factor_row["kg_co2_per_unit"]))), _fmt(row.co2_kg), ghg),
                    str(factor_row["source"]),
                ]
            )
    return buffer.getvalue()
