"""vigil.config.load: precedence flags > env > YAML > defaults, coercion and validation errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.config import Config, ConfigError, load


def _yaml(tmp_path: Path, text: str) -> str:
    path = tmp_path / "vigil.yaml"
    path.write_text(text)
    return str(path)


def test_defaults() -> None:
    cfg = load(None, env={})
    assert cfg == Config()
    assert (cfg.port, cfg.otlp_grpc_port, cfg.otlp_http_port) == (3001, 4317, 4318)
    assert (cfg.retention_traces_days, cfg.retention_logs_days, cfg.retention_metrics_days) == (30, 30, 90)


def test_precedence_flags_over_env_over_yaml_over_defaults(tmp_path: Path) -> None:
    path = _yaml(tmp_path, "port: 4001\notlp_grpc_port: 4002\notlp_http_port: 4003\nlog_level: DEBUG\n")
    env = {"VIGIL_OTLP_GRPC_PORT": "5002", "VIGIL_OTLP_HTTP_PORT": "5003"}
    cfg = load(path, env=env, overrides={"otlp_http_port": 6003})
    assert cfg.port == 4001  # yaml over default
    assert cfg.otlp_grpc_port == 5002  # env over yaml
    assert cfg.otlp_http_port == 6003  # flag over env
    assert cfg.log_level == "DEBUG"
    assert cfg.host == Config().host  # untouched default


def test_none_override_does_not_clobber(tmp_path: Path) -> None:
    """argparse yields None for flags not given; they must not hide env or YAML values."""
    cfg = load(_yaml(tmp_path, "port: 4001\n"), env={"VIGIL_HOST": "0.0.0.0"},
               overrides={"port": None, "host": None, "data_dir": None})
    assert (cfg.port, cfg.host) == (4001, "0.0.0.0")


def test_empty_env_value_is_ignored(tmp_path: Path) -> None:
    cfg = load(_yaml(tmp_path, "port: 4001\n"), env={"VIGIL_PORT": ""})
    assert cfg.port == 4001


def test_env_is_coerced_to_field_types() -> None:
    cfg = load(None, env={"VIGIL_PORT": "8080", "VIGIL_SHUTDOWN_TIMEOUT_S": "2.5",
                          "VIGIL_CLICKHOUSE_URL": "http://u:p@ch:8123/otel", "VIGIL_RETENTION_LOGS_DAYS": "0"})
    assert cfg.port == 8080 and isinstance(cfg.port, int)
    assert cfg.shutdown_timeout_s == 2.5
    assert cfg.clickhouse_url == "http://u:p@ch:8123/otel"
    assert cfg.retention_logs_days == 0


def test_unrelated_env_is_ignored() -> None:
    assert load(None, env={"VIGIL": "x", "PORT": "1", "VIGIL_NOT_A_FIELD": "y"}) == Config()


@pytest.mark.parametrize(
    ("env", "field"),
    [
        ({"VIGIL_PORT": "abc"}, "port"),
        ({"VIGIL_PORT": "80.5"}, "port"),
        ({"VIGIL_FLATTEN_MAX_ROWS": "lots"}, "flatten_max_rows"),
        ({"VIGIL_SHUTDOWN_TIMEOUT_S": "soon"}, "shutdown_timeout_s"),
    ],
)
def test_env_coercion_errors(env: dict[str, str], field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        load(None, env=env)


def test_unknown_yaml_key(tmp_path: Path) -> None:
    path = _yaml(tmp_path, "port: 4001\nretention_days: 3\nprot: 1\n")
    with pytest.raises(ConfigError, match="unknown key") as info:
        load(path, env={})
    assert f"{path}:2: unknown key 'retention_days'" in info.value.problems[0]
    assert f"{path}:3: unknown key 'prot'" in info.value.problems[1]


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", "42\n"])
def test_yaml_top_level_must_be_a_mapping(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError, match="mapping"):
        load(_yaml(tmp_path, text), env={})


def test_empty_yaml_is_defaults(tmp_path: Path) -> None:
    assert load(_yaml(tmp_path, ""), env={}) == Config()


def test_unreadable_or_invalid_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load(str(tmp_path / "missing.yaml"), env={})
    path = _yaml(tmp_path, "port: [unclosed\n")
    with pytest.raises(ConfigError, match=f"{path}:2: expected ','"):
        load(path, env={})


def test_floats_are_refused_for_integer_settings(tmp_path: Path) -> None:
    path = _yaml(tmp_path, "port: 3001.9\n")
    with pytest.raises(ConfigError, match=f"{path}:1: port: 3001.9: expected a whole number"):
        load(path, env={})
    with pytest.raises(ConfigError, match="VIGIL_PORT"):
        load(None, env={"VIGIL_PORT": "3001.0"})


def test_durations_accept_prometheus_syntax() -> None:
    cfg = load(None, env={"VIGIL_SHUTDOWN_TIMEOUT_S": "1m30s", "VIGIL_READ_AFTER_WRITE_TIMEOUT_MS": "2s"},
               overrides={"flatten_linger_ms": "20ms"})
    assert (cfg.shutdown_timeout_s, cfg.read_after_write_timeout_ms, cfg.flatten_linger_ms) == (90.0, 2000, 20)
    with pytest.raises(ConfigError, match="flatten_linger_ms"):
        load(None, env={"VIGIL_FLATTEN_LINGER_MS": "soon"})


def test_log_level_and_role_combinations_are_validated() -> None:
    with pytest.raises(ConfigError) as info:
        load(None, env={"VIGIL_LOG_LEVEL": "LOUD", "VIGIL_ROLE": "query", "VIGIL_PORT": "4317"})
    text = str(info.value)
    assert "log_level='LOUD'" in text and "embedded chDB can be opened by one process" in text
    assert "must differ" in text
    assert load(None, env={"VIGIL_ROLE": "query", "VIGIL_CLICKHOUSE_URL": "http://ch:8123"}).role == "query"


def test_yaml_type_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="port"):
        load(_yaml(tmp_path, "port: eighty\n"), env={})


@pytest.mark.parametrize("field", ["postgres_url", "data_dir"])
def test_yaml_null_string_field_is_not_the_text_none(tmp_path: Path, field: str) -> None:
    """``postgres_url:`` with no value is YAML null; it must not become the URL (or directory) "None"."""
    try:
        cfg = load(_yaml(tmp_path, f"{field}:\n"), env={})
    except ConfigError:
        return  # refusing null is fine
    assert getattr(cfg, field) == getattr(Config(), field)


def test_invalid_values_are_all_listed() -> None:
    env = {"VIGIL_PORT": "70000", "VIGIL_OTLP_GRPC_PORT": "-1", "VIGIL_RETENTION_LOGS_DAYS": "-3",
           "VIGIL_FLATTEN_MAX_ROWS": "0"}
    with pytest.raises(ConfigError) as info:
        load(None, env=env)
    msg = str(info.value)
    for field in ("port=70000", "otlp_grpc_port", "retention_logs_days", "flatten_max_rows"):
        assert field in msg, msg


@pytest.mark.parametrize(("raw", "value"), [("1", True), ("On", True), ("false", False), ("0", False)])
def test_booleans_parse_strictly(raw: str, value: bool) -> None:
    assert load(None, env={"VIGIL_SPOOL_FSYNC": raw}).spool_fsync is value


def test_an_unreadable_boolean_is_an_error_not_false() -> None:
    with pytest.raises(ConfigError, match="spool_fsync"):
        load(None, env={"VIGIL_SPOOL_FSYNC": "maybe"})


def test_negative_retention_from_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="retention_traces_days"):
        load(_yaml(tmp_path, "retention_traces_days: -1\n"), env={})


def test_flag_values_are_validated_too() -> None:
    with pytest.raises(ConfigError, match="otlp_http_port"):
        load(None, env={}, overrides={"otlp_http_port": 65536})


def test_port_bounds_inclusive() -> None:
    cfg = load(None, env={}, overrides={"port": 65535, "otlp_grpc_port": 0})
    assert (cfg.port, cfg.otlp_grpc_port) == (65535, 0)


def test_inflight_must_cover_one_request() -> None:
    with pytest.raises(ConfigError, match="max_inflight_bytes"):
        load(None, env={"VIGIL_MAX_REQUEST_BYTES": "1000", "VIGIL_MAX_INFLIGHT_BYTES": "999"})


def test_clickhouse_url_scheme() -> None:
    with pytest.raises(ConfigError, match="clickhouse_url"):
        load(None, env={"VIGIL_CLICKHOUSE_URL": "tcp://ch:9000"})
    assert load(None, env={"VIGIL_CLICKHOUSE_URL": "chdb:///tmp/x"}).columnar_dsn == "chdb:///tmp/x"


def test_columnar_dsn_defaults_to_embedded_under_data_dir(tmp_path: Path) -> None:
    cfg = load(None, env={"VIGIL_DATA_DIR": str(tmp_path / "data")})
    assert cfg.columnar_dsn == f"chdb://{tmp_path / 'data' / 'chdb'}"
    assert cfg.data_path == (tmp_path / "data").resolve()
