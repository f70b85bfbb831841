"""Tests of the OTLP receivers (decode, validate, HTTP and gRPC transports).

The transport tests put ``contracts.ingest.InMemoryWriter`` behind the receiver as its single stage
(``MemoryWriter`` is kept as its short name here).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from contracts.ingest import InMemoryWriter as MemoryWriter  # noqa: F401 - re-exported for the tests
from receiver.decode import parse_json
from receiver.signals import BY_NAME

EXAMPLES = Path(__file__).resolve().parent.parent / "data" / "otlp_examples"
EXAMPLE_FILES = {"traces": "trace.json", "logs": "logs.json", "metrics": "metrics.json"}


def example_bytes(signal: str) -> bytes:
    return (EXAMPLES / EXAMPLE_FILES[signal]).read_bytes()


def example_request(signal: str) -> Any:
    """The official OTLP/JSON example of ``signal`` as a decoded request message."""
    return parse_json(BY_NAME[signal].request, example_bytes(signal))


def span_request(*start_times_ns: int, service: str = "svc", trace_id: bytes = b"\x01" * 16) -> Any:
    """An ExportTraceServiceRequest with one span per start time (8-byte span ids 1, 2, …)."""
    req = BY_NAME["traces"].request()
    rs = req.resource_spans.add()
    kv = rs.resource.attributes.add()
    kv.key, kv.value.string_value = "service.name", service
    ss = rs.scope_spans.add()
    for i, start in enumerate(start_times_ns, 1):
        s = ss.spans.add()
        s.trace_id, s.span_id, s.name = trace_id, i.to_bytes(8, "big"), f"span-{i}"
        s.start_time_unix_nano, s.end_time_unix_nano = start, start + 1_000_000
    return req


def now_ns() -> int:
    return time.time_ns()


def dumps(doc: Any) -> bytes:
    return json.dumps(doc).encode()
