"""`trigflow` command line: the composition root (builds settings, services and the server)."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import signal
import sys
from pathlib import Path

from trigflow import __version__
from trigflow.config import Settings


def _settings(args: argparse.Namespace) -> Settings:
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
    if getattr(args, "slots", None) is not None:
        kwargs["default_slots"] = args.slots
    if getattr(args, "minute_seconds", None) is not None:
        kwargs["minute_ms"] = max(1, round(args.minute_seconds * 1000))
    return Settings(**kwargs)  # type: ignore[arg-type]


def cmd_up(args: argparse.Namespace) -> int:
    import uvicorn

    from trigflow.api.http import create_app
    from trigflow.app import bootstrap, build

    settings = _settings(args)
    services = build(settings)
    boot = bootstrap(services)
    endpoint = f"http://{settings.host}:{settings.port}"
    print(f"trigflow {__version__} listening on {endpoint}", flush=True)
    print(f"  data dir:   {settings.data_dir}", flush=True)
    print(f"  database:   {_redact(settings.database_url)}", flush=True)
    print(f"  ProjectId:  {boot.project_id}", flush=True)
    if boot.admin.secret_id:
        print(f"  SecretId:   {boot.admin.secret_id}", flush=True)
    if boot.key_created:
        print(f"  SecretKey:  {boot.admin.secret_key}   (shown once; `trigflow keys create` makes more)", flush=True)
    services.scheduler.start()
    _tune_gc()
    config = uvicorn.Config(
        create_app(services),
        host=settings.host,
        port=settings.port,
        log_level=args.log_level,
        access_log=False,
        lifespan="off",
    )
    server = uvicorn.Server(config)
    # uvicorn re-raises the signal that stopped it once it has shut down; with these no-op handlers that
    # re-raise returns here, so the scheduler and executor below are stopped cleanly and we exit 0.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: None)
    try:
        server.run()
    finally:
        services.scheduler.stop()
        services.db.dispose()
    return 0


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


def cmd_keys(args: argparse.Namespace) -> int:
    from trigflow.app import build

    services = build(_settings(args))
    keys = services.keys
    if args.keys_cmd == "create":
        key = keys.create(args.name or "")
        print(f"SecretId:  {key.secret_id}\nSecretKey: {key.secret_key}")
    elif args.keys_cmd == "list":
        for row in keys.list():
            state = "revoked" if row["revoked_ms"] else "active"
            print(f"{row['secret_id']}  {state:8}  uin={row['uin']}  name={row['name']}")
    else:
        if not keys.revoke(args.secret_id):
            print(f"no active key {args.secret_id}", file=sys.stderr)
            return 1
        print(f"revoked {args.secret_id}")
    return 0


def cmd_triggers(args: argparse.Namespace) -> int:
    """Upcoming fire times of a workflow's time triggers, in each trigger's own zone."""
    from datetime import datetime

    from trigflow.app import build
    from trigflow.domain.errors import ApiError

    services = build(_settings(args))
    triggers = services.scheduler.triggers
    row = services.catalog.find_workflow(args.workflow_id)
    if row is None or triggers is None:
        print(f"no workflow {args.workflow_id}", file=sys.stderr)
        return 1
    try:
        plans = triggers.upcoming(row, services.clock(), args.count)
    except ApiError as e:
        print(f"{e.code}: {e.message}", file=sys.stderr)
        return 1
    if not plans:
        print(f"workflow {args.workflow_id} has no time trigger")
    for trigger_id, spec, fires in plans:
        status = "" if spec.active and row.get("scheduler_status") != "PAUSED" else "  (PAUSED: will not fire)"
        print(f"trigger {trigger_id}  {spec.cron_expression}  {spec.time_zone}{status}")
        for ms in fires:
            print("  " + datetime.fromtimestamp(ms / 1000, tz=spec.tz).isoformat(sep=" "))
        if not fires:
            print("  (no future fire)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trigflow", description=__doc__)
    parser.add_argument("--version", action="version", version=f"trigflow {__version__}")
    sub = parser.add_subparsers(dest="cmd", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--data-dir", help="state directory (default ~/.trigflow, or $TRIGFLOW_DATA_DIR)")
        p.add_argument("--db", help="database URL (default: SQLite in the data dir; e.g. postgresql+psycopg://...)")

    up = sub.add_parser("up", help="run the API server, scheduler and local executor")
    common(up)
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--port", type=int, default=8090)
    up.add_argument("--rate-limit", type=float, help="requests per second per action per key (default 20)")
    up.add_argument("--kill-grace", type=float, help="seconds between SIGTERM and SIGKILL on kill (default 5)")
    up.add_argument(
        "--slots", type=int, help="capacity of the default resource group at first start (concurrent tasks, default 64)"
    )
    up.add_argument(
        "--minute-seconds",
        type=float,
        help="length of a 'minute' in retry waits and timeouts (default 60; shrink it for tests and demos)",
    )
    up.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    up.set_defaults(func=cmd_up)

    keys = sub.add_parser("keys", help="manage API keys")
    ksub = keys.add_subparsers(dest="keys_cmd", required=True)
    kc = ksub.add_parser("create", help="create an admin API key and print it (the secret only now)")
    kc.add_argument("--name")
    kl = ksub.add_parser("list", help="list API keys (never their secrets)")
    kr = ksub.add_parser("revoke", help="revoke an API key")
    kr.add_argument("secret_id")
    for p in (kc, kl, kr):
        common(p)
    keys.set_defaults(func=cmd_keys)

    trig = sub.add_parser("triggers", help="inspect triggers")
    tsub = trig.add_subparsers(dest="triggers_cmd", required=True)
    tn = tsub.add_parser("next", help="show the next fire times of a workflow's time triggers")
    tn.add_argument("workflow_id")
    tn.add_argument("--count", type=int, default=5)
    common(tn)
    trig.set_defaults(func=cmd_triggers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, str(getattr(args, "log_level", "info")).upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
