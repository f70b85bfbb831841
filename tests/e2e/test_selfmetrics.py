"""Vigil's own Prometheus metrics (``GET /metrics`` on the API port) after known OTLP traffic.

A dedicated server (1 MiB request limit) is scraped, sent a known mix of requests over OTLP/HTTP and
OTLP/gRPC (accepted, partly rejected, malformed, unsupported, too large), and scraped again; every
assertion is on the difference between the two scrapes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
import pytest
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2 as logs_pb
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as metrics_pb
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as trace_pb
from opentelemetry.proto.common.v1 import common_pb2
from prometheus_client.parser import text_string_to_metric_families

from tests.vigil_process import VigilProcess, start_server

LIMIT = 1 << 20
DAY_NS = 86_400 * 1_000_000_000
PROTOBUF = "application/x-protobuf"
JSON = "application/json"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VigilProcess]:
    # host metrics off: every assertion is an exact difference of ingest counters, which its exports would move
    env = {"VIGIL_MAX_REQUEST_BYTES": str(LIMIT), "VIGIL_RETENTION_TRACES_DAYS": "30",
           "VIGIL_RETENTION_LOGS_DAYS": "30", "VIGIL_RETENTION_METRICS_DAYS": "90", "VIGIL_HOST_METRICS": "off"}
    proc = start_server(tmp_path_factory.mktemp("selfmetrics"), env)
    yield proc
    proc.stop()


# --------------------------------------------------------------------------- scraping


@dataclass
class Scrape:
    samples: Samples
    types: dict[str, str]  # family name → type
    content_type: str

    def value(self, name: str, **labels: str) -> float:
        return self.samples.get((name, frozenset(labels.items())), 0.0)


def scrape(server: VigilProcess) -> Scrape:
    r = httpx.get(f"{server.api}/metrics", timeout=30)
    assert r.status_code == 200
    samples: Samples = {}
    types: dict[str, str] = {}
    for family in text_string_to_metric_families(r.text):
        types[family.name] = family.type
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return Scrape(samples, types, r.headers["content-type"])


# --------------------------------------------------------------------------- traffic


def _kv(key: str, value: str) -> common_pb2.KeyValue:
    return common_pb2.KeyValue(key=key, value=common_pb2.AnyValue(string_value=value))


def spans(*starts: int, bad_trace_id: tuple[int, ...] = ()) -> bytes:
    req = trace_pb.ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.append(_kv("service.name", "selfmetrics"))
    ss = rs.scope_spans.add()
    trace_id = os.urandom(15) + b"\x01"
    for i, start in enumerate(starts):
        s = ss.spans.add(trace_id=os.urandom(5) if i in bad_trace_id else trace_id,
                         span_id=os.urandom(7) + bytes([i + 1]), name=f"s{i}")
        s.start_time_unix_nano, s.end_time_unix_nano = start, start + 1000
    return bytes(req.SerializeToString())


def logs(*times: int) -> bytes:
    req = logs_pb.ExportLogsServiceRequest()
    sl = req.resource_logs.add().scope_logs.add()
    for t in times:
        sl.log_records.add(time_unix_nano=t).body.string_value = "m"
    return bytes(req.SerializeToString())


def gauge_points(*times: int) -> bytes:
    req = metrics_pb.ExportMetricsServiceRequest()
    m = req.resource_metrics.add().scope_metrics.add().metrics.add(name="selfmetrics_gauge")
    for t in times:
        m.gauge.data_points.add(time_unix_nano=t, as_double=1.0)
    return bytes(req.SerializeToString())


def post(server: VigilProcess, signal: str, body: bytes, content_type: str = PROTOBUF, **headers: str) -> int:
    hdrs = {"content-type": content_type, **{k.replace("_", "-"): v for k, v in headers.items()}}
    return httpx.post(f"{server.otlp_http}/v1/{signal}", content=body, headers=hdrs, timeout=60).status_code


GRPC_METHODS = {"traces": "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
                "metrics": "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
                "logs": "/opentelemetry.proto.collector.logs.v1.LogsService/Export"}


def grpc_send(server: VigilProcess, signal: str, payload: bytes) -> grpc.StatusCode:
    with grpc.insecure_channel(server.otlp_grpc) as channel:
        call = channel.unary_unary(GRPC_METHODS[signal], request_serializer=None, response_deserializer=None)
        try:
            call(payload, timeout=60)
        except grpc.RpcError as err:
            return err.code()  # type: ignore[attr-defined,no-any-return]
    return grpc.StatusCode.OK


def json_spans(n: int) -> bytes:
    tid = os.urandom(15).hex() + "01"
    now = time.time_ns()
    items = ",".join(f'{{"traceId":"{tid}","spanId":"{os.urandom(7).hex()}0{i + 1}","name":"j{i}",'
                     f'"startTimeUnixNano":"{now}","endTimeUnixNano":"{now + 10}"}}' for i in range(n))
    return ('{"resourceSpans":[{"scopeSpans":[{"spans":[' + items + "]}]}]}").encode()


@dataclass
class Traffic:
    before: Scrape
    after: Scrape

    def delta(self, name: str, **labels: str) -> float:
        return self.after.value(name, **labels) - self.before.value(name, **labels)


@pytest.fixture(scope="module")
def traffic(server: VigilProcess) -> Traffic:
    before = scrape(server)
    now = time.time_ns()
    old = now - 40 * DAY_NS
    # traces: 5 + 3 + 2 accepted, then 2 accepted / 1 bad id / 1 too old → 12 accepted in 4 committed requests
    assert post(server, "traces", spans(now, now, now, now, now)) == 200
    assert grpc_send(server, "traces", spans(now, now, now)) == grpc.StatusCode.OK
    assert post(server, "traces", json_spans(2), JSON) == 200
    assert post(server, "traces", spans(now, now, now, old, bad_trace_id=(1,))) == 200
    # logs: 3 accepted, 1 too old; metrics: 4 accepted (over gRPC)
    assert post(server, "logs", logs(now, now, now, old)) == 200
    assert grpc_send(server, "metrics", gauge_points(now, now + 1, now + 2, now + 3)) == grpc.StatusCode.OK
    # refused as a whole
    assert post(server, "traces", b"\xff\xff\xff\xff") == 400  # malformed protobuf
    assert post(server, "logs", b"{nope", JSON) == 400  # malformed JSON
    assert grpc_send(server, "metrics", b"\xff\xff\xff\xff") == grpc.StatusCode.INVALID_ARGUMENT
    assert post(server, "traces", b"x", "text/plain") == 415
    assert post(server, "traces", b"\x00" * (LIMIT + 1)) == 413
    # batch metrics count INSERTs of the flattener: an API read waits until acknowledged data is stored
    assert httpx.get(f"{server.api}/api/services", timeout=30).status_code == 200
    return Traffic(before, scrape(server))


# =========================================================================== assertions


def test_exposition_format(traffic: Traffic) -> None:
    assert traffic.after.content_type.startswith("text/plain")
    assert "version=0.0.4" in traffic.after.content_type
    types = traffic.after.types
    assert types["vigil_ingest_records"] == "counter"
    assert types["vigil_ingest_refused_requests"] == "counter"
    for hist in ("vigil_ingest_batch_requests", "vigil_ingest_batch_records", "vigil_ingest_flush_seconds",
                 "vigil_ingest_request_bytes"):
        assert types[hist] == "histogram", hist
    assert types["vigil_ingest_inflight_bytes"] == "gauge"


@pytest.mark.parametrize(("signal", "outcome", "reason", "expected"), [
    ("traces", "accepted", "", 12),
    ("traces", "rejected", "bad_id", 1),
    ("traces", "rejected", "too_old", 1),
    ("logs", "accepted", "", 3),
    ("logs", "rejected", "too_old", 1),
    ("logs", "rejected", "bad_id", 0),
    ("metrics", "accepted", "", 4),
    ("metrics", "rejected", "too_old", 0),
])
def test_record_counts_match_the_traffic(traffic: Traffic, signal: str, outcome: str, reason: str,
                                         expected: int) -> None:
    got = traffic.delta("vigil_ingest_records_total", signal=signal, outcome=outcome, reason=reason)
    assert got == expected


@pytest.mark.parametrize(("signal", "reason", "expected"), [
    ("traces", "malformed", 1),
    ("logs", "malformed", 1),
    ("metrics", "malformed", 1),
    ("traces", "unsupported_media", 1),
    ("traces", "too_large", 1),
    ("traces", "overloaded", 0),
    ("traces", "store_unavailable", 0),
    ("traces", "internal", 0),
])
def test_refused_requests_match_the_traffic(traffic: Traffic, signal: str, reason: str, expected: int) -> None:
    assert traffic.delta("vigil_ingest_refused_requests_total", signal=signal, reason=reason) == expected


def test_batch_and_flush_histograms_have_observations(traffic: Traffic) -> None:
    for signal, requests, records in (("traces", 4, 12), ("logs", 1, 3), ("metrics", 1, 4)):
        batches = traffic.delta("vigil_ingest_batch_requests_count", signal=signal)
        assert batches >= 1, signal
        # every committed request and record is in exactly one batch
        assert traffic.delta("vigil_ingest_batch_requests_sum", signal=signal) == requests, signal
        assert traffic.delta("vigil_ingest_batch_records_sum", signal=signal) == records, signal
        assert traffic.delta("vigil_ingest_batch_records_count", signal=signal) == batches
        assert traffic.delta("vigil_ingest_flush_seconds_count", signal=signal) == batches
        assert traffic.delta("vigil_ingest_flush_seconds_sum", signal=signal) > 0
        inf = traffic.delta("vigil_ingest_flush_seconds_bucket", signal=signal, le="+Inf")
        assert inf == batches
    # one request-size observation per answered (non-refused) request
    assert traffic.delta("vigil_ingest_request_bytes_count", signal="traces") == 4
    assert traffic.delta("vigil_ingest_request_bytes_sum", signal="traces") > 0


def test_inflight_gauges_present_and_drained(server: VigilProcess, traffic: Traffic) -> None:
    assert ("vigil_ingest_inflight_bytes", frozenset()) in traffic.after.samples
    assert ("vigil_ingest_queued_requests", frozenset()) in traffic.after.samples
    # every request above was answered, and acknowledged = committed: nothing may remain in flight
    deadline = time.monotonic() + 5
    now = traffic.after
    while now.value("vigil_ingest_inflight_bytes") and time.monotonic() < deadline:
        time.sleep(0.1)
        now = scrape(server)
    assert now.value("vigil_ingest_inflight_bytes") == 0
    assert now.value("vigil_ingest_queued_requests") == 0


def test_no_store_errors(traffic: Traffic) -> None:
    errors: Any = {k: v for k, v in traffic.after.samples.items() if k[0] == "vigil_store_errors_total"}
    assert all(v == 0 for v in errors.values()), errors


def test_grpc_oversized_request_is_counted(server: VigilProcess) -> None:
    """OTLP/HTTP counts a too-large request in vigil_ingest_refused_requests_total{reason="too_large"};
    over OTLP/gRPC grpcio refuses it (max_receive_message_length) before Vigil's handler runs, so the
    refusal is invisible in Vigil's metrics."""
    before = scrape(server).value("vigil_ingest_refused_requests_total", signal="traces", reason="too_large")
    assert grpc_send(server, "traces", b"\x00" * (LIMIT + 1)) == grpc.StatusCode.RESOURCE_EXHAUSTED
    after = scrape(server).value("vigil_ingest_refused_requests_total", signal="traces", reason="too_large")
    assert after - before == 1, "gRPC RESOURCE_EXHAUSTED refusal not counted in vigil_ingest_refused_requests_total"
