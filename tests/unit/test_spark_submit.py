"""The pure parts of the Spark task types: TaskExtConfigurationList checks, the spark-submit command line and
properties file (domain/spark_submit.py), the task types' save checks and workload, the output helper, and
the runner's refusals before anything starts."""

from __future__ import annotations

import io
import json
import re
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trigflow.domain.errors import InvalidParameterValue
from trigflow.domain.spark_submit import (
    DEFAULT_CONF,
    SparkJob,
    find_java,
    log4j_properties,
    merged_conf,
    parse_arguments,
    parse_conf,
    parse_job,
    properties_text,
    submit_argv,
    substitute_arguments,
)
from trigflow.runner import spark as spark_runner
from trigflow.runner import spark_outputs
from trigflow.runner.registry import RUNNERS
from trigflow.tasktypes import TASK_TYPES
from trigflow.tasktypes.base import Paths
from trigflow.tasktypes.process import RUNNER_ARGV, Attempt
from trigflow.tasktypes.spark import PYSPARK, SPARK, SPARK_STREAMING

W = "TriggerTaskConfiguration.TaskExtConfigurationList"


def refused(fn: Any, *args: Any, **kw: Any) -> str:
    with pytest.raises(InvalidParameterValue) as e:
        fn(*args, **kw)
    return e.value.message


# --- sparkConf -----------------------------------------------------------------------------------------------


def test_conf_as_json_or_lines_gives_the_same_pairs_in_order() -> None:
    as_json = parse_conf('{"spark.a": "1", "spark.b": 2, "spark.c": true, "spark.d": 0.5}', W)
    as_lines = parse_conf("# comment\nspark.a=1\n\n spark.b = 2\nspark.c=true\nspark.d=0.5\n", W)
    assert as_json == as_lines == (("spark.a", "1"), ("spark.b", "2"), ("spark.c", "true"), ("spark.d", "0.5"))
    assert parse_conf("spark.x=a=b", W) == (("spark.x", "a=b"),)  # the value is everything after the first =
    assert parse_conf("spark.submit.deployMode=client", W) == ()  # what trigflow does anyway: accepted, dropped


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("{bad", "not valid JSON"),
        ("[1]", "key=value"),  # not an object and not a pair
        ('{"spark.a": [1]}', f"{W}.spark.a must be a string"),
        ('{"spark.a": null}', f"{W}.spark.a must be a string"),
        ("spark.a=1\nnope", "line 2 is not key=value"),
        ("spark.a=1\nspark.a=2", "spark.a is given twice"),
        ("bad key=1", "not a Spark setting name"),
        ("spark.master=local[1]", "spark.master cannot be set here"),
        ("spark.submit.deployMode=cluster", "client mode"),
        ('{"spark.a": "x\\ny"}', "must be one line"),
    ],
)
def test_conf_refusals_name_the_key(text: str, says: str) -> None:
    message = refused(parse_conf, text, W)
    assert message.startswith(W) and says in message, message


# --- appArguments -------------------------------------------------------------------------------------------


def test_arguments_as_a_command_line_or_a_json_array() -> None:
    assert parse_arguments("--day '2026 01 01' \"a b\" c\\ d", W) == ("--day", "2026 01 01", "a b", "c d")
    assert parse_arguments('["--day", "${biz}", "$(not run)"]', W) == ("--day", "${biz}", "$(not run)")
    assert "not a valid command line" in refused(parse_arguments, "'open", W)
    assert "array of strings" in refused(parse_arguments, '["a", 1]', W)
    assert "not valid JSON" in refused(parse_arguments, "[oops", W)


def test_parameters_in_arguments_are_replaced_whole_argv_items() -> None:
    params = {"day": "2026-01-01", "evil": "x; rm -rf / $(id)"}
    got = substitute_arguments(("--day=${day}", "${evil}", "${unknown}", "$${day}"), params)
    assert got == ("--day=2026-01-01", "x; rm -rf / $(id)", "${unknown}", "$2026-01-01")


# --- the job -------------------------------------------------------------------------------------------------


def test_jar_presence_depends_on_the_type() -> None:
    assert "jarPath is required" in refused(parse_job, {}, W, jar=True)
    assert "does not apply" in refused(parse_job, {"jarPath": "/a.jar"}, W, jar=False)
    assert "needs jarPath" in refused(parse_job, {"mainClass": "a.B"}, W, jar=None)
    assert parse_job({}, W, jar=None).jar is None  # streaming without a JAR: a PySpark script
    assert parse_job({"jarPath": "hdfs://nn/app.jar"}, W, jar=None).jar == "hdfs://nn/app.jar"
    assert parse_job({"jarPath": "  ", "mainClass": ""}, W, jar=False) == SparkJob()  # blank console fields


@pytest.mark.parametrize(
    ("ext", "key"),
    [
        ({"jarPath": "app.jar"}, "jarPath"),
        ({"jarPath": "/a.jar", "mainClass": "1bad.Name"}, "mainClass"),
        ({"jarPath": "/a.jar", "driverMemory": "2 GB"}, "driverMemory"),
        ({"jarPath": "/a.jar", "executorMemory": "0"}, "executorMemory"),
        ({"jarPath": "/a.jar", "driverCores": "-1"}, "driverCores"),
        ({"jarPath": "/a.jar", "executorCores": "x"}, "executorCores"),
        ({"jarPath": "/a.jar", "numExecutors": "0"}, "numExecutors"),
        ({"jarPath": "/a.jar", "jars": "/a.jar,,/b.jar"}, "jars"),
        ({"jarPath": "/a.jar", "pyFiles": "rel.py"}, "pyFiles"),
        ({"jarPath": "/a.jar", "files": "/a\x00"}, "files"),
        ({"jarPath": "/a.jar", "appName": "two\nlines"}, "appName"),
        ({"jarPath": "/a.jar", "logLevel": "chatty"}, "logLevel"),
    ],
)
def test_each_key_is_checked_and_named(ext: dict[str, str], key: str) -> None:
    assert refused(parse_job, ext, W, jar=True).startswith(f"{W}.{key}")


def test_a_full_job_and_its_command_line() -> None:
    job = parse_job({"jarPath": "/opt/app.jar", "mainClass": "com.example.Main", "appArguments": "--day ${day}",
                     "sparkConf": "spark.executor.instances=2", "driverMemory": "1g", "executorMemory": "2G",
                     "driverCores": "1", "executorCores": "2", "numExecutors": "3", "jars": "/x.jar, s3a://b/y.jar",
                     "pyFiles": "/lib.zip", "files": "/data.csv", "appName": "nightly", "logLevel": "info"},
                    W, jar=True)  # fmt: skip
    assert job.log_level == "INFO"
    argv = submit_argv("/spark/bin/spark-submit", "spark://m:7077", job, "/tmp/x/job.py", "/tmp/x/p", "default",
                       substitute_arguments(job.arguments, {"day": "20260101"}))  # fmt: skip
    assert argv == [
        "/spark/bin/spark-submit", "--master", "spark://m:7077", "--deploy-mode", "client", "--name", "nightly",
        "--properties-file", "/tmp/x/p", "--class", "com.example.Main", "--driver-memory", "1g",
        "--executor-memory", "2G", "--driver-cores", "1", "--executor-cores", "2", "--num-executors", "3",
        "--jars", "/x.jar,s3a://b/y.jar", "--py-files", "/lib.zip", "--files", "/data.csv",
        "/opt/app.jar", "--day", "20260101",
    ]  # fmt: skip
    assert not any("spark.executor.instances" in a for a in argv)  # settings never reach the command line


def test_a_pyspark_command_line_runs_the_script() -> None:
    argv = submit_argv("spark-submit", "local[*]", SparkJob(arguments=("a",)), "/t/job.py", "/t/p", "trigflow-1")
    assert argv == ["spark-submit", "--master", "local[*]", "--deploy-mode", "client", "--name", "trigflow-1",
                    "--properties-file", "/t/p", "/t/job.py", "a"]  # fmt: skip


def test_settings_layer_defaults_then_data_source_then_task() -> None:
    job = parse_job({"sparkConf": "spark.ui.enabled=true\nspark.b=task"}, W, jar=False)
    got = merged_conf({"spark.b": "source", "spark.c": "source", "spark.master": "yarn"}, job)
    assert got == {"spark.ui.enabled": "true", "spark.ui.showConsoleProgress": "false", "spark.b": "task",
                   "spark.c": "source"}  # fmt: skip
    assert dict(DEFAULT_CONF)["spark.ui.enabled"] == "false"


def _load_properties(text: str) -> dict[str, str]:
    """The subset of java.util.Properties.load that properties_text writes (one logical line per entry)."""
    out = {}
    escapes = {"n": "\n", "r": "\r", "t": "\t", "f": "\f"}
    for line in text.split("\n")[:-1]:  # Java ends lines at \n and \r only; properties_text escapes \r
        key, value, i, in_key = "", "", 0, True
        while i < len(line):
            c = line[i]
            if c == "\\":
                i += 1
                c = escapes.get(line[i], line[i])
            elif in_key and c == "=":
                in_key = False
                i += 1
                continue
            if in_key:
                key += c
            else:
                value += c
            i += 1
        out[key] = value
    return out


@given(st.dictionaries(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,20}", fullmatch=True),
                       st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30),
                       max_size=8))  # fmt: skip
def test_properties_text_reads_back_as_written(conf: dict[str, str]) -> None:
    assert _load_properties(properties_text(conf)) == conf


def test_log4j_configuration_sets_the_level() -> None:
    assert "rootLogger.level = warn\n" in log4j_properties("WARN")


def test_java_is_java_home_else_the_path(tmp_path: Path) -> None:
    java = tmp_path / "jdk" / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text("#!/bin/sh\n")
    java.chmod(0o755)
    assert find_java({"JAVA_HOME": str(tmp_path / "jdk")}, shutil.which) == str(java)
    assert find_java({"JAVA_HOME": str(tmp_path / "none")}, shutil.which) is None
    assert find_java({"PATH": str(java.parent)}, shutil.which) == str(java)
    assert find_java({"PATH": str(tmp_path)}, shutil.which) is None


# --- the task types ------------------------------------------------------------------------------------------


def test_the_three_types_are_registered_runner_types_on_one_runner() -> None:
    assert (TASK_TYPES[46], TASK_TYPES[50], TASK_TYPES[139]) == (SPARK, PYSPARK, SPARK_STREAMING)
    assert {RUNNERS[i] for i in (46, 50, 139)} == {"trigflow.runner.spark"}
    assert (SPARK.dialect, PYSPARK.dialect, SPARK_STREAMING.dialect) == (None, "python", "python")
    for t in (SPARK, PYSPARK, SPARK_STREAMING):
        assert t.holds_slot and t.labels.category == "DLC"
        (use,) = t.sources
        assert (use.field, use.allowed_types, use.required) == ("SourceServiceId", ("SPARK",), False)
        assert TASK_TYPES.of_spec(t.freeze("", {})) is t


def test_save_checks_use_the_action_prefix() -> None:
    message = refused(SPARK.validate, {}, {}, Paths("NewSetting."), [])
    assert message.startswith(f"NewSetting.{W}.jarPath")
    assert PYSPARK.validate({}, {"sparkConf": "spark.a=1"}, Paths(), []) == []


def test_the_workload_carries_the_declared_outputs_whatever_the_ext_says() -> None:
    spec = {
        **PYSPARK.freeze("print(1)", {"outputs": "forged"}),
        "outputs": [{"ParamKey": "a", "ParamValue": "$[0][0]"}],
    }
    attempt = Attempt(attempt_id="e1", env={}, cwd="/tmp", log_path="/tmp/l", outputs_path="/tmp/o", code="print(1)",
                      params={"p": "v"}, data_source={"type": "SPARK", "master": "local[2]"})  # fmt: skip
    launch = PYSPARK.launch(spec, attempt)
    doc = json.loads(launch.script or "")
    assert launch.argv == RUNNER_ARGV and launch.script_copy_path is None
    assert doc["taskTypeId"] == 50 and doc["code"] == "print(1)" and doc["dataSource"]["master"] == "local[2]"
    assert json.loads(doc["config"]["outputs"]) == [{"ParamKey": "a", "ParamValue": "$[0][0]"}]


# --- the output helper ---------------------------------------------------------------------------------------


class _Frame:
    """What save_rows reads of a DataFrame: `columns` and `take(n)`."""

    columns = ("k", "n")

    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self.rows = rows
        self.asked: int | None = None

    def take(self, n: int) -> list[tuple[Any, ...]]:
        self.asked = n
        return self.rows[:n]


def test_save_rows_writes_addressed_outputs_like_a_sql_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "outputs"
    declared = [{"ParamKey": "cell", "ParamValue": "$[1][0]"}, {"ParamKey": "all", "ParamValue": "$[*][*]"},
                {"ParamKey": "plain", "ParamValue": "default"}]  # fmt: skip
    monkeypatch.setenv("WEDATA_OUTPUT_FILE", str(out))
    monkeypatch.setenv("TRIGFLOW_DECLARED_OUTPUTS", json.dumps(declared))
    frame = _Frame([("a", 1), ("b\nc", None)])
    assert spark_outputs.save_rows(frame) == 2 and frame.asked == spark_outputs.MAX_ROWS
    spark_outputs.save_rows([[7, 8]])  # later rows win
    spark_outputs.set_output("plain", 42)
    assert out.read_text() == 'cell=b c\nall=[["a", 1], ["b\\nc", null]]\ncell=\nall=[[7, 8]]\nplain=42\n'
    assert "[trigflow] outputs from 2 saved rows: set cell, all" in capsys.readouterr().out
    with pytest.raises(ValueError):
        spark_outputs.set_output("a=b", 1)


def test_outside_trigflow_the_helper_only_says_what_it_would_set(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("WEDATA_OUTPUT_FILE", raising=False)
    monkeypatch.setenv("TRIGFLOW_DECLARED_OUTPUTS", '[{"ParamKey": "x", "ParamValue": "$[0][0]"}]')
    spark_outputs.save_rows([1, 2])  # bare values are one-column rows
    assert "would set x" in capsys.readouterr().out


def test_wedata_dlcutils_is_the_same_helper() -> None:
    import sys

    sys.path.insert(0, str(Path(spark_runner.__file__).parent / "spark_compat"))
    try:
        from dlcutils import dlcutils  # type: ignore[import-not-found]
    finally:
        sys.path.pop(0)
    assert dlcutils.params.save is spark_outputs.save_rows


# --- the runner, before spark-submit starts ------------------------------------------------------------------


def _run(workload: dict[str, Any], cancel: threading.Event | None = None) -> tuple[int, str]:
    log = io.StringIO()
    code = spark_runner.run(workload, log, None, cancel or threading.Event())
    return code, log.getvalue()


def test_the_runner_refuses_a_frozen_configuration_that_no_longer_passes() -> None:
    code, log = _run({"taskTypeId": 46, "config": {}})
    assert code == 1 and "the Spark configuration is refused: TaskExtConfigurationList.jarPath is required" in log


def test_the_runner_says_what_is_missing_when_there_is_no_spark_or_no_java(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPARK_HOME", str(tmp_path / "no-spark"))
    code, log = _run({"taskTypeId": 50, "config": {}, "code": "print(1)"})
    assert code == 1 and "spark-submit not found" in log and "--task-env SPARK_HOME" in log
    monkeypatch.delenv("SPARK_HOME")
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-jdk"))
    code, log = _run({"taskTypeId": 50, "config": {}, "code": "print(1)"})
    assert code == 1 and "no Java runtime" in log


def test_a_cancel_before_the_start_starts_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    cancel = threading.Event()
    cancel.set()
    code, log = _run({"taskTypeId": 50, "config": {}, "code": "print(1)"}, cancel)
    assert code == spark_runner.EXIT_CANCELLED and "cancelled before spark-submit started" in log


def test_private_files_are_owner_only_and_gone_after_the_attempt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fake spark-submit (a SPARK_HOME with a script) shows what the runner hands over, then exits 4."""
    home = tmp_path / "spark"
    (home / "bin").mkdir(parents=True)
    seen = tmp_path / "seen"
    script = "\n".join([
        "#!/bin/sh",
        f"for f in \"$@\"; do case $f in /*) stat -c '%a %n' \"$f\" 2>/dev/null;; esac; done > {seen}",
        f"stat -c '%a' \"$(dirname \"$SPARK_CONF_DIR\")\" >> {seen}",
        f"cat \"$SPARK_CONF_DIR/log4j2.properties\" >> {seen}",
        f"echo \"PYSPARK_PYTHON=$PYSPARK_PYTHON LOCAL_IP=$SPARK_LOCAL_IP\" >> {seen}",
        "echo driver says hi; echo to stderr >&2; exit 4",
    ])  # fmt: skip
    (home / "bin" / "spark-submit").write_text(script)
    (home / "bin" / "spark-submit").chmod(0o755)
    monkeypatch.setenv("SPARK_HOME", str(home))
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.delenv("SPARK_CONF_DIR", raising=False)
    workload = {"taskTypeId": 50, "code": "print(1)", "config": {"logLevel": "error"},
                "dataSource": {"master": "local[1]", "options": {"fs.secret.key": "S3CRET-VALUE"}}}  # fmt: skip
    code, log = _run(workload)
    assert code == 4, log
    assert "driver says hi" in log and "to stderr" in log and "spark-submit exited with code 4" in log
    assert "S3CRET-VALUE" not in log and "fs.secret.key=******" in log
    lines = seen.read_text().splitlines()
    files = {Path(line.split()[1]).name: line.split()[0] for line in lines if re.match(r"\d+ /", line)}
    assert files == {"spark.properties": "600", "job.py": "600"}
    assert "700" in lines and "rootLogger.level = error" in lines
    assert any(line.startswith("PYSPARK_PYTHON=/") and "LOCAL_IP=127.0.0.1" in line for line in lines)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("trigflow-spark-")]  # removed at the end
