"""Request and response bodies of the green-power and carbon routes."""

from __future__ import annotations

import math
import re
import uuid
from datetime import date
from typing import Self

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from vpp.domain.errors import InvalidParameterError
from vpp.domain.time import FIRST_DAY, LAST_DAY
from vpp.green.core.carriers import Carrier, to_canonical
from vpp.green.core.certificates import normalise_gec_id

MONTH_PATTERN = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
MAX_METER_BATCH = 10_000
MAX_CERTIFICATES = 100_000


def parse_month(text: str, field: str = "month") -> date:
    """``YYYY-MM`` -> the month's first day; InvalidParameterError otherwise."""
    if not isinstance(text, str) or not MONTH_PATTERN.fullmatch(text):
        raise InvalidParameterError(field, "month_format", f"must look like 2026-11, got {text!r}")
    first = date(max(int(text[:4]), 1), int(text[5:]), 1)  # year 0000 exists in no calendar
    if not FIRST_DAY <= first <= LAST_DAY:
        raise InvalidParameterError(
            field, "month_range", f"must be between {FIRST_DAY:%Y-%m} and {LAST_DAY:%Y-%m}"
        )
    return first


def _checked_month(value: str) -> str:
    try:
        parse_month(value)
    except InvalidParameterError as exc:
        raise PydanticCustomError("month_format", exc.detail) from None
    return value


class MeterReadingIn(BaseModel):
    """A site's consumption of one carrier (hydrogen: output) over the period starting at
    ``ts``; converted to the carrier's canonical unit on arrival."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)

    site_id: uuid.UUID
    commodity: Carrier = Field(
        description="electricity (load not enrolled as an asset), natural_gas, heat, steam, "
        "water, or hydrogen (output)."
    )
    ts: AwareDatetime = Field(description="Start of the metering period, with a UTC offset.")
    quantity: float = Field(ge=0, description="Quantity over the period, in `unit` (>= 0).")
    unit: str = Field(
        max_length=8,
        description="electricity kWh/MWh/Wh; natural_gas m3/Nm3/km3; heat GJ/MJ/kWh/MWh/Gcal; "
        "steam t/kg; water t/m3/kg; hydrogen kg/t/Nm3.",
    )

    @model_validator(mode="after")
    def _unit_fits_commodity(self) -> Self:
        to_canonical(self.commodity, self.quantity, self.unit)
        return self

    @property
    def canonical_quantity(self) -> float:
        return to_canonical(self.commodity, self.quantity, self.unit)


class MeterBatch(BaseModel):
    """Readings of any of the caller's sites, stored all or nothing."""

    model_config = ConfigDict(extra="forbid")

    readings: list[MeterReadingIn] = Field(min_length=1, max_length=MAX_METER_BATCH)


class MeterIngestResult(BaseModel):
    accepted: int = Field(description="Readings newly stored.")
    duplicates: int = Field(
        description="Readings already stored (same site, commodity and ts), skipped."
    )


class ContractCreate(BaseModel):
    """Green power bought by an enterprise and the GECs that prove it (1 GEC = 1 MWh)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    account_id: uuid.UUID = Field(description="The enterprise that owns the green power.")
    reference: str = Field(min_length=1, max_length=100, description="Trade or award reference.")
    source: str = Field(default="manual", pattern="^(manual|award)$")
    delivery_start: AwareDatetime
    delivery_end: AwareDatetime
    energy_mwh: float = Field(gt=0, description="Contracted energy (MWh), delivered evenly.")
    production_month: str = Field(description="Month the certified energy was produced, YYYY-MM.")
    valid_until: date | None = Field(
        default=None, description="Last day of validity; default: two years on ([C17c])."
    )
    gec_ids: list[str] = Field(
        default_factory=list,
        max_length=MAX_CERTIFICATES,
        description="32-character GEC ids, one per MWh.",
    )

    @field_validator("production_month")
    @classmethod
    def _month(cls, value: str) -> str:
        return _checked_month(value)

    @field_validator("gec_ids")
    @classmethod
    def _ids(cls, value: list[str]) -> list[str]:
        out: list[str] = []
        seen: set[str] = set()
        for index, text in enumerate(value):
            try:
                gec_id = normalise_gec_id(text)
            except InvalidParameterError as exc:
                raise PydanticCustomError(
                    "gec_id_format",
                    "item {index}: {detail}",
                    {"index": index, "detail": exc.detail},
                ) from None
            if gec_id in seen:
                raise PydanticCustomError(
                    "unique", "item {index} repeats {gec_id}", {"index": index, "gec_id": gec_id}
                )
            seen.add(gec_id)
            out.append(gec_id)
        return out

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.delivery_end <= self.delivery_start:
            raise InvalidParameterError(
                "delivery_end", "after_start", "must be after delivery_start"
            )
        whole = math.ceil(self.energy_mwh - 1e-9)
        if len(self.gec_ids) > whole:
            raise InvalidParameterError(
                "gec_ids",
                "one_per_mwh",
                f"holds {len(self.gec_ids)} certificates for {self.energy_mwh} MWh "
                f"(at most {whole}: 1 GEC = 1 MWh)",
            )
        produced = parse_month(self.production_month, "production_month")
        if self.valid_until is not None and self.valid_until < produced:
            raise InvalidParameterError(
                "valid_until", "after_production", "must not precede the production month"
            )
        return self


class CertificateOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    gec_id: str
    account_id: uuid.UUID
    contract_id: uuid.UUID | None
    production_month: date
    valid_until: date
    energy_kwh: float
    claimed_month: date | None


class ContractOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    account_id: uuid.UUID
    reference: str
    source: str
    delivery_start: AwareDatetime
    delivery_end: AwareDatetime
    energy_kwh: float
    certificates: int = 0


class ClaimRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    month: str = Field(description="Consumption month the certificates are used for, YYYY-MM.")

    @field_validator("month")
    @classmethod
    def _month(cls, value: str) -> str:
        return _checked_month(value)


class ClaimResult(BaseModel):
    month: date
    claimed: int = Field(description="Certificates newly marked used for the month.")
    already_claimed: int = Field(description="Certificates that were already used for it.")


class MatchingOut(BaseModel):
    """Matching of one scope (kWh; shares 0-1, null when there is nothing to divide)."""

    load_kwh: float
    pv_kwh: float
    pv_self_kwh: float
    pv_export_kwh: float
    grid_import_kwh: float
    contract_kwh: float
    contract_matched_kwh: float
    certified_kwh: float
    contract_green_kwh: float
    green_kwh: float
    grid_residual_kwh: float
    green_share: float | None
    self_consumption_share: float | None


class CarrierOut(BaseModel):
    carrier: str
    quantity: float
    unit: str
    tce: float
    co2_kg: float


class ShiftingOut(BaseModel):
    valley_fill_kwh: float
    peak_cut_kwh: float
    avoided_co2_kg: float


class ScopeOut(BaseModel):
    """One enterprise's (or the park's) month."""

    scope: str = Field(description="`park` or the enterprise's account id.")
    name: str
    matching_15min: MatchingOut
    matching_hourly: MatchingOut
    carriers: list[CarrierOut]
    energy_tce: float = Field(description="Comprehensive energy consumption (综合能耗), tce.")
    gross_energy_tce: float
    co2_kg: float
    intensity_t_co2_per_tce: float | None = Field(description="单位能耗碳排放, t CO2 per tce.")
    clean_share: float | None
    direct_supply_self_consumption_met: bool | None
    certificates_used: list[str] = Field(default_factory=list)
    shifting: ShiftingOut


class FactorsOut(BaseModel):
    grid_kg_co2_per_kwh: float
    electricity_basis: str
    electricity_kgce_per_kwh: float
    carriers: dict[str, dict[str, float | str | bool]]


class TargetsOut(BaseModel):
    clean_share: float
    clean_share_year: int
    direct_supply_min_self_consumption: float
    clean_includes_natural_gas: bool
    park_clean_share_gap: float | None = Field(
        default=None, description="Target minus the park's clean share (operator reports)."
    )


class ReportOut(BaseModel):
    month: date
    factors: FactorsOut
    targets: TargetsOut
    enterprises: list[ScopeOut]
    park: ScopeOut | None = Field(description="The whole park (operator reports only).")
