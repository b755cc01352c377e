"""A Spark task's configuration and the `spark-submit` command line it becomes (docs/task-types.md "Spark").

Why pure: the same rules refuse a bad TaskExtConfigurationList at save (InvalidParameterValue naming the key,
tasktypes/spark.py) and build the command when the attempt starts (runner/spark.py), so a frozen
configuration that passed the save check cannot fail differently on a worker, and both are unit-tested
without a JVM.

What goes where, and why:

* **argv** carries only what is not secret: the master, `--deploy-mode client`, the name, the main class,
  resource sizes, `--jars`/`--py-files`/`--files`, the application and its arguments. Every other process
  of the same user can read `/proc/<pid>/cmdline`.
* **Spark settings** (the data source's `conf`, the task's `sparkConf`, trigflow's defaults) go into a
  0600 properties file handed over with `--properties-file`: a data source may carry
  `spark.hadoop.fs.s3a.secret.key` and the like. Spark reads the file as UTF-8 Java properties and trims
  values.
* The driver always runs in client mode, inside the attempt's process tree, so a kill or a timeout
  reaches it (`spark.submit.deployMode` other than `client` is refused).
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from trigflow.domain.errors import InvalidParameterValue

__all__ = [
    "DEFAULT_CONF",
    "DEFAULT_MASTER",
    "EXT_KEYS",
    "LOG_LEVELS",
    "SparkJob",
    "find_java",
    "is_local_master",
    "log4j_properties",
    "merged_conf",
    "parse_arguments",
    "parse_conf",
    "parse_job",
    "properties_text",
    "submit_argv",
    "substitute_arguments",
]

DEFAULT_MASTER = "local[*]"

# TaskExtConfigurationList keys (docs/task-types.md "Spark"), after DLC CreateSparkApp's fields.
JAR_PATH = "jarPath"
MAIN_CLASS = "mainClass"
APP_ARGUMENTS = "appArguments"
SPARK_CONF = "sparkConf"
APP_NAME = "appName"
DRIVER_MEMORY = "driverMemory"
EXECUTOR_MEMORY = "executorMemory"
DRIVER_CORES = "driverCores"
EXECUTOR_CORES = "executorCores"
NUM_EXECUTORS = "numExecutors"
JARS = "jars"
PY_FILES = "pyFiles"
FILES = "files"
LOG_LEVEL = "logLevel"
EXT_KEYS = (JAR_PATH, MAIN_CLASS, APP_ARGUMENTS, SPARK_CONF, APP_NAME, DRIVER_MEMORY, EXECUTOR_MEMORY,
            DRIVER_CORES, EXECUTOR_CORES, NUM_EXECUTORS, JARS, PY_FILES, FILES, LOG_LEVEL)  # fmt: skip

LOG_LEVELS = ("OFF", "FATAL", "ERROR", "WARN", "INFO", "DEBUG", "TRACE", "ALL")
DEFAULT_LOG_LEVEL = "WARN"

# Settings trigflow sets unless the data source or the task sets them: no web UI (a port per running
# driver, seconds of start-up, nothing to look at after the task ends) and no progress bars in the log.
DEFAULT_CONF: tuple[tuple[str, str], ...] = (
    ("spark.ui.enabled", "false"),
    ("spark.ui.showConsoleProgress", "false"),
)
# Chosen by the data source (the master) or by trigflow (client mode): a task cannot set them.
_REFUSED_CONF = {
    "spark.master": "the master is the SPARK data source's `master` (SourceServiceId); none means local[*]",
    "spark.submit.deployMode": "the driver always runs in client mode, so a kill or a timeout reaches it",
}

MAX_CONF_ENTRIES = 500
MAX_ARGUMENTS = 1000
MAX_VALUE_CHARS = 64 * 1024
_CONF_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,255}\Z")
_JAVA_CLASS = re.compile(r"(?:[A-Za-z_$][A-Za-z0-9_$]*\.)*[A-Za-z_$][A-Za-z0-9_$]*\Z")
_MEMORY = re.compile(r"[1-9][0-9]{0,8}[kKmMgGtT]?\Z")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://\S+\Z")
_NAME = re.compile(r"[^\x00-\x1f\x7f]{1,200}\Z")
_PARAM_REF = re.compile(r"\$\{([^{}\s]+)\}")


@dataclass(frozen=True)
class SparkJob:
    """A task's Spark configuration, checked: what the command line is built from.

    `jar` is None for a PySpark job (the task's CodeContent is the script)."""

    jar: str | None = None
    main_class: str | None = None
    arguments: tuple[str, ...] = ()
    conf: tuple[tuple[str, str], ...] = ()
    app_name: str | None = None
    driver_memory: str | None = None
    executor_memory: str | None = None
    driver_cores: int | None = None
    executor_cores: int | None = None
    num_executors: int | None = None
    jars: tuple[str, ...] = ()
    py_files: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    log_level: str = DEFAULT_LOG_LEVEL


def _given(ext: Mapping[str, Any], key: str) -> str | None:
    """The key's value as text, None when absent or blank (a console sends empty fields)."""
    value = ext.get(key)
    if value is None:
        return None
    text = str(value)
    return text if text.strip() else None


def _check_text(text: str, where: str) -> None:
    if len(text) > MAX_VALUE_CHARS:
        raise InvalidParameterValue(f"{where} is longer than {MAX_VALUE_CHARS} characters")
    if "\x00" in text:
        raise InvalidParameterValue(f"{where} must not hold NUL characters")


def _location(text: str, where: str) -> str:
    """An absolute local path or a URL spark-submit fetches (`file://`, `hdfs://`, `s3a://`, `https://`...)."""
    value = text.strip()
    if value.startswith("/") and not any(c in value for c in "\n\r\t"):
        return value
    if _URL.match(value):
        return value
    raise InvalidParameterValue(f"{where} must be an absolute path or a URL (file://, hdfs://, s3a://, https://...)")


def _locations(text: str | None, where: str) -> tuple[str, ...]:
    if text is None:
        return ()
    _check_text(text, where)
    parts = [p.strip() for p in text.split(",")]
    if any(not p for p in parts):
        raise InvalidParameterValue(f"{where} must be paths or URLs joined by commas, with none empty")
    return tuple(_location(p, where) for p in parts)


def _positive(text: str | None, where: str) -> int | None:
    if text is None:
        return None
    value = text.strip()
    if not value.isdigit() or not 1 <= int(value) <= 100_000:
        raise InvalidParameterValue(f"{where} must be a whole number 1-100000, got {value[:20]!r}")
    return int(value)


def _memory(text: str | None, where: str) -> str | None:
    if text is None:
        return None
    value = text.strip()
    if not _MEMORY.match(value):
        raise InvalidParameterValue(
            f"{where} must be a size such as 512m, 2g (a number with k, m, g or t), got {value[:20]!r}"
        )
    return value


def parse_conf(text: str, where: str) -> tuple[tuple[str, str], ...]:
    """`sparkConf`: a JSON object (`{"spark.executor.memory": "2g"}`, string, number or boolean values), or
    `key=value` lines (blank lines and `#` comments skipped). Keys are Spark setting names; a key may appear
    once; `spark.master` and `spark.submit.deployMode` are refused (`_REFUSED_CONF` says why)."""
    _check_text(text, where)
    pairs: list[tuple[str, str]] = []
    if text.lstrip().startswith("{"):
        try:
            doc = json.loads(text)
        except (ValueError, RecursionError):
            raise InvalidParameterValue(
                f'{where} is not valid JSON; give an object such as {{"spark.executor.memory": "2g"}} '
                "or key=value lines"
            ) from None
        if not isinstance(doc, dict):
            raise InvalidParameterValue(f"{where} must be a JSON object of Spark settings")
        for k, v in doc.items():
            if isinstance(v, bool):
                v = "true" if v else "false"
            elif isinstance(v, (int, float)):
                v = str(v)
            if not isinstance(v, str):
                raise InvalidParameterValue(f"{where}.{str(k)[:80]} must be a string, number or boolean")
            pairs.append((str(k), v))
    else:
        for n, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            key, sep, value = line.partition("=")
            if not sep:
                raise InvalidParameterValue(f"{where} line {n} is not key=value")
            pairs.append((key.strip(), value.strip()))
    if len(pairs) > MAX_CONF_ENTRIES:
        raise InvalidParameterValue(f"{where} has more than {MAX_CONF_ENTRIES} settings")
    seen: set[str] = set()
    kept: list[tuple[str, str]] = []
    for key, value in pairs:
        if not _CONF_KEY.match(key):
            raise InvalidParameterValue(f"{where}: {key[:80]!r} is not a Spark setting name (letters, digits, . _ -)")
        if key in seen:
            raise InvalidParameterValue(f"{where}: {key} is given twice")
        seen.add(key)
        if key == "spark.submit.deployMode" and value == "client":
            continue  # what trigflow does anyway
        if key in _REFUSED_CONF:
            raise InvalidParameterValue(f"{where}: {key} cannot be set here: {_REFUSED_CONF[key]}")
        if any(c in value for c in "\x00\r\n"):
            raise InvalidParameterValue(f"{where}.{key} must be one line")
        kept.append((key, value))
    return tuple(kept)


def parse_arguments(text: str, where: str) -> tuple[str, ...]:
    """`appArguments`: a JSON array of strings (`["--day", "2026-01-01"]`), or a command line split as a POSIX
    shell splits words (quotes group, nothing is expanded: the arguments are argv items, no shell runs)."""
    _check_text(text, where)
    if text.lstrip().startswith("["):
        try:
            doc = json.loads(text)
        except (ValueError, RecursionError):
            raise InvalidParameterValue(f'{where} is not valid JSON; give an array such as ["--day", "${{biz_date}}"] '
                                        "or a command line") from None  # fmt: skip
        if not isinstance(doc, list) or not all(isinstance(a, str) for a in doc):
            raise InvalidParameterValue(f"{where} must be a JSON array of strings")
        args = tuple(doc)
    else:
        try:
            args = tuple(shlex.split(text, posix=True))
        except ValueError as e:
            raise InvalidParameterValue(f"{where} is not a valid command line: {e}") from None
    if len(args) > MAX_ARGUMENTS:
        raise InvalidParameterValue(f"{where} has more than {MAX_ARGUMENTS} arguments")
    return args


def parse_job(ext: Mapping[str, Any], where: str, *, jar: bool | None) -> SparkJob:
    """The checked job of a TaskExtConfigurationList; refusals name `<where>.<key>`.

    `jar` True: a JAR job (`jarPath` required, DLC Spark 46); False: a PySpark job (CodeContent is the script,
    `jarPath`/`mainClass` refused, DLC PySpark 50); None: either, by whether `jarPath` is given (DLC Spark
    Streaming 139)."""
    jar_text = _given(ext, JAR_PATH)
    main_text = _given(ext, MAIN_CLASS)
    if jar is True and jar_text is None:
        raise InvalidParameterValue(f"{where}.{JAR_PATH} is required: the application JAR, an absolute path or a URL")
    if jar is False and jar_text is not None:
        raise InvalidParameterValue(f"{where}.{JAR_PATH} does not apply: a PySpark task runs its CodeContent; "
                                    "use DLC Spark (46) for a JAR")  # fmt: skip
    if main_text is not None and jar_text is None:
        raise InvalidParameterValue(f"{where}.{MAIN_CLASS} needs {JAR_PATH}: it names a class of the application JAR")
    jar_path = _location(jar_text, f"{where}.{JAR_PATH}") if jar_text is not None else None
    main_class = None
    if main_text is not None:
        main_class = main_text.strip()
        if not _JAVA_CLASS.match(main_class) or len(main_class) > 500:
            raise InvalidParameterValue(f"{where}.{MAIN_CLASS} must be a fully qualified Java class name such as "
                                        f"com.example.Main, got {main_class[:80]!r}")  # fmt: skip
    args_text = _given(ext, APP_ARGUMENTS)
    conf_text = _given(ext, SPARK_CONF)
    name = _given(ext, APP_NAME)
    if name is not None and not _NAME.match(name.strip()):
        raise InvalidParameterValue(f"{where}.{APP_NAME} must be one line of at most 200 characters")
    level = (_given(ext, LOG_LEVEL) or DEFAULT_LOG_LEVEL).strip().upper()
    if level not in LOG_LEVELS:
        raise InvalidParameterValue(f"{where}.{LOG_LEVEL} must be one of {', '.join(LOG_LEVELS)}, got {level[:20]!r}")
    return SparkJob(
        jar=jar_path,
        main_class=main_class,
        arguments=parse_arguments(args_text, f"{where}.{APP_ARGUMENTS}") if args_text is not None else (),
        conf=parse_conf(conf_text, f"{where}.{SPARK_CONF}") if conf_text is not None else (),
        app_name=name.strip() if name is not None else None,
        driver_memory=_memory(_given(ext, DRIVER_MEMORY), f"{where}.{DRIVER_MEMORY}"),
        executor_memory=_memory(_given(ext, EXECUTOR_MEMORY), f"{where}.{EXECUTOR_MEMORY}"),
        driver_cores=_positive(_given(ext, DRIVER_CORES), f"{where}.{DRIVER_CORES}"),
        executor_cores=_positive(_given(ext, EXECUTOR_CORES), f"{where}.{EXECUTOR_CORES}"),
        num_executors=_positive(_given(ext, NUM_EXECUTORS), f"{where}.{NUM_EXECUTORS}"),
        jars=_locations(_given(ext, JARS), f"{where}.{JARS}"),
        py_files=_locations(_given(ext, PY_FILES), f"{where}.{PY_FILES}"),
        files=_locations(_given(ext, FILES), f"{where}.{FILES}"),
        log_level=level,
    )


def substitute_arguments(args: Sequence[str], params: Mapping[str, str]) -> tuple[str, ...]:
    """`${name}` in each argument replaced by the attempt's parameter `name` (unknown names stay as written).

    Safe for data values too: each argument is one argv item of spark-submit, never read by a shell."""

    def one(arg: str) -> str:
        return _PARAM_REF.sub(lambda m: params.get(m.group(1), m.group(0)), arg)

    return tuple(one(a) for a in args)


def is_local_master(master: str) -> bool:
    return master == "local" or master.startswith("local[")


def merged_conf(source_conf: Mapping[str, str], job: SparkJob) -> dict[str, str]:
    """The settings the properties file gets: trigflow's defaults, then the data source's `conf`, then the
    task's `sparkConf` (the task wins; `spark.master` and `spark.submit.deployMode` never come from `conf`)."""
    out = dict(DEFAULT_CONF)
    out.update({k: v for k, v in source_conf.items() if k not in _REFUSED_CONF})
    out.update(job.conf)
    return out


def _escape(text: str, key: bool) -> str:
    out = []
    for i, c in enumerate(text):
        if c == "\\":
            out.append("\\\\")
        elif c == "\n":
            out.append("\\n")
        elif c == "\r":
            out.append("\\r")
        elif c == "\t":
            out.append("\\t")
        elif c == "\f":  # a blank to Java: skipped before a value
            out.append("\\f")
        elif c in "=:#!" or (c == " " and (key or i == 0)):
            out.append("\\" + c)
        else:
            out.append(c)
    return "".join(out)


def properties_text(conf: Mapping[str, str]) -> str:
    """Java properties text (UTF-8, as Spark's `--properties-file` reads it), one `key=value` a line."""
    return "".join(f"{_escape(k, True)}={_escape(v, False)}\n" for k, v in conf.items())


def log4j_properties(level: str) -> str:
    """A log4j2 configuration for the driver: `level` for everything, on stderr, one line per event (Spark's
    own template, quieter: at INFO a local job writes hundreds of lines before the first of its own)."""
    lvl = level.lower()
    return (
        f"rootLogger.level = {lvl}\n"
        "rootLogger.appenderRef.stdout.ref = console\n"
        "appender.console.type = Console\n"
        "appender.console.name = console\n"
        "appender.console.target = SYSTEM_ERR\n"
        "appender.console.layout.type = PatternLayout\n"
        "appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n%ex\n"
        # Spark's template: these are noisy at any level below ERROR.
        "logger.jetty.name = org.sparkproject.jetty\n"
        "logger.jetty.level = warn\n"
        "logger.replexprTyper.name = org.apache.spark.repl.SparkIMain$exprTyper\n"
        "logger.replexprTyper.level = info\n"
        "logger.parquet.name = org.apache.parquet\n"
        "logger.parquet.level = error\n"
        "logger.hadoop.name = org.apache.hadoop.util.NativeCodeLoader\n"
        "logger.hadoop.level = error\n"
        "logger.hive.name = org.apache.hadoop.hive.metastore.RetryingHMSHandler\n"
        "logger.hive.level = fatal\n"
    )


def submit_argv(
    spark_submit: str,
    master: str,
    job: SparkJob,
    application: str,
    properties_file: str,
    app_name: str,
    arguments: Sequence[str] | None = None,
) -> list[str]:
    """The spark-submit command line: options, then the application (`job.jar` or the PySpark script at
    `application`), then its arguments (`arguments`, default the job's own). No Spark setting is in it."""
    argv = [spark_submit, "--master", master, "--deploy-mode", "client", "--name", job.app_name or app_name,
            "--properties-file", properties_file]  # fmt: skip
    if job.main_class is not None:
        argv += ["--class", job.main_class]
    for flag, value in (("--driver-memory", job.driver_memory), ("--executor-memory", job.executor_memory),
                        ("--driver-cores", job.driver_cores), ("--executor-cores", job.executor_cores),
                        ("--num-executors", job.num_executors)):  # fmt: skip
        if value is not None:
            argv += [flag, str(value)]
    for flag, items in (("--jars", job.jars), ("--py-files", job.py_files), ("--files", job.files)):
        if items:
            argv += [flag, ",".join(items)]
    argv.append(job.jar if job.jar is not None else application)
    argv += list(job.arguments if arguments is None else arguments)
    return argv


def find_java(env: Mapping[str, str], which: Any) -> str | None:
    """The java spark-submit will run: `$JAVA_HOME/bin/java` when JAVA_HOME is set (what spark-class uses),
    else `java` on the PATH. `which(name, path=...)` is shutil.which (passed in: this module does no I/O);
    None when there is none."""
    home = env.get("JAVA_HOME")
    if home:
        found = which(f"{home.rstrip('/')}/bin/java")
        return str(found) if found else None
    found = which("java", path=env.get("PATH") or "")
    return str(found) if found else None
