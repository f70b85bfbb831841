"""The per-minute rollup views on real chDB: every request/DB span is counted once, retries deduplicated, backfill."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from clickhouse_connect.driver.client import Client

from contracts.rollups import bucket_bounds_ns
from storage.clickhouse import rollups

NOW = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)
COLUMNS = ["Timestamp", "TraceId", "SpanId", "ParentSpanId", "SpanName", "SpanKind", "ServiceName",
           "SpanAttributes", "Duration", "StatusCode"]


def spans(svc: str) -> list[list[Any]]:
    rows = []
    for i in range(30):
        ts = NOW + timedelta(seconds=i * 4)  # two minutes
        rows.append([ts, f"t{i}", f"s{i}", "", "GET /x", "Server", svc,
                     {"http.route": "/x", "http.request.method": "GET",
                      "http.response.status_code": "500" if i % 10 == 0 else "200"}, (i + 1) * 1_000_000, "Unset"])
        rows.append([ts, f"t{i}", f"d{i}", f"s{i}", "q", "Client", svc,
                     {"db.system.name": "postgresql", "db.query.text": f"SELECT * FROM t WHERE id = {i}",
                      "db.response.returned_rows": "2"}, 1_000_000, "Unset"])
        rows.append([ts, f"t{i}", f"i{i}", f"s{i}", "work", "Internal", svc, {}, 10, "Unset"])  # neither
    return rows


def test_views_count_each_request_and_db_call(ch: Client) -> None:
    svc = f"rollup-{uuid.uuid4().hex[:6]}"
    settings = {"insert_deduplication_token": f"tok-{svc}", "deduplicate_blocks_in_dependent_materialized_views": 1}
    ch.insert("otel_traces", spans(svc), column_names=COLUMNS, settings=settings)
    ch.insert("otel_traces", spans(svc), column_names=COLUMNS, settings=settings)  # a retried insert
    red = ch.query("SELECT Minute, sum(Requests), sumIf(Requests, Failed = 1), sum(DurationSum), max(DurationMax), "
                   "sumMap(Buckets) FROM vigil_red_1m WHERE ServiceName = {s:String} GROUP BY Minute ORDER BY Minute",
                   parameters={"s": svc}).result_rows
    assert [(r[1], r[2]) for r in red] == [(15, 2), (15, 1)]
    assert sum(r[3] for r in red) == sum((i + 1) * 1_000_000 for i in range(30))
    assert red[1][4] == 30_000_000
    hist: Counter[int] = Counter()
    for r in red:
        hist.update(r[5])
    assert sum(hist.values()) == 30
    for ms in (1, 17, 30):  # every duration lies in its bucket
        b = next(b for b in hist if bucket_bounds_ns(b)[0] <= ms * 1e6 < bucket_bounds_ns(b)[1])
        assert hist[b] >= 1
    db = ch.query("SELECT any(Statement), sum(Executions), sum(Rows), sum(RowsReported), "
                  "max(Slowest).1 FROM vigil_db_1m WHERE ServiceName = {s:String}",
                  parameters={"s": svc}).result_rows
    assert db == [("SELECT * FROM t WHERE id = ?", 30, 60, 30, 1_000_000)]


def test_backfill_statements_fill_before_the_view() -> None:
    stmts = rollups.red_statements(7)
    assert stmts[0].lstrip().startswith("CREATE TABLE IF NOT EXISTS vigil_red_1m")
    assert stmts[1] == "TRUNCATE TABLE IF EXISTS vigil_red_1m"
    assert stmts[2].startswith("INSERT INTO vigil_red_1m SELECT")
    assert stmts[3].startswith("CREATE MATERIALIZED VIEW IF NOT EXISTS vigil_red_1m_mv TO vigil_red_1m")
    assert "toIntervalDay(7)" in stmts[0] and "TTL" not in rollups.db_table(0)
