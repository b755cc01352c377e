"""Reproduces the one failure `bench/restart_chaos.py` found: a local attempt that ends while the server is alive,
and the server is SIGKILLed before the engine committed that end, is declared ExecutorLost and run again.

    python bench/repro_local_exit_window.py [--no-retry]

Why it happens: the server's watcher thread reaps the attempt (waitpid) and queues the exit for the engine,
which commits it in its next batch. A SIGKILL in between loses the exit status: the process was the
server's child, not an orphan, so the keeper (ADR 0005) never saw it and has no record; the restarted server
finds the attempt RUNNING, its pid gone and no record, and declares it lost. The remote path closed the same
window (the finish report is made durable before it is acknowledged: test_celery_workers
`test_an_acknowledged_finish_report_survives_a_server_crash_before_the_engine_applied_it`); the local path has
not. In the chaos run the window is the time a loaded engine takes to reach its next batch (hundreds of ms
on the shared machine); here it is held open with the test-only fault file (engine/scheduler.py
FAULT_FILE_ENV), which makes every loop pass fail, so the exit is reaped but never applied.

Prints what the restarted server recorded and how many times the task's work ran. Expected once the window
is closed: SUCCESS with the first attempt's output, work ran once. Today: the retry's output (MaxRetryNumber
1), or FAILED ExecutorLost with `--no-retry`; the work ran twice / the finished work was thrown away.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import start_server, wait_for
from tests.integration.helpers import get_run, new_task, new_workflow, start_run, wait_run
from tests.integration.test_celery_workers import _alive, project


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-retry", action="store_true", help="MaxRetryNumber 0: the attempt ends FAILED instead")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="exitwin-") as name:
        tmp = Path(name)
        fault, gate, trace, pidfile = tmp / "fault", tmp / "gate", tmp / "trace", tmp / "pid"
        os.environ["TRIGFLOW_TEST_SCHEDULER_FAULT_FILE"] = str(fault)
        server = start_server(tmp / "data", extra=["--kill-grace", "1"])
        del os.environ["TRIGFLOW_TEST_SCHEDULER_FAULT_FILE"]
        try:
            client, project_id = project(server)
            wf = new_workflow(client, project_id, "exit_window")
            new_task(client, project_id, wf, "t",
                     f'echo "ran $(basename "$WEDATA_OUTPUT_FILE" .outputs)" >> {trace}; echo $$ > {pidfile}; '
                     f'while [ ! -e {gate} ]; do sleep 0.05; done; echo "##wedata_output token=$$"',
                     MaxRetryNumber=0 if args.no_retry else 1, RetryWaitMinute=0,
                     ParamTaskOutList=[{"ParamKey": "token", "ParamValue": ""}])  # fmt: skip
            run_id = start_run(client, project_id, wf)
            pid = int(wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), what="attempt running"))
            fault.touch()  # the engine drains its queue but applies nothing from now on
            gate.touch()
            wait_for(lambda: not _alive(pid), what="the attempt ended (reaped by the live server)")
            state = get_run(client, project_id, run_id).TriggerTaskRuns[0].ExecutionState
            print(f"attempt pid {pid} exited 0 while the server was alive; recorded state before the kill: {state}")
        finally:
            server.stop(signal.SIGKILL)
        server.wait_gone()
        fault.unlink()
        restarted = start_server(tmp / "data", port=server.port, extra=["--kill-grace", "1"])
        try:
            client, project_id = project(restarted)
            t = wait_run(client, project_id, run_id, timeout=60).TriggerTaskRuns[0]
            outputs = json.loads(json.loads(t.TaskTypeExtensions or "{}").get("taskOutputs", "{}"))
            print(f"after the restart: {t.ExecutionState}, RetryTimes {t.RetryTimes}, ErrorCodeStr {t.ErrorCodeStr!r}, "
                  f"token {outputs.get('token')} (first attempt's pid {pid})")  # fmt: skip
            print("ledger:", trace.read_text().split("\n")[:-1])
            ran = len(trace.read_text().split("\n")) - 1
            ok = t.ExecutionState == "SUCCESS" and outputs.get("token") == str(pid) and ran == 1
            print("OK: recorded with its real result, ran once" if ok else "BUG: the finished attempt was thrown away")
        finally:
            restarted.stop()


if __name__ == "__main__":
    main()
