"""Where the client takes its endpoint, key, project and region from (trigflow.client.profile):
flags > environment > one profile file > defaults, the key pair always from one source."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trigflow.client.credfile import write_credentials
from trigflow.client.profile import ConfigError, parse_endpoint, resolve

ENV_KEY = {"TRIGFLOW_SECRET_ID": "AKIDenv", "TRIGFLOW_SECRET_KEY": "envsecret"}


def server_file(home: Path, **over: str) -> Path:
    path = home / ".trigflow" / "client.json"
    doc = {"endpoint": "http://127.0.0.1:9001", "secret_id": "AKIDfile", "secret_key": "filesecret",
           "project_id": "111", **over}  # fmt: skip
    write_credentials(path, **doc)
    return path


def tccli_profile(home: Path, name: str, *, endpoint: str | None = "http://10.0.0.5:8090") -> None:
    d = home / ".tccli"
    d.mkdir(exist_ok=True)
    (d / f"{name}.credential").write_text(json.dumps({"secretId": "AKIDtccli", "secretKey": "tcclisecret"}))
    conf: dict[str, object] = {"_sys_param": {"region": "ap-shanghai", "output": "json"}}
    if endpoint:
        conf["wedata"] = {"endpoint": endpoint, "version": "2025-08-06"}
    (d / f"{name}.configure").write_text(json.dumps(conf))


def test_environment_alone_is_enough_and_defaults_fill_the_rest(tmp_path: Path) -> None:
    cfg = resolve(env={**ENV_KEY, "TRIGFLOW_ENDPOINT": "http://srv:8090"}, home=tmp_path)
    assert (cfg.endpoint.url, cfg.secret_id, cfg.secret_key) == ("http://srv:8090", "AKIDenv", "envsecret")
    assert (cfg.project_id, cfg.region, cfg.key_source) == (None, "ap-guangzhou", "environment")
    assert not cfg.endpoint_is_default
    bare = resolve(env=ENV_KEY, home=tmp_path)
    assert bare.endpoint.url == "http://127.0.0.1:8090" and bare.endpoint_is_default


def test_flags_beat_environment_which_beats_the_file(tmp_path: Path) -> None:
    server_file(tmp_path)
    env = {**ENV_KEY, "TRIGFLOW_ENDPOINT": "http://env:1", "TRIGFLOW_PROJECT_ID": "222",
           "TRIGFLOW_REGION": "ap-beijing"}  # fmt: skip
    cfg = resolve(endpoint="https://flag:2", project="333", env=env, home=tmp_path)
    assert (cfg.endpoint.url, cfg.project_id, cfg.secret_id, cfg.region) == ("https://flag:2", "333", "AKIDenv",
                                                                             "ap-beijing")  # fmt: skip
    cfg = resolve(env=env, home=tmp_path)
    assert (cfg.endpoint.url, cfg.project_id) == ("http://env:1", "222")
    cfg = resolve(env={}, home=tmp_path)  # the server's file on the same machine
    assert (cfg.endpoint.url, cfg.project_id, cfg.secret_id, cfg.secret_key) == (
        "http://127.0.0.1:9001", "111", "AKIDfile", "filesecret")  # fmt: skip
    assert cfg.key_source.endswith("client.json")


def test_the_key_pair_never_mixes_sources(tmp_path: Path) -> None:
    server_file(tmp_path)
    with pytest.raises(ConfigError, match="TRIGFLOW_SECRET_KEY is not set"):
        resolve(env={"TRIGFLOW_SECRET_ID": "AKIDenv"}, home=tmp_path)
    with pytest.raises(ConfigError, match="TRIGFLOW_SECRET_ID is not set"):
        resolve(env={"TRIGFLOW_SECRET_KEY": "s"}, home=tmp_path)
    # the environment's pair with the file's endpoint and project: settings mix, the pair does not
    cfg = resolve(env=ENV_KEY, home=tmp_path)
    assert (cfg.secret_id, cfg.secret_key, cfg.endpoint.url, cfg.project_id) == (
        "AKIDenv", "envsecret", "http://127.0.0.1:9001", "111")  # fmt: skip


def test_data_dir_and_trigflow_data_dir_locate_the_file(tmp_path: Path) -> None:
    elsewhere = tmp_path / "srv"
    write_credentials(elsewhere / "client.json", endpoint="http://h:7", secret_id="AKIDd", secret_key="k",
                      project_id="9")  # fmt: skip
    assert resolve(data_dir=str(elsewhere), env={}, home=tmp_path).secret_id == "AKIDd"
    assert resolve(env={"TRIGFLOW_DATA_DIR": str(elsewhere)}, home=tmp_path).endpoint.url == "http://h:7"
    with pytest.raises(ConfigError, match="cannot read"):  # named explicitly: its absence is an error
        resolve(data_dir=str(tmp_path / "none"), env=ENV_KEY, home=tmp_path)
    with pytest.raises(ConfigError, match="no API key"):  # the default file may be absent
        resolve(env={}, home=tmp_path)


def test_a_named_tccli_profile_replaces_the_trigflow_file(tmp_path: Path) -> None:
    server_file(tmp_path)
    tccli_profile(tmp_path, "trigflow")
    cfg = resolve(profile="trigflow", env={}, home=tmp_path)
    assert (cfg.secret_id, cfg.endpoint.url, cfg.region, cfg.project_id) == (
        "AKIDtccli", "http://10.0.0.5:8090", "ap-shanghai", None)  # fmt: skip
    assert "tccli profile 'trigflow'" in cfg.key_source
    assert resolve(env={"TRIGFLOW_PROFILE": "trigflow"}, home=tmp_path).secret_id == "AKIDtccli"
    assert resolve(profile="trigflow", env=ENV_KEY, home=tmp_path).secret_id == "AKIDenv"  # env still first
    with pytest.raises(ConfigError, match="no tccli profile 'other'"):
        resolve(profile="other", env={}, home=tmp_path)


def test_tccli_default_profile_is_never_read_unless_named(tmp_path: Path) -> None:
    tccli_profile(tmp_path, "default")  # a WeData user's real key for the real endpoint
    with pytest.raises(ConfigError, match="no API key"):
        resolve(env={}, home=tmp_path)


def test_tccli_endpoint_without_scheme_means_https(tmp_path: Path) -> None:
    tccli_profile(tmp_path, "cloud", endpoint="wedata.tencentcloudapi.com")
    assert resolve(profile="cloud", env={}, home=tmp_path).endpoint.url == "https://wedata.tencentcloudapi.com"


def test_unreadable_files_are_configuration_errors(tmp_path: Path) -> None:
    path = tmp_path / ".trigflow" / "client.json"
    path.parent.mkdir()
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="is not JSON"):
        resolve(env={}, home=tmp_path)
    path.write_text("[]")
    with pytest.raises(ConfigError, match="JSON object"):
        resolve(env={}, home=tmp_path)


@pytest.mark.parametrize(
    ("text", "url"),
    [("http://h:1", "http://h:1"), ("HTTPS://h", "https://h"), ("127.0.0.1:8090", "http://127.0.0.1:8090"),
     ("localhost:8090", "http://localhost:8090"), ("[::1]:8090", "http://[::1]:8090"), ("10.1.2.3:8090",
     "https://10.1.2.3:8090"), ("http://h:1/some/path", "http://h:1"), (" http://h:1 ", "http://h:1")],
)  # fmt: skip
def test_parse_endpoint(text: str, url: str) -> None:
    assert parse_endpoint(text).url == url


@pytest.mark.parametrize("text", ["ftp://h", "http://", ""])
def test_parse_endpoint_refusals(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_endpoint(text)


def test_credentials_file_is_owner_only_and_replaced_atomically(tmp_path: Path) -> None:
    path = server_file(tmp_path)
    assert path.stat().st_mode & 0o777 == 0o600
    server_file(tmp_path, secret_key="rotated")
    assert json.loads(path.read_text())["secretKey"] == "rotated"
    assert [p.name for p in path.parent.iterdir()] == ["client.json"]  # no temporary file left behind


def test_ca_bundle_from_flag_environment_or_file(tmp_path: Path) -> None:
    path = server_file(tmp_path)
    doc = json.loads(path.read_text())
    path.write_text(json.dumps({**doc, "caBundle": "~/ca.pem"}))
    assert resolve(env={}, home=tmp_path).ca_bundle == str(Path("~/ca.pem").expanduser())
    assert resolve(env={"TRIGFLOW_CA_BUNDLE": "/env.pem"}, home=tmp_path).ca_bundle == "/env.pem"
    flagged = resolve(ca_bundle="/flag.pem", env={"TRIGFLOW_CA_BUNDLE": "/env.pem"}, home=tmp_path)
    assert flagged.ca_bundle == "/flag.pem"
    assert resolve(env=ENV_KEY, home=tmp_path / "empty").ca_bundle is None
