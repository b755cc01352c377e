"""Where the client finds its endpoint, key pair, project and region.

Each setting is taken from the first source that has it, in this order:

1. flags (`--endpoint`, `--project`, `--ca-bundle`);
2. the environment (`TRIGFLOW_ENDPOINT`, `TRIGFLOW_SECRET_ID` + `TRIGFLOW_SECRET_KEY`, `TRIGFLOW_PROJECT_ID`,
   `TRIGFLOW_REGION`, `TRIGFLOW_CA_BUNDLE`) — the same key variables `trigflow up` honours, so a server's
   environment works as is;
3. one profile file: a tccli profile when one is named (`--profile NAME` or `TRIGFLOW_PROFILE`: reads
   `~/.tccli/NAME.credential` and `NAME.configure`, so a WeData user's existing profiles work), otherwise
   trigflow's credentials file (`--data-dir DIR`, else `$TRIGFLOW_DATA_DIR`, else `~/.trigflow`, then
   `/client.json`, written by `trigflow up` on first start);
4. defaults: endpoint `http://127.0.0.1:8090`, region `ap-guangzhou`, and the project is looked up
   (ListProjects) when the key sees exactly one.

The SecretId and SecretKey always come from one source together: a SecretId from the environment signed
with a SecretKey from a file would fail in a way nobody could diagnose. tccli profiles are read only when
named, because a WeData user's `default` profile holds a real Tencent Cloud key for the real endpoint.
Everything here is pure except reading the files; no network.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trigflow.client.credfile import CREDENTIALS_FILE, read_json_object

DEFAULT_ENDPOINT = "http://127.0.0.1:8090"
DEFAULT_REGION = "ap-guangzhou"


class ConfigError(Exception):
    """The client cannot be configured (no key, unreadable profile, bad endpoint): exit 2."""


@dataclass(frozen=True)
class Endpoint:
    protocol: str  # "http" or "https"
    host: str  # host[:port], as the SDK's HttpProfile wants it

    @property
    def url(self) -> str:
        return f"{self.protocol}://{self.host}"


@dataclass(frozen=True)
class ClientConfig:
    endpoint: Endpoint
    secret_id: str
    secret_key: str
    project_id: str | None  # None: look it up (the key's only project)
    region: str
    key_source: str  # where the key pair came from, for error messages ("environment", a file path)
    endpoint_is_default: bool = False
    ca_bundle: str | None = None  # PEM file of CAs to trust for https (a self-signed server's certificate)


@dataclass(frozen=True)
class _Source:
    name: str
    endpoint: str | None = None
    secret_id: str | None = None
    secret_key: str | None = None
    project_id: str | None = None
    region: str | None = None
    ca_bundle: str | None = None


def parse_endpoint(text: str) -> Endpoint:
    """`http(s)://host[:port]` or a bare `host[:port]`: bare means https, except on loopback (http),
    which is how `trigflow up` serves by default."""
    raw = text.strip()
    if "://" in raw:
        scheme, rest = raw.split("://", 1)
        scheme = scheme.lower()
        if scheme not in ("http", "https"):
            raise ConfigError(f"endpoint {text!r}: the scheme must be http or https")
    else:
        scheme, rest = "", raw
    host = rest.split("/", 1)[0]
    if not host:
        raise ConfigError(f"endpoint {text!r} has no host")
    return Endpoint(scheme or ("http" if _is_loopback(host) else "https"), host)


def _is_loopback(hostport: str) -> bool:
    if hostport.startswith("["):
        host = hostport[1:].split("]", 1)[0]
    else:
        host = hostport.rsplit(":", 1)[0] if hostport.count(":") == 1 else hostport
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _env_source(env: Mapping[str, str]) -> _Source:
    sid, skey = _text(env.get("TRIGFLOW_SECRET_ID")), _text(env.get("TRIGFLOW_SECRET_KEY"))
    if bool(sid) != bool(skey):
        missing = "TRIGFLOW_SECRET_KEY" if sid else "TRIGFLOW_SECRET_ID"
        raise ConfigError(f"{missing} is not set but its partner is: set both, or neither to use a profile")
    return _Source(
        "environment",
        endpoint=_text(env.get("TRIGFLOW_ENDPOINT")),
        secret_id=sid,
        secret_key=skey,
        project_id=_text(env.get("TRIGFLOW_PROJECT_ID")),
        region=_text(env.get("TRIGFLOW_REGION")),
        ca_bundle=_text(env.get("TRIGFLOW_CA_BUNDLE")),
    )


def _load(path: Path) -> dict[str, Any]:
    try:
        return read_json_object(path)
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror or e}") from None
    except ValueError as e:
        raise ConfigError(str(e)) from None


def tccli_source(name: str, home: Path) -> _Source:
    """tccli's profile files: `NAME.credential` {"secretId", "secretKey"} and `NAME.configure`
    {"_sys_param": {"region"}, "wedata": {"endpoint"}} (older tccli kept region at the top level)."""
    base = home / ".tccli"
    cred_path, conf_path = base / f"{name}.credential", base / f"{name}.configure"
    if not cred_path.exists() and not conf_path.exists():
        raise ConfigError(f"no tccli profile {name!r} ({cred_path} and {conf_path} do not exist)")
    cred = _load(cred_path) if cred_path.exists() else {}
    conf = _load(conf_path) if conf_path.exists() else {}
    sys_param = _section(conf, "_sys_param")
    wedata = _section(conf, "wedata")
    return _Source(
        f"tccli profile {name!r} ({cred_path})",
        endpoint=_text(wedata.get("endpoint")),
        secret_id=_text(cred.get("secretId")),
        secret_key=_text(cred.get("secretKey")),
        region=_text(sys_param.get("region")) or _text(conf.get("region")),
    )


def _section(doc: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = doc.get(key)
    return value if isinstance(value, dict) else {}


def credentials_path(data_dir: str | None, env: Mapping[str, str], home: Path) -> Path:
    base = data_dir or _text(env.get("TRIGFLOW_DATA_DIR"))
    return (Path(base).expanduser() if base else home / ".trigflow") / CREDENTIALS_FILE


def trigflow_source(path: Path) -> _Source:
    doc = _load(path)
    return _Source(
        str(path),
        endpoint=_text(doc.get("endpoint")),
        secret_id=_text(doc.get("secretId")),
        secret_key=_text(doc.get("secretKey")),
        project_id=_text(doc.get("projectId")),
        region=_text(doc.get("region")),
        ca_bundle=_text(doc.get("caBundle")),
    )


def resolve(
    *,
    endpoint: str | None = None,
    project: str | None = None,
    ca_bundle: str | None = None,
    profile: str | None = None,
    data_dir: str | None = None,
    env: Mapping[str, str],
    home: Path,
) -> ClientConfig:
    """The client's settings from flags, environment and one profile file (see the module docstring)."""
    sources = [_Source("flags", endpoint=_text(endpoint), project_id=_text(project), ca_bundle=_text(ca_bundle)),
               _env_source(env)]  # fmt: skip
    profile = _text(profile) or _text(env.get("TRIGFLOW_PROFILE"))
    if profile:
        sources.append(tccli_source(profile, home))
    else:
        path = credentials_path(data_dir, env, home)
        if data_dir or path.exists():  # an explicit --data-dir without the file is an error, the default is not
            sources.append(trigflow_source(path))
    keyed = next((s for s in sources if s.secret_id and s.secret_key), None)
    if keyed is None:
        tried = ", ".join(s.name for s in sources[2:]) or f"{credentials_path(data_dir, env, home)} (absent)"
        raise ConfigError(
            "no API key: set TRIGFLOW_SECRET_ID and TRIGFLOW_SECRET_KEY, or name a tccli profile with --profile "
            f"(tried: {tried})"
        )
    assert keyed.secret_id and keyed.secret_key
    url = next((s.endpoint for s in sources if s.endpoint), None)
    return ClientConfig(
        endpoint=parse_endpoint(url or DEFAULT_ENDPOINT),
        secret_id=keyed.secret_id,
        secret_key=keyed.secret_key,
        project_id=next((s.project_id for s in sources if s.project_id), None),
        region=next((s.region for s in sources if s.region), None) or DEFAULT_REGION,
        key_source=keyed.name,
        endpoint_is_default=url is None,
        ca_bundle=next((str(Path(s.ca_bundle).expanduser()) for s in sources if s.ca_bundle), None),
    )
