"""Realistic OTLP trace requests for benchmarks: N resources × M spans, ~6 attributes, some events.

Contract: ``make_request(seed, resources, spans_per_resource)`` is deterministic per seed, returns an
``ExportTraceServiceRequest`` whose spans end at "now" minus a small offset, ids are random 16/8 bytes.
"""

from __future__ import annotations

import random
import time

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

SERVICES = ["checkout", "cart", "payments", "catalog", "search", "users", "gateway", "email"]
ROUTES = ["/api/orders/{id}", "/api/cart", "/api/pay", "/api/items", "/api/search", "/login", "/health"]
METHODS = ["GET", "POST", "PUT", "DELETE"]


def _kv(key: str, value: str | int | float | bool) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def make_request(seed: int, resources: int = 5, spans_per_resource: int = 200) -> ExportTraceServiceRequest:
    rnd = random.Random(seed)
    now = time.time_ns()
    req = ExportTraceServiceRequest()
    for r in range(resources):
        service = SERVICES[(seed + r) % len(SERVICES)]
        rs = req.resource_spans.add()
        rs.resource.attributes.extend(
            [
                _kv("service.name", service),
                _kv("service.version", "1.4.2"),
                _kv("host.name", f"node-{rnd.randrange(16)}"),
                _kv("deployment.environment", "production"),
            ]
        )
        ss = rs.scope_spans.add()
        ss.scope.name = "opentelemetry.instrumentation.asgi"
        ss.scope.version = "0.48b0"
        trace_id = rnd.randbytes(16)
        parent = b""
        for i in range(spans_per_resource):
            if i % 10 == 0:
                trace_id, parent = rnd.randbytes(16), b""
            span_id = rnd.randbytes(8)
            start = now - rnd.randrange(1_000_000_000, 5_000_000_000)
            dur = int(rnd.expovariate(1 / 20_000_000))
            route = rnd.choice(ROUTES)
            status = 500 if rnd.random() < 0.02 else 200
            span = Span(
                trace_id=trace_id,
                span_id=span_id,
                parent_span_id=parent,
                name=f"{rnd.choice(METHODS)} {route}",
                kind=Span.SPAN_KIND_SERVER if not parent else Span.SPAN_KIND_CLIENT,
                start_time_unix_nano=start,
                end_time_unix_nano=start + dur,
                status=Status(code=Status.STATUS_CODE_ERROR if status == 500 else Status.STATUS_CODE_UNSET),
            )
            span.attributes.extend(
                [
                    _kv("http.request.method", rnd.choice(METHODS)),
                    _kv("http.route", route),
                    _kv("url.path", route.replace("{id}", str(rnd.randrange(100000)))),
                    _kv("http.response.status_code", status),
                    _kv("server.address", "api.example.com"),
                    _kv("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0"),
                ]
            )
            if rnd.random() < 0.1:
                ev = span.events.add()
                ev.time_unix_nano = start + dur // 2
                ev.name = "exception" if status == 500 else "cache.miss"
                ev.attributes.extend([_kv("exception.type", "TimeoutError"), _kv("exception.message", "upstream")])
            ss.spans.append(span)
            parent = span_id
    return req
