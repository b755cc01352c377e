"""`trigflow worker`: serve one resource group's Celery queue on this host (docs/workers.md).

    trigflow worker --broker URL --resource-group ID --server URL --token-file FILE
                    [--concurrency N] [--name NAME] [--data-dir DIR] [--heartbeat S] [--lease S]
                    [--task-env NAME]

The worker needs the broker (where attempts arrive), the server's URL (where it reports: the internal
endpoint of `trigflow up`; payloads name it too) and the server's worker token (copied from the server's
`<data dir>/worker-token`). It never opens the trigflow database.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from pathlib import Path
from typing import Any

from trigflow.cli.server import task_env_name


def cmd_worker(args: argparse.Namespace) -> int:
    from trigflow.executors import worker_guard
    from trigflow.executors.celery_worker import WorkerRuntime, serve
    from trigflow.process_guard import forbid_inspection

    forbid_inspection()  # the token is in this process's memory
    os.umask(0o077)
    token_file = Path(args.token_file or os.environ.get("TRIGFLOW_WORKER_TOKEN_FILE", "")).expanduser()
    try:
        token = token_file.read_text().strip()
    except OSError as e:
        print(f"trigflow worker: cannot read the worker token (--token-file): {e.strerror}", file=sys.stderr)
        return 2
    if not token:
        print("trigflow worker: the worker token file is empty", file=sys.stderr)
        return 2
    data_dir = Path(args.data_dir or Path.home() / ".trigflow-worker").expanduser()
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    servers = args.server or [s for s in os.environ.get("TRIGFLOW_SERVER", "").split(",") if s]
    if not servers:
        print("trigflow worker: --server URL is required (where the worker reports)", file=sys.stderr)
        return 2
    runtime = WorkerRuntime(
        data_dir=data_dir,
        group=args.resource_group,
        name=args.name or socket.gethostname(),
        concurrency=args.concurrency,
        servers=servers,
        token=token,
        heartbeat_s=args.heartbeat,
        lease_s=args.lease,
        task_env=tuple(args.task_env),
    )
    # Before Celery starts (no threads, no broker connection yet): the guard kills this worker's attempts
    # the moment this process dies, whatever the signal (executors/worker_guard.py).
    cgroups = runtime.executor.cgroups
    worker_guard.start(runtime.worker_id, cgroups.root if cgroups else None, cgroups.version if cgroups else None,
                       servers, token, str(data_dir))  # fmt: skip
    print(f"trigflow worker {runtime.worker_id} serving resource group {args.resource_group} "
          f"({args.concurrency} slots), data dir {data_dir}", flush=True)  # fmt: skip
    return serve(runtime, args.broker, visibility_timeout_s=args.visibility_timeout, log_level=args.log_level)


def add_parser(sub: Any) -> None:
    p = sub.add_parser("worker", help="run a Celery worker for one resource group (docs/workers.md)")
    p.add_argument("--broker", required=True, help="Celery broker URL, the same as `trigflow up --broker`")
    p.add_argument("--resource-group", required=True, metavar="ID", help="the resource group id this worker serves")
    p.add_argument("--server", action="append", metavar="URL",
                   help="the trigflow server to report to (repeatable: active and standbys; or $TRIGFLOW_SERVER)")
    p.add_argument("--token-file", help="the server's worker token (its <data dir>/worker-token)")
    p.add_argument("--concurrency", type=int, default=1, help="attempts run at once (default 1)")
    p.add_argument("--name", help="worker name shown by the server (default: the host name)")
    p.add_argument("--data-dir", help="where attempts run and their logs are kept (default ~/.trigflow-worker)")
    p.add_argument("--heartbeat", type=float, default=1.0, help="seconds between heartbeats (default 1)")
    p.add_argument("--lease", type=float, default=30.0,
                   help="seconds without a successful heartbeat after which the worker kills its attempts (default 30)")
    p.add_argument("--visibility-timeout", type=int, default=86_400,
                   help="Redis redelivery timeout of an unacked message, seconds (default 86400)")
    p.add_argument("--task-env", action="append", type=task_env_name, metavar="NAME", default=[],
                   help="pass this worker environment variable (or PREFIX*) to its attempts, beyond PATH, HOME, "
                   "LANG, LC_*, TZ, USER, ... (repeatable; TRIGFLOW_* never)")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.set_defaults(func=cmd_worker, server_logging=True)
