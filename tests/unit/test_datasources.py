"""Pure data-source rules: WeData's connection JSON per type, JDBC URLs, masking and the mask round trip,
the runner's connection dict, and the task-reference parsing (domain/datasources.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trigflow.domain import datasources as ds
from trigflow.domain.errors import InvalidParameterValue

KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"


def refused(source_type: str, props: dict[str, Any], field: str, path: str = "ProdConProperties") -> str:
    with pytest.raises(InvalidParameterValue) as exc:
        ds.parse_properties(json.dumps(props), source_type, path)
    assert field in exc.value.message, exc.value.message
    return exc.value.message


# --- per type ---------------------------------------------------------------------------------------------


def test_postgre_from_wedata_json() -> None:
    props = {
        "deployType": "CONNSTR_PUBLICDB",
        "url": "jdbc:postgresql://127.0.0.1:5432/test?sslmode=disable&application_name=tf",
        "username": "postgres",
        "password": "pw",
        "type": "POSTGRE",
    }
    conn = ds.to_connection("POSTGRE", ds.parse_properties(json.dumps(props), "POSTGRE", "ProdConProperties"))
    assert conn == {
        "type": "POSTGRE",
        "driver": "postgresql",
        "host": "127.0.0.1",
        "port": 5432,
        "database": "test",
        "path": None,
        "username": "postgres",
        "password": "pw",
        "private_key": None,
        "passphrase": None,
        "master": None,
        "options": {"sslmode": "disable", "application_name": "tf"},
    }


@pytest.mark.parametrize(
    ("url", "driver", "host", "port", "database"),
    [
        ("jdbc:mysql://db.example:3307/app", "mysql", "db.example", 3307, "app"),
        ("jdbc:mariadb://127.0.0.1/test", "mariadb", "127.0.0.1", 3306, "test"),
        ("jdbc:mysql://[::1]:3306/", "mysql", "::1", 3306, None),
        ("jdbc:mysql://h/%E4%B8%AD", "mysql", "h", 3306, "中"),
    ],
)
def test_mysql_urls(url: str, driver: str, host: str, port: int, database: str | None) -> None:
    conn = ds.to_connection("MYSQL", {"url": url, "username": "root"})
    assert (conn["driver"], conn["host"], conn["port"], conn["database"]) == (driver, host, port, database)
    assert conn["password"] is None  # no password: trust/socket auth (the local MariaDB's root)


@pytest.mark.parametrize(
    ("source_type", "props", "field"),
    [
        ("POSTGRE", {"username": "u"}, "ProdConProperties.url"),
        ("POSTGRE", {"url": "jdbc:mysql://h:3306/d", "username": "u"}, "ProdConProperties.url"),
        ("POSTGRE", {"url": "jdbc:postgresql://h:99999/d", "username": "u"}, "ProdConProperties.url"),
        ("POSTGRE", {"url": "jdbc:postgresql://a,b/d", "username": "u"}, "ProdConProperties.url"),
        ("POSTGRE", {"url": "postgresql://h/d", "username": "u"}, "ProdConProperties.url"),
        ("POSTGRE", {"url": "jdbc:postgresql://h/d"}, "ProdConProperties.username"),
        ("POSTGRE", {"url": "jdbc:postgresql://h/d", "username": 5}, "ProdConProperties.username"),
        ("MYSQL", {"url": "jdbc:postgresql://h/d", "username": "u"}, "ProdConProperties.url"),
        ("MYSQL", {"url": "jdbc:mysql://h/d", "username": "u", "type": "POSTGRE"}, "ProdConProperties.type"),
        ("SSH", {"username": "u", "password": "p"}, "ProdConProperties.host"),
        ("SSH", {"host": "h", "password": "p"}, "ProdConProperties.username"),
        ("SSH", {"host": "h", "username": "u"}, "password or privateKey"),
        ("SSH", {"host": "h", "username": "u", "password": "p", "port": 0}, "ProdConProperties.port"),
        ("SSH", {"host": "h", "username": "u", "privateKey": "not a key"}, "ProdConProperties.privateKey"),
        ("SSH", {"host": "h; rm -rf /", "username": "u", "password": "p"}, "ProdConProperties.host"),
        ("SPARK", {"master": "http://nope"}, "ProdConProperties.master"),
        ("SPARK", {"conf": ["x"]}, "ProdConProperties.conf"),
        ("SQLITE", {}, "ProdConProperties.path"),
        ("SQLITE", {"path": "relative.db"}, "ProdConProperties.path"),
        ("DUCKDB", {"url": "jdbc:sqlite:/x.db"}, "ProdConProperties.url"),
    ],
)
def test_each_type_refuses_naming_the_field(source_type: str, props: dict[str, Any], field: str) -> None:
    refused(source_type, props, field)


def test_dev_properties_are_named_as_such() -> None:
    refused("POSTGRE", {"url": "jdbc:postgresql://h/d"}, "DevConProperties.username", path="DevConProperties")


def test_ssh_spark_and_local_files() -> None:
    ssh = ds.to_connection("SSH", {"ip": "10.0.0.5", "port": "2222", "username": "u", "privateKey": KEY})
    assert (ssh["driver"], ssh["host"], ssh["port"], ssh["private_key"]) == ("ssh", "10.0.0.5", 2222, KEY)
    assert ds.to_connection("SSH", {"host": "h", "username": "u", "password": "p"})["port"] == 22
    spark = ds.to_connection("SPARK", {"master": "spark://m1:7077,m2:7077", "conf": {"spark.executor.cores": 2}})
    assert (spark["master"], spark["options"]) == ("spark://m1:7077,m2:7077", {"spark.executor.cores": "2"})
    assert ds.to_connection("SPARK", {})["master"] == "local[*]"
    assert ds.to_connection("SQLITE", {"path": "/tmp/a.db"})["path"] == "/tmp/a.db"
    assert ds.to_connection("DUCKDB", {"url": "jdbc:duckdb:/tmp/a.duckdb"})["path"] == "/tmp/a.duckdb"
    assert ds.to_connection("DUCKDB", {"path": ":memory:"})["driver"] == "duckdb"


def test_type_and_json_shape() -> None:
    with pytest.raises(InvalidParameterValue, match=r"^Type 'ORACLE'"):
        ds.check_type("ORACLE")
    for text in ("{", "[]", '"x"', "x" * (ds.MAX_PROPERTIES_CHARS + 1)):
        with pytest.raises(InvalidParameterValue, match=r"^ProdConProperties"):
            ds.parse_properties(text, "SPARK", "ProdConProperties")


# --- secrets ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "jdbc:postgresql://u:hunter2@h/d",
        "jdbc:postgresql://h/d?password=hunter2",
        "jdbc:mysql://h/d?user=u&PASSWORD=hunter2",
    ],
)
def test_credentials_in_the_url_are_refused_without_echo(url: str) -> None:
    source_type = "MYSQL" if "mysql" in url else "POSTGRE"
    message = refused(source_type, {"url": url, "username": "u"}, "ProdConProperties.url")
    assert "hunter2" not in message


def test_refusals_never_echo_a_value_that_may_be_a_secret() -> None:
    for props in ({"url": "jdbc:postgresql://h/d", "username": {"hunter2": 1}}, {"url": "hunter2", "username": "u"}):
        assert "hunter2" not in refused("POSTGRE", props, "ProdConProperties.")
    with pytest.raises(InvalidParameterValue) as exc:
        ds.parse_properties('{"password": "hunter2"', "POSTGRE", "ProdConProperties")
    assert "hunter2" not in exc.value.message


def test_mask_hides_every_secret_shape() -> None:
    props = {
        "url": "jdbc:postgresql://h/d",
        "username": "u",
        "password": "p1",
        "privateKey": KEY,
        "secret_key": "s",
        "nested": {"Passphrase": "x", "keep": "y"},
        "advanceParams": [{"key": "password", "value": "p2"}, {"key": "authSource", "value": "admin"}],
    }
    shown = ds.masked_text(props)
    assert shown is not None
    for secret in ("p1", KEY, '"s"', '"x"', "p2"):
        assert secret not in shown
    back = json.loads(shown)
    assert back["username"] == "u" and back["nested"]["keep"] == "y"
    assert back["advanceParams"][1] == {"key": "authSource", "value": "admin"}
    assert back["password"] == back["advanceParams"][0]["value"] == ds.MASK


secret_values = st.text(min_size=1, max_size=20).filter(lambda s: s != ds.MASK)
plain_values = st.one_of(st.text(max_size=10), st.integers(), st.booleans())
key_names = st.sampled_from(["password", "privateKey", "token", "host", "username", "db", "note"])
props_strategy = st.recursive(
    st.dictionaries(key_names, st.one_of(secret_values, plain_values), max_size=6),
    lambda inner: st.dictionaries(key_names, st.one_of(inner, secret_values), max_size=4),
    max_leaves=12,
)


@given(props_strategy)
def test_masked_round_trip_restores_the_stored_secrets(props: dict[str, Any]) -> None:
    """Get -> Update with the masked JSON unchanged stores exactly what was stored before."""
    masked = json.loads(ds.masked_text(props) or "{}")
    assert ds.restore_masked(masked, props, "ProdConProperties") == props


def test_mask_where_nothing_is_stored_is_refused() -> None:
    with pytest.raises(InvalidParameterValue, match=r"ProdConProperties\.password is the mask"):
        ds.restore_masked({"password": ds.MASK}, {}, "ProdConProperties")


def test_a_new_secret_replaces_the_stored_one() -> None:
    assert ds.restore_masked({"password": "new"}, {"password": "old"}, "P") == {"password": "new"}


# --- task references -------------------------------------------------------------------------------------


def test_service_ids_and_references() -> None:
    assert ds.service_ids(None, "p") == [] and ds.service_ids(" ", "p") == []
    assert ds.service_ids("3; 12;", "p") == [3, 12]
    with pytest.raises(InvalidParameterValue, match=r"^TriggerTaskConfiguration\.SourceServiceId"):
        ds.service_ids("3;abc", "TriggerTaskConfiguration.SourceServiceId")
    assert ds.references({"SourceServiceId": "3;12"}, 12)
    assert ds.references({"TargetServiceId": "12"}, 12)
    assert not ds.references({"SourceServiceId": "112;120"}, 12)
    assert not ds.references({"SourceServiceId": 12}, 12)


def test_no_semicolon_options_smuggle_a_password() -> None:
    """SQL Server-style `;password=` is not a PostgreSQL/MySQL URL: refused, not kept as part of the database."""
    assert "hunter2" not in refused(
        "POSTGRE", {"url": "jdbc:postgresql://h/d;password=hunter2", "username": "u"}, "url"
    )


hosts = st.one_of(
    st.from_regex(r"[a-z][a-z0-9-]{0,10}(\.[a-z][a-z0-9-]{0,10}){0,2}", fullmatch=True).filter(
        lambda h: not h.endswith("-")
    ),
    st.ip_addresses(v=4).map(str),
)
option_keys = st.from_regex(r"[a-zA-Z][a-zA-Z0-9_]{0,10}", fullmatch=True).filter(lambda k: not ds.is_secret_key(k))


@given(
    hosts,
    st.one_of(st.none(), st.integers(1, 65535)),
    st.one_of(st.none(), st.from_regex(r"[A-Za-z0-9_$-]{1,20}", fullmatch=True)),
    st.dictionaries(option_keys, st.from_regex(r"[A-Za-z0-9_.-]{0,10}", fullmatch=True), max_size=4),
    st.sampled_from([("POSTGRE", "postgresql"), ("MYSQL", "mysql"), ("MYSQL", "mariadb")]),
)
def test_jdbc_url_parts_come_back(
    host: str, port: int | None, database: str | None, options: dict[str, str], kind: tuple[str, str]
) -> None:
    source_type, driver = kind
    url = f"jdbc:{driver}://{host}" + (f":{port}" if port else "") + (f"/{database}" if database else "")
    if options:
        url += "?" + "&".join(f"{k}={v}" for k, v in options.items())
    conn = ds.to_connection(source_type, {"url": url, "username": "u"})
    expected_port = port or ds.DEFAULT_PORTS[source_type]
    assert (conn["driver"], conn["host"], conn["port"], conn["database"]) == (driver, host, expected_port, database)
    assert conn["options"] == options


def test_deep_nesting_is_refused_before_masking_recurses() -> None:
    deep = '{"a": ' + "[" * 900 + "]" * 900 + "}"
    with pytest.raises(InvalidParameterValue, match="nested deeper"):
        ds.parse_properties(deep, "SPARK", "ProdConProperties")
    ok = {"advanceParams": [{"key": "password", "value": "x"}]}
    assert (
        ds.parse_properties(json.dumps({**ok, "master": "local"}), "SPARK", "P")["advanceParams"] == ok["advanceParams"]
    )
    assert ds.to_connection("SPARK", {"conf": {"spark.ui.enabled": False}})["options"] == {"spark.ui.enabled": "false"}
