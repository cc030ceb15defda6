"""Leave free space in the pages of the tables that re-plans update in place.

A re-plan rewrites tens of thousands of planned setpoints and revises the commands not
yet sent. With full pages every updated row version goes to another page and every
index gets a new entry; with free space on the page PostgreSQL keeps the new version
beside the old one and skips the indexes when no indexed column changed (heap-only
tuples, PostgreSQL docs "Heap-Only Tuples (HOT)"). Applies to pages written from now on.
No-op on SQLite.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TABLES = ("planned_setpoints", "setpoint_commands")
FILLFACTOR = 80


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} SET (fillfactor = {FILLFACTOR})")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} RESET (fillfactor)")
