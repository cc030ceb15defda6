"""Bids, what each asset backs of them, firm schedules, awards, and scheduled job runs.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UTC_TS = sa.DateTime(timezone=True)
JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "job_runs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("job", sa.String(64), nullable=False),
        sa.Column("period", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("detail", sa.String(1000), nullable=False),
        sa.Column("started_at", UTC_TS, nullable=False),
        sa.Column("finished_at", UTC_TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_job_runs"),
        sa.UniqueConstraint("job", "period", name="uq_job_runs_job"),
    )
    op.create_table(
        "bids",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("product", sa.String(64), nullable=False),
        sa.Column("pack_version", sa.String(32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("side", sa.String(8), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("risk_quantile", sa.Float(), nullable=False),
        sa.Column("ladder", JSON_DOC, nullable=False),
        sa.Column("offered_kwh", sa.Float(), nullable=False),
        sa.Column("expected_revenue_cny", sa.Float(), nullable=False),
        sa.Column("submission_key", sa.Uuid(), nullable=False),
        sa.Column("receipt", JSON_DOC, nullable=True),
        sa.Column("awarded_kwh", sa.Float(), nullable=True),
        sa.Column("detail", sa.String(1000), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("approved_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.Column("updated_at", UTC_TS, nullable=False),
        sa.Column("approved_at", UTC_TS, nullable=True),
        sa.Column("submitted_at", UTC_TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["approved_by"], ["accounts.id"], name="fk_bids_approved_by_accounts"
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["accounts.id"], name="fk_bids_created_by_accounts"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_bids"),
        sa.UniqueConstraint("submission_key", name="uq_bids_submission_key"),
    )
    op.create_index("ix_bids_day_product", "bids", ["day", "product"])
    op.create_table(
        "awards",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("bid_id", sa.Uuid(), nullable=False),
        sa.Column("product", sa.String(64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("side", sa.String(8), nullable=False),
        sa.Column("interval", sa.Integer(), nullable=False),
        sa.Column("quantity_kw", sa.Float(), nullable=False),
        sa.Column("price_cny_per_mwh", sa.Float(), nullable=False),
        sa.Column("clearing_price_cny_per_mwh", sa.Float(), nullable=True),
        sa.Column("fetched_at", UTC_TS, nullable=False),
        sa.ForeignKeyConstraint(["bid_id"], ["bids.id"], name="fk_awards_bid_id_bids"),
        sa.PrimaryKeyConstraint("id", name="pk_awards"),
        sa.UniqueConstraint("bid_id", "interval", "price_cny_per_mwh", name="uq_awards_bid_id"),
    )
    op.create_index("ix_awards_day_product", "awards", ["day", "product"])
    op.create_table(
        "bid_allocations",
        sa.Column("bid_id", sa.Uuid(), nullable=False),
        sa.Column("asset_id", sa.Uuid(), nullable=False),
        sa.Column("interval", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("capacity_kw", sa.Float(), nullable=False),
        sa.Column("offered_kw", sa.Float(), nullable=False),
        sa.Column("awarded_kw", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_bid_allocations_account_id_accounts"
        ),
        sa.ForeignKeyConstraint(
            ["asset_id"], ["assets.id"], name="fk_bid_allocations_asset_id_assets"
        ),
        sa.ForeignKeyConstraint(["bid_id"], ["bids.id"], name="fk_bid_allocations_bid_id_bids"),
        sa.PrimaryKeyConstraint("bid_id", "asset_id", "interval", name="pk_bid_allocations"),
    )
    op.create_index("ix_bid_allocations_account_id", "bid_allocations", ["account_id"])
    op.create_index("ix_bid_allocations_asset_id", "bid_allocations", ["asset_id"])
    op.create_table(
        "firm_schedules",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("asset_id", sa.Uuid(), nullable=False),
        sa.Column("interval", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("firm_kw", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_firm_schedules_account_id_accounts"
        ),
        sa.ForeignKeyConstraint(
            ["asset_id"], ["assets.id"], name="fk_firm_schedules_asset_id_assets"
        ),
        sa.PrimaryKeyConstraint("day", "asset_id", "interval", name="pk_firm_schedules"),
    )
    op.create_index("ix_firm_schedules_account_id", "firm_schedules", ["account_id"])
    op.create_index("ix_firm_schedules_asset_id", "firm_schedules", ["asset_id"])


def downgrade() -> None:
    op.drop_table("firm_schedules")
    op.drop_table("bid_allocations")
    op.drop_table("awards")
    op.drop_table("bids")
    op.drop_table("job_runs")
