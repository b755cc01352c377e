"""The Tencent Cloud API 3.0 front door (protocol.md): one POST/GET endpoint at `/`, plus /healthz.

Every answer, error or not, is HTTP 200 with `Content-Type: application/json` exactly (the Python
SDK ignores errors under any other content type) and carries a fresh RequestId. Unexpected failures
become `InternalError`, logged with their RequestId; a traceback never reaches the client.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from trigflow.api import internal, wire
from trigflow.api.context import RequestContext
from trigflow.api.params import parse_json_body, split_v1_common, unflatten
from trigflow.api.ratelimit import FailureThrottle, RateLimiter
from trigflow.api.registry import load_all
from trigflow.api.signing import tc3_check_signature, tc3_precheck, verify_v1
from trigflow.app import Services
from trigflow.domain.errors import (
    ApiError,
    AuthFailure,
    InternalError,
    InvalidAction,
    InvalidParameter,
    MissingParameter,
    NoSuchVersion,
    NotImplementedYet,
    RequestLimitExceeded,
    RequestSizeLimitExceeded,
    UnsupportedProtocol,
    UnsupportedRegion,
)
from trigflow.service.common import Caller
from trigflow.service.keys import KeyInfo

log = logging.getLogger("trigflow.api")

VERSION = "2025-08-06"
MAX_POST = 10 * 1024 * 1024
MAX_GET = 32 * 1024
KEY_CACHE_SECONDS = 2.0
# Bodies above this size are "large": at most Settings.max_large_bodies of them are received at once,
# and a request waits at most LARGE_BODY_WAIT_S for its turn before RequestLimitExceeded.
LARGE_BODY = 64 * 1024
LARGE_BODY_WAIT_S = 2.0


def _encode(body: dict[str, Any]) -> bytes:
    """The envelope as compact UTF-8 JSON.

    orjson writes the same bytes as `json.dumps(ensure_ascii=False, separators=(",", ":"))` about
    15x faster (2 ms instead of 20-30 for the 2 MB GetTriggerWorkflowRun of a 1,000-task run). What
    it refuses, the standard library writes: integers beyond 64 bits and lone surrogates, which a
    client can send inside a JSON string and get echoed back (escaped, so the body stays valid UTF-8).
    """
    envelope = {"Response": body}
    try:
        return orjson.dumps(envelope)
    except TypeError:  # orjson.JSONEncodeError subclasses TypeError
        return json.dumps(envelope, ensure_ascii=True, separators=(",", ":")).encode()


def _declared_length(headers: dict[str, str]) -> int | None:
    """Content-Length as an int; 0 without Content-Length or Transfer-Encoding (HTTP/1.1: no body, e.g.
    every GET); None when the size is unknown (chunked, or a garbled header): treated as large."""
    declared = headers.get("content-length")
    if declared is None:
        return None if "transfer-encoding" in headers else 0
    return int(declared) if declared.isdigit() else None


def _too_large(limit: int) -> RequestSizeLimitExceeded:
    return RequestSizeLimitExceeded(f"request body is larger than {limit // (1024 * 1024)} MB")


async def _body_within(request: Request, limit: int) -> bytes:
    """The request body, refused as soon as it is known to exceed `limit` (by Content-Length or while
    reading), so an oversized upload costs neither its size in memory nor the time to receive it all."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


class FrontDoor:
    """Parses, authenticates, rate-limits and dispatches one API request.

    Order matters for cost (issue 11, finding 5): everything that can be decided from the request
    head — method, sizes, the client's failure budget, target, Authorization syntax, payload mode,
    timestamp, SecretId — is decided before a byte of the body is read, so a request that would be
    refused anyway costs its headers, not its upload. Large bodies are then received a bounded number
    at a time. Authentication failures are counted per client address and logged (throttled, and
    never with the secret or the signature).
    """

    def __init__(self, services: Services) -> None:
        self.services = services
        self.settings = services.settings
        self.actions = load_all()
        self.limiter = RateLimiter(rate_per_second=self.settings.rate_limit_per_second)
        self.failures = FailureThrottle(self.settings.auth_failures_per_minute)
        self._large_bodies = asyncio.Semaphore(self.settings.max_large_bodies)
        self._keys: dict[str, tuple[float, KeyInfo | None]] = {}
        services.keys.on_revoke(self.forget_key)

    def forget_key(self, secret_id: str) -> None:
        """Drop a cached key at once (called on revocation), so it stops working in this process now."""
        self._keys.pop(secret_id, None)

    async def __call__(self, request: Request) -> Response:
        request_id = str(uuid.uuid4())
        action = request.headers.get("x-tc-action", "")
        try:
            data_present, data = await self._handle(request, request_id)
            body: dict[str, Any] = {"RequestId": request_id}
            if data_present:
                body = {"Data": data, "RequestId": request_id}
        except ApiError as e:
            body = {"Error": {"Code": e.code, "Message": e.message}, "RequestId": request_id}
        except ClientDisconnect:  # the client went away mid-request: nobody to answer, nothing went wrong here
            log.info("client disconnected during %s, RequestId %s", action or "request", request_id)
            return Response(b"", status_code=200, headers={"Content-Type": "application/json"})
        except Exception:
            log.exception("InternalError in %s, RequestId %s", action or "request", request_id)
            err = InternalError(f"internal error; quote RequestId {request_id} to the operator")
            body = {"Error": {"Code": err.code, "Message": err.message}, "RequestId": request_id}
        payload = _encode(body)
        return Response(payload, status_code=200, headers={"Content-Type": "application/json"})

    async def _handle(self, request: Request, request_id: str) -> tuple[bool, Any]:
        method = request.method.upper()
        if method not in ("GET", "POST"):
            raise UnsupportedProtocol(f"HTTP method {method} is not supported; use POST or GET")
        raw_query = request.scope.get("query_string", b"").decode("latin-1")
        if method == "GET" and len(raw_query) > MAX_GET:
            raise RequestSizeLimitExceeded("GET request query is larger than 32 KB")
        headers = {k.lower(): v for k, v in request.headers.items()}
        declared = _declared_length(headers)
        if declared is not None and declared > MAX_POST:
            raise _too_large(MAX_POST)
        address = request.client.host if request.client else ""
        if self.failures.blocked(address):
            raise RequestLimitExceeded(
                f"too many failed authentications from {address}; wait a minute and check the credentials"
            )
        now = time.time()
        try:
            if "authorization" in headers:
                action, version, region = (
                    headers.get("x-tc-action", ""),
                    headers.get("x-tc-version", ""),
                    headers.get("x-tc-region", ""),
                )
                self._check_target(action, version)
                pending = tc3_precheck(
                    method=method,
                    headers=headers,
                    lookup_secret=self._secret,
                    now=now,
                    max_skew=self.settings.max_clock_skew_s,
                    allow_unsigned_payload=self.settings.allow_unsigned_payload,
                )
                body = await self._body(request, declared)
                secret_id = tc3_check_signature(pending, method=method, raw_query=raw_query, body=body)
                ctype = headers.get("content-type", "").split(";")[0].strip().lower()
                if method == "POST":
                    if ctype == "application/json":
                        params, from_query = parse_json_body(body), False
                    elif ctype == "application/x-www-form-urlencoded":
                        params, from_query = (
                            unflatten(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)),
                            True,
                        )
                    else:
                        raise InvalidParameter(f"unsupported Content-Type {ctype!r}; send application/json")
                else:
                    params, from_query = unflatten(parse_qsl(raw_query, keep_blank_values=True)), True
                language = headers.get("x-tc-language", "zh-CN")
            else:
                if not self.settings.allow_v1_signing:
                    raise AuthFailure(
                        "the request carries no Authorization header; send a TC3-HMAC-SHA256 signed request "
                        "(the SDK default). Legacy v1 signing (a Signature parameter) is refused unless "
                        "`trigflow up --allow-v1-signing`",
                        code="AuthFailure.InvalidAuthorization",
                    )
                # v1 carries its SecretId and timestamp inside the body, so only an operator who enables it
                # accepts reading the body (still size-capped and bounded) before authenticating.
                body = await self._body(request, declared)
                source = body.decode("utf-8", "replace") if method == "POST" else raw_query
                flat = dict(parse_qsl(source, keep_blank_values=True))
                if "Signature" not in flat:
                    raise AuthFailure(
                        "the request carries no Authorization header", code="AuthFailure.InvalidAuthorization"
                    )
                common, rest = split_v1_common(flat)
                action, version, region = common.get("Action", ""), common.get("Version", ""), common.get("Region", "")
                self._check_target(action, version)
                secret_id = verify_v1(
                    method=method,
                    host=headers.get("host", ""),
                    params=flat,
                    lookup_secret=self._secret,
                    now=now,
                    max_skew=self.settings.max_clock_skew_s,
                )
                params, from_query = unflatten(rest.items()), True
                language = common.get("Language", "zh-CN")
        except AuthFailure as e:
            self._auth_failed(address, headers.get("x-tc-action", ""), e)
            raise
        if not region:
            raise MissingParameter("the request is missing the Region (X-TC-Region header)")
        if self.settings.regions and region not in self.settings.regions:
            raise UnsupportedRegion(f"region {region} is not served by this endpoint")
        if not self.limiter.allow(secret_id, action):
            raise RequestLimitExceeded(
                f"more than {self.settings.rate_limit_per_second:g} requests per second for {action}"
            )
        key = self._key(secret_id)
        assert key is not None  # verified above
        clean = wire.validate_request(
            action, params, from_query=from_query, ignore_unknown=not self.settings.strict_unknown_parameters
        )
        ctx = RequestContext(
            caller=Caller(secret_id, key.uin, key.is_admin),
            services=self.services,
            request_id=request_id,
            language=language,
            region=region,
        )
        # Rendering a large response takes tens of ms: do it on the worker thread with the handler, so the
        # event loop keeps accepting other requests meanwhile.
        return await run_in_threadpool(self._run_action, action, ctx, clean)

    def _run_action(self, action: str, ctx: RequestContext, params: dict[str, Any]) -> tuple[bool, Any]:
        data = self.actions[action].handler(ctx, params)
        model, _ = wire.response_data_model(action)
        if model is None:
            return False, None
        return True, wire.render_response_data(action, data)

    async def _body(self, request: Request, declared: int | None) -> bytes:
        """Read the body; bodies over LARGE_BODY (or of unknown size) wait for one of the
        `max_large_bodies` turns, so stalled or slow uploads cannot pile up in memory."""
        if declared is not None and declared <= LARGE_BODY:
            return await _body_within(request, MAX_POST)
        try:
            await asyncio.wait_for(self._large_bodies.acquire(), LARGE_BODY_WAIT_S)
        except TimeoutError:
            raise RequestLimitExceeded(
                f"more than {self.settings.max_large_bodies} request bodies over {LARGE_BODY // 1024} KB are "
                "being received at once; retry shortly"
            ) from None
        try:
            return await _body_within(request, MAX_POST)
        finally:
            self._large_bodies.release()

    def _auth_failed(self, address: str, action: str, error: AuthFailure) -> None:
        """Count the failure against the address and log it: code and SecretId-free facts only (the
        message may quote a SecretId, never a secret or signature; the log filter throttles repeats)."""
        exhausted = self.failures.record_failure(address)
        log.warning("authentication failed from %s for %s: %s", address, action or "-", error.code)
        if exhausted:
            log.warning(
                "client %s used up its %d failed authentications per minute; its requests are refused "
                "with RequestLimitExceeded until the budget refills",
                address,
                self.settings.auth_failures_per_minute,
            )

    def _check_target(self, action: str, version: str) -> None:
        if not action:
            raise MissingParameter("the request is missing the Action (X-TC-Action header)")
        if not version:
            raise MissingParameter("the request is missing the Version (X-TC-Version header)")
        if version != VERSION:
            raise NoSuchVersion(f"version {version} is not supported; this endpoint serves {VERSION}")
        if action not in self.actions:
            # Off the hot path: the SDK's list is looked at only for an action this server does not serve.
            if action in wire.sdk_action_names():
                raise NotImplementedYet(
                    f"action {action} of wedata {VERSION} is not implemented by trigflow yet (see docs/api.md)"
                )
            raise InvalidAction(f"action {action} does not exist for version {VERSION}")

    def _key(self, secret_id: str) -> KeyInfo | None:
        now = time.monotonic()
        hit = self._keys.get(secret_id)
        if hit is not None and now - hit[0] < KEY_CACHE_SECONDS:
            return hit[1]
        key = self.services.keys.lookup(secret_id)
        if len(self._keys) > 10_000:
            self._keys.clear()
        self._keys[secret_id] = (now, key)
        return key

    def _secret(self, secret_id: str) -> str | None:
        key = self._key(secret_id)
        return key.secret_key if key else None


def create_app(services: Services) -> Starlette:
    door = FrontDoor(services)

    async def healthz(_: Request) -> Response:
        """200 while the scheduler thread runs and makes loop passes; 503 with the reason when it failed
        (leadership released) or stalled (a supervisor should restart the process; docs/limits.md)."""
        sched = services.scheduler
        health = sched.health()
        payload: dict[str, Any] = {
            "status": "ok" if health.ok else health.state,
            "scheduler_role": sched.role,
            "scheduler_last_tick_ms": sched.last_tick_ms,
            "live_runs": len(sched.execution.graphs),
            "executor": dict(sched.executor.health().details),
        }
        if not health.ok:
            payload["reason"] = health.reason
        return Response(
            json.dumps(payload), status_code=200 if health.ok else 503, headers={"Content-Type": "application/json"}
        )

    async def api(request: Request) -> Response:
        return await door(request)

    return Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            *internal.routes(services.workers),
            Route("/", api, methods=["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]),
        ]
    )
