"""PromQL end to end: spans, metrics and logs from the real OpenTelemetry SDK, queried through ``/api/v1``.

The span- and log-derived series must count exactly what the SDK sent; every answer must have the
Prometheus HTTP API's shape field for field (``status``, ``data.resultType``, ``data.result[].metric`` and
``value`` / ``values`` as ``[unix seconds, "string"]``; errors with ``errorType`` and ``error``).
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from tests.vigil_process import VigilProcess

REQUESTS = {("GET", "/orders/{id}", 200): 5, ("GET", "/orders/{id}", 500): 2, ("POST", "/cart", 201): 3}
FAILED_OK_STATUS = 1  # a POST /cart answered 201 whose span status is ERROR: failed too
LOGS = {"INFO": 4, "ERROR": 2}


@pytest.fixture(scope="module")
def sent(vigil: VigilProcess) -> str:
    """The service name whose telemetry was exported (every export committed when it returns)."""
    service = f"e2e-promql-{uuid.uuid4().hex[:8]}"
    resource = Resource.create({"service.name": service})
    tracing = TracerProvider(resource=resource)
    tracing.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{vigil.otlp_http}/v1/traces",
                                                                    timeout=30)))
    tracer = tracing.get_tracer("e2e")
    failed_ok = FAILED_OK_STATUS
    for (method, route, code), n in REQUESTS.items():
        for _ in range(n):
            with tracer.start_as_current_span(f"{method} {route}", kind=SpanKind.SERVER, attributes={
                    "http.request.method": method, "http.route": route, "http.response.status_code": code}) as span:
                with tracer.start_as_current_span("SELECT shop", kind=SpanKind.CLIENT, attributes={
                        "db.system.name": "postgresql", "db.namespace": "shop", "db.operation.name": "SELECT"}):
                    pass
                if code == 201 and failed_ok:
                    span.set_status(Status(StatusCode.ERROR, "half done"))
                    failed_ok -= 1
    tracing.shutdown()
    metrics = MeterProvider(resource=resource, metric_readers=[PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=vigil.otlp_grpc, insecure=True, timeout=30), export_interval_millis=3_600_000)])
    metrics.get_meter("e2e").create_counter("e2e.orders", unit="{order}").add(42, {"channel": "web"})
    metrics.shutdown()
    logs = LoggerProvider(resource=resource)
    logs.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(endpoint=vigil.otlp_grpc, insecure=True,
                                                                           timeout=30)))
    logger = logging.getLogger(f"e2e.promql.{service}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(LoggingHandler(logger_provider=logs))
    for level, n in LOGS.items():
        for i in range(n):
            logger.log(logging.getLevelName(level), "event %d", i)
    logs.shutdown()
    return service


def _success(resp: httpx.Response, result_type: str) -> list[dict[str, Any]]:
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body) == {"status", "data"} and body["status"] == "success", body
    assert set(body["data"]) == {"resultType", "result"} and body["data"]["resultType"] == result_type
    result: list[dict[str, Any]] = body["data"]["result"]
    key = "value" if result_type == "vector" else "values"
    for item in result:
        assert set(item) == {"metric", key}, item
        points = [item[key]] if key == "value" else item[key]
        for ts, val in points:
            assert isinstance(ts, (int, float)) and isinstance(val, str)
    return result


def query(vigil: VigilProcess, q: str) -> dict[tuple[tuple[str, str], ...], float]:
    result = _success(httpx.get(f"{vigil.api}/api/v1/query", params={"query": q}, timeout=30), "vector")
    return {tuple(sorted(r["metric"].items())): float(r["value"][1]) for r in result}


def test_span_derived_request_counts_are_exact(vigil: VigilProcess, sent: str) -> None:
    sel = f'{{service_name="{sent}"}}'
    got = query(vigil, f"sum by (http_request_method, http_route, http_response_status_code) "
                       f"(vigil_http_server_requests_total{sel})")
    assert got == {(("http_request_method", m), ("http_response_status_code", str(c)), ("http_route", r)): float(n)
                   for (m, r, c), n in REQUESTS.items()}
    assert query(vigil, f"sum(vigil_http_server_errors_total{sel})") == {(): 2.0 + FAILED_OK_STATUS}
    assert query(vigil, f"sum(vigil_http_server_duration_seconds_count{sel})") == {(): 10.0}
    inf = query(vigil, f'sum(vigil_http_server_duration_seconds_bucket{{service_name="{sent}", le="+Inf"}})')
    assert inf == {(): 10.0}
    db = query(vigil, f"vigil_db_client_duration_seconds_count{sel}")
    assert db == {(("__name__", "vigil_db_client_duration_seconds_count"), ("db_namespace", "shop"),
                   ("db_operation", "SELECT"), ("db_system", "postgresql"), ("service_name", sent)): 10.0}
    calls = query(vigil, f"sum by (span_kind) (vigil_span_calls_total{sel})")
    assert calls == {(("span_kind", "SPAN_KIND_CLIENT"),): 10.0, (("span_kind", "SPAN_KIND_SERVER"),): 10.0}


def test_log_derived_and_stored_metrics_by_prometheus_name(vigil: VigilProcess, sent: str) -> None:
    got = query(vigil, f'sum by (severity_text) (vigil_log_records_total{{service_name="{sent}"}})')
    assert got == {(("severity_text", s),): float(n) for s, n in LOGS.items()}
    orders = query(vigil, f'e2e_orders_total{{service_name="{sent}"}}')
    assert [(dict(k)["channel"], dict(k)["job"], v) for k, v in orders.items()] == [("web", sent, 42.0)]


def test_query_range_is_a_matrix_ending_with_the_exact_count(vigil: VigilProcess, sent: str) -> None:
    end = round(time.time(), 3)
    resp = httpx.get(f"{vigil.api}/api/v1/query_range", timeout=30, params={
        "query": f'sum(vigil_http_server_requests_total{{service_name="{sent}"}})',
        "start": f"{end - 600:.3f}", "end": f"{end:.3f}", "step": "60"})
    (series,) = _success(resp, "matrix")
    assert series["metric"] == {}
    stamps = [ts for ts, _ in series["values"]]
    assert stamps == sorted(stamps) and all(abs((ts - (end - 600)) / 60 - round((ts - (end - 600)) / 60)) < 1e-6
                                            for ts in stamps)
    assert float(series["values"][-1][1]) == 10.0  # the last step counts the requests of its partial minute
    rate = query(vigil, f'sum(increase(vigil_http_server_requests_total{{service_name="{sent}"}}[10m]))')
    assert list(rate.values()) and list(rate.values())[0] >= 10.0  # extrapolated, never fewer than counted


def test_errors_have_the_prometheus_shape(vigil: VigilProcess) -> None:
    resp = httpx.get(f"{vigil.api}/api/v1/query", params={"query": "sum(rate(x[5m])"}, timeout=30)
    assert resp.status_code == 400
    body = resp.json()
    assert set(body) == {"status", "errorType", "error"} and body["status"] == "error"
    assert body["errorType"] == "bad_data" and body["error"]
