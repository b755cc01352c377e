"""folders: task folders, workflow-folder creators, and every ancestor of a workflow folder as a row

CreateTaskFolder / ListTaskFolders need a table of their own (a tree per workflow). ListWorkflowFolders
lists the direct children of a folder, so every ancestor of a folder must be a row too: before this
revision CreateTriggerWorkflow stored only the leaf of `/a/b/c`; the upgrade adds the missing `/a` and
`/a/b` (created at the time of their oldest descendant, creator unknown).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_folders = sa.table(
    "folders",
    sa.column("folder_id", sa.String),
    sa.column("project_id", sa.String),
    sa.column("path", sa.String),
    sa.column("name", sa.String),
    sa.column("create_ms", sa.BigInteger),
)


def upgrade() -> None:
    op.create_table(
        "task_folders",
        sa.Column("task_folder_id", sa.String(length=64), nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("workflow_id", sa.String(length=64), nullable=False),
        sa.Column("folder_type", sa.String(length=32), nullable=False),
        sa.Column("path", sa.String(length=1000), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("create_user_uin", sa.String(length=32), nullable=True),
        sa.Column("create_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("task_folder_id"),
        sa.UniqueConstraint("workflow_id", "path", name="uq_task_folders_workflow_path"),
    )
    with op.batch_alter_table("folders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("create_user_uin", sa.String(length=32), nullable=True))
    _add_missing_ancestors()


def _add_missing_ancestors() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.select(_folders.c.project_id, _folders.c.path, _folders.c.create_ms)).all()
    existing = {(r.project_id, r.path) for r in rows}
    missing: dict[tuple[str, str], int] = {}
    for r in rows:
        parts = [p for p in r.path.split("/") if p]
        for depth in range(1, len(parts)):
            key = (r.project_id, "/" + "/".join(parts[:depth]))
            if key not in existing:
                missing[key] = min(missing.get(key, r.create_ms), r.create_ms)
    if missing:
        conn.execute(
            _folders.insert(),
            [
                {
                    "folder_id": str(uuid.uuid4()),
                    "project_id": project,
                    "path": path,
                    "name": path.rsplit("/", 1)[-1],
                    "create_ms": ms,
                }
                for (project, path), ms in sorted(missing.items())
            ],
        )


def downgrade() -> None:
    with op.batch_alter_table("folders", schema=None) as batch_op:
        batch_op.drop_column("create_user_uin")
    op.drop_table("task_folders")
