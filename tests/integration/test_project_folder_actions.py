"""Project lifecycle, project members and folders through the official SDK against the session server:
UpdateProject, DeleteProject, EnableProject, DisableProject, ListProjectMembers, CreateWorkflowFolder,
ListWorkflowFolders, CreateTaskFolder, ListTaskFolders.

The session server is shared: tests work in projects and folders of their own (uuid-suffixed names), and
a test that needs a server with a single project starts its own.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from tencentcloud.wedata.v20250806 import models

from tests.conftest import make_client, start_server, wait_for
from tests.integration.helpers import call, fails, new_task, new_workflow, start_run, uid, wait_run

MISSING_ID = "00000000-0000-4000-8000-000000000404"
EVERY_SECOND = {
    "TriggerMode": "TIME_TRIGGER",
    "ConfigMode": "CRON_EXPRESSION",
    "CycleType": "CRONTAB_CYCLE",
    "CrontabExpression": "* * * * * ? *",
    "SchedulerStatus": "ACTIVE",
}




def new_project(client: Any, name: str | None = None) -> str:
    name = name or f"pf_{uid()}"
    return str(call(client, "CreateProject", {"Project": {"ProjectName": name, "DisplayName": name}}).ProjectId)


def project(client: Any, project_id: str) -> Any:
    return call(client, "GetProject", {"ProjectId": project_id})


def runs_of(client: Any, project_id: str, wf: str) -> list[Any]:
    """The workflow's runs, newest first (up to 200: these tests make far fewer)."""
    filters = [{"Name": "WorkflowId", "Values": [wf]}]
    page = call(client, "ListTriggerWorkflowRuns", {"ProjectId": project_id, "Filters": filters, "PageSize": 200})
    return list(page.Items)


# ------------------------------------------------------------------------------------------ projects


def test_update_project_sets_only_what_is_sent(client: Any) -> None:
    pid = new_project(client)
    before = project(client, pid)
    req = models.UpdateProjectRequest()
    req.from_json_string(f'{{"ProjectId": "{pid}", "DisplayName": "显示名", "Description": "about"}}')
    resp = client.UpdateProject(req)  # the response carries no Data, only a RequestId
    assert resp.RequestId and not hasattr(resp, "Data")
    after = project(client, pid)
    assert (after.DisplayName, after.Description) == ("显示名", "about")
    assert (after.ProjectName, after.ProjectOwnerUin, after.Status) == (before.ProjectName, before.ProjectOwnerUin, 1)

    client.call_json("UpdateProject", {"ProjectId": pid, "ProjectOwnerUin": before.CreatorUin, "Description": ""})
    after = project(client, pid)
    assert (after.DisplayName, after.Description, after.ProjectOwnerUin) == ("显示名", "", before.CreatorUin)
    other = new_project(client)
    client.call_json("UpdateProject", {"ProjectId": other, "DisplayName": "显示名"})  # display names may repeat


@pytest.mark.parametrize(
    ("params", "code", "mentions"),
    [
        ({"ProjectId": "404404", "Description": "x"}, "ResourceNotFound", ("404404",)),
        ({"ProjectId": None, "DisplayName": "x"}, "MissingParameter", ("ProjectId",)),
        ({"DisplayName": "  "}, "InvalidParameterValue", ("DisplayName",)),
        ({"DisplayName": "x" * 201}, "InvalidParameterValue", ("DisplayName",)),
        ({"ProjectOwnerUin": "100000000404"}, "InvalidParameterValue", ("ProjectOwnerUin", "100000000404")),
        ({"ProjectOwnerUin": 100000000404}, "InvalidParameter", ("ProjectOwnerUin",)),
        ({"ProjectName": "renamed"}, "UnknownParameter", ("ProjectName",)),
    ],
)
def test_update_project_refusals(client: Any, params: dict[str, Any], code: str, mentions: tuple[str, ...]) -> None:
    pid = new_project(client)
    merged = {"ProjectId": pid, **params}
    fails(client, "UpdateProject", {k: v for k, v in merged.items() if v is not None}, code, *mentions)


def test_delete_project_only_when_it_has_no_workflow(client: Any) -> None:
    name = f"pf_del_{uid()}"
    pid = new_project(client, name)
    wfs = [new_workflow(client, pid, f"wf_{i}") for i in range(4)]
    fails(client, "DeleteProject", {"ProjectId": pid}, "ResourceInUse", "4 workflow(s)", "'wf_0'", "1 more")
    for wf in wfs:
        call(client, "DeleteTriggerWorkflow", {"ProjectId": pid, "WorkflowId": wf})
    assert call(client, "DeleteProject", {"ProjectId": pid}).Status is True
    fails(client, "GetProject", {"ProjectId": pid}, "ResourceNotFound", pid)
    assert call(client, "ListProjects", {"ProjectIds": [pid]}).TotalCount == 0
    fails(client, "DeleteProject", {"ProjectId": pid}, "ResourceNotFound", pid)
    fails(
        client,
        "CreateTriggerWorkflow",
        {"ProjectId": pid, "WorkflowName": "w", "ParentFolderPath": "/"},
        "ResourceNotFound",
        pid,
    )
    assert new_project(client, name) != pid  # the name is free again
    fails(client, "DeleteProject", {}, "MissingParameter", "ProjectId")


def test_a_server_keeps_its_last_project_and_lists_its_key_holder(tmp_path: Path) -> None:
    solo = start_server(tmp_path / "solo", extra=["--rate-limit", "1000"])
    try:
        client = make_client(solo.endpoint)
        (only,) = call(client, "ListProjects", {}).Items
        fails(client, "DeleteProject", {"ProjectId": only.ProjectId}, "UnsupportedOperation", "last project")
        (member,) = call(client, "ListProjectMembers", {"ProjectId": only.ProjectId}).Items
        assert member.UserUin == only.CreatorUin and member.UserName == "env"  # the key made from the env vars
        assert (member.IsCreator, member.IsProjectOwner) == (True, True)
        assert member.RootAccountId == only.CreatorUin
    finally:
        solo.stop()


def test_disable_stops_new_runs_and_triggers_but_lets_runs_finish(client: Any, tmp_path: Path) -> None:
    pid, control_pid = new_project(client), new_project(client)
    config = {"TriggerWorkflowRunConfiguration": {"MaxConcurrentNum": 10}}
    fired = new_workflow(client, pid, "fired", TriggerWorkflowSchedulerConfigurations=[EVERY_SECOND], **config)
    control = new_workflow(
        client, control_pid, "control", TriggerWorkflowSchedulerConfigurations=[EVERY_SECOND], **config
    )
    for wf, p in ((fired, pid), (control, control_pid)):
        new_task(client, p, wf, "t", "true")
    gate, started = tmp_path / "gate", tmp_path / "started"
    long = new_workflow(client, pid, "long")
    new_task(client, pid, long, "waits", f"touch {started}; while [ ! -f {gate} ]; do sleep 0.05; done")
    try:
        first = wait_for(lambda: runs_of(client, pid, fired), timeout=10, what="a fire before disabling")
        long_run = start_run(client, pid, long)
        wait_for(started.exists, what="the long run started")

        assert call(client, "DisableProject", {"ProjectId": pid}).Status is True
        assert call(client, "DisableProject", {"ProjectId": pid}).Status is True  # idempotent
        disabled = project(client, pid)
        assert (disabled.Status, disabled.DisplayStatus) == (0, "UNABLED")
        assert pid in {p.ProjectId for p in call(client, "ListProjects", {"Status": 0, "PageSize": 200}).Items}
        count = len(runs_of(client, pid, fired))
        fails(
            client,
            "CreateTriggerWorkflowRun",
            {"ProjectId": pid, "WorkflowId": fired},
            "UnsupportedOperation",
            pid,
            "disabled",
            "EnableProject",
        )
        done = wait_run(client, pid, first[-1].ExecutionId)
        fails(
            client,
            "RerunTriggerWorkflowRunAsync",
            {
                "ProjectId": pid,
                "WorkflowId": fired,
                "WorkflowExecutionId": done.TriggerWorkflowRun.ExecutionId,
                "ExecuteType": "1",
            },
            "UnsupportedOperation",
            "disabled",
        )

        gate.touch()  # the run that started before DisableProject goes on to its end
        assert wait_run(client, pid, long_run).TriggerWorkflowRun.ExecutionState == "SUCCESS"
        # The control project's trigger shows the scheduler firing meanwhile; the disabled one fires nothing.
        seen = len(runs_of(client, control_pid, control))
        wait_for(lambda: len(runs_of(client, control_pid, control)) >= seen + 3, timeout=10, what="control fires")
        assert len(runs_of(client, pid, fired)) == count
        # Definitions stay editable while disabled.
        call(client, "UpdateTriggerWorkflow", {"ProjectId": pid, "WorkflowId": long, "WorkflowDesc": "edited"})

        assert call(client, "EnableProject", {"ProjectId": pid}).Status is True
        assert project(client, pid).Status == 1
        wait_for(lambda: len(runs_of(client, pid, fired)) > count, timeout=10, what="fires after EnableProject")
        assert wait_run(client, pid, start_run(client, pid, long)).TriggerWorkflowRun.ExecutionState == "SUCCESS"
    finally:
        gate.touch()
        for wf, p in ((fired, pid), (control, control_pid)):
            call(client, "UpdateTriggerWorkflow", {"ProjectId": p, "WorkflowId": wf, "SchedulerStatus": "PAUSED"})
    for action in ("EnableProject", "DisableProject"):
        fails(client, action, {"ProjectId": "404404"}, "ResourceNotFound", "404404")
        fails(client, action, {}, "MissingParameter", "ProjectId")


# ------------------------------------------------------------------------------------------ members


def test_list_project_members(client: Any) -> None:
    pid = new_project(client)
    me = project(client, pid).CreatorUin
    page = call(client, "ListProjectMembers", {"ProjectId": pid})
    assert (page.PageNumber, page.PageSize) == (1, 10) and page.TotalCount == len(page.Items) >= 1
    mine = next(m for m in page.Items if m.UserUin == me)
    assert (mine.IsCreator, mine.IsProjectOwner, mine.DisplayName) == (True, True, mine.UserName)
    assert [(r.RoleName, r.RoleDisplayName) for r in mine.Roles] == [("ProjectManager", "项目管理员")]
    assert datetime.fromisoformat(mine.CreateTime).tzinfo is not None and mine.AppId
    assert (mine.PhoneNum, mine.Email) == (None, None)

    def uins(**params: Any) -> list[str]:
        return [m.UserUin for m in call(client, "ListProjectMembers", {"ProjectId": pid, **params}).Items]

    assert me in uins(UserUin=me[2:8])  # substring, as documented (模糊查询)
    assert me in uins(UserName=mine.UserName.upper())  # case-insensitive
    assert uins(UserUin="no-such-uin") == [] and uins(UserName="no-such-user") == []
    assert uins(PageNumber=page.TotalCount + 1) == []
    assert len(uins(PageSize=1)) == 1


@pytest.mark.parametrize(
    ("params", "code", "mentions"),
    [
        ({"ProjectId": "404404"}, "ResourceNotFound", ("404404",)),
        ({"ProjectId": None}, "MissingParameter", ("ProjectId",)),
        ({"PageSize": 201}, "InvalidParameterValue", ("PageSize",)),
        ({"PageNumber": 0}, "InvalidParameterValue", ("PageNumber",)),
        ({"UserUin": 1}, "InvalidParameter", ("UserUin",)),
        ({"Role": "x"}, "UnknownParameter", ("Role",)),
    ],
)
def test_list_project_members_refusals(
    client: Any, project_id: str, params: dict[str, Any], code: str, mentions: tuple[str, ...]
) -> None:
    merged = {"ProjectId": project_id, **params}
    fails(client, "ListProjectMembers", {k: v for k, v in merged.items() if v is not None}, code, *mentions)


# ------------------------------------------------------------------------------------------ workflow folders


def folders(client: Any, project_id: str, parent: str, **params: Any) -> Any:
    return call(client, "ListWorkflowFolders", {"ProjectId": project_id, "ParentFolderPath": parent, **params})


def test_workflow_folders_create_list_and_page(client: Any, project_id: str) -> None:
    top = f"pf_top_{uid()}"
    me = project(client, project_id).CreatorUin
    made = call(client, "CreateWorkflowFolder", {"ProjectId": project_id, "ParentFolderPath": "/", "FolderName": top})
    assert re.fullmatch(r"[0-9a-f-]{36}", made.FolderId)
    at_root = folders(client, project_id, "/", PageSize=200)
    assert at_root.TotalCount >= 2  # ours and /默认文件夹 (the default project's) at least
    (ours,) = [f for f in at_root.Items if f.FolderPath == f"/{top}"]
    assert (ours.FolderId, ours.ProjectId, ours.CreateUserUin) == (made.FolderId, project_id, me)
    assert all(f.FolderPath.count("/") == 1 for f in at_root.Items)  # direct children only

    subs = [f"s{i:02d}" for i in range(11)]
    for name in reversed(subs):
        call(
            client,
            "CreateWorkflowFolder",
            {"ProjectId": project_id, "ParentFolderPath": f"/{top}/", "FolderName": name},
        )
    call(
        client,
        "CreateWorkflowFolder",
        {"ProjectId": project_id, "ParentFolderPath": f"/{top}/s00", "FolderName": "deep"},
    )
    first = folders(client, project_id, f"/{top}")
    assert (first.TotalCount, first.TotalPageNumber, first.PageNumber, first.PageSize) == (11, 2, 1, 10)
    assert [f.FolderPath for f in first.Items] == [f"/{top}/{s}" for s in subs[:10]]  # by path, not the deep one
    assert [f.FolderPath for f in folders(client, project_id, f"/{top}", PageNumber=2).Items] == [f"/{top}/s10"]
    assert folders(client, project_id, f"/{top}", PageNumber=3).Items == []
    clamped = folders(client, project_id, f"/{top}", PageSize=1)  # minimum page size 10, as documented
    assert (clamped.PageSize, len(clamped.Items)) == (10, 10)
    assert [f.FolderPath for f in folders(client, project_id, f"/{top}/s00").Items] == [f"/{top}/s00/deep"]
    assert folders(client, project_id, f"/{top}/s00/deep").TotalCount == 0

    # CreateTriggerWorkflow creates the folders it needs, every level of them.
    new_workflow(client, project_id, "in_new_folders", ParentFolderPath=f"/{top}_auto/x/y")
    assert [f.FolderPath for f in folders(client, project_id, f"/{top}_auto").Items] == [f"/{top}_auto/x"]
    (leaf,) = folders(client, project_id, f"/{top}_auto/x").Items
    assert (leaf.FolderPath, leaf.CreateUserUin) == (f"/{top}_auto/x/y", me)
    # ... and a workflow can go into a folder made with CreateWorkflowFolder.
    wf = new_workflow(client, project_id, "in_made_folder", ParentFolderPath=f"/{top}/s03")
    got = call(client, "GetTriggerWorkflow", {"ProjectId": project_id, "WorkflowId": wf})
    assert got.Path == f"/{top}/s03/in_made_folder"


def test_workflow_folder_refusals(client: Any, project_id: str) -> None:
    top = f"pf_ref_{uid()}"
    call(client, "CreateWorkflowFolder", {"ProjectId": project_id, "ParentFolderPath": "/", "FolderName": top})

    def create(parent: str, name: Any, code: str, *mentions: str, project: str = project_id) -> None:
        fails(
            client,
            "CreateWorkflowFolder",
            {"ProjectId": project, "ParentFolderPath": parent, "FolderName": name},
            code,
            *mentions,
        )

    create("/", top, "InvalidParameter.DuplicateName", "FolderName", f"/{top}")
    create(f"/{top}_missing", "x", "ResourceNotFound", "ParentFolderPath", f"/{top}_missing")
    create("/", "a/b", "InvalidParameterValue", "FolderName", "'/'")
    create("/", "  ", "InvalidParameterValue", "FolderName")
    create("", "x", "InvalidParameterValue", "ParentFolderPath")
    create("/", "x" * 201, "InvalidParameterValue", "FolderName")
    create("/", 7, "InvalidParameter", "FolderName")
    create("/", "x", "ResourceNotFound", "404404", project="404404")
    fails(
        client,
        "CreateWorkflowFolder",
        {"ProjectId": project_id, "ParentFolderPath": "/"},
        "MissingParameter",
        "FolderName",
    )
    fails(
        client,
        "ListWorkflowFolders",
        {"ProjectId": project_id, "ParentFolderPath": f"/{top}_missing"},
        "ResourceNotFound",
        "ParentFolderPath",
        f"/{top}_missing",
    )
    fails(client, "ListWorkflowFolders", {"ProjectId": project_id}, "MissingParameter", "ParentFolderPath")
    fails(
        client,
        "ListWorkflowFolders",
        {"ProjectId": project_id, "ParentFolderPath": "/", "PageSize": 201},
        "InvalidParameterValue",
        "PageSize",
    )
    fails(
        client,
        "ListWorkflowFolders",
        {"ProjectId": project_id, "ParentFolderPath": "/", "PageNumber": 0},
        "InvalidParameterValue",
        "PageNumber",
    )
    fails(client, "ListWorkflowFolders", {"ProjectId": "404404", "ParentFolderPath": "/"}, "ResourceNotFound", "404404")


# ------------------------------------------------------------------------------------------ task folders


def task_folder(client: Any, project_id: str, wf: str, parent: str, name: str, kind: str = "GENERAL") -> str:
    params = {
        "ProjectId": project_id,
        "WorkflowId": wf,
        "ParentTaskFolderPath": parent,
        "TaskFolderName": name,
        "TaskFolderType": kind,
    }
    return str(call(client, "CreateTaskFolder", params).TaskFolderId)


def task_folders(client: Any, project_id: str, wf: str, parent: str, kind: str = "GENERAL", **params: Any) -> Any:
    return call(
        client,
        "ListTaskFolders",
        {"ProjectId": project_id, "WorkflowId": wf, "ParentTaskFolderPath": parent, "TaskFolderType": kind, **params},
    )


def paths(page: Any) -> list[str]:
    return [f.TaskFolderPath for f in page.Items]


def test_task_folders_per_workflow_and_type(client: Any, project_id: str) -> None:
    wf = new_workflow(client, project_id, f"pf_tf_{uid()}")
    other = new_workflow(client, project_id, f"pf_tf_other_{uid()}")
    me = project(client, project_id).CreatorUin
    a = task_folder(client, project_id, wf, "/", "a")
    assert re.fullmatch(r"[0-9a-f-]{36}", a)
    task_folder(client, project_id, wf, "/a", "b")
    task_folder(client, project_id, wf, "/a/b", "c")
    etl = task_folder(client, project_id, wf, "/", "e", "ETL")
    task_folder(client, project_id, other, "/", "a")  # the same path in another workflow is another folder

    (top,) = task_folders(client, project_id, wf, "/").Items
    assert (top.TaskFolderId, top.TaskFolderPath, top.ProjectId, top.CreateUserUin) == (a, "/a", project_id, me)
    assert [(f.TaskFolderId, f.TaskFolderPath) for f in task_folders(client, project_id, wf, "/", "ETL").Items] == [
        (etl, "/e")
    ]
    assert paths(task_folders(client, project_id, wf, "/a")) == ["/a/b"]  # direct children only
    assert paths(task_folders(client, project_id, wf, "/a/b/")) == ["/a/b/c"]
    assert task_folders(client, project_id, wf, "/", "DLC").TotalCount == 0

    for i in range(11):
        task_folder(client, project_id, other, "/a", f"n{i:02d}")
    first = task_folders(client, project_id, other, "/a", PageSize=1)  # clamped up to 10
    assert (first.TotalCount, first.TotalPageNumber, first.PageSize, len(first.Items)) == (11, 2, 10, 10)
    assert paths(task_folders(client, project_id, other, "/a", PageNumber=2)) == ["/a/n10"]

    # Deleting the workflow takes its task folders along.
    call(client, "DeleteTriggerWorkflow", {"ProjectId": project_id, "WorkflowId": other})
    fails(
        client,
        "ListTaskFolders",
        {"ProjectId": project_id, "WorkflowId": other, "ParentTaskFolderPath": "/", "TaskFolderType": "GENERAL"},
        "ResourceNotFound",
        other,
    )


def test_task_folder_refusals(client: Any, project_id: str) -> None:
    wf = new_workflow(client, project_id, f"pf_tfref_{uid()}")
    task_folder(client, project_id, wf, "/", "g")

    def create(code: str, *mentions: str, **over: Any) -> None:
        params = {
            "ProjectId": project_id,
            "WorkflowId": wf,
            "ParentTaskFolderPath": "/",
            "TaskFolderName": "x",
            "TaskFolderType": "GENERAL",
            **over,
        }
        fails(client, "CreateTaskFolder", {k: v for k, v in params.items() if v is not None}, code, *mentions)

    create("InvalidParameter.DuplicateName", "TaskFolderName", "/g", TaskFolderName="g")
    create("InvalidParameterValue", "TaskFolderType", "ETL", "GENERAL", ParentTaskFolderPath="/g", TaskFolderType="ETL")
    create("InvalidParameterValue", "TaskFolderType", "SHELL", "ACROSS_WORKFLOWS", TaskFolderType="SHELL")
    create("ResourceNotFound", "ParentTaskFolderPath", "/nope", ParentTaskFolderPath="/nope")
    create("InvalidParameterValue", "TaskFolderName", TaskFolderName="a/b")
    create("InvalidParameterValue", "TaskFolderName", TaskFolderName=" ")
    create("ResourceNotFound", MISSING_ID, WorkflowId=MISSING_ID)
    create("ResourceNotFound", "404404", ProjectId="404404")
    create("MissingParameter", "TaskFolderType", TaskFolderType=None)
    create("MissingParameter", "WorkflowId", WorkflowId=None)
    create("UnknownParameter", "FolderName", FolderName="x")

    def listing(code: str, *mentions: str, **over: Any) -> None:
        params = {
            "ProjectId": project_id,
            "WorkflowId": wf,
            "ParentTaskFolderPath": "/",
            "TaskFolderType": "GENERAL",
            **over,
        }
        fails(client, "ListTaskFolders", {k: v for k, v in params.items() if v is not None}, code, *mentions)

    listing("ResourceNotFound", "ParentTaskFolderPath", "/nope", ParentTaskFolderPath="/nope")
    listing("InvalidParameterValue", "TaskFolderType", TaskFolderType="general")
    listing("ResourceNotFound", MISSING_ID, WorkflowId=MISSING_ID)
    listing("InvalidParameterValue", "PageSize", PageSize=201)
    listing("MissingParameter", "ParentTaskFolderPath", ParentTaskFolderPath=None)
