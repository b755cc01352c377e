"""The operator's chaos run of issue 10: runs in flight while `trigflow up` is SIGKILLed and restarted.

40 runs of a 5-task chain (each task appends its task-run id and attempt to a ledger, then works for a
moment) are started; the server is `kill -9`ed and restarted on the same data dir five times, at random
moments; then every run is waited for. Reported: runs by end state, task runs that ended ExecutorLost, and
task runs whose work ran more than once (the ledger holds more than one line for them). With the keeper
(ADR 0005) the expected figures are 40 SUCCESS, 0 lost, 0 ran twice; `--no-keeper` shows the old contract
for comparison.

    python bench/restart_chaos.py [--runs 40] [--kills 5] [--work 0.4] [--no-keeper] [--seed 1]
"""

from __future__ import annotations

import argparse
import collections
import random
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tencentcloud.wedata.v20250806 import models
from tests.conftest import make_client, start_server
from tests.integration.helpers import new_task, new_workflow, start_run, wait_run


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--kills", type=int, default=5)
    ap.add_argument("--work", type=float, default=0.4, help="seconds each task works")
    ap.add_argument("--no-keeper", action="store_true")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    extra = ["--kill-grace", "1", "--rate-limit", "100000"] + (["--no-keeper"] if args.no_keeper else [])
    with tempfile.TemporaryDirectory(prefix="chaos-") as tmp:
        data, ledger = Path(tmp) / "data", Path(tmp) / "ledger"
        ledger.touch()
        server = start_server(data, extra=extra)
        client = make_client(server.endpoint)
        project_id = str(client.ListProjects(models.ListProjectsRequest()).Data.Items[0].ProjectId)
        wf = new_workflow(client, project_id, "chaos")
        prev = None
        work = f'echo "$TRIGFLOW_TASK_EXECUTION_ID" >> {ledger}; sleep {args.work}'
        for i in range(5):
            prev = new_task(client, project_id, wf, f"t{i}", work, upstream=[prev] if prev else [], MaxRetryNumber=4,
                            RetryWaitMinute=0)  # fmt: skip
        run_ids = [start_run(client, project_id, wf) for _ in range(args.runs)]
        span = 5 * args.work * args.runs / 4  # about how long the runs take (4 slots by default)
        for _ in range(args.kills):
            time.sleep(rng.uniform(0.2, span / args.kills))
            server.stop(signal.SIGKILL)
            server = start_server(data, port=server.port, extra=extra)
            client = make_client(server.endpoint)
        try:
            ends: collections.Counter[str] = collections.Counter()
            lost = 0
            for run_id in run_ids:
                result = wait_run(client, project_id, run_id, timeout=600, poll=0.2)
                ends[result.TriggerWorkflowRun.ExecutionState] += 1
                lost += sum(1 for t in result.TriggerTaskRuns if (t.ErrorCodeStr or "").startswith("ExecutorLost"))
        finally:
            server.stop()
        lines = collections.Counter(ledger.read_text().split())
        twice = sum(1 for n in lines.values() if n > 1)
        keeper = "without keeper" if args.no_keeper else "with keeper"
        print(f"{args.runs} runs x 5 tasks, {args.kills} SIGKILLs ({keeper}): ends {dict(ends)}, "
              f"ExecutorLost task runs {lost}, task runs whose work ran more than once {twice}")  # fmt: skip


if __name__ == "__main__":
    main()
