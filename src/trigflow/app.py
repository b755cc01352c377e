"""Composition: builds the database, services, scheduler and HTTP app from Settings.

The CLI calls `build()`; tests and benchmarks start the real CLI process instead, so this module is
the single place that knows every layer.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from trigflow.config import Settings
from trigflow.domain import ids
from trigflow.engine.scheduler import Scheduler
from trigflow.executors.adopted import ExitReader
from trigflow.executors.base import AttemptLimits, EventCallback, Executor
from trigflow.executors.keeper import spawn_journal_path
from trigflow.executors.local import LocalExecutor
from trigflow.executors.routing import RoutingExecutor
from trigflow.service.attempt_params import ParamLimits
from trigflow.service.capacity import GroupCapacity
from trigflow.service.catalog import Catalog
from trigflow.service.common import Clock, wall_clock_ms
from trigflow.service.datasources import DataSources
from trigflow.service.file_arrival import ScanLimits
from trigflow.service.folders import Folders
from trigflow.service.group_metrics import GroupMetrics
from trigflow.service.keys import KeyInfo, Keys
from trigflow.service.projects import Projects
from trigflow.service.reruns import Reruns
from trigflow.service.resources import ResourceGroups
from trigflow.service.runs import Runs
from trigflow.service.task_logs import TaskLogs
from trigflow.service.tasks import TaskCatalog
from trigflow.service.triggers import Triggers
from trigflow.service.workers import WorkerHub, load_or_create_token
from trigflow.service.workflow_ops import WorkflowOps
from trigflow.store.engine import Database


@dataclass
class Services:
    settings: Settings
    db: Database
    clock: Clock
    keys: Keys
    catalog: Catalog
    tasks: TaskCatalog
    runs: Runs
    resources: ResourceGroups
    reruns: Reruns
    scheduler: Scheduler
    projects: Projects
    folders: Folders
    workflow_ops: WorkflowOps
    task_logs: TaskLogs
    datasources: DataSources
    workers: WorkerHub | None = None
    group_metrics: GroupMetrics | None = None


@dataclass(frozen=True)
class Bootstrap:
    """What first start created, for the CLI to print (the secret only when it was just created)."""

    project_id: str
    admin: KeyInfo
    key_created: bool


def build(settings: Settings, clock: Clock = wall_clock_ms) -> Services:
    make_data_dir_private(settings.data_dir)
    db = Database(settings.database_url)
    db.migrate()
    db.make_files_private()
    stamps = ids.StampAllocator()
    resources = ResourceGroups(db, clock, default_slots=settings.default_slots)
    runs = Runs(db, clock, stamps, resources, app_id=settings.app_id, timezone=settings.default_timezone,
                max_param_chars=settings.max_param_chars)  # fmt: skip
    runs.max_nested_runs = settings.max_nested_runs
    scheduler = Scheduler(
        db,
        clock,
        stamps,
        settings.data_dir / "runs",
        kill_grace_seconds=settings.kill_grace_seconds,
        fallback_tick_seconds=settings.fallback_tick_seconds,
        stall_after_seconds=settings.stall_after_seconds,
        minute_ms=settings.minute_ms,
        group_slots=resources.slots,
        create_child=runs.create_child_run,
        param_limits=ParamLimits(settings.max_expanded_chars, settings.max_param_chars),
        task_env=settings.task_env,
        keeper_dir=settings.data_dir if settings.keeper else None,
        executor=lambda on_event, read_exit: make_executor(settings, on_event, read_exit),
        triggers=Triggers(
            db,
            clock,
            runs.create_scheduled_run,
            default_tz=settings.default_timezone,
            misfire_grace_ms=settings.misfire_grace_ms,
            minute_ms=settings.minute_ms,
            create_event_run=runs.create_event_run,
            file_arrival_roots=settings.file_arrival_roots,
            scan_limits=ScanLimits(max_entries=settings.file_arrival_max_entries),
        ),
    )
    resources.on_change = scheduler.wake
    workers = None
    capacity = GroupCapacity(resources.slots, None)
    if isinstance(scheduler.executor, RoutingExecutor):
        remote = scheduler.executor.remote
        scheduler.execution.remote_group = remote.serves
        # A worker group's capacity is its live workers' slots (service/capacity.py); a worker joining wakes
        # the engine to use them. Local groups keep resources.slots, so nothing changes without a broker.
        capacity = GroupCapacity(resources.slots, remote)
        scheduler.execution.group_slots = capacity.limit
        remote.on_workers_changed = scheduler.wake
        token = load_or_create_token(settings.worker_token_path)
        workers = WorkerHub(db, remote, token, clock, lambda: scheduler.leader.held and scheduler.failure is None)
    group_metrics = GroupMetrics(db, clock, resources, capacity, minute_ms=settings.minute_ms,
                                 data_dir=settings.data_dir)  # fmt: skip
    group_metrics.load = scheduler.execution.group_load
    group_metrics.is_active = lambda: scheduler.leader.held and scheduler.failure is None
    return Services(
        settings=settings,
        db=db,
        clock=clock,
        keys=Keys(db, clock),
        catalog=Catalog(
            db,
            clock,
            stamps,
            resources,
            on_triggers_changed=scheduler.triggers_changed,
            file_arrival_roots=settings.file_arrival_roots,
        ),
        tasks=TaskCatalog(db, clock, stamps, resources, max_code_bytes=settings.max_code_bytes),
        runs=runs,
        resources=resources,
        reruns=Reruns(db, clock, resources, max_param_chars=settings.max_param_chars),
        scheduler=scheduler,
        projects=Projects(db, on_triggers_changed=scheduler.triggers_changed),
        folders=Folders(db, clock),
        workflow_ops=WorkflowOps(db, default_tz=settings.default_timezone),
        task_logs=TaskLogs(db, settings.data_dir / "runs"),
        datasources=DataSources(db, clock),
        workers=workers,
        group_metrics=group_metrics,
    )


def make_executor(settings: Settings, on_event: EventCallback, read_exit: ExitReader) -> Executor:
    """The local executor, behind a router to Celery workers when a broker is configured (ADR 0006)."""
    journal = spawn_journal_path(settings.data_dir) if settings.keeper else None
    local = LocalExecutor(on_event, attempt_limits(settings), read_exit, hold_exits=settings.keeper,
                          spawn_journal=journal)  # fmt: skip
    if not settings.broker_url:
        return local
    from trigflow.executors.celery_dispatch import CeleryExecutor

    remote = CeleryExecutor(
        on_event,
        broker=settings.broker_url,
        token=load_or_create_token(settings.worker_token_path),
        servers=settings.advertise_urls or default_advertise_urls(settings),
        lease_seconds=settings.worker_lease_s,
        remote_groups=settings.remote_groups,
        visibility_timeout_s=settings.visibility_timeout_s,
        grace_seconds=settings.kill_grace_seconds,
    )
    return RoutingExecutor(local, remote)


def default_advertise_urls(settings: Settings) -> tuple[str, ...]:
    """Where payloads tell workers to report without --advertise-url: the bound address with the server's
    scheme, and only when another host can reach it. A worker adds payload URLs to its --server list and
    tries them when those do not answer, so a loopback URL (a wildcard or loopback bind, e.g. behind a TLS
    proxy) would make a worker on another host send its token to whatever listens on its own loopback, and
    an http:// URL for a TLS server would send it in clear text. Such a bind names none: workers use --server."""
    import ipaddress

    host = settings.host.strip("[]")
    if host in ("", "localhost"):
        return ()
    try:
        address = ipaddress.ip_address(host)
    except ValueError:  # a host name: reachable as it is named
        address = None
    if address is not None and (address.is_loopback or address.is_unspecified):
        return ()
    scheme = "https" if settings.tls_cert else "http"
    return (f"{scheme}://{f'[{host}]' if ':' in host else host}:{settings.port}",)


def make_data_dir_private(data_dir: Path) -> None:
    """Everything the server creates is owner-only (umask 077, inherited by tasks too), and an install
    made before that rule is tightened once: the data dir holds API secret keys and every log.

    The data dir itself becomes 0700, which alone closes it to other accounts; existing files and dirs
    lose their group/other bits as well (a hard link made while they were readable would otherwise keep
    them readable). The walk happens once: it is skipped when the data dir is private already. Symlinks
    are neither followed nor changed. The shared `scripts/` dir of older servers is removed: attempts run
    sealed copies now (docs/adr/0003-attempt-isolation.md).
    """
    os.umask(0o077)
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    shutil.rmtree(data_dir / "scripts", ignore_errors=True)
    if stat.S_IMODE(os.stat(data_dir).st_mode) & 0o077 == 0:
        return  # tightened by an earlier start (or always private): skip walking every run's files again
    os.chmod(data_dir, 0o700)
    stack = [str(data_dir)]
    while stack:
        try:
            with os.scandir(stack.pop()) as it:
                for entry in it:
                    try:
                        mode = entry.stat(follow_symlinks=False).st_mode
                    except OSError:
                        continue
                    if stat.S_ISLNK(mode):
                        continue
                    if stat.S_ISDIR(mode):
                        stack.append(entry.path)
                    if mode & 0o077:
                        os.chmod(entry.path, stat.S_IMODE(mode) & 0o700, follow_symlinks=False)
        except OSError:
            continue


def attempt_limits(settings: Settings) -> AttemptLimits:
    """The executor's per-attempt limits; the cgroup subtree is named after the data dir, so a restarted
    server finds its predecessor's groups and two servers on one host never share one."""
    instance = hashlib.sha256(str(settings.data_dir.resolve()).encode()).hexdigest()[:16]
    return AttemptLimits(
        max_log_bytes=settings.max_log_bytes or None,
        max_processes=settings.max_task_processes or None,
        cgroup_instance=instance,
    )


def bootstrap(services: Services) -> Bootstrap:
    """First start: an admin key and a default project; the env-var key pair is made valid unless it
    was revoked, which raises RevokedKeyError (a revocation survives restarts; the CLI exits on it)."""
    sid, skey = services.settings.admin_secret_id, services.settings.admin_secret_key
    created = False
    if sid and skey:
        admin = services.keys.ensure(sid, skey)
    elif services.keys.count() == 0:
        admin = services.keys.create("admin")
        created = True
    else:
        admin = KeyInfo("", "", services.keys.admin_uin(), True, False)
    services.resources.ensure_default()
    project = services.catalog.ensure_default_project(admin.uin)
    return Bootstrap(project["project_id"], admin, created)
