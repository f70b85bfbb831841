"""Cluster DDL rewriting: ON CLUSTER and Replicated engines, unchanged without a cluster."""

from __future__ import annotations

import pytest

from storage.clickhouse import ddl
from storage.clickhouse.cluster import on_cluster
from storage.clickhouse.migrations import LEDGER, VIEWS_LEDGER, view_statements
from storage.clickhouse.redaction import Redaction


def test_no_cluster_is_identity() -> None:
    sql = ddl.traces_table(30)
    assert on_cluster(sql, "") == sql


def test_tables_become_replicated_on_cluster() -> None:
    out = on_cluster(ddl.traces_table(30), "vigil")
    assert "CREATE TABLE IF NOT EXISTS otel_traces ON CLUSTER 'vigil' (" in out
    assert "ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')" in out
    assert "ENGINE = MergeTree" not in out
    ledger = on_cluster(VIEWS_LEDGER, "vigil")
    assert "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', " in ledger
    assert "', updated_at)" in ledger
    assert "ON CLUSTER 'vigil'" in on_cluster(LEDGER, "vigil")


def test_views_staging_and_alters_get_on_cluster() -> None:
    view = on_cluster(view_statements(Redaction())["vigil_ingest_traces_mv"], "c1")
    assert view.lstrip().startswith("CREATE MATERIALIZED VIEW IF NOT EXISTS vigil_ingest_traces_mv ON CLUSTER 'c1' TO")
    staging = on_cluster(ddl.staging_table("traces"), "c1")
    assert "ON CLUSTER 'c1'" in staging and "ENGINE = Null" in staging
    alter = on_cluster("ALTER TABLE otel_logs MODIFY TTL TimestampTime + toIntervalDay(3)", "c1")
    assert alter == "ALTER TABLE otel_logs ON CLUSTER 'c1' MODIFY TTL TimestampTime + toIntervalDay(3)"


def test_hostile_cluster_name_refused() -> None:
    with pytest.raises(ValueError):
        on_cluster(LEDGER, "x' ; DROP TABLE otel_traces; --")


def test_rollup_tables_become_replicated_aggregating() -> None:
    from storage.clickhouse import rollups

    out = on_cluster(rollups.red_table(30), "vigil")
    assert "CREATE TABLE IF NOT EXISTS vigil_red_1m ON CLUSTER 'vigil' (" in out
    path = "'/clickhouse/tables/{shard}/{database}/{table}', '{replica}'"
    assert f"ENGINE = ReplicatedAggregatingMergeTree({path})" in out
    assert "ENGINE = AggregatingMergeTree" not in out
