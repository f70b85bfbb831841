"""Metrics of every kind and logs with trace context from the real OpenTelemetry SDK, read back exactly.

Ground truth for metrics is what the SDK exporter itself was handed: the exporter is subclassed only to
record its ``export()`` argument before the real OTLP export runs.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetricExporter
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetricExporter
from opentelemetry.metrics import Observation
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from tests.e2e.expected import attrs, hex_id
from tests.vigil_process import VigilProcess


class _RecordingGrpc(GrpcMetricExporter):
    sent: list[Any]

    def export(self, metrics_data: Any, *args: Any, **kwargs: Any) -> Any:
        self.sent.append(metrics_data)
        return super().export(metrics_data, *args, **kwargs)


class _RecordingHttp(HttpMetricExporter):
    sent: list[Any]

    def export(self, metrics_data: Any, *args: Any, **kwargs: Any) -> Any:
        self.sent.append(metrics_data)
        return super().export(metrics_data, *args, **kwargs)


def _metric_exporter(vigil: VigilProcess, protocol: str) -> Any:
    exp: Any
    if protocol == "grpc":
        exp = _RecordingGrpc(endpoint=vigil.otlp_grpc, insecure=True, timeout=30)
    else:
        exp = _RecordingHttp(endpoint=f"{vigil.otlp_http}/v1/metrics", timeout=30)
    exp.sent = []
    return exp


def _points(vigil: VigilProcess, name: str, service: str) -> dict[str, Any]:
    r = httpx.get(f"{vigil.api}/api/metrics/points", params={"name": name, "service": service, "range": "1h"})
    return r.raise_for_status().json()


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_sdk_metrics_roundtrip(vigil: VigilProcess, protocol: str) -> None:
    service = f"e2e-metrics-{protocol}-{uuid.uuid4().hex[:8]}"
    exporter = _metric_exporter(vigil, protocol)
    exporting = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(
        resource=Resource.create({"service.name": service}),
        metric_readers=[exporting],
        views=[View(instrument_name="e2e.exp_latency", aggregation=ExponentialBucketHistogramAggregation(20))],
    )
    meter = provider.get_meter("e2e.meter", "0.1")
    counter = meter.create_counter("e2e.requests", unit="1", description="requests served")
    updown = meter.create_up_down_counter("e2e.queue_depth", unit="{item}")
    hist = meter.create_histogram("e2e.latency", unit="ms")
    exp_hist = meter.create_histogram("e2e.exp_latency", unit="ms")
    meter.create_observable_gauge(
        "e2e.temperature", callbacks=[lambda _o: [Observation(21.5, {"room": "a"}), Observation(-3, {"room": "b"})]],
        unit="Cel",
    )
    counter.add(3, {"route": "/a", "ok": True})
    counter.add(4, {"route": "/a", "ok": True})
    counter.add(1, {"route": "/b", "ok": False})
    updown.add(5)
    updown.add(-2)
    for v in (1, 7, 12, 250, 0.5):
        hist.record(v, {"route": "/a"})
    for v in (0.3, 1.7, 2.2, 90, 1000):
        exp_hist.record(v)
    provider.shutdown()  # collects and exports exactly once
    (truth,) = exporter.sent

    expected: dict[str, Any] = {}
    for rm in truth.resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                expected[m.name] = m
    assert set(expected) >= {"e2e.requests", "e2e.queue_depth", "e2e.latency", "e2e.exp_latency", "e2e.temperature"}

    names = httpx.get(f"{vigil.api}/api/metrics/names", params={"range": "1h"}).json()["metrics"]
    mine = {m["name"]: m for m in names if service in m["service_names"]}
    assert mine["e2e.requests"]["type"] == "sum"
    assert mine["e2e.requests"]["unit"] == "1"
    assert mine["e2e.requests"]["description"] == "requests served"
    assert mine["e2e.queue_depth"]["type"] == "sum"
    assert mine["e2e.latency"]["type"] == "histogram"
    assert mine["e2e.exp_latency"]["type"] == "exponential_histogram"
    assert mine["e2e.temperature"]["type"] == "gauge"

    # monotonic sum (counter)
    got = _points(vigil, "e2e.requests", service)
    by_attrs = {tuple(sorted(p["attributes"].items())): p for p in got["points"]}
    for dp in expected["e2e.requests"].data.data_points:
        p = by_attrs[tuple(sorted(attrs(dp.attributes).items()))]
        assert p["value"] == dp.value
        assert p["time_unix_nano"] == dp.time_unix_nano
        assert p["start_time_unix_nano"] == dp.start_time_unix_nano
        assert p["is_monotonic"] is True
        assert p["aggregation_temporality"] == 2
    assert len(got["points"]) == 2

    # non-monotonic sum (up-down counter)
    (p,) = _points(vigil, "e2e.queue_depth", service)["points"]
    assert p["value"] == 3 and p["is_monotonic"] is False

    # gauge
    got = _points(vigil, "e2e.temperature", service)["points"]
    assert sorted((p["attributes"]["room"], p["value"]) for p in got) == [("a", 21.5), ("b", -3.0)]

    # explicit-bucket histogram
    (dp,) = expected["e2e.latency"].data.data_points
    (p,) = _points(vigil, "e2e.latency", service)["points"]
    assert p["count"] == dp.count == 5
    assert p["sum"] == dp.sum
    assert p["min"] == dp.min and p["max"] == dp.max
    assert p["bucket_counts"] == list(dp.bucket_counts)
    assert p["explicit_bounds"] == list(dp.explicit_bounds)
    assert p["attributes"] == {"route": "/a"}

    # exponential histogram
    (dp,) = expected["e2e.exp_latency"].data.data_points
    (p,) = _points(vigil, "e2e.exp_latency", service)["points"]
    assert p["count"] == dp.count and p["sum"] == dp.sum
    assert p["scale"] == dp.scale
    assert p["zero_count"] == dp.zero_count
    assert p["positive_offset"] == dp.positive.offset
    assert p["positive_bucket_counts"] == list(dp.positive.bucket_counts)
    assert p["negative_bucket_counts"] == list(dp.negative.bucket_counts)

    # aggregated queries
    q = httpx.get(f"{vigil.api}/api/metrics/query", params={
        "name": "e2e.requests", "service": service, "agg": "sum", "group_by": "route", "step": "3600s"}).json()
    totals = {s["labels"]["route"]: sum(v for _, v in s["points"]) for s in q["series"]}
    assert totals == {"/a": 7.0, "/b": 1.0}
    q = httpx.get(f"{vigil.api}/api/metrics/query", params={
        "name": "e2e.latency", "service": service, "agg": "p50", "step": "3600s"}).json()
    ((_, p50),) = q["series"][0]["points"]
    assert 5 < p50 <= 10  # rank 2.5 of 5 falls in the (5, 10] bucket


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_sdk_logs_with_trace_context(vigil: VigilProcess, protocol: str) -> None:
    service = f"e2e-logs-{protocol}-{uuid.uuid4().hex[:8]}"
    exporter = (GrpcLogExporter(endpoint=vigil.otlp_grpc, insecure=True, timeout=30) if protocol == "grpc"
                else HttpLogExporter(endpoint=f"{vigil.otlp_http}/v1/logs", timeout=30))
    provider = LoggerProvider(resource=Resource.create({"service.name": service}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = logging.getLogger(f"e2e.{service}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(LoggingHandler(logger_provider=provider))
    tracer = TracerProvider(resource=Resource.create({"service.name": service})).get_tracer("e2e")
    with tracer.start_as_current_span("work") as span:
        logger.error("payment failed for order %s", 42, extra={"order.id": 42, "customer": "c-1"})
        logger.info("retrying <b>now</b>")
    logger.debug("outside any span")
    provider.shutdown()
    ctx = span.get_span_context()
    trace_id = hex_id(ctx.trace_id, 32)

    logs = httpx.get(f"{vigil.api}/api/logs", params={"service": service}).raise_for_status().json()["logs"]
    assert [entry["body"] for entry in logs] == ["outside any span", "retrying <b>now</b>",
                                                 "payment failed for order 42"]
    err = logs[2]
    assert err["severity_text"] == "ERROR" and err["severity_number"] == 17
    assert err["trace_id"] == trace_id and err["span_id"] == hex_id(ctx.span_id, 16)
    assert err["attributes"]["order.id"] == "42" and err["attributes"]["customer"] == "c-1"
    assert err["resource_attributes"]["service.name"] == service
    assert logs[0]["trace_id"] == "" and logs[0]["severity_number"] == 5

    by_trace = httpx.get(f"{vigil.api}/api/logs", params={"trace_id": trace_id}).json()["logs"]
    assert [entry["body"] for entry in by_trace] == ["retrying <b>now</b>", "payment failed for order 42"]
    errors_only = httpx.get(f"{vigil.api}/api/logs", params={"service": service, "severity_min": "error"}).json()
    assert [entry["body"] for entry in errors_only["logs"]] == ["payment failed for order 42"]
    text = httpx.get(f"{vigil.api}/api/logs", params={"service": service, "q": "RETRYING"}).json()["logs"]
    assert [entry["body"] for entry in text] == ["retrying <b>now</b>"]
    bad = httpx.get(f"{vigil.api}/api/logs", params={"severity_min": "loud"})
    assert bad.status_code == 400
