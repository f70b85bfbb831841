"""Versioned, idempotent ClickHouse migrations and retention reconciliation.

Applied migrations are recorded in ``vigil_schema_migrations``; each statement is written to be
safe to re-run (``IF NOT EXISTS``), so an interrupted migration is simply applied again. Two things
depend on configuration and are reconciled at every start instead: retention (TTL days per signal,
:func:`reconcile_retention`) and the flattening views, whose SQL embeds the redaction rules
(:func:`sync_views`: created if missing, replaced atomically with ``ALTER TABLE … MODIFY QUERY``
when their generated SQL changed — ingest keeps flowing through the old query until the switch).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from clickhouse_connect.driver.client import Client

from contracts.signals import ALL_SIGNALS
from storage.clickhouse import ddl, rollups, views
from storage.clickhouse.cluster import on_cluster
from storage.clickhouse.redaction import Redaction

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Retention:
    """Days to keep each signal; 0 keeps forever (defaults: ``vigil.config``)."""

    traces_days: int
    logs_days: int
    metrics_days: int


METRIC_KINDS = tuple(ddl.METRIC_KINDS)


def _v1(r: Retention) -> list[str]:
    """The ``otel_*`` tables (TTL from ``r``), the trace-id lookup view and the ``Null`` staging tables."""
    stmts = [
        ddl.traces_table(r.traces_days),
        ddl.trace_id_ts_table(r.traces_days),
        ddl.TRACE_ID_TS_MV,
        ddl.logs_table(r.logs_days),
        *(ddl.metric_table(k, r.metrics_days) for k in METRIC_KINDS),
        *(ddl.staging_table(signal) for signal in ALL_SIGNALS),
    ]
    return stmts


DEDUP_WINDOW = 1000
DEDUP_TABLES = ("otel_traces", "otel_traces_trace_id_ts", "otel_logs", *(f"otel_metrics_{k}" for k in ddl.METRIC_KINDS))


def _v2(r: Retention) -> list[str]:
    """Insert deduplication on the tables the flattening views write.

    The ingest spool re-sends a chunk with the same ``insert_deduplication_token`` after a crash
    between commit and bookkeeping; the last ``DEDUP_WINDOW`` inserts per table are remembered.
    """
    setting = f"non_replicated_deduplication_window = {DEDUP_WINDOW}"
    return [f"ALTER TABLE {t} MODIFY SETTING {setting}" for t in DEDUP_TABLES]


TRACES_BLOCK_MAX, TRACES_BLOCK_MIN = 16_384, 4_096
ID_COLUMNS = ("TraceId", "SpanId", "ParentSpanId")
ID_BLOCK_MAX, ID_BLOCK_MIN = 65_536, 16_384


def _v3(r: Retention) -> list[str]:
    """Small compression blocks for ``otel_traces``.

    Fetching one trace reads a granule of every column in ~10 places; with the default 64 KiB–1 MiB
    blocks each read decompressed up to 1 MiB (24.7 MB per trace fetch on 10 M spans). 4–16 KiB
    blocks cut trace-by-id and the trace searches by ~15–35 %. The random hex id columns get
    16–64 KiB blocks: 4–16 KiB blocks cost them ~45 % more bytes (the other columns ~10 %), 64 KiB
    blocks ~5 %. Applies to new parts and to parts rewritten by merges (measured, see README).
    """
    small = f"max_compress_block_size = {TRACES_BLOCK_MAX}, min_compress_block_size = {TRACES_BLOCK_MIN}"
    big = f"max_compress_block_size = {ID_BLOCK_MAX}, min_compress_block_size = {ID_BLOCK_MIN}"
    return [f"ALTER TABLE otel_traces MODIFY SETTING {small}",
            *(f"ALTER TABLE otel_traces MODIFY COLUMN {c} MODIFY SETTING {big}" for c in ID_COLUMNS)]


METRICS_FORCE_MERGE_S = 60


def _v8() -> list[str]:
    """Merge the metric tables' parts once they are a minute old.

    ``merge_selector_base = 32`` (every table, for ingest CPU) lets small parts pile up until there are
    many; metric inserts are small and frequent (host metrics every 10 s), so the tables held ~20 parts
    of ~100 rows each, and every metric read (host utilisation, pools, PromQL, rule evaluation) paid
    ~1 ms per part: the host-utilisation read took 40 ms with 18 parts and 22 ms after merging them.
    Merging a minute's small metric parts costs little.
    """
    return [f"ALTER TABLE otel_metrics_{k} MODIFY SETTING min_age_to_force_merge_seconds = {METRICS_FORCE_MERGE_S}"
            for k in METRIC_KINDS]


MIGRATIONS: list[tuple[int, str, Callable[[Retention], list[str]]]] = [
    (1, "otel tables, ingest staging and flattening views", _v1),
    (2, "insert deduplication window for the ingest spool", _v2),
    (3, "small compression blocks for trace lookups", _v3),
    (4, "per-minute RED rollup of request spans", lambda r: rollups.red_statements(r.traces_days)),
    (5, "per-minute DB rollup per query hash", lambda r: rollups.db_statements(r.traces_days)),
    (6, "per-minute error rollup of exception events and ERROR logs",
     lambda r: rollups.errors_statements(max(r.traces_days, r.logs_days) if min(r.traces_days, r.logs_days) > 0
                                         else 0)),
    (7, "per-minute span-link rollup (filled by the linker)", lambda r: [rollups.links_table(r.traces_days)]),
    (8, "merge metric parts older than a minute", lambda r: _v8()),
]

LEDGER = """
CREATE TABLE IF NOT EXISTS vigil_schema_migrations (
    version UInt32, name String, applied_at DateTime DEFAULT now()
) ENGINE = MergeTree ORDER BY version
"""


def applied_versions(client: Client, cluster: str = "") -> set[int]:
    """Create the migration ledger if missing and return the versions recorded in it.

    Raises:
        Exception: Whatever ``client`` raises when the store refuses or is unreachable.
    """
    client.command(on_cluster(LEDGER, cluster))
    return {int(r[0]) for r in client.query("SELECT version FROM vigil_schema_migrations").result_rows}


def migrate(
    client: Client, retention: Retention, redaction: Redaction | None = None, cluster: str = ""
) -> list[int]:
    """Apply pending migrations in order, then reconcile retention and the flattening views.

    Idempotent and safe to re-run after an interruption (every statement is ``IF NOT EXISTS`` or a
    settings change; a version is recorded only after all its statements ran). Nothing serialises
    concurrent callers: run it once, at start-up, before ingest starts.

    Args:
        client: A connected client, used by this thread only for the duration of the call.
        retention: Days to keep each signal; used for new tables and reconciled on existing ones.
        redaction: The redaction rules compiled into the flattening views; None uses the defaults.
        cluster: A ClickHouse cluster name for ``ON CLUSTER`` DDL and replicated engines (see
            ``storage.clickhouse.cluster``); '' for a single node or chDB.

    Returns:
        The migration versions applied by this call, ascending ([] when up to date).

    Raises:
        Exception: Whatever ``client`` raises for a failed statement or an unreachable store
            (clickhouse-connect's ``DatabaseError``/``OperationalError``); versions recorded before
            the failure stay applied.
        ValueError: ``cluster`` is not a valid cluster name.
    """
    done = applied_versions(client, cluster)
    applied = []
    if not done:  # a new store: one line, not one per migration
        log.info("creating the columnar schema (migrations 1-%s)", MIGRATIONS[-1][0])
    for version, name, build in MIGRATIONS:
        if version in done:
            continue
        (log.debug if not done else log.info)("columnar migration %s: %s", version, name)
        for stmt in build(retention):
            client.command(on_cluster(stmt, cluster))
        client.insert("vigil_schema_migrations", [[version, name]], column_names=["version", "name"])
        applied.append(version)
    reconcile_retention(client, retention, cluster)
    sync_views(client, redaction or Redaction(), cluster)
    return applied


VIEWS_LEDGER = """
CREATE TABLE IF NOT EXISTS vigil_view_versions (
    name String, sql_hash String, updated_at DateTime DEFAULT now()
) ENGINE = ReplacingMergeTree(updated_at) ORDER BY name
"""


def view_statements(redaction: Redaction) -> dict[str, str]:
    """Name → CREATE MATERIALIZED VIEW statement of every flattening view."""
    out = {"vigil_ingest_traces_mv": views.traces_mv(redaction), "vigil_ingest_logs_mv": views.logs_mv(redaction)}
    out.update({f"vigil_ingest_metrics_{k}_mv": views.metrics_mv(k, redaction) for k in METRIC_KINDS})
    return out


def sync_views(client: Client, redaction: Redaction, cluster: str = "") -> list[str]:
    """Create missing flattening views and replace those whose SQL changed; return the names touched."""
    client.command(on_cluster(VIEWS_LEDGER, cluster))
    rows = client.query("SELECT name, argMax(sql_hash, updated_at) FROM vigil_view_versions GROUP BY name")
    known = {r[0]: r[1] for r in rows.result_rows}
    existing = {
        r[0] for r in client.query(
            "SELECT name FROM system.tables WHERE database = currentDatabase() AND engine = 'MaterializedView'"
        ).result_rows
    }
    touched = []
    for name, create in view_statements(redaction).items():
        digest = hashlib.sha256(create.encode()).hexdigest()
        if name in existing and known.get(name) == digest:
            continue
        if name in existing:
            select = create[create.index(" AS\n") + 4:]
            log.info("updating flattening view %s (redaction or schema changed)", name)
            client.command(on_cluster(f"ALTER TABLE {name} MODIFY QUERY {select}", cluster))
        else:
            client.command(on_cluster(create, cluster))
        client.insert("vigil_view_versions", [[name, digest]], column_names=["name", "sql_hash"])
        touched.append(name)
    return touched


_TTL_TABLES = {
    "otel_traces": ("toDateTime(Timestamp)", "traces_days"),
    "otel_traces_trace_id_ts": ("toDateTime(Start)", "traces_days"),
    "vigil_red_1m": ("Minute", "traces_days"),
    "vigil_db_1m": ("Minute", "traces_days"),
    "vigil_errors_1m": ("Minute", "traces_days"),
    "vigil_links_1m": ("Minute", "traces_days"),
    "otel_logs": ("TimestampTime", "logs_days"),
    **{f"otel_metrics_{k}": ("toDateTime(TimeUnix)", "metrics_days") for k in METRIC_KINDS},
}


def reconcile_retention(client: Client, retention: Retention, cluster: str = "") -> None:
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
            client.command(on_cluster(f"ALTER TABLE {table} MODIFY TTL {expr} + toIntervalDay({days})", cluster))
        elif days <= 0 and has_ttl:
            client.command(on_cluster(f"ALTER TABLE {table} REMOVE TTL", cluster))
