"""Data sources through the official SDK (and tccli once) against the session's real `trigflow up`:
each type created and read back masked, lists with filters and paging, the masked update round trip, the
in-use refusal and GetDataSourceRelatedTasks, GetTriggerTask's SourceServiceType/Name, and refusals that
name the field without echoing a secret. What the masked round trip stores is proven in
tests/store/test_store_datasources.py (the stored row is not readable through the API, by design)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Server
from tests.integration.helpers import call, fails, new_task, new_workflow, uid
from tests.integration.test_tccli import output_json, tccli

SECRETS = ("pg-Secret-9x", "my-Secret-9x", "ssh-Secret-9x", "KEYBODY9x", "dev-Secret-9x")
KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nKEYBODY9x\n-----END OPENSSH PRIVATE KEY-----\n"


def type_props(tmp: Path) -> dict[str, dict[str, Any]]:
    return {
        "POSTGRE": {
            "deployType": "CONNSTR_PUBLICDB",
            "url": "jdbc:postgresql://127.0.0.1:5432/test",
            "username": "postgres",
            "password": "pg-Secret-9x",
            "type": "POSTGRE",
        },
        "MYSQL": {"url": "jdbc:mariadb://127.0.0.1:3306/test", "username": "root", "password": "my-Secret-9x"},
        "SSH": {"host": "127.0.0.1", "port": 22, "username": "tf", "password": "ssh-Secret-9x", "privateKey": KEY},
        "SPARK": {"master": "local[2]", "conf": {"spark.ui.enabled": "false"}},
        "SQLITE": {"path": str(tmp / "local.db")},
        "DUCKDB": {"url": f"jdbc:duckdb:{tmp / 'lake.duckdb'}"},
    }


def create(client: Any, project_id: str, name: str, source_type: str, props: dict[str, Any], **extra: Any) -> int:
    params = {"ProjectId": project_id, "Name": name, "Type": source_type, "ProdConProperties": json.dumps(props)}
    data = call(client, "CreateDataSource", {**params, **extra})
    assert data.Status is True
    return int(data.DataSourceId)


def raw(client: Any, action: str, params: dict[str, Any]) -> str:
    """The raw response text: secrets must be absent from the bytes, not only from one field."""
    return str(client.call(action, params))


def test_each_type_is_created_and_read_back_masked(client: Any, project_id: str, tmp_path: Path) -> None:
    tag = uid()
    for source_type, props in type_props(tmp_path).items():
        dev = json.dumps({**props, "password": "dev-Secret-9x"}) if source_type == "POSTGRE" else None
        extra = {"DevConProperties": dev} if dev else {}
        source_id = create(
            client, project_id, f"ds_{source_type}_{tag}", source_type, props, DisplayName="展示", **extra
        )
        text = raw(client, "GetDataSource", {"ProjectId": project_id, "Id": source_id})
        assert not [s for s in SECRETS if s in text], text
        data = call(client, "GetDataSource", {"ProjectId": project_id, "Id": source_id})
        assert (data.Id, data.Type, data.Name, data.DisplayName, data.Category) == (
            source_id,
            source_type,
            f"ds_{source_type}_{tag}",
            "展示",
            "DB",
        )
        assert data.ProjectId == project_id and data.ProjectName and data.CreateUser and data.ModifyUser
        assert len(data.CreateTime) == 19 and data.CreateTime[4] == "-"
        shown = json.loads(data.ProdConProperties)
        expected = {k: ("******" if k in ("password", "privateKey") else v) for k, v in props.items()}
        assert shown == expected
        if dev:
            assert json.loads(data.DevConProperties)["password"] == "******"
        else:
            assert data.DevConProperties is None


def test_list_filters_and_paging(client: Any, project_id: str, tmp_path: Path) -> None:
    tag = uid()
    props = type_props(tmp_path)
    ids = [
        create(client, project_id, f"lst_{tag}_{i}", t, props[t], DisplayName=f"disp_{tag}_{i}")
        for i, t in enumerate(["SPARK", "SQLITE", "SPARK"])
    ]
    base = {"ProjectId": project_id, "Name": f"lst_{tag}"}
    page1 = call(client, "ListDataSources", {**base, "PageSize": 2, "PageNumber": 1})
    assert (page1.TotalCount, page1.TotalPageNumber, page1.PageNumber, page1.PageSize) == (3, 2, 1, 2)
    assert [i.Id for i in page1.Items] == [ids[2], ids[1]]  # newest first
    page2 = call(client, "ListDataSources", {**base, "PageSize": 2, "PageNumber": 2})
    assert [i.Id for i in page2.Items] == [ids[0]]
    sparks = call(client, "ListDataSources", {**base, "Type": ["SPARK"]})
    assert sorted(i.Id for i in sparks.Items) == sorted([ids[0], ids[2]])
    by_display = call(client, "ListDataSources", {"ProjectId": project_id, "DisplayName": f"DISP_{tag}_1"})
    assert [i.Id for i in by_display.Items] == [ids[1]]
    creator = page1.Items[0].CreateUser
    assert call(client, "ListDataSources", {**base, "Creator": creator}).TotalCount == 3
    assert call(client, "ListDataSources", {**base, "Creator": "nobody"}).TotalCount == 0
    fails(client, "ListDataSources", {**base, "PageSize": 201}, "InvalidParameterValue", "PageSize")


def test_update_round_trip_and_fields(client: Any, project_id: str, tmp_path: Path) -> None:
    props = type_props(tmp_path)["POSTGRE"]
    source_id = create(client, project_id, f"upd_{uid()}", "POSTGRE", props, Description="before")
    got = call(client, "GetDataSource", {"ProjectId": project_id, "Id": source_id})
    call(
        client,
        "UpdateDataSource",
        {"ProjectId": project_id, "Id": source_id, "ProdConProperties": got.ProdConProperties, "Description": "after"},
    )
    again = call(client, "GetDataSource", {"ProjectId": project_id, "Id": source_id})
    assert again.ProdConProperties == got.ProdConProperties and again.Description == "after"
    assert again.Name == got.Name and again.Type == "POSTGRE"
    moved = {**json.loads(got.ProdConProperties), "url": "jdbc:postgresql://127.0.0.1:5433/other"}
    call(client, "UpdateDataSource", {"ProjectId": project_id, "Id": source_id, "ProdConProperties": json.dumps(moved)})
    shown = json.loads(call(client, "GetDataSource", {"ProjectId": project_id, "Id": source_id}).ProdConProperties)
    assert shown["url"].endswith(":5433/other") and shown["password"] == "******"
    bad = {**moved, "url": "jdbc:mysql://127.0.0.1:3306/test"}
    fails(
        client,
        "UpdateDataSource",
        {"ProjectId": project_id, "Id": source_id, "ProdConProperties": json.dumps(bad)},
        "InvalidParameterValue",
        "ProdConProperties.url",
    )
    fails(client, "UpdateDataSource", {"ProjectId": project_id, "Id": 987654321}, "ResourceNotFound", "987654321")


def test_delete_in_use_related_tasks_and_task_reads(client: Any, project_id: str, tmp_path: Path) -> None:
    name = f"used_{uid()}"
    source_id = create(client, project_id, name, "POSTGRE", type_props(tmp_path)["POSTGRE"])
    workflow_id = new_workflow(client, project_id, f"ds_wf_{uid()}")
    task_id = new_task(client, project_id, workflow_id, "reads_pg", "echo hi", submit=False)
    call(
        client,
        "UpdateTriggerTaskPartially",
        {
            "ProjectId": project_id,
            "TaskId": task_id,
            "NewSetting": {"TriggerTaskConfiguration": {"SourceServiceId": str(source_id)}},
        },
    )
    conf = call(client, "GetTriggerTask", {"ProjectId": project_id, "TaskId": task_id}).TriggerTaskConfiguration
    assert (conf.SourceServiceId, conf.SourceServiceType, conf.SourceServiceName) == (str(source_id), "POSTGRE", name)
    assert conf.TargetServiceType is None
    call(client, "SubmitTriggerTask", {"ProjectId": project_id, "TaskId": task_id, "VersionRemark": "with ds"})
    version = call(client, "GetTriggerTaskVersion", {"ProjectId": project_id, "TaskId": task_id})
    frozen = version.Task.TriggerTaskConfiguration
    assert (frozen.SourceServiceType, frozen.SourceServiceName) == ("POSTGRE", name)

    fails(client, "DeleteDataSource", {"ProjectId": project_id, "Id": source_id}, "ResourceInUse", "reads_pg", task_id)
    (info,) = call(client, "GetDataSourceRelatedTasks", {"Id": source_id})
    assert info.ProjectId == project_id and info.ProjectName
    (group,) = info.TaskInfo
    assert (group.TaskType, group.TaskNum) == ("35", 1)
    (brief,) = group.TaskList
    assert (brief.TaskId, brief.TaskName) == (task_id, "reads_pg") and brief.OwnerUinList and brief.CreateTime

    call(client, "DeleteTriggerTask", {"ProjectId": project_id, "TaskId": task_id})
    assert call(client, "GetDataSourceRelatedTasks", {"Id": source_id})[0].TaskInfo == []
    assert call(client, "DeleteDataSource", {"ProjectId": project_id, "Id": source_id}).Status is True
    fails(client, "GetDataSource", {"ProjectId": project_id, "Id": source_id}, "ResourceNotFound", str(source_id))
    fails(client, "GetDataSourceRelatedTasks", {"Id": source_id}, "ResourceNotFound", str(source_id))


@pytest.mark.parametrize(
    ("source_type", "props", "code", "field"),
    [
        ("ORACLE", {"url": "jdbc:oracle:thin:@h:1521:s"}, "InvalidParameterValue", "Type"),
        ("POSTGRE", "not json", "InvalidParameterValue", "ProdConProperties"),
        (
            "POSTGRE",
            {"url": "jdbc:mysql://h:3306/d", "username": "u"},
            "InvalidParameterValue",
            "ProdConProperties.url",
        ),
        (
            "POSTGRE",
            {"url": "jdbc:postgresql://h/d", "password": "pg-Secret-9x"},
            "InvalidParameterValue",
            "ProdConProperties.username",
        ),
        (
            "POSTGRE",
            {"url": "jdbc:postgresql://u:pg-Secret-9x@h/d", "username": "u"},
            "InvalidParameterValue",
            "ProdConProperties.url",
        ),
        (
            "MYSQL",
            {"url": "jdbc:mysql://h/d", "username": "u", "password": "******"},
            "InvalidParameterValue",
            "ProdConProperties.password",
        ),
        ("SSH", {"host": "h", "username": "u"}, "InvalidParameterValue", "privateKey"),
        ("SPARK", {"master": "nope://x"}, "InvalidParameterValue", "ProdConProperties.master"),
        ("SQLITE", {"path": "relative.db"}, "InvalidParameterValue", "ProdConProperties.path"),
    ],
)
def test_bad_configurations_are_refused_naming_the_field(
    client: Any, project_id: str, source_type: str, props: Any, code: str, field: str
) -> None:
    text = props if isinstance(props, str) else json.dumps(props)
    params = {"ProjectId": project_id, "Name": f"bad_{uid()}", "Type": source_type, "ProdConProperties": text}
    message = fails(client, "CreateDataSource", params, code, field)
    assert not [s for s in SECRETS if s in message]


def test_duplicate_name_and_unknown_project(client: Any, project_id: str) -> None:
    name = f"dup_{uid()}"
    create(client, project_id, name, "SPARK", {})
    params = {"ProjectId": project_id, "Name": name, "Type": "SPARK", "ProdConProperties": "{}"}
    fails(client, "CreateDataSource", params, "InvalidParameter.DuplicateName", name)
    fails(client, "CreateDataSource", {**params, "ProjectId": "123"}, "ResourceNotFound", "123")


def test_secrets_stay_out_of_the_server_log(client: Any, server: Server, project_id: str, tmp_path: Path) -> None:
    props = {**type_props(tmp_path)["MYSQL"], "url": "jdbc:mysql://u:my-Secret-9x@h/d"}
    params = {"ProjectId": project_id, "Name": f"log_{uid()}", "Type": "MYSQL", "ProdConProperties": json.dumps(props)}
    fails(client, "CreateDataSource", params, "InvalidParameterValue", "ProdConProperties.url")
    create(client, project_id, f"log_{uid()}", "MYSQL", type_props(tmp_path)["MYSQL"])
    assert not [s for s in SECRETS if s in server.output()]


def test_tccli_creates_and_lists(server: Server, project_id: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    home = tmp_path_factory.mktemp("tccli-ds")
    name = f"cli_{uid()}"
    props = json.dumps(
        {"url": "jdbc:postgresql://127.0.0.1:5432/test", "username": "postgres", "password": "pg-Secret-9x"}
    )
    created = output_json(
        tccli(
            server,
            home,
            "CreateDataSource",
            "--ProjectId",
            project_id,
            "--Name",
            name,
            "--Type",
            "POSTGRE",
            "--ProdConProperties",
            props,
        )
    )
    source_id = created["Data"]["DataSourceId"]
    assert isinstance(source_id, int)
    listed = tccli(server, home, "ListDataSources", "--ProjectId", project_id, "--Name", name, "--Type", '["POSTGRE"]')
    body = output_json(listed)
    assert [i["Id"] for i in body["Data"]["Items"]] == [source_id]
    assert "pg-Secret-9x" not in listed.stdout


def test_a_project_with_data_sources_is_not_deleted(client: Any) -> None:
    project = str(
        call(client, "CreateProject", {"Project": {"ProjectName": f"dsp_{uid()}", "DisplayName": "p"}}).ProjectId
    )
    source_id = create(client, project, "keeps_project", "SPARK", {})
    fails(client, "DeleteProject", {"ProjectId": project}, "ResourceInUse", "keeps_project", "DeleteDataSource")
    call(client, "DeleteDataSource", {"ProjectId": project, "Id": source_id})
    call(client, "DeleteProject", {"ProjectId": project})
