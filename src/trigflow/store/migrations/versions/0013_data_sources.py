"""data sources: CreateDataSource and friends; tasks name them by id in SourceServiceId/TargetServiceId

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "data_sources",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("category", sa.String(length=16), server_default="DB", nullable=False),
        sa.Column("prod_properties", sa.Text(), nullable=False),
        sa.Column("dev_properties", sa.Text(), nullable=True),
        sa.Column("create_user", sa.String(length=32), nullable=True),
        sa.Column("modify_user", sa.String(length=32), nullable=True),
        sa.Column("create_ms", sa.BigInteger(), nullable=False),
        sa.Column("update_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "name", name="uq_data_sources_project_name"),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("data_sources")
