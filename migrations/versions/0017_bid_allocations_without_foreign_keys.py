"""Bid allocations without foreign keys: a draft writes one row per asset and interval it
offers in (about 200,000 per product at 10,000 assets), each checked against ``bids``,
``assets`` and ``accounts``.

As for ``planned_setpoints`` (migration 0012), ``setpoint_commands`` (0013) and
``firm_schedules`` (0014), the rows are written only by the bid service, in the
transaction that writes their bid, from the assets it has just read; bids are never
deleted and assets are retired, never deleted. The indexes stay: enterprises read their
allocations by account.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

TABLE = "bid_allocations"
KEYS = {
    "fk_bid_allocations_bid_id_bids": ("bids", "bid_id"),
    "fk_bid_allocations_asset_id_assets": ("assets", "asset_id"),
    "fk_bid_allocations_account_id_accounts": ("accounts", "account_id"),
}


def upgrade() -> None:
    with op.batch_alter_table(TABLE) as batch:  # SQLite rebuilds the table
        for name in KEYS:
            batch.drop_constraint(name, type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table(TABLE) as batch:
        for name, (target, column) in KEYS.items():
            batch.create_foreign_key(name, target, [column], ["id"])
