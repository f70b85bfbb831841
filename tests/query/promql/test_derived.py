"""Span- and log-derived series on real chDB: exact counts, minute samples, the partial minute, histograms.

Expected values are counted from the rows the test writes; PromQL semantics (closed range windows,
``increase`` without extrapolation when samples cover the window) are Prometheus 2.42's.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from query.promql.columnar import ColumnarSource
from query.promql.derived import BOUNDS_S, FAMILIES, NAMES, DerivedSeries
from query.promql.engine import Engine
from query.promql.model import Matcher, Vector
from storage.clickhouse.client import connect
from storage.clickhouse.reader import ClickHouseReader

T0 = datetime.fromtimestamp((int(datetime.now(UTC).timestamp()) - 1800) // 60 * 60, UTC)  # a minute start
T0_MS = int(T0.timestamp() * 1000)
NOW_MS = T0_MS + 150_000  # the source's clock: 30 s into the third minute
SPANS = ["Timestamp", "TraceId", "SpanId", "ParentSpanId", "SpanName", "SpanKind", "ServiceName",
         "SpanAttributes", "Duration", "StatusCode"]
LOGS = ["Timestamp", "SeverityNumber", "SeverityText", "ServiceName", "Body"]


def _span(svc: str, at_s: float, dur_ns: int, *, kind: str = "Server", status: str = "Unset", code: int = 200,
          route: str = "/cart", parent: str = "", **attrs: str) -> list[Any]:
    a = {"http.request.method": "GET", "http.route": route, "http.response.status_code": str(code)} \
        if kind == "Server" else {k.replace("_", "."): v for k, v in attrs.items()}
    return [T0 + timedelta(seconds=at_s), uuid.uuid4().hex, uuid.uuid4().hex[:16], parent,
            f"GET {route}" if kind == "Server" else "q", kind, svc, a, dur_ns, status]


@pytest.fixture(scope="module")
def svc(ch: Client) -> str:
    name = f"derived-{uuid.uuid4().hex[:8]}"
    spans = [
        _span(name, 10, 5_000_000), _span(name, 20, 5_000_001),  # minute 0: 2 requests
        _span(name, 61, 20_000_000), _span(name, 62, 30_000_000, code=503),  # minute 1: 3 requests, 2 failed
        _span(name, 63, 2_000_000_000, status="Error"),
        _span(name, 125, 1_000_000),  # minute 2 (partial at the clock): 1 request
        _span(name, 200, 1_000_000),  # after the clock's now: in no sample up to now
        _span(name, -7200, 1_000_000),  # two hours earlier: in the base
        _span(name, 15, 3_000_000, kind="Client", parent="p", db_system_name="postgresql", db_namespace="shop",
              db_operation_name="SELECT"),
        _span(name, 16, 4_000_000, kind="Internal", parent="p"),
    ]
    ch.insert("otel_traces", spans, column_names=SPANS)
    logs = [[T0 + timedelta(seconds=s), n, t, name, "b"] for s, n, t in ((5, 9, "INFO"), (65, 17, "ERROR"),
                                                                          (66, 9, "INFO"))]
    ch.insert("otel_logs", logs, column_names=LOGS)
    return name


@pytest.fixture(scope="module")
def engine(chdb_dsn: str) -> Engine:
    return Engine(ColumnarSource(ClickHouseReader(lambda: connect(chdb_dsn)), clock=lambda: NOW_MS / 1000))


def one(engine: Engine, q: str, t_ms: int) -> dict[tuple[tuple[str, str], ...], float]:
    got = engine.instant(q, t_ms)
    assert isinstance(got, Vector)
    return {s.labels: float(s.values[0]) for s in got.series if bool(s.present[0])}


def total(engine: Engine, q: str, t_ms: int) -> float:
    got = one(engine, f"sum({q})", t_ms)
    return next(iter(got.values())) if got else float("nan")


def test_requests_are_counted_at_every_minute_boundary_and_at_now(engine: Engine, svc: str) -> None:
    sel = f'vigil_http_server_requests_total{{service_name="{svc}"}}'
    # the base (the request two hours before) is in every value
    assert total(engine, sel, T0_MS) == 1.0
    assert total(engine, sel, T0_MS + 60_000) == 3.0
    assert total(engine, sel, T0_MS + 120_000) == 6.0
    assert total(engine, sel, NOW_MS) == 7.0  # the partial minute's request, stored before now
    assert total(engine, sel, T0_MS + 62_500) == 5.0  # at any t: the records up to t (the two at 61 s, 62 s)
    assert total(engine, sel, T0_MS + 61_999) == 4.0  # the one at 62 s is not yet counted


def test_labels_split_by_status_and_errors_count_failed_requests(engine: Engine, svc: str) -> None:
    got = one(engine, f'vigil_http_server_requests_total{{service_name="{svc}"}}', T0_MS + 120_000)
    assert {dict(k)["http_response_status_code"]: v for k, v in got.items()} == {"200": 5.0, "503": 1.0}
    assert all(dict(k)["http_route"] == "/cart" and dict(k)["http_request_method"] == "GET" for k in got)
    errors = f'vigil_http_server_errors_total{{service_name="{svc}"}}'
    assert total(engine, errors, T0_MS + 59_999) != total(engine, errors, T0_MS + 59_999)  # not born yet: NaN
    born = engine.range(f"sum({errors})", T0_MS, T0_MS + 120_000, 60_000)
    assert isinstance(born, Vector)  # seen from later: born with 0 at the start of its first minute
    assert [float(v) for v, p in zip(born.series[0].values, born.series[0].present, strict=True) if p] == [0.0, 2.0]
    assert total(engine, errors, T0_MS + 120_000) == 2.0  # a 503 and a status-Error 200


def test_increase_over_the_series_birth_is_exact(engine: Engine, svc: str) -> None:
    # the DB series is born at T0's minute start with 0: increase over [T0, T0+2m] sees its one call
    q = f'increase(vigil_db_client_duration_seconds_count{{service_name="{svc}"}}[2m])'
    got = one(engine, q, T0_MS + 120_000)
    assert list(got.values()) == [1.0]
    assert [dict(k) for k in got][0] == {"db_namespace": "shop", "db_operation": "SELECT", "db_system": "postgresql",
                                         "service_name": svc}
    # samples 0 @ T0+1m, 2 @ T0+2m: 2.42 extrapolates to the window start only down to the zero point
    rate = one(engine, f'sum(rate(vigil_http_server_errors_total{{service_name="{svc}"}}[2m]))', T0_MS + 120_000)
    assert rate == {(): pytest.approx(2 / 120)}


def test_a_quiet_series_keeps_its_value_and_rates_zero(engine: Engine, svc: str) -> None:
    q = f'rate(vigil_db_client_duration_seconds_count{{service_name="{svc}"}}[2m])'
    assert list(one(engine, q, NOW_MS).values()) == [0.0]


def test_histogram_buckets_are_exact_at_the_bounds(engine: Engine, svc: str) -> None:
    got = one(engine, f'vigil_http_server_duration_seconds_bucket{{service_name="{svc}", '
                      f'http_response_status_code="200"}}', T0_MS + 60_000)
    by_le = {dict(k)["le"]: v for k, v in got.items()}
    assert set(by_le) == {*(f"{b:g}" for b in BOUNDS_S), "+Inf"}
    # base: 1 ms; minute 0: exactly 5 ms (<= 0.005) and 5 ms + 1 ns (not)
    assert by_le["0.005"] == 2.0 and by_le["0.01"] == 3.0 and by_le["+Inf"] == 3.0
    s = one(engine, f'vigil_http_server_duration_seconds_sum{{service_name="{svc}", '
                    f'http_response_status_code="200"}}', T0_MS + 60_000)
    assert list(s.values()) == [pytest.approx(0.011000001)]
    q = (f'histogram_quantile(0.5, sum by (le) (increase(vigil_http_server_duration_seconds_bucket'
         f'{{service_name="{svc}"}}[1m])))')
    # minute 1: 20 ms, 30 ms, 2 s; rank 1.5 interpolates in (0.025, 0.05]: 0.025 + 0.025 · 0.5
    assert list(one(engine, q, T0_MS + 120_000).values()) == [pytest.approx(0.0375)]


def test_span_calls_use_spanmetrics_spellings_and_log_records_count_severities(engine: Engine, svc: str) -> None:
    got = one(engine, f'vigil_span_calls_total{{service_name="{svc}"}}', T0_MS + 120_000)
    kinds = {(dict(k)["span_kind"], dict(k)["status_code"]): v for k, v in got.items()}
    assert kinds[("SPAN_KIND_CLIENT", "STATUS_CODE_UNSET")] == 1.0
    assert kinds[("SPAN_KIND_INTERNAL", "STATUS_CODE_UNSET")] == 1.0
    assert kinds[("SPAN_KIND_SERVER", "STATUS_CODE_ERROR")] == 1.0
    logs = one(engine, f'vigil_log_records_total{{service_name="{svc}"}}', T0_MS + 120_000)
    assert {dict(k)["severity_text"]: v for k, v in logs.items()} == {"INFO": 2.0, "ERROR": 1.0}


def test_a_range_query_has_the_minute_samples(engine: Engine, svc: str) -> None:
    got = engine.range(f'sum(vigil_http_server_requests_total{{service_name="{svc}"}})', T0_MS, NOW_MS, 30_000)
    assert isinstance(got, Vector)
    assert [float(v) for v in got.series[0].values] == [1.0, 1.0, 3.0, 3.0, 6.0, 7.0]


def test_values_are_bound_parameters_and_unknown_labels_select_nothing(chdb_dsn: str, svc: str) -> None:
    calls: list[tuple[str, dict[str, Any]]] = []
    inner = ClickHouseReader(lambda: connect(chdb_dsn))

    class Recording:
        def rows(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
            calls.append((sql, dict(params or {})))
            return inner.rows(sql, params)

    source = DerivedSeries(Recording(), clock=lambda: NOW_MS / 1000)
    ms = [Matcher.make("__name__", "=", "vigil_log_records_total"), Matcher.make("service_name", "=", svc)]
    assert len(source.select(ms, T0_MS, NOW_MS)) == 2
    assert len(calls) == 2 and all(svc not in sql and "otel_logs" in sql for sql, _ in calls)
    assert all(svc in p.values() for _, p in calls)
    calls.clear()
    assert len(source.select(ms, T0_MS, NOW_MS)) == 2
    assert len(calls) == 1  # the base is cached
    assert source.select([*ms, Matcher.make("pool", "=", "x")], T0_MS, NOW_MS) == []
    assert source.select([Matcher.make("__name__", "=", "other")], T0_MS, NOW_MS) == []


def test_the_family_table_is_documented() -> None:
    from query.promql import derived

    doc = derived.__doc__ or ""
    assert all(f.name in doc for f in FAMILIES)
    assert "vigil_http_server_duration_seconds_bucket" in NAMES
