"""The pool's day-ahead outlooks kept from bid drafting for the plan (one row per day,
risk setting and asset).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

UTC_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "pool_outlooks",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("risk_quantile", sa.Float(), nullable=False),
        sa.Column("asset_id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("baseline_kw", sa.LargeBinary(), nullable=False),
        sa.Column("lo_kw", sa.LargeBinary(), nullable=False),
        sa.Column("hi_kw", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_pool_outlooks_account_id_accounts"
        ),
        sa.ForeignKeyConstraint(
            ["asset_id"], ["assets.id"], name="fk_pool_outlooks_asset_id_assets"
        ),
        sa.PrimaryKeyConstraint("day", "risk_quantile", "asset_id", name="pk_pool_outlooks"),
    )


def downgrade() -> None:
    op.drop_table("pool_outlooks")
