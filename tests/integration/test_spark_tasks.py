"""Spark tasks (DLC Spark 46, DLC PySpark 50, DLC Spark Streaming 139) end to end: the official SDK against the
session's real `trigflow up`, each attempt a real `spark-submit` on a local Spark (pyspark's, the machine's JDK).

Every spark-submit costs seconds of JVM start-up, so the tests are few and each proves several things: a
PySpark job's result in its log and its saved rows reaching a downstream shell task (a failing job beside
it, in the same run); a JAR job's main class, arguments, settings and master, and a retry; an execution
timeout and a kill each stopping the driver's JVM, looked up by a unique marker in /proc/*/cmdline; and the
save-time refusals, which start no Spark at all.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import wait_for
from tests.integration.helpers import (
    call,
    fails,
    get_run,
    new_task,
    new_workflow,
    start_run,
    submitted_task,
    task_states,
    uid,
    wait_run,
)
from tests.integration.test_task_logs import log_page, whole_log

CONFIG = "TriggerTaskConfiguration"
EXT = f"{CONFIG}.TaskExtConfigurationList"
RUN_TIMEOUT = 240  # seconds for one run: a JVM start on a loaded 2-core machine takes tens of them
QUICK_CONF = "spark.sql.shuffle.partitions=2\nspark.ui.enabled=false"

HELLO_JAVA = """
package tf;

public class Hello {
    public static void main(String[] args) throws Exception {
        System.out.println("hello from the jar: master=" + System.getProperty("spark.master")
            + " marker=" + System.getProperty("spark.tf.marker") + " args=" + String.join(",", args));
        String mode = args.length > 0 ? args[0] : "print";
        if (mode.equals("once")) {  // fails the first attempt, succeeds the retry
            java.io.File flag = new java.io.File(args[1]);
            if (flag.createNewFile()) {
                System.out.println("first attempt: failing on purpose");
                System.exit(3);
            }
        } else if (mode.equals("sleep")) {
            System.out.println("ready, sleeping");
            Thread.sleep(600000);
        }
    }
}
"""


def ext_list(**keys: str) -> list[dict[str, str]]:
    return [{"ParamKey": k, "ParamValue": v} for k, v in keys.items()]


def spark_params(
    project_id: str, wf: str, name: str, type_id: int, code: str = "", source: str | None = None,
    ext: dict[str, str] | None = None, task_params: dict[str, str] | None = None, **sched: Any,
) -> dict[str, Any]:  # fmt: skip
    config: dict[str, Any] = {"CodeContent": base64.b64encode(code.encode()).decode(),
                              "TaskExtConfigurationList": ext_list(**(ext or {})),
                              "TaskSchedulingParameterList": ext_list(**(task_params or {}))}  # fmt: skip
    if source is not None:
        config["SourceServiceId"] = source
    sched.setdefault("MaxRetryNumber", 0)
    return {
        "ProjectId": project_id,
        "TriggerTaskBaseAttribute": {"TaskName": name, "TaskTypeId": str(type_id), "WorkflowId": wf},
        CONFIG: config,
        "TriggerTaskSchedulerConfiguration": {
            "UpstreamDependencyConfigList": [{"TaskId": u} for u in sched.pop("upstream", [])],
            **sched,
        },
    }


def spark_task(client: Any, project_id: str, wf: str, name: str, type_id: int, code: str = "", **kw: Any) -> str:
    return submitted_task(client, spark_params(project_id, wf, name, type_id, code, **kw))


def task_run(client: Any, project_id: str, run_id: str, name: str) -> Any:
    return {t.TaskName: t for t in get_run(client, project_id, run_id).TriggerTaskRuns}[name]


def run_log(client: Any, project_id: str, run_id: str, name: str) -> str:
    return whole_log(client, project_id, task_run(client, project_id, run_id, name).ExecutionId)[0]


def log_so_far(client: Any, project_id: str, run_id: str, name: str) -> str:
    """The log of a task run that may still be running: the pages there are now."""
    key = task_run(client, project_id, run_id, name).ExecutionId
    if key is None:
        return ""
    page = log_page(client, project_id, key)
    text = page.LogInfo or ""
    for _ in range(50):
        if page.NextCursor is None or not page.LogInfo:
            break
        page = log_page(client, project_id, key, NextCursor=page.NextCursor)
        text += page.LogInfo or ""
    return text


def processes_with(marker: str) -> list[int]:
    """Pids whose command line holds `marker` (the JVM's carries the application's arguments)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmdline:
            found.append(int(proc.name))
    return found


@pytest.fixture(scope="module")
def spark_source(client: Any, project_id: str) -> str:
    props = {"master": "local[2]", "conf": {"spark.sql.shuffle.partitions": "2", "spark.tf.marker": "from-source"}}
    params = {"ProjectId": project_id, "Name": f"spark_{uid()}", "Type": "SPARK",
              "ProdConProperties": json.dumps(props)}  # fmt: skip
    return str(call(client, "CreateDataSource", params).DataSourceId)


@pytest.fixture(scope="module")
def hello_jar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A JAR compiled now from HELLO_JAVA (javac, jar): a main class that prints what spark-submit gave it."""
    if shutil.which("javac") is None or shutil.which("jar") is None:
        pytest.fail("a JDK (javac, jar) is required: scripts/ensure-system-packages.sh installs one")
    root = tmp_path_factory.mktemp("jar")
    (root / "src" / "tf").mkdir(parents=True)
    (root / "src" / "tf" / "Hello.java").write_text(HELLO_JAVA)
    subprocess.run(["javac", "--release", "17", "-d", str(root / "classes"), str(root / "src" / "tf" / "Hello.java")],
                   check=True)  # fmt: skip
    subprocess.run(["jar", "cf", str(root / "hello.jar"), "-C", str(root / "classes"), "."], check=True)
    yield str(root / "hello.jar")


# --- save time: no Spark starts ----------------------------------------------------------------------------


def test_bad_configurations_are_refused_at_save_naming_the_key(client: Any, project_id: str, spark_source: str) -> None:
    wf = new_workflow(client, project_id, f"spark_save_{uid()}")
    refused: list[tuple[int, dict[str, str], str, str]] = [
        (46, {}, "jarPath", "required"),
        (46, {"jarPath": "relative/app.jar"}, "jarPath", "absolute path or a URL"),
        (46, {"jarPath": "/a.jar", "mainClass": "not a class"}, "mainClass", "Java class name"),
        (50, {"jarPath": "/a.jar"}, "jarPath", "does not apply"),
        (139, {"mainClass": "tf.Hello"}, "mainClass", "needs jarPath"),
        (50, {"sparkConf": "{not json"}, "sparkConf", "not valid JSON"),
        (50, {"sparkConf": "spark.master=yarn"}, "sparkConf", "spark.master cannot be set here"),
        (50, {"sparkConf": "spark.submit.deployMode=cluster"}, "sparkConf", "client mode"),
        (50, {"sparkConf": "a=1\nnot-a-pair"}, "sparkConf", "line 2 is not key=value"),
        (50, {"appArguments": "--day 'unclosed"}, "appArguments", "not a valid command line"),
        (50, {"appArguments": '["--day", 1]'}, "appArguments", "array of strings"),
        (50, {"driverMemory": "lots"}, "driverMemory", "512m"),
        (46, {"jarPath": "/a.jar", "numExecutors": "0"}, "numExecutors", "whole number"),
        (50, {"logLevel": "LOUD"}, "logLevel", "WARN"),
    ]
    for type_id, ext, key, says in refused:
        fails(client, "CreateTriggerTask", spark_params(project_id, wf, f"bad_{key}", type_id, ext=ext),
              "InvalidParameterValue", f"{EXT}.{key}", says)  # fmt: skip
    pg_props = json.dumps({"url": "jdbc:postgresql://127.0.0.1:5432/test", "username": "postgres"})
    pg = call(client, "CreateDataSource", {"ProjectId": project_id, "Name": f"not_spark_{uid()}", "Type": "POSTGRE",
                                           "ProdConProperties": pg_props}).DataSourceId  # fmt: skip
    fails(client, "CreateTriggerTask", spark_params(project_id, wf, "pg", 50, source=str(pg)),
          "InvalidParameterValue", f"{CONFIG}.SourceServiceId", "POSTGRE")  # fmt: skip
    # Accepted: no data source (local[*]), a SPARK one, a JSON sparkConf; a later partial update is checked too.
    task_id = spark_task(client, project_id, wf, "ok", 50, "print(1)", source=spark_source,
                         ext={"sparkConf": '{"spark.sql.shuffle.partitions": 2, "spark.eventLog.enabled": false}'},
                         )  # fmt: skip
    spark_task(client, project_id, wf, "plain", 46, ext={"jarPath": "/opt/app.jar", "mainClass": "com.example.Main"})
    fails(client, "UpdateTriggerTaskPartially",
          {"ProjectId": project_id, "TaskId": task_id,
           "NewSetting": {CONFIG: {"TaskExtConfigurationList": ext_list(executorMemory="2 GB")}}},
          "InvalidParameterValue", f"NewSetting.{EXT}.executorMemory")  # fmt: skip
    got = call(client, "GetTriggerTask", {"ProjectId": project_id, "TaskId": task_id})
    assert got.TriggerTaskBaseAttribute.TaskTypeId == 50
    assert got.TriggerTaskConfiguration.SourceServiceType == "SPARK"


# --- running -------------------------------------------------------------------------------------------------

AGG = """
import os
from pyspark.sql import SparkSession, functions as F
from dlcutils import dlcutils
from trigflow.runner.spark_outputs import set_output

label = "${label}"
spark = SparkSession.builder.getOrCreate()
df = (spark.range(10).withColumn("k", F.col("id") % 3).groupBy("k").agg(F.count("*").alias("n"))
      .orderBy("k"))
df.show()
print("label is", repr(label))
dlcutils.params.save(df)
set_output("label_seen", label)
set_output("parallelism", spark.sparkContext.defaultParallelism)
spark.stop()
"""

FAILING = """
from pyspark.sql import SparkSession
spark = SparkSession.builder.getOrCreate()
spark.sql("SELECT * FROM tf_no_such_table").show()
"""


def test_a_pyspark_job_logs_its_result_and_its_saved_rows_reach_a_downstream_task(
    client: Any, project_id: str, spark_source: str, tmp_path: Path
) -> None:
    got = tmp_path / "got"
    pwned = tmp_path / "pwned"
    evil = f'x"); open("{pwned}", "w"); ("'  # a data value: it must stay a literal of the script
    wf = new_workflow(client, project_id, f"pyspark_{uid()}")
    agg = spark_task(client, project_id, wf, "agg", 50, AGG, source=spark_source,
                     ext={"sparkConf": QUICK_CONF},
                     ParamTaskOutList=[{"ParamKey": "n1", "ParamValue": "$[1][1]"},
                                       {"ParamKey": "rows", "ParamValue": "$[*][*]"},
                                       {"ParamKey": "label_seen", "ParamValue": ""},
                                       {"ParamKey": "parallelism", "ParamValue": ""}])  # fmt: skip
    inputs = (("n1", "n1"), ("rows", "rows"), ("l", "label_seen"), ("p", "parallelism"))
    consumer = f'printf \'%s\\n\' "${{n1}}" "${{rows}}" "${{l}}" "${{p}}" > {got}'
    new_task(client, project_id, wf, "consumer", consumer,
             upstream=[agg],
             ParamTaskInList=[{"ParamKey": k, "ParamDesc": f"p.agg.{v}", "FromTaskId": agg, "FromParamKey": v}
                              for k, v in inputs])  # fmt: skip
    spark_task(client, project_id, wf, "bad", 50, FAILING, ext={"sparkConf": QUICK_CONF})
    run_id = start_run(client, project_id, wf, AdvancedParams=[{"ParamKey": "label", "ParamValue": evil}])
    data = wait_run(client, project_id, run_id, timeout=RUN_TIMEOUT)
    log = run_log(client, project_id, run_id, "agg")
    assert task_states(data) == {"agg": "SUCCESS", "consumer": "SUCCESS", "bad": "FAILED"}, log
    # The result in the log (df.show()), the master of the data source, the helper's lines.
    assert "|  k|  n|" in log and "|  1|  3|" in log, log
    assert "--master 'local[2]'" in log and "spark.tf.marker=from-source" in log
    assert "[trigflow] outputs from 3 saved rows: set n1, rows" in log
    assert "spark-submit exited with code 0" in log
    assert f"label is {evil!r}" in log and not pwned.exists()
    n1, rows, label, parallelism = got.read_text().splitlines()
    assert (n1, json.loads(rows), label, parallelism) == ("3", [[0, 4], [1, 3], [2, 3]], evil, "2")
    run = task_run(client, project_id, run_id, "agg")
    assert (run.TaskType, run.TaskTypeId) == ("DLC_PYSPARK", 50)
    bad_log = run_log(client, project_id, run_id, "bad")
    assert "TABLE_OR_VIEW_NOT_FOUND" in bad_log and "tf_no_such_table" in bad_log
    assert "--master 'local[*]'" in bad_log  # no data source: every core of this machine
    assert "spark-submit exited with code 1" in bad_log


def test_a_jar_job_runs_its_main_class_with_arguments_settings_and_a_retry(
    client: Any, project_id: str, hello_jar: str, tmp_path: Path
) -> None:
    flag = tmp_path / "attempted"
    wf = new_workflow(client, project_id, f"spark_jar_{uid()}")
    spark_task(client, project_id, wf, "jar", 46,
               ext={"jarPath": hello_jar, "mainClass": "tf.Hello", "appArguments": f"once {flag} ${{day}}",
                    "sparkConf": '{"spark.tf.marker": "from-task"}', "driverMemory": "512m"},
               task_params={"day": "d-${yyyyMMdd}"},
               MaxRetryNumber=1, RetryWaitMinute=0)  # fmt: skip
    run_id = start_run(client, project_id, wf)
    data = wait_run(client, project_id, run_id, timeout=RUN_TIMEOUT)
    log = run_log(client, project_id, run_id, "jar")
    assert task_states(data) == {"jar": "SUCCESS"}, log
    run = task_run(client, project_id, run_id, "jar")
    assert (run.TaskType, run.TaskTypeId, run.RetryTimes) == ("DLC_SPARK", 46, 1)
    assert flag.exists()
    line = next(x for x in log.splitlines() if x.startswith("hello from the jar"))
    assert line.startswith(f"hello from the jar: master=local[*] marker=from-task args=once,{flag},d-20")
    assert "--class tf.Hello" in log and "--driver-memory 512m" in log
    first = whole_log(client, project_id, run.ExecutionId, LifeRoundNum=0)[0]
    assert "first attempt: failing on purpose" in first and "spark-submit exited with code 3" in first


def test_an_execution_timeout_stops_the_driver_jvm(client: Any, project_id: str, hello_jar: str) -> None:
    marker = f"tf-ttl-{uuid.uuid4().hex[:12]}"
    wf = new_workflow(client, project_id, f"spark_ttl_{uid()}")
    # The session server's minute is 0.2 s: 75 "minutes" are 15 s, time for the JVM to start on a loaded machine.
    spark_task(client, project_id, wf, "sleeper", 46, ext={"jarPath": hello_jar, "mainClass": "tf.Hello",
                                                           "appArguments": f"sleep {marker}"},
               ExecutionTTLMinute=75)  # fmt: skip
    run_id = start_run(client, project_id, wf)
    wait_for(lambda: processes_with(marker), timeout=60, what="the driver JVM running")
    data = wait_run(client, project_id, run_id, timeout=RUN_TIMEOUT)
    assert task_states(data) == {"sleeper": "FAILED"}
    assert str(task_run(client, project_id, run_id, "sleeper").ErrorCodeStr).startswith("ExecutionTimeout")
    assert "ready, sleeping" in run_log(client, project_id, run_id, "sleeper")  # it was running, not starting
    wait_for(lambda: not processes_with(marker), timeout=10, what=f"no process with {marker} left")


STREAM = """
import sys
from pyspark.sql import SparkSession
spark = SparkSession.builder.getOrCreate()
print("streaming for", sys.argv[1], flush=True)
(spark.readStream.format("rate").option("rowsPerSecond", 5).load()
      .writeStream.format("console").trigger(processingTime="1 second").start().awaitTermination())
"""


def test_a_streaming_job_runs_until_killed_and_its_jvm_is_gone(client: Any, project_id: str, spark_source: str) -> None:
    marker = f"tf-kill-{uuid.uuid4().hex[:12]}"
    wf = new_workflow(client, project_id, f"spark_stream_{uid()}")
    spark_task(client, project_id, wf, "stream", 139, STREAM, source=spark_source,
               ext={"appArguments": marker, "sparkConf": QUICK_CONF})  # fmt: skip
    run_id = start_run(client, project_id, wf)
    wait_for(lambda: "Batch: 0" in log_so_far(client, project_id, run_id, "stream"), timeout=RUN_TIMEOUT,
             interval=0.5, what="the stream's first batch in the log")  # fmt: skip
    assert processes_with(marker), "the driver JVM carries the marker"
    res = call(client, "KillTriggerWorkflowRuns",
               {"ProjectId": project_id, "WorkflowId": wf, "WorkflowExecutionIdList": [run_id]})  # fmt: skip
    assert [r.OpStatus for r in res] == [True]
    data = wait_run(client, project_id, run_id, timeout=60)
    assert task_states(data) == {"stream": "KILLED"}
    wait_for(lambda: not processes_with(marker), timeout=10, what=f"no process with {marker} left")
    run = task_run(client, project_id, run_id, "stream")
    assert (run.TaskType, run.TaskTypeId) == ("DLC_SPARK_STREAMING", 139)
    log = run_log(client, project_id, run_id, "stream")
    assert f"streaming for {marker}" in log and "Batch: 0" in log
    # Not asserted: the runner's own cancel lines. The session server's 1 s kill grace may SIGKILL the runner
    # before it writes them on a loaded machine; the JVM gone, checked above, is what the issue asks.
