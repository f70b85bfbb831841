"""Traces from the real OpenTelemetry SDK over OTLP/gRPC and OTLP/HTTP, read back exactly.

A successful export means committed: every check reads back immediately, without polling.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from tests.e2e.expected import KIND_NAMES, STATUS_NAMES, attrs, hex_id
from tests.vigil_process import VigilProcess

ALL_TYPES: dict[str, Any] = {
    "str": "héllo <script>alert(1)</script>",
    "int": -42,
    "big": 9_007_199_254_740_993,
    "float": 3.25,
    "neg_float": -0.125,
    "bool_t": True,
    "bool_f": False,
    "str_list": ["a", "b\"q", "ü"],
    "int_list": [1, -2, 3],
    "float_list": [1.5, 2.25],
    "bool_list": [True, False],
}


def exporter(vigil: VigilProcess, protocol: str) -> Any:
    if protocol == "grpc":
        return GrpcSpanExporter(endpoint=vigil.otlp_grpc, insecure=True, timeout=30)
    return HttpSpanExporter(endpoint=f"{vigil.otlp_http}/v1/traces", timeout=30)


def emit_trace(vigil: VigilProcess, protocol: str, service: str) -> list[ReadableSpan]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service, "deployment.environment": "e2e",
                                                        "res.int": 7}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    provider.add_span_processor(SimpleSpanProcessor(exporter(vigil, protocol)))
    tracer = provider.get_tracer("e2e.tracer", "1.2.3")
    with tracer.start_as_current_span("GET /checkout", kind=SpanKind.SERVER, attributes=ALL_TYPES) as root:
        root.add_event("cache.miss", {"key": "user:1", "attempt": 2, "ratio": 0.5})
        with tracer.start_as_current_span("SELECT orders", kind=SpanKind.CLIENT,
                                          attributes={"db.system": "postgresql"}) as child:
            try:
                raise ValueError("boom")
            except ValueError as exc:
                child.record_exception(exc)
                child.set_status(Status(StatusCode.ERROR, "query failed"))
        linked = root.get_span_context()
        with tracer.start_as_current_span("publish", kind=SpanKind.PRODUCER,
                                          links=[Link(linked, {"link.reason": "fan-out", "n": 1})]):
            pass
    provider.shutdown()
    return list(memory.get_finished_spans())


def check_span(api: dict[str, Any], sdk: ReadableSpan, service: str) -> None:
    ctx = sdk.get_span_context()
    assert api["trace_id"] == hex_id(ctx.trace_id, 32)
    assert api["span_id"] == hex_id(ctx.span_id, 16)
    assert api["parent_span_id"] == (hex_id(sdk.parent.span_id, 16) if sdk.parent else "")
    assert api["name"] == sdk.name
    assert api["kind"] == KIND_NAMES[sdk.kind.value + 1]
    assert api["service_name"] == service
    assert api["start_time_unix_nano"] == sdk.start_time
    assert api["end_time_unix_nano"] == sdk.end_time
    assert api["duration_ns"] == sdk.end_time - sdk.start_time
    assert api["status_code"] == STATUS_NAMES[sdk.status.status_code.value]
    assert api["status_message"] == (sdk.status.description or "")
    assert api["attributes"] == attrs(sdk.attributes)
    assert api["resource_attributes"] == attrs(sdk.resource.attributes)
    assert api["scope_name"] == "e2e.tracer"
    assert api["events"] == [
        {"time_unix_nano": e.timestamp, "name": e.name, "attributes": attrs(e.attributes)} for e in sdk.events
    ]
    assert api["links"] == [
        {"trace_id": hex_id(ln.context.trace_id, 32), "span_id": hex_id(ln.context.span_id, 16),
         "attributes": attrs(ln.attributes)}
        for ln in sdk.links
    ]


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_sdk_trace_roundtrip(vigil: VigilProcess, protocol: str) -> None:
    service = f"e2e-{protocol}-{uuid.uuid4().hex[:8]}"
    spans = emit_trace(vigil, protocol, service)
    assert len(spans) == 3
    trace_id = hex_id(spans[0].get_span_context().trace_id, 32)

    body = httpx.get(f"{vigil.api}/api/traces/{trace_id}").raise_for_status().json()
    assert body["trace_id"] == trace_id
    by_id = {s["span_id"]: s for s in body["spans"]}
    assert len(by_id) == 3
    for sdk in spans:
        check_span(by_id[hex_id(sdk.get_span_context().span_id, 16)], sdk, service)
    exc_event = next(e for e in by_id[hex_id(spans[0].get_span_context().span_id, 16)]["events"])
    assert exc_event["name"] == "exception"
    assert exc_event["attributes"]["exception.type"] == "ValueError"

    found = httpx.get(f"{vigil.api}/api/traces", params={"service": service, "range": "1h"}).json()["traces"]
    assert [t["trace_id"] for t in found] == [trace_id]
    summary = found[0]
    root = next(s for s in spans if s.parent is None)
    assert summary["root_name"] == "GET /checkout"
    assert summary["root_service_name"] == service
    assert summary["start_time_unix_nano"] == min(s.start_time for s in spans)
    assert summary["duration_ns"] == max(s.end_time for s in spans) - root.start_time
    assert summary["span_count"] == 3
    assert summary["error_count"] == 1
    assert summary["service_names"] == [service]


def test_trace_search_filters(vigil: VigilProcess) -> None:
    service = f"e2e-filter-{uuid.uuid4().hex[:8]}"
    spans = emit_trace(vigil, "http", service)
    trace_id = hex_id(spans[0].get_span_context().trace_id, 32)

    def search(**params: Any) -> list[str]:
        r = httpx.get(f"{vigil.api}/api/traces", params={"service": service, **params})
        return [t["trace_id"] for t in r.raise_for_status().json()["traces"]]

    assert search(status="error") == [trace_id]
    assert search(status="ok") == []
    assert search(name="publish") == [trace_id]
    assert search(name="nope") == []
    assert search(attr="db.system:postgresql") == [trace_id]
    assert search(attr=["db.system:postgresql", "deployment.environment:e2e"]) == [trace_id]
    assert search(attr="db.system:mysql") == []
    assert search(min_duration_ms=100_000) == []
    assert search(max_duration_ms=100_000) == [trace_id]
    now = spans[0].end_time / 1e9
    assert search(start=str(now + 60), end=str(now + 120)) == []
    assert search(start=str(now - 60), end=str(now + 60)) == [trace_id]

    services = httpx.get(f"{vigil.api}/api/services").json()["services"]
    mine = next(s for s in services if s["name"] == service)
    assert mine["span_count"] == 3 and mine["error_count"] == 1
    assert mine["p95_duration_ns"] > 0


def test_trace_errors(vigil: VigilProcess) -> None:
    r = httpx.get(f"{vigil.api}/api/traces/{'ab' * 16}")
    assert r.status_code == 404 and r.json()["error"]
    r = httpx.get(f"{vigil.api}/api/traces/not-a-trace")
    assert r.status_code == 400 and "32 hex" in r.json()["error"]
    r = httpx.get(f"{vigil.api}/api/traces", params={"status": "weird"})
    assert r.status_code == 400
    r = httpx.get(f"{vigil.api}/api/traces", params={"range": "forever"})
    assert r.status_code == 400
    r = httpx.get(f"{vigil.api}/api/traces", params={"attr": "novalue"})
    assert r.status_code == 400
    r = httpx.get(f"{vigil.api}/api/traces", params={"limit": "many"})
    assert r.status_code == 400 and r.json()["error"]
