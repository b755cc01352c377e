"""Data sources, pure: the supported types, WeData's connection JSON (`ProdConProperties`), JDBC URLs,
secret masking, and the connection dict a runner gets (docs/data-sources.md).

Why pure: the same rules serve the save path (refuse bad JSON with the field named), the read path
(mask secrets), and the runners (SQL, SSH, Spark), which must get one exact dict shape without
importing the store. Nothing here logs or puts a property *value* into an error message: a value
may be a password typed into the wrong field, so refusals name the field and the rule only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypedDict
from urllib.parse import parse_qsl, unquote

from trigflow.domain.errors import InvalidParameterValue
from trigflow.domain.ssh_remote import check_host_keys, check_known_hosts

#: What every secret is replaced by in a response (WeData's console shows stars; the length is fixed so
#: it tells nothing about the secret). Sending it back in UpdateDataSource keeps the stored secret.
MASK = "******"

#: Types a data source may have. POSTGRE, MYSQL (MariaDB servers too), SSH and SPARK are WeData names;
#: SQLITE and DUCKDB are trigflow's local extensions so the embedded default can run SQL without a server.
SUPPORTED_TYPES = ("POSTGRE", "MYSQL", "SSH", "SPARK", "SQLITE", "DUCKDB")
#: The types a SQL task (and offline sync) can run statements on.
SQL_TYPES = ("POSTGRE", "MYSQL", "SQLITE", "DUCKDB")
LOCAL_EXTENSIONS = ("SQLITE", "DUCKDB")

MAX_PROPERTIES_CHARS = 64 * 1024  # a connection JSON, private key included, is a few KB
MAX_DEPTH = 16  # WeData's JSON nests two levels (advanceParams); masking recurses, so depth is bounded
DEFAULT_PORTS = {"POSTGRE": 5432, "MYSQL": 3306, "SSH": 22}
_JDBC_DRIVERS = {"POSTGRE": ("postgresql",), "MYSQL": ("mysql", "mariadb")}
_FILE_DRIVERS = {"SQLITE": "sqlite", "DUCKDB": "duckdb"}

# Key names (lower case, `_`/`-` removed) whose values are secrets, wherever they appear.
_SECRET_WORDS = ("password", "passwd", "secret", "privatekey", "passphrase", "token", "credential")
_SECRET_EXACT = frozenset({"pwd"})

_HOST = r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)"
_NET_URL = re.compile(
    r"jdbc:(?P<driver>[a-z]+)://(?P<host>" + _HOST + r")(?::(?P<port>[0-9]{1,5}))?"
    r"(?:/(?P<db>[^?#/;=]*))?(?:\?(?P<query>[^#]*))?"
)
_SPARK_MASTER = re.compile(
    r"local(?:\[(?:\*|[1-9][0-9]*)(?:,[0-9]+)?\])?"
    r"|spark://" + _HOST + r"(?::[0-9]{1,5})?(?:," + _HOST + r"(?::[0-9]{1,5})?)*"
    r"|yarn|k8s://https?://\S+|mesos://\S+"
)


class Connection(TypedDict):
    """What a runner gets to connect: every key always present, None where it does not apply.

    `type` is the data source's Type; `driver` the SQL dialect (`postgresql`, `mysql`, `mariadb`, `sqlite`,
    `duckdb`), `ssh` or `spark`; `options` the JDBC URL's query parameters (SQL) or `conf` (Spark).
    """

    type: str
    driver: str
    host: str | None
    port: int | None
    database: str | None
    path: str | None
    username: str | None
    password: str | None
    private_key: str | None
    passphrase: str | None
    master: str | None
    options: dict[str, str]


@dataclass(frozen=True)
class JdbcTarget:
    """A parsed JDBC URL: a network server (host/port/database) or a local file (path)."""

    driver: str
    host: str | None = None
    port: int | None = None
    database: str | None = None
    path: str | None = None
    options: tuple[tuple[str, str], ...] = ()


# --- types ------------------------------------------------------------------------------------------


def check_type(value: str, path: str = "Type") -> str:
    if value not in SUPPORTED_TYPES:
        shown = value[:40]
        raise InvalidParameterValue(
            f"{path} {shown!r} is not a data-source type trigflow connects to; one of {', '.join(SUPPORTED_TYPES)}"
        )
    return value


# --- secrets ----------------------------------------------------------------------------------------


def is_secret_key(name: str) -> bool:
    """Whether a property of this name holds a secret (password, private key, token...)."""
    norm = name.lower().replace("_", "").replace("-", "")
    return norm in _SECRET_EXACT or any(word in norm for word in _SECRET_WORDS)


def _pair_is_secret(item: Mapping[str, Any]) -> bool:
    """`{"key": "password", "value": ...}` (WeData's advanceParams): the value is a secret."""
    key = item.get("key")
    return isinstance(key, str) and "value" in item and is_secret_key(key)


def mask(value: Any) -> Any:
    """A copy with every secret replaced by MASK (nested objects and key/value pair lists too)."""
    if isinstance(value, Mapping):
        pair = _pair_is_secret(value)
        return {
            k: MASK if (v is not None and (is_secret_key(k) or (pair and k == "value"))) else mask(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [mask(v) for v in value]
    return value


def masked_text(props: Mapping[str, Any] | None) -> str | None:
    """The JSON text a response shows for stored properties (None stays None)."""
    return None if props is None else json.dumps(mask(props), ensure_ascii=False)


def restore_masked(new: Any, old: Any, path: str) -> Any:
    """`new` with every MASK put back to the secret stored at the same place in `old`.

    A Get -> Update round trip sends the masked JSON back; that must keep the password, not set it to
    the six stars. A MASK where nothing is stored is refused (the client meant a real secret).
    """
    if isinstance(new, Mapping):
        old_map = old if isinstance(old, Mapping) else {}
        pair = _pair_is_secret(new)
        out: dict[str, Any] = {}
        for k, v in new.items():
            if v == MASK and (is_secret_key(k) or (pair and k == "value")):
                if old_map.get(k) is None or (pair and old_map.get("key") != new.get("key")):
                    raise InvalidParameterValue(
                        f"{path}.{k} is the mask {MASK} but no secret is stored there; send the secret itself"
                    )
                out[k] = old_map[k]
            else:
                out[k] = restore_masked(v, old_map.get(k), f"{path}.{k}")
        return out
    if isinstance(new, list):
        olds = old if isinstance(old, list) else []
        by_key = {o.get("key"): o for o in olds if isinstance(o, Mapping) and isinstance(o.get("key"), str)}
        items = []
        for i, v in enumerate(new):
            match = by_key.get(v.get("key")) if isinstance(v, Mapping) and isinstance(v.get("key"), str) else None
            if match is None and i < len(olds):
                match = olds[i]
            items.append(restore_masked(v, match, f"{path}.{i}"))
        return items
    return new


# --- ProdConProperties / DevConProperties -------------------------------------------------------------


def parse_properties(text: str, source_type: str, path: str, stored: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Parse and validate WeData's connection JSON for `source_type`; refusals name `path.<key>`.

    Every MASK in it is first put back to the secret in `stored` (the properties saved before; None or
    {} for a new data source, where a MASK is refused), so a masked round trip validates as the original.
    Keys trigflow does not use (`deployType`, `region`, `vpcId`, ...) are kept and echoed, as WeData
    stores the JSON whole; only the keys a type needs are checked.
    """
    if len(text) > MAX_PROPERTIES_CHARS:
        raise InvalidParameterValue(f"{path} is longer than {MAX_PROPERTIES_CHARS} characters")
    try:
        props = json.loads(text)
    except (ValueError, RecursionError):
        # json's message quotes no input, but the position is all we say: the text may hold a password.
        raise InvalidParameterValue(
            f"{path} is not valid JSON; it is WeData's data-source JSON object, e.g. "
            '{"url": "jdbc:postgresql://host:5432/db", "username": "...", "password": "..."}'
        ) from None
    if not isinstance(props, dict):
        raise InvalidParameterValue(f"{path} must be a JSON object, not {type(props).__name__}")
    if _depth(props) > MAX_DEPTH:  # masking and restoring recurse: bound them before they run
        raise InvalidParameterValue(f"{path} is nested deeper than {MAX_DEPTH} levels")
    props = dict(restore_masked(props, stored or {}, path))
    declared = props.get("type")
    if declared is not None and declared != source_type:
        shown = str(declared)[:40]
        raise InvalidParameterValue(f"{path}.type {shown!r} differs from the data source's Type {source_type}")
    validate_properties(props, source_type, path)
    return props


def _depth(value: Any) -> int:
    """How deeply objects/arrays nest in `value`, walked without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        for child in children:
            if isinstance(child, (dict, list)):
                if level + 1 > MAX_DEPTH:
                    return level + 1
                stack.append((child, level + 1))
        deepest = max(deepest, level)
    return deepest


def validate_properties(props: Mapping[str, Any], source_type: str, path: str) -> None:
    """Raise InvalidParameterValue naming the first field `source_type` needs and `props` lacks or spoils."""
    to_connection(source_type, props, path)


def to_connection(source_type: str, props: Mapping[str, Any], path: str = "ProdConProperties") -> Connection:
    """The connection dict a runner uses, from a data source's Type and its stored (clear) properties.

    Runs the same checks as the save path, so a runner never sees a half-valid dict.
    """
    if source_type in _JDBC_DRIVERS:
        target = parse_jdbc_url(_text(props, "url", path, required=True) or "", source_type, f"{path}.url")
        return _connection(
            source_type,
            target.driver,
            host=target.host,
            port=target.port,
            database=target.database,
            options=dict(target.options),
            username=_text(props, "username", path, required=True),
            password=_text(props, "password", path),
        )
    elif source_type in _FILE_DRIVERS:
        return _connection(source_type, _FILE_DRIVERS[source_type], path=_file_path(props, source_type, path))
    if source_type == "SSH":
        host_key = "ip" if props.get("host") is None and props.get("ip") is not None else "host"  # redis JSON: `ip`
        host = _text(props, host_key, path, required=True) or ""
        if not re.fullmatch(_HOST, host):
            raise InvalidParameterValue(f"{path}.{host_key} must be a host name or an IP address")
        password = _text(props, "password", path)
        key = _text(props, "privateKey", path)
        if not password and not key:
            raise InvalidParameterValue(f"{path}: an SSH data source needs password or privateKey")
        if key is not None and "PRIVATE KEY" not in key:
            raise InvalidParameterValue(f"{path}.privateKey must be a PEM/OpenSSH private key (-----BEGIN ...)")
        return _connection(
            source_type,
            "ssh",
            host=host.strip("[]"),
            port=_port(props, path, DEFAULT_PORTS["SSH"]),
            username=_text(props, "username", path, required=True),
            password=password,
            private_key=key,
            passphrase=_text(props, "passphrase", path),
            options=_ssh_pins(props, path),
        )
    if source_type == "SPARK":
        master = _text(props, "master", path) or "local[*]"
        if not _SPARK_MASTER.fullmatch(master):
            raise InvalidParameterValue(
                f"{path}.master must be local, local[N], local[*], spark://host:port, yarn, k8s://https://... "
                "or mesos://..."
            )
        conf = props.get("conf")
        if conf is not None and (
            not isinstance(conf, dict) or not all(isinstance(v, (str, int, float, bool)) for v in conf.values())
        ):
            raise InvalidParameterValue(f"{path}.conf must be an object of Spark settings (string values)")
        options = {str(k): (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in (conf or {}).items()}
        return _connection(source_type, "spark", master=master, options=options)
    check_type(source_type)
    raise AssertionError(f"type {source_type} is supported but has no connection rule")


def _connection(
    source_type: str,
    driver: str,
    *,
    host: str | None = None,
    port: int | None = None,
    database: str | None = None,
    path: str | None = None,
    username: str | None = None,
    password: str | None = None,
    private_key: str | None = None,
    passphrase: str | None = None,
    master: str | None = None,
    options: dict[str, str] | None = None,
) -> Connection:
    return Connection(
        type=source_type,
        driver=driver,
        host=host,
        port=port,
        database=database,
        path=path,
        username=username,
        password=password,
        private_key=private_key,
        passphrase=passphrase,
        master=master,
        options=options or {},
    )


def _ssh_pins(props: Mapping[str, Any], path: str) -> dict[str, str]:
    """The host keys an SSH task checks the server against (`hostKey`: public key lines; `knownHosts`:
    known_hosts text), as `options`; refused at save when they cannot be read (domain/ssh_remote.py)."""
    pins: dict[str, str] = {}
    for key, check in (("hostKey", check_host_keys), ("knownHosts", check_known_hosts)):
        text = _text(props, key, path)
        if text is None:
            continue
        problem = check(text)
        if problem is not None:
            raise InvalidParameterValue(f"{path}.{key} {problem}")
        pins[key] = text
    return pins


def _text(props: Mapping[str, Any], key: str, path: str, *, required: bool = False) -> str | None:
    value = props.get(key)
    if value is None or value == "":
        if required:
            raise InvalidParameterValue(f"{path}.{key} is required for this data-source type")
        return None
    if not isinstance(value, str):
        raise InvalidParameterValue(f"{path}.{key} must be a string")
    if "\x00" in value:
        raise InvalidParameterValue(f"{path}.{key} must not hold NUL characters")
    return value


def _port(props: Mapping[str, Any], path: str, default: int) -> int:
    value = props.get("port")
    if value is None or value == "":
        return default
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise InvalidParameterValue(f"{path}.port must be a port number 1-65535")
    return value


def _file_path(props: Mapping[str, Any], source_type: str, path: str) -> str:
    """A local database file: `path`, or `url` as `jdbc:sqlite:/abs/file.db` / `jdbc:duckdb:/abs/file.duckdb`."""
    if props.get("path") is not None:
        file = _text(props, "path", path, required=True) or ""
        where = f"{path}.path"
    else:
        url = _text(props, "url", path)
        if url is None:
            raise InvalidParameterValue(f"{path}.path is required for a {source_type} data source (an absolute file)")
        file = parse_jdbc_url(url, source_type, f"{path}.url").path or ""
        where = f"{path}.url"
    if file != ":memory:" and not file.startswith("/"):
        raise InvalidParameterValue(f"{where} must be an absolute file path (or :memory:)")
    return file


# --- JDBC URLs --------------------------------------------------------------------------------------


def parse_jdbc_url(url: str, source_type: str, path: str) -> JdbcTarget:
    """`jdbc:postgresql://host[:port]/db[?k=v&...]`, `jdbc:mysql://` / `jdbc:mariadb://` (MYSQL),
    `jdbc:sqlite:<file>` (SQLITE), `jdbc:duckdb:<file>` (DUCKDB).

    Refused: another driver than the type's, several hosts, a port outside 1-65535, and credentials in
    the URL (`user:pass@`, `password=`): the password goes in its own key, so it can be masked.
    """
    if source_type in _FILE_DRIVERS:
        prefix = f"jdbc:{_FILE_DRIVERS[source_type]}:"
        if not url.startswith(prefix) or len(url) == len(prefix):
            raise InvalidParameterValue(f"{path} must look like {prefix}/absolute/file")
        return JdbcTarget(driver=_FILE_DRIVERS[source_type], path=url[len(prefix) :])
    drivers = _JDBC_DRIVERS.get(source_type)
    if drivers is None:
        raise InvalidParameterValue(f"{path}: a {source_type} data source has no JDBC URL")
    example = f"jdbc:{drivers[0]}://host:{DEFAULT_PORTS[source_type]}/database"
    if "@" in url.split("?", 1)[0]:
        raise InvalidParameterValue(f"{path} must not carry credentials (user@/user:password@); use username/password")
    m = _NET_URL.fullmatch(url)
    if m is None:
        raise InvalidParameterValue(f"{path} must look like {example} (one host; no spaces)")
    if m["driver"] not in drivers:
        raise InvalidParameterValue(f"{path} must start with jdbc:{drivers[0]}:// for a {source_type} data source")
    port = int(m["port"]) if m["port"] else DEFAULT_PORTS[source_type]
    if not 1 <= port <= 65535:
        raise InvalidParameterValue(f"{path}: the port must be 1-65535")
    options: list[tuple[str, str]] = []
    if m["query"]:
        try:
            options = parse_qsl(m["query"], keep_blank_values=True, strict_parsing=True, separator="&")
        except ValueError:
            raise InvalidParameterValue(f"{path}: the query must be key=value pairs joined by &") from None
        keys = [k for k, _ in options]
        if len(set(keys)) != len(keys):
            raise InvalidParameterValue(f"{path}: a query option is given twice")
        if any(is_secret_key(k) for k in keys):
            raise InvalidParameterValue(f"{path} must not carry a password option; use the password key")
    database = unquote(m["db"]) if m["db"] else None
    return JdbcTarget(driver=m["driver"], host=m["host"].strip("[]"), port=port, database=database,
                      options=tuple(options))  # fmt: skip


# --- task references --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SourceUse:
    """How a task type uses data sources, declared on the type (tasktypes/ cannot reach the database, so
    the task service checks the declaration with `service.datasources.check_uses` at save).

    `field` is the TriggerTaskConfiguration key (`SourceServiceId`, `TargetServiceId`), `allowed_types` the
    data-source types the type can run on, `required` whether the field must name one, `single` whether
    it names at most one (a SQL task runs on one connection; WeData's field allows a `;` list).
    """

    field: str
    allowed_types: tuple[str, ...]
    required: bool = True
    single: bool = True


def service_ids(value: str | None, path: str) -> list[int]:
    """The data-source ids of `SourceServiceId` / `TargetServiceId` (`;`-separated, actions.md)."""
    if value is None or not value.strip():
        return []
    out: list[int] = []
    for part in value.split(";"):
        part = part.strip()
        if not part:
            continue
        if not part.isdigit() or len(part) > 19:
            raise InvalidParameterValue(f"{path} must hold data-source ids (integers joined by `;`), got {part[:20]!r}")
        out.append(int(part))
    return out


def references(config: Mapping[str, Any], source_id: int) -> bool:
    """Whether a task configuration names data source `source_id` (as source or target); bad text never does."""
    for key in ("SourceServiceId", "TargetServiceId"):
        value = config.get(key)
        if isinstance(value, str) and str(source_id) in value:
            parts = {p.strip() for p in value.split(";")}
            if str(source_id) in parts:
                return True
    return False
