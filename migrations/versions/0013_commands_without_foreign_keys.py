"""Setpoint commands without foreign keys: a day plan writes one command per asset and
commanded interval (570,000 at 10,000 assets, 5.7 million at 100,000), and checking
the two keys was more than half of writing them.

Measured on PostgreSQL 15, 570,000 commands in one statement: 21 s with the keys to
``assets`` and ``accounts``, 9.6 s without. As for ``planned_setpoints`` (migration
0012), ``command_events`` and ``telemetry``, the rows are written only by the service:
a plan or a correction from the assets it has just read, a manual setpoint after the
asset was looked up in the caller's scope; assets are retired, never deleted. The
indexes stay: each serves the sender, the re-plan or an enterprise's listing.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

TABLE = "setpoint_commands"
ASSET_FK = "fk_setpoint_commands_asset_id_assets"
ACCOUNT_FK = "fk_setpoint_commands_account_id_accounts"


def upgrade() -> None:
    with op.batch_alter_table(TABLE) as batch:  # SQLite rebuilds the table
        batch.drop_constraint(ASSET_FK, type_="foreignkey")
        batch.drop_constraint(ACCOUNT_FK, type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table(TABLE) as batch:
        batch.create_foreign_key(ACCOUNT_FK, "accounts", ["account_id"], ["id"])
        batch.create_foreign_key(ASSET_FK, "assets", ["asset_id"], ["id"])
