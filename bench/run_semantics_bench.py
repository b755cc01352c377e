"""Run-semantics benchmark: a layered DAG, a 1,000-task fan-out, and the read path on big data, via the real API.

Starts its own `trigflow up` (SQLite, fresh data dir, 127.0.0.1 only), builds workflows with the official
SDK and prints, next to a baseline measured in the same run (these machines are shared and noisy: compare
ratios, not absolute figures):

1. A 10-layer x 20-task DAG of `true`, every task of layer k depending on all 20 tasks of layer k-1:
   wall time (server-stamped CreateTime -> ExecutionEndTime) and overhead per task, against starting
   the same 200 processes layer by layer from Python (20 in parallel per layer, layers in sequence).
2. One run of 1,000 independent `true` tasks: wall time and tasks/s, against starting the same 1,000
   processes at once from Python.
3. GetTriggerWorkflowRun latency (p50/p99 of sequential calls) on that finished 1,000-task run, through
   the SDK (models decoded) and through `call_json` (same signing and HTTP, no model decoding); GetProject
   is the baseline for the SDK + HTTP + auth cost. Target on SQLite: p50 <= 20 ms.
4. ListTriggerWorkflowRuns and ListTriggerTaskRuns latency with 100,000 runs (and their 300,000 task runs)
   in the store: the server is stopped, terminal (SUCCESS) runs are inserted straight into its SQLite file
   with the store's own `insert_run`, in a few big transactions, and the server is restarted on the same
   data dir. Default page, a WorkflowId filter
   (a workflow with 1 in 20 of the runs, and a rare one with `--repeat` + 1 runs), and OrderFields
   ScheduleTime ASC. Target p50 <= 50 ms.

Latency clients keep their HTTP connection alive (`keepAlive=True`), as a long-lived client would. For the
big GetTriggerWorkflowRun the client's own work is a large part of an SDK call (JSON parsing and model
decoding of a ~2 MB body, printed separately), so a "raw HTTP" line (signed POST with http.client, body read,
nothing decoded) shows the server's share.

    python bench/run_semantics_bench.py [--layers 10] [--width 20] [--repeat 3] [--wide 1000]
                                        [--calls 200] [--runs 100000] [--workers 4]
"""

from __future__ import annotations

import argparse
import hmac
import http.client
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from hashlib import sha256
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import SECRET_ID, SECRET_KEY, Server, make_client, start_server
from tests.integration.helpers import call, get_run, new_task, new_workflow, start_run, wait_run

SERVER_ARGS = ["--rate-limit", "1000000", "--log-level", "warning"]


# --- process baselines ---------------------------------------------------------------------------------


def procs_layered(layers: int, width: int) -> float:
    t0 = time.perf_counter()
    for _ in range(layers):
        procs = [subprocess.Popen(["true"]) for _ in range(width)]
        for p in procs:
            p.wait()
    return time.perf_counter() - t0


def procs_parallel(n: int) -> float:
    t0 = time.perf_counter()
    procs = [subprocess.Popen(["true"]) for _ in range(n)]
    for p in procs:
        p.wait()
    return time.perf_counter() - t0


# --- building and running workflows -------------------------------------------------------------------


def build_layered(client: Any, project_id: str, name: str, layers: int, width: int, pool: ThreadPoolExecutor) -> str:
    wf = new_workflow(client, project_id, name)
    prev: list[str] = []
    for k in range(layers):
        names = [f"l{k:02d}_t{i:02d}" for i in range(width)]
        prev = list(pool.map(lambda n, up=prev: new_task(client, project_id, wf, n, "true", upstream=up), names))
    return wf


def build_wide(client: Any, project_id: str, name: str, n: int, pool: ThreadPoolExecutor) -> tuple[str, list[str]]:
    wf = new_workflow(client, project_id, name)
    names = [f"t{i:05d}" for i in range(n)]
    return wf, list(pool.map(lambda t: new_task(client, project_id, wf, t, "true"), names))


def run_once(client: Any, project_id: str, wf: str, timeout: float = 600) -> tuple[str, float]:
    run_id = start_run(client, project_id, wf)
    data = wait_run(client, project_id, run_id, timeout=timeout, poll=0.1)
    run = data.TriggerWorkflowRun
    assert run.ExecutionState == "SUCCESS", run.ExecutionState
    return run_id, (int(run.ExecutionEndTime) - int(run.CreateTime)) / 1000


# --- latency ---------------------------------------------------------------------------------------------


def percentile(xs: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty sample."""
    s = sorted(xs)
    k = max(0, min(len(s) - 1, round(p / 100 * len(s) + 0.5) - 1))
    return s[k]


def latencies(fn: Callable[[], Any], n: int, warmup: int = 5) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def sdk_call(client: Any, action: str, params: dict[str, Any]) -> Callable[[], Any]:
    return lambda: call(client, action, params)


def json_call(client: Any, action: str, params: dict[str, Any]) -> Callable[[], Any]:
    """Signing + HTTP + json.loads of the body, no SDK model decoding."""

    def fn() -> Any:
        resp = client.call_json(action, params)
        assert "Error" not in resp["Response"], resp
        return resp

    return fn


def tc3_headers(host: str, action: str, payload: bytes) -> dict[str, str]:
    """TC3-HMAC-SHA256 headers for a JSON POST, computed here the way the SDKs do (no SDK, no server code)."""
    ts = int(time.time())
    date = datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d")
    ctype = "application/json"
    canonical = f"POST\n/\n\ncontent-type:{ctype}\nhost:{host}\n\ncontent-type;host\n{sha256(payload).hexdigest()}"
    scope = f"{date}/wedata/tc3_request"
    to_sign = f"TC3-HMAC-SHA256\n{ts}\n{scope}\n{sha256(canonical.encode()).hexdigest()}"
    key = ("TC3" + SECRET_KEY).encode()
    for part in (date, "wedata", "tc3_request"):
        key = hmac.new(key, part.encode(), sha256).digest()
    signature = hmac.new(key, to_sign.encode(), sha256).hexdigest()
    return {
        "Content-Type": ctype,
        "Host": host,
        "X-TC-Action": action,
        "X-TC-Version": "2025-08-06",
        "X-TC-Region": "ap-guangzhou",
        "X-TC-Timestamp": str(ts),
        "Authorization": f"TC3-HMAC-SHA256 Credential={SECRET_ID}/{scope}, SignedHeaders=content-type;host,"
        f" Signature={signature}",
    }


def raw_call(server: Server, action: str, params: dict[str, Any]) -> Callable[[], bytes]:
    """Sign, POST on a kept-alive http.client connection, read the whole body, decode nothing.

    The closest a client gets to the server's own time: no SDK, no `requests` (which alone spends tens of
    milliseconds reading a 2 MB body in 10 KB chunks), no JSON parsing.
    """
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    payload = json.dumps(params).encode()

    def fn() -> bytes:
        conn.request("POST", "/", body=payload, headers=tc3_headers(server.endpoint, action, payload))
        resp = conn.getresponse()
        body = resp.read()
        assert resp.status == 200 and not body.startswith(b'{"Response":{"Error"'), body[:300]
        return body

    return fn


def client_decode_ms(body: bytes, action: str, n: int = 10) -> tuple[float, float]:
    """Median client-side cost of json.loads and of the SDK's model decoding for one response body."""
    from tencentcloud.wedata.v20250806 import models

    loads, decode = [], []
    for _ in range(n):
        t0 = time.perf_counter()
        data = json.loads(body)
        t1 = time.perf_counter()
        getattr(models, f"{action}Response")()._deserialize(data["Response"])
        t2 = time.perf_counter()
        loads.append((t1 - t0) * 1000)
        decode.append((t2 - t1) * 1000)
    return statistics.median(loads), statistics.median(decode)


# --- seeding 100k runs straight into the store --------------------------------------------------------


def seed_runs(
    server: Server, project_id: str, workflow_ids: Sequence[str], n: int, batch: int, template_run: str
) -> float:
    """Insert `n` terminal runs spread over `workflow_ids`, row shapes as CreateTriggerWorkflowRun builds them,
    each with a finished task run per task of its workflow (shaped like `template_run`'s first task run)."""
    from trigflow.domain import ids
    from trigflow.store import catalog as cq
    from trigflow.store import runs as rq
    from trigflow.store.engine import Database

    db = Database(f"sqlite:///{server.data_dir / 'trigflow.db'}")
    rng = random.Random(42)
    t0 = time.perf_counter()
    try:
        with db.read() as conn:
            wfs = [cq.get_workflow(conn, project_id, w) for w in workflow_ids]
            task_rows = {w: cq.tasks_of_workflow(conn, w) for w in workflow_ids}
            tasks = {w: [t["task_id"] for t in rows] for w, rows in task_rows.items()}
            template = {k: v for k, v in rq.task_runs_of(conn, template_run)[0].items()}
        first_ms = int(time.time() * 1000) - 3_600_000 - n * 60_000  # one run a minute, ending an hour ago
        done = 0
        while done < n:
            with db.write() as conn:
                for i in range(done, min(n, done + batch)):
                    wf = wfs[i % len(wfs)]
                    assert wf is not None
                    create = first_ms + i * 60_000 + rng.randrange(60_000)
                    start = create + rng.randrange(1, 50)
                    end = start + rng.randrange(100, 60_000)
                    params = {p["ParamKey"]: p.get("ParamValue") for p in wf["params"]}
                    run = {
                        "execution_id": ids.new_uuid(),
                        "project_id": wf["project_id"],
                        "workflow_id": wf["workflow_id"],
                        "workflow_name": wf["name"],
                        "folder_id": wf["folder_id"],
                        "folder_name": wf["folder_path"].rsplit("/", 1)[-1] or "/",
                        "state": "SUCCESS",
                        "error_code_str": None,
                        "trigger_type": "Manual",
                        "trigger_id": None,
                        "cycle_type": None,
                        "params": json.dumps(params, ensure_ascii=False, separators=(",", ":")),
                        "selected_task_ids": tasks[wf["workflow_id"]],
                        "rerun_times": 0,
                        "owner_uin": wf["owner_uin"],
                        "execute_user_uin": wf["execute_user_uin"] or wf["owner_uin"],
                        "workflow_version_id": wf["version_id"],
                        "resource_group_id": None,
                        "create_ms": create,
                        "schedule_ms": create,
                        "queue_start_ms": create,
                        "pending_start_ms": create,
                        "start_ms": start,
                        "end_ms": end,
                        "update_ms": end,
                    }
                    trs = [
                        {
                            **template,
                            "execution_id": ids.new_uuid(),
                            "run_id": run["execution_id"],
                            "workflow_id": wf["workflow_id"],
                            "task_id": t["task_id"],
                            "task_name": t["name"],
                            "task_version_id": t["submitted_version_id"],
                            "owner_uin": t["owner_uin"],
                            "folder_id": wf["folder_id"],
                            "workflow_name": wf["name"],
                            "state": "SUCCESS",
                            "create_ms": create,
                            "schedule_ms": create,
                            "deps_ms": start,
                            "issue_ms": start,
                            "start_ms": start,
                            "end_ms": end,
                            "update_ms": end,
                        }
                        for t in task_rows[wf["workflow_id"]]
                    ]
                    rq.insert_run(conn, run, trs)
            done = min(n, done + batch)
    finally:
        db.dispose()
    return time.perf_counter() - t0


# --- main ------------------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, default=10)
    ap.add_argument("--width", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=3, help="runs of the layered DAG (median reported)")
    ap.add_argument("--wide", type=int, default=1000)
    ap.add_argument("--wide-repeat", type=int, default=1)
    ap.add_argument("--calls", type=int, default=200, help="sequential calls per latency figure")
    ap.add_argument("--runs", type=int, default=100_000, help="runs in the store for ListTriggerWorkflowRuns")
    ap.add_argument("--history-workflows", type=int, default=20, help="workflows the seeded runs are spread over")
    ap.add_argument("--workers", type=int, default=4, help="threads creating tasks")
    args = ap.parse_args()
    t_start = time.perf_counter()

    engine_rows: list[tuple[str, int, list[float], list[float]]] = []
    latency_rows: list[tuple[str, list[float], int]] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        server = start_server(data_dir, extra=SERVER_ARGS)
        try:
            client = make_client(server.endpoint)
            fast = make_client(server.endpoint, keepAlive=True)
            project_id = str(call(client, "ListProjects", {}).Items[0].ProjectId)
            with ThreadPoolExecutor(args.workers) as pool:
                t0 = time.perf_counter()
                layered_wf = build_layered(client, project_id, "bench_layers", args.layers, args.width, pool)
                t1 = time.perf_counter()
                wide_wf, _ = build_wide(client, project_id, "bench_wide", args.wide, pool)
                t2 = time.perf_counter()
                history = [build_wide(client, project_id, f"bench_hist_{i:02d}", 3, pool)[0]
                           for i in range(args.history_workflows)]  # fmt: skip
            notes.append(
                f"setup: {args.layers * args.width} layered tasks built in {t1 - t0:.1f} s, "
                f"{args.wide} wide tasks in {t2 - t1:.1f} s ({args.workers} threads)"
            )

            # 1. layered DAG
            n = args.layers * args.width
            run_once(client, project_id, layered_wf)  # warm-up
            walls, bases = [], []
            for _ in range(args.repeat):
                bases.append(procs_layered(args.layers, args.width))
                walls.append(run_once(client, project_id, layered_wf)[1])
            engine_rows.append((f"{args.layers}x{args.width} layered", n, walls, bases))

            # 2. 1,000 independent
            walls, bases = [], []
            wide_run = ""
            for _ in range(args.wide_repeat):
                bases.append(procs_parallel(args.wide))
                wide_run, wall = run_once(client, project_id, wide_wf)
                walls.append(wall)
            engine_rows.append((f"{args.wide} independent", args.wide, walls, bases))

            # 3. GetTriggerWorkflowRun on the finished 1,000-task run
            assert len(get_run(client, project_id, wide_run).TriggerTaskRuns) == args.wide
            get_p = {"ProjectId": project_id, "WorkflowExecutionId": wide_run}
            proj_p = {"ProjectId": project_id}
            body = raw_call(server, "GetTriggerWorkflowRun", get_p)()
            loads_ms, models_ms = client_decode_ms(body, "GetTriggerWorkflowRun")
            notes.append(
                f"GetTriggerWorkflowRun body {len(body)} bytes; client-side alone, json.loads of it takes"
                f" {loads_ms:.1f} ms (a typed SDK call does it twice: _check_error, then the method)"
                f" and the SDK's model decoding {models_ms:.1f} ms (medians)"
            )
            get_label = f"GetTriggerWorkflowRun {args.wide} tasks"
            latency_rows += [
                ("GetProject (SDK)", latencies(sdk_call(fast, "GetProject", proj_p), args.calls), 0),
                (f"{get_label} (SDK)", latencies(sdk_call(fast, "GetTriggerWorkflowRun", get_p), args.calls), 0),
                (f"{get_label} (call_json)", latencies(json_call(fast, "GetTriggerWorkflowRun", get_p), args.calls), 0),
                ("GetProject (raw HTTP)", latencies(raw_call(server, "GetProject", proj_p), args.calls), 0),
                (f"{get_label} (raw HTTP)", latencies(raw_call(server, "GetTriggerWorkflowRun", get_p), args.calls),
                 len(body)),
            ]  # fmt: skip
        finally:
            server.stop()

        # 4. ListTriggerWorkflowRuns with 100k runs
        seconds = seed_runs(server, project_id, history, args.runs, batch=25_000, template_run=wide_run)
        notes.append(
            f"seeded {args.runs} runs over {len(history)} workflows, each with its 3 task runs, in {seconds:.1f} s"
        )
        server = start_server(data_dir, extra=SERVER_ARGS)
        try:
            fast = make_client(server.endpoint, keepAlive=True)
            total = call(fast, "ListTriggerWorkflowRuns", {"ProjectId": project_id}).TotalCount
            notes.append(f"ListTriggerWorkflowRuns TotalCount after restart: {total}")
            filt = [{"Name": "WorkflowId", "Values": [history[0]]}]
            rare = [{"Name": "WorkflowId", "Values": [layered_wf]}]  # args.repeat + 1 runs among 100k
            some_run = call(fast, "ListTriggerWorkflowRuns", {"ProjectId": project_id, "Filters": filt}).Items[0]
            some_task = call(fast, "GetTriggerWorkflowRun", {"ProjectId": project_id,
                                                             "WorkflowExecutionId": some_run.ExecutionId})
            task_filter = [{"Name": "TaskId", "Values": [some_task.TriggerTaskRuns[0].TaskId]}]
            run_filter = [{"Name": "WorkflowExecutionId", "Values": [some_run.ExecutionId]}]
            lists = {
                f"GetProject (SDK, {args.runs} runs)": ("GetProject", {}),
                "ListTriggerWorkflowRuns default page": ("ListTriggerWorkflowRuns", {}),
                "ListTriggerWorkflowRuns WorkflowId": ("ListTriggerWorkflowRuns", {"Filters": filt}),
                "ListTriggerWorkflowRuns WorkflowId (rare)": ("ListTriggerWorkflowRuns", {"Filters": rare}),
                "ListTriggerWorkflowRuns ScheduleTime ASC": (
                    "ListTriggerWorkflowRuns",
                    {"OrderFields": [{"Name": "ScheduleTime", "Direction": "ASC"}]},
                ),
                "ListTriggerTaskRuns default page": ("ListTriggerTaskRuns", {}),
                "ListTriggerTaskRuns WorkflowId": ("ListTriggerTaskRuns", {"Filters": filt}),
                "ListTriggerTaskRuns TaskId": ("ListTriggerTaskRuns", {"Filters": task_filter}),
                "ListTriggerTaskRuns WorkflowExecutionId": ("ListTriggerTaskRuns", {"Filters": run_filter}),
                "ListTriggerTaskRuns ScheduleTime ASC": (
                    "ListTriggerTaskRuns",
                    {"OrderFields": [{"Name": "ScheduleTime", "Direction": "ASC"}]},
                ),
                "ListTriggerTaskRuns EndTime DESC": (
                    "ListTriggerTaskRuns",
                    {"OrderFields": [{"Name": "EndTime", "Direction": "DESC"}]},
                ),
            }
            for label, (action, extra) in lists.items():
                params = {"ProjectId": project_id, **extra}
                size = len(raw_call(server, action, params)()) if action != "GetProject" else 0
                latency_rows.append((label, latencies(sdk_call(fast, action, params), args.calls), size))
        finally:
            server.stop()

    print(
        f"{'workload':<26} {'wall s':>8} {'best s':>8} {'procs s':>8} {'ratio':>7}"
        f" {'overhead ms/task':>17} {'tasks/s':>8} {'procs/s':>8}"
    )
    for label, n, walls, bases in engine_rows:
        wall, base = statistics.median(walls), statistics.median(bases)
        overhead = (wall - base) / n * 1000
        print(
            f"{label:<26} {wall:8.3f} {min(walls):8.3f} {base:8.3f} {wall / base:7.1f} {overhead:17.2f}"
            f" {n / wall:8.0f} {n / base:8.0f}"
        )
    print("(median of runs; 'procs s' = the same processes started straight from Python in this run)")
    print()
    print(f"{'request':<48} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'x base':>7} {'bytes':>9}")
    base = 0.0
    for label, xs, size in latency_rows:
        p50 = percentile(xs, 50)
        if label.startswith("GetProject"):
            base = p50
        print(
            f"{label:<48} {p50:8.2f} {percentile(xs, 99):8.2f} {max(xs):8.2f} {p50 / base:7.1f}"
            f" {size if size else '':>9}"
        )
    print(
        f"({args.calls} sequential calls each on a kept-alive connection; 'x base' = p50 / the GetProject p50"
        " above it;\n raw HTTP = signed POST on http.client, whole body read, nothing decoded;"
        " targets on SQLite: GetTriggerWorkflowRun p50 <= 20 ms, ListTriggerWorkflowRuns p50 <= 50 ms)"
    )
    for note in notes:
        print(note)
    print(f"total bench time {time.perf_counter() - t_start:.0f} s")


if __name__ == "__main__":
    main()
