"""The internal endpoint Celery workers report to (docs/adr/0006-celery-workers.md), like Airflow 3's
execution API: on the same HTTP server as the public API, under /internal/v1, authenticated by the worker
token (`Authorization: Bearer ...`, constant-time compare, never logged).

    POST /internal/v1/attempts/{task_id}/start    {"worker_id"}                  the fence: 200 run / 409 drop
    POST /internal/v1/attempts/{task_id}/log      ?worker_id=&offset=  raw bytes  appended at the offset
    POST /internal/v1/attempts/{task_id}/finish   {"worker_id", "exit_code", "message", "log_size", "output_values"}
    POST /internal/v1/workers/heartbeat           {"worker_id", "name", "group", "concurrency", "running"}
    POST /internal/v1/workers/{worker_id}/gone    {"killed"}   from a dead worker's guard: its attempts are lost
    GET  /internal/v1/workers                     live workers (`consuming` false: flagged C6, `stalled` why)

The heartbeat reply: {"kill": [task ids], "grace", "lease"}, plus "stalled" (why) once the server holds that the
worker's Celery consumer takes nothing (C6): the worker drains and exits for its supervisor to restart it.

A standby (or a server still recovering) answers 503 and the worker retries; without `--broker` the
routes answer 404. Bodies are bounded (MAX_BODY): the worker ships logs in chunks below it.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from trigflow.service.workers import WorkerHub

log = logging.getLogger("trigflow.api.internal")

MAX_BODY = 80 << 20  # a finish report carries the declared outputs (<= 64 Mi characters) as JSON


def _json(status: int, body: dict[str, Any]) -> Response:
    return Response(json.dumps(body), status_code=status, headers={"Content-Type": "application/json"})


def routes(hub: WorkerHub | None) -> list[Route]:
    async def guard(request: Request) -> Response | None:
        if hub is None:
            return _json(404, {"error": "this server has no broker configured (trigflow up --broker)"})
        if not hub.authenticated(request.headers.get("authorization")):
            log.warning("internal endpoint: a request from %s without a valid worker token",
                        request.client.host if request.client else "?")  # fmt: skip
            return _json(401, {"error": "a valid worker token is required"})
        if not hub.available():
            return _json(503, {"error": "not the active scheduler (or still recovering): retry"})
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
            return _json(413, {"error": "body too large"})
        return None

    async def read_json(request: Request) -> dict[str, Any] | None:
        try:
            body = json.loads(await request.body())
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    async def guarded_json(request: Request) -> dict[str, Any] | Response:
        """The request's JSON object once it passed the guard, or the answer that refuses it."""
        if (refused := await guard(request)) is not None:
            return refused
        body = await read_json(request)
        return _json(400, {"error": "a JSON object is expected"}) if body is None else body

    async def start(request: Request) -> Response:
        if isinstance(body := await guarded_json(request), Response):
            return body
        assert hub is not None
        worker_id = str(body.get("worker_id", ""))
        status, answer = await run_in_threadpool(hub.start, request.path_params["task_id"], worker_id)
        return _json(status, answer)

    async def append_log(request: Request) -> Response:
        if (refused := await guard(request)) is not None:
            return refused
        assert hub is not None
        offset = request.query_params.get("offset", "")
        if not offset.isdigit():
            return _json(400, {"error": "offset must be a byte offset"})
        data = await request.body()
        worker_id = request.query_params.get("worker_id", "")
        task_id = request.path_params["task_id"]
        status, answer = await run_in_threadpool(hub.append_log, task_id, worker_id, int(offset), data)
        return _json(status, answer)

    async def finish(request: Request) -> Response:
        if isinstance(body := await guarded_json(request), Response):
            return body
        assert hub is not None
        status, answer = await run_in_threadpool(hub.finish, request.path_params["task_id"],
                                                 str(body.get("worker_id", "")), body)  # fmt: skip
        return _json(status, answer)

    async def heartbeat(request: Request) -> Response:
        if isinstance(body := await guarded_json(request), Response):
            return body
        assert hub is not None
        status, answer = hub.heartbeat(body)
        return _json(status, answer)

    async def gone(request: Request) -> Response:
        if (refused := await guard(request)) is not None:
            return refused
        assert hub is not None
        status, answer = await run_in_threadpool(hub.gone, request.path_params["worker_id"])
        return _json(status, answer)

    async def workers(request: Request) -> Response:
        if (refused := await guard(request)) is not None:
            return refused
        assert hub is not None
        return _json(200, {"workers": hub.executor.workers()})

    prefix = "/internal/v1"
    return [
        Route(prefix + "/attempts/{task_id}/start", start, methods=["POST"]),
        Route(prefix + "/attempts/{task_id}/log", append_log, methods=["POST"]),
        Route(prefix + "/attempts/{task_id}/finish", finish, methods=["POST"]),
        Route(prefix + "/workers/heartbeat", heartbeat, methods=["POST"]),
        Route(prefix + "/workers/{worker_id}/gone", gone, methods=["POST"]),
        Route(prefix + "/workers", workers, methods=["GET"]),
    ]
