"""Wire-level behaviour of the real HTTP endpoint (protocol.md §1-§7).

Two kinds of clients: the official SDK (its own signer, its own error parsing, which only works when the
response Content-Type is exactly `application/json`), and raw `http.client` requests signed with our
`trigflow.api.signing` helpers, for what no SDK sends (bad JSON, wrong JSON types, other methods, a
missing or garbled Authorization header, a clock 301 s off).
"""

from __future__ import annotations

import http.client
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from tencentcloud.common import abstract_client, credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.wedata.v20250806 import wedata_client

from tests.conftest import SECRET_ID, SECRET_KEY, Server, make_client, start_server
from tests.integration.helpers import call, new_task, new_workflow, start_run, wait_run
from trigflow.api.signing import (
    tc3_canonical_headers,
    tc3_canonical_request,
    tc3_payload_hash,
    tc3_signature,
    tc3_string_to_sign,
)

VERSION = "2025-08-06"
REGION = "ap-guangzhou"


# --------------------------------------------------------------------------------------------- raw client


@dataclass
class Reply:
    status: int
    content_type: str | None
    raw: bytes
    body: dict[str, Any] = field(default_factory=dict)

    @property
    def response(self) -> dict[str, Any]:
        return dict(self.body["Response"])

    @property
    def code(self) -> str | None:
        error = self.response.get("Error")
        return None if error is None else str(error["Code"])

    @property
    def message(self) -> str:
        return str(self.response["Error"]["Message"])


SEEN: list[Reply] = []  # every raw reply of this module, checked for InternalError at the end


def tc3_headers(
    host: str,
    action: str,
    *,
    method: str = "POST",
    body: bytes = b"",
    query: str = "",
    region: str | None = REGION,
    version: str = VERSION,
    ts: int | None = None,
    secret_id: str = SECRET_ID,
    secret_key: str = SECRET_KEY,
    content_type: str | None = None,
    language: str | None = None,
) -> dict[str, str]:
    """Headers of a TC3-HMAC-SHA256 request signed over exactly `body` (POST) or `query` (GET)."""
    ts = int(time.time()) if ts is None else ts
    if content_type is None:
        content_type = "application/json" if method == "POST" else "application/x-www-form-urlencoded"
    headers = {
        "Content-Type": content_type,
        "Host": host,
        "X-TC-Action": action,
        "X-TC-Version": version,
        "X-TC-Timestamp": str(ts),
    }
    if region is not None:
        headers["X-TC-Region"] = region
    if language is not None:
        headers["X-TC-Language"] = language
    lower = {k.lower(): v for k, v in headers.items()}
    date = datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d")
    canonical = tc3_canonical_request(
        method=method,
        canonical_query=query if method == "GET" else "",
        canonical_headers=tc3_canonical_headers(("content-type", "host"), lower),
        signed_headers="content-type;host",
        payload_hash=tc3_payload_hash(body, method=method),
    )
    to_sign = tc3_string_to_sign(timestamp=str(ts), date=date, service="wedata", canonical_request=canonical)
    signature = tc3_signature(secret_key, date, "wedata", to_sign)
    headers["Authorization"] = (
        f"TC3-HMAC-SHA256 Credential={secret_id}/{date}/wedata/tc3_request, "
        f"SignedHeaders=content-type;host, Signature={signature}"
    )
    return headers


def send(server: Server, method: str, headers: dict[str, str], body: bytes = b"", query: str = "") -> Reply:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=15)
    try:
        conn.request(method, "/" + (f"?{query}" if query else ""), body=body or None, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        reply = Reply(resp.status, resp.getheader("Content-Type"), raw)
    finally:
        conn.close()
    reply.body = json.loads(raw)
    SEEN.append(reply)
    return reply


def post(server: Server, action: str, params: Any = None, *, body: bytes | None = None, **sign: Any) -> Reply:
    """A signed POST; `body` overrides the JSON encoding of `params` (both are signed as sent)."""
    payload = body if body is not None else json.dumps({} if params is None else params).encode()
    return send(server, "POST", tc3_headers(server.endpoint, action, body=payload, **sign), payload)


def check_envelope(reply: Reply) -> dict[str, Any]:
    """protocol.md §5: HTTP 200, Content-Type exactly application/json, one `Response` with a RequestId."""
    assert reply.status == 200, reply.raw
    assert reply.content_type == "application/json"
    assert list(reply.body) == ["Response"]
    response = reply.response
    assert str(uuid.UUID(response["RequestId"])) == response["RequestId"]
    if "Error" in response:
        assert "Data" not in response
        assert set(response["Error"]) == {"Code", "Message"} and response["Error"]["Message"]
    return response


def sdk_client(
    server: Server,
    *,
    endpoint: str | None = None,
    sign_method: str | None = None,
    language: str = "zh-CN",
    req_method: str = "POST",
    secret_key: str = SECRET_KEY,
) -> Any:
    hp = HttpProfile(endpoint=endpoint or server.endpoint, protocol="http", reqMethod=req_method)
    profile = ClientProfile(signMethod=sign_method, httpProfile=hp, language=language)
    return wedata_client.WedataClient(credential.Credential(SECRET_ID, secret_key), REGION, profile)


def sdk_error(fn: Callable[[], Any]) -> TencentCloudSDKException:
    with pytest.raises(TencentCloudSDKException) as exc:
        fn()
    assert exc.value.get_request_id()
    return exc.value


# ------------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def log_mark(server: Server) -> int:
    return len(server.output())


@dataclass
class Finished:
    workflow_id: str
    run_id: str
    tasks: dict[str, str]


def _finish_a_run(client: Any, project_id: str) -> Finished:
    wf = new_workflow(client, project_id, f"proto_{uuid.uuid4().hex[:10]}")
    first = new_task(client, project_id, wf, "first", "true")
    second = new_task(client, project_id, wf, "second", "true", upstream=[first])
    run_id = start_run(client, project_id, wf)
    assert wait_run(client, project_id, run_id).TriggerWorkflowRun.ExecutionState == "SUCCESS"
    return Finished(wf, run_id, {"first": first, "second": second})


@pytest.fixture(scope="module")
def finished(client: Any, project_id: str, log_mark: int) -> Finished:
    return _finish_a_run(client, project_id)


@pytest.fixture(scope="module")
def v1_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Legacy v1 signing is refused by default (issue 11, finding 4); this server opts in to it."""
    srv = start_server(
        tmp_path_factory.mktemp("v1"),
        extra=["--allow-v1-signing", "--rate-limit", "1000", "--kill-grace", "1", "--minute-seconds", "0.2"],
    )
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def v1_finished(v1_server: Server) -> tuple[str, Finished]:
    client = make_client(v1_server.endpoint)
    project_id = str(call(client, "ListProjects", {}).Items[0].ProjectId)
    return project_id, _finish_a_run(client, project_id)


# ------------------------------------------------------------------------------------------------ envelope


def test_success_envelope_and_fresh_request_ids(server: Server, log_mark: int) -> None:
    replies = [post(server, "ListProjects", {"PageSize": 1}) for _ in range(2)]
    ids = set()
    for reply in replies:
        response = check_envelope(reply)
        assert "Error" not in response
        assert response["Data"]["PageSize"] == 1 and response["Data"]["TotalCount"] >= 1
        ids.add(response["RequestId"])
    assert len(ids) == 2


def test_java_content_type_with_charset_is_accepted(server: Server) -> None:
    reply = post(server, "ListProjects", {"PageSize": 2}, content_type="application/json; charset=utf-8")
    assert check_envelope(reply)["Data"]["PageSize"] == 2


def test_explicit_null_is_treated_as_absent(server: Server, project_id: str, finished: Finished) -> None:
    everything = check_envelope(post(server, "ListProjects", {}))["Data"]
    nulls = check_envelope(post(server, "ListProjects", {"PageSize": None, "ProjectName": None, "ProjectIds": [None]}))
    assert (nulls["Data"]["PageSize"], nulls["Data"]["TotalCount"]) == (10, everything["TotalCount"])
    runs = post(
        server,
        "GetTriggerWorkflowRun",
        {"ProjectId": project_id, "WorkflowExecutionId": finished.run_id, "Filters": [None], "OrderFields": None},
    )
    assert len(check_envelope(runs)["Data"]["TriggerTaskRuns"]) == 2
    missing = post(server, "GetProject", {"ProjectId": None})
    check_envelope(missing)
    assert missing.code == "MissingParameter" and "ProjectId" in missing.message


# (how to send the request, expected code, word the message must contain)
RawCase = tuple[Callable[[Server, str], Reply], str, str]


def _unsigned(server: Server, method: str, body: bytes = b"{}", **extra: str) -> Reply:
    headers = {
        "Content-Type": "application/json",
        "X-TC-Action": "ListProjects",
        "X-TC-Version": VERSION,
        "X-TC-Region": REGION,
        "X-TC-Timestamp": str(int(time.time())),
        **extra,
    }
    return send(server, method, headers, body)


def _signed_then_tampered(server: Server, _: str) -> Reply:
    headers = tc3_headers(server.endpoint, "ListProjects", body=b'{"PageSize": 1}')
    return send(server, "POST", headers, b'{"PageSize": 2}')


RAW_CASES: dict[str, RawCase] = {
    "put": (
        lambda s, p: send(s, "PUT", tc3_headers(s.endpoint, "ListProjects", body=b"{}"), b"{}"),
        "UnsupportedProtocol",
        "PUT",
    ),
    "delete-unsigned": (lambda s, p: _unsigned(s, "DELETE"), "UnsupportedProtocol", "DELETE"),
    "no-authorization": (lambda s, p: _unsigned(s, "POST"), "AuthFailure.InvalidAuthorization", "Authorization"),
    "garbled-authorization": (
        lambda s, p: _unsigned(s, "POST", Authorization="TC3-HMAC-SHA256 Credential=garbage"),
        "AuthFailure.InvalidAuthorization",
        "",
    ),
    "bearer-authorization": (
        lambda s, p: _unsigned(s, "POST", Authorization="Bearer abc.def"),
        "AuthFailure.InvalidAuthorization",
        "",
    ),
    "unknown-action": (lambda s, p: post(s, "DescribeInstances"), "InvalidAction", "DescribeInstances"),
    "doc-typo-action": (lambda s, p: post(s, "KillTriggerWorkflowRun"), "InvalidAction", "KillTriggerWorkflowRun"),
    "other-version": (lambda s, p: post(s, "ListProjects", version="2017-03-12"), "NoSuchVersion", "2017-03-12"),
    "missing-region": (lambda s, p: post(s, "ListProjects", region=None), "MissingParameter", "Region"),
    "unsupported-region": (
        lambda s, p: post(s, "ListProjects", region="mars-north-1"),
        "UnsupportedRegion",
        "mars-north-1",
    ),
    "expired-301s-ago": (
        lambda s, p: post(s, "ListProjects", ts=int(time.time()) - 301),
        "AuthFailure.SignatureExpire",
        "",
    ),
    "expired-301s-ahead": (
        lambda s, p: post(s, "ListProjects", ts=int(time.time()) + 301),
        "AuthFailure.SignatureExpire",
        "",
    ),
    "wrong-secret-key": (
        lambda s, p: post(s, "ListProjects", secret_key="not-the-key"),
        "AuthFailure.SignatureFailure",
        "",
    ),
    "unknown-secret-id": (
        lambda s, p: post(s, "ListProjects", secret_id="AKIDunknown0000000000000000000000000"),
        "AuthFailure.SecretIdNotFound",
        "AKIDunknown0000000000000000000000000",
    ),
    "tampered-body": (_signed_then_tampered, "AuthFailure.SignatureFailure", ""),
    "body-is-array": (lambda s, p: post(s, "ListProjects", body=b"[]"), "InvalidParameter", "JSON object"),
    "body-is-string": (lambda s, p: post(s, "ListProjects", body=b'"PageSize"'), "InvalidParameter", "JSON object"),
    "body-is-null": (lambda s, p: post(s, "ListProjects", body=b"null"), "InvalidParameter", "JSON object"),
    "body-not-json": (lambda s, p: post(s, "ListProjects", body=b"{PageSize: 1"), "InvalidParameter", "JSON"),
    "body-duplicate-key": (
        lambda s, p: post(s, "ListProjects", body=b'{"PageSize": 1, "PageSize": 2}'),
        "InvalidParameter",
        "PageSize",
    ),
    "text-plain-body": (
        lambda s, p: post(s, "ListProjects", body=b"PageSize=1", content_type="text/plain"),
        "InvalidParameter",
        "Content-Type",
    ),
    "string-for-integer": (lambda s, p: post(s, "ListProjects", {"PageSize": "10"}), "InvalidParameter", "PageSize"),
    "fraction-for-integer": (lambda s, p: post(s, "ListProjects", {"PageSize": 10.5}), "InvalidParameter", "PageSize"),
    "boolean-for-integer": (lambda s, p: post(s, "ListProjects", {"PageSize": True}), "InvalidParameter", "PageSize"),
    "number-for-string": (lambda s, p: post(s, "GetProject", {"ProjectId": int(p)}), "InvalidParameter", "ProjectId"),
    "object-for-array": (
        lambda s, p: post(s, "ListProjects", {"ProjectIds": {"0": p}}),
        "InvalidParameter",
        "ProjectIds",
    ),
    "nested-wrong-type": (
        lambda s, p: post(s, "ListTriggerWorkflowRuns", {"ProjectId": p, "Filters": [{"Name": 1, "Values": ["x"]}]}),
        "InvalidParameter",
        "Filters.0.Name",
    ),
    "unknown-parameter": (lambda s, p: post(s, "ListProjects", {"Bogus": 1}), "UnknownParameter", "Bogus"),
}


@pytest.mark.parametrize("case", list(RAW_CASES), ids=list(RAW_CASES))
def test_raw_request_refusals(server: Server, project_id: str, log_mark: int, case: str) -> None:
    build, code, mention = RAW_CASES[case]
    reply = build(server, project_id)
    check_envelope(reply)  # errors too: HTTP 200, exact JSON content type, a RequestId
    assert reply.code == code, reply.response
    assert mention in reply.message


def test_raw_get_request_with_flattened_nested_filters(server: Server, project_id: str, finished: Finished) -> None:
    query = (
        f"ProjectId={project_id}&Filters.0.Name=WorkflowId&Filters.0.Values.0={finished.workflow_id}"
        "&OrderFields.0.Name=CreateTime&OrderFields.0.Direction=ASC&PageSize=5"
    )
    headers = tc3_headers(server.endpoint, "ListTriggerWorkflowRuns", method="GET", query=query)
    data = check_envelope(send(server, "GET", headers, query=query))["Data"]
    assert data["PageSize"] == 5  # "5" coerced to the schema's integer
    assert [r["ExecutionId"] for r in data["Items"]] == [finished.run_id]
    bad = f"ProjectId={project_id}&PageSize=ten"
    reply = send(
        server, "GET", tc3_headers(server.endpoint, "ListTriggerWorkflowRuns", method="GET", query=bad), query=bad
    )
    check_envelope(reply)
    assert reply.code == "InvalidParameter" and "PageSize" in reply.message


# -------------------------------------------------------------------------------------------- the real SDK


def test_sdk_authentication_failures(server: Server) -> None:
    err = sdk_error(lambda: make_client(server.endpoint, secret_key="not-the-key").call_json("ListProjects", {}))
    assert err.get_code() == "AuthFailure.SignatureFailure"
    unknown = "AKIDnobody000000000000000000000000000"
    err = sdk_error(lambda: make_client(server.endpoint, secret_id=unknown).call_json("ListProjects", {}))
    assert err.get_code() == "AuthFailure.SecretIdNotFound" and unknown in err.get_message()


@pytest.mark.parametrize("offset", [301, -301])
def test_sdk_signature_expire(server: Server, monkeypatch: pytest.MonkeyPatch, offset: int) -> None:
    real = time.time
    monkeypatch.setattr(abstract_client, "time", SimpleNamespace(time=lambda: real() + offset))
    err = sdk_error(lambda: make_client(server.endpoint).call_json("ListProjects", {}))
    assert err.get_code() == "AuthFailure.SignatureExpire"


def test_sdk_clock_within_five_minutes_is_fine(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    real = time.time
    monkeypatch.setattr(abstract_client, "time", SimpleNamespace(time=lambda: real() - 240))
    assert make_client(server.endpoint).call_json("ListProjects", {})["Response"]["Data"]["TotalCount"] >= 1


def test_sdk_routing_errors(server: Server) -> None:
    client = make_client(server.endpoint)
    for action in ("DescribeInstances", "KillTriggerWorkflowRun"):  # the second is a typo in the WeData docs
        err = sdk_error(lambda action=action: client.call_json(action, {}))
        assert (err.get_code(), action in err.get_message()) == ("InvalidAction", True)
    old = make_client(server.endpoint)
    old._apiVersion = "2017-03-12"
    err = sdk_error(lambda: old.call_json("ListProjects", {}))
    assert err.get_code() == "NoSuchVersion"
    err = sdk_error(lambda: make_client(server.endpoint, region="").call_json("ListProjects", {}))
    assert err.get_code() == "MissingParameter" and "Region" in err.get_message()
    err = sdk_error(lambda: make_client(server.endpoint, region="mars-north-1").call_json("ListProjects", {}))
    assert err.get_code() == "UnsupportedRegion"


def test_sdk_get_requests_with_nested_filters(server: Server, project_id: str, finished: Finished) -> None:
    client = make_client(server.endpoint, reqMethod="GET")
    runs = call(
        client,
        "ListTriggerWorkflowRuns",
        {
            "ProjectId": project_id,
            "Filters": [{"Name": "WorkflowId", "Values": [finished.workflow_id]}],
            "OrderFields": [{"Name": "CreateTime", "Direction": "DESC"}],
            "PageSize": 3,
        },
    )
    assert (runs.TotalCount, runs.PageSize, [r.ExecutionId for r in runs.Items]) == (1, 3, [finished.run_id])
    detail = call(
        client,
        "GetTriggerWorkflowRun",
        {
            "ProjectId": project_id,
            "WorkflowExecutionId": finished.run_id,
            "Filters": [{"Name": "Keyword", "Values": ["a b&c/中", "FIRST"]}],  # needs percent-encoding
            "OrderFields": [{"Name": "TaskName", "Direction": "ASC"}],
        },
    )
    assert [t.TaskName for t in detail.TriggerTaskRuns] == ["first"]
    # a boolean travels as "True" in the query string
    killed = call(
        client, "KillTriggerWorkflowRuns", {"ProjectId": project_id, "WorkflowId": finished.workflow_id, "All": True}
    )
    assert killed == []
    err = sdk_error(lambda: client.call_json("ListProjects", {"PageSize": "ten"}))
    assert err.get_code() == "InvalidParameter" and "PageSize" in err.get_message()


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_sdk_endpoint_with_scheme_in_host(server: Server, project_id: str, method: str) -> None:
    # The SDK puts "http://127.0.0.1:PORT" verbatim in the Host header and in the signature (protocol.md §1).
    client = make_client(f"http://{server.endpoint}", reqMethod=method)
    got = call(client, "GetProject", {"ProjectId": project_id})
    assert got.ProjectId == project_id


@pytest.mark.parametrize(("sign_method", "req_method"), [("HmacSHA256", "POST"), ("HmacSHA1", "GET")])
def test_sdk_legacy_v1_signature_with_allow_v1_signing(
    v1_server: Server, v1_finished: tuple[str, Finished], sign_method: str, req_method: str
) -> None:
    project_id, finished = v1_finished
    client = sdk_client(v1_server, sign_method=sign_method, req_method=req_method)
    runs = call(
        client,
        "ListTriggerWorkflowRuns",
        {"ProjectId": project_id, "Filters": [{"Name": "WorkflowId", "Values": [finished.workflow_id]}]},
    )
    assert [r.ExecutionId for r in runs.Items] == [finished.run_id]
    assert (
        call(
            client,
            "KillTriggerWorkflowRuns",
            {"ProjectId": project_id, "WorkflowId": finished.workflow_id, "All": True},
        )
        == []
    )
    wrong = sdk_client(v1_server, sign_method=sign_method, req_method=req_method, secret_key="not-the-key")
    err = sdk_error(lambda: wrong.call_json("ListProjects", {}))
    assert err.get_code() == "AuthFailure.SignatureFailure"
    err = sdk_error(lambda: client.call_json("GetProject", {}))
    assert err.get_code() == "MissingParameter" and "ProjectId" in err.get_message()
    params = {"ProjectId": project_id, "WorkflowExecutionId": finished.run_id}
    english = call(sdk_client(v1_server, language="en-US", sign_method=sign_method), "GetTriggerWorkflowRun", params)
    assert [(b.LabelKey, b.LabelValue, b.Count) for b in english.BizStateEnumInfos] == [("SUCCESS", "Succeeded", 2)]


@pytest.mark.parametrize(("sign_method", "req_method"), [("HmacSHA256", "POST"), ("HmacSHA1", "GET")])
def test_sdk_legacy_v1_signature_is_refused_by_default(server: Server, sign_method: str, req_method: str) -> None:
    client = sdk_client(server, sign_method=sign_method, req_method=req_method)
    err = sdk_error(lambda: client.call_json("ListProjects", {}))
    assert err.get_code() == "AuthFailure.InvalidAuthorization"
    assert "--allow-v1-signing" in err.get_message()


def test_language_selects_biz_state_labels(server: Server, project_id: str, finished: Finished) -> None:
    params = {"ProjectId": project_id, "WorkflowExecutionId": finished.run_id}
    english = call(sdk_client(server, language="en-US"), "GetTriggerWorkflowRun", params)
    assert [(b.LabelKey, b.LabelValue, b.Count) for b in english.BizStateEnumInfos] == [("SUCCESS", "Succeeded", 2)]
    chinese = call(sdk_client(server), "GetTriggerWorkflowRun", params)
    assert [(b.LabelKey, b.LabelValue, b.Count) for b in chinese.BizStateEnumInfos] == [("SUCCESS", "运行成功", 2)]


def test_raw_language_header(server: Server, project_id: str, finished: Finished) -> None:
    params = {"ProjectId": project_id, "WorkflowExecutionId": finished.run_id}
    reply = post(server, "GetTriggerWorkflowRun", params, language="en-US")
    assert [b["LabelValue"] for b in check_envelope(reply)["Data"]["BizStateEnumInfos"]] == ["Succeeded"]


# ------------------------------------------------------------------------------------------- rate limiting


@pytest.fixture
def limited_server(tmp_path: Path) -> Iterator[Server]:
    srv = start_server(tmp_path / "limited", extra=["--rate-limit", "2"])
    try:
        yield srv
    finally:
        srv.stop()


def test_request_limit_exceeded(limited_server: Server) -> None:
    client = make_client(limited_server.endpoint)
    refused: TencentCloudSDKException | None = None
    allowed = 0
    for _ in range(50):  # bounded: with 2 requests/second the bucket empties after a couple of calls
        try:
            client.call_json("ListProjects", {})
            allowed += 1
        except TencentCloudSDKException as e:
            refused = e
            break
    assert refused is not None, f"{allowed} requests in a row were allowed"
    assert refused.get_code() == "RequestLimitExceeded" and refused.get_request_id()
    assert 1 <= allowed <= 10
    # the bucket is per action: another action still gets through
    err = sdk_error(lambda: client.call_json("GetProject", {"ProjectId": "404404"}))
    assert err.get_code() == "ResourceNotFound"
    # and the refusal is an ordinary envelope on the wire
    reply = None
    for _ in range(50):
        reply = post(limited_server, "ListProjects", {})
        if reply.code == "RequestLimitExceeded":
            break
    assert reply is not None and reply.code == "RequestLimitExceeded"
    check_envelope(reply)
    assert "Traceback" not in limited_server.output()


# -------------------------------------------------------------------------------------------------- last


def test_no_internal_error_anywhere(server: Server, log_mark: int) -> None:
    assert SEEN, "no raw replies recorded"
    assert [r.response for r in SEEN if r.code == "InternalError"] == []
    produced = server.output()[log_mark:]
    assert "Traceback" not in produced and "InternalError" not in produced, produced[-4000:]
