"""Folder trees, workflow deletion, the ops workflow list and migration 0008, on both backends."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from tests.store.test_store import PROJECT, folder_row, project_row, task_row, workflow_row
from trigflow.store import catalog as q
from trigflow.store import triggers as tq
from trigflow.store.criteria import Keyword, Order
from trigflow.store.engine import MIGRATIONS, Database
from trigflow.store.tables import task_versions

BASE_MS = 1_764_819_600_000


def task_folder_row(fid: str, path: str, workflow_id: str = "wf-1", folder_type: str = "GENERAL") -> dict[str, Any]:
    return {
        "task_folder_id": fid,
        "project_id": PROJECT,
        "workflow_id": workflow_id,
        "folder_type": folder_type,
        "path": path,
        "name": path.rsplit("/", 1)[-1],
        "create_user_uin": "100",
        "create_ms": BASE_MS,
    }


def test_child_folders_are_direct_children_by_path(db: Database) -> None:
    with db.write() as conn:
        for i, path in enumerate(["/", "/b", "/a", "/a/x_1", "/a/x%2", "/a/x_1/deep", "/ab", "/a_"]):
            q.insert_folder(conn, folder_row(f"f{i}", path))
        q.insert_folder(conn, folder_row("other", "/a/y", project_id="2"))
    with db.read() as conn:
        rows, total = q.child_folders(conn, PROJECT, "/", 0, 10)
        assert ([r["path"] for r in rows], total) == (["/a", "/a_", "/ab", "/b"], 4)  # never the root itself
        rows, total = q.child_folders(conn, PROJECT, "/a", 0, 10)
        assert ([r["path"] for r in rows], total) == (["/a/x%2", "/a/x_1"], 2)  # not /a_ nor /ab: LIKE is escaped
        rows, total = q.child_folders(conn, PROJECT, "/a", 1, 1)
        assert ([r["path"] for r in rows], total) == (["/a/x_1"], 2)
        assert q.child_folders(conn, PROJECT, "/a/x_1/deep", 0, 10) == ([], 0)


def test_task_folders_by_workflow_type_and_parent(db: Database) -> None:
    with db.write() as conn:
        q.insert_task_folder(conn, task_folder_row("t1", "/a"))
        q.insert_task_folder(conn, task_folder_row("t2", "/a/b"))
        q.insert_task_folder(conn, task_folder_row("t3", "/e", folder_type="ETL"))
        q.insert_task_folder(conn, task_folder_row("t4", "/a", workflow_id="wf-2"))
    with db.read() as conn:
        assert q.get_task_folder(conn, "wf-1", "/a/b")["task_folder_id"] == "t2"  # type: ignore[index]
        assert q.get_task_folder(conn, "wf-1", "/zz") is None
        assert [r["task_folder_id"] for r in q.child_task_folders(conn, "wf-1", "/", "GENERAL", 0, 10)[0]] == ["t1"]
        assert [r["task_folder_id"] for r in q.child_task_folders(conn, "wf-1", "/", "ETL", 0, 10)[0]] == ["t3"]
        assert [r["task_folder_id"] for r in q.child_task_folders(conn, "wf-1", "/a", "GENERAL", 0, 10)[0]] == ["t2"]


def test_delete_workflow_takes_tasks_and_task_folders_but_keeps_versions(db: Database) -> None:
    with db.write() as conn:
        q.insert_project(conn, project_row(1, project_id=PROJECT))
        q.insert_workflow(conn, workflow_row("wf-1", "gone"))
        q.insert_workflow(conn, workflow_row("wf-2", "kept"))
        q.insert_task(conn, task_row("t1", "a"))
        q.insert_task(conn, task_row("t2", "b", workflow_id="wf-2"))
        q.insert_version(
            conn,
            {
                "version_id": "t1_v1",
                "task_id": "t1",
                "kind": "SUBMIT",
                "version_no": 1,
                "snapshot": {},
                "create_ms": BASE_MS,
            },
        )
        q.insert_task_folder(conn, task_folder_row("tf1", "/a"))
        q.insert_task_folder(conn, task_folder_row("tf2", "/a", workflow_id="wf-2"))
    with db.write() as conn:
        q.delete_workflow(conn, "wf-1")
    with db.read() as conn:
        assert q.get_workflow(conn, PROJECT, "wf-1") is None and q.get_workflow(conn, PROJECT, "wf-2") is not None
        assert q.tasks_of_workflow(conn, "wf-1") == [] and len(q.tasks_of_workflow(conn, "wf-2")) == 1
        assert q.get_task_folder(conn, "wf-1", "/a") is None and q.get_task_folder(conn, "wf-2", "/a") is not None
        assert conn.execute(sa.select(sa.func.count()).select_from(task_versions)).scalar_one() == 1
        assert q.existing_workflow_ids(conn, {"wf-1", "wf-2", "wf-3"}) == {"wf-2"}
        assert q.workflow_names(conn, PROJECT, limit=5) == (["kept"], 1)


def test_list_ops_workflows_counts_submitted_tasks(db: Database) -> None:
    with db.write() as conn:
        for wid, name in (("w0", "Zero"), ("w1", "one"), ("w2", "two")):
            q.insert_workflow(conn, workflow_row(wid, name))
        q.insert_task(conn, task_row("a1", "a", workflow_id="w1", submitted_version_id="a1_v"))
        q.insert_task(conn, task_row("a2", "draft", workflow_id="w1"))
        for i in range(2):
            q.insert_task(conn, task_row(f"b{i}", f"b{i}", workflow_id="w2", submitted_version_id=f"b{i}_v"))
    with db.read() as conn:
        rows, total = q.list_ops_workflows(conn, PROJECT, [], [], 0, 10)
        assert total == 3 and [(r["name"], r["task_count"]) for r in rows] == [("one", 1), ("two", 2), ("Zero", 0)]
        rows, _ = q.list_ops_workflows(conn, PROJECT, [], [Order("task_count")], 0, 10)
        assert [r["workflow_id"] for r in rows] == ["w2", "w1", "w0"]
        rows, _ = q.list_ops_workflows(conn, PROJECT, [], [Order("task_count", descending=False)], 1, 1)
        assert [r["workflow_id"] for r in rows] == ["w1"]
        rows, total = q.list_ops_workflows(conn, PROJECT, [Keyword("name", "workflow_id", ("E",))], [], 0, 10)
        assert (total, [r["workflow_id"] for r in rows]) == (2, ["w1", "w0"])


def test_only_enabled_projects_arm_triggers(db: Database) -> None:
    with db.write() as conn:
        q.insert_project(conn, project_row(1, project_id="p-on"))
        q.insert_project(conn, project_row(2, project_id="p-off", status=0))
        q.insert_workflow(conn, workflow_row("w-on", "on", project_id="p-on", trigger_configs=[{"TriggerId": "t"}]))
        q.insert_workflow(conn, workflow_row("w-off", "off", project_id="p-off", trigger_configs=[{"TriggerId": "u"}]))
    with db.read() as conn:
        assert [r["workflow_id"] for r in tq.workflows_with_triggers(conn)] == ["w-on"]
        before = tq.workflows_fingerprint(conn)
        assert before[2] == ("p-off",)
    with db.write() as conn:
        q.update_project(conn, "p-off", {"status": 1})
    with db.read() as conn:
        assert tq.workflows_fingerprint(conn) != before  # a standby's enable reaches the active scheduler
        assert {r["workflow_id"] for r in tq.workflows_with_triggers(conn)} == {"w-on", "w-off"}


def test_migration_0008_adds_every_missing_ancestor_folder(fresh_url: str) -> None:
    db = Database(fresh_url)
    try:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with db.write() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0007")
            conn.execute(
                sa.text(
                    "INSERT INTO folders (folder_id, project_id, path, name, create_ms) VALUES "
                    "('f1', 'p', '/a/b/c', 'c', 5), ('f2', 'p', '/a/d', 'd', 3), ('f3', 'p', '/x', 'x', 9),"
                    " ('f4', 'q', '/a/b', 'b', 7)"
                )
            )
        db.migrate()
        with db.read() as conn:
            rows = conn.execute(sa.text("SELECT project_id, path, name, create_ms, create_user_uin FROM folders")).all()
        got = {(r[0], r[1]): (r[2], r[3], r[4]) for r in rows}
        assert got == {
            ("p", "/a/b/c"): ("c", 5, None),
            ("p", "/a/d"): ("d", 3, None),
            ("p", "/x"): ("x", 9, None),
            ("q", "/a/b"): ("b", 7, None),
            ("p", "/a"): ("a", 3, None),
            ("p", "/a/b"): ("b", 5, None),
            ("q", "/a"): ("a", 7, None),
        }
    finally:
        db.dispose()
