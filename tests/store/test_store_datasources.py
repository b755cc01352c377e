"""Data sources on both backends, through the service (service/datasources.py): what is stored after a masked
round trip, the task-reference check task types call at save, the in-use scan, and the wire Id bounds."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa

from tests.store.test_store import PROJECT, project_row, task_row, version_row
from trigflow.domain.errors import ApiError, InvalidParameter, InvalidParameterValue, ResourceInUse, ResourceNotFound
from trigflow.service.common import Caller, Page
from trigflow.service.datasources import DataSources, check_reference, describe_services, masked
from trigflow.store import catalog as q
from trigflow.store.engine import Database
from trigflow.store.tables import data_sources

CALLER = Caller("AKIDtest", "100000000001")
PG_PROPS = {"url": "jdbc:postgresql://127.0.0.1:5432/test", "username": "postgres", "password": "pg-secret-1"}
SSH_PROPS = {
    "host": "127.0.0.1",
    "username": "u",
    "privateKey": "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n",
    "passphrase": "pp-secret",
}


@pytest.fixture
def svc(db: Database) -> DataSources:
    with db.write() as conn:
        q.insert_project(conn, project_row(0, project_id=PROJECT))
    return DataSources(db, lambda: 1_764_819_601_000)


def create(svc: DataSources, name: str, source_type: str, props: dict[str, Any], **extra: Any) -> int:
    p = {"ProjectId": PROJECT, "Name": name, "Type": source_type, "ProdConProperties": json.dumps(props), **extra}
    return svc.create(CALLER, p)


def stored(db: Database, source_id: int) -> dict[str, Any]:
    with db.read() as conn:
        return dict(conn.execute(sa.select(data_sources).where(data_sources.c.id == source_id)).mappings().one())


def test_masked_round_trip_keeps_the_stored_secrets(svc: DataSources, db: Database) -> None:
    source_id = create(svc, "pg", "POSTGRE", PG_PROPS, DevConProperties=json.dumps({**PG_PROPS, "password": "dev-1"}))
    shown = svc.get(PROJECT, source_id)

    prod, dev = masked(shown, "prod_properties"), masked(shown, "dev_properties")
    assert prod is not None and dev is not None and "pg-secret-1" not in prod and "dev-1" not in dev
    svc.update(CALLER, {"ProjectId": PROJECT, "Id": source_id, "ProdConProperties": prod, "DevConProperties": dev})
    assert svc.connection(PROJECT, source_id)["password"] == "pg-secret-1"
    assert json.loads(stored(db, source_id)["dev_properties"])["password"] == "dev-1"
    # a new password replaces it; other fields follow the request
    new = {**json.loads(prod), "password": "pg-secret-2", "url": "jdbc:postgresql://127.0.0.1:5432/other"}
    svc.update(CALLER, {"ProjectId": PROJECT, "Id": source_id, "ProdConProperties": json.dumps(new)})
    conn = svc.connection(PROJECT, source_id)
    assert (conn["password"], conn["database"]) == ("pg-secret-2", "other")


def test_ssh_key_round_trip(svc: DataSources) -> None:
    source_id = create(svc, "ssh", "SSH", SSH_PROPS)

    text = masked(svc.get(PROJECT, source_id), "prod_properties") or ""
    assert "PRIVATE KEY" not in text and "pp-secret" not in text
    svc.update(CALLER, {"ProjectId": PROJECT, "Id": source_id, "ProdConProperties": text})
    conn = svc.connection(PROJECT, source_id)
    assert (conn["private_key"], conn["passphrase"]) == (SSH_PROPS["privateKey"], "pp-secret")


def test_create_refusals(svc: DataSources) -> None:
    create(svc, "dup", "SPARK", {})
    with pytest.raises(InvalidParameter) as exc:
        create(svc, "dup", "SPARK", {})
    assert exc.value.code == "InvalidParameter.DuplicateName"
    with pytest.raises(InvalidParameterValue, match=r"ProdConProperties\.password is the mask"):
        create(svc, "masked", "POSTGRE", {**PG_PROPS, "password": "******"})
    with pytest.raises(InvalidParameterValue, match=r"^ProdFileUpload"):
        create(svc, "upload", "SSH", SSH_PROPS, ProdFileUpload={"PrivateKey": "cos://x"})
    with pytest.raises(ResourceNotFound):
        svc.create(CALLER, {"ProjectId": "nope", "Name": "x", "Type": "SPARK", "ProdConProperties": "{}"})


@pytest.mark.parametrize("source_id", [0, 2**31, 2**63 - 1, 2**64 - 1])
def test_ids_beyond_the_column_name_nothing(svc: DataSources, source_id: int) -> None:
    for call in (
        lambda: svc.get(PROJECT, source_id),
        lambda: svc.delete(PROJECT, source_id),
        lambda: svc.related_tasks(source_id),
        lambda: svc.update(CALLER, {"ProjectId": PROJECT, "Id": source_id, "DisplayName": "x"}),
    ):
        with pytest.raises(ResourceNotFound, match=r"^Id: data source"):
            call()


def test_list_filters_and_order(svc: DataSources) -> None:
    ids = [create(svc, f"lst_{i}", "SPARK" if i % 2 else "SQLITE", {"path": "/tmp/x.db"} if i % 2 == 0 else {})
           for i in range(5)]  # fmt: skip
    rows, total = svc.page({"ProjectId": PROJECT, "Name": "LST_"}, Page(1, 2))
    assert total == 5 and [r["id"] for r in rows] == ids[::-1][:2]  # same create time: newest id first
    rows, total = svc.page({"ProjectId": PROJECT, "Type": ["SPARK"]}, Page(1, 10))
    assert total == 2 and {r["type"] for r in rows} == {"SPARK"}
    assert svc.page({"ProjectId": PROJECT, "Creator": "someone-else"}, Page(1, 10))[1] == 0
    assert svc.page({"ProjectId": PROJECT, "Name": "x" * 100_000}, Page(1, 10))[1] == 0


def insert_task(db: Database, task_id: str, config: dict[str, Any], submitted: dict[str, Any] | None = None) -> None:
    with db.write() as conn:
        extra: dict[str, Any] = {}
        if submitted is not None:
            vid = f"{task_id}_v"
            q.insert_version(conn, {**version_row(vid, task_id, kind="SUBMIT"), "snapshot": {"config": submitted}})
            extra["submitted_version_id"] = vid
        q.insert_task(conn, task_row(task_id, f"name-{task_id}", config=config, **extra))


def test_delete_in_use_names_the_tasks_saved_or_submitted(svc: DataSources, db: Database) -> None:
    used = create(svc, "used", "POSTGRE", PG_PROPS)
    free = create(svc, "free", "POSTGRE", PG_PROPS)
    insert_task(db, "t1", {"SourceServiceId": f"{used}"})
    insert_task(db, "t2", {"CodeContent": "x"}, submitted={"TargetServiceId": f"99;{used}"})
    insert_task(db, "t3", {"SourceServiceId": f"{used}0"})  # 10x the id: not a reference
    with pytest.raises(ResourceInUse) as exc:
        svc.delete(PROJECT, used)
    assert "name-t1" in exc.value.message and "name-t2" in exc.value.message and "name-t3" not in exc.value.message
    _, tasks = svc.related_tasks(used)
    assert [t["task_id"] for t in tasks] == ["t1", "t2"]
    svc.delete(PROJECT, free)
    with pytest.raises(ResourceNotFound):
        svc.get(PROJECT, free)
    # a new data source never reuses the deleted id (a task may still name it)
    assert create(svc, "after", "SPARK", {}) > free


def test_check_reference_for_task_types(svc: DataSources, db: Database) -> None:
    pg = create(svc, "ref_pg", "POSTGRE", PG_PROPS)
    ssh = create(svc, "ref_ssh", "SSH", SSH_PROPS)
    path = "TriggerTaskConfiguration.SourceServiceId"
    with db.read() as conn:
        refs = check_reference(conn, PROJECT, f"{pg}", path, ("POSTGRE", "MYSQL"))
        assert [(r.source_id, r.name, r.type) for r in refs] == [(pg, "ref_pg", "POSTGRE")]
        assert check_reference(conn, PROJECT, None, path, ("POSTGRE",)) == []
        for value, words in (
            ("123456", "does not exist"),
            (str(2**40), "does not exist"),
            (f"{ssh}", "of type SSH"),
            ("pg", "integers"),
        ):
            with pytest.raises(InvalidParameterValue) as exc:
                check_reference(conn, PROJECT, value, path, ("POSTGRE", "MYSQL"))
            assert exc.value.message.startswith(path) and words in exc.value.message
        with pytest.raises(ApiError):
            check_reference(conn, "other-project", f"{pg}", path, ("POSTGRE",))
        described = describe_services(conn, PROJECT, {"SourceServiceId": f"{pg};{ssh}", "TargetServiceId": "x"})
    assert (described["SourceServiceType"], described["SourceServiceName"]) == ("POSTGRE;SSH", "ref_pg;ref_ssh")
    assert described["TargetServiceType"] is None and described["TargetServiceId"] == "x"


def test_check_uses_as_a_task_type_declares_them(svc: DataSources, db: Database) -> None:
    from trigflow.domain.datasources import SQL_TYPES, SourceUse
    from trigflow.service.datasources import check_uses

    pg = create(svc, "use_pg", "POSTGRE", PG_PROPS)
    lake = create(svc, "use_lake", "DUCKDB", {"path": ":memory:"})
    sql = (SourceUse("SourceServiceId", SQL_TYPES),)
    sync = (SourceUse("SourceServiceId", SQL_TYPES), SourceUse("TargetServiceId", SQL_TYPES))
    path = "Task.TriggerTaskConfiguration"
    with db.read() as conn:
        got = check_uses(conn, PROJECT, {"SourceServiceId": str(pg)}, sql, path)
        assert [r.source_id for r in got["SourceServiceId"]] == [pg]
        got = check_uses(conn, PROJECT, {"SourceServiceId": str(pg), "TargetServiceId": str(lake)}, sync, path)
        assert [r.type for r in got["TargetServiceId"]] == ["DUCKDB"]
        for config, words in (
            ({}, "SourceServiceId is required"),
            ({"SourceServiceId": ""}, "SourceServiceId is required"),
            ({"SourceServiceId": f"{pg};{lake}"}, "names 2 data sources"),
            ({"SourceServiceId": 5}, "must be a string"),
            ({"SourceServiceId": str(pg)}, "TargetServiceId is required"),
        ):
            with pytest.raises(InvalidParameterValue) as exc:
                check_uses(conn, PROJECT, config, sync, path)
            assert exc.value.message.startswith(path) and words in exc.value.message, exc.value.message
        assert check_uses(conn, PROJECT, {}, (SourceUse("SourceServiceId", SQL_TYPES, required=False),), path) == {
            "SourceServiceId": []
        }


def test_long_id_lists_are_bounded(svc: DataSources, db: Database) -> None:
    """A Shell task may store any SourceServiceId text; reads must not turn 5,000 ids into 5,000 SQL parameters."""
    pg = create(svc, "many", "POSTGRE", PG_PROPS)
    many = ";".join([str(pg)] + [str(10_000 + i) for i in range(5000)])
    with db.read() as conn:
        assert describe_services(conn, PROJECT, {"SourceServiceId": many})["SourceServiceName"] == "many"
        with pytest.raises(InvalidParameterValue, match="names 5001 data sources; at most 100"):
            check_reference(conn, PROJECT, many, "SourceServiceId", ("POSTGRE",))
