"""Typed configuration: one flat table of settings, grouped into one section per component.

Precedence, highest first: CLI flags > environment (``VIGIL_*``) > YAML file (``--config``) > defaults.
Every setting maps to one env var, ``VIGIL_`` + its name upper-cased (``otlp_http_port`` →
``VIGIL_OTLP_HTTP_PORT``), one YAML key (the name) and one ``--flag`` (the name with dashes). Defaults,
help texts and units are defined here once; each component gets a typed section (``cfg.spool``,
``cfg.receiver``, …) and takes no defaults of its own. :func:`load` reports every problem of every
source at once in one :class:`ConfigError`.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from contracts.durations import DurationError, parse_duration_ms
from vigil.config_files import file_problems
from vigil.sections import (
    ApiConfig,
    ColumnarConfig,
    HostMetricsConfig,
    MetadataConfig,
    PartGuardConfig,
    ReceiverConfig,
    SelfTelemetryConfig,
    SpoolConfig,
)
from vigil.yamlconfig import read_config_file

MAX_RETENTION_DAYS = 3650  # ClickHouse TTL arithmetic on DateTime overflows in 2106
MIB = 1024 * 1024
MIN_HOST_METRICS_INTERVAL_S = 0.1
ROLES = ("all", "receiver", "query", "alerts")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_NUMBER = re.compile(r"^-?\d+(\.\d*)?$")
DURATION_FIELDS = frozenset({"flatten_linger_ms", "read_after_write_timeout_ms", "shutdown_timeout_s",
                             "host_metrics_interval_s", "live_snapshot_interval_s"})
DURATION_FIELDS |= {"error_scan_interval_s"}  # the error tracker's
DURATION_FIELDS |= {"links_interval_s"}  # the span linker's
DURATION_FIELDS |= {"evaluation_interval_s"}  # the alert evaluator's


class ConfigError(ValueError):
    """Configuration is invalid; ``problems`` lists each one (the message joins them)."""

    def __init__(self, problems: list[str]) -> None:
        """Build the error from every problem found."""
        super().__init__("; ".join(problems))
        self.problems = problems


def _s(default: Any, help_: str, section: str) -> Any:
    return field(default=default, metadata={"help": help_, "section": section})


@dataclass(frozen=True)
class Config:
    """Every setting, with its default and help text (see the module docstring for sources)."""

    host: str = _s("127.0.0.1", "interface every listener binds to", "server")
    port: int = _s(3001, "query API and dashboard port", "api")
    otlp_grpc_port: int = _s(4317, "OTLP/gRPC port", "receiver")
    otlp_http_port: int = _s(4318, "OTLP/HTTP port", "receiver")
    data_dir: str = _s("./vigil-data", "embedded stores: chdb/ (columnar), pg/ (PostgreSQL), spool/", "server")
    clickhouse_url: str = _s("", "columnar store: empty = embedded chDB in <data_dir>/chdb, else "
                             "http(s)://user:pass@host:8123/db", "columnar")
    clickhouse_cluster: str = _s("", "ClickHouse cluster for ON CLUSTER DDL and Replicated engines", "columnar")
    role: str = _s("all", "all | receiver (OTLP ingest + API) | query (API only)", "server")
    postgres_url: str = _s("", "metadata store: empty = embedded PostgreSQL in <data_dir>/pg", "metadata")
    retention_traces_days: int = _s(30, "days traces are kept (0 = forever)", "columnar")
    retention_logs_days: int = _s(30, "days logs are kept (0 = forever)", "columnar")
    retention_metrics_days: int = _s(90, "days metrics are kept (0 = forever)", "columnar")
    max_request_bytes: int = _s(64 * MIB, "largest OTLP request, after decompression", "receiver")
    spool_dir: str = _s("", "ingest spool directory (empty = <data_dir>/spool)", "spool")
    spool_fsync: bool = _s(True, "fsync each spool append before acknowledging", "spool")
    spool_max_bytes: int = _s(256 * MIB, "spooled-but-not-stored bytes before ingest answers 429", "spool")
    flatten_max_rows: int = _s(100_000, "largest INSERT into the columnar store, in records", "spool")
    flatten_max_bytes: int = _s(64 * MIB, "largest INSERT into the columnar store, in request bytes", "spool")
    flatten_linger_ms: int = _s(5, "idle flattener: how long a first request waits for company (ms or e.g. 5ms)",
                                "spool")
    api_auth: str = _s("off", "off | required: API bearer tokens with roles (vigil token create); always "
                       "required when host is not a loopback address", "api")
    read_after_write_timeout_ms: int = _s(5_000, "API reads wait at most this long for acknowledged data to be "
                                          "stored (ms or e.g. 5s; 0 = no wait)", "api")
    max_inflight_bytes: int = _s(256 * MIB, "accepted bytes not yet spooled before ingest answers 429", "receiver")
    part_check_free_bytes: int = _s(1024 * MIB, "check every written part while a columnar disk has less free "
                                    "space than this (0 = never)", "part_guard")
    auth_tokens: str = _s("", "ingest bearer tokens, comma-separated token or token=tenant", "receiver")
    auth_tokens_file: str = _s("", "YAML list of {token, tenant} mappings", "receiver")
    cors_allowed_origins: str = _s("", "origins allowed to POST OTLP/HTTP from browsers (comma-separated, or *)",
                                   "receiver")
    redaction_file: str = _s("", "YAML redaction rules (empty = built-in defaults)", "columnar")
    links_interval_s: float = _s(10.0, "seconds (or e.g. 10s) between span-linker rounds (service-map edges, "
                                 "calling endpoints of statements, N+1 insights: how fresh they are; longer on a "
                                 "busy store)", "columnar")
    shutdown_timeout_s: float = _s(10.0, "SIGTERM drain budget (seconds or e.g. 10s)", "server")
    log_level: str = _s("INFO", "DEBUG | INFO | WARNING | ERROR | CRITICAL", "server")
    self_telemetry: bool = _s(False, "trace Vigil's own query API and PostgreSQL calls as service.name=vigil, "
                              "sent to its own OTLP/HTTP port (or where OTEL_EXPORTER_OTLP_*ENDPOINT says)",
                              "self_telemetry")
    host_metrics: bool = _s(True, "collect this host's system.* metrics (CPU, memory, disk, network) into Vigil "
                            "(receiver roles)", "host_metrics")
    host_metrics_interval_s: float = _s(10.0, "host metrics collection interval (seconds or e.g. 30s)",
                                        "host_metrics")
    apdex_t_ms: float = _s(500.0, "Apdex threshold T of /api/metrics/api (ms): satisfied <= T, tolerating <= 4T",
                           "api")
    sla_target_percent: float = _s(99.9, "availability target of /api/metrics/api (percent of requests not "
                                   "failed)", "api")
    slow_request_ms: float = _s(1000.0, "default threshold of /api/metrics/api/slow-requests (ms)", "api")
    slow_query_ms: float = _s(100.0, "default threshold_ms of /api/metrics/database/slow-queries (ms)", "api")
    cpu_warning_percent: float = _s(80.0, "CPU busy (percent) at or above which /api/metrics/system says warning",
                                    "api")
    cpu_critical_percent: float = _s(90.0, "CPU busy (percent) at or above which /api/metrics/system says critical",
                                     "api")
    memory_warning_percent: float = _s(85.0, "memory used (percent) for warning in /api/metrics/system", "api")
    memory_critical_percent: float = _s(95.0, "memory used (percent) for critical in /api/metrics/system", "api")
    disk_warning_percent: float = _s(85.0, "fullest filesystem used (percent) for warning in /api/metrics/system",
                                     "api")
    disk_critical_percent: float = _s(95.0, "fullest filesystem used (percent) for critical in /api/metrics/system",
                                      "api")
    slow_endpoint_ms: float = _s(500.0, "an endpoint whose p95 exceeds it is a slow_endpoint insight (ms)", "api")
    n_plus_one_min: int = _s(5, "the same statement this many times under one parent span is an N+1 insight", "api")
    live_snapshot_interval_s: float = _s(5.0, "how often the /ws live feed publishes a dashboard-data snapshot "
                                         "(seconds or e.g. 5s; only while clients listen)", "live")
    error_tracker: bool = _s(True, "scan exception span events and ERROR logs into issues (/api/errors) and announce "
                             "new and regressed ones on /ws (roles all and query)", "error_tracker")
    error_scan_interval_s: float = _s(10.0, "how often the error tracker scans (seconds or e.g. 10s)", "error_tracker")
    error_spike_factor: float = _s(3.0, "/api/metrics/errors/critical: an issue spikes when its count is at least this "
                                   "times the previous window's", "api")
    error_spike_min_count: int = _s(5, "/api/metrics/errors/critical: the least count of a spike or new issue", "api")
    error_critical_types: str = _s("", "exception types that are always critical (comma-separated)", "api")
    error_critical_messages: str = _s("", "message substrings that make an error critical (comma-separated)", "api")
    error_critical_services: str = _s("", "services whose errors are always critical (comma-separated)", "api")
    rules: str = _s("", "Prometheus rule files: one file or a directory of *.yml/*.yaml, reloaded on change, on "
                    "SIGHUP and by POST /api/rules/reload ('' = no rules)", "alerts")
    evaluation_interval_s: float = _s(60.0, "rule groups' evaluation interval when a group sets none (seconds or "
                                      "e.g. 30s)", "alerts")
    external_url: str = _s("", "the URL alerts link back to ($externalURL in templates, generatorURL)", "alerts")
    alerting_config: str = _s("", "notification routing and receivers: an Alertmanager configuration file (plus "
                              "Vigil's escalation and signing keys), reloaded with the rules ('' = no "
                              "notifications)", "alerts")

    # ------------------------------------------------------------------ derived
    @property
    def data_path(self) -> Path:
        """``data_dir`` as an absolute path."""
        return Path(self.data_dir).expanduser().resolve()

    @property
    def spool_path(self) -> Path:
        """Where the ingest spool lives."""
        return Path(self.spool_dir).expanduser().resolve() if self.spool_dir else self.data_path / "spool"

    @property
    def columnar_dsn(self) -> str:
        """The columnar store's DSN (``chdb://…`` when embedded)."""
        return self.clickhouse_url or f"chdb://{self.data_path / 'chdb'}"

    @property
    def embedded_chdb_path(self) -> Path | None:
        """The embedded chDB directory, or None with a ClickHouse server."""
        dsn = self.columnar_dsn
        return Path(dsn.removeprefix("chdb://").removeprefix("chdb:")) if dsn.startswith("chdb:") else None

    # ------------------------------------------------------------------ sections
    @property
    def receiver(self) -> ReceiverConfig:
        """The OTLP receivers' section."""
        return ReceiverConfig(self.host, self.otlp_grpc_port, self.otlp_http_port, self.max_request_bytes,
                              self.max_inflight_bytes, self.auth_tokens, self.auth_tokens_file,
                              tuple(o.strip() for o in self.cors_allowed_origins.split(",") if o.strip()),
                              {"traces": self.retention_traces_days, "logs": self.retention_logs_days,
                               "metrics": self.retention_metrics_days})

    @property
    def spool(self) -> SpoolConfig:
        """The ingest spool's section."""
        return SpoolConfig(self.spool_path, self.spool_fsync, self.spool_max_bytes, self.max_inflight_bytes,
                           self.flatten_max_rows, self.flatten_max_bytes, self.flatten_linger_ms)

    @property
    def columnar(self) -> ColumnarConfig:
        """The columnar store's section."""
        return ColumnarConfig(self.columnar_dsn, self.clickhouse_cluster, self.retention_traces_days,
                              self.retention_logs_days, self.retention_metrics_days, self.redaction_file,
                              self.links_interval_s)

    @property
    def part_guard(self) -> PartGuardConfig:
        """The part guard's section."""
        return PartGuardConfig(self.part_check_free_bytes)

    @property
    def metadata(self) -> MetadataConfig:
        """The metadata store's section."""
        return MetadataConfig(self.postgres_url, self.data_path)

    @property
    def api(self) -> ApiConfig:
        """The query API's section."""
        return ApiConfig(self.host, self.port, self.read_after_write_timeout_ms / 1000, self.api_auth)

    @property
    def own_otlp_endpoint(self) -> str:
        """This process's OTLP/HTTP base URL as a local client reaches it (a wildcard bind is 127.0.0.1)."""
        return f"http://{display_host(self.host)}:{self.otlp_http_port}"

    @property
    def self_telemetry_section(self) -> SelfTelemetryConfig:
        """Vigil's traces of itself."""
        return SelfTelemetryConfig(self.own_otlp_endpoint, self.auth_tokens, self.auth_tokens_file)

    @property
    def host_metrics_section(self) -> HostMetricsConfig:
        """In-process host metrics."""
        return HostMetricsConfig(self.own_otlp_endpoint, self.host_metrics_interval_s, self.auth_tokens,
                                 self.auth_tokens_file)

    def validate(self) -> Config:
        """Return self, or raise :class:`ConfigError` listing every problem."""
        problems = _problems(self)
        if problems:
            raise ConfigError(problems)
        return self


SETTINGS = {f.name: f for f in fields(Config)}


def display_host(host: str) -> str:
    """``host`` as a URL host a client on this machine can use (a wildcard bind shows 127.0.0.1)."""
    host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    return f"[{host}]" if ":" in host else host
DEFAULTS = Config()


# (settings, the check each value must pass, the problem when it does not)
_RANGE_RULES: tuple[tuple[tuple[str, ...], Callable[[Any, Config], bool], str], ...] = (
    (("cpu_warning_percent", "cpu_critical_percent", "memory_warning_percent", "memory_critical_percent",
      "disk_warning_percent", "disk_critical_percent"), lambda v, c: 0 <= v <= 100, "{name} must be between 0 and 100"),
    (("cpu_warning_percent",), lambda v, c: v <= c.cpu_critical_percent, "{name} must be <= cpu_critical_percent"),
    (("memory_warning_percent",), lambda v, c: v <= c.memory_critical_percent,
     "{name} must be <= memory_critical_percent"),
    (("disk_warning_percent",), lambda v, c: v <= c.disk_critical_percent, "{name} must be <= disk_critical_percent"),
    (("slow_endpoint_ms",), lambda v, c: v > 0, "{name} must be > 0"),
    (("n_plus_one_min",), lambda v, c: v >= 2, "{name} must be >= 2"),
    (("port", "otlp_grpc_port", "otlp_http_port"), lambda v, c: 0 <= v <= 65535, "{name}={value}: not a TCP port"),
    (("max_request_bytes", "spool_max_bytes", "flatten_max_rows", "flatten_max_bytes", "max_inflight_bytes"),
     lambda v, c: v > 0, "{name} must be > 0"),
    (("retention_traces_days", "retention_logs_days", "retention_metrics_days"),
     lambda v, c: 0 <= v <= MAX_RETENTION_DAYS,
     "{name} must be between 0 (keep forever) and " + str(MAX_RETENTION_DAYS)),
    (("flatten_linger_ms", "read_after_write_timeout_ms", "part_check_free_bytes", "shutdown_timeout_s"),
     lambda v, c: v >= 0, "{name} must be >= 0"),
    (("host_metrics_interval_s", "live_snapshot_interval_s"), lambda v, c: v >= MIN_HOST_METRICS_INTERVAL_S,
     "{name} must be >= " + f"{MIN_HOST_METRICS_INTERVAL_S:g} (seconds)"),
    (("max_inflight_bytes", "spool_max_bytes"), lambda v, c: v >= c.max_request_bytes,
     "{name} must be >= max_request_bytes"),
    (("error_scan_interval_s", "links_interval_s"), lambda v, c: v >= MIN_HOST_METRICS_INTERVAL_S,
     "{name} must be >= 0.1 (seconds)"),
    (("evaluation_interval_s",), lambda v, c: v >= 1, "{name} must be >= 1 (seconds)"),
    (("error_spike_factor", "error_spike_min_count"), lambda v, c: v > 0, "{name} must be > 0"),
)


def _range_problems(cfg: Config) -> list[str]:
    problems = []
    for names, ok, message in _RANGE_RULES:
        for name in names:
            value = getattr(cfg, name)
            if not ok(value, cfg):
                problems.append(message.format(name=name, value=value))
    return problems


def _combination_problems(cfg: Config) -> list[str]:
    problems = []
    if cfg.role not in ROLES:
        problems.append(f"role={cfg.role!r}: use {', '.join(ROLES)}")
    if cfg.api_auth not in ("off", "required"):
        problems.append(f"api_auth={cfg.api_auth!r}: use off, required")
    if cfg.log_level.upper() not in LOG_LEVELS:
        problems.append(f"log_level={cfg.log_level!r}: use {', '.join(LOG_LEVELS)}")
    if cfg.clickhouse_cluster and not cfg.clickhouse_url:
        problems.append("clickhouse_cluster needs clickhouse_url (a ClickHouse server)")
    if cfg.clickhouse_url and not cfg.clickhouse_url.startswith(("http://", "https://", "chdb:")):
        problems.append("clickhouse_url must start with http://, https:// or chdb:")
    if cfg.role != "all" and cfg.embedded_chdb_path is not None:
        problems.append(f"role={cfg.role} runs beside other processes, but embedded chDB can be opened by one "
                        "process only: set clickhouse_url to a ClickHouse server, or use role=all")
    ports = [(name, getattr(cfg, name)) for name in ("port", "otlp_grpc_port", "otlp_http_port")]
    used = [p for _, p in ports if p]
    if len(set(used)) != len(used):
        problems.append("port, otlp_grpc_port and otlp_http_port must differ: "
                        + ", ".join(f"{n}={p}" for n, p in ports))
    return problems


def _problems(cfg: Config) -> list[str]:
    return _range_problems(cfg) + _combination_problems(cfg) + file_problems(cfg)


def coerce(name: str, raw: Any) -> Any:
    """Convert ``raw`` (from YAML, env or a flag) to setting ``name``'s type; raises ValueError saying why.

    Duration settings take a plain number in their unit (``_ms``: milliseconds, ``_s``: seconds) or a
    Prometheus duration (``500ms``, ``1h30m``).
    """
    kind = type(getattr(DEFAULTS, name))
    if kind is bool:
        return _boolean(raw)
    if name in DURATION_FIELDS and isinstance(raw, str) and not _NUMBER.match(raw.strip()):
        try:
            ms = parse_duration_ms(raw)
        except DurationError as exc:
            raise ValueError(str(exc)) from exc
        return ms / 1000 if kind is float else ms
    if kind is int:
        return _integer(raw)
    if kind is float:
        if isinstance(raw, bool):
            raise ValueError("expected a number")
        return float(raw)
    if not isinstance(raw, str | int | float) or isinstance(raw, bool):
        raise ValueError("expected text")
    return str(raw)


def _boolean(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
        raise ValueError("expected true/false")
    return text in ("1", "true", "yes", "on")


def _integer(raw: Any) -> int:
    if isinstance(raw, bool | float):
        raise ValueError("expected a whole number")
    if isinstance(raw, int):
        return raw
    text = str(raw).strip()
    try:
        return int(text)
    except ValueError:
        raise ValueError("expected a whole number") from None


def load(
    yaml_path: str | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Build a validated :class:`Config` from the YAML file, env and explicit overrides (CLI flags).

    Raises :class:`ConfigError` with every problem of every source (unknown or mistyped YAML keys
    with file:line, bad env values naming the variable, bad flags, invalid values and combinations).
    """
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    problems: list[str] = []
    if yaml_path:
        for name, (raw, where) in read_config_file(yaml_path, set(SETTINGS), problems).items():
            _take(values, problems, name, raw, f"{where}: {name}: {raw!r}")
    for name in SETTINGS:
        key = f"VIGIL_{name.upper()}"
        if env.get(key, "") != "":
            _take(values, problems, name, env[key], f"{key}: {name}={env[key]!r}")
    for name, raw in (overrides or {}).items():
        if raw is not None:
            _take(values, problems, name, raw, f"--{name.replace('_', '-')}: {name}={raw!r}")
    cfg = dataclasses.replace(DEFAULTS, **values)
    problems += _problems(cfg)
    if problems:
        raise ConfigError(problems)
    return cfg


def _take(values: dict[str, Any], problems: list[str], name: str, raw: Any, label: str) -> None:
    """Coerce one value into ``values``, or add ``"<label>: <why>"`` to ``problems``."""
    try:
        values[name] = coerce(name, raw)
    except (TypeError, ValueError) as exc:
        problems.append(f"{label}: {exc}")
