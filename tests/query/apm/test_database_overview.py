"""Database overview and connection-pool stats on real chDB with hand-made spans and metric points: exact figures."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from clickhouse_connect.driver.client import Client
from litestar.testing import TestClient

from query.api import build_app
from query.apm import database_overview, database_pool
from query.apm.database_overview_models import DbBucket, PoolTiming
from query.apm.window import ApmWindow
from query.errors import BadRequest
from storage.clickhouse.client import connect
from storage.clickhouse.reader import ClickHouseReader

NOW = datetime.now(UTC).replace(microsecond=0)
T0 = datetime.fromtimestamp((int(NOW.timestamp()) - 1800) // 60 * 60, UTC)  # a bucket start, 30 min ago
B1, B2 = int(T0.timestamp()), int(T0.timestamp()) + 60
WINDOW = ApmWindow(int((NOW - timedelta(hours=1)).timestamp() * 1e9), int(NOW.timestamp() * 1e9), 60)
# shorter than query.apm.rollup.MIN_ROLLUP_S: raw spans only, exact quantiles
SHORT = ApmWindow(int(T0.timestamp() * 1e9), int((T0 + timedelta(minutes=9)).timestamp() * 1e9), 60)
SPAN_COLUMNS = ["Timestamp", "TraceId", "SpanId", "ParentSpanId", "SpanName", "SpanKind", "ServiceName",
                "ResourceAttributes", "SpanAttributes", "Duration", "StatusCode"]
ATTRS = {"system": "db.system.name", "ns": "db.namespace", "op": "db.operation.name", "stmt": "db.query.text",
         "old_system": "db.system", "old_ns": "db.name", "url": "url.full"}


def span(service: str, at_s: float, dur_ms: float, kind: str = "Client", status: str = "Unset", env: str = "prod",
         **attrs: str) -> list[Any]:
    return [T0 + timedelta(seconds=at_s), uuid.uuid4().hex, uuid.uuid4().hex[:16], "", "q", kind, service,
            {"deployment.environment.name": env}, {ATTRS[k]: v for k, v in attrs.items()}, int(dur_ms * 1e6), status]


@pytest.fixture(scope="module")
def reader(chdb_dsn: str) -> ClickHouseReader:
    return ClickHouseReader(lambda: connect(chdb_dsn))


@pytest.fixture(scope="module")
def svc(ch: Client) -> str:
    """One service's DB calls: 5 postgres (one error, two buckets), 2 redis, 1 legacy mysql, plus non-DB spans."""
    name = f"dbo-{uuid.uuid4().hex[:6]}"
    pg = {"system": "postgresql", "ns": "shop"}
    rows = [span(name, 1, 10, op="SELECT", stmt="SELECT 1", **pg),
            span(name, 2, 20, op="SELECT", stmt="SELECT 2", **pg),
            span(name, 3, 30, stmt="  insert into t values (1)", **pg),  # no operation attribute: first word
            span(name, 61, 40, status="Error", op="SELECT", stmt="SELECT 3", **pg),
            span(name, 62, 50, op="UPDATE", stmt="UPDATE t SET a = 1", **pg),
            span(name, 5, 100, system="redis", stmt="GET k"),
            span(name, 65, 300, system="redis", stmt="SET k v"),
            span(name, 6, 7, old_system="mysql", old_ns="legacy", op="SELECT"),
            span(name, 7, 999, kind="Server"),  # not a DB call
            span(name, 8, 999, url="http://x"),  # a client call without a DB system
            span(name, 9, 999, kind="Server", **pg),  # a DB system on a server span: not a call
            span(name, 10, 5, env="staging", op="DELETE", **pg)]  # other environment
    ch.insert("otel_traces", rows, column_names=SPAN_COLUMNS)
    return name


def test_totals_per_database_and_operations(reader: ClickHouseReader, svc: str) -> None:
    got = database_overview.database_overview(reader, WINDOW, service=svc, environment="prod")
    t = got.totals
    assert (t.executions, t.errors) == (8, 1)
    assert t.error_rate == pytest.approx(1 / 8)
    assert t.per_s == pytest.approx(8 / 3600)
    assert t.avg_ms == pytest.approx((10 + 20 + 30 + 40 + 50 + 100 + 300 + 7) / 8)
    assert [(d.db_system, d.db_namespace, d.figures.executions) for d in got.databases] == [
        ("postgresql", "shop", 5), ("redis", "", 2), ("mysql", "legacy", 1)]
    pg = got.databases[0].figures
    # the hour reads the rollup: t-digest percentiles, which are sample values for a group this small
    assert (pg.p50_ms, pg.p90_ms, pg.p95_ms, pg.p99_ms) == (30, 50, 50, 50)
    short = database_overview.database_overview(reader, SHORT, service=svc, environment="prod").databases[0].figures
    # a short window reads raw spans: ClickHouse quantiles interpolate linearly between the sorted durations 10..50
    assert (short.p50_ms, short.p90_ms, short.p95_ms, short.p99_ms) == pytest.approx((30, 46, 48, 49.6))
    assert (short.executions, short.avg_ms) == (pg.executions, pg.avg_ms)
    assert pg.errors == 1
    assert (pg.avg_ms, pg.error_rate) == pytest.approx((30.0, 0.2))
    assert [(o.operation, o.db_system, o.executions, o.errors) for o in got.top_operations] == [
        ("SELECT", "postgresql", 3, 1), ("GET", "redis", 1, 0), ("INSERT", "postgresql", 1, 0),
        ("SELECT", "mysql", 1, 0), ("SET", "redis", 1, 0), ("UPDATE", "postgresql", 1, 0)]
    top2 = database_overview.database_overview(reader, WINDOW, service=svc, environment="prod", limit=2)
    assert [(o.operation, o.executions) for o in top2.top_operations] == [("SELECT", 3), ("GET", 1)]


def test_without_series_the_same_figures_and_nothing_else(reader: ClickHouseReader, svc: str) -> None:
    full = database_overview.database_overview(reader, WINDOW, service=svc, environment="prod")
    lean = database_overview.database_overview(reader, WINDOW, service=svc, environment="prod", series=False)
    assert lean.totals == full.totals
    assert [(d.db_system, d.db_namespace, d.figures) for d in lean.databases] == [
        (d.db_system, d.db_namespace, d.figures) for d in full.databases]
    assert lean.series == [] and lean.top_operations == [] and all(d.series == [] for d in lean.databases)


def test_series_are_per_bucket_and_zero_filled(reader: ClickHouseReader, svc: str) -> None:
    got = database_overview.database_overview(reader, SHORT, service=svc, environment="prod")
    assert [b.t for b in got.series] == SHORT.bucket_starts_s()
    busy = {b.t: b for b in got.series if b.executions}
    assert msgspec.structs.astuple(busy[B1]) == (B1, 5, 0, pytest.approx(86.0))  # 7,10,20,30,100
    assert msgspec.structs.astuple(busy[B2]) == (B2, 3, 1, pytest.approx(275.0))  # 40,50,300
    assert set(busy) == {B1, B2}
    assert all(b == DbBucket(t=b.t, executions=0, errors=0, p95_ms=0.0) for b in got.series if b.t not in busy)
    pg = {b.t: (b.executions, b.errors) for b in got.databases[0].series if b.executions}
    assert pg == {B1: (3, 0), B2: (2, 1)}
    redis = {b.t: b.p95_ms for b in got.databases[1].series if b.executions}
    assert redis == {B1: 100.0, B2: 300.0}


def test_filters_and_an_empty_window(reader: ClickHouseReader, svc: str) -> None:
    every = database_overview.database_overview(reader, WINDOW, service=svc)
    assert every.totals.executions == 9  # the staging call too
    staging = database_overview.database_overview(reader, WINDOW, service=svc, environment="staging")
    assert [(o.operation, o.executions) for o in staging.top_operations] == [("DELETE", 1)]
    none = database_overview.database_overview(reader, WINDOW, service=f"{svc}-nobody")
    assert (none.totals.executions, none.totals.p95_ms, none.totals.avg_ms, none.databases) == (0, 0.0, 0.0, [])
    with pytest.raises(BadRequest, match="limit"):
        database_overview.database_overview(reader, WINDOW, limit=0)


SUM_COLUMNS = ["ResourceAttributes", "ServiceName", "MetricName", "MetricUnit", "Attributes", "StartTimeUnix",
               "TimeUnix", "Value", "AggregationTemporality", "IsMonotonic"]
HIST_COLUMNS = ["ResourceAttributes", "ServiceName", "MetricName", "MetricUnit", "Attributes", "StartTimeUnix",
                "TimeUnix", "Count", "Sum", "BucketCounts", "ExplicitBounds", "AggregationTemporality"]
BEFORE = T0 - timedelta(days=1)  # a series started before the window
INSIDE = T0 - timedelta(seconds=5)  # a series started inside the window
RES = {"service.instance.id": "i1"}


def value(service: str, name: str, at_s: float, v: float, attrs: dict[str, str], start: datetime = BEFORE,
          unit: str = "{connection}", monotonic: bool = False) -> list[Any]:
    return [RES, service, name, unit, attrs, start, T0 + timedelta(seconds=at_s), v, 2, monotonic]


def hist(service: str, name: str, at_s: float, count: int, total: float, buckets: list[int], bounds: list[float],
         attrs: dict[str, str], unit: str, start: datetime = INSIDE, temporality: int = 2) -> list[Any]:
    return [RES, service, name, unit, attrs, start, T0 + timedelta(seconds=at_s), count, total, buckets, bounds,
            temporality]


@pytest.fixture(scope="module")
def pools(ch: Client) -> str:
    """Service ``<p>-api`` with a stable-named pool, service ``<p>-old`` with the older names."""
    p = f"pool-{uuid.uuid4().hex[:6]}"
    api, old = f"{p}-api", f"{p}-old"
    a = {"db.client.connection.pool.name": "api-db"}
    c = "db.client.connection."
    sums = []
    for t, idle, used, pending in [(0, 3, 1, 0), (30, 1, 3, 0), (60, 0, 4, 2)]:
        sums += [value(api, c + "count", t, idle, {**a, "db.client.connection.state": "idle"}),
                 value(api, c + "count", t, used, {**a, "db.client.connection.state": "used"}),
                 value(api, c + "max", t, 4, a), value(api, c + "idle.min", t, 1, a),
                 value(api, c + "pending_requests", t, pending, a, unit="{request}")]
    sums += [value(api, "db.client.connections.max", 60, 99, a),  # the older name: the stable one wins
             value(api, c + "count", -7200, 50, {**a, "db.client.connection.state": "used"}),  # outside the window
             *(value(api, c + "timeouts", t, v, a, INSIDE, "{timeout}", True) for t, v in [(0, 0), (30, 2), (90, 5)])]
    o = {"pool.name": "old-pool"}
    legacy = "db.client.connections."
    sums += [value(old, legacy + "usage", 10, 6, {**o, "state": "idle"}),
             value(old, legacy + "usage", 10, 2, {**o, "state": "used"}),
             value(old, legacy + "max", 10, 10, o), value(old, legacy + "idle.max", 10, 8, o),
             *(value(old, legacy + "timeouts", t, v, o, monotonic=True) for t, v in [(0, 10), (70, 12)])]
    ch.insert("otel_metrics_sum", sums, column_names=SUM_COLUMNS)
    bounds = [0.001, 0.01, 0.1]
    ch.insert("otel_metrics_histogram", [
        hist(api, c + "wait_time", 0, 2, 0.006, [0, 2, 0, 0], bounds, a, "s"),
        hist(api, c + "wait_time", 60, 10, 0.1, [0, 6, 4, 0], bounds, a, "s"),
        # the same attributes as wait_time: a series of its own all the same
        *(hist(api, c + "use_time", t, n, total, b, bounds, a, "s") for t, n, total, b in [
            (1, 1, 0.05, [0, 0, 1, 0]), (61, 3, 0.35, [0, 0, 2, 1])]),
        hist(old, legacy + "use_time", 20, 4, 40.0, [1, 3, 0], [5.0, 50.0], o, "ms", temporality=1),
    ], column_names=HIST_COLUMNS)
    return p


def _timing(t: PoolTiming | None) -> tuple[Any, ...]:
    assert t is not None
    return msgspec.structs.astuple(t)


def test_stable_pool_latest_values_timings_and_series(reader: ClickHouseReader, pools: str) -> None:
    got = database_pool.connection_stats(reader, WINDOW, service=f"{pools}-api")
    (api,) = got.pools
    assert (api.service, api.pool, api.idle, api.used, api.max, api.idle_min, api.idle_max) == (
        f"{pools}-api", "api-db", 0, 4, 4, 1, None)
    assert (api.pending_requests, api.usage, api.timeouts) == (2, 1.0, 5)
    # increases 2 + 8 in buckets (0.001, 0.01] ×6 and (0.01, 0.1] ×4: rank 9.5 → 0.01 + 0.09 × 3.5/4 s
    assert _timing(api.wait_time) == (10, pytest.approx(10.0), pytest.approx(88.75))
    # use_time: (0.01, 0.1] ×2, (0.1, inf) ×1: rank 2.85 is in the open bucket → its finite bound
    assert _timing(api.use_time) == (3, pytest.approx(350 / 3), pytest.approx(100.0))
    assert [b.t for b in api.series] == WINDOW.bucket_starts_s()
    used = {b.t: (b.used, b.max, b.usage) for b in api.series if b.used is not None}
    assert used == {B1: (2.0, 4.0, 0.5), B2: (4.0, 4.0, 1.0)}


def test_older_names_and_the_pool_filter(reader: ClickHouseReader, pools: str) -> None:
    got = database_pool.connection_stats(reader, WINDOW, pool="old-pool")
    (old,) = [x for x in got.pools if x.service.startswith(pools)]
    assert (old.service, old.pool, old.idle, old.used, old.max, old.idle_max, old.idle_min) == (
        f"{pools}-old", "old-pool", 6, 2, 10, 8, None)
    assert (old.pending_requests, old.usage, old.timeouts, old.wait_time) == (None, 0.2, 2, None)
    # delta histogram in ms: (0, 5] ×1, (5, 50] ×3: rank 3.8 → 5 + 45 × 2.8/3
    assert _timing(old.use_time) == (4, pytest.approx(10.0), pytest.approx(47.0))
    both = database_pool.connection_stats(reader, WINDOW)
    assert [(x.service, x.pool) for x in both.pools if x.service.startswith(pools)] == [
        (f"{pools}-api", "api-db"), (f"{pools}-old", "old-pool")]
    assert database_pool.connection_stats(reader, WINDOW, service=f"{pools}-api", pool="old-pool").pools == []


@pytest.fixture(scope="module")
def client(reader: ClickHouseReader) -> Iterator[TestClient[Any]]:
    with TestClient(build_app(reader, lambda: {"status": "ok", "components": {}})) as c:
        yield c


def test_endpoints_answer_typed_with_meta(client: TestClient[Any], svc: str, pools: str) -> None:
    r = client.get("/api/metrics/database", params={"range": "1h", "service": svc, "environment": "prod"})
    assert r.status_code == 200, r.text
    assert "vigil-data-complete" in r.headers and "meta" in r.json()
    assert r.json()["totals"]["executions"] == 8
    r = client.get("/api/metrics/database/connection-stats", params={"range": "1h", "service": f"{pools}-old"})
    assert r.status_code == 200, r.text
    assert [(p["pool"], p["max"], p["use_time"]["count"]) for p in r.json()["pools"]] == [("old-pool", 10, 4)]
    assert "vigil-data-complete" in r.headers and "meta" in r.json()


@pytest.mark.parametrize(("path", "params", "parameter"), [
    ("/api/metrics/database", {"limit": "0"}, "limit"),
    ("/api/metrics/database", {"limit": "many"}, "limit"),
    ("/api/metrics/database", {"range": "2h"}, "range"),
    ("/api/metrics/database/connection-stats", {"range": "bogus"}, "range"),
    ("/api/metrics/database/connection-stats", {"start": "yesterday"}, "start"),
])
def test_bad_parameters_are_400_naming_them(client: TestClient[Any], path: str, params: dict[str, str],
                                            parameter: str) -> None:
    r = client.get(path, params=params)
    assert r.status_code == 400, r.text
    assert r.json()["detail"]["parameter"] == parameter
