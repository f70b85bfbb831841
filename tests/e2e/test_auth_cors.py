"""Ingest authentication (bearer tokens, tenants) and CORS on real ``vigil serve`` processes.

Servers (module-scoped):

* ``authed``: ``VIGIL_AUTH_TOKENS="<A>=team-a,<B>"`` and no CORS;
* ``cors_one``: ``VIGIL_CORS_ALLOWED_ORIGINS="https://app.example.com"``;
* ``cors_any``: ``VIGIL_CORS_ALLOWED_ORIGINS="*"`` together with a token, for the preflight/auth interplay.
"""

from __future__ import annotations

import base64
import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf import json_format
from google.rpc import code_pb2, status_pb2
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2 as logs_pb
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as metrics_pb
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as trace_pb
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.vigil_process import VigilProcess, start_server

TOKEN_A = "e2e-token-alpha-" + "a1b2c3d4e5f60718"
TOKEN_B = "e2e-token-bravo-" + "0f1e2d3c4b5a6978"
TENANT_A = "team-a"
TENANT_KEY = "vigil.tenant"
ORIGIN = "https://app.example.com"
PROTOBUF = "application/x-protobuf"
JSON = "application/json"
TRACE_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


@pytest.fixture(scope="module")
def authed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VigilProcess]:
    proc = start_server(tmp_path_factory.mktemp("auth"), {"VIGIL_AUTH_TOKENS": f"{TOKEN_A}={TENANT_A},{TOKEN_B}"})
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def cors_one(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VigilProcess]:
    proc = start_server(tmp_path_factory.mktemp("cors-one"), {"VIGIL_CORS_ALLOWED_ORIGINS": ORIGIN})
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def cors_any(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VigilProcess]:
    proc = start_server(tmp_path_factory.mktemp("cors-any"),
                        {"VIGIL_CORS_ALLOWED_ORIGINS": "*", "VIGIL_AUTH_TOKENS": TOKEN_A})
    yield proc
    proc.stop()


# --------------------------------------------------------------------------- requests


def _kv(key: str, value: str) -> common_pb2.KeyValue:
    return common_pb2.KeyValue(key=key, value=common_pb2.AnyValue(string_value=value))


def trace_request(trace_id: bytes, resources: int = 1, claimed_tenant: str | None = "evil") -> Any:
    """``resources`` resource_spans of one span each in trace ``trace_id``; each resource claims
    ``vigil.tenant=<claimed_tenant>`` (twice, to check every copy is replaced)."""
    req = trace_pb.ExportTraceServiceRequest()
    now = time.time_ns()
    for i in range(resources):
        rs = req.resource_spans.add()
        rs.resource.attributes.append(_kv("service.name", f"auth-svc-{i}"))
        if claimed_tenant is not None:
            rs.resource.attributes.extend([_kv(TENANT_KEY, claimed_tenant), _kv(TENANT_KEY, claimed_tenant + "2")])
        s = rs.scope_spans.add().spans.add(trace_id=trace_id, span_id=os.urandom(7) + bytes([i + 1]), name=f"s{i}")
        s.start_time_unix_nano, s.end_time_unix_nano = now, now + 1000
    return req


def new_trace_id() -> bytes:
    return os.urandom(15) + b"\x01"


def body_for(req: Any, content_type: str) -> bytes:
    if content_type == PROTOBUF:
        return bytes(req.SerializeToString())
    doc = json_format.MessageToDict(req, use_integers_for_enums=True)
    for rs in doc.get("resourceSpans", []):
        for ss in rs.get("scopeSpans", []):
            for sp in ss.get("spans", []):
                for key in ("traceId", "spanId"):
                    sp[key] = base64.b64decode(sp[key]).hex()
    return json.dumps(doc).encode()


def http_post(server: VigilProcess, body: bytes, content_type: str = PROTOBUF, path: str = "/v1/traces",
              **headers: str) -> httpx.Response:
    hdrs = {"content-type": content_type, **{k.replace("_", "-"): v for k, v in headers.items()}}
    return httpx.post(f"{server.otlp_http}{path}", content=body, headers=hdrs, timeout=60)


@dataclass
class GrpcAnswer:
    code: grpc.StatusCode
    status: status_pb2.Status | None = None


def grpc_export(server: VigilProcess, payload: bytes, metadata: list[tuple[str, str]] | None,
                method: str = TRACE_EXPORT) -> GrpcAnswer:
    with grpc.insecure_channel(server.otlp_grpc) as channel:
        call = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
        try:
            call(payload, timeout=60, metadata=metadata)
        except grpc.RpcError as err:
            trailer = dict(err.trailing_metadata() or ()).get("grpc-status-details-bin")  # type: ignore[attr-defined]
            return GrpcAnswer(err.code(), status_pb2.Status.FromString(trailer) if trailer else None)  # type: ignore[attr-defined]
    return GrpcAnswer(grpc.StatusCode.OK)


def stored_trace(server: VigilProcess, trace_id: bytes) -> list[dict[str, Any]] | None:
    r = httpx.get(f"{server.api}/api/traces/{trace_id.hex()}", timeout=30)
    if r.status_code == 404:
        return None
    spans: list[dict[str, Any]] = r.raise_for_status().json()["spans"]
    return spans


def error_status(r: httpx.Response) -> status_pb2.Status:
    ct = r.headers["content-type"].split(";")[0]
    if ct == JSON:
        return json_format.ParseDict(r.json(), status_pb2.Status())
    assert ct == PROTOBUF, ct
    return status_pb2.Status.FromString(r.content)


# =========================================================================== authentication

BAD_CREDENTIALS = {
    "missing": None,
    "wrong-token": "Bearer e2e-token-wrong-00000000000000",
    "basic-scheme": f"Basic {TOKEN_A}",
    "token-without-scheme": TOKEN_A,
    "empty-bearer": "Bearer",
    "prefix-of-token": f"Bearer {TOKEN_A[:-1]}",
    "token-with-suffix": f"Bearer {TOKEN_A}x",
    "two-tokens": f"Bearer {TOKEN_A} {TOKEN_B}",
}


@pytest.mark.parametrize("content_type", [PROTOBUF, JSON])
@pytest.mark.parametrize("credential", sorted(BAD_CREDENTIALS))
def test_http_without_valid_token_is_401(authed: VigilProcess, credential: str, content_type: str) -> None:
    tid = new_trace_id()
    value = BAD_CREDENTIALS[credential]
    headers = {"authorization": value} if value is not None else {}
    r = http_post(authed, body_for(trace_request(tid), content_type), content_type, **headers)
    assert r.status_code == 401
    assert r.headers["content-type"].split(";")[0] == content_type
    status = error_status(r)
    assert status.code == code_pb2.UNAUTHENTICATED and status.message
    assert TOKEN_A not in r.text and TOKEN_B not in r.text
    assert stored_trace(authed, tid) is None


def test_http_401_carries_www_authenticate(authed: VigilProcess) -> None:
    """RFC 9110 §15.5.2: a server generating a 401 MUST send a WWW-Authenticate header field
    (RFC 6750 §3: ``Bearer``). receiver/http.py answers 401 without one."""
    r = http_post(authed, b"")
    assert r.status_code == 401
    assert r.headers.get("www-authenticate", "").lower().startswith("bearer")


@pytest.mark.parametrize("case", ["no-token-bad-content-type", "no-token-malformed", "no-token-unknown-encoding"])
def test_http_authentication_comes_before_content_checks(authed: VigilProcess, case: str) -> None:
    """An unauthenticated sender learns nothing about the body handling (and gets no 4xx oracle)."""
    if case == "no-token-bad-content-type":
        r = http_post(authed, b"x", "text/plain")
    elif case == "no-token-malformed":
        r = http_post(authed, b"\xff\xff\xff")
    else:
        r = http_post(authed, b"x", PROTOBUF, content_encoding="br")
    assert r.status_code == 401


@pytest.mark.parametrize("credential", sorted(BAD_CREDENTIALS))
def test_grpc_without_valid_token_is_unauthenticated(authed: VigilProcess, credential: str) -> None:
    tid = new_trace_id()
    value = BAD_CREDENTIALS[credential]
    metadata = [("authorization", value.strip())] if value is not None and value.strip() else None
    ans = grpc_export(authed, trace_request(tid).SerializeToString(), metadata)
    assert ans.code == grpc.StatusCode.UNAUTHENTICATED
    assert ans.status is not None and ans.status.code == code_pb2.UNAUTHENTICATED
    assert stored_trace(authed, tid) is None


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
@pytest.mark.parametrize("transport", ["http-protobuf", "http-json", "grpc"])
@pytest.mark.parametrize("token", [TOKEN_A, TOKEN_B], ids=["tenant-token", "plain-token"])
def test_valid_token_is_accepted(authed: VigilProcess, token: str, transport: str, scheme: str) -> None:
    tid = new_trace_id()
    req = trace_request(tid, claimed_tenant=None)
    credential = f"{scheme} {token}"
    if transport == "grpc":
        assert grpc_export(authed, req.SerializeToString(), [("authorization", credential)]).code == grpc.StatusCode.OK
    else:
        ct = JSON if transport == "http-json" else PROTOBUF
        r = http_post(authed, body_for(req, ct), ct, authorization=credential)
        assert r.status_code == 200, r.content
        assert r.headers["content-type"].split(";")[0] == ct
    spans = stored_trace(authed, tid)
    assert spans is not None and len(spans) == 1
    expected_tenant = TENANT_A if token == TOKEN_A else None
    assert spans[0]["resource_attributes"].get(TENANT_KEY) == expected_tenant


@pytest.mark.parametrize("transport", ["http-protobuf", "http-json", "grpc"])
def test_tenant_token_overrides_claimed_tenant(authed: VigilProcess, transport: str) -> None:
    tid = new_trace_id()
    req = trace_request(tid, resources=3, claimed_tenant="evil")
    credential = f"Bearer {TOKEN_A}"
    if transport == "grpc":
        assert grpc_export(authed, req.SerializeToString(), [("authorization", credential)]).code == grpc.StatusCode.OK
    else:
        ct = JSON if transport == "http-json" else PROTOBUF
        assert http_post(authed, body_for(req, ct), ct, authorization=credential).status_code == 200
    spans = stored_trace(authed, tid)
    assert spans is not None and len(spans) == 3
    for span in spans:
        assert span["resource_attributes"][TENANT_KEY] == TENANT_A, span["resource_attributes"]
        assert span["resource_attributes"]["service.name"].startswith("auth-svc-")


def test_tenant_token_stamps_logs_and_metrics(authed: VigilProcess) -> None:
    service = f"auth-lm-{uuid.uuid4().hex[:8]}"
    now = time.time_ns()
    logs = logs_pb.ExportLogsServiceRequest()
    rl = logs.resource_logs.add()
    rl.resource.attributes.extend([_kv("service.name", service), _kv(TENANT_KEY, "evil")])
    rl.scope_logs.add().log_records.add(time_unix_nano=now).body.string_value = "tenant log"
    metrics = metrics_pb.ExportMetricsServiceRequest()
    rm = metrics.resource_metrics.add()
    rm.resource.attributes.extend([_kv("service.name", service), _kv(TENANT_KEY, "evil")])
    m = rm.scope_metrics.add().metrics.add(name="auth_tenant_gauge")
    m.gauge.data_points.add(time_unix_nano=now, as_double=1.0)
    auth = f"Bearer {TOKEN_A}"
    assert http_post(authed, logs.SerializeToString(), path="/v1/logs", authorization=auth).status_code == 200
    assert http_post(authed, metrics.SerializeToString(), path="/v1/metrics", authorization=auth).status_code == 200
    found = httpx.get(f"{authed.api}/api/logs", params={"service": service}).raise_for_status().json()["logs"]
    assert [e["resource_attributes"][TENANT_KEY] for e in found] == [TENANT_A]
    points = httpx.get(f"{authed.api}/api/metrics/points", params={"name": "auth_tenant_gauge", "service": service})
    assert [p["resource_attributes"][TENANT_KEY] for p in points.raise_for_status().json()["points"]] == [TENANT_A]


def _sdk_spans(service: str) -> list[ReadableSpan]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service, TENANT_KEY: "evil"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with provider.get_tracer("auth.sdk").start_as_current_span("sdk-root"):
        pass
    provider.shutdown()
    return list(memory.get_finished_spans())


def _sdk_exporter(server: VigilProcess, protocol: str, headers: dict[str, str] | None) -> Any:
    if protocol == "grpc":
        return GrpcSpanExporter(endpoint=server.otlp_grpc, insecure=True, timeout=15, headers=headers)
    return HttpSpanExporter(endpoint=f"{server.otlp_http}/v1/traces", timeout=15, headers=headers)


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_sdk_exporters_with_token(authed: VigilProcess, protocol: str) -> None:
    spans = _sdk_spans(f"auth-sdk-{protocol}")
    ctx = spans[0].get_span_context()
    assert ctx is not None
    trace_id = ctx.trace_id.to_bytes(16, "big")

    anonymous = _sdk_exporter(authed, protocol, None)
    try:
        assert anonymous.export(spans) == SpanExportResult.FAILURE
    finally:
        anonymous.shutdown()
    assert stored_trace(authed, trace_id) is None

    exporter = _sdk_exporter(authed, protocol, {"authorization": f"Bearer {TOKEN_A}"})
    try:
        assert exporter.export(spans) == SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    stored = stored_trace(authed, trace_id)
    assert stored is not None and stored[0]["resource_attributes"][TENANT_KEY] == TENANT_A


def test_without_cors_options_is_405(authed: VigilProcess) -> None:
    r = httpx.options(f"{authed.otlp_http}/v1/traces", headers={
        "origin": ORIGIN, "access-control-request-method": "POST"})
    assert r.status_code == 405
    assert r.headers["allow"] == "POST"
    assert "access-control-allow-origin" not in r.headers
    r = http_post(authed, b"", origin=ORIGIN, authorization=f"Bearer {TOKEN_A}")
    assert r.status_code == 200
    assert "access-control-allow-origin" not in r.headers


# =========================================================================== CORS


def preflight(server: VigilProcess, origin: str, path: str = "/v1/traces",
              request_headers: str = "content-type, authorization") -> httpx.Response:
    return httpx.options(f"{server.otlp_http}{path}", headers={
        "origin": origin, "access-control-request-method": "POST",
        "access-control-request-headers": request_headers}, timeout=30)


def tokens(value: str | None) -> set[str]:
    return {t.strip().lower() for t in (value or "").split(",") if t.strip()}


@pytest.mark.parametrize("path", ["/v1/traces", "/v1/metrics", "/v1/logs"])
def test_preflight_from_allowed_origin(cors_one: VigilProcess, path: str) -> None:
    r = preflight(cors_one, ORIGIN, path)
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == ORIGIN
    assert "post" in tokens(r.headers.get("access-control-allow-methods"))
    assert {"content-type", "authorization"} <= tokens(r.headers.get("access-control-allow-headers"))
    assert "origin" in tokens(r.headers.get("vary"))
    assert "access-control-allow-credentials" not in r.headers
    assert r.content == b""


@pytest.mark.parametrize("origin", ["https://evil.example.com", "http://app.example.com", "https://app.example.com.evil.io",
                                    "https://app.example.com:8443", "null", "https://sub.app.example.com"])
def test_preflight_from_other_origin_is_403(cors_one: VigilProcess, origin: str) -> None:
    r = preflight(cors_one, origin)
    assert r.status_code == 403
    assert "access-control-allow-origin" not in r.headers
    assert "access-control-allow-credentials" not in r.headers


@pytest.mark.parametrize("content_type", [PROTOBUF, JSON])
def test_post_from_allowed_origin_carries_acao(cors_one: VigilProcess, content_type: str) -> None:
    tid = new_trace_id()
    r = http_post(cors_one, body_for(trace_request(tid), content_type), content_type, origin=ORIGIN)
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == ORIGIN
    assert "origin" in tokens(r.headers.get("vary"))
    assert "access-control-allow-credentials" not in r.headers
    assert stored_trace(cors_one, tid) is not None


@pytest.mark.parametrize("case", ["malformed-400", "content-type-415", "method-405", "path-404"])
def test_errors_to_allowed_origin_carry_acao(cors_one: VigilProcess, case: str) -> None:
    """A browser can read an error only when the error response carries the CORS header too."""
    if case == "malformed-400":
        r = http_post(cors_one, b"{", JSON, origin=ORIGIN)
    elif case == "content-type-415":
        r = http_post(cors_one, b"x", "text/plain", origin=ORIGIN)
    elif case == "method-405":
        r = httpx.get(f"{cors_one.otlp_http}/v1/traces", headers={"origin": ORIGIN})
    else:
        r = http_post(cors_one, b"{}", JSON, path="/v1/nope", origin=ORIGIN)
    assert r.status_code == {"malformed-400": 400, "content-type-415": 415, "method-405": 405, "path-404": 404}[case]
    assert r.headers.get("access-control-allow-origin") == ORIGIN


def test_post_from_other_origin_has_no_acao(cors_one: VigilProcess) -> None:
    r = http_post(cors_one, body_for(trace_request(new_trace_id()), PROTOBUF), origin="https://evil.example.com")
    assert r.status_code == 200  # CORS is enforced by the browser; the server only withholds the header
    assert "access-control-allow-origin" not in r.headers


def test_wildcard_preflight(cors_any: VigilProcess) -> None:
    """Preflights never carry credentials, so a preflight must succeed without the bearer token."""
    for origin in (ORIGIN, "https://anything.example.org", "http://localhost:5173"):
        r = preflight(cors_any, origin)
        assert r.status_code == 204
        assert r.headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in r.headers
        assert {"content-type", "authorization"} <= tokens(r.headers.get("access-control-allow-headers"))


def test_wildcard_post_with_and_without_token(cors_any: VigilProcess) -> None:
    tid = new_trace_id()
    body = body_for(trace_request(tid), JSON)
    r = http_post(cors_any, body, JSON, origin="https://anything.example.org")
    assert r.status_code == 401
    assert r.headers.get("access-control-allow-origin") == "*", "a 401 must be readable by the browser app"
    r = http_post(cors_any, body, JSON, origin="https://anything.example.org", authorization=f"Bearer {TOKEN_A}")
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in r.headers
    assert stored_trace(cors_any, tid) is not None
