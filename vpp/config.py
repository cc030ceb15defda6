"""Typed service settings, read once from ``VPP_*`` environment variables."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///./var/vpp.db"


class Settings(BaseSettings):
    """Everything the service reads from its environment, validated at start-up."""

    model_config = SettingsConfigDict(env_prefix="VPP_", extra="ignore", frozen=True)

    environment: Literal["demo", "development", "production", "test"] = "development"
    database_url: str = DEFAULT_DATABASE_URL
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    compute: str | None = Field(
        default=None,
        pattern=r"^(|local(:[1-9][0-9]{0,2})?|(tcp|tls|ucx|inproc)://\S+)$",
        description="Where bid optimisation and forecasting fan out (`vpp.kit.compute`): "
        "unset = in this process, `local:N` = a Dask cluster of N worker processes here, "
        "`tcp://scheduler:8786` = the workers of that Dask scheduler.",
    )

    telemetry_max_batch: int = Field(
        default=10_000, ge=1, description="Most readings one POST /v1/telemetry may carry."
    )
    telemetry_query_max: int = Field(default=10_000, ge=1)
    rate_limit_per_s: float = Field(
        default=200.0, gt=0, description="Sustained requests per second allowed per API key."
    )
    rate_limit_burst: int = Field(default=400, ge=1)
    auth_cache_ttl_s: float = Field(
        default=5.0,
        ge=0,
        description="How long a verified key is trusted without a database look-up. Another "
        "replica sees a revocation within this many seconds; the revoking replica at once.",
    )
    idempotency_stale_after_s: float = Field(
        default=60.0,
        gt=0,
        description="An in-progress idempotency claim older than this is taken over (its "
        "request is presumed dead).",
    )
    metrics_public: bool = True

    dispatch_enabled: bool = Field(
        default=False,
        description="Run the setpoint delivery engine and the adapters in this process.",
    )
    adapters: list[str] = Field(
        default_factory=lambda: ["simulated"], description="Adapters to start (entry-point names)."
    )
    adapter_config: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description='Adapter-wide configuration by adapter, JSON: {"mqtt": {"host": ...}}.',
    )
    clock_speed: float = Field(
        default=1.0,
        gt=0,
        description="Simulated time per wall-clock second (demo only; 1 = real time).",
    )
    clock_start: AwareDatetime | None = Field(
        default=None,
        description="Where the service clock starts (demo and trials only, e.g. an hour "
        "before a gate closure; default: now).",
    )

    market: str = Field(
        default="simulated",
        description="Market client (entry point of group vpp.market_clients): `simulated` "
        "runs the simulated market operator in this process, `http` talks to an exchange.",
    )
    market_config: dict[str, Any] = Field(
        default_factory=dict,
        description='Market client configuration, JSON: {"url": ..., "token": ...} for http, '
        '{"seed": 0} for simulated.',
    )
    market_participant: str = Field(
        default="vpp", description="This aggregator's participant name at the market."
    )
    market_rules: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description='Rule overrides by product, JSON: {"peak_shaving.peak_cut": '
        '{"price_cap_cny_per_mwh": 1200}}.',
    )
    bidding_products: list[str] = Field(
        default_factory=lambda: ["peak_shaving.valley_fill", "peak_shaving.peak_cut"],
        description="Products the scheduler drafts bids for every day.",
    )
    bid_auto_approve: bool = Field(
        default=False,
        description="Approve the scheduler's drafts automatically (else an operator must).",
    )
    bid_risk_quantile: float = Field(
        default=0.1, description="Risk setting of scheduled drafts (0.1 cautious, 0.5 bold)."
    )
    scheduler_enabled: bool = Field(
        default=False,
        description="Run the scheduled jobs (drafts, submission, awards) in this process.",
    )
    scheduler_leader_check_s: float = Field(
        default=2.0,
        gt=0,
        description="Seconds between leadership checks of a scheduler on PostgreSQL: "
        "followers retry the advisory lock, the leader confirms its lock session.",
    )
    scheduler_leader_timeout_s: float = Field(
        default=15.0,
        gt=0,
        description="Seconds of silence after which PostgreSQL ends a hung leader's lock "
        "session (idle_session_timeout), so another instance takes over; > the check period.",
    )
    scheduler_metrics_port: int = Field(
        default=9100,
        ge=0,
        le=65535,
        description="Port of `vpp scheduler`'s Prometheus /metrics (0: none).",
    )

    openadr_vtn_url: str | None = Field(
        default=None,
        description="OpenADR 2.0b VTN base URL (…/OpenADR2/Simple/2.0b); set to run the VEN.",
    )
    openadr_ven_name: str = Field(default="vpp", description="This VEN's name at the VTN.")
    openadr_ven_id: str | None = Field(default=None, description="VEN id, if the VTN assigned one.")
    openadr_simple_level_kw: float = Field(
        default=0.0,
        ge=0,
        description="kW of peak cutting per SIMPLE signal level (0: SIMPLE events refused).",
    )
    openadr_cert: str | None = Field(default=None, description="VEN certificate (PEM path).")
    openadr_key: str | None = Field(default=None, description="VEN private key (PEM path).")
    openadr_ca_file: str | None = Field(default=None, description="CA bundle for the VTN (PEM).")
    openadr_vtn_fingerprint: str | None = Field(
        default=None, description="Expected fingerprint of the VTN's signing certificate."
    )
    iec104_host: str | None = Field(
        default=None,
        description="Address the IEC 60870-5-104 station listens on; set to run it.",
    )
    iec104_port: int = Field(default=2404, ge=1, le=65535)
    iec104_common_address: int = Field(default=1, ge=1, le=65534)

    settlement_baseline: dict[str, Literal["jiangsu", "beijing", "gbt32127"]] = Field(
        default_factory=dict,
        description='Settlement baseline rule by product, JSON: {"peak_shaving.peak_cut": '
        '"beijing"}; products not named use `settlement_default_baseline`.',
    )
    settlement_default_baseline: Literal["jiangsu", "beijing", "gbt32127"] = Field(
        default="jiangsu",
        description="Settlement baseline of products not named in `settlement_baseline`: "
        "jiangsu (last 5 normal workdays), beijing (5 highest of 10), gbt32127.",
    )
    settlement_same_day_adjustment: bool = Field(
        default=False,
        description="Scale baselines by the capped (±20 %) measured morning, 10:00-13:00.",
    )
    settlement_lookback_days: int = Field(
        default=45, ge=1, le=120, description="How far back baseline days are sought (days)."
    )
    settlement_max_fill_intervals: int = Field(
        default=2,
        ge=0,
        le=16,
        description="Telemetry gaps of at most this many 15-min intervals are interpolated; "
        "longer ones count 0 and are flagged.",
    )
    settlement_delay_hours: float = Field(
        default=6.0,
        ge=0,
        description="A market day's data is complete this many hours after it ends; only "
        "then may it be settled.",
    )
    settlement_catch_up_days: int = Field(
        default=7, ge=1, description="How many past days the scheduled settlement looks at."
    )
    settlement_aggregator_ratio: float = Field(
        default=0.2,
        ge=0,
        le=1,
        description="Aggregator's share of an enterprise's revenue without its own agreement.",
    )
    settlement_fee_cny_per_mwh: float = Field(
        default=0.0,
        ge=0,
        description="Aggregator's fee per MWh of positive response without an own agreement.",
    )

    green_grid_factor_kg_per_kwh: float = Field(
        default=0.5543,
        ge=0,
        description="CO2 of grid electricity (kg/kWh): Northwest China regional grid, 2023, "
        "as reported of the MEE/NBS announcement of 2023 electricity emission factors.",
    )
    green_electricity_basis: Literal["calorific", "equivalent"] = Field(
        default="calorific",
        description="Electricity to tce (GB/T 2589-2020 Table A.1): calorific value "
        "0.1229 kgce/kWh (当量值, the park KPI's basis) or the equivalent value (等价值).",
    )
    green_electricity_equivalent_kgce_per_kwh: float = Field(
        default=0.300,
        gt=0,
        description="Equivalent value of electricity (kgce/kWh): the previous year's national "
        "average coal use per kWh of thermal power supplied, as published.",
    )
    green_carrier_factors: dict[str, dict[str, float]] = Field(
        default_factory=dict,
        description='Carrier factor overrides, JSON: {"natural_gas": {"kgce_per_unit": 1.2143, '
        '"kg_co2_per_unit": 2.1622}} (per m3, GJ, t or kg).',
    )
    green_clean_share_target: float = Field(
        default=0.8, ge=0, le=1, description="The park's clean-energy share target (fraction)."
    )
    green_clean_share_target_year: int = Field(default=2028, ge=2000)
    green_clean_includes_natural_gas: bool = Field(
        default=False,
        description="Count natural gas as clean energy (as the national statistics' 清洁能源 do).",
    )
    green_direct_supply_min_share: float = Field(
        default=0.6,
        ge=0,
        le=1,
        description="绿电直连: least self-consumed share of directly supplied renewables.",
    )
    green_curtailment_hours: list[int] = Field(
        default_factory=lambda: list(range(10, 16)),
        description="Beijing-time hours when wind/solar is curtailed (valley filling there "
        "avoids grid emissions).",
    )
    green_peak_hours: list[int] = Field(
        default_factory=lambda: list(range(18, 22)),
        description="Beijing-time evening peak hours (peak cutting is reported there).",
    )

    grid_instruction_max_age_s: float = Field(
        default=600.0,
        gt=0,
        description="Oldest issued_at (seconds before now) a grid instruction may carry: "
        "minutes, to allow a store-and-forward security gateway between grid and VPP.",
    )
    grid_instruction_max_skew_s: float = Field(
        default=60.0,
        ge=0,
        description="How far in the future (seconds) a grid instruction's issued_at may be "
        "(clock skew between the grid company and the VPP).",
    )
    grid_webhook_url: str | None = Field(
        default=None, description="The grid company's endpoint for schedule webhooks."
    )
    grid_webhook_secret: str | None = Field(
        default=None,
        description="Standard Webhooks secret (whsec_<base64>) signing schedule deliveries.",
    )
    grid_webhook_timeout_s: float = Field(
        default=10.0, gt=0, description="Timeout of one schedule webhook request (seconds)."
    )

    @model_validator(mode="after")
    def _grid_webhook_complete(self) -> Settings:
        if self.grid_webhook_url and not self.grid_webhook_secret:
            raise ValueError("VPP_GRID_WEBHOOK_URL needs VPP_GRID_WEBHOOK_SECRET to sign with")
        if (
            self.environment == "production"
            and self.grid_webhook_url
            and not self.grid_webhook_url.startswith("https://")
        ):
            raise ValueError("VPP_GRID_WEBHOOK_URL must be https:// in production")
        return self

    @model_validator(mode="after")
    def _refuse_insecure_production(self) -> Settings:
        if self.environment == "production" and self.clock_speed != 1.0:
            raise ValueError("VPP_CLOCK_SPEED is for the demo; production runs in real time")
        if self.environment == "production" and self.clock_start is not None:
            raise ValueError("VPP_CLOCK_START is for the demo; production runs on the real time")
        if self.environment == "production" and self.database_url.startswith("sqlite"):
            raise ValueError(
                "VPP_DATABASE_URL must point at PostgreSQL in production; "
                "SQLite is for the demo and development only"
            )
        if self.scheduler_leader_timeout_s <= self.scheduler_leader_check_s:
            raise ValueError(
                "VPP_SCHEDULER_LEADER_TIMEOUT_S must exceed VPP_SCHEDULER_LEADER_CHECK_S, "
                "or a live leader's lock session would be ended between two checks"
            )
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
