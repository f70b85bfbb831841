"""ColumnarSource on real chDB: OTLP metrics written through the real store, read back by the PromQL engine."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.metrics.v1 import metrics_pb2

from contracts.signals import Signal
from query.promql.columnar import ColumnarSource
from query.promql.engine import Engine
from query.promql.model import Matcher, Vector
from storage.clickhouse.client import connect, protobuf_settings
from storage.clickhouse.inserter import ChunkInserter
from storage.clickhouse.reader import ClickHouseReader

T0 = (int(time.time()) - 900) // 60 * 60  # seconds, a minute start 15 minutes ago
NS = 1_000_000_000
CUMULATIVE = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
DELTA = metrics_pb2.AGGREGATION_TEMPORALITY_DELTA


def _attrs(target: Any, attrs: dict[str, str]) -> None:
    for k, v in attrs.items():
        kv = target.add()
        kv.key, kv.value.string_value = k, v


def _point(metric_points: Any, i: int, attrs: dict[str, str]) -> Any:
    p = metric_points.add()
    p.start_time_unix_nano, p.time_unix_nano = (T0 - 60) * NS, (T0 + 60 * i) * NS
    _attrs(p.attributes, attrs)
    return p


def _request(service: str) -> ExportMetricsServiceRequest:
    req = ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    _attrs(rm.resource.attributes, {"service.name": service, "service.namespace": "shop",
                                    "service.instance.id": "pod-1", "host.name": "h1"})
    sm = rm.scope_metrics.add()
    sm.scope.name, sm.scope.version = "io.test", "1.2"
    gauge = sm.metrics.add(name="process.memory.usage", unit="By")
    counter = sm.metrics.add(name="http.requests", unit="{requests}")
    counter.sum.is_monotonic, counter.sum.aggregation_temporality = True, CUMULATIVE
    delta = sm.metrics.add(name="jobs.done", unit="")
    delta.sum.is_monotonic, delta.sum.aggregation_temporality = True, DELTA
    hist = sm.metrics.add(name="http.server.duration", unit="ms")
    hist.histogram.aggregation_temporality = CUMULATIVE
    dhist = sm.metrics.add(name="queue.wait", unit="s")
    dhist.histogram.aggregation_temporality = DELTA
    summ = sm.metrics.add(name="rpc.latency", unit="s")
    for i in range(3):
        _point(gauge.gauge.data_points, i, {"pool": "heap"}).as_double = 100.0 + i
        for route, per_min in (("/a", 30), ("/b", 60)):
            _point(counter.sum.data_points, i, {"http.route": route}).as_int = 10 + per_min * i
        _point(delta.sum.data_points, i, {}).as_int = 5
        h = _point(hist.histogram.data_points, i, {"http.route": "/a"})
        h.explicit_bounds.extend([10.0, 100.0])
        h.bucket_counts.extend([2 * i, 6 * i, 2 * i])  # all cumulative: 10*i points, 2i <= 10ms, 8i <= 100ms
        h.count, h.sum = 10 * i, 400.0 * i
        d = _point(dhist.histogram.data_points, i, {})
        d.explicit_bounds.append(1.0)
        d.bucket_counts.extend([1, 1])
        d.count, d.sum = 2, 1.5
        s = _point(summ.summary.data_points, i, {})
        s.count, s.sum = 4 * i, 2.0 * i
        for q, v in ((0.5, 0.25), (0.99, 0.75)):
            qv = s.quantile_values.add()
            qv.quantile, qv.value = q, v
    return req


class RecordingReader:
    def __init__(self, inner: ClickHouseReader) -> None:
        self.inner = inner
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def rows(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        self.calls.append((sql, dict(params or {})))
        return self.inner.rows(sql, params)

    def columns(self, sql: str, params: dict[str, Any] | None = None) -> Any:
        self.calls.append((sql, dict(params or {})))
        return self.inner.columns(sql, params)


@pytest.fixture(scope="module")
def svc(chdb_dsn: str) -> str:
    name = f"promql-col-{uuid.uuid4().hex[:8]}"
    inserter = ChunkInserter(lambda: connect(chdb_dsn), lambda m: protobuf_settings(chdb_dsn, m))
    inserter.insert(Signal.METRICS, [_request(name).SerializeToString()], uuid.uuid4().hex)
    return name


@pytest.fixture(scope="module")
def reader(chdb_dsn: str) -> RecordingReader:
    return RecordingReader(ClickHouseReader(lambda: connect(chdb_dsn)))


@pytest.fixture
def engine(reader: RecordingReader) -> Engine:
    return Engine(ColumnarSource(reader))


def values(result: Any) -> dict[tuple[tuple[str, str], ...], float]:
    assert isinstance(result, Vector)
    return {s.labels: float(s.values[0]) for s in result.series if bool(s.present[0])}


AT = (T0 + 120) * 1000


def test_gauge_has_the_translated_name_and_the_spec_labels(engine: Engine, svc: str) -> None:
    got = values(engine.instant(f'process_memory_usage_bytes{{service_name="{svc}"}}', AT))
    assert got == {(("__name__", "process_memory_usage_bytes"), ("instance", "pod-1"), ("job", "shop/" + svc),
                    ("otel_scope_name", "io.test"), ("otel_scope_version", "1.2"), ("pool", "heap"),
                    ("service_name", svc)): 102.0}  # host.name is a resource attribute: not a label


def test_monotonic_counter_gets_total_and_rates(engine: Engine, svc: str) -> None:
    got = values(engine.instant(f'http_requests_total{{service_name="{svc}", http_route="/b"}}', AT))
    assert list(got.values()) == [130.0]
    rates = values(engine.instant(f'sum by (http_route) (rate(http_requests_total{{service_name="{svc}"}}[2m]))',
                                  AT))
    assert rates == {(("http_route", "/a"),): pytest.approx(0.5), (("http_route", "/b"),): pytest.approx(1.0)}
    assert values(engine.instant(f'http_requests{{service_name="{svc}"}}', AT)) == {}


def test_delta_sum_becomes_a_running_sum(engine: Engine, svc: str) -> None:
    assert list(values(engine.instant(f'jobs_done_total{{service_name="{svc}"}}', AT)).values()) == [15.0]


def test_histogram_series(engine: Engine, svc: str) -> None:
    sel = f'{{service_name="{svc}"}}'
    buckets = values(engine.instant(f"http_server_duration_milliseconds_bucket{sel}", AT))
    by_le = {dict(k)["le"]: v for k, v in buckets.items()}
    assert by_le == {"10": 4.0, "100": 16.0, "+Inf": 20.0}
    assert all(dict(k)["http_route"] == "/a" for k in buckets)
    assert list(values(engine.instant(f"http_server_duration_milliseconds_sum{sel}", AT)).values()) == [800.0]
    assert list(values(engine.instant(f"http_server_duration_milliseconds_count{sel}", AT)).values()) == [20.0]


def test_histogram_quantile_over_rate(engine: Engine, svc: str) -> None:
    q = (f'histogram_quantile(0.5, sum by (le) '
         f'(rate(http_server_duration_milliseconds_bucket{{service_name="{svc}"}}[2m])))')
    got = values(engine.instant(q, AT))
    # per-step increases: 2 in (0,10], 6 in (10,100], 2 above: the median (rank 5 of 10) is 10 + 90 * 3/6
    assert list(got.values()) == [pytest.approx(55.0)]


def test_delta_histogram_becomes_cumulative(engine: Engine, svc: str) -> None:
    sel = f'{{service_name="{svc}"}}'
    got = {dict(k)["le"]: v for k, v in values(engine.instant(f"queue_wait_seconds_bucket{sel}", AT)).items()}
    assert got == {"1": 3.0, "+Inf": 6.0}
    assert list(values(engine.instant(f"queue_wait_seconds_sum{sel}", AT)).values()) == [4.5]
    assert list(values(engine.instant(f"queue_wait_seconds_count{sel}", AT)).values()) == [6.0]


def test_summary_series(engine: Engine, svc: str) -> None:
    sel = f'{{service_name="{svc}"}}'
    got = {dict(k)["quantile"]: v for k, v in values(engine.instant(f"rpc_latency_seconds{sel}", AT)).items()}
    assert got == {"0.5": 0.25, "0.99": 0.75}
    assert list(values(engine.instant(f"rpc_latency_seconds_count{sel}", AT)).values()) == [8.0]


def test_regex_name_and_label_filters(engine: Engine, svc: str) -> None:
    got = values(engine.instant(f'{{__name__=~"http_.*(total|count)", service_name="{svc}", http_route!="/b"}}',
                                AT))
    assert sorted(dict(k)["__name__"] for k in got) == ["http_requests_total",
                                                        "http_server_duration_milliseconds_count"]
    got = values(engine.instant(f'{{__name__=~".+", job="shop/{svc}", pool=~"he.*"}}', AT))
    assert [dict(k)["__name__"] for k in got] == ["process_memory_usage_bytes"]


def test_pushdown_binds_every_value(reader: RecordingReader, svc: str) -> None:
    source = ColumnarSource(reader)
    reader.calls.clear()
    matchers = [Matcher.make("__name__", "=", "http_requests_total"), Matcher.make("service_name", "=", svc)]
    got = source.select(matchers, T0 * 1000, AT)
    assert len(got) == 2
    data = [(sql, p) for sql, p in reader.calls if "ORDER BY" in sql]
    assert len(data) == 1  # only the sum table is read
    sql, params = data[0]
    assert "otel_metrics_sum" in sql and "MetricName IN {names:Array(String)}" in sql
    assert params["names"] == ["http.requests"] and params["svc"] == svc
    assert svc not in sql and "http" not in sql
    assert params["start_ns"] == T0 * NS and params["end_ns"] == AT * 1_000_000 + 999_999
    reader.calls.clear()
    assert len(source.select(matchers, T0 * 1000 + 1, AT)) == 2
    assert not any("AS kind" in sql for sql, _ in reader.calls)  # the catalogue is cached
    assert source.select([Matcher.make("__name__", "=", "no_such_metric")], T0 * 1000, AT) == []


def test_label_names_and_values(svc: str, reader: RecordingReader) -> None:
    source = ColumnarSource(reader)
    sets = [[Matcher.make("service_name", "=", svc)]]
    names = source.label_names(sets, T0 * 1000, AT)
    assert {"__name__", "job", "instance", "service_name", "http_route", "le", "quantile", "pool"} <= set(names)
    assert "host_name" in names  # from target_info only
    metrics_only = [[Matcher.make("service_name", "=", svc), Matcher.make("__name__", "!=", "target_info")]]
    assert "host_name" not in source.label_names(metrics_only, T0 * 1000, AT)
    assert source.label_values("http_route", sets, T0 * 1000, AT) == ["/a", "/b"]
    assert "jobs_done_total" in source.label_values("__name__", sets, T0 * 1000, AT)


def test_target_info_carries_the_resource_attributes(engine: Engine, svc: str) -> None:
    got = values(engine.instant(f'target_info{{service_name="{svc}"}}', AT))
    assert got == {(("__name__", "target_info"), ("host_name", "h1"), ("instance", "pod-1"), ("job", "shop/" + svc),
                    ("service_name", svc)): 1.0}
    joined = values(engine.instant(f'http_requests_total{{service_name="{svc}"}} * on (job, instance) '
                                   f'group_left (host_name) target_info', AT))
    assert sorted((dict(k)["http_route"], dict(k)["host_name"], v) for k, v in joined.items()) == [
        ("/a", "h1", 70.0), ("/b", "h1", 130.0)]
