"""What an SSH task (TaskTypeId 133) costs against its bare equivalent, measured in one run on this machine.

Starts a real sshd on loopback and a real `trigflow up`, then alternates, `--repeat` times: a workflow run of
one SSH task `echo hi` (CreateTriggerWorkflowRun until SUCCESS through the SDK) and `ssh -i key -p port
root@127.0.0.1 'echo hi'` run directly. Prints the medians and their ratio.

    PYTHONPATH=src:. python bench/ssh_bench.py --repeat 10
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from tests.conftest import make_client, start_server
from tests.integration.helpers import call, new_workflow, start_run, wait_run
from tests.integration.sshd import start_sshd
from tests.integration.test_ssh_tasks import ssh_task


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sshd = start_sshd(Path(tmp) / "sshd")
        server = start_server(Path(tmp) / "server", extra=["--rate-limit", "1000"])
        try:
            client = make_client(server.endpoint)
            project = str(call(client, "ListProjects", {}).Items[0].ProjectId)
            props = {"host": "127.0.0.1", "port": sshd.port, "username": "root", "privateKey": sshd.client_key}
            params = {"ProjectId": project, "Name": "bench_ssh", "Type": "SSH", "ProdConProperties": json.dumps(props)}
            source = str(call(client, "CreateDataSource", params).DataSourceId)
            wf = new_workflow(client, project, "bench_ssh_task")
            ssh_task(client, project, wf, "hi", "echo hi", source)
            key = Path(tmp) / "sshd" / "client_key"
            direct = ["ssh", "-i", str(key), "-p", str(sshd.port), "-o", "StrictHostKeyChecking=no",
                      "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "BatchMode=yes",
                      "root@127.0.0.1", "echo hi"]  # fmt: skip
            task_s, bare_s = [], []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                data = wait_run(client, project, start_run(client, project, wf), poll=0.005)
                task_s.append(time.perf_counter() - t0)
                assert data.TriggerWorkflowRun.ExecutionState == "SUCCESS"
                t0 = time.perf_counter()
                out = subprocess.run(direct, capture_output=True, check=True).stdout
                bare_s.append(time.perf_counter() - t0)
                assert out == b"hi\n"
            task, bare = statistics.median(task_s), statistics.median(bare_s)
            print(f"SSH task run (API, create to SUCCESS): median {task * 1000:.0f} ms of {args.repeat}")
            print(f"ssh -i key root@127.0.0.1 'echo hi':   median {bare * 1000:.0f} ms of {args.repeat}")
            print(f"ratio task / bare: {task / bare:.2f}")
        finally:
            server.stop()
            sshd.stop()


if __name__ == "__main__":
    main()
