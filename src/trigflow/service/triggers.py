"""Time triggers: every due fire of every ACTIVE trigger creates exactly one run, on time.

Exactly once: a fire is claimed by inserting its key (trigger id, nominal fire time) in the same
transaction that creates the run, so a restart, a slow tick or a second scheduler on the same
database can never create it twice (the loser's insert does nothing).

On time and without surprises (decisions.md Q-TR3): fires missed while no scheduler ran, or while the
trigger was paused, are not caught up — except within a short misfire grace (a fire due moments
before a restart still happens once) or when a trigger opts in to a bounded catch-up with
`ExtraInfo` `{"catchUpMaxFires": N}`.

The clock is an argument (`now` in every call), so tests drive this across DST changes and years
without sleeping. The scheduler thread is the only caller.

One trigger never stops the others (docs/limits.md "Scheduler health"): a stored definition that no
longer compiles or holds an out-of-range value (saved before a check existed) is armed with the default
or skipped, logged once; a trigger whose fire or re-arm raises is disarmed with the reason recorded as
that fire's result, and the rest fire on. FILE_ARRIVAL directories are scanned off this thread
(`file_arrival.FileScanner`); only the results are handled here.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from trigflow.domain.errors import ApiError
from trigflow.domain.schedule import (
    MAX_CATCH_UP,
    TriggerSpec,
    catch_up_max_fires,
    compile_trigger,
    fires_between,
    next_fire_ms,
)
from trigflow.service.common import Clock
from trigflow.service.file_arrival import FileScanner, FileWatch, ScanLimits, check_watched_path
from trigflow.store import catalog as cq
from trigflow.store import triggers as tq
from trigflow.store.engine import Database

log = logging.getLogger(__name__)

__all__ = ["MAX_CATCH_UP", "Armed", "Triggers"]


@dataclass(frozen=True)
class Armed:
    trigger_id: str
    workflow_id: str
    project_id: str
    spec: TriggerSpec
    catch_up: int  # fires missed while down that may still run (0: none, the default)
    saved_ms: int  # when the trigger was last saved: nothing before that is ever due


RunFactory = Any  # Runs.create_scheduled_run(conn, workflow_row, spec, fire_ms, now) -> run id


class Triggers:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        create_run: RunFactory,
        *,
        default_tz: str,
        misfire_grace_ms: int,
        minute_ms: int = 60_000,
        poll_ms: int = 1_000,
        create_event_run: RunFactory = None,
        file_arrival_roots: tuple[str, ...] | None = None,
        scan_limits: ScanLimits | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.create_run = create_run
        self.default_tz = default_tz
        self.misfire_grace_ms = misfire_grace_ms
        self.armed: dict[str, Armed] = {}
        self.heap: list[tuple[int, str]] = []  # (nominal fire ms, trigger id); stale entries skipped lazily
        self.next_ms: dict[str, int] = {}
        self.last_fire_ms: int | None = None
        self.minute_ms = minute_ms
        self.poll_ms = poll_ms
        self.create_event_run = create_event_run
        self.watches: dict[str, FileWatch] = {}
        self.fingerprint: tq.Fingerprint | None = None
        self.file_arrival_roots = file_arrival_roots  # None: no allow-list (unit tests)
        self.scanner = FileScanner(poll_ms / 1000, scan_limits or ScanLimits(), self._on_scanned)
        self.on_scan_results: Callable[[], None] | None = None  # the scheduler's wake-up
        self._logged: set[tuple[str, str]] = set()  # (trigger id, problem): log a stored-row problem once

    def _on_scanned(self) -> None:
        if self.on_scan_results is not None:
            self.on_scan_results()

    def stop(self) -> None:
        self.scanner.stop()

    def _log_once(self, trigger_id: str, problem: str) -> None:
        if (trigger_id, problem) not in self._logged:
            self._logged.add((trigger_id, problem))
            log.error("trigger %s: %s", trigger_id, problem)

    def reload(self, now: int, *, starting: bool = False) -> None:
        """(Re)arm every ACTIVE time trigger from the stored workflows.

        On start, a trigger resumes after its last fire, but never earlier than the misfire grace (or
        its bounded catch-up); otherwise only future fires are armed (no catch-up, Q-TR3).
        """
        with self.db.read() as conn:
            fingerprint = tq.workflows_fingerprint(conn)
            rows = tq.workflows_with_triggers(conn)
            last = tq.last_fires(conn)
        armed: dict[str, Armed] = {}
        watches: dict[str, FileWatch] = {}
        for row in rows:
            for i, config in enumerate(row.get("trigger_configs") or []):
                try:
                    self._load(row, i, config, armed, watches)
                except Exception as e:  # one stored row must never stop the others from being armed
                    trigger_id = config.get("TriggerId") if isinstance(config, dict) else None
                    self._log_once(str(trigger_id or f"{row.get('workflow_id')}.{i}"), f"cannot be armed: {e}")
        self.armed = armed
        self.watches = watches
        self.scanner.watch({tid: w.spec for tid, w in watches.items()})
        self.heap, self.next_ms = [], {}
        for trigger_id, a in list(armed.items()):
            if trigger_id in self.next_ms:
                continue
            if starting and a.catch_up and trigger_id in last:
                floor = last[trigger_id]  # opted in: resume right after the last fire (bounded below)
            elif starting:
                floor = max(last.get(trigger_id, now - self.misfire_grace_ms), now - self.misfire_grace_ms)
            else:  # a live reload: nothing due has been skipped (fire_due ran first), so resume from now
                floor = max(now - 1, last.get(trigger_id, now - 1))
            if trigger_id not in last:  # a trigger never fires for times before it was saved (as Quartz)
                floor = max(floor, a.saved_ms - 1)
            try:
                self._arm(trigger_id, floor)
                if starting and a.catch_up:
                    self._limit_catch_up(trigger_id, now, a.catch_up)
            except Exception as e:
                self._disarm(trigger_id, floor, f"cannot be armed: {type(e).__name__}: {e}")
        self.fingerprint = fingerprint  # only now: a reload that raised is retried by refresh_if_changed

    def _load(
        self,
        row: Mapping[str, Any],
        i: int,
        config: Mapping[str, Any],
        armed: dict[str, Armed],
        watches: dict[str, FileWatch],
    ) -> None:
        """Arm one stored trigger config (or watch it); a config that cannot be is logged and skipped."""
        trigger_id = config.get("TriggerId")
        if not trigger_id or config.get("SchedulerStatus", "ACTIVE") != "ACTIVE":
            return
        path = f"TriggerWorkflowSchedulerConfigurations.{i}"
        try:
            spec = compile_trigger(config, self.default_tz, path=path, strict=False)
        except ApiError as e:  # validated on save; an old row that no longer compiles is skipped loudly
            self._log_once(trigger_id, f"of workflow {row['workflow_id']} cannot be armed: {e.message}")
            return
        if spec.mode == "FILE_ARRIVAL" and spec.file_arrival is not None:
            if self.file_arrival_roots is not None:
                try:
                    check_watched_path(spec.file_arrival.path, self.file_arrival_roots, f"{path}.FileArrivalPath")
                except ApiError as e:  # saved before the allow-list, or the roots changed: never scanned
                    self._log_once(trigger_id, f"is not watched: {e.message}")
                    return
            watches[trigger_id] = self._watch(trigger_id, row, spec)
            return
        if spec.mode != "TIME_TRIGGER":
            return
        armed[trigger_id] = Armed(
            trigger_id, row["workflow_id"], row["project_id"], spec, self._catch_up(trigger_id, config),
            int(row["update_ms"]),
        )  # fmt: skip

    def _catch_up(self, trigger_id: str, config: Mapping[str, Any]) -> int:
        """ExtraInfo catchUpMaxFires; a stored value out of range (saved before the check) means 0."""
        try:
            return catch_up_max_fires(config)
        except ApiError as e:
            self._log_once(trigger_id, f"ignores its ExtraInfo (treated as no catch-up): {e.message}")
            return 0

    def _disarm(self, trigger_id: str, fire_ms: int, reason: str) -> None:
        """Stop firing a trigger this process cannot compute (until its workflow is saved again), and record
        why as the result of the fire it was at, so the reason is in the database, not only in a log."""
        a = self.armed.pop(trigger_id, None)
        self.next_ms.pop(trigger_id, None)
        self._log_once(trigger_id, reason)
        if a is None:
            return
        try:
            with self.db.write(serial=True) as conn:
                tq.claim_fire(conn, trigger_id, fire_ms, a.workflow_id, self.clock())
                tq.set_fire_result(conn, trigger_id, fire_ms, None, f"TriggerDisabled: {reason}"[:2000])
        except Exception:
            log.exception("recording why trigger %s was disarmed failed", trigger_id)

    def refresh_if_changed(self, now: int) -> None:
        """Re-arm when another process (a standby serving the API) saved workflows: the fallback tick
        calls this, so their triggers start firing within a tick."""
        with self.db.read() as conn:
            fingerprint = tq.workflows_fingerprint(conn)
        if fingerprint != self.fingerprint:
            self.reload(now)

    def next_deadline(self) -> int | None:
        while self.heap and self.next_ms.get(self.heap[0][1]) != self.heap[0][0]:
            heapq.heappop(self.heap)  # stale
        times = [self.heap[0][0]] if self.heap else []
        if self.watches:
            times += [d for w in self.watches.values() if (d := w.due_at()) is not None]
        return min(times) if times else None

    def fire_due(self, now: int, limit: int | None = None) -> list[str]:
        """Fire triggers whose nominal time has come (at most `limit`, oldest first); returns the new run ids.

        The scheduler passes a limit so the runs of a big burst (many triggers on one second) start in
        chunks while the rest is still being fired, instead of all waiting for the whole burst.
        """
        runs = self._file_arrivals(now)
        fired = 0
        while limit is None or fired < limit:
            due = self.next_deadline()
            if due is None or due > now:
                return runs
            _, trigger_id = heapq.heappop(self.heap)
            self.next_ms.pop(trigger_id, None)
            fired += 1
            a = self.armed.get(trigger_id)
            if a is None:
                continue
            run_id = self._fire(a, due, self.clock())
            if run_id is not None:
                runs.append(run_id)
            self.last_fire_ms = now
            try:
                self._arm(trigger_id, due)
            except Exception as e:  # the next fire time cannot be computed: this trigger stops, no other
                self._disarm(trigger_id, due + 1, f"next fire time failed: {type(e).__name__}: {e}")
        return runs

    def upcoming(
        self, workflow: Mapping[str, Any], after_ms: int, count: int
    ) -> list[tuple[str, TriggerSpec, list[int]]]:
        """Next `count` fire times of each time trigger of a workflow (for `trigflow triggers next`)."""
        out = []
        for i, config in enumerate(workflow["trigger_configs"]):
            spec = compile_trigger(config, self.default_tz, path=f"TriggerWorkflowSchedulerConfigurations.{i}")
            if spec.mode == "TIME_TRIGGER":
                out.append((str(config.get("TriggerId")), spec, fires_between(spec, after_ms, 2**62, count)))
        return out

    # --- file arrival -----------------------------------------------------------------------

    def _watch(self, trigger_id: str, row: Mapping[str, Any], spec: TriggerSpec) -> FileWatch:
        assert spec.file_arrival is not None
        old = self.watches.get(trigger_id)
        if old is not None and old.spec == spec.file_arrival:
            return old  # keep the batch being collected across a reload
        fa = spec.file_arrival
        with self.db.read() as conn:
            seen = tq.seen_files(conn, trigger_id)
        return FileWatch(
            trigger_id,
            row["workflow_id"],
            row["project_id"],
            fa,
            wait_ms=fa.wait_s * self.minute_ms // 60,
            min_interval_ms=fa.min_interval_s * self.minute_ms // 60,
            seen=seen,
            # A new trigger watches for *arrivals*: its first scan is the baseline (see _take_baseline).
            baseline_pending=not seen,
        )

    def _file_arrivals(self, now: int) -> list[str]:
        runs: list[str] = []
        if not self.watches:
            return runs
        for trigger_id, result in self.scanner.take().items():
            watch = self.watches.get(trigger_id)
            if watch is None or watch.spec != result.spec:
                continue  # the trigger changed since that scan
            try:
                if result.error is not None:
                    self._scan_failed(watch, result.error, now)
                    continue
                watch.error = None
                if watch.baseline_pending:
                    self._take_baseline(watch, result.files)
                else:
                    watch.observe(result.files, now)
            except Exception as e:
                self._log_once(trigger_id, f"scan result could not be handled: {type(e).__name__}: {e}")
        for watch in self.watches.values():
            due = watch.due_at()
            if due is not None and due <= now:
                run_id = self._fire_batch(watch, watch.take_batch(now), now)
                if run_id is not None:
                    runs.append(run_id)
        return runs

    def _take_baseline(self, watch: FileWatch, files: list[tuple[str, int, int]]) -> None:
        """What is already there when a trigger is saved is its baseline, recorded with fire time 0 so a
        restart does not mistake it for new files. The empty-path row marks "baseline taken" even when
        the directory was empty."""
        baseline = [("", 0, 0), *files]
        with self.db.write() as conn:
            tq.record_files(conn, watch.trigger_id, baseline, 0)
        watch.seen = set(baseline)
        watch.baseline_pending = False

    def _scan_failed(self, watch: FileWatch, error: str, now: int) -> None:
        """A scan over its bounds: nothing is observed (no rows hoarded); the error is logged and recorded
        once per episode as a fire result without a run, where an operator can see it."""
        if watch.error == error:
            return
        watch.error = error
        self._log_once(watch.trigger_id, error)
        try:
            with self.db.write(serial=True) as conn:
                if tq.claim_fire(conn, watch.trigger_id, now, watch.workflow_id, now):
                    tq.set_fire_result(conn, watch.trigger_id, now, None, error[:2000])
        except Exception:
            log.exception("recording the scan error of trigger %s failed", watch.trigger_id)

    def _fire_batch(self, watch: FileWatch, files: list[tuple[str, int, int]], now: int) -> str | None:
        try:
            with self.db.write(serial=True) as conn:  # ordered with definition edits (see `_fire`)
                if not tq.claim_fire(conn, watch.trigger_id, now, watch.workflow_id, now):
                    return None
                tq.record_files(conn, watch.trigger_id, files, now)
                wf = cq.get_workflow(conn, watch.project_id, watch.workflow_id)
                if wf is None or self.create_event_run is None:
                    tq.set_fire_result(conn, watch.trigger_id, now, None, "workflow deleted")
                    return None
                try:
                    run_id: str = self.create_event_run(conn, wf, watch.trigger_id, [f[0] for f in files], now)
                except ApiError as e:
                    tq.set_fire_result(conn, watch.trigger_id, now, None, f"{e.code}: {e.message}")
                    return None
                tq.set_fire_result(conn, watch.trigger_id, now, run_id, None)
                return run_id
        except Exception:
            log.exception("file-arrival trigger %s could not fire", watch.trigger_id)
            return None

    # --- internals --------------------------------------------------------------------------

    def _arm(self, trigger_id: str, after_ms: int) -> None:
        a = self.armed.get(trigger_id)
        if a is None:
            return
        nxt = next_fire_ms(a.spec, after_ms)
        if nxt is not None:
            self.next_ms[trigger_id] = nxt
            heapq.heappush(self.heap, (nxt, trigger_id))

    def _limit_catch_up(self, trigger_id: str, now: int, limit: int) -> None:
        """A catch-up replays at most `limit` missed fires: skip ahead to the `limit`-th newest missed one."""
        start = self.next_ms.get(trigger_id)
        if start is None or start > now:
            return
        missed = fires_between(self.armed[trigger_id].spec, start - 1, now, MAX_CATCH_UP * 100)
        if len(missed) > limit:
            self.next_ms[trigger_id] = missed[-limit]
            heapq.heappush(self.heap, (missed[-limit], trigger_id))

    def _fire(self, a: Armed, fire_ms: int, now: int) -> str | None:
        # serial: ordered with definition edits, so a fire racing DeleteTriggerWorkflow or DisableProject either
        # runs first (and the delete then sees its run) or reads the workflow after the delete committed.
        try:
            with self.db.write(serial=True) as conn:
                if not tq.claim_fire(conn, a.trigger_id, fire_ms, a.workflow_id, now):
                    return None  # fired already: by a previous process, or by another scheduler
                wf = cq.get_workflow(conn, a.project_id, a.workflow_id)
                if wf is None:
                    tq.set_fire_result(conn, a.trigger_id, fire_ms, None, "workflow deleted")
                    return None
                try:
                    run_id: str = self.create_run(conn, wf, a.spec, fire_ms, now)
                except ApiError as e:  # e.g. no submitted task yet: the fire is recorded, not retried
                    tq.set_fire_result(conn, a.trigger_id, fire_ms, None, f"{e.code}: {e.message}")
                    log.warning("trigger %s fire at %s created no run: %s", a.trigger_id, fire_ms, e.message)
                    return None
                tq.set_fire_result(conn, a.trigger_id, fire_ms, run_id, None)
                return run_id
        except Exception as e:
            log.exception("trigger %s fire at %s failed; it will not be retried", a.trigger_id, fire_ms)
            self._record_failed_fire(a, fire_ms, f"InternalError: {type(e).__name__}: {e}")
            return None

    def _record_failed_fire(self, a: Armed, fire_ms: int, note: str) -> None:
        """The fire's transaction rolled back: claim it again in a fresh one, with the error as its result, so
        no other process retries it and the reason is in the database (best effort)."""
        try:
            with self.db.write(serial=True) as conn:
                if tq.claim_fire(conn, a.trigger_id, fire_ms, a.workflow_id, self.clock()):
                    tq.set_fire_result(conn, a.trigger_id, fire_ms, None, note[:2000])
        except Exception:
            log.exception("recording the failed fire of trigger %s failed", a.trigger_id)

