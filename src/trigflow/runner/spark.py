"""The Spark task runner (TaskTypeIds 46, 50, 139): one `spark-submit` per attempt, its driver in client mode.

`run(workload, log, outputs_path, cancel)` (the signature of `trigflow.runner.base`):

* **The job** is the workload's `config` (the task's TaskExtConfigurationList, checked again by
  `trigflow.domain.spark_submit.parse_job`, the save-time rules) on the workload's `dataSource` (a SPARK
  connection: `master`, `options` = its `conf`), or on `local[*]` when the task names none. A JAR job (46, or
  139 with `jarPath`) runs the JAR; a PySpark job (50, or 139 without `jarPath`) runs `code`, written to a
  0600 file in a private 0700 temporary directory that is removed when the attempt ends (with Spark's local
  scratch space, `SPARK_LOCAL_DIRS`, for a local master).
* **The command** (`spark_submit.submit_argv`) carries no Spark setting: those go to a 0600 properties file
  (`--properties-file`), since a data source's `conf` may hold a key of object storage. `appArguments` get
  `${name}` replaced by the attempt's parameters.
* **Where Spark comes from**: `$SPARK_HOME` when the operator passes it (`trigflow up --task-env SPARK_HOME`),
  else the `pyspark` package of the runner's interpreter (`pip install trigflow[spark]`), whose `bin/` has
  spark-submit. Java: `$JAVA_HOME` when passed, else `java` on the task's PATH; the attempt fails with a clear
  line before anything starts when either is missing. A PySpark driver runs on the runner's interpreter
  (`PYSPARK_PYTHON`, unless the operator passes one).
* **The log** is the driver's stdout and stderr, line by line as they come, with the data source's secrets
  redacted; the driver's log4j goes to stderr at `logLevel` (default WARN) unless the operator passes a
  `SPARK_CONF_DIR` of their own.
* **Outputs**: the job writes them itself with `trigflow.runner.spark_outputs` (`save_rows`, `set_output`,
  and `dlcutils.params.save` for WeData scripts) to `$WEDATA_OUTPUT_FILE`; `$TRIGFLOW_DECLARED_OUTPUTS` is
  the task's ParamTaskOutList for `$[n][m]` addresses.
* **Exit status** is spark-submit's (the driver's): 0 success; a driver killed by signal N gives 128+N.
* **Cancel** (SIGTERM: a kill or an execution timeout): the driver runs in its own process group, which gets
  SIGTERM (the JVM's shutdown hooks stop the SparkContext and a streaming query), then SIGKILL after
  `KILL_GRACE_S`; the runner returns only once no process of that group is left (or the grace ended), and the
  attempt exits 143 with a `[trigflow] cancelled` line.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any, TextIO

from trigflow.domain.datasources import is_secret_key
from trigflow.domain.errors import InvalidParameterValue
from trigflow.domain.spark_submit import (
    DEFAULT_MASTER,
    find_java,
    is_local_master,
    log4j_properties,
    merged_conf,
    parse_job,
    properties_text,
    submit_argv,
    substitute_arguments,
)
from trigflow.runner.base import KEY_CODE, KEY_CONFIG, KEY_DATA_SOURCE, KEY_PARAMS, KEY_TYPE_ID, redact, secrets_of

__all__ = ["DECLARED_OUTPUTS_ENV", "EXIT_CANCELLED", "EXIT_FAILED", "KILL_GRACE_S", "run", "spark_home"]

EXIT_FAILED = 1
EXIT_CANCELLED = 143  # 128 + SIGTERM, what a shell task killed by SIGTERM reports
KILL_GRACE_S = 3.0  # SIGTERM -> SIGKILL for the driver's group: Spark's shutdown hooks take well under a second
DECLARED_OUTPUTS_ENV = "TRIGFLOW_DECLARED_OUTPUTS"
OUTPUT_FILE_ENV = "WEDATA_OUTPUT_FILE"
CONFIG_OUTPUTS = "outputs"
JAR_TYPES: dict[int, bool | None] = {46: True, 50: False, 139: None}
_COMPAT_DIR = str(Path(__file__).resolve().parent / "spark_compat")  # `dlcutils`, importable by the job
_LINE_MAX = 64 * 1024
_WATCH_POLL_S = 0.5


class _Masked:
    """Writes lines to the log with the data source's secrets redacted."""

    def __init__(self, log: TextIO, secrets: list[str]) -> None:
        self._log = log
        self._secrets = secrets
        self._lock = threading.Lock()  # the output pump and the cancel watcher both write

    def line(self, text: str) -> None:
        with self._lock:
            self._log.write(redact(text, self._secrets) + "\n")
            self._log.flush()


def spark_home(env: Mapping[str, str]) -> str | None:
    """`$SPARK_HOME`, else the installed pyspark package's directory (found without importing it: ~0.3 s)."""
    home = env.get("SPARK_HOME")
    if home:
        return home
    spec = importlib.util.find_spec("pyspark")
    if spec is None or not spec.submodule_search_locations:
        return None
    return str(next(iter(spec.submodule_search_locations)))


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", errors="surrogatepass") as f:
        f.write(text)


def run(workload: Mapping[str, Any], log: TextIO, outputs_path: str | None, cancel: threading.Event) -> int:
    out = _Masked(log, secrets_of(workload))
    type_id = int(workload.get(KEY_TYPE_ID) or 0)
    config: Mapping[str, Any] = workload.get(KEY_CONFIG) or {}
    try:
        job = parse_job(config, "TaskExtConfigurationList", jar=JAR_TYPES.get(type_id))
    except InvalidParameterValue as e:  # saved by an older server with other rules
        out.line(f"[trigflow] the Spark configuration is refused: {e.message}")
        return EXIT_FAILED
    ds: Mapping[str, Any] = workload.get(KEY_DATA_SOURCE) or {}
    master = str(ds.get("master") or DEFAULT_MASTER)
    env = dict(os.environ)
    home = spark_home(env)
    submit = str(Path(home) / "bin" / "spark-submit") if home else ""
    if not home or not os.access(submit, os.X_OK):
        out.line("[trigflow] spark-submit not found: install pyspark with trigflow (pip install 'trigflow[spark]') "
                 "or pass a Spark distribution with `trigflow up --task-env SPARK_HOME`")  # fmt: skip
        return EXIT_FAILED
    if find_java(env, shutil.which) is None:
        out.line("[trigflow] no Java runtime: Spark needs Java 17 or later; put `java` on the server's PATH or pass "
                 "JAVA_HOME with `trigflow up --task-env JAVA_HOME`")  # fmt: skip
        return EXIT_FAILED
    if cancel.is_set():
        out.line("[trigflow] cancelled before spark-submit started")
        return EXIT_CANCELLED
    params: Mapping[str, str] = workload.get(KEY_PARAMS) or {}
    with tempfile.TemporaryDirectory(prefix="trigflow-spark-", ignore_cleanup_errors=True) as tmp_name:
        tmp = Path(tmp_name)  # mkdtemp: 0700, this user's only
        script = tmp / "job.py"
        if job.jar is None:
            _write_private(script, str(workload.get(KEY_CODE) or ""))
        if is_local_master(master):
            (tmp / "local").mkdir(mode=0o700)
            # Scratch space (shuffle files, blocks), removed with the directory even after a SIGKILL. The
            # variable, not spark.local.dir: Spark warns on every run that a cluster manager overrides that.
            env.setdefault("SPARK_LOCAL_DIRS", str(tmp / "local"))
            env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # a local driver needs no routable address
        conf = merged_conf({str(k): str(v) for k, v in (ds.get("options") or {}).items()}, job)
        props = tmp / "spark.properties"
        _write_private(props, properties_text(conf))
        if not env.get("SPARK_CONF_DIR"):
            (tmp / "conf").mkdir(mode=0o700)
            _write_private(tmp / "conf" / "log4j2.properties", log4j_properties(job.log_level))
            env["SPARK_CONF_DIR"] = str(tmp / "conf")
        env["SPARK_HOME"] = home
        env.setdefault("PYSPARK_PYTHON", sys.executable)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH"), _COMPAT_DIR) if p)
        env[DECLARED_OUTPUTS_ENV] = declared_outputs_json(config)
        if outputs_path is not None:
            env[OUTPUT_FILE_ENV] = outputs_path
        name = f"trigflow-{env.get('TRIGFLOW_TASK_EXECUTION_ID') or 'spark'}"
        argv = submit_argv(submit, master, job, str(script), str(props), name,
                           substitute_arguments(job.arguments, params))  # fmt: skip
        out.line(f"[trigflow] {shlex.join(argv)}")
        shown = ", ".join(f"{k}={'******' if is_secret_key(k) else v}" for k, v in conf.items())
        out.line(f"[trigflow] Spark settings (in the properties file): {shown}")
        return _submit(argv, env, out, cancel)


def _submit(argv: list[str], env: dict[str, str], out: _Masked, cancel: threading.Event) -> int:
    started = time.monotonic()
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                env=env, process_group=0, close_fds=True)  # fmt: skip
    except OSError as e:
        out.line(f"[trigflow] spark-submit could not start: {e.strerror or e}")
        return EXIT_FAILED
    assert proc.stdout is not None
    pump = threading.Thread(target=_pump, args=(proc.stdout, out), name="spark-log", daemon=True)
    pump.start()
    finished = threading.Event()
    stopped = threading.Event()

    def watcher() -> None:
        while not cancel.wait(_WATCH_POLL_S):
            if finished.is_set():
                return
        if not finished.is_set():
            out.line("[trigflow] cancel requested: stopping the Spark driver (SIGTERM to its process group)")
        _stop_group(proc.pid, KILL_GRACE_S, out)
        stopped.set()

    threading.Thread(target=watcher, name="spark-cancel", daemon=True).start()
    code = proc.wait()
    finished.set()
    if cancel.is_set():
        stopped.wait(KILL_GRACE_S + 1.0)  # no process of the driver's group outlives the attempt
    pump.join(2.0)  # EOF once every writer is gone; a process that left the group could hold the pipe
    took = f"{time.monotonic() - started:.1f} s"
    if cancel.is_set():
        out.line(f"[trigflow] cancelled: the Spark driver was stopped after {took}")
        return EXIT_CANCELLED
    if code < 0:
        out.line(f"[trigflow] the Spark driver was killed by signal {-code} after {took}")
        return 128 - code
    out.line(f"[trigflow] spark-submit exited with code {code} after {took}")
    return code


def _pump(stream: IO[bytes], out: _Masked) -> None:
    with contextlib.suppress(OSError, ValueError):
        for raw in iter(lambda: stream.readline(_LINE_MAX), b""):
            out.line(raw.decode("utf-8", "replace").rstrip("\r\n"))
    with contextlib.suppress(OSError):
        stream.close()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stop_group(pgid: int, grace: float, out: _Masked) -> None:
    """SIGTERM the driver's process group, SIGKILL what is left after `grace` seconds."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not _group_alive(pgid):
            return
        time.sleep(0.05)
    out.line(f"[trigflow] the Spark driver did not stop within {grace:.0f} s: SIGKILL")
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
    end = time.monotonic() + 2.0
    while time.monotonic() < end and _group_alive(pgid):
        time.sleep(0.05)


def declared_outputs_json(config: Mapping[str, Any]) -> str:
    """The workload's declared outputs as JSON text (a list or its text: ADR 0004's config is key -> string)."""
    value = config.get(CONFIG_OUTPUTS)
    if isinstance(value, str):
        return value
    return json.dumps(value or [], ensure_ascii=False)
