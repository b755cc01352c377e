"""trigger files: a file counts once for a FILE_ARRIVAL trigger (path, size, mtime)

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "trigger_files",
        sa.Column("trigger_id", sa.String(length=64), nullable=False),
        sa.Column("path", sa.String(length=2000), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("mtime_ns", sa.BigInteger(), nullable=False),
        sa.Column("fire_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("trigger_id", "path", "size", "mtime_ns"),
    )


def downgrade() -> None:
    op.drop_table("trigger_files")
