"""Typed config sections, one per component; built from :class:`vigil.config.Config` (defaults live there).

Each component's constructor takes its section. Sizes are bytes, times as the field name says.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ReceiverConfig:
    """OTLP gRPC and HTTP receivers."""

    host: str
    grpc_port: int
    http_port: int
    max_request_bytes: int
    max_inflight_bytes: int
    auth_tokens: str
    auth_tokens_file: str
    cors_allowed_origins: tuple[str, ...]
    retention_days: dict[str, int]


@dataclass(frozen=True)
class SpoolConfig:
    """The ingest spool and its flatteners."""

    path: Path
    fsync: bool
    max_bytes: int
    max_inflight_bytes: int
    flatten_max_rows: int
    flatten_max_bytes: int
    flatten_linger_ms: int


@dataclass(frozen=True)
class ColumnarConfig:
    """The columnar store (chDB or a ClickHouse server) and its schema."""

    dsn: str
    cluster: str
    retention_traces_days: int
    retention_logs_days: int
    retention_metrics_days: int
    redaction_file: str
    links_interval_s: float = 10.0


@dataclass(frozen=True)
class PartGuardConfig:
    """The part guard (damaged parts on a filling disk)."""

    check_free_bytes: int


@dataclass(frozen=True)
class MetadataConfig:
    """Vigil's PostgreSQL state: external URL or embedded under ``data_path / 'pg'``."""

    url: str
    data_path: Path


@dataclass(frozen=True)
class ApiConfig:
    """The query API listener."""

    host: str
    port: int
    read_after_write_timeout_s: float
    auth: str = "off"  # off | required; tokens are checked anyway on a non-loopback host (query.auth)


@dataclass(frozen=True)
class SelfTelemetryConfig:
    """Vigil's traces of itself; ``endpoint`` is this process's own OTLP/HTTP base URL.

    Spans go there, with the first ingest token as bearer, unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` or
    ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` names another backend (then every ``OTEL_*`` variable applies).
    """

    endpoint: str
    auth_tokens: str
    auth_tokens_file: str


@dataclass(frozen=True)
class HostMetricsConfig:
    """In-process host metrics, sent to this process's own OTLP/HTTP ``endpoint`` every ``interval_s``."""

    endpoint: str
    interval_s: float
    auth_tokens: str
    auth_tokens_file: str
