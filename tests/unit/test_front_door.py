"""Front-door behaviour that the real server cannot be made to show on demand: an unexpected exception
in a handler becomes `InternalError` with the RequestId logged and no traceback in the response; a
revocation takes effect at once in the revoking process; a request refused on its headers never has
its body read; the connection cap leaves descriptors for everything else."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest
from starlette.requests import Request

from trigflow.api.http import FrontDoor
from trigflow.api.registry import Registered
from trigflow.api.signing import (
    sha256_hex,
    tc3_canonical_headers,
    tc3_canonical_request,
    tc3_signature,
    tc3_string_to_sign,
)
from trigflow.app import bootstrap, build
from trigflow.config import Settings

SID, SKEY = "AKIDfrontdoor000000000000000000000000", "frontdoorsecret00000000000000000"


def signed_request(
    action: str,
    body: bytes,
    *,
    secret_id: str = SID,
    ts: str | None = None,
    declared: int | None = None,
    extra: dict[str, str] | None = None,
) -> Request:
    ts = ts or str(int(time.time()))
    date = time.strftime("%Y-%m-%d", time.gmtime(int(ts)))
    headers = {"content-type": "application/json", "host": "127.0.0.1:1"}
    canonical = tc3_canonical_request(
        method="POST",
        canonical_query="",
        canonical_headers=tc3_canonical_headers(["content-type", "host"], headers),
        signed_headers="content-type;host",
        payload_hash=sha256_hex(body),
    )
    sts = tc3_string_to_sign(timestamp=ts, date=date, service="wedata", canonical_request=canonical)
    auth = (
        f"TC3-HMAC-SHA256 Credential={secret_id}/{date}/wedata/tc3_request, SignedHeaders=content-type;host, "
        f"Signature={tc3_signature(SKEY, date, 'wedata', sts)}"
    )
    raw = {**headers, "authorization": auth, "x-tc-action": action, "x-tc-version": "2025-08-06",
           "x-tc-region": "ap-guangzhou", "x-tc-timestamp": ts}  # fmt: skip
    if declared is not None:
        raw["content-length"] = str(declared)
    raw.update(extra or {})
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "query_string": b"",
        "headers": [(k.encode(), v.encode()) for k, v in raw.items()],
        "client": ("192.0.2.1", 40000),
    }

    async def receive() -> dict[str, Any]:
        if declared is not None:
            raise AssertionError("the body was read although the headers alone decide the answer")
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(scope, receive)


def answer(door: FrontDoor, request: Request) -> dict[str, Any]:
    return dict(json.loads(asyncio.run(door(request)).body)["Response"])


def test_unexpected_exception_is_internal_error_with_request_id(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    services = build(Settings(data_dir=tmp_path, admin_secret_id=SID, admin_secret_key=SKEY))
    bootstrap(services)
    door = FrontDoor(services)

    def broken(ctx: Any, params: dict[str, Any]) -> Any:
        raise ZeroDivisionError("secret internals")

    door.actions = {**door.actions, "ListProjects": Registered("ListProjects", broken)}
    with caplog.at_level(logging.ERROR, logger="trigflow.api"):
        response = asyncio.run(door(signed_request("ListProjects", b"{}")))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = json.loads(response.body)["Response"]
    assert body["Error"]["Code"] == "InternalError"
    assert body["RequestId"] in body["Error"]["Message"]
    assert "secret internals" not in response.body.decode() and "Traceback" not in response.body.decode()
    assert any(body["RequestId"] in r.getMessage() for r in caplog.records)
    services.db.dispose()


def test_same_request_succeeds_with_the_real_handler(tmp_path: Path) -> None:
    services = build(Settings(data_dir=tmp_path, admin_secret_id=SID, admin_secret_key=SKEY))
    bootstrap(services)
    response = asyncio.run(FrontDoor(services)(signed_request("ListProjects", b"{}")))
    body = json.loads(response.body)["Response"]
    assert body["Data"]["TotalCount"] == 1 and body["Data"]["Items"][0]["ProjectName"] == "default"
    services.db.dispose()


def test_encode_matches_the_standard_library_and_survives_what_orjson_refuses() -> None:
    """The fast encoder writes the bytes json.dumps would; lone surrogates and >64-bit ints still encode."""
    from trigflow.api.http import _encode

    body = {"Data": {"Name": "任务\u2028\"\\", "Ids": ["1", "2"], "N": -(2**63), "F": 0.5, "B": True, "X": None}}
    assert _encode(body) == json.dumps({"Response": body}, ensure_ascii=False, separators=(",", ":")).encode()
    odd = {"Error": {"Code": "InvalidParameterValue", "Message": "bad \ud800 name"}, "N": 2**70}
    assert json.loads(_encode(odd)) == {"Response": odd}


def test_a_revocation_stops_the_key_at_once_in_the_revoking_process(tmp_path: Path) -> None:
    services = build(Settings(data_dir=tmp_path, admin_secret_id=SID, admin_secret_key=SKEY))
    bootstrap(services)
    door = FrontDoor(services)
    assert "Error" not in answer(door, signed_request("ListProjects", b"{}"))  # the key is now cached (2 s)
    assert services.keys.revoke(SID)
    refused = answer(door, signed_request("ListProjects", b"{}"))
    assert refused["Error"]["Code"] == "AuthFailure.SecretIdNotFound"
    services.db.dispose()


def test_the_env_key_is_not_unrevoked_by_the_next_bootstrap(tmp_path: Path) -> None:
    from trigflow.service.keys import RevokedKeyError

    settings = Settings(data_dir=tmp_path, admin_secret_id=SID, admin_secret_key=SKEY)
    services = build(settings)
    bootstrap(services)
    services.keys.revoke(SID)
    with pytest.raises(RevokedKeyError) as exc:
        bootstrap(services)
    assert SID in str(exc.value) and SKEY not in str(exc.value)
    assert services.keys.lookup(SID) is None
    services.db.dispose()


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"secret_id": "AKIDnobody00000000000000000000000000"}, "AuthFailure.SecretIdNotFound"),
        ({"ts": str(int(time.time()) - 3600)}, "AuthFailure.SignatureExpire"),
        ({"declared": 11 * 1024 * 1024}, "RequestSizeLimitExceeded"),
    ],
)
def test_requests_refused_on_their_headers_never_have_their_body_read(
    tmp_path: Path, change: dict[str, Any], code: str
) -> None:
    services = build(Settings(data_dir=tmp_path, admin_secret_id=SID, admin_secret_key=SKEY))
    bootstrap(services)
    kwargs = {"declared": 9 * 1024 * 1024, **change}
    assert answer(FrontDoor(services), signed_request("ListProjects", b"{}", **kwargs))["Error"]["Code"] == code
    services.db.dispose()


def test_the_connection_cap_keeps_half_the_descriptors_free() -> None:
    from trigflow.api.server import effective_max_connections

    assert effective_max_connections(1000, 20_000) == 1000
    assert effective_max_connections(1000, 1024) == 512
    assert effective_max_connections(1000, 1) == 1


def test_only_bodies_over_64_kib_or_of_unknown_size_wait_for_a_large_body_turn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import trigflow.api.http as front

    monkeypatch.setattr(front, "LARGE_BODY_WAIT_S", 0.05)
    services = build(Settings(data_dir=tmp_path, admin_secret_id=SID, admin_secret_key=SKEY, max_large_bodies=1))
    bootstrap(services)
    door = FrontDoor(services)

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        await door._large_bodies.acquire()  # the only turn is taken by some other upload
        small = await door(signed_request("ListProjects", b"{}"))  # no Content-Length: no body to bound
        chunked = await door(signed_request("ListProjects", b"{}", extra={"transfer-encoding": "chunked"}))
        return json.loads(small.body)["Response"], json.loads(chunked.body)["Response"]

    small, chunked = asyncio.run(scenario())
    assert "Error" not in small
    assert chunked["Error"]["Code"] == "RequestLimitExceeded" and "64 KB" in chunked["Error"]["Message"]
    services.db.dispose()
