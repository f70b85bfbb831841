"""instrumentation.frameworks: route-template span details, the Litestar plugin config end to end, idempotent helpers.

``route_span_details`` is called in this process with a real Litestar app in the scope. Everything that
builds OpenTelemetry instrumentation runs in a fresh subprocess instead, for two process-wide reasons:
the HTTP/database semantic-convention mode (``OTEL_SEMCONV_STABILITY_OPT_IN``) is read once per process,
by whichever instrumentation is built first, and httpx/psycopg instrumentation patches the libraries
for every test in the process. The subprocesses run with ``OTEL_SEMCONV_STABILITY_OPT_IN=http,database``
(what ``configure_otel`` sets), with SDK providers that are never made global, and write what they saw
to a JSON file the tests here assert on.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
import pytest
from litestar import Litestar, Router, WebSocket, get, websocket
from litestar.exceptions import NotFoundException

from instrumentation.frameworks import (
    instrument_httpx,
    instrument_psycopg,
    litestar_otel_config,
    record_exception,
    route_span_details,
    uninstrument_psycopg,
)

ROOT = Path(__file__).resolve().parents[2]
PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


# ---------------------------------------------------------------------------------------------------------------
# the app: module-level handlers so the subprocess can import and serve the same one


@get("/orders/{order_id:int}")
async def get_order(order_id: int) -> dict[str, int]:
    return {"id": order_id}


@get("/healthz")
async def healthz() -> str:
    return "ok"


@get("/boom")
async def boom() -> None:
    raise RuntimeError("boom 42")


@get("/gone/{item:str}")
async def gone(item: str) -> None:
    raise NotFoundException(f"no {item}")


@get("/files/{rest:path}")
async def files(rest: str) -> str:
    return rest


@websocket("/ws/{room:str}")
async def chat(socket: WebSocket, room: str) -> None:
    await socket.close()


def _app(**kwargs: Any) -> Litestar:
    v1 = Router("/v1", route_handlers=[get_order])
    return Litestar([get_order, healthz, boom, gone, files, chat, v1], **kwargs)


APP = _app()


def _details(**scope: Any) -> tuple[str, dict[str, Any]]:
    full: Any = {"type": "http", "litestar_app": APP, **scope}
    return route_span_details(full)


# ---------------------------------------------------------------------------------------------------------------
# route_span_details


def test_route_template_is_the_span_name_and_http_route() -> None:
    assert _details(path="/orders/42", method="GET") == ("GET /orders/{order_id}",
                                                         {"http.route": "/orders/{order_id}"})


def test_litestar_parameter_types_are_stripped() -> None:
    # declared as /orders/{order_id:int} and /files/{rest:path}: the template carries names only
    assert _details(path="/orders/7", method="GET")[1] == {"http.route": "/orders/{order_id}"}
    assert _details(path="/files/a/b/c.txt", method="GET") == ("GET /files/{rest}", {"http.route": "/files/{rest}"})


def test_router_prefix_is_part_of_the_template() -> None:
    assert _details(path="/v1/orders/3", method="GET") == ("GET /v1/orders/{order_id}",
                                                           {"http.route": "/v1/orders/{order_id}"})


def test_no_matching_route_gives_the_method_alone_and_no_http_route() -> None:
    assert _details(path="/nowhere/17", method="GET") == ("GET", {})
    assert _details(path="/orders/not-a-number", method="GET") == ("GET", {})  # the int converter rejects it
    assert _details(path="/orders/5", method="DELETE") == ("DELETE", {})  # 405: no route for this method


def test_trailing_slash_still_finds_the_route() -> None:
    assert _details(path="/orders/42/", method="GET") == ("GET /orders/{order_id}",
                                                          {"http.route": "/orders/{order_id}"})
    assert _details(path="/healthz/", method="GET") == ("GET /healthz", {"http.route": "/healthz"})


def test_root_path_is_not_part_of_the_template() -> None:
    assert _details(path="/shop/orders/9", root_path="/shop", method="GET") == (
        "GET /orders/{order_id}", {"http.route": "/orders/{order_id}"})


def test_path_template_already_in_scope_wins_and_loses_its_types() -> None:
    # the router would say /orders/{order_id}; a template Litestar already put in the scope takes precedence
    assert _details(path="/orders/42", method="GET", path_template="/custom/{a:int}/x/{b:uuid}") == (
        "GET /custom/{a}/x/{b}", {"http.route": "/custom/{a}/x/{b}"})


def test_websocket_scope_without_method_is_named_by_template() -> None:
    assert _details(type="websocket", path="/ws/lobby") == ("/ws/{room}", {"http.route": "/ws/{room}"})


def test_scope_without_an_app_has_no_route() -> None:
    scope: Any = {"type": "http", "path": "/orders/1", "method": "POST"}
    assert route_span_details(scope) == ("POST", {})


# ---------------------------------------------------------------------------------------------------------------
# subprocess plumbing


def _run_isolated(func: str, out: Path) -> Any:
    """Run ``func(out_path)`` of this module in a fresh interpreter; return the JSON it wrote."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("OTEL_") and k not in ("LITESTAR_EXCLUDED_URLS", "PYTHONPATH")}
    env.update(PYTHONPATH=str(ROOT), OTEL_SEMCONV_STABILITY_OPT_IN="http,database")
    code = f"import sys; from tests.instrumentation.test_frameworks import {func}; {func}(sys.argv[1])"
    proc = subprocess.run([sys.executable, "-c", code, str(out)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, f"{func} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    return json.loads(out.read_text())


def _span_json(span: Any) -> dict[str, Any]:
    return {"name": span.name, "kind": span.kind.name, "attributes": dict(span.attributes or {}),
            "status": span.status.status_code.name, "description": span.status.description,
            "events": [{"name": e.name, "attributes": dict(e.attributes or {})} for e in span.events],
            "trace_id": format(span.context.trace_id, "032x"), "span_id": format(span.context.span_id, "016x"),
            "parent": None if span.parent is None else format(span.parent.span_id, "016x")}


def _memory_tracer_provider() -> tuple[Any, Any]:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


# ---------------------------------------------------------------------------------------------------------------
# litestar_otel_config + record_exception, end to end

SHOP_PATHS = ("/orders/7", "/orders/8/", "/healthz", "/boom", "/gone/hat", "/nowhere/3")


def serve_shop_and_record(out: str) -> None:
    """Subprocess side: the app behind OpenTelemetryPlugin(litestar_otel_config(...)), one request per path."""
    from litestar.plugins.opentelemetry import OpenTelemetryPlugin
    from litestar.testing import TestClient
    from opentelemetry import trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    tp, exporter = _memory_tracer_provider()
    reader = InMemoryMetricReader()
    mp = MeterProvider(metric_readers=[reader])
    config = litestar_otel_config(tracer_provider=tp, meter_provider=mp, exclude=["/healthz"])
    app = _app(plugins=[OpenTelemetryPlugin(config)], after_exception=[record_exception])
    requests = {}
    with TestClient(app) as client:
        for path in SHOP_PATHS:
            status = client.get(path).status_code
            requests[path] = {"status": status, "spans": [_span_json(s) for s in exporter.get_finished_spans()]}
            exporter.clear()
    metrics: Any = reader.get_metrics_data()
    durations = [dict(p.attributes) for rm in metrics.resource_metrics for sm in rm.scope_metrics
                 for m in sm.metrics if m.name == "http.server.request.duration" for p in m.data.data_points]
    result = {"requests": requests, "durations": durations,
              "global_tracer_provider": type(trace.get_tracer_provider()).__name__}
    Path(out).write_text(json.dumps(result))


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return _run_isolated("serve_shop_and_record", tmp_path_factory.mktemp("shop") / "shop.json")


def _server_span(shop: dict[str, Any], path: str) -> dict[str, Any]:
    spans = shop["requests"][path]["spans"]
    assert [s["kind"] for s in spans] == ["SERVER"], f"{path}: want exactly one SERVER span, got {spans}"
    return dict(spans[0])


def test_one_server_span_per_request_named_by_route_template(shop: dict[str, Any]) -> None:
    for path in ("/orders/7", "/orders/8/"):
        assert shop["requests"][path]["status"] == 200
        span = _server_span(shop, path)  # no "http send"/"http receive" INTERNAL spans beside it
        assert span["name"] == "GET /orders/{order_id}"
        assert span["parent"] is None
        assert span["attributes"]["http.route"] == "/orders/{order_id}"
        assert span["attributes"]["http.response.status_code"] == 200
        assert span["attributes"]["http.request.method"] == "GET"
        assert span["attributes"]["url.path"] == path  # the raw path stays in url.path
        assert span["status"] == "UNSET" and span["events"] == []


def test_spans_go_to_the_given_tracer_provider_not_the_global_one(shop: dict[str, Any]) -> None:
    assert shop["global_tracer_provider"] == "ProxyTracerProvider"  # never set in the subprocess
    assert sum(len(r["spans"]) for r in shop["requests"].values()) == 5  # all in tp's in-memory exporter


def test_excluded_path_creates_no_span(shop: dict[str, Any]) -> None:
    assert shop["requests"]["/healthz"] == {"status": 200, "spans": []}


def test_unhandled_exception_is_recorded_on_the_server_span(shop: dict[str, Any]) -> None:
    assert shop["requests"]["/boom"]["status"] == 500
    span = _server_span(shop, "/boom")
    assert span["name"] == "GET /boom" and span["attributes"]["http.route"] == "/boom"
    assert span["attributes"]["http.response.status_code"] == 500
    assert span["status"] == "ERROR"
    # (the description record_exception sets is overwritten by the ASGI middleware's status-from-code)
    assert [e["name"] for e in span["events"]] == ["exception"]
    event = span["events"][0]["attributes"]
    assert event["exception.type"] == "RuntimeError"
    assert event["exception.message"] == "boom 42"
    assert "Traceback" in event["exception.stacktrace"] and "in boom" in event["exception.stacktrace"]


def test_client_error_exception_is_not_recorded(shop: dict[str, Any]) -> None:
    assert shop["requests"]["/gone/hat"]["status"] == 404
    span = _server_span(shop, "/gone/hat")
    assert span["name"] == "GET /gone/{item}" and span["attributes"]["http.route"] == "/gone/{item}"
    assert span["attributes"]["http.response.status_code"] == 404
    assert span["events"] == [] and span["status"] != "ERROR"


def test_unknown_path_span_is_named_by_method_without_http_route(shop: dict[str, Any]) -> None:
    assert shop["requests"]["/nowhere/3"]["status"] == 404
    span = _server_span(shop, "/nowhere/3")
    assert span["name"] == "GET"
    assert "http.route" not in span["attributes"]
    assert span["attributes"]["http.response.status_code"] == 404
    assert span["events"] == [] and span["status"] != "ERROR"


def test_request_duration_metric_uses_the_given_meter_provider_and_route_template(shop: dict[str, Any]) -> None:
    routes = sorted(str(a.get("http.route")) for a in shop["durations"])
    assert routes == ["/boom", "/gone/{item}", "/orders/{order_id}", "None"]  # both /orders/n in one series


# ---------------------------------------------------------------------------------------------------------------
# instrument_httpx / instrument_psycopg: calling twice does not double-wrap


class _EchoTraceparent(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        body = json.dumps({"traceparent": self.headers.get("traceparent")}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


def instrument_httpx_twice_and_record(out: str) -> None:
    """Subprocess side: instrument twice, one sync and one async request, spans and received traceparents."""
    import httpx

    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoTraceparent)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/echo"
    tp, exporter = _memory_tracer_provider()
    instrument_httpx(tracer_provider=tp)
    instrument_httpx(tracer_provider=tp)

    async def async_get() -> Any:
        async with httpx.AsyncClient() as client:
            return (await client.get(url)).json()

    result = {}
    for kind, call in (("sync", lambda: httpx.get(url).json()), ("async", lambda: asyncio.run(async_get()))):
        received = call()
        result[kind] = {"traceparent": received["traceparent"],
                        "spans": [_span_json(s) for s in exporter.get_finished_spans()]}
        exporter.clear()
    server.shutdown()
    Path(out).write_text(json.dumps(result))


def test_instrument_httpx_twice_gives_one_client_span_per_request(tmp_path: Path) -> None:
    result = _run_isolated("instrument_httpx_twice_and_record", tmp_path / "httpx.json")
    for kind in ("sync", "async"):
        spans = result[kind]["spans"]
        assert [s["kind"] for s in spans] == ["CLIENT"], f"{kind}: {spans}"
        span = spans[0]
        assert span["name"] == "GET"
        assert span["attributes"]["http.response.status_code"] == 200
        # the server got the traceparent of that one span
        version, trace_id, span_id, _flags = result[kind]["traceparent"].split("-")
        assert (version, trace_id, span_id) == ("00", span["trace_id"], span["span_id"])


def _pg_available() -> None:
    try:
        psycopg.connect(PG_URL, connect_timeout=3).close()
    except psycopg.Error as exc:
        if os.environ.get("VIGIL_TEST_REQUIRE_EXTERNAL_PG") == "1":
            pytest.fail(f"external PostgreSQL required but unreachable at {PG_URL}: {exc}")
        pytest.skip(f"no PostgreSQL at {PG_URL}")


def instrument_psycopg_twice_and_record(out: str) -> None:
    """Subprocess side: spans of one query after instrumenting twice, after uninstrumenting, after re-instrumenting."""
    tp, exporter = _memory_tracer_provider()

    def one_query() -> list[dict[str, Any]]:
        with psycopg.connect(PG_URL) as conn:
            conn.execute("SELECT 1").fetchone()
        spans = [_span_json(s) for s in exporter.get_finished_spans()]
        exporter.clear()
        return spans

    instrument_psycopg(tracer_provider=tp)
    instrument_psycopg(tracer_provider=tp)
    twice = one_query()
    uninstrument_psycopg()
    uninstrument_psycopg()  # a second undo is harmless
    after_undo = one_query()
    instrument_psycopg(tracer_provider=tp)
    again = one_query()
    uninstrument_psycopg()
    Path(out).write_text(json.dumps({"twice": twice, "after_undo": after_undo, "again": again}))


def test_instrument_psycopg_twice_gives_one_client_span_per_query(tmp_path: Path) -> None:
    _pg_available()
    result = _run_isolated("instrument_psycopg_twice_and_record", tmp_path / "psycopg.json")
    for phase in ("twice", "again"):
        spans = result[phase]
        assert [s["kind"] for s in spans] == ["CLIENT"], f"{phase}: {spans}"
        attrs = spans[0]["attributes"]
        assert spans[0]["name"] == "SELECT"
        assert (attrs["db.system.name"], attrs["db.namespace"], attrs["db.query.text"]) == (
            "postgresql", "test", "SELECT 1")
    assert result["after_undo"] == []
