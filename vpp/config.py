"""Typed service settings, read once from ``VPP_*`` environment variables."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///./var/vpp.db"


class Settings(BaseSettings):
    """Everything the service reads from its environment, validated at start-up."""

    model_config = SettingsConfigDict(env_prefix="VPP_", extra="ignore", frozen=True)

    environment: Literal["demo", "development", "production", "test"] = "development"
    database_url: str = DEFAULT_DATABASE_URL
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)

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

    @model_validator(mode="after")
    def _refuse_insecure_production(self) -> Settings:
        if self.environment == "production" and self.clock_speed != 1.0:
            raise ValueError("VPP_CLOCK_SPEED is for the demo; production runs in real time")
        if self.environment == "production" and self.database_url.startswith("sqlite"):
            raise ValueError(
                "VPP_DATABASE_URL must point at PostgreSQL in production; "
                "SQLite is for the demo and development only"
            )
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
