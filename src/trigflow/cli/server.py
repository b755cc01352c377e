"""`trigflow up` and the settings it builds: the composition root of the server (settings, services,
the HTTP server). `trigflow keys` reuses `settings_from_args` to open the same database."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trigflow import __version__
from trigflow.config import Settings


def settings_from_args(args: argparse.Namespace) -> Settings:
    env_id, env_key = Settings.env_admin_pair()
    data_dir = Path(args.data_dir or os.environ.get("TRIGFLOW_DATA_DIR") or Path.home() / ".trigflow").expanduser()
    kwargs = {
        "data_dir": data_dir,
        "db_url": args.db or os.environ.get("TRIGFLOW_DB"),
        "admin_secret_id": env_id,
        "admin_secret_key": env_key,
    }
    if getattr(args, "host", None):
        kwargs["host"] = args.host
    if getattr(args, "port", None) is not None:
        kwargs["port"] = args.port
    if getattr(args, "rate_limit", None) is not None:
        kwargs["rate_limit_per_second"] = args.rate_limit
    if getattr(args, "kill_grace", None) is not None:
        kwargs["kill_grace_seconds"] = args.kill_grace
    if getattr(args, "no_keeper", False):
        kwargs["keeper"] = False
    if getattr(args, "kill_on_stop", False):
        kwargs["kill_on_stop"] = True
    if getattr(args, "slots", None) is not None:
        kwargs["default_slots"] = args.slots
    if getattr(args, "minute_seconds", None) is not None:
        kwargs["minute_ms"] = max(1, round(args.minute_seconds * 1000))
    for flag, setting in _FRONT_DOOR_FLAGS.items():  # issue 11 hardening flags of `up`
        if getattr(args, flag, None) is not None:
            kwargs[setting] = getattr(args, flag)
    for flag, setting in _SCHEDULER_LIMIT_FLAGS.items():  # definition quotas of `up` (docs/limits.md)
        if getattr(args, flag, None) is not None:
            kwargs[setting] = getattr(args, flag)
    if getattr(args, "file_arrival_root", None):
        kwargs["file_arrival_roots"] = tuple(str(Path(d).expanduser()) for d in args.file_arrival_root)
    kwargs.update(_param_settings(args))
    kwargs.update(_worker_settings(args))
    for flag in ("max_log_bytes", "max_task_processes"):  # per-attempt limits (docs/limits.md "Task attempts")
        if getattr(args, flag, None) is not None:
            kwargs[flag] = getattr(args, flag)
    return Settings(**kwargs)  # type: ignore[arg-type]


def _worker_settings(args: argparse.Namespace) -> dict[str, object]:
    out: dict[str, object] = {}
    if getattr(args, "broker", None):
        out["broker_url"] = args.broker
    if getattr(args, "worker_token_file", None):
        out["worker_token_file"] = str(Path(args.worker_token_file).expanduser())
    if getattr(args, "worker_lease", None) is not None:
        out["worker_lease_s"] = args.worker_lease
    if getattr(args, "remote_group", None):
        out["remote_groups"] = tuple(args.remote_group)
    if getattr(args, "advertise_url", None):
        out["advertise_urls"] = tuple(args.advertise_url)
    if getattr(args, "visibility_timeout", None) is not None:
        out["visibility_timeout_s"] = args.visibility_timeout
    return out


def _param_settings(args: argparse.Namespace) -> dict[str, object]:
    """Task parameter limits and the task environment allow-list of `up` (docs/parameters.md)."""
    out: dict[str, object] = {}
    if getattr(args, "max_expanded_size", None) is not None:
        out["max_expanded_chars"] = args.max_expanded_size
    if getattr(args, "max_param_size", None) is not None:
        out["max_param_chars"] = args.max_param_size
    if getattr(args, "task_env", None):
        out["task_env"] = tuple(args.task_env)
    return out


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 (no limit) or more")
    return value


def task_env_name(name: str) -> str:
    from trigflow.domain.task_env import check_extra_names

    try:
        return check_extra_names([name])[0]
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _add_param_flags(up: argparse.ArgumentParser) -> None:
    up.add_argument(
        "--max-expanded-size", type=int, metavar="CHARS",
        help="characters one task attempt's ${...} substitution may build, code and values (default 16777216)",
    )  # fmt: skip
    up.add_argument(
        "--max-param-size", type=int, metavar="CHARS",
        help="longest run-time parameter, upstream output or file list a task accepts (default 1048576)",
    )  # fmt: skip
    up.add_argument(
        "--task-env", action="append", type=task_env_name, metavar="NAME",
        help="pass this server environment variable (or PREFIX*) to tasks, beyond PATH, HOME, LANG, LC_*, TZ, "
        "USER, ... (repeatable; TRIGFLOW_* never)",
    )  # fmt: skip


# `trigflow up` flag (argparse dest) -> Settings field, for the front door's limits (docs/limits.md).
_FRONT_DOOR_FLAGS = {
    "allow_unsigned_payload": "allow_unsigned_payload",
    "allow_v1_signing": "allow_v1_signing",
    "tls_cert": "tls_cert",
    "tls_key": "tls_key",
    "header_timeout": "header_timeout_s",
    "idle_timeout": "idle_timeout_s",
    "body_timeout": "body_timeout_s",
    "body_min_rate": "body_min_rate",
    "max_connections": "max_connections",
    "max_large_bodies": "max_large_bodies",
    "auth_failures_per_minute": "auth_failures_per_minute",
    "log_lines_per_second": "log_lines_per_second",
}


def cmd_up(args: argparse.Namespace) -> int:
    import uvicorn

    from trigflow.api import logthrottle
    from trigflow.api.http import create_app
    from trigflow.api.server import ConnectionLimits, effective_max_connections, raise_nofile_limit, uvicorn_config
    from trigflow.app import bootstrap, build
    from trigflow.process_guard import forbid_inspection
    from trigflow.service.keys import RevokedKeyError

    settings = settings_from_args(args)
    forbid_inspection()  # first: the launcher and the keeper hold the same environment (process_guard.py)
    if settings.keeper:
        from trigflow.executors.keeper import split, watch_launcher

        # The server makes the whole data dir private (app.py, one walk); the keeper's own dir is 0700 already.
        settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        launcher = split(settings.data_dir)  # returns here only in the server process (ADR 0005)
        if launcher is not None:
            watch_launcher(launcher)
    logthrottle.install(settings.log_lines_per_second)
    if bool(settings.tls_cert) != bool(settings.tls_key):
        print("trigflow: --tls-cert and --tls-key go together (PEM certificate chain and key)", file=sys.stderr)
        return 2
    if settings.tls_cert and settings.tls_key:
        problem = _tls_problem(settings.tls_cert, settings.tls_key)
        if problem:
            print(f"trigflow: cannot serve HTTPS: {problem}", file=sys.stderr)
            return 2
    services = build(settings)
    try:
        boot = bootstrap(services)
    except RevokedKeyError as e:
        print(f"trigflow: cannot start: {e}", file=sys.stderr, flush=True)
        services.db.dispose()
        return 2
    scheme = "https" if settings.tls_cert else "http"
    endpoint = f"{scheme}://{settings.host}:{settings.port}"
    print(f"trigflow {__version__} listening on {endpoint}", flush=True)
    print(f"  data dir:   {settings.data_dir}", flush=True)
    print(f"  database:   {_redact(settings.database_url)}", flush=True)
    print(f"  ProjectId:  {boot.project_id}", flush=True)
    if settings.broker_url:
        print(f"  broker:     {_redact(settings.broker_url)} (worker token: {settings.worker_token_path})", flush=True)
    if boot.admin.secret_id:
        print(f"  SecretId:   {boot.admin.secret_id}", flush=True)
    if boot.key_created:
        _announce_created_key(settings, scheme, boot.admin.secret_id, boot.admin.secret_key, boot.project_id)
    else:
        _check_client_file(settings, f"{scheme}://{_connect_host(settings.host)}:{settings.port}")
    if scheme == "http" and not _is_loopback(settings.host):
        logging.getLogger("trigflow").warning(
            "serving plain HTTP on %s, which is not a loopback address: the official SDKs do not sign the "
            "X-TC-Action header, so anyone on the path can replay a captured request as another action for "
            "five minutes. Use --tls-cert/--tls-key, or bind 127.0.0.1 behind a TLS proxy (docs/security.md)",
            settings.host,
        )
    nofile = raise_nofile_limit()
    limits = ConnectionLimits(
        max_connections=effective_max_connections(settings.max_connections, nofile),
        header_timeout=settings.header_timeout_s,
        body_timeout=settings.body_timeout_s,
        body_min_rate=settings.body_min_rate,
        idle_timeout=settings.idle_timeout_s,
    )
    services.scheduler.start()
    if services.group_metrics is not None:
        services.group_metrics.start()
    _tune_gc()
    config = uvicorn_config(
        create_app(services),
        host=settings.host,
        port=settings.port,
        log_level=args.log_level,
        limits=limits,
        tls_cert=settings.tls_cert,
        tls_key=settings.tls_key,
    )
    server = uvicorn.Server(config)
    # uvicorn re-raises the signal that stopped it once it has shut down; with these no-op handlers that
    # re-raise returns here, so the scheduler and executor below are stopped cleanly and we exit 0.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: None)
    try:
        server.run()
    finally:
        # Without a keeper nobody would learn how a task left running ends: kill it as before.
        if services.group_metrics is not None:
            services.group_metrics.stop()
        services.scheduler.stop(kill=settings.kill_on_stop or not settings.keeper)
        services.db.dispose()
    return 0


def _tls_problem(cert: str, key: str) -> str | None:
    """Load the pair once before anything starts, so a wrong path or a key that does not match the
    certificate is a one-line start-up error rather than a traceback from inside uvicorn."""
    import ssl

    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except FileNotFoundError as e:
        return f"no such file {e.filename or cert}"
    except (ssl.SSLError, OSError) as e:
        return f"{cert} / {key} are not a PEM certificate and its private key ({e})"
    return None


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _tune_gc() -> None:
    """Freeze what start-up allocated and collect the young generation less often.

    A 1,000-task GetTriggerWorkflowRun allocates ~200,000 short-lived objects; with the default
    threshold (700) that is hundreds of young collections per request, and each full collection also
    walks the tens of thousands of long-lived objects of SQLAlchemy, Starlette and the wire schema.
    Freezing moves those out of the collector's sight (the pattern CPython documents for servers);
    cycles are still collected, only later.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return scheme + "://***@" + rest.split("@", 1)[1]
    return url


# `trigflow up` flag (argparse dest) -> Settings field, for the definition quotas (docs/limits.md).
_SCHEDULER_LIMIT_FLAGS = {
    "max_nested_runs": "max_nested_runs",
    "max_code_bytes": "max_code_bytes",
    "file_arrival_max_entries": "file_arrival_max_entries",
    "stall_after": "stall_after_seconds",
}


def _scheduler_limit_flags(up: argparse.ArgumentParser) -> None:
    """Definition quotas of `trigflow up` (docs/limits.md "Definitions", "File arrival")."""
    up.add_argument(
        "--file-arrival-root",
        action="append",
        metavar="DIR",
        help="directory FILE_ARRIVAL triggers may watch (repeatable; default: the system temp directory)",
    )
    up.add_argument(
        "--file-arrival-max-entries", type=int, help="directory entries one file-arrival scan may visit (10000)"
    )
    up.add_argument("--max-nested-runs", type=int, help="nested runs one top-level run may create (default 1000)")
    up.add_argument("--max-code-bytes", type=int, help="decoded CodeContent size per task (default 1048576)")
    up.add_argument("--stall-after", type=float, metavar="S",
                    help="seconds with no scheduler loop pass before /healthz says 503 stalled (30)")  # fmt: skip


def _front_door_flags(up: argparse.ArgumentParser) -> None:
    """Signing, TLS and HTTP server limits of `trigflow up` (docs/security.md, docs/limits.md)."""
    up.add_argument("--tls-cert", help="PEM certificate (chain) file: serve HTTPS (with --tls-key)")
    up.add_argument("--tls-key", help="PEM private key file of --tls-cert")
    up.add_argument(
        "--allow-unsigned-payload",
        action="store_true",
        default=None,
        help="accept X-TC-Content-SHA256: UNSIGNED-PAYLOAD (the body is then not signed; off by default)",
    )
    up.add_argument(
        "--allow-v1-signing",
        action="store_true",
        default=None,
        help="accept legacy HmacSHA1/HmacSHA256 Signature-parameter requests (off by default)",
    )
    up.add_argument("--header-timeout", type=float, help="seconds to send a complete request head (default 10)")
    up.add_argument("--idle-timeout", type=float, help="seconds an idle keep-alive connection stays open (default 5)")
    up.add_argument(
        "--body-timeout", type=float, help="seconds granted to every body on top of its size at --body-min-rate (10)"
    )
    up.add_argument("--body-min-rate", type=int, help="bytes per second a body upload is granted (default 65536)")
    up.add_argument(
        "--max-connections", type=int, help="open client connections (default 1000; at most half of RLIMIT_NOFILE)"
    )
    up.add_argument("--max-large-bodies", type=int, help="bodies over 64 KB received at once (default 8)")
    up.add_argument(
        "--auth-failures-per-minute",
        type=int,
        help="failed authentications per client address and minute before RequestLimitExceeded (default 60)",
    )
    up.add_argument(
        "--log-lines-per-second", type=float, help="log lines per message template before suppression (default 20)"
    )


def add_parser(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    """The `up` subcommand and its flags."""
    up = sub.add_parser("up", help="run the API server, scheduler and local executor")
    common(up)
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--port", type=int, default=8090)
    up.add_argument("--rate-limit", type=float, help="requests per second per action per key (default 20)")
    up.add_argument("--kill-grace", type=float, help="seconds between SIGTERM and SIGKILL on kill (default 5)")
    up.add_argument(
        "--kill-on-stop",
        action="store_true",
        help="a graceful stop (SIGTERM, Ctrl-C) kills running tasks; by default they run on and the next "
        "`trigflow up` on this data dir adopts them",
    )
    up.add_argument(
        "--no-keeper",
        action="store_true",
        help="no keeper process: tasks still running when the server crashes are killed and lost on restart "
        "(docs/adr/0005-durable-local-attempts.md)",
    )
    up.add_argument(
        "--slots", type=int, help="capacity of the default resource group at first start (concurrent tasks, default 64)"
    )
    up.add_argument(
        "--minute-seconds",
        type=float,
        help="length of a 'minute' in retry waits and timeouts (default 60; shrink it for tests and demos)",
    )
    up.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    _add_param_flags(up)
    up.add_argument(
        "--max-log-bytes", type=_non_negative_int, metavar="BYTES",
        help="log kept per task attempt: past it the middle is dropped with a marker (default 67108864; 0 = no limit)",
    )  # fmt: skip
    up.add_argument(
        "--max-task-processes", type=_non_negative_int, metavar="N",
        help="processes and threads one task attempt may run at once, where a pids cgroup is writable "
        "(default 512; 0 = no limit)",
    )  # fmt: skip
    _front_door_flags(up)
    _scheduler_limit_flags(up)
    _worker_flags(up)
    up.set_defaults(func=cmd_up, server_logging=True)


def _worker_flags(up: argparse.ArgumentParser) -> None:
    """Celery workers (docs/workers.md): without --broker every attempt runs locally, as before."""
    up.add_argument("--broker", help="Celery broker URL (redis://HOST:6379/0, amqp://USER:PW@HOST:5672//): resource "
                    "groups that have `trigflow worker`s run on them")  # fmt: skip
    up.add_argument("--worker-token-file", help="the token workers authenticate with (default <data dir>/worker-token, "
                    "created 0600 on first start)")  # fmt: skip
    up.add_argument("--worker-lease", type=float, help="seconds without a report after which a worker's attempts "
                    "are lost and retried (default 30)")  # fmt: skip
    up.add_argument("--remote-group", action="append", metavar="ID", help="a resource group id whose attempts always "
                    "go to workers, even before one registered (repeatable)")  # fmt: skip
    up.add_argument("--advertise-url", action="append", metavar="URL", help="where workers reach this server "
                    "(repeatable; default the --host address; none if loopback or wildcard)")  # fmt: skip
    up.add_argument("--visibility-timeout", type=int, help="seconds before Redis redelivers an unacked message "
                    "(default 86400; keep it above the longest execution timeout)")  # fmt: skip


def _announce_created_key(settings: Settings, scheme: str, secret_id: str, secret_key: str, project_id: str) -> None:
    """First start: the generated admin key goes to an owner-only credentials file in the data dir (the
    file the `trigflow` client reads by default), never to stdout, which is often a log file. Only its
    path and the SecretId are printed, on a terminal too: one behaviour to document and test, and a
    secret that is never in a scrollback, a `tee` or a screen share (`cat` of the file shows it)."""
    from trigflow.client.credfile import CREDENTIALS_FILE, write_credentials

    path = settings.data_dir / CREDENTIALS_FILE
    endpoint = f"{scheme}://{_connect_host(settings.host)}:{settings.port}"
    try:
        write_credentials(path, endpoint=endpoint, secret_id=secret_id, secret_key=secret_key, project_id=project_id)
    except OSError as e:
        print(f"trigflow: cannot write {path}: {e.strerror or e}; the generated key's secret is lost: revoke "
              f"{secret_id} and make one with `trigflow keys create`", file=sys.stderr, flush=True)  # fmt: skip
        return
    print(f"  SecretKey:  in {path} (owner-only; the trigflow client reads it)", flush=True)


def _check_client_file(settings: Settings, endpoint: str) -> None:
    """A later start on another address leaves the client file pointing at the old one; say so (the file
    is the operator's to edit, e.g. to point at a TLS proxy, so it is not rewritten)."""
    from trigflow.client.credfile import CREDENTIALS_FILE, read_json_object

    path = settings.data_dir / CREDENTIALS_FILE
    try:
        written = read_json_object(path).get("endpoint")
    except (OSError, ValueError):
        return
    if written and written != endpoint:
        logging.getLogger("trigflow").warning(
            "%s names endpoint %s but this server listens on %s: clients reading that file will not reach "
            "it; edit the file or set TRIGFLOW_ENDPOINT", path, written, endpoint,
        )  # fmt: skip


def _connect_host(host: str) -> str:
    """The address a client on this machine reaches a server bound to `host` at (wildcards: loopback)."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
