"""DDL of the per-minute rollups (``contracts.rollups``): tables, the materialized views that fill them, backfill.

The views run on every insert into ``otel_traces`` (after the flattening views), so a rollup row
exists for every stored span as soon as its insert commits — the rollups never lag. Ingest retries
with the same ``insert_deduplication_token`` are deduplicated in the rollups too (the inserter sets
``deduplicate_blocks_in_dependent_materialized_views``; the tables keep a deduplication window).
The migration backfills spans stored before it from ``otel_traces`` (one ``INSERT … SELECT`` per
table, before the view exists; on a large store this is the slow step of the upgrade). The views' SELECTs are
:mod:`contracts.rollups`' (the query side aggregates raw edge minutes with the same SELECTs).
"""

from __future__ import annotations

from contracts import error_rollup, links
from contracts.rollups import DB_GROUP, DB_SELECT, QUANTILE_STATE, RED_GROUP, RED_SELECT, Db, Red

DEDUP = "non_replicated_deduplication_window = 1000"


def _ttl(minute: str, days: int) -> str:
    return f"TTL {minute} + toIntervalDay({days})" if days > 0 else ""


def red_table(days: int) -> str:
    """``CREATE TABLE IF NOT EXISTS vigil_red_1m`` keeping ``days`` days (<= 0: forever)."""
    return f"""
CREATE TABLE IF NOT EXISTS {Red.TABLE} (
    {Red.MINUTE} DateTime CODEC(Delta(4), ZSTD(1)),
    {Red.SERVICE_NAME} LowCardinality(String),
    {Red.ENVIRONMENT} LowCardinality(String),
    {Red.METHOD} LowCardinality(String),
    {Red.ROUTE} String CODEC(ZSTD(1)),
    {Red.STATUS} UInt16,
    {Red.FAILED} UInt8,
    {Red.REQUESTS} SimpleAggregateFunction(sum, UInt64),
    {Red.DURATION_SUM} SimpleAggregateFunction(sum, UInt64),
    {Red.DURATION_MAX} SimpleAggregateFunction(max, UInt64),
    {Red.QUANTILES} {QUANTILE_STATE},
    {Red.BUCKETS} SimpleAggregateFunction(sumMap, Map(UInt16, UInt64))
) ENGINE = AggregatingMergeTree()
PARTITION BY toDate({Red.MINUTE})
ORDER BY ({Red.SERVICE_NAME}, {Red.MINUTE}, {Red.ENVIRONMENT}, {Red.METHOD}, {Red.ROUTE}, {Red.STATUS}, {Red.FAILED})
{_ttl(Red.MINUTE, days)}
SETTINGS ttl_only_drop_parts = 1, {DEDUP}
"""


def db_table(days: int) -> str:
    """``CREATE TABLE IF NOT EXISTS vigil_db_1m`` keeping ``days`` days (<= 0: forever)."""
    return f"""
CREATE TABLE IF NOT EXISTS {Db.TABLE} (
    {Db.MINUTE} DateTime CODEC(Delta(4), ZSTD(1)),
    {Db.SERVICE_NAME} LowCardinality(String),
    {Db.ENVIRONMENT} LowCardinality(String),
    {Db.DB_SYSTEM} LowCardinality(String),
    {Db.DB_NAMESPACE} LowCardinality(String),
    {Db.DB_OPERATION} LowCardinality(String),
    {Db.QUERY_HASH} UInt64,
    {Db.STATEMENT} SimpleAggregateFunction(any, String) CODEC(ZSTD(3)),
    {Db.EXECUTIONS} SimpleAggregateFunction(sum, UInt64),
    {Db.ERRORS} SimpleAggregateFunction(sum, UInt64),
    {Db.DURATION_SUM} SimpleAggregateFunction(sum, UInt64),
    {Db.DURATION_MAX} SimpleAggregateFunction(max, UInt64),
    {Db.QUANTILES} {QUANTILE_STATE},
    {Db.ROWS} SimpleAggregateFunction(sum, UInt64),
    {Db.ROWS_REPORTED} SimpleAggregateFunction(sum, UInt64),
    {Db.SLOWEST} SimpleAggregateFunction(max, Tuple(UInt64, String))
) ENGINE = AggregatingMergeTree()
PARTITION BY toDate({Db.MINUTE})
ORDER BY ({Db.SERVICE_NAME}, {Db.MINUTE}, {Db.ENVIRONMENT}, {Db.DB_SYSTEM}, {Db.DB_NAMESPACE}, {Db.DB_OPERATION},
          {Db.QUERY_HASH})
{_ttl(Db.MINUTE, days)}
SETTINGS ttl_only_drop_parts = 1, {DEDUP}
"""


def _view(name: str, table: str, select: str, group: str) -> str:
    return f"CREATE MATERIALIZED VIEW IF NOT EXISTS {name} TO {table} AS {select} {group}"


def _fill(table: str, view: str, select: str, group: str) -> list[str]:
    """Empty the table, backfill every stored span, then create the view (in that order).

    Re-running after an interruption is safe because the migration runs before ingest starts: the
    table is emptied and refilled from ``otel_traces``, and the view is created last.
    """
    return [f"TRUNCATE TABLE IF EXISTS {table}", f"INSERT INTO {table} {select} {group}",
            _view(view, table, select, group)]


def red_statements(days: int) -> list[str]:
    """Migration 4: the RED rollup table, its view, and the backfill."""
    return [red_table(days), *_fill(Red.TABLE, Red.VIEW, RED_SELECT, RED_GROUP)]


def db_statements(days: int) -> list[str]:
    """Migration 5: the DB rollup table, its view, and the backfill."""
    return [db_table(days), *_fill(Db.TABLE, Db.VIEW, DB_SELECT, DB_GROUP)]


def errors_table(days: int) -> str:
    """``CREATE TABLE IF NOT EXISTS vigil_errors_1m`` keeping ``days`` days (<= 0: forever)."""
    e = error_rollup
    return f"""
CREATE TABLE IF NOT EXISTS {e.TABLE} (
    Minute DateTime CODEC(Delta(4), ZSTD(1)),
    Source LowCardinality(String),
    ServiceName LowCardinality(String),
    Environment LowCardinality(String),
    Endpoint String CODEC(ZSTD(1)),
    Type String CODEC(ZSTD(1)),
    MessageKey String CODEC(ZSTD(3)),
    StackHash UInt64,
    BodyOnly UInt8,
    Occurrences SimpleAggregateFunction(sum, UInt64),
    Message SimpleAggregateFunction(any, String) CODEC(ZSTD(3)),
    Stack SimpleAggregateFunction(any, String) CODEC(ZSTD(3)),
    LastSeen SimpleAggregateFunction(max, DateTime64(9))
) ENGINE = AggregatingMergeTree()
PARTITION BY toDate(Minute)
ORDER BY (Minute, {", ".join(e.KEY_COLUMNS[1:])})
{_ttl("Minute", days)}
SETTINGS ttl_only_drop_parts = 1, {DEDUP}
"""


def errors_statements(days: int) -> list[str]:
    """Migration 6: the error rollup table, its backfill from spans and logs, then its two views."""
    e = error_rollup
    return [errors_table(days), f"TRUNCATE TABLE IF EXISTS {e.TABLE}",
            f"INSERT INTO {e.TABLE} {e.SPANS_SELECT} {e.GROUP}", f"INSERT INTO {e.TABLE} {e.LOGS_SELECT} {e.GROUP}",
            _view(e.SPANS_VIEW, e.TABLE, e.SPANS_SELECT, e.GROUP), _view(e.LOGS_VIEW, e.TABLE, e.LOGS_SELECT, e.GROUP)]


def links_table(days: int) -> str:
    """``CREATE TABLE IF NOT EXISTS vigil_links_1m`` (:mod:`contracts.links`) keeping ``days`` days (<= 0: forever).

    A ``ReplacingMergeTree`` on the row key (the linker writes whole minutes, so a minute computed
    again replaces its rows); the newest ``Computed`` wins.
    """
    return f"""
CREATE TABLE IF NOT EXISTS {links.TABLE} (
    Minute DateTime CODEC(Delta(4), ZSTD(1)),
    Kind LowCardinality(String),
    ServiceName LowCardinality(String),
    Environment LowCardinality(String),
    Target String CODEC(ZSTD(1)),
    QueryHash UInt64,
    Statement String CODEC(ZSTD(3)),
    Calls UInt64,
    Errors UInt64,
    DurationSum UInt64,
    Quantiles {QUANTILE_STATE},
    Repeats Map(UInt32, UInt64),
    RepeatMax Tuple(UInt32, String),
    Computed DateTime DEFAULT now()
) ENGINE = ReplacingMergeTree(Computed)
PARTITION BY toDate(Minute)
ORDER BY (Kind, Minute, ServiceName, Environment, Target, QueryHash)
{_ttl("Minute", days)}
SETTINGS ttl_only_drop_parts = 1
"""
