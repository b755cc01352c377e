"""Server-side verification of Tencent Cloud API request signatures (TC3-HMAC-SHA256 and legacy v1).

The official SDKs and tccli sign every request; a compatible server must recompute the exact same
signature from the request *as received*, so every input here is the raw wire value (raw query text,
raw body bytes, header values untouched). Nothing is re-encoded, sorted or re-serialised, because any
normalisation the client did not do breaks the HMAC. See docs `protocol.md` §2-§4.

All functions are pure: the caller passes headers, body, query, the current time and a secret lookup,
so the front door owns all I/O and this module can be tested against the SDK's own signing code.

Error-code choices where protocol.md is silent (documented here so every layer agrees):

* Missing `X-TC-Timestamp` (TC3) or `Timestamp` (v1) → `MissingParameter`: it is a required common
  parameter that the client did not send at all, which is what that code means; a *present* but
  non-integer timestamp → `AuthFailure.SignatureExpire` (protocol §4 step 2: "must be an integer ...
  reject otherwise with SignatureExpire"): a timestamp that cannot be read cannot be proven fresh.
* A header named in `SignedHeaders` that is absent from the request → `AuthFailure.SignatureFailure`:
  the Authorization header itself is well formed; it is the request that cannot match it.
* A method other than GET/POST → `UnsupportedProtocol` (protocol §1), should the front door not have
  refused it already.
* v1 without `Signature` or `SecretId`, or with a `SignatureMethod` other than `HmacSHA1`/`HmacSHA256`
  → `AuthFailure.InvalidAuthorization`, the v1 twin of a missing or malformed Authorization header.
* `X-TC-Content-SHA256: UNSIGNED-PAYLOAD` while the server does not allow it →
  `AuthFailure.InvalidAuthorization` (the request's authorization is not in an accepted form), with a
  message naming `--allow-unsigned-payload`. Legacy v1 is refused by the front door the same way
  (`--allow-v1-signing`); this module still verifies v1 for servers that enable it.
* `X-TC-Token` / `Token` (STS credentials) is not checked here; the caller validates it
  (`AuthFailure.TokenFailure`) once it knows which credentials it issued.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from trigflow.domain.errors import AuthFailure, MissingParameter, UnsupportedProtocol

__all__ = [
    "TC3_ALGORITHM",
    "UNSIGNED_PAYLOAD",
    "Tc3Authorization",
    "Tc3Pending",
    "parse_tc3_authorization",
    "sha256_hex",
    "tc3_canonical_headers",
    "tc3_canonical_request",
    "tc3_check_signature",
    "tc3_payload_hash",
    "tc3_precheck",
    "tc3_signature",
    "tc3_signing_key",
    "tc3_string_to_sign",
    "v1_signature",
    "v1_string_to_sign",
    "verify_tc3",
    "verify_v1",
]

TC3_ALGORITHM = "TC3-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
_TC3_TERMINATOR = "tc3_request"
_DEFAULT_MAX_SKEW = 300

# Strict decimal text: int() would also accept " 1", "+1" and "1_0", none of which any SDK sends.
_TIMESTAMP_RE = re.compile(r"[0-9]{1,15}")
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_HEX64_RE = re.compile(r"[0-9a-fA-F]{64}")
_HEADER_NAME_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Optional whitespace around the separators is tolerated (protocol §4 step 1, inferred).
_AUTH_ITEM_SPLIT_RE = re.compile(r"\s*,\s*")
_V1_METHODS: dict[str, str] = {"HmacSHA1": "sha1", "HmacSHA256": "sha256"}
_REQUIRED_SIGNED_HEADERS = ("content-type", "host")


# --------------------------------------------------------------------------------------------- TC3 pieces


def sha256_hex(data: bytes) -> str:
    """Lower-case hex SHA-256, the digest form TC3 uses for payloads and canonical requests."""
    return hashlib.sha256(data).hexdigest()


def _hmac_sha256(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def tc3_signing_key(secret_key: str, date: str, service: str) -> bytes:
    """Derive kSigning (protocol §4 step 7); scoping the key by date and service is what lets a leaked
    derived key be useless for other days or services, so both come from the request's scope."""
    k_date = _hmac_sha256(("TC3" + secret_key).encode("utf-8"), date)
    k_service = _hmac_sha256(k_date, service)
    return _hmac_sha256(k_service, _TC3_TERMINATOR)


def tc3_signature(secret_key: str, date: str, service: str, string_to_sign: str) -> str:
    """Lower-case hex TC3 signature of `string_to_sign`, byte-identical to `Sign.sign_tc3` in the SDK."""
    key = tc3_signing_key(secret_key, date, service)
    return hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def tc3_payload_hash(body: bytes, *, method: str, unsigned: bool = False) -> str:
    """HashedRequestPayload (protocol §4 step 5.6).

    GET hashes the empty string whatever arrives in the body, and `UNSIGNED-PAYLOAD` replaces the body
    for either method; both mirror the SDKs, which compute it exactly this way.
    """
    if unsigned:
        return sha256_hex(UNSIGNED_PAYLOAD.encode("ascii"))
    if method.upper() == "GET":
        return sha256_hex(b"")
    return sha256_hex(body)


def _trim(value: str) -> str:
    # HTTP optional whitespace is space and tab only; str.strip() would also eat e.g. NBSP.
    return value.strip(" \t")


def tc3_canonical_headers(names: Sequence[str], headers: Mapping[str, str], *, lower_values: bool = True) -> str:
    """CanonicalHeaders: `name:value\\n` per signed header, in the order the client listed them.

    `headers` must be keyed by lower-case name. `lower_values=False` reproduces what the SDKs actually
    do (copy Content-Type and Host verbatim), which differs from the documented form only when the
    client typed capital letters in its endpoint. A signed name missing from `headers` raises KeyError;
    the verifier turns that into a refusal.
    """
    parts = []
    for name in names:
        lname = name.lower()
        value = headers[lname]
        parts.append(f"{lname}:{_trim(value).lower() if lower_values else value}\n")
    return "".join(parts)


def tc3_canonical_request(
    *, method: str, canonical_query: str, canonical_headers: str, signed_headers: str, payload_hash: str
) -> str:
    """Join the six canonical-request parts; CanonicalURI is always `/` because the API has one path."""
    return "\n".join((method.upper(), "/", canonical_query, canonical_headers, signed_headers, payload_hash))


def tc3_string_to_sign(*, timestamp: str, date: str, service: str, canonical_request: str) -> str:
    """StringToSign (protocol §4 step 6). `timestamp` is the header text exactly as sent."""
    scope = f"{date}/{service}/{_TC3_TERMINATOR}"
    return "\n".join((TC3_ALGORITHM, timestamp, scope, sha256_hex(canonical_request.encode("utf-8"))))


# ------------------------------------------------------------------------------------- Authorization parse


@dataclass(frozen=True, slots=True)
class Tc3Authorization:
    """The parsed `Authorization` header; `signed_headers` keeps the client's text for the canonical
    request, and `signed_header_names` the split list in the client's order."""

    secret_id: str
    date: str
    service: str
    signed_headers: str
    signed_header_names: tuple[str, ...]
    signature: str


def _invalid_auth(message: str) -> AuthFailure:
    return AuthFailure(message, code="AuthFailure.InvalidAuthorization")


def parse_tc3_authorization(value: str | None) -> Tc3Authorization:
    """Parse `TC3-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`.

    Anything we cannot read unambiguously is `AuthFailure.InvalidAuthorization`, including the SDK's
    `SKIP` placeholder: this server never runs with authentication switched off inside this function.
    """
    if value is None or not value.strip():
        raise _invalid_auth("the Authorization header is missing")
    value = value.strip()
    if value == "SKIP":
        raise _invalid_auth("unsigned requests (Authorization: SKIP) are not accepted")
    algorithm, sep, rest = value.partition(" ")
    if not sep or algorithm != TC3_ALGORITHM:
        raise _invalid_auth(f"the Authorization header must start with {TC3_ALGORITHM!r}")

    items: dict[str, str] = {}
    for item in _AUTH_ITEM_SPLIT_RE.split(rest.strip()):
        key, eq, val = item.partition("=")
        key = key.strip()
        if not eq or key not in ("Credential", "SignedHeaders", "Signature") or key in items:
            raise _invalid_auth(f"unexpected item {item!r} in the Authorization header")
        items[key] = val.strip()
    missing = [k for k in ("Credential", "SignedHeaders", "Signature") if k not in items]
    if missing:
        raise _invalid_auth(f"the Authorization header lacks {', '.join(missing)}")

    scope = items["Credential"].split("/")
    if len(scope) != 4 or scope[3] != _TC3_TERMINATOR or not all(scope[:3]):
        raise _invalid_auth("Credential must be <SecretId>/<yyyy-MM-dd>/<service>/tc3_request")
    secret_id, date, service, _ = scope
    if not _DATE_RE.fullmatch(date):
        raise _invalid_auth(f"the Credential date {date!r} is not yyyy-MM-dd")

    signed = items["SignedHeaders"]
    names = tuple(signed.split(";"))
    if not all(_HEADER_NAME_RE.fullmatch(n) for n in names):
        raise _invalid_auth(f"SignedHeaders {signed!r} is not a ;-separated list of header names")
    lowered = [n.lower() for n in names]
    if len(set(lowered)) != len(lowered):
        raise _invalid_auth(f"SignedHeaders {signed!r} lists a header twice")
    for required in _REQUIRED_SIGNED_HEADERS:
        if required not in lowered:
            raise _invalid_auth(f"SignedHeaders must include {required!r}")

    signature = items["Signature"]
    if not _HEX64_RE.fullmatch(signature):
        raise _invalid_auth("Signature must be 64 hexadecimal characters")
    return Tc3Authorization(secret_id, date, service, signed, names, signature.lower())


# -------------------------------------------------------------------------------------------- shared steps


def _check_timestamp(text: str | None, name: str, now: float, max_skew: int) -> int:
    """Freshness check shared by both signature versions; applied in both directions so that a clock
    far in the future cannot mint requests that stay valid for days."""
    if text is None:
        raise MissingParameter(f"the request is missing the required parameter {name}")
    stripped = _trim(text)
    if not _TIMESTAMP_RE.fullmatch(stripped):
        raise AuthFailure(
            f"{name} must be Unix seconds as decimal text, got {text!r}", code="AuthFailure.SignatureExpire"
        )
    ts = int(stripped)
    if abs(now - ts) > max_skew:
        raise AuthFailure(
            f"signature expired: {name} {ts} differs from server time by more than {max_skew} seconds",
            code="AuthFailure.SignatureExpire",
        )
    return ts


def _lookup(secret_id: str, lookup_secret: Callable[[str], str | None]) -> str:
    secret = lookup_secret(secret_id)
    if secret is None:
        raise AuthFailure(f"SecretId {secret_id!r} does not exist", code="AuthFailure.SecretIdNotFound")
    return secret


def _signature_failure(message: str = "the request signature does not match") -> AuthFailure:
    return AuthFailure(message, code="AuthFailure.SignatureFailure")


def _equal(a: str, b: str) -> bool:
    # compare_digest on str rejects non-ASCII input; bytes keep the comparison constant-time regardless.
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


# ---------------------------------------------------------------------------------------------- verify TC3


@dataclass(frozen=True, slots=True)
class Tc3Pending:
    """What `tc3_precheck` established from the headers alone: the request is well formed, fresh and
    names a known key. Only the signature over the body is left, which needs the body."""

    auth: Tc3Authorization
    secret_key: str
    timestamp_text: str
    unsigned: bool
    lower_headers: Mapping[str, str]


def tc3_precheck(
    *,
    method: str,
    headers: Mapping[str, str],
    lookup_secret: Callable[[str], str | None],
    now: float,
    max_skew: int = _DEFAULT_MAX_SKEW,
    allow_unsigned_payload: bool = False,
) -> Tc3Pending:
    """Every TC3 check that needs no body, in protocol.md §4 order: Authorization syntax, payload
    mode, timestamp freshness, scope date, credential lookup, signed headers present.

    The front door runs this before it reads a byte of the body, so an unknown SecretId or a stale
    capture is refused at the cost of its headers (issue 11, finding 5).

    `X-TC-Content-SHA256: UNSIGNED-PAYLOAD` is refused unless `allow_unsigned_payload`: the official
    SDKs sign only `content-type;host`, so with the body unsigned too a single captured request
    authorises any action with any body for the five minutes of the timestamp window.
    """
    verb = method.upper()
    if verb not in ("GET", "POST"):
        raise UnsupportedProtocol(f"HTTP method {method!r} is not supported; use GET or POST")
    lower_headers = {k.lower(): v for k, v in headers.items()}

    auth = parse_tc3_authorization(lower_headers.get("authorization"))
    unsigned = _trim(lower_headers.get("x-tc-content-sha256", "")) == UNSIGNED_PAYLOAD
    if unsigned and not allow_unsigned_payload:
        raise _invalid_auth(
            "X-TC-Content-SHA256: UNSIGNED-PAYLOAD is refused by this server because the body would not be "
            "signed; sign the payload (the SDK default, ClientProfile.unsignedPayload=False) or start "
            "`trigflow up --allow-unsigned-payload`"
        )
    timestamp_text = lower_headers.get("x-tc-timestamp")
    ts = _check_timestamp(timestamp_text, "X-TC-Timestamp", now, max_skew)
    assert timestamp_text is not None  # _check_timestamp refuses None
    expected_date = datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d")
    if auth.date != expected_date:
        raise _signature_failure(
            f"the Credential date {auth.date} is not the UTC date {expected_date} of X-TC-Timestamp"
        )
    secret_key = _lookup(auth.secret_id, lookup_secret)

    for name in auth.signed_header_names:
        if name.lower() not in lower_headers:
            raise _signature_failure(f"signed header {name.lower()!r} is absent from the request")
    return Tc3Pending(auth, secret_key, timestamp_text, unsigned, lower_headers)


def tc3_check_signature(pending: Tc3Pending, *, method: str, raw_query: str, body: bytes) -> str:
    """The last TC3 step: recompute the signature over the body and compare; returns the SecretId."""
    verb = method.upper()
    auth, lower_headers = pending.auth, pending.lower_headers
    payload_hash = tc3_payload_hash(body, method=verb, unsigned=pending.unsigned)
    canonical_query = raw_query if verb == "GET" else ""

    # Documented form first (lower-cased, trimmed values), then the SDKs' verbatim copy; the second only
    # differs when the client typed capitals or padding, so most requests cost one HMAC chain.
    variants = [tc3_canonical_headers(auth.signed_header_names, lower_headers, lower_values=True)]
    verbatim = tc3_canonical_headers(auth.signed_header_names, lower_headers, lower_values=False)
    if verbatim != variants[0]:
        variants.append(verbatim)

    signing_key = tc3_signing_key(pending.secret_key, auth.date, auth.service)
    matched = False
    for canonical_headers in variants:
        canonical = tc3_canonical_request(
            method=verb,
            canonical_query=canonical_query,
            canonical_headers=canonical_headers,
            signed_headers=auth.signed_headers,
            payload_hash=payload_hash,
        )
        to_sign = tc3_string_to_sign(
            timestamp=pending.timestamp_text, date=auth.date, service=auth.service, canonical_request=canonical
        )
        expected = hmac.new(signing_key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
        # Evaluate every variant (no short-circuit) so timing does not reveal which one matched.
        matched |= _equal(expected, auth.signature)
    if not matched:
        raise _signature_failure()
    return auth.secret_id


def verify_tc3(
    *,
    method: str,
    raw_query: str,
    headers: Mapping[str, str],
    body: bytes,
    lookup_secret: Callable[[str], str | None],
    now: float,
    max_skew: int = _DEFAULT_MAX_SKEW,
    allow_unsigned_payload: bool = False,
) -> str:
    """Verify a TC3-HMAC-SHA256 request and return the authenticated SecretId.

    Steps and codes follow protocol.md §4 in order: Authorization syntax, timestamp freshness, scope
    date, credential lookup, signature. `headers` may be any mapping; names are matched
    case-insensitively. `raw_query` is the text after `?` exactly as received (only used for GET),
    `body` the raw bytes (only hashed for POST). The service is taken from the Credential scope
    because Java and Node derive it from the endpoint rather than using `wedata`.
    """
    pending = tc3_precheck(
        method=method,
        headers=headers,
        lookup_secret=lookup_secret,
        now=now,
        max_skew=max_skew,
        allow_unsigned_payload=allow_unsigned_payload,
    )
    return tc3_check_signature(pending, method=method, raw_query=raw_query, body=body)


# ----------------------------------------------------------------------------------------------- verify v1


def v1_string_to_sign(method: str, host: str, params: Mapping[str, str], *, sdk_key_form: bool = True) -> str:
    """`<METHOD><Host>/?k=v&...` over decoded values, keys in ascending order, `Signature` excluded.

    `sdk_key_form` replicates the Python SDK's `_format_sign_string`, which rewrites `_` to `.` in
    keys before sorting; for keys without `_` (every WeData parameter) both forms are identical.
    """
    items: dict[str, str] = {}
    for key, value in params.items():
        if key == "Signature":
            continue
        items[key.replace("_", ".") if sdk_key_form else key] = value
    joined = "&".join(f"{k}={items[k]}" for k in sorted(items))
    return f"{method.upper()}{host}/?{joined}"


def v1_signature(secret_key: str, string_to_sign: str, sign_method: str = "HmacSHA1") -> str:
    """Base64 HMAC of the v1 sign string, as `Sign.sign` in the SDK computes it."""
    try:
        digestmod = _V1_METHODS[sign_method]
    except KeyError:
        raise _invalid_auth(f"SignatureMethod {sign_method!r} is not supported; use HmacSHA1 or HmacSHA256") from None
    mac = hmac.new(secret_key.encode("utf-8"), string_to_sign.encode("utf-8"), digestmod)
    return base64.b64encode(mac.digest()).decode("ascii")


def verify_v1(
    *,
    method: str,
    host: str,
    params: Mapping[str, str],
    lookup_secret: Callable[[str], str | None],
    now: float,
    max_skew: int = _DEFAULT_MAX_SKEW,
) -> str:
    """Verify a legacy HmacSHA1/HmacSHA256 request (protocol §2.3) and return its SecretId.

    `params` are the URL-decoded form or query pairs, common parameters and `Signature` included;
    `host` is the Host header verbatim (it may carry a scheme, exactly as the SDK signed it). The
    `Nonce` is covered by the signature but not checked for replay: that needs state, which belongs
    to the caller.
    """
    verb = method.upper()
    if verb not in ("GET", "POST"):
        raise UnsupportedProtocol(f"HTTP method {method!r} is not supported; use GET or POST")
    signature = params.get("Signature")
    if not signature:
        raise _invalid_auth("the request carries neither an Authorization header nor a Signature parameter")
    secret_id = params.get("SecretId")
    if not secret_id:
        raise _invalid_auth("the SecretId parameter is missing")
    sign_method = params.get("SignatureMethod") or "HmacSHA1"
    if sign_method not in _V1_METHODS:
        raise _invalid_auth(f"SignatureMethod {sign_method!r} is not supported; use HmacSHA1 or HmacSHA256")
    _check_timestamp(params.get("Timestamp"), "Timestamp", now, max_skew)
    secret_key = _lookup(secret_id, lookup_secret)

    forms = [True]
    if any("_" in k for k in params):
        forms.append(False)
    matched = False
    for sdk_key_form in forms:
        expected = v1_signature(
            secret_key, v1_string_to_sign(verb, host, params, sdk_key_form=sdk_key_form), sign_method
        )
        matched |= _equal(expected, signature)
    if not matched:
        raise _signature_failure()
    return secret_id
