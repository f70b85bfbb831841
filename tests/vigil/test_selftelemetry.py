"""Self-telemetry (``VIGIL_SELF_TELEMETRY=on``): Vigil traces its query API and PostgreSQL calls as service vigil.

A dedicated ``vigil serve`` with self-telemetry and ingest auth on is queried through its own raw
trace API: API requests are SERVER spans named after their route template, the polling endpoints and
the health probe's PostgreSQL ping leave no span, migrations are postgresql CLIENT spans, and nothing
of the ingest path (OTLP/HTTP, OTLP/gRPC, spool, flattener) is ever traced. In-process tests check
where spans go (own receiver with the ingest token, or the ``OTEL_EXPORTER_OTLP_*`` backend) against a
fake OTLP receiver, and the session server (self-telemetry off) has no vigil spans.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as trace_pb
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, StatusCode

from contracts.reader import InMemoryReader
from query.api import build_app
from tests.conftest import LONG_RETENTION
from tests.vigil_process import VigilProcess, start_server
from vigil.cli import _parser
from vigil.config import Config, load
from vigil.modules import start_order, switched_off
from vigil.sections import SelfTelemetryConfig
from vigil.selftelemetry import SelfTelemetry

TOKEN = "selftelemetry-token-" + "5e1f7e1e"
NO_REDIRECT = {"OTEL_EXPORTER_OTLP_ENDPOINT": "", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": ""}
Span = dict[str, Any]


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VigilProcess]:
    env = {**LONG_RETENTION, **NO_REDIRECT, "VIGIL_SELF_TELEMETRY": "on", "VIGIL_AUTH_TOKENS": TOKEN}
    proc = start_server(tmp_path_factory.mktemp("selftelemetry"), env)
    yield proc
    proc.stop()


# --------------------------------------------------------------------------- reading vigil's spans back


def search(server: VigilProcess, **params: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{server.api}/api/traces", params={"service": "vigil", "range": "1h", "limit": "1000", **params},
                  timeout=30)
    assert r.status_code == 200, r.text
    traces: list[dict[str, Any]] = r.json()["traces"]
    return traces


def spans_with(server: VigilProcess, key: str, value: str) -> list[Span]:
    """Every vigil span whose span attribute ``key`` is ``value``."""
    found = []
    for summary in search(server, attr=f"{key}:{value}"):
        trace = httpx.get(f"{server.api}/api/traces/{summary['trace_id']}", timeout=30).json()
        found += [s for s in trace["spans"] if s["attributes"].get(key) == value]
    return found


def wait_for(read: Callable[[], list[Span]], timeout: float = 45.0) -> list[Span]:
    deadline = time.monotonic() + timeout
    while True:
        found = read()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def marker_request(server: VigilProcess) -> Span:
    """GET /api/traces/<fresh id> and wait for its span: everything traced before it is stored by then."""
    trace_id = uuid.uuid4().hex
    assert httpx.get(f"{server.api}/api/traces/{trace_id}", timeout=30).status_code == 404
    [span] = wait_for(lambda: spans_with(server, "url.path", f"/api/traces/{trace_id}"))
    return span


# --------------------------------------------------------------------------- the real server


def test_api_requests_are_server_spans_named_by_route_template(traced: VigilProcess) -> None:
    for path in ("/api/services", "/api/logs", "/api/metrics/names"):
        assert httpx.get(f"{traced.api}{path}", params={"range": "5m"}, timeout=30).status_code == 200
    span = marker_request(traced)
    assert span["name"] == "GET /api/traces/{trace_id}"
    assert span["attributes"]["http.route"] == "/api/traces/{trace_id}"
    assert span["attributes"]["http.request.method"] == "GET"
    assert span["attributes"]["http.response.status_code"] == "404"
    assert span["kind"] == "SPAN_KIND_SERVER" and span["status_code"] != "STATUS_CODE_ERROR"
    assert span["service_name"] == "vigil" and span["resource_attributes"]["service.name"] == "vigil"
    assert span["resource_attributes"]["service.version"] and span["resource_attributes"]["host.name"]
    for route in ("/api/services", "/api/logs", "/api/metrics/names"):
        [first, *_] = spans_with(traced, "http.route", route)
        assert first["name"] == f"GET {route}" and first["kind"] == "SPAN_KIND_SERVER"


def test_health_probes_and_scrapes_leave_no_span(traced: VigilProcess) -> None:
    for _ in range(3):
        assert httpx.get(f"{traced.api}/api/health", timeout=30).status_code == 200
        assert httpx.get(f"{traced.api}/metrics", timeout=30).status_code == 200
    marker_request(traced)  # exported after the probes: they would be stored by now
    assert spans_with(traced, "url.path", "/api/health") == []
    assert spans_with(traced, "url.path", "/metrics") == []
    assert search(traced, name="GET /api/health") == [] and search(traced, name="GET /metrics") == []
    # the health check pings PostgreSQL with SELECT 1: untraced too, or each probe would leave a root span
    pings = [s for q in ("SELECT 1", "SELECT ?") for s in spans_with(traced, "db.query.text", q)]
    assert pings == []


def test_postgres_calls_are_client_spans_of_vigil(traced: VigilProcess) -> None:
    # no API endpoint reads the metadata store yet: the PostgreSQL calls are the start-up migrations
    spans = wait_for(lambda: spans_with(traced, "db.system.name", "postgresql"))
    assert spans, "no postgresql span"
    assert {s["kind"] for s in spans} == {"SPAN_KIND_CLIENT"}
    assert {s["service_name"] for s in spans} == {"vigil"}
    assert {s["scope_name"] for s in spans} == {"opentelemetry.instrumentation.psycopg"}
    queries = {s["attributes"].get("db.query.text") for s in spans}
    assert "SELECT version FROM vigil_schema_migrations" in queries, queries


def test_ingest_path_is_never_traced(traced: VigilProcess) -> None:
    service = f"ingest-probe-{uuid.uuid4().hex[:8]}"
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    auth = {"authorization": f"Bearer {TOKEN}"}
    provider.add_span_processor(SimpleSpanProcessor(HttpSpanExporter(f"{traced.otlp_http}/v1/traces", headers=auth,
                                                                     timeout=30)))
    provider.add_span_processor(SimpleSpanProcessor(GrpcSpanExporter(traced.otlp_grpc, insecure=True,
                                                                     headers=tuple(auth.items()), timeout=30)))
    with provider.get_tracer("probe").start_as_current_span("probe work", kind=SpanKind.SERVER):
        pass
    provider.shutdown()
    probe = httpx.get(f"{traced.api}/api/traces", params={"service": service, "range": "1h"}, timeout=30).json()
    assert [t["span_count"] for t in probe["traces"]] == [2]  # one span over each transport, both stored
    marker_request(traced)  # anything traced while ingesting would be stored by now

    for key, value in (("http.route", "/v1/traces"), ("url.path", "/v1/traces"), ("rpc.system", "grpc"),
                       ("rpc.service", "opentelemetry.proto.collector.trace.v1.TraceService")):
        assert spans_with(traced, key, value) == [], (key, value)
    postgres = {s["name"] for s in spans_with(traced, "db.system.name", "postgresql")}
    for summary in search(traced):
        root = summary["root_name"]
        assert summary["service_names"] == ["vigil"]
        # every vigil trace is an API request on the API port or a PostgreSQL call: nothing else runs traced
        assert (root.startswith("GET /") and "/v1/" not in root) or root in postgres, root
    api_ports = {s["attributes"].get("server.port") for s in spans_with(traced, "http.route", "/api/traces/{trace_id}")}
    assert api_ports == {str(traced.api_port)}


def test_session_server_has_no_self_telemetry(vigil: VigilProcess) -> None:
    health = httpx.get(f"{vigil.api}/api/health", timeout=30).json()
    assert "self_telemetry" not in health["components"]
    for path in ("/api/services", "/api/traces", "/api/traces/" + uuid.uuid4().hex):
        httpx.get(f"{vigil.api}{path}", timeout=30)
    deadline = time.monotonic() + 6.5  # past the batch span processor's 5 s schedule
    while time.monotonic() < deadline:
        assert search(vigil) == []
        time.sleep(1.0)
    services = httpx.get(f"{vigil.api}/api/services", params={"range": "1h"}, timeout=30).json()["services"]
    assert "vigil" not in {s["name"] for s in services}


# --------------------------------------------------------------------------- in process: where spans go


class FakeOtlp:
    """An OTLP/HTTP traces endpoint that records each request's path, headers and decoded body."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], trace_pb.ExportTraceServiceRequest]] = []
        received = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["content-length"]))
                request = trace_pb.ExportTraceServiceRequest()
                request.ParseFromString(body)
                received.append((self.path, {k.lower(): v for k, v in self.headers.items()}, request))
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.end_headers()
                self.wfile.write(trace_pb.ExportTraceServiceResponse().SerializeToString())

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def spans(self) -> list[tuple[dict[str, str], Any]]:
        """(resource attributes, span) of every span received."""
        out = []
        for _, _, request in self.requests:
            for rs in request.resource_spans:
                resource = {a.key: a.value.string_value for a in rs.resource.attributes}
                out += [(resource, span) for ss in rs.scope_spans for span in ss.spans]
        return out


@pytest.fixture
def fake_otlp(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOtlp]:
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http,database")  # configure_otel sets it; restored after
    for name in (*NO_REDIRECT, "OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
                 "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"):
        monkeypatch.delenv(name, raising=False)
    fake = FakeOtlp()
    yield fake
    fake.server.shutdown()


def run_telemetry(telemetry: SelfTelemetry, work: Callable[[SelfTelemetry], None]) -> None:
    asyncio.run(telemetry.start())
    try:
        work(telemetry)
        assert telemetry.flush()
    finally:
        asyncio.run(telemetry.stop(5.0))


def test_own_receiver_gets_api_spans_with_the_first_ingest_token(fake_otlp: FakeOtlp) -> None:
    telemetry = SelfTelemetry(SelfTelemetryConfig(fake_otlp.url, f"{TOKEN}=team,other-token-0123456789", ""),
                              "9.9.9")

    def serve(t: SelfTelemetry) -> None:
        def health() -> dict[str, Any]:
            return {"status": "ok", "components": {}}

        with TestClient(build_app(InMemoryReader(fail=RuntimeError("store down")), health,
                                  plugins=t.plugins())) as client:
            assert client.get("/api/health").status_code == 200
            assert client.get("/api/services").status_code == 500
        with TestClient(build_app(InMemoryReader(), health, plugins=t.plugins())) as client:
            assert client.get("/api/traces/" + "ab" * 16).status_code == 404

    run_telemetry(telemetry, serve)
    assert telemetry.destination == f"{fake_otlp.url}/v1/traces"
    assert {path for path, _, _ in fake_otlp.requests} == {"/v1/traces"}
    assert {h.get("authorization") for _, h, _ in fake_otlp.requests} == {f"Bearer {TOKEN}"}
    spans = {span.name: (resource, span) for resource, span in fake_otlp.spans()}
    assert set(spans) == {"GET /api/services", "GET /api/traces/{trace_id}"}  # no /api/health
    resource, span = spans["GET /api/services"]
    assert resource["service.name"] == "vigil" and resource["service.version"] == "9.9.9"
    assert span.status.code == StatusCode.ERROR.value  # a 5xx is an error, with the exception on it
    assert [e.name for e in span.events] == ["exception"]
    _, missing = spans["GET /api/traces/{trace_id}"]  # a 404 is the client's error, not ours
    assert missing.status.code != StatusCode.ERROR.value and list(missing.events) == []


def test_otel_endpoint_env_sends_spans_to_another_backend(fake_otlp: FakeOtlp,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", fake_otlp.url)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-backend-key=k1")
    telemetry = SelfTelemetry(SelfTelemetryConfig("http://127.0.0.1:9", TOKEN, ""), "9.9.9")

    def emit(t: SelfTelemetry) -> None:
        assert t.otel is not None
        t.otel.tracer_provider.get_tracer("probe").start_span("probe").end()

    run_telemetry(telemetry, emit)
    assert telemetry.destination == "$OTEL_EXPORTER_OTLP_ENDPOINT"
    [(path, headers, _)] = fake_otlp.requests
    assert path == "/v1/traces" and headers.get("x-backend-key") == "k1" and "authorization" not in headers
    assert [(r["service.name"], s.name) for r, s in fake_otlp.spans()] == [("vigil", "probe")]


# --------------------------------------------------------------------------- settings and the module map


def test_setting_flag_and_module_map() -> None:
    assert Config().self_telemetry is False
    assert load(None, env={"VIGIL_SELF_TELEMETRY": "on"}).self_telemetry is True
    args = _parser().parse_args(["serve", "--self-telemetry", "--port", "3002"])
    assert (args.self_telemetry, args.port) == ("true", "3002")
    assert _parser().parse_args(["serve", "--no-self-telemetry"]).self_telemetry == "false"
    assert "self_telemetry" in switched_off(Config())
    assert "self_telemetry" not in start_order("all", switched_off(Config()))
    on = switched_off(load(None, env={"VIGIL_SELF_TELEMETRY": "on"}))
    for role in ("all", "receiver", "query"):
        order = start_order(role, on)
        assert order[0] == "self_telemetry" and order.index("metadata") < order.index("api"), order
    # the migrations' spans need our own receiver up: metadata starts after it
    assert start_order("all", on).index("otlp_http") < start_order("all", on).index("metadata")
