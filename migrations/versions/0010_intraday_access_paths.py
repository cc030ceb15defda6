"""Access paths of the per-minute dispatch loop: recent telemetry, one interval's plan,
and room in the pages of the tables that re-plans update in place.

- ``telemetry.ts``: the correction reads every asset's latest reading each minute and
  the interval close averages the last 15 minutes; without an index on time both scan
  the whole history. On PostgreSQL a BRIN index (PostgreSQL docs, "BRIN Indexes": block
  ranges of a naturally time-ordered table; a few pages, nearly free to maintain, so the
  bulk COPY path keeps its rate); on SQLite a B-tree.
- ``planned_setpoints (day, interval)``: the correction reads one interval of the day's
  plan (10,000 rows of 960,000); the primary key leads with the asset.
- ``setpoint_commands (asset_id, interval_start)`` replaces the index on the asset
  alone: re-plans and corrections revise or supersede the open commands of (asset,
  interval) pairs by the thousand, and every claim and acknowledgement updates each
  index of the table, so it keeps four.
- ``command_events`` loses its foreign key to ``setpoint_commands``, like ``telemetry``
  has none to ``assets``: events are written only in the statement or transaction that
  changes their command, and the per-row key check (an index probe and a row lock) was
  a fifth of acknowledging a round of 10,000 commands.
- ``setpoint_commands`` due index: only the open commands (a partial index on the next
  attempt). A sender claims from it every round; acknowledged, expired and superseded
  commands, nearly all of the table, have no entry to maintain or skip.
- ``fillfactor`` 80 on ``planned_setpoints`` and ``setpoint_commands``: a re-plan
  rewrites tens of thousands of planned setpoints and revises the commands not yet
  sent. With free space on the page PostgreSQL keeps the new row version beside the
  old one and skips the indexes when no indexed column changed (heap-only tuples,
  "Heap-Only Tuples (HOT)"). Applies to pages written from now on.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

UPDATED_IN_PLACE = ("planned_setpoints", "setpoint_commands")
FILLFACTOR = 80
OPEN = sa.text("state IN ('pending', 'sent')")
EVENTS_FK = "fk_command_events_command_id_setpoint_commands"


def upgrade() -> None:
    op.create_index("ix_telemetry_ts", "telemetry", ["ts"], postgresql_using="brin")
    op.create_index("ix_planned_setpoints_day_interval", "planned_setpoints", ["day", "interval"])
    op.drop_index("ix_setpoint_commands_asset_id", table_name="setpoint_commands")
    op.create_index(
        "ix_setpoint_commands_asset_interval", "setpoint_commands", ["asset_id", "interval_start"]
    )
    with op.batch_alter_table("command_events") as batch:  # SQLite rebuilds the table
        batch.drop_constraint(EVENTS_FK, type_="foreignkey")
    op.drop_index("ix_setpoint_commands_due", table_name="setpoint_commands")
    op.create_index(
        "ix_setpoint_commands_due",
        "setpoint_commands",
        ["next_attempt_at"],
        postgresql_where=OPEN,
        sqlite_where=OPEN,
    )
    if op.get_bind().dialect.name == "postgresql":
        for table in UPDATED_IN_PLACE:
            op.execute(f"ALTER TABLE {table} SET (fillfactor = {FILLFACTOR})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in UPDATED_IN_PLACE:
            op.execute(f"ALTER TABLE {table} RESET (fillfactor)")
    op.drop_index("ix_setpoint_commands_due", table_name="setpoint_commands")
    op.create_index("ix_setpoint_commands_due", "setpoint_commands", ["state", "next_attempt_at"])
    with op.batch_alter_table("command_events") as batch:
        batch.create_foreign_key(EVENTS_FK, "setpoint_commands", ["command_id"], ["id"])
    op.drop_index("ix_setpoint_commands_asset_interval", table_name="setpoint_commands")
    op.create_index("ix_setpoint_commands_asset_id", "setpoint_commands", ["asset_id"])
    op.drop_index("ix_planned_setpoints_day_interval", table_name="planned_setpoints")
    op.drop_index("ix_telemetry_ts", table_name="telemetry")
