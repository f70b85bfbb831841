"""Property-based fuzzing (hypothesis) of a real ``vigil serve`` over OTLP/HTTP and OTLP/gRPC.

Inputs: random bytes, byte-mutated valid protobuf requests (traces, metrics, logs), random JSON
documents, structurally and textually mutated official OTLP/JSON examples, random and mutated
gzip/deflate bodies (and bombs), random header values, raw HTTP/1.1 framing with mismatched
``Content-Length``, and structurally valid requests with random field values (ids of any length,
timestamps over the whole fixed64 range, deep ``AnyValue`` trees, non-finite doubles, …).

Properties:

* every OTLP/HTTP answer is 200, 400, 413 or 415 (never 5xx), in the request's content type, with an
  ``Export*ServiceResponse`` (200) or a ``google.rpc.Status`` with the matching code;
* every OTLP/gRPC answer is OK, INVALID_ARGUMENT or RESOURCE_EXHAUSTED;
* the server never crashes: the process is alive after every example and ``/api/health`` is 200;
* its RSS stays bounded (also while inflating a gzip bomb);
* a trace accepted before the fuzzing reads back identical afterwards.

``VIGIL_SOAK=1`` raises the examples per test from 150 to 2000.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import json
import os
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import httpx
import psutil
import pytest
from google.protobuf import json_format
from google.protobuf.internal.encoder import _VarintBytes  # type: ignore[attr-defined]
from google.protobuf.message import Message
from google.rpc import code_pb2, status_pb2
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2 as logs_pb
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as metrics_pb
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as trace_pb
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from tests.vigil_process import VigilProcess

SOAK = os.environ.get("VIGIL_SOAK") == "1"
MAX_EXAMPLES = 2000 if SOAK else 150
FUZZ = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=not SOAK,  # default runs are reproducible (CI); soak runs explore new inputs
    database=None,  # no .hypothesis/ directory in the repository; failures print a reproduce blob
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
LIMIT = 8 << 20  # VIGIL_MAX_REQUEST_BYTES of the fuzzed server
RSS_GROWTH_LIMIT = 300 << 20
PROTOBUF = "application/x-protobuf"
JSON = "application/json"
EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "data" / "otlp_examples"
HTTP_OK = {200, 400, 413, 415}
GRPC_OK = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED}
STATUS_CODE_FOR = {400: code_pb2.INVALID_ARGUMENT, 413: code_pb2.RESOURCE_EXHAUSTED, 415: code_pb2.INVALID_ARGUMENT}


@dataclass(frozen=True)
class SignalSpec:
    name: str
    request: Any
    response: Any
    grpc_method: str


SIGNALS = {
    "traces": SignalSpec("traces", trace_pb.ExportTraceServiceRequest, trace_pb.ExportTraceServiceResponse,
                         "/opentelemetry.proto.collector.trace.v1.TraceService/Export"),
    "metrics": SignalSpec("metrics", metrics_pb.ExportMetricsServiceRequest, metrics_pb.ExportMetricsServiceResponse,
                          "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"),
    "logs": SignalSpec("logs", logs_pb.ExportLogsServiceRequest, logs_pb.ExportLogsServiceResponse,
                       "/opentelemetry.proto.collector.logs.v1.LogsService/Export"),
}
SIGNAL_NAMES = sorted(SIGNALS)


# --------------------------------------------------------------------------- OTLP/JSON helpers

_ID_KEYS = {"traceId", "spanId", "parentSpanId"}


def _map_ids(node: Any, convert: Callable[[str], str]) -> None:
    if isinstance(node, dict):
        for k, v in node.items():
            if k in _ID_KEYS and isinstance(v, str):
                node[k] = convert(v)
            else:
                _map_ids(v, convert)
    elif isinstance(node, list):
        for v in node:
            _map_ids(v, convert)


def to_otlp_json(msg: Message) -> bytes:
    doc = json_format.MessageToDict(msg, use_integers_for_enums=True)
    _map_ids(doc, lambda v: base64.b64decode(v).hex())
    return json.dumps(doc).encode()


def from_otlp_json(cls: Any, text: bytes) -> Any:
    doc = json.loads(text)
    _map_ids(doc, lambda v: base64.b64encode(bytes.fromhex(v)).decode())
    return json_format.ParseDict(doc, cls(), ignore_unknown_fields=True)


EXAMPLE_JSON = {  # signal → official OTLP/JSON example bodies
    "traces": [(EXAMPLES_DIR / "trace.json").read_bytes()],
    "metrics": [(EXAMPLES_DIR / "metrics.json").read_bytes()],
    "logs": [(EXAMPLES_DIR / "logs.json").read_bytes(), (EXAMPLES_DIR / "events.json").read_bytes()],
}


def _rich_trace() -> bytes:
    req = trace_pb.ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.add(key="service.name").value.string_value = "fuzz-seed"
    ss = rs.scope_spans.add()
    ss.scope.name, ss.scope.version = "fuzz", "1.0"
    now = time.time_ns()
    for i in range(3):
        s = ss.spans.add(trace_id=bytes([0xAB] * 15 + [i + 1]), span_id=bytes([0xCD] * 7 + [i + 1]), name=f"op{i}")
        s.parent_span_id = bytes([0xCD] * 7 + [i]) if i else b""
        s.kind = trace_pb2.Span.SPAN_KIND_CLIENT
        s.start_time_unix_nano, s.end_time_unix_nano = now, now + 1000 * (i + 1)
        s.attributes.add(key="s").value.string_value = "text"
        s.attributes.add(key="i").value.int_value = -7
        s.attributes.add(key="d").value.double_value = 2.5
        s.attributes.add(key="b").value.bool_value = True
        s.attributes.add(key="raw").value.bytes_value = b"\x00\x01"
        s.attributes.add(key="arr").value.array_value.values.add().string_value = "x"
        s.attributes.add(key="map").value.kvlist_value.values.add(key="k").value.int_value = 1
        ev = s.events.add(time_unix_nano=now + 5, name="ev")
        ev.attributes.add(key="e").value.string_value = "v"
        ln = s.links.add(trace_id=bytes(16 * [0x11]), span_id=bytes(8 * [0x22]))
        ln.attributes.add(key="l").value.int_value = 3
        s.status.code, s.status.message = trace_pb2.Status.STATUS_CODE_ERROR, "bad"
    return req.SerializeToString()


def _rich_metrics() -> bytes:
    req = metrics_pb.ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    rm.resource.attributes.add(key="service.name").value.string_value = "fuzz-seed"
    sm = rm.scope_metrics.add()
    now = time.time_ns()
    g = sm.metrics.add(name="g")
    g.gauge.data_points.add(time_unix_nano=now, as_double=1.5)
    s = sm.metrics.add(name="s")
    s.sum.is_monotonic, s.sum.aggregation_temporality = True, metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
    s.sum.data_points.add(time_unix_nano=now, start_time_unix_nano=now - 10, as_int=4)
    h = sm.metrics.add(name="h")
    h.histogram.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_DELTA
    h.histogram.data_points.add(time_unix_nano=now, count=3, sum=6.0, bucket_counts=[1, 1, 1],
                                explicit_bounds=[1.0, 2.0], min=1.0, max=3.0)
    e = sm.metrics.add(name="e")
    ep = e.exponential_histogram.data_points.add(time_unix_nano=now, count=2, sum=3.0, scale=2, zero_count=0)
    ep.positive.offset, ep.positive.bucket_counts[:] = 1, [1, 1]
    q = sm.metrics.add(name="q")
    qp = q.summary.data_points.add(time_unix_nano=now, count=2, sum=4.0)
    qp.quantile_values.add(quantile=0.5, value=2.0)
    return req.SerializeToString()


def _rich_logs() -> bytes:
    req = logs_pb.ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    rl.resource.attributes.add(key="service.name").value.string_value = "fuzz-seed"
    lr = rl.scope_logs.add().log_records.add(time_unix_nano=time.time_ns(), severity_text="WARN")
    lr.severity_number = logs_pb2.SEVERITY_NUMBER_WARN
    lr.body.kvlist_value.values.add(key="msg").value.string_value = "hello"
    lr.trace_id, lr.span_id = bytes(16 * [0x33]), bytes(8 * [0x44])
    lr.attributes.add(key="a").value.array_value.values.add().double_value = 1.25
    return req.SerializeToString()


PROTOBUF_SEEDS: list[tuple[str, bytes]] = [
    *((sig, from_otlp_json(SIGNALS[sig].request, body).SerializeToString())
      for sig, bodies in EXAMPLE_JSON.items() for body in bodies),
    ("traces", _rich_trace()), ("metrics", _rich_metrics()), ("logs", _rich_logs()),
]


# --------------------------------------------------------------------------- the fuzzed server


@dataclass(repr=False)
class Target:
    vigil: VigilProcess
    known_trace_id: str
    known_trace: dict[str, Any]
    rss_before: int
    http: httpx.Client
    channel: grpc.Channel
    stats: dict[str, dict[Any, int]] = field(default_factory=lambda: {"http": {}, "grpc": {}})

    def __repr__(self) -> str:
        return f"Target(vigil={self.vigil.otlp_http}, log={self.vigil.log_path})"

    @property
    def pid(self) -> int:
        assert self.vigil.proc is not None
        return self.vigil.proc.pid

    def rss(self) -> int:
        return int(psutil.Process(self.pid).memory_info().rss)

    def assert_alive(self) -> None:
        assert self.vigil.proc is not None and self.vigil.proc.poll() is None, \
            f"vigil died:\n{self.vigil.log_path.read_text()[-4000:] if self.vigil.log_path else ''}"


def start_server(base: Path, env: dict[str, str]) -> VigilProcess:
    """Start ``vigil serve``; retried once on fresh ports (``free_port()`` can race with other processes)."""
    try:
        return VigilProcess(base / "try1", env=env).start()
    except RuntimeError:
        return VigilProcess(base / "try2", env=env).start()


def known_trace_request(trace_id: bytes) -> bytes:
    req = trace_pb.ExportTraceServiceRequest.FromString(_rich_trace())
    for i, span in enumerate(req.resource_spans[0].scope_spans[0].spans):
        span.trace_id = trace_id
        span.name = f"known-{i}"
    req.resource_spans[0].resource.attributes.add(key="fuzz.known").value.bool_value = True
    return req.SerializeToString()


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    env = {f"VIGIL_RETENTION_{s}_DAYS": "3650" for s in ("TRACES", "LOGS", "METRICS")}
    env["VIGIL_MAX_REQUEST_BYTES"] = str(LIMIT)
    vigil = start_server(tmp_path_factory.mktemp("fuzz"), env)
    http = httpx.Client(timeout=60)
    channel = grpc.insecure_channel(vigil.otlp_grpc)
    try:
        trace_id = os.urandom(16)
        r = http.post(f"{vigil.otlp_http}/v1/traces", content=known_trace_request(trace_id),
                      headers={"content-type": PROTOBUF})
        assert r.status_code == 200 and r.content == b"", r.content
        known = http.get(f"{vigil.api}/api/traces/{trace_id.hex()}").raise_for_status().json()
        assert len(known["spans"]) == 3
        for signal, seed in PROTOBUF_SEEDS:  # warm every ingest path before the RSS baseline
            http.post(f"{vigil.otlp_http}/v1/{signal}", content=seed,
                      headers={"content-type": PROTOBUF}).raise_for_status()
        rss = int(psutil.Process(vigil.proc.pid).memory_info().rss) if vigil.proc else 0
        yield Target(vigil, trace_id.hex(), known, rss, http, channel)
    finally:
        channel.close()
        http.close()
        vigil.stop()


# --------------------------------------------------------------------------- exchanging requests


def media(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def check_http(t: Target, signal: str, body: bytes, headers: dict[str, Any], path: str | None = None) -> int:
    """POST and assert the HTTP properties; returns the status."""
    url = f"{t.vigil.otlp_http}{path or '/v1/' + signal}"
    try:
        r = t.http.post(url, content=body, headers=headers)
    except httpx.LocalProtocolError:
        reject()  # the client refused to send it (e.g. a header value h11 considers illegal): not a server case
    except httpx.TransportError as exc:
        t.assert_alive()
        raise AssertionError(f"transport error {exc!r} for a {len(body)}-byte body") from exc
    t.assert_alive()
    t.stats["http"][r.status_code] = t.stats["http"].get(r.status_code, 0) + 1
    assert r.status_code in HTTP_OK, f"HTTP {r.status_code}: {r.content[:300]!r}"
    sent_ct = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    sent_ct = sent_ct.decode("latin-1") if isinstance(sent_ct, bytes) else sent_ct
    as_json = media(sent_ct) == JSON
    assert media(r.headers.get("content-type")) == (JSON if as_json else PROTOBUF)
    if r.status_code == 200:
        resp = SIGNALS[signal].response()
        if as_json:
            json_format.ParseDict(r.json(), resp)
        else:
            resp.ParseFromString(r.content)
    else:
        status = json_format.ParseDict(r.json(), status_pb2.Status()) if as_json else \
            status_pb2.Status.FromString(r.content)
        assert status.code == STATUS_CODE_FOR[r.status_code] and status.message, status
    return r.status_code


def check_grpc(t: Target, signal: str, payload: bytes, compression: grpc.Compression | None = None,
               metadata: list[tuple[str, str]] | None = None) -> grpc.StatusCode:
    call = t.channel.unary_unary(SIGNALS[signal].grpc_method, request_serializer=None, response_deserializer=None)
    details = ""
    try:
        raw = call(payload, timeout=60, compression=compression, metadata=metadata)
        code = grpc.StatusCode.OK
        SIGNALS[signal].response.FromString(raw)
    except grpc.RpcError as err:
        code, details = err.code(), err.details()  # type: ignore[attr-defined]
        if code == grpc.StatusCode.INVALID_ARGUMENT:
            trailer = dict(err.trailing_metadata() or ()).get("grpc-status-details-bin")  # type: ignore[attr-defined]
            assert trailer is not None, "INVALID_ARGUMENT without a google.rpc.Status detail"
            assert status_pb2.Status.FromString(trailer).code == code_pb2.INVALID_ARGUMENT
    t.assert_alive()
    t.stats["grpc"][code.name] = t.stats["grpc"].get(code.name, 0) + 1
    assert code in GRPC_OK, f"gRPC {code}: {details[:300]}"
    return code


# --------------------------------------------------------------------------- strategies

signals = st.sampled_from(SIGNAL_NAMES)
body_media = st.sampled_from([PROTOBUF, JSON])


@st.composite
def mutations(draw: st.DrawFn, data: bytes) -> bytes:
    """Byte-level mutations: flip/set/insert/delete/duplicate/truncate/overlong varints."""
    buf = bytearray(data)
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(["flip", "set", "insert", "delete", "dup", "truncate", "varint"]))
        pos = draw(st.integers(0, max(len(buf) - 1, 0)))
        if op == "flip" and buf:
            buf[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and buf:
            buf[pos] = draw(st.integers(0, 255))
        elif op == "insert":
            buf[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete" and buf:
            del buf[pos:pos + draw(st.integers(1, 16))]
        elif op == "dup" and buf:
            buf[pos:pos] = buf[pos:pos + draw(st.integers(1, 64))]
        elif op == "truncate":
            del buf[pos:]
        elif op == "varint":
            buf[pos:pos] = b"\xff" * draw(st.integers(1, 11)) + b"\x01"
    return bytes(buf)


@st.composite
def mutated_protobuf(draw: st.DrawFn) -> tuple[str, bytes]:
    signal, seed = draw(st.sampled_from(PROTOBUF_SEEDS))
    return signal, draw(mutations(seed))


# Protobuf wire-level tree: a message is a list of (field number, wire type, value); value is an int
# (varint), bytes (fixed32/64, or a length-delimited payload that is not a message) or a nested list.
WireField = tuple[int, int, Any]


def _read_varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        if i >= len(buf) or shift > 63:
            raise ValueError("bad varint")
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return result, i


def wire_parse(buf: bytes, depth: int = 0) -> list[WireField]:
    """Parse protobuf wire format without a schema (length-delimited payloads that parse become lists)."""
    out: list[WireField] = []
    i = 0
    while i < len(buf):
        key, i = _read_varint(buf, i)
        number, wire_type = key >> 3, key & 7
        value: Any
        if number == 0:
            raise ValueError("field 0")
        if wire_type == 0:
            value, i = _read_varint(buf, i)
        elif wire_type in (1, 5):
            n = 8 if wire_type == 1 else 4
            value, i = buf[i:i + n], i + n
        elif wire_type == 2:
            n, i = _read_varint(buf, i)
            value, i = buf[i:i + n], i + n
            if depth < 12 and value:
                with contextlib.suppress(ValueError):
                    value = wire_parse(value, depth + 1)
        else:
            raise ValueError("group wire types")
        out.append((number, wire_type, value))
    if i != len(buf):
        raise ValueError("overrun")
    return out


_write_varint = _VarintBytes  # protobuf's own encoder (also used by storage)


def wire_encode(fields: list[WireField]) -> bytes:
    out = bytearray()
    for number, wire_type, value in fields:
        out += _write_varint(number << 3 | wire_type)
        if wire_type == 0:
            out += _write_varint(value)
        elif wire_type in (1, 5):
            out += value
        else:
            payload = wire_encode(value) if isinstance(value, list) else value
            out += _write_varint(len(payload)) + payload
    return bytes(out)


def _containers(fields: list[WireField], out: list[list[WireField]]) -> list[list[WireField]]:
    out.append(fields)
    for _, wire_type, value in fields:
        if wire_type == 2 and isinstance(value, list):
            _containers(value, out)
    return out


def _random_field(draw: st.DrawFn) -> WireField:
    number = draw(st.integers(1, 20))
    wire_type = draw(st.sampled_from([0, 1, 2, 5]))
    if wire_type == 0:
        return number, 0, draw(st.integers(0, 2**64 - 1))
    if wire_type in (1, 5):
        return number, wire_type, draw(st.binary(min_size=8 if wire_type == 1 else 4, max_size=8 if wire_type == 1
                                                 else 4))
    return number, 2, draw(st.binary(max_size=24))


@st.composite
def wire_mutated_protobuf(draw: st.DrawFn) -> tuple[str, bytes]:
    """Well-framed protobuf with field-level edits at any depth: duplicated fields (repeated oneof members,
    repeated singular fields), unknown fields, known field numbers with another wire type, deletions and
    reordering. Every length prefix is re-computed, so the result is always well-formed wire data."""
    signal, seed = draw(st.sampled_from(PROTOBUF_SEEDS))
    tree = wire_parse(seed)
    for _ in range(draw(st.integers(1, 4))):
        containers = _containers(tree, [])
        fields = containers[draw(st.integers(0, len(containers) - 1))]
        op = draw(st.sampled_from(["duplicate", "insert", "retype", "delete", "swap"]))
        pos = draw(st.integers(0, max(len(fields) - 1, 0)))
        if op == "insert" or not fields:
            fields.insert(pos, _random_field(draw))
        elif op == "duplicate":
            fields.insert(draw(st.integers(0, len(fields))), wire_parse(wire_encode([fields[pos]]))[0])
        elif op == "retype":
            number = fields[pos][0]
            fields[pos] = (number, *_random_field(draw)[1:])
        elif op == "delete":
            del fields[pos]
        elif op == "swap":
            other = draw(st.integers(0, len(fields) - 1))
            fields[pos], fields[other] = fields[other], fields[pos]
    return signal, wire_encode(tree)


json_scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
                | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=40))
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=20), inner, max_size=5),
    max_leaves=30,
)
OTLP_KEYS = ["resourceSpans", "resourceMetrics", "resourceLogs", "scopeSpans", "scopeMetrics", "scopeLogs", "spans",
             "logRecords", "metrics", "dataPoints", "traceId", "spanId", "parentSpanId", "attributes", "value",
             "stringValue", "intValue", "doubleValue", "arrayValue", "kvlistValue", "values", "kind", "status",
             "code", "startTimeUnixNano", "timeUnixNano", "body", "gauge", "sum", "histogram", "asDouble", "asInt"]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def mutated_otlp_json(draw: st.DrawFn) -> tuple[str, bytes]:
    """An official example with structural edits (replace/delete/rename/duplicate nodes), then maybe
    byte-level edits of the text."""
    signal = draw(signals)
    doc = json.loads(draw(st.sampled_from(EXAMPLE_JSON[signal])))
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(doc)
        path = draw(st.sampled_from(paths))
        if not path:
            continue
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        key = path[-1]
        op = draw(st.sampled_from(["replace", "delete", "rename", "duplicate"]))
        if op == "replace":
            parent[key] = draw(json_values | st.sampled_from(["", "zz", "00" * 16, "-1", "1e400", "AAAA"]))
        elif op == "delete":
            del parent[key]
        elif op == "rename" and isinstance(parent, dict):
            parent[draw(st.sampled_from(OTLP_KEYS))] = parent.pop(key)
        elif op == "duplicate" and isinstance(parent, list):
            parent.insert(key, json.loads(json.dumps(parent[key])))
    text = json.dumps(doc).encode()
    if draw(st.booleans()):
        text = draw(mutations(text))
    return signal, text


@st.composite
def compressed_bodies(draw: st.DrawFn) -> tuple[str, bytes, str]:
    """(signal, body, content-encoding): valid, mutated, truncated, multi-member and bomb-like bodies."""
    signal, seed = draw(st.sampled_from(PROTOBUF_SEEDS))
    inner = draw(st.one_of(st.just(seed), mutations(seed), st.binary(max_size=2048),
                           st.integers(0, 2 * LIMIT).map(lambda n: b"\x00" * n)))
    encoding = draw(st.sampled_from(["gzip", "deflate"]))
    level = draw(st.integers(0, 9))
    body = gzip.compress(inner, compresslevel=level) if encoding == "gzip" else zlib.compress(inner, level)
    kind = draw(st.sampled_from(["plain", "mutated", "truncated", "members", "trailing-garbage", "random"]))
    if kind == "mutated":
        body = draw(mutations(body))
    elif kind == "truncated":
        body = body[:draw(st.integers(0, max(len(body) - 1, 0)))]
    elif kind == "members":
        body = body * draw(st.integers(2, 5))
    elif kind == "trailing-garbage":
        body += draw(st.binary(min_size=1, max_size=32))
    elif kind == "random":
        body = draw(st.binary(max_size=512))
    return signal, body, encoding


header_text = st.binary(max_size=60).map(
    lambda b: bytes(c for c in b if c == 9 or 0x20 <= c != 0x7F).strip(b" \t")
)
content_types = st.one_of(
    st.sampled_from([PROTOBUF, JSON, "application/protobuf", "application/json; charset=utf-8", "APPLICATION/JSON",
                     "application/x-protobuf;", "application/json ;x=1", "text/plain", "application/grpc", "*/*",
                     "application/json, application/x-protobuf", ""]),
    header_text.map(lambda b: b.decode("latin-1")),
)
content_encodings = st.one_of(
    st.sampled_from(["gzip", "deflate", "identity", "", "GZIP", "Deflate", "gzip, identity", "br", "x-gzip", "zstd"]),
    header_text.map(lambda b: b.decode("latin-1")),
)


# --------------------------------------------------------------------------- structurally valid, random values

u64 = st.one_of(st.sampled_from([0, 1, 2**32 - 1, 4294967295 * 10**9, 2**63 - 1, 2**63, 2**64 - 1]),
                st.integers(0, 2**64 - 1), st.just(time.time_ns()))
i64 = st.integers(-(2**63), 2**63 - 1)
i32 = st.integers(-(2**31), 2**31 - 1)
u32 = st.integers(0, 2**32 - 1)
doubles = st.floats(allow_nan=True, allow_infinity=True)
ids = st.one_of(st.binary(min_size=0, max_size=20), st.sampled_from([b"", b"\x00" * 8, b"\x00" * 16]),
                st.binary(min_size=8, max_size=8), st.binary(min_size=16, max_size=16))
texts = st.text(max_size=30)


def _any_value(depth: int) -> st.SearchStrategy[common_pb2.AnyValue]:
    scalars = st.one_of(
        texts.map(lambda v: common_pb2.AnyValue(string_value=v)),
        st.booleans().map(lambda v: common_pb2.AnyValue(bool_value=v)),
        i64.map(lambda v: common_pb2.AnyValue(int_value=v)),
        doubles.map(lambda v: common_pb2.AnyValue(double_value=v)),
        st.binary(max_size=20).map(lambda v: common_pb2.AnyValue(bytes_value=v)),
        st.just(common_pb2.AnyValue()),
    )
    if depth == 0:
        return scalars
    inner = _any_value(depth - 1)
    return st.one_of(
        scalars,
        st.lists(inner, max_size=3).map(lambda vs: common_pb2.AnyValue(array_value=common_pb2.ArrayValue(values=vs))),
        st.lists(st.tuples(texts, inner), max_size=3).map(lambda kvs: common_pb2.AnyValue(
            kvlist_value=common_pb2.KeyValueList(values=[common_pb2.KeyValue(key=k, value=v) for k, v in kvs]))),
    )


any_values = _any_value(4)
attributes = st.lists(st.builds(common_pb2.KeyValue, key=texts, value=any_values), max_size=4)
resource_attributes = st.builds(
    lambda attrs, service: attrs if service is None else [
        *attrs, common_pb2.KeyValue(key="service.name", value=common_pb2.AnyValue(string_value=service))],
    attributes, st.none() | texts)


@st.composite
def random_traces(draw: st.DrawFn) -> Any:
    req = trace_pb.ExportTraceServiceRequest()
    for _ in range(draw(st.integers(0, 2))):
        rs = req.resource_spans.add()
        rs.resource.attributes.extend(draw(resource_attributes))
        rs.schema_url = draw(texts)
        for _ in range(draw(st.integers(0, 2))):
            ss = rs.scope_spans.add()
            ss.scope.name, ss.scope.version = draw(texts), draw(texts)
            ss.scope.attributes.extend(draw(attributes))
            for _ in range(draw(st.integers(0, 3))):
                s = ss.spans.add(trace_id=draw(ids), span_id=draw(ids), parent_span_id=draw(ids), name=draw(texts))
                s.trace_state, s.flags = draw(texts), draw(u32)
                s.kind = draw(i32)  # type: ignore[assignment]
                s.start_time_unix_nano, s.end_time_unix_nano = draw(u64), draw(u64)
                s.attributes.extend(draw(attributes))
                s.dropped_attributes_count = draw(u32)
                for _ in range(draw(st.integers(0, 2))):
                    ev = s.events.add(time_unix_nano=draw(u64), name=draw(texts))
                    ev.attributes.extend(draw(attributes))
                for _ in range(draw(st.integers(0, 2))):
                    ln = s.links.add(trace_id=draw(ids), span_id=draw(ids), trace_state=draw(texts), flags=draw(u32))
                    ln.attributes.extend(draw(attributes))
                s.status.code = draw(i32)  # type: ignore[assignment]
                s.status.message = draw(texts)
    return req


@st.composite
def random_logs(draw: st.DrawFn) -> Any:
    req = logs_pb.ExportLogsServiceRequest()
    for _ in range(draw(st.integers(0, 2))):
        rl = req.resource_logs.add()
        rl.resource.attributes.extend(draw(resource_attributes))
        for _ in range(draw(st.integers(0, 2))):
            sl = rl.scope_logs.add()
            sl.scope.name = draw(texts)
            for _ in range(draw(st.integers(0, 3))):
                r = sl.log_records.add(time_unix_nano=draw(u64), observed_time_unix_nano=draw(u64),
                                       severity_text=draw(texts), trace_id=draw(ids), span_id=draw(ids),
                                       flags=draw(u32), event_name=draw(texts))
                r.severity_number = draw(i32)  # type: ignore[assignment]
                r.body.CopyFrom(draw(any_values))
                r.attributes.extend(draw(attributes))
    return req


def _point_common(draw: st.DrawFn, p: Any) -> None:
    p.time_unix_nano, p.start_time_unix_nano = draw(u64), draw(u64)
    p.attributes.extend(draw(attributes))
    if hasattr(p, "flags"):
        p.flags = draw(u32)


@st.composite
def random_metrics(draw: st.DrawFn) -> Any:
    req = metrics_pb.ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    rm.resource.attributes.extend(draw(resource_attributes))
    sm = rm.scope_metrics.add()
    for _ in range(draw(st.integers(0, 4))):
        m = sm.metrics.add(name=draw(texts), unit=draw(texts), description=draw(texts))
        kind = draw(st.sampled_from(["none", "gauge", "sum", "histogram", "exponential_histogram", "summary"]))
        for _ in range(draw(st.integers(0, 3))):
            if kind in ("gauge", "sum"):
                num = (m.gauge if kind == "gauge" else m.sum).data_points.add()
                _point_common(draw, num)
                if draw(st.booleans()):
                    num.as_double = draw(doubles)
                else:
                    num.as_int = draw(i64)
                for _ in range(draw(st.integers(0, 1))):
                    ex = num.exemplars.add(time_unix_nano=draw(u64), span_id=draw(ids), trace_id=draw(ids),
                                         as_double=draw(doubles))
                    ex.filtered_attributes.extend(draw(attributes))
            elif kind == "histogram":
                hist = m.histogram.data_points.add(count=draw(st.integers(0, 2**64 - 1)), sum=draw(doubles))
                _point_common(draw, hist)
                hist.bucket_counts.extend(draw(st.lists(st.integers(0, 2**64 - 1), max_size=6)))
                hist.explicit_bounds.extend(draw(st.lists(doubles, max_size=6)))
                if draw(st.booleans()):
                    hist.min, hist.max = draw(doubles), draw(doubles)
            elif kind == "exponential_histogram":
                exp = m.exponential_histogram.data_points.add(
                    count=draw(st.integers(0, 2**64 - 1)), sum=draw(doubles), scale=draw(i32),
                    zero_count=draw(st.integers(0, 2**64 - 1)), zero_threshold=draw(doubles))
                _point_common(draw, exp)
                for side in (exp.positive, exp.negative):
                    side.offset = draw(i32)
                    side.bucket_counts.extend(draw(st.lists(st.integers(0, 2**64 - 1), max_size=5)))
            elif kind == "summary":
                summ = m.summary.data_points.add(count=draw(st.integers(0, 2**64 - 1)), sum=draw(doubles))
                _point_common(draw, summ)
                for _ in range(draw(st.integers(0, 3))):
                    summ.quantile_values.add(quantile=draw(doubles), value=draw(doubles))
        if kind == "sum":
            m.sum.is_monotonic = draw(st.booleans())
            m.sum.aggregation_temporality = draw(i32)  # type: ignore[assignment]
        elif kind == "histogram":
            m.histogram.aggregation_temporality = draw(i32)  # type: ignore[assignment]
    return req


RANDOM_REQUESTS = {"traces": random_traces(), "metrics": random_metrics(), "logs": random_logs()}


@st.composite
def random_requests(draw: st.DrawFn) -> tuple[str, Any]:
    signal = draw(signals)
    return signal, draw(RANDOM_REQUESTS[signal])


# =========================================================================== properties


@FUZZ
@given(signal=signals, ct=body_media, body=st.binary(max_size=4096))
def test_http_random_bytes(target: Target, signal: str, ct: str, body: bytes) -> None:
    check_http(target, signal, body, {"content-type": ct})


@FUZZ
@given(case=mutated_protobuf())
def test_http_mutated_protobuf(target: Target, case: tuple[str, bytes]) -> None:
    signal, body = case
    check_http(target, signal, body, {"content-type": PROTOBUF})


@FUZZ
@given(signal=signals, payload=st.one_of(st.binary(max_size=4096), mutated_protobuf().map(lambda c: c[1])),
       compression=st.sampled_from([None, grpc.Compression.Gzip, grpc.Compression.Deflate]),
       auth=st.none() | st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40))
def test_grpc_random_and_mutated_bytes(target: Target, signal: str, payload: bytes,
                                       compression: grpc.Compression | None, auth: str | None) -> None:
    metadata = [("authorization", auth.strip())] if auth and auth.strip() else None
    check_grpc(target, signal, payload, compression, metadata)


@FUZZ
@given(case=mutated_protobuf())
def test_grpc_mutated_protobuf_matching_signal(target: Target, case: tuple[str, bytes]) -> None:
    signal, payload = case
    check_grpc(target, signal, payload)


@FUZZ
@given(case=wire_mutated_protobuf(), transport=st.sampled_from(["http", "grpc"]))
def test_wire_level_mutated_protobuf(target: Target, case: tuple[str, bytes], transport: str) -> None:
    signal, body = case
    if transport == "grpc":
        check_grpc(target, signal, body)
    else:
        check_http(target, signal, body, {"content-type": PROTOBUF})


@FUZZ
@given(signal=signals, doc=json_values)
def test_http_random_json_documents(target: Target, signal: str, doc: Any) -> None:
    check_http(target, signal, json.dumps(doc).encode(), {"content-type": JSON})


@FUZZ
@given(case=mutated_otlp_json())
def test_http_mutated_otlp_json(target: Target, case: tuple[str, bytes]) -> None:
    signal, body = case
    check_http(target, signal, body, {"content-type": JSON})


@FUZZ
@given(case=compressed_bodies(), ct=body_media)
def test_http_random_and_mutated_compressed_bodies(target: Target, case: tuple[str, bytes, str], ct: str) -> None:
    signal, body, encoding = case
    check_http(target, signal, body, {"content-type": ct, "content-encoding": encoding})


@FUZZ
@given(case=mutated_protobuf(), ct=content_types, encoding=content_encodings, compress=st.booleans(),
       extra=st.dictionaries(st.sampled_from(["x-fuzz", "accept", "accept-encoding", "authorization", "origin",
                                              "te", "expect", "connection"]), header_text, max_size=3))
def test_http_random_headers(target: Target, case: tuple[str, bytes], ct: str, encoding: str, compress: bool,
                             extra: dict[str, bytes]) -> None:
    signal, body = case
    if compress:
        body = gzip.compress(body)
    headers: dict[str, Any] = {k: v for k, v in extra.items() if k not in ("expect", "connection", "te")}
    headers |= {"content-type": ct.encode("latin-1"), "content-encoding": encoding.encode("latin-1")}
    check_http(target, signal, body, headers)


@FUZZ
@given(case=random_requests(), transport=st.sampled_from(["http-protobuf", "http-json", "grpc"]))
def test_structurally_valid_requests_with_random_values(target: Target, case: tuple[str, Any], transport: str) -> None:
    signal, req = case
    if transport == "grpc":
        check_grpc(target, signal, req.SerializeToString())
    elif transport == "http-json":
        check_http(target, signal, to_otlp_json(req), {"content-type": JSON})
    else:
        check_http(target, signal, req.SerializeToString(), {"content-type": PROTOBUF})


def raw_exchange(t: Target, request: bytes, half_close: bool) -> bytes:
    """Send raw bytes on a fresh connection; return whatever the server answered (maybe nothing)."""
    with socket.create_connection(("127.0.0.1", t.vigil.http_port), timeout=10) as sock:
        try:
            sock.sendall(request)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        chunks = []
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except (TimeoutError, OSError):
            pass
    return b"".join(chunks)


@settings(FUZZ, max_examples=max(MAX_EXAMPLES // 3, 30))
@given(case=mutated_protobuf(), declared_delta=st.integers(-64, 64), chunked=st.booleans(),
       garbage=st.binary(max_size=64), ct=body_media)
def test_http_framing_content_length_mismatch(target: Target, case: tuple[str, bytes], declared_delta: int,
                                              chunked: bool, garbage: bytes, ct: str) -> None:
    """Declared Content-Length shorter/longer than the body, or broken chunked framing. The HTTP stack
    decides; whatever status line comes back must still be a 2xx/4xx this receiver can give."""
    signal, body = case
    head = f"POST /v1/{signal} HTTP/1.1\r\nhost: fuzz\r\ncontent-type: {ct}\r\nconnection: close\r\n"
    if chunked:
        payload = f"{len(body) + declared_delta:x}\r\n".encode() + body + b"\r\n" + garbage + b"0\r\n\r\n"
        request = head.encode() + b"transfer-encoding: chunked\r\n\r\n" + payload
    else:
        request = head.encode() + f"content-length: {max(len(body) + declared_delta, 0)}\r\n\r\n".encode() + body
    answer = raw_exchange(target, request, half_close=True)
    target.assert_alive()
    for line in answer.split(b"\r\n"):
        if line.startswith(b"HTTP/1.1 "):
            status = int(line.split()[1])
            target.stats["http"][status] = target.stats["http"].get(status, 0) + 1
            assert status in HTTP_OK, answer[:300]


@settings(FUZZ, max_examples=max(MAX_EXAMPLES // 3, 30))
@given(method=st.sampled_from(["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "POST"]),
       path=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_./%~", max_size=30))
def test_http_random_methods_and_paths(target: Target, method: str, path: str) -> None:
    r = target.http.request(method, f"{target.vigil.otlp_http}/v1/{path}", content=b"",
                            headers={"content-type": PROTOBUF})
    target.assert_alive()
    assert r.status_code in HTTP_OK | {404, 405}, r.status_code
    if r.status_code == 405:
        assert r.headers["allow"] == "POST"


# =========================================================================== gzip bomb


class PeakRss:
    """Samples a process's RSS every few milliseconds on a thread (peak while a request runs)."""

    def __init__(self, pid: int) -> None:
        self._proc = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, int(self._proc.memory_info().rss))
            time.sleep(0.005)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


_BOMB: dict[str, bytes] = {}


def bomb(encoding: str, inflated: int = 1 << 30) -> bytes:
    """``inflated`` bytes of zeros, compressed (1 GiB → about 1 MB)."""
    key = f"{encoding}-{inflated}"
    if key not in _BOMB:
        comp = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS)
        zeros = b"\x00" * (1 << 24)
        parts = [comp.compress(zeros) for _ in range(inflated // len(zeros))]
        _BOMB[key] = b"".join(parts) + comp.flush()
    return _BOMB[key]


def _stream(data: bytes, chunk: int = 64 << 10) -> Iterator[bytes]:
    for i in range(0, len(data), chunk):
        yield data[i:i + chunk]


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
@pytest.mark.parametrize("ct", [PROTOBUF, JSON])
def test_gzip_bomb_is_413_without_rss_blowup(target: Target, encoding: str, ct: str) -> None:
    body = bomb(encoding)
    assert len(body) < 1_100_000
    before = target.rss()
    with PeakRss(target.pid) as peak:
        started = time.monotonic()
        r = target.http.post(f"{target.vigil.otlp_http}/v1/traces", content=_stream(body),
                             headers={"content-type": ct, "content-encoding": encoding})
        elapsed = time.monotonic() - started
    target.assert_alive()
    assert r.status_code == 413, r.content[:200]
    assert media(r.headers["content-type"]) == ct
    assert peak.peak - before < RSS_GROWTH_LIMIT, f"RSS grew {(peak.peak - before) >> 20} MiB while inflating"
    assert elapsed < 30


# =========================================================================== the server survived


def test_server_survived_fuzzing(target: Target) -> None:
    """Runs last in this module: alive, healthy, bounded memory, and pre-fuzz data intact."""
    target.assert_alive()
    health = target.http.get(f"{target.vigil.api}/api/health")
    assert health.status_code == 200, health.text
    assert health.json()["status"] == "ok"
    after = target.http.get(f"{target.vigil.api}/api/traces/{target.known_trace_id}").raise_for_status().json()
    assert after == target.known_trace
    growth = target.rss() - target.rss_before
    assert growth < RSS_GROWTH_LIMIT, f"RSS grew {growth >> 20} MiB during fuzzing"
    # The receivers still do their job after the fuzzing.
    r = target.http.post(f"{target.vigil.otlp_http}/v1/traces", content=_rich_trace(),
                         headers={"content-type": PROTOBUF})
    assert r.status_code == 200
    print(f"\nanswers seen: {target.stats}; RSS {target.rss_before >> 20} → {target.rss() >> 20} MiB")
