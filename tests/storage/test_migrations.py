"""storage.clickhouse.migrations on embedded chDB: idempotent versions and retention (TTL) reconciliation."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from clickhouse_connect.driver.client import Client

from storage.clickhouse import ddl
from storage.clickhouse.migrations import (
    DEDUP_TABLES,
    DEDUP_WINDOW,
    ID_BLOCK_MAX,
    ID_COLUMNS,
    MIGRATIONS,
    TRACES_BLOCK_MAX,
    TRACES_BLOCK_MIN,
    Retention,
    applied_versions,
    migrate,
    reconcile_retention,
)
from tests.storage.conftest import SESSION_RETENTION, ChdbStore

TABLES = {
    "otel_traces": "traces_days",
    "otel_traces_trace_id_ts": "traces_days",
    "otel_logs": "logs_days",
    **{f"otel_metrics_{k}": "metrics_days" for k in ddl.METRIC_KINDS},
}


def _create_sql(ch: Client) -> dict[str, str]:
    rows = ch.query(
        "SELECT name, create_table_query FROM system.tables WHERE database = currentDatabase()"
    ).result_rows
    return {name: sql for name, sql in rows}


@pytest.fixture
def restore_retention(ch: Client) -> Iterator[None]:
    yield
    reconcile_retention(ch, SESSION_RETENTION)


def test_first_migrate_applied_every_version(chdb_store: ChdbStore, ch: Client) -> None:
    assert chdb_store.applied_first == [v for v, _, _ in MIGRATIONS]
    assert applied_versions(ch) == {v for v, _, _ in MIGRATIONS}


def test_all_tables_exist(ch: Client) -> None:
    sql = _create_sql(ch)
    expected = set(TABLES) | {"vigil_schema_migrations", "otel_traces_trace_id_ts_mv"}
    expected |= {table for table, _ in ddl.STAGING.values()}
    assert expected <= set(sql), sorted(expected - set(sql))


def test_metric_tables_merge_parts_a_minute_old(ch: Client) -> None:
    sql = _create_sql(ch)
    for kind in ddl.METRIC_KINDS:
        assert "min_age_to_force_merge_seconds = 60" in sql[f"otel_metrics_{kind}"], kind
    assert "min_age_to_force_merge_seconds" not in sql["otel_traces"]  # ingest-heavy: the selector decides


def test_second_migrate_applies_nothing(ch: Client) -> None:
    before = ch.query("SELECT count() FROM vigil_schema_migrations").result_rows[0][0]
    assert migrate(ch, SESSION_RETENTION) == []
    assert migrate(ch, SESSION_RETENTION) == []
    after = ch.query("SELECT count() FROM vigil_schema_migrations").result_rows[0][0]
    assert after == before == len(MIGRATIONS)


def test_statements_are_safe_to_rerun(ch: Client) -> None:
    """An interrupted migration is simply applied again: every statement is IF NOT EXISTS."""
    tables_before = _create_sql(ch)
    for _, _, build in MIGRATIONS:
        for stmt in build(SESSION_RETENTION):
            ch.command(stmt)
    assert _create_sql(ch) == tables_before


def test_session_retention_is_in_place(ch: Client) -> None:
    sql = _create_sql(ch)
    for table, attr in TABLES.items():
        assert f"toIntervalDay({getattr(SESSION_RETENTION, attr)})" in sql[table], table


def test_reconcile_changes_ttl(ch: Client, restore_retention: None) -> None:
    wanted = Retention(traces_days=7, logs_days=14, metrics_days=21)
    reconcile_retention(ch, wanted)
    sql = _create_sql(ch)
    for table, attr in TABLES.items():
        days = getattr(wanted, attr)
        assert "TTL " in sql[table], table
        assert f"toIntervalDay({days})" in sql[table], (table, sql[table][-200:])
    assert "toDateTime(Timestamp) + toIntervalDay(7)" in sql["otel_traces"]
    assert "TimestampTime + toIntervalDay(14)" in sql["otel_logs"]


def test_reconcile_zero_removes_ttl(ch: Client, restore_retention: None) -> None:
    reconcile_retention(ch, Retention(traces_days=0, logs_days=5, metrics_days=0))
    sql = _create_sql(ch)
    for table, attr in TABLES.items():
        if attr == "logs_days":
            assert "toIntervalDay(5)" in sql[table], table
        else:
            assert " TTL " not in sql[table], (table, sql[table][-200:])
    # and back: a TTL can be added again after removal
    reconcile_retention(ch, Retention(traces_days=3, logs_days=5, metrics_days=4))
    sql = _create_sql(ch)
    assert "toIntervalDay(3)" in sql["otel_traces"]
    assert "toIntervalDay(4)" in sql["otel_metrics_gauge"]


def test_reconcile_distinguishes_similar_day_counts(ch: Client, restore_retention: None) -> None:
    """30 days must not be taken for 3 days just because the text contains 'toIntervalDay(3'."""
    reconcile_retention(ch, Retention(traces_days=30, logs_days=30, metrics_days=30))
    reconcile_retention(ch, Retention(traces_days=3, logs_days=3, metrics_days=3))
    sql = _create_sql(ch)
    for table in TABLES:
        assert "toIntervalDay(3)" in sql[table] and "toIntervalDay(30)" not in sql[table], table


def test_migrate_reconciles_retention(ch: Client, restore_retention: None) -> None:
    assert migrate(ch, Retention(traces_days=11, logs_days=12, metrics_days=13)) == []
    sql = _create_sql(ch)
    assert "toIntervalDay(11)" in sql["otel_traces"]
    assert "toIntervalDay(12)" in sql["otel_logs"]
    assert "toIntervalDay(13)" in sql["otel_metrics_sum"]


def test_otel_tables_keep_a_deduplication_window_for_the_spool(ch: Client) -> None:
    created = _create_sql(ch)
    for table in DEDUP_TABLES:
        assert f"non_replicated_deduplication_window = {DEDUP_WINDOW}" in created[table], table


def test_traces_use_small_compression_blocks(ch: Client) -> None:
    sql = _create_sql(ch)["otel_traces"]
    assert f"max_compress_block_size = {TRACES_BLOCK_MAX}" in sql
    assert f"min_compress_block_size = {TRACES_BLOCK_MIN}" in sql
    for column in ID_COLUMNS:  # random hex ids compress far worse in small blocks: defaults kept
        settings = re.search(rf"`{column}` String CODEC\(ZSTD\(1\)\) SETTINGS \(([^)]*)\)", sql)
        assert settings is not None and f"max_compress_block_size = {ID_BLOCK_MAX}" in settings.group(1), sql
