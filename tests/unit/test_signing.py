"""TC3 and v1 verification, checked against protocol.md §4.1 vectors and the official SDK's own signer.

The SDK is the ground truth: if a request it builds does not verify, real clients cannot talk to us.
`time.time` is pinned only inside the SDK module (not globally) so requests are reproducible.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
from collections.abc import Callable, Mapping
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from tencentcloud.common import abstract_client
from tencentcloud.common.credential import Credential
from tencentcloud.common.http.request import RequestInternal
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.wedata.v20250806.wedata_client import WedataClient

from trigflow.api.params import split_v1_common, unflatten
from trigflow.api.signing import (
    UNSIGNED_PAYLOAD,
    parse_tc3_authorization,
    sha256_hex,
    tc3_canonical_headers,
    tc3_canonical_request,
    tc3_payload_hash,
    tc3_signature,
    tc3_signing_key,
    tc3_string_to_sign,
    v1_signature,
    v1_string_to_sign,
    verify_tc3,
    verify_v1,
)
from trigflow.domain.errors import ApiError, MissingParameter, UnsupportedProtocol

SECRET_ID = "AKIDEXAMPLE1234567890abcdefghijklmn"
SECRET_KEY = "EXAMPLEKEY1234567890abcdefghijklm"
TS = 1767225600  # 2026-01-01T00:00:00Z
DATE = "2026-01-01"
HOST = "wedata.tencentcloudapi.com"
PARAMS = {"ProjectId": "1460947878944567296", "WorkflowExecutionId": "d0bf2249-3eb2-4ccf-9646-5de0a4b8cf54"}
BODY_A = b'{"ProjectId": "1460947878944567296", "WorkflowExecutionId": "d0bf2249-3eb2-4ccf-9646-5de0a4b8cf54"}'
QUERY_B = "ProjectId=1460947878944567296&WorkflowExecutionId=d0bf2249-3eb2-4ccf-9646-5de0a4b8cf54"
SIG_A = "0075caf8934159533bd4f26865bba759972e465708c9101be3ee6dea4612c192"
SIG_B = "50f28432f361f47269a360532cb3fe74200fda0c74c8d0058896656205b09f13"
AUTH_A = (
    f"TC3-HMAC-SHA256 Credential={SECRET_ID}/{DATE}/wedata/tc3_request, "
    f"SignedHeaders=content-type;host, Signature={SIG_A}"
)
NESTED_PARAMS: dict[str, Any] = {
    "ProjectId": "1460947878944567296",
    "WorkflowExecutionId": "d0bf2249-3eb2-4ccf-9646-5de0a4b8cf54",
    "Filters": [{"Name": "TaskName", "Values": ["s1", "a b&c/中"]}],
    "OrderFields": [{"Name": "CreateTime", "Direction": "DESC"}],
}


def lookup(secret_id: str) -> str | None:
    return {SECRET_ID: SECRET_KEY}.get(secret_id)


def code_of(exc: pytest.ExceptionInfo[ApiError]) -> str:
    return exc.value.code


# ------------------------------------------------------------------------------------------------ helpers


@pytest.fixture
def pinned_sdk_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """protocol.md §4.1: pin the SDK's clock so its requests are reproducible."""
    monkeypatch.setattr(abstract_client, "time", SimpleNamespace(time=lambda: TS))


def sdk_request(
    *,
    method: str = "POST",
    params: Mapping[str, Any] = PARAMS,
    endpoint: str | None = None,
    unsigned: bool = False,
    sign_method: str | None = None,
    action: str = "GetTriggerWorkflowRun",
) -> RequestInternal:
    """Build a request with the real SDK signer (the code path `client.call` uses)."""
    profile = ClientProfile(signMethod=sign_method, httpProfile=HttpProfile(endpoint=endpoint, reqMethod=method))
    profile.unsignedPayload = unsigned
    client = WedataClient(Credential(SECRET_ID, SECRET_KEY), "ap-guangzhou", profile)
    req = RequestInternal(client._get_endpoint(), method, "/")
    client._build_req_inter(action, copy.deepcopy(dict(params)), req)
    return req


def body_bytes(req: RequestInternal) -> bytes:
    return req.data.encode("utf-8") if isinstance(req.data, str) else req.data


def verify_sdk(
    req: RequestInternal,
    *,
    now: float = TS,
    body: bytes | None = None,
    raw_query: str | None = None,
    headers: Mapping[str, str] | None = None,
    lookup_secret: Callable[[str], str | None] = lookup,
    allow_unsigned_payload: bool = False,
) -> str:
    """Feed an SDK request to the verifier the way the HTTP front door would."""
    if req.method == "GET":
        query, payload = req.data, b""
    else:
        query, payload = "", body_bytes(req)
    return verify_tc3(
        method=req.method,
        raw_query=query if raw_query is None else raw_query,
        headers=req.header if headers is None else headers,
        body=payload if body is None else body,
        lookup_secret=lookup_secret,
        now=now,
        allow_unsigned_payload=allow_unsigned_payload,
    )


def sign_manually(
    *,
    method: str = "POST",
    headers: dict[str, str],
    body: bytes = BODY_A,
    raw_query: str = "",
    date: str = DATE,
    service: str = "wedata",
    signed: tuple[str, ...] = ("content-type", "host"),
    secret_id: str = SECRET_ID,
    secret_key: str = SECRET_KEY,
    lower_values: bool = True,
) -> dict[str, str]:
    """Sign with our own helpers to build requests no SDK produces (other services, extra headers...)."""
    headers = {k.lower(): v for k, v in headers.items()}
    headers.setdefault("x-tc-timestamp", str(TS))
    unsigned = headers.get("x-tc-content-sha256") == UNSIGNED_PAYLOAD
    canonical = tc3_canonical_request(
        method=method,
        canonical_query=raw_query if method == "GET" else "",
        canonical_headers=tc3_canonical_headers(signed, headers, lower_values=lower_values),
        signed_headers=";".join(signed),
        payload_hash=tc3_payload_hash(body, method=method, unsigned=unsigned),
    )
    to_sign = tc3_string_to_sign(
        timestamp=headers["x-tc-timestamp"], date=date, service=service, canonical_request=canonical
    )
    signature = tc3_signature(secret_key, date, service, to_sign)
    headers["authorization"] = (
        f"TC3-HMAC-SHA256 Credential={secret_id}/{date}/{service}/tc3_request, "
        f"SignedHeaders={';'.join(signed)}, Signature={signature}"
    )
    return headers


def vector_a_headers() -> dict[str, str]:
    return {
        "content-type": "application/json",
        "host": HOST,
        "x-tc-timestamp": str(TS),
        "authorization": AUTH_A,
    }


# ---------------------------------------------------------------------------------------- §4.1 vectors


def test_derived_keys_match_vector() -> None:
    k_date = hmac.new(("TC3" + SECRET_KEY).encode(), DATE.encode(), hashlib.sha256).digest()
    k_service = hmac.new(k_date, b"wedata", hashlib.sha256).digest()
    assert k_date.hex() == "e0507856e8352bceecc436a759161d9adc752042f842e177937c90eacc991b2e"
    assert k_service.hex() == "574f8ab87810ab66423ebd8d2c1b31d3f7a5822f1bf8374307435a5daf2a1ae8"
    assert (
        tc3_signing_key(SECRET_KEY, DATE, "wedata").hex()
        == "9b858a7f9e1f9f6e422b8b97b201d068501e1667297e8357e9fe3a745ccba8b0"
    )


def test_vector_a_intermediates() -> None:
    assert len(BODY_A) == 99
    canonical = tc3_canonical_request(
        method="POST",
        canonical_query="",
        canonical_headers=tc3_canonical_headers(("content-type", "host"), vector_a_headers()),
        signed_headers="content-type;host",
        payload_hash=tc3_payload_hash(BODY_A, method="POST"),
    )
    assert canonical == (
        "POST\n/\n\ncontent-type:application/json\nhost:wedata.tencentcloudapi.com\n\ncontent-type;host\n"
        "772da4d5e274a61155ad9e4e5dd1fb52fb156148743c7a29082e278b13528a72"
    )
    to_sign = tc3_string_to_sign(timestamp=str(TS), date=DATE, service="wedata", canonical_request=canonical)
    assert to_sign == (
        "TC3-HMAC-SHA256\n1767225600\n2026-01-01/wedata/tc3_request\n"
        "fdf9d8e9d43abca10a2e6103bb103d0e1bfe11ed08fe1ae043ad39d5147eb89b"
    )
    assert sha256_hex(canonical.encode()) == to_sign.rsplit("\n", 1)[1]
    assert tc3_signature(SECRET_KEY, DATE, "wedata", to_sign) == SIG_A


def test_vector_a_verifies() -> None:
    assert (
        verify_tc3(method="POST", raw_query="", headers=vector_a_headers(), body=BODY_A, lookup_secret=lookup, now=TS)
        == SECRET_ID
    )


def test_vector_b_intermediates_and_verification() -> None:
    headers = {"content-type": "application/x-www-form-urlencoded", "host": HOST, "x-tc-timestamp": str(TS)}
    canonical = tc3_canonical_request(
        method="GET",
        canonical_query=QUERY_B,
        canonical_headers=tc3_canonical_headers(("content-type", "host"), headers),
        signed_headers="content-type;host",
        payload_hash=tc3_payload_hash(b"", method="GET"),
    )
    assert canonical == (
        f"GET\n/\n{QUERY_B}\ncontent-type:application/x-www-form-urlencoded\n"
        "host:wedata.tencentcloudapi.com\n\ncontent-type;host\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    to_sign = tc3_string_to_sign(timestamp=str(TS), date=DATE, service="wedata", canonical_request=canonical)
    assert to_sign.endswith("\nee1358776e9c1951a1e41bc4ce5245b86f2f8178f5ef5fa250c0971cfbfd4212")
    assert tc3_signature(SECRET_KEY, DATE, "wedata", to_sign) == SIG_B
    headers["authorization"] = AUTH_A.replace(SIG_A, SIG_B)
    assert (
        verify_tc3(method="GET", raw_query=QUERY_B, headers=headers, body=b"", lookup_secret=lookup, now=TS)
        == SECRET_ID
    )


@pytest.mark.usefixtures("pinned_sdk_time")
def test_sdk_reproduces_both_vectors() -> None:
    post = sdk_request()
    assert body_bytes(post) == BODY_A
    assert post.header["Authorization"] == AUTH_A
    get = sdk_request(method="GET")
    assert get.data == QUERY_B
    assert get.header["Authorization"].endswith(f"Signature={SIG_B}")


def test_parse_authorization_fields() -> None:
    auth = parse_tc3_authorization(AUTH_A)
    assert (auth.secret_id, auth.date, auth.service) == (SECRET_ID, DATE, "wedata")
    assert auth.signed_headers == "content-type;host"
    assert auth.signed_header_names == ("content-type", "host")
    assert auth.signature == SIG_A


# ------------------------------------------------------------------------------------ real SDK requests


@pytest.mark.usefixtures("pinned_sdk_time")
class TestSdkRequestsVerify:
    def test_post_json(self) -> None:
        req = sdk_request(params=NESTED_PARAMS)
        assert req.header["Content-Type"] == "application/json"
        assert verify_sdk(req) == SECRET_ID

    def test_post_ignores_query_string(self) -> None:
        # POST and GET are never mixed: a query on a POST is not part of the canonical request.
        assert verify_sdk(sdk_request(), raw_query="Junk=1") == SECRET_ID

    def test_get_with_nested_filters(self) -> None:
        req = sdk_request(method="GET", params=NESTED_PARAMS)
        assert "Filters.0.Values.1=a+b%26c%2F%E4%B8%AD" in req.data
        assert verify_sdk(req) == SECRET_ID
        # and the same raw query unflattens back into the SDK's nesting
        assert unflatten(parse_qsl(req.data, keep_blank_values=True)) == NESTED_PARAMS

    def test_get_body_is_not_hashed(self) -> None:
        assert verify_sdk(sdk_request(method="GET"), body=b"ignored") == SECRET_ID

    @pytest.mark.parametrize("method", ["POST", "GET"])
    def test_endpoint_with_scheme_is_signed_verbatim(self, method: str) -> None:
        req = sdk_request(method=method, endpoint="http://127.0.0.1:8090")
        assert req.header["Host"] == "http://127.0.0.1:8090"
        assert verify_sdk(req) == SECRET_ID

    def test_capitalised_endpoint_verifies_via_verbatim_fallback(self) -> None:
        req = sdk_request(endpoint="WeData.Example.com:8080")
        assert req.header["Host"] == "WeData.Example.com:8080"
        assert verify_sdk(req) == SECRET_ID

    @pytest.mark.parametrize("method", ["POST", "GET"])
    def test_unsigned_payload_when_allowed(self, method: str) -> None:
        req = sdk_request(method=method, unsigned=True)
        assert req.header["X-TC-Content-SHA256"] == UNSIGNED_PAYLOAD
        assert verify_sdk(req, allow_unsigned_payload=True) == SECRET_ID
        if method == "POST":
            # the body is deliberately outside the signature: why it is refused by default
            assert verify_sdk(req, body=b'{"ProjectId": "other"}', allow_unsigned_payload=True) == SECRET_ID

    @pytest.mark.parametrize("method", ["POST", "GET"])
    def test_unsigned_payload_refused_by_default(self, method: str) -> None:
        req = sdk_request(method=method, unsigned=True)
        with pytest.raises(ApiError) as exc:
            verify_sdk(req)
        assert code_of(exc) == "AuthFailure.InvalidAuthorization"
        assert "--allow-unsigned-payload" in exc.value.message and "UNSIGNED-PAYLOAD" in exc.value.message

    def test_unsigned_payload_refused_before_the_secret_is_looked_up(self) -> None:
        looked_up: list[str] = []

        def spy(secret_id: str) -> str | None:
            looked_up.append(secret_id)
            return SECRET_KEY

        with pytest.raises(ApiError):
            verify_sdk(sdk_request(unsigned=True), lookup_secret=spy)
        assert looked_up == []

    def test_unsigned_payload_header_removed_fails(self) -> None:
        req = sdk_request(unsigned=True)
        headers = {k: v for k, v in req.header.items() if k != "X-TC-Content-SHA256"}
        with pytest.raises(ApiError) as exc:
            verify_sdk(req, headers=headers, allow_unsigned_payload=True)
        assert code_of(exc) == "AuthFailure.SignatureFailure"

    def test_lower_case_header_dict(self) -> None:
        req = sdk_request()
        assert verify_sdk(req, headers={k.lower(): v for k, v in req.header.items()}) == SECRET_ID

    def test_legacy_v1_hmac_sha256(self) -> None:
        params = {**NESTED_PARAMS, "All": True}
        req = sdk_request(sign_method="HmacSHA256", params=params, action="KillTriggerWorkflowRuns")
        assert "Authorization" not in req.header
        form = dict(parse_qsl(req.data, keep_blank_values=True))
        assert form["SignatureMethod"] == "HmacSHA256"
        assert verify_v1(method="POST", host=HOST, params=form, lookup_secret=lookup, now=TS) == SECRET_ID
        common, action_params = split_v1_common(form)
        assert common["Action"] == "KillTriggerWorkflowRuns"
        assert unflatten(action_params.items()) == {**NESTED_PARAMS, "All": "True"}

    def test_legacy_v1_hmac_sha1_get_with_scheme(self) -> None:
        endpoint = "http://127.0.0.1:8090"
        req = sdk_request(method="GET", sign_method="HmacSHA1", endpoint=endpoint, params=NESTED_PARAMS)
        form = dict(parse_qsl(req.data, keep_blank_values=True))
        assert verify_v1(method="GET", host=endpoint, params=form, lookup_secret=lookup, now=TS) == SECRET_ID

    def test_legacy_v1_failures(self) -> None:
        form = dict(parse_qsl(sdk_request(sign_method="HmacSHA256").data, keep_blank_values=True))

        def fails(params: Mapping[str, str], now: float = TS, secret: str | None = SECRET_KEY) -> str:
            with pytest.raises(ApiError) as exc:
                verify_v1(method="POST", host=HOST, params=params, lookup_secret=lambda _: secret, now=now)
            return code_of(exc)

        assert fails({**form, "ProjectId": "1"}) == "AuthFailure.SignatureFailure"
        assert fails(form, secret="wrong") == "AuthFailure.SignatureFailure"
        assert fails(form, secret=None) == "AuthFailure.SecretIdNotFound"
        assert fails(form, now=TS + 301) == "AuthFailure.SignatureExpire"
        assert fails(form, now=TS - 301) == "AuthFailure.SignatureExpire"
        assert fails({**form, "Timestamp": "soon"}) == "AuthFailure.SignatureExpire"
        assert fails({k: v for k, v in form.items() if k != "Signature"}) == "AuthFailure.InvalidAuthorization"
        assert fails({k: v for k, v in form.items() if k != "SecretId"}) == "AuthFailure.InvalidAuthorization"
        assert fails({**form, "SignatureMethod": "MD5"}) == "AuthFailure.InvalidAuthorization"
        assert fails({**form, "SignatureMethod": "HmacSHA1"}) == "AuthFailure.SignatureFailure"
        with pytest.raises(MissingParameter):
            verify_v1(
                method="POST",
                host=HOST,
                params={k: v for k, v in form.items() if k != "Timestamp"},
                lookup_secret=lookup,
                now=TS,
            )
        assert verify_v1(method="POST", host=HOST, params=form, lookup_secret=lookup, now=TS + 300)


def test_v1_string_to_sign_format() -> None:
    params = {"Action": "KillTriggerWorkflowRuns", "All": "True", "Nonce": "7", "Signature": "x", "A_b": "1"}
    assert v1_string_to_sign("post", HOST, params) == (
        "POSTwedata.tencentcloudapi.com/?A.b=1&Action=KillTriggerWorkflowRuns&All=True&Nonce=7"
    )
    assert v1_string_to_sign("POST", HOST, params, sdk_key_form=False).startswith(f"POST{HOST}/?A_b=1&")


def test_v1_accepts_plain_key_form_for_underscored_keys() -> None:
    params = {"SecretId": SECRET_ID, "Timestamp": str(TS), "Nonce": "1", "Some_Key": "v"}
    signature = v1_signature(SECRET_KEY, v1_string_to_sign("POST", HOST, params, sdk_key_form=False))
    signed = {**params, "Signature": signature}
    assert verify_v1(method="POST", host=HOST, params=signed, lookup_secret=lookup, now=TS) == SECRET_ID


def test_v1_signature_from_sdk_signer() -> None:
    from tencentcloud.common.sign import Sign

    for method in ("HmacSHA1", "HmacSHA256"):
        assert v1_signature(SECRET_KEY, "GEThost/?a=1", method) == Sign.sign(SECRET_KEY, "GEThost/?a=1", method)


# ---------------------------------------------------------------------------------- manual TC3 variants


def test_java_content_type_with_charset() -> None:
    headers = sign_manually(headers={"Content-Type": "application/json; charset=utf-8", "Host": HOST})
    assert verify_tc3(method="POST", raw_query="", headers=headers, body=BODY_A, lookup_secret=lookup, now=TS)


def test_service_comes_from_credential_scope() -> None:
    # Java/Node derive the service from the endpoint's first label: 127.0.0.1:8080 → "127".
    headers = sign_manually(headers={"Content-Type": "application/json", "Host": "127.0.0.1:8080"}, service="127")
    assert verify_tc3(method="POST", raw_query="", headers=headers, body=BODY_A, lookup_secret=lookup, now=TS)


def test_extra_signed_header_with_documented_lower_casing() -> None:
    # The official demo also signs x-tc-action, with the value lower-cased.
    headers = sign_manually(
        headers={"Content-Type": "application/json", "Host": "WeData.Example.com", "X-TC-Action": "DescribeX"},
        signed=("content-type", "host", "x-tc-action"),
    )
    assert verify_tc3(method="POST", raw_query="", headers=headers, body=BODY_A, lookup_secret=lookup, now=TS)


def test_authorization_with_extra_whitespace_and_upper_hex() -> None:
    headers = vector_a_headers()
    headers["authorization"] = AUTH_A.replace(", ", " ,  ").replace(SIG_A, SIG_A.upper())
    assert verify_tc3(method="POST", raw_query="", headers=headers, body=BODY_A, lookup_secret=lookup, now=TS)


def test_timestamp_boundary_is_inclusive() -> None:
    for now in (TS + 300, TS - 300, TS + 299.5):
        assert verify_tc3(
            method="POST", raw_query="", headers=vector_a_headers(), body=BODY_A, lookup_secret=lookup, now=now
        )


# ------------------------------------------------------------------------------------------- failures


def tc3_fails(
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes = BODY_A,
    method: str = "POST",
    raw_query: str = "",
    now: float = TS,
    lookup_secret: Callable[[str], str | None] = lookup,
) -> ApiError:
    with pytest.raises(ApiError) as exc:
        verify_tc3(
            method=method,
            raw_query=raw_query,
            headers=vector_a_headers() if headers is None else headers,
            body=body,
            lookup_secret=lookup_secret,
            now=now,
        )
    return exc.value


def test_tampered_body() -> None:
    assert tc3_fails(body=BODY_A.replace(b"1460", b"1461")).code == "AuthFailure.SignatureFailure"


def test_tampered_or_reordered_get_query() -> None:
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "host": HOST,
        "x-tc-timestamp": str(TS),
        "authorization": AUTH_A.replace(SIG_A, SIG_B),
    }
    reordered = "&".join(reversed(QUERY_B.split("&")))
    for query in (QUERY_B + "&X=1", reordered):
        err = tc3_fails(method="GET", raw_query=query, headers=headers, body=b"")
        assert err.code == "AuthFailure.SignatureFailure"


def test_wrong_secret_key() -> None:
    assert tc3_fails(lookup_secret=lambda _: "not-the-key").code == "AuthFailure.SignatureFailure"


def test_unknown_secret_id() -> None:
    err = tc3_fails(lookup_secret=lambda _: None)
    assert err.code == "AuthFailure.SecretIdNotFound"
    assert SECRET_ID in err.message


@pytest.mark.parametrize("offset", [301, -301, 86_400])
def test_expired_in_either_direction(offset: int) -> None:
    assert tc3_fails(now=TS + offset).code == "AuthFailure.SignatureExpire"


@pytest.mark.parametrize("value", ["", "soon", "1767225600.0", "+1767225600", "1_767_225_600", "-1"])
def test_non_integer_timestamp(value: str) -> None:
    headers = {**vector_a_headers(), "x-tc-timestamp": value}
    assert tc3_fails(headers=headers).code == "AuthFailure.SignatureExpire"


def test_missing_timestamp_is_missing_parameter() -> None:
    headers = {k: v for k, v in vector_a_headers().items() if k != "x-tc-timestamp"}
    assert isinstance(tc3_fails(headers=headers), MissingParameter)


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "SKIP",
        "Bearer abc",
        "TC3-HMAC-SHA1 " + AUTH_A.split(" ", 1)[1],
        "TC3-HMAC-SHA256",
        AUTH_A.replace(", Signature=", ", Sig="),
        AUTH_A.split(", Signature=")[0],
        AUTH_A + ", Signature=" + SIG_A,
        AUTH_A + ", Extra=1",
        AUTH_A.replace("/tc3_request", "/tc4_request"),
        AUTH_A.replace(f"{SECRET_ID}/", ""),
        AUTH_A.replace(f"{SECRET_ID}/", "/"),
        AUTH_A.replace(DATE, "20260101"),
        AUTH_A.replace(SIG_A, SIG_A[:-1]),
        AUTH_A.replace(SIG_A, "z" * 64),
        AUTH_A.replace("content-type;host", "content-type;;host"),
        AUTH_A.replace("content-type;host", "content-type;host;host"),
    ],
)
def test_malformed_authorization(authorization: str | None) -> None:
    headers = vector_a_headers()
    if authorization is None:
        del headers["authorization"]
    else:
        headers["authorization"] = authorization
    assert tc3_fails(headers=headers).code == "AuthFailure.InvalidAuthorization"


def test_wrong_date_in_scope() -> None:
    # correctly signed for 2025-12-31, but the timestamp is on 2026-01-01
    headers = sign_manually(headers={"content-type": "application/json", "host": HOST}, date="2025-12-31")
    err = tc3_fails(headers=headers)
    assert err.code == "AuthFailure.SignatureFailure"
    assert "2025-12-31" in err.message


@pytest.mark.parametrize("signed", [("content-type", "x-tc-action"), ("host", "x-tc-action"), ("x-tc-action",)])
def test_signed_headers_must_include_content_type_and_host(signed: tuple[str, ...]) -> None:
    headers = sign_manually(
        headers={"content-type": "application/json", "host": HOST, "x-tc-action": "GetTriggerWorkflowRun"},
        signed=signed,
    )
    assert tc3_fails(headers=headers).code == "AuthFailure.InvalidAuthorization"


def test_signed_header_absent_from_request() -> None:
    headers = sign_manually(
        headers={"content-type": "application/json", "host": HOST, "x-tc-action": "GetTriggerWorkflowRun"},
        signed=("content-type", "host", "x-tc-action"),
    )
    del headers["x-tc-action"]
    assert tc3_fails(headers=headers).code == "AuthFailure.SignatureFailure"


def test_changed_host_fails() -> None:
    headers = {**vector_a_headers(), "host": "other.example.com"}
    assert tc3_fails(headers=headers).code == "AuthFailure.SignatureFailure"


def test_unsupported_method() -> None:
    assert isinstance(tc3_fails(method="PUT"), UnsupportedProtocol)
    with pytest.raises(UnsupportedProtocol):
        verify_v1(method="DELETE", host=HOST, params={}, lookup_secret=lookup, now=TS)


def test_lookup_not_called_before_cheap_checks() -> None:
    calls: list[str] = []

    def spy(secret_id: str) -> str | None:
        calls.append(secret_id)
        return SECRET_KEY

    tc3_fails(now=TS + 301, lookup_secret=spy)
    assert calls == []


def test_v1_round_trip_through_urlencode() -> None:
    params = {"Action": "X", "SecretId": SECRET_ID, "Timestamp": str(TS), "Nonce": "3", "Name": "a b&c/中"}
    params["Signature"] = v1_signature(SECRET_KEY, v1_string_to_sign("POST", HOST, params), "HmacSHA256")
    params["SignatureMethod"] = "HmacSHA256"
    # SignatureMethod was added after signing, so this must fail; re-sign including it and it passes
    decoded = dict(parse_qsl(urlencode(params)))
    with pytest.raises(ApiError):
        verify_v1(method="POST", host=HOST, params=decoded, lookup_secret=lookup, now=TS)
    unsigned = {k: v for k, v in params.items() if k != "Signature"}
    unsigned["Signature"] = v1_signature(SECRET_KEY, v1_string_to_sign("POST", HOST, unsigned), "HmacSHA256")
    decoded = dict(parse_qsl(urlencode(unsigned)))
    assert verify_v1(method="POST", host=HOST, params=decoded, lookup_secret=lookup, now=TS) == SECRET_ID
