"""A PySpark task through the API vs the same `spark-submit` run by hand, alternated in one run, for the note.

Starts its own `trigflow up` (SQLite, fresh data dir), then N times each, alternating: (a) a DLC PySpark task
(50) on `local[2]` with a small groupBy job, timed from CreateTriggerWorkflowRun to the run's SUCCESS seen
through GetTriggerWorkflowRun; (b) the same script with `spark-submit --master local[2]` and the same
settings, from the same environment, timed around the process. Prints each pair, the medians and their ratio
(these machines are shared: compare the ratio, not the seconds).

    python bench/spark_bench.py [N]
"""

from __future__ import annotations

import base64
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import make_client, start_server
from tests.integration.helpers import call, new_workflow, start_run, wait_run

from trigflow.domain.spark_submit import log4j_properties
from trigflow.runner.spark import spark_home

JOB = """
from pyspark.sql import SparkSession, functions as F
spark = SparkSession.builder.getOrCreate()
spark.range(1000).withColumn("k", F.col("id") % 3).groupBy("k").count().orderBy("k").show()
spark.stop()
"""
CONF = ("spark.sql.shuffle.partitions=2", "spark.ui.enabled=false", "spark.ui.showConsoleProgress=false")


def by_hand(script: Path, conf_dir: Path) -> float:
    """The same job, settings and log4j level (WARN, in `conf_dir`) as the task, without trigflow."""
    home = spark_home(os.environ) or ""
    argv = [str(Path(home) / "bin" / "spark-submit"), "--master", "local[2]"]
    for c in CONF:
        argv += ["--conf", c]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"),
           "SPARK_HOME": home, "PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1",
           "SPARK_CONF_DIR": str(conf_dir)}  # fmt: skip
    t = time.perf_counter()
    subprocess.run([*argv, str(script)], env=env, check=True, capture_output=True)
    return time.perf_counter() - t


def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(Path(tmp) / "data", extra=["--rate-limit", "100000", "--log-level", "warning"])
        try:
            client = make_client(server.endpoint)
            project = str(call(client, "ListProjects", {}).Items[0].ProjectId)
            props = '{"master": "local[2]"}'
            source = call(client, "CreateDataSource", {"ProjectId": project, "Name": "bench_spark", "Type": "SPARK",
                                                       "ProdConProperties": props}).DataSourceId  # fmt: skip
            wf = new_workflow(client, project, "spark_bench")
            task = call(client, "CreateTriggerTask", {
                "ProjectId": project,
                "TriggerTaskBaseAttribute": {"TaskName": "job", "TaskTypeId": "50", "WorkflowId": wf},
                "TriggerTaskConfiguration": {
                    "CodeContent": base64.b64encode(JOB.encode()).decode(), "SourceServiceId": str(source),
                    "TaskExtConfigurationList": [{"ParamKey": "sparkConf", "ParamValue": "\n".join(CONF)}]},
                "TriggerTaskSchedulerConfiguration": {"MaxRetryNumber": 0},
            }).TaskId  # fmt: skip
            call(client, "SubmitTriggerTask", {"ProjectId": project, "TaskId": str(task), "VersionRemark": "v1"})
            script = Path(tmp) / "job.py"
            script.write_text(JOB)
            conf_dir = Path(tmp) / "conf"
            conf_dir.mkdir()
            (conf_dir / "log4j2.properties").write_text(log4j_properties("WARN"))
            task_s, hand_s = [], []
            for i in range(n):
                t = time.perf_counter()
                run_id = start_run(client, project, wf)
                state = wait_run(client, project, run_id, timeout=600, poll=0.05).TriggerWorkflowRun.ExecutionState
                task_s.append(time.perf_counter() - t)
                assert state == "SUCCESS", state
                hand_s.append(by_hand(script, conf_dir))
                print(f"{i + 1}: task {task_s[-1]:.2f} s, spark-submit by hand {hand_s[-1]:.2f} s", flush=True)
            mt, mh = statistics.median(task_s), statistics.median(hand_s)
            print(f"median: task {mt:.2f} s, by hand {mh:.2f} s, ratio {mt / mh:.3f} (+{mt - mh:.2f} s)")
        finally:
            server.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
