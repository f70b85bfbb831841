"""Typed configuration for every Vigil component.

Precedence, highest first: CLI flags > environment (``VIGIL_*``) > YAML file (``--config``) > defaults.
Every field maps to one env var: ``VIGIL_`` + the field name upper-cased (``otlp_http_port`` →
``VIGIL_OTLP_HTTP_PORT``). YAML keys are the field names. Values are validated by
:meth:`Config.validate`, which raises :class:`ConfigError` with every problem found.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

MAX_RETENTION_DAYS = 3650  # ClickHouse TTL arithmetic on DateTime overflows in 2106


class ConfigError(ValueError):
    """Configuration is invalid; the message lists each problem."""


@dataclass
class Config:
    host: str = "127.0.0.1"
    """Interface every listener binds to."""
    port: int = 3001
    """Query API (and dashboard) port."""
    otlp_grpc_port: int = 4317
    otlp_http_port: int = 4318
    data_dir: str = "./vigil-data"
    """Embedded stores live here: ``chdb/`` (columnar) and ``pg/`` (PostgreSQL)."""
    clickhouse_url: str = ""
    """Columnar DSN. Empty → ``chdb:///<data_dir>/chdb``; else ``http(s)://user:pass@host:8123/db``."""
    clickhouse_cluster: str = ""
    """ClickHouse cluster name for ``ON CLUSTER`` DDL and Replicated engines (empty = single node)."""
    role: str = "all"
    """``all`` (everything in one process), ``receiver`` (OTLP ingest; the API port serves health,
    metrics and queries too) or ``query`` (API only, no OTLP listeners and no writer)."""
    postgres_url: str = ""
    """Metadata store. Empty → embedded PostgreSQL under ``<data_dir>/pg``."""
    retention_traces_days: int = 30
    retention_logs_days: int = 30
    retention_metrics_days: int = 90
    """Retention per signal in days (0 = forever). Older records are refused in ``partial_success``."""
    max_request_bytes: int = 64 * 1024 * 1024
    """Largest accepted OTLP request body, measured after decompression."""
    spool_dir: str = ""
    """Ingest spool (acknowledged requests waiting to be stored). Empty → ``<data_dir>/spool``."""
    spool_fsync: bool = True
    """``fsync`` each spool append before acknowledging (one sync per group of concurrent requests)."""
    spool_max_bytes: int = 256 * 1024 * 1024
    """Admission control: spooled bytes not yet stored; beyond it → 429 (503 while the store fails)."""
    flatten_max_rows: int = 25_000
    """Largest INSERT the flattener sends to the columnar store, in records…"""
    flatten_max_bytes: int = 24 * 1024 * 1024
    """…and in request bytes."""
    flatten_linger_ms: int = 5
    """When the flattener is idle, how long the first new request waits for company."""
    read_after_write_timeout_ms: int = 5_000
    """Query API reads wait (at most this long) until everything acknowledged before them is stored; 0 = no
    wait (in the ``all`` role; a ``query``-only process never waits)."""
    max_inflight_bytes: int = 256 * 1024 * 1024
    """Admission control: request bytes accepted but not yet spooled; beyond it → 429/RESOURCE_EXHAUSTED."""
    part_check_free_bytes: int = 1024 * 1024 * 1024
    """While a columnar disk has less free space than this (and for a minute after), every part the store
    writes is checked: a full disk can make it commit empty parts, which are then hidden, re-sent from
    the spool or rebuilt from the parts they were merged from. 0 = never check."""
    auth_tokens: str = ""
    """Ingest bearer tokens, comma-separated ``token`` or ``token=tenant`` (empty = no ingest auth)."""
    auth_tokens_file: str = ""
    """YAML file with a list of ``{token, tenant}`` mappings (merged with ``auth_tokens``)."""
    cors_allowed_origins: str = ""
    """Comma-separated origins allowed to POST OTLP/HTTP from browsers; ``*`` for any; empty = off."""
    redaction_file: str = ""
    """YAML redaction rules (drop/hash keys, SQL literal masking, value masks, size limits); empty =
    built-in defaults (see storage/clickhouse/redaction.py and README)."""
    shutdown_timeout_s: float = 10.0
    log_level: str = "INFO"

    # ------------------------------------------------------------------ derived
    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).expanduser().resolve()

    @property
    def spool_path(self) -> Path:
        return Path(self.spool_dir).expanduser().resolve() if self.spool_dir else self.data_path / "spool"

    @property
    def columnar_dsn(self) -> str:
        return self.clickhouse_url or f"chdb://{self.data_path / 'chdb'}"

    def validate(self) -> Config:
        problems = []
        for name in ("port", "otlp_grpc_port", "otlp_http_port"):
            v = getattr(self, name)
            if not 0 <= v <= 65535:
                problems.append(f"{name}={v}: not a TCP port")
        for name in ("max_request_bytes", "spool_max_bytes", "flatten_max_rows", "flatten_max_bytes",
                     "max_inflight_bytes"):
            if getattr(self, name) <= 0:
                problems.append(f"{name} must be > 0")
        for name in ("retention_traces_days", "retention_logs_days", "retention_metrics_days"):
            if not 0 <= getattr(self, name) <= MAX_RETENTION_DAYS:
                problems.append(f"{name} must be between 0 (keep forever) and {MAX_RETENTION_DAYS}")
        if self.role not in ("all", "receiver", "query"):
            problems.append(f"role={self.role!r}: use all, receiver or query")
        if self.clickhouse_cluster and not self.clickhouse_url:
            problems.append("clickhouse_cluster needs clickhouse_url (a ClickHouse server)")
        for name in ("flatten_linger_ms", "read_after_write_timeout_ms", "part_check_free_bytes"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0")
        for name in ("max_inflight_bytes", "spool_max_bytes"):
            if getattr(self, name) < self.max_request_bytes:
                problems.append(f"{name} must be >= max_request_bytes")
        if self.clickhouse_url and not self.clickhouse_url.startswith(("http://", "https://", "chdb:")):
            problems.append("clickhouse_url must start with http://, https:// or chdb:")
        try:
            from receiver.auth import load_tokens

            load_tokens(self.auth_tokens, self.auth_tokens_file)
        except (OSError, ValueError) as exc:
            problems.append(f"ingest tokens: {exc}")
        try:
            from storage.clickhouse.redaction import load as load_redaction

            load_redaction(self.redaction_file)
        except ValueError as exc:
            problems.append(f"redaction: {exc}")
        if problems:
            raise ConfigError("; ".join(problems))
        return self


_FIELDS = {f.name: f for f in fields(Config)}


def _coerce(name: str, raw: Any) -> Any:
    kind = type(getattr(Config(), name))
    try:
        if kind is bool:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
                raise ValueError(text)
            return text in ("1", "true", "yes", "on")
        return kind(raw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name}={raw!r}: expected {kind.__name__}") from exc


def load(
    yaml_path: str | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Build a validated :class:`Config` from file, env and explicit overrides (e.g. CLI flags)."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    if yaml_path:
        try:
            data = yaml.safe_load(Path(yaml_path).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read config file {yaml_path}: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"{yaml_path}: top level must be a mapping")
        unknown = sorted(set(data) - set(_FIELDS))
        if unknown:
            raise ConfigError(f"{yaml_path}: unknown keys {unknown}")
        values.update({k: _coerce(k, v) for k, v in data.items() if v is not None})
    for name in _FIELDS:
        key = f"VIGIL_{name.upper()}"
        if key in env and env[key] != "":
            values[name] = _coerce(name, env[key])
    for name, v in (overrides or {}).items():
        if v is not None:
            values[name] = _coerce(name, v)
    return dataclasses.replace(Config(), **values).validate()
