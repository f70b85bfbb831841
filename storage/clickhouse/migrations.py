"""Versioned, idempotent ClickHouse migrations and retention reconciliation.

Applied migrations are recorded in ``vigil_schema_migrations``; each statement is written to be
safe to re-run (``IF NOT EXISTS``), so an interrupted migration is simply applied again. Retention
(TTL days per signal) is not a migration: :func:`reconcile_retention` compares each table's TTL
with the configuration at every start and alters only what differs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from clickhouse_connect.driver.client import Client

from storage.clickhouse import ddl

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Retention:
    """Days to keep each signal; 0 keeps forever."""

    traces_days: int = 30
    logs_days: int = 30
    metrics_days: int = 90


METRIC_KINDS = tuple(ddl.METRIC_KINDS)


def _v1(r: Retention) -> list[str]:
    stmts = [
        ddl.traces_table(r.traces_days),
        ddl.trace_id_ts_table(r.traces_days),
        ddl.TRACE_ID_TS_MV,
        ddl.logs_table(r.logs_days),
        *(ddl.metric_table(k, r.metrics_days) for k in METRIC_KINDS),
        ddl.staging_table("traces"),
        ddl.staging_table("logs"),
        ddl.staging_table("metrics"),
        ddl.traces_mv(),
        ddl.logs_mv(),
        *(ddl.metrics_mv(k) for k in METRIC_KINDS),
    ]
    return stmts


MIGRATIONS: list[tuple[int, str, Callable[[Retention], list[str]]]] = [
    (1, "otel tables, ingest staging and flattening views", _v1),
]

LEDGER = """
CREATE TABLE IF NOT EXISTS vigil_schema_migrations (
    version UInt32, name String, applied_at DateTime DEFAULT now()
) ENGINE = MergeTree ORDER BY version
"""


def applied_versions(client: Client) -> set[int]:
    client.command(LEDGER)
    return {int(r[0]) for r in client.query("SELECT version FROM vigil_schema_migrations").result_rows}


def migrate(client: Client, retention: Retention) -> list[int]:
    """Apply pending migrations in order; return the versions applied now."""
    done = applied_versions(client)
    applied = []
    for version, name, build in MIGRATIONS:
        if version in done:
            continue
        log.info("columnar migration %s: %s", version, name)
        for stmt in build(retention):
            client.command(stmt)
        client.insert("vigil_schema_migrations", [[version, name]], column_names=["version", "name"])
        applied.append(version)
    reconcile_retention(client, retention)
    return applied


_TTL_TABLES = {
    "otel_traces": ("toDateTime(Timestamp)", "traces_days"),
    "otel_traces_trace_id_ts": ("toDateTime(Start)", "traces_days"),
    "otel_logs": ("TimestampTime", "logs_days"),
    **{f"otel_metrics_{k}": ("toDateTime(TimeUnix)", "metrics_days") for k in METRIC_KINDS},
}


def reconcile_retention(client: Client, retention: Retention) -> None:
    """Make each table's TTL match ``retention`` (no-op when it already does)."""
    rows = client.query(
        "SELECT name, create_table_query FROM system.tables WHERE database = currentDatabase()"
    ).result_rows
    current = {name: sql for name, sql in rows}
    for table, (expr, attr) in _TTL_TABLES.items():
        if table not in current:
            continue
        days = getattr(retention, attr)
        has_ttl = " TTL " in current[table]
        wanted = f"toIntervalDay({days})"
        if days > 0 and wanted not in current[table]:
            client.command(f"ALTER TABLE {table} MODIFY TTL {expr} + toIntervalDay({days})")
        elif days <= 0 and has_ttl:
            client.command(f"ALTER TABLE {table} REMOVE TTL")
