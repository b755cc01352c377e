"""One executor in front of two: attempts the engine routed to workers go to Celery, the rest stay local.

The engine decides the route when it dispatches (it records `executor = celery` on the task run in the same
transaction, docs/adr/0006-celery-workers.md) and marks the LaunchSpec with `remote_task_id`; this class only
follows that mark, so the local path does exactly what it did before a broker existed.
"""

from __future__ import annotations

from collections.abc import Iterable

from trigflow.executors.base import ExecutorEvent, ExecutorHealth, LaunchSpec
from trigflow.executors.celery_dispatch import CeleryExecutor
from trigflow.executors.local import LocalExecutor


class RoutingExecutor:
    def __init__(self, local: LocalExecutor, remote: CeleryExecutor) -> None:
        self.local = local
        self.remote = remote

    def start(self, spec: LaunchSpec) -> ExecutorEvent:
        if spec.remote_task_id is not None:
            return self.remote.start(spec)
        return self.local.start(spec)

    def kill(self, attempt_id: str, grace_seconds: float) -> bool:
        if self.remote.kill(attempt_id, grace_seconds):
            return True
        return self.local.kill(attempt_id, grace_seconds)

    def adopt(self, attempt_id: str, pid: int, proc_start: str) -> bool:
        return self.local.adopt(attempt_id, pid, proc_start)

    def adopt_remote(self, exec_id: str, task_id: str, group: str, log_path: str, worker_id: str | None) -> None:
        self.remote.adopt_remote(exec_id, task_id, group, log_path, worker_id)

    def recovered(self) -> None:
        """Restart recovery registered every remote attempt: reports and the reaper may act now."""
        self.remote.ready.set()

    def recorded(self, attempt_ids: Iterable[str]) -> None:
        self.local.recorded(attempt_ids)

    def running(self) -> set[str]:
        return self.local.running() | self.remote.running()

    def health(self) -> ExecutorHealth:
        local, remote = self.local.health(), self.remote.health()
        details = {"local": dict(local.details), "celery": dict(remote.details)}
        if not local.ok or not remote.ok:
            return ExecutorHealth(False, local.reason or remote.reason, details)
        return ExecutorHealth(True, None, details)

    def shutdown(self, kill: bool, grace_seconds: float) -> None:
        self.remote.shutdown(kill, grace_seconds)
        self.local.shutdown(kill, grace_seconds)
