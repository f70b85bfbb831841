"""The demo shop, run against a real Vigil: every signal it is built to produce arrives, checked through the API."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest

from instrumentation.demo.check import CHECKS, N_PLUS_ONE_SQL, SERVICES, VigilApi
from instrumentation.demo.schema import items_of_order
from tests.demo_fixture import DemoData


@pytest.fixture(scope="module")
def api(demo: DemoData) -> Any:
    client = demo.api()
    yield client
    client.close()


def _spans_of(api: VigilApi, limit: int = 10, **search: Any) -> list[list[dict[str, Any]]]:
    return [api.trace(t["trace_id"]) for t in api.traces(limit=limit, **search)]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__.strip("_") if hasattr(c, "__name__") else "?")
def test_each_expected_signal_arrived(api: VigilApi, check: Any) -> None:
    finding = check(api)
    assert finding.ok, f"{finding.name}: {finding.detail}"


def test_load_generator_counts_equal_stored_frontend_server_spans(api: VigilApi, demo: DemoData) -> None:
    stats = demo.stats
    assert stats.sent > 100 and stats.failures == 0
    assert stats.errors > 0 and stats.client_errors > 0, "the mix must produce 5xx and 4xx answers"
    by_code = {code: len(api.traces(service="frontend", attr=f"http.response.status_code:{code}", limit=1000))
               for code in stats.by_status}
    assert by_code == dict(stats.by_status)
    assert sum(by_code.values()) == stats.responses
    errors = len(api.traces(service="frontend", attr="http.response.status_code:502", limit=1000))
    assert errors == stats.errors


def test_every_service_sends_traces_with_intact_cross_service_links(api: VigilApi) -> None:
    services = {s["name"] for s in api.get("/api/services/")["services"]}
    assert set(SERVICES) <= services
    for spans in _spans_of(api, limit=10, service="payments", name="POST /charge"):
        by_id = {s["span_id"]: s for s in spans}
        assert len({s["trace_id"] for s in spans}) == 1
        roots = [s for s in spans if not s["parent_span_id"]]
        assert [(r["service_name"], r["kind"], r["name"]) for r in roots] == [
            ("frontend", "SPAN_KIND_SERVER", "POST /api/checkout")]
        for span in spans:
            if span["parent_span_id"]:
                parent = by_id[span["parent_span_id"]]  # every parent is stored
                assert parent["start_time_unix_nano"] <= span["start_time_unix_nano"]
                if span["kind"] == "SPAN_KIND_SERVER":  # a service boundary: the caller's client span
                    assert parent["kind"] == "SPAN_KIND_CLIENT"
                    assert parent["service_name"] != span["service_name"]
        assert {s["service_name"] for s in spans} == set(SERVICES) - {"frontend"} | {"frontend"}


def test_server_span_names_use_route_templates_not_raw_paths(api: VigilApi) -> None:
    names = Counter(t["root_name"] for t in api.traces(service="frontend", limit=1000))
    assert "GET /api/orders/{order_id}" in names and "GET /api/products/{product_id}" in names
    raw = [n for n in names if re.search(r"/\d+", n)]
    assert not raw, f"span names with ids in them: {raw}"
    for spans in _spans_of(api, limit=3, service="checkout", name="GET /orders/{order_id}"):
        server = next(s for s in spans if s["service_name"] == "checkout" and s["kind"] == "SPAN_KIND_SERVER")
        assert server["attributes"]["http.route"] == "/orders/{order_id}"


def test_order_page_has_the_n_plus_one_statement_once_per_item(api: VigilApi) -> None:
    traces = _spans_of(api, limit=5, service="checkout", name="GET /orders/{order_id}")
    assert traces
    for spans in traces:
        server = next(s for s in spans if s["service_name"] == "checkout" and s["kind"] == "SPAN_KIND_SERVER")
        order_id = int(server["attributes"]["url.path"].rsplit("/", 1)[-1])
        repeated = [s for s in spans if s["attributes"].get("db.query.text") == N_PLUS_ONE_SQL]
        assert len(repeated) == items_of_order(order_id)
        assert all(s["parent_span_id"] == server["span_id"] for s in repeated)
        assert all(s["attributes"]["db.system.name"] == "postgresql" for s in repeated)


def test_sales_report_runs_the_unindexed_scan(api: VigilApi) -> None:
    spans = _spans_of(api, limit=1, service="checkout", name="GET /reports/sales")[0]
    scan = [s for s in spans if "FROM order_events" in s["attributes"].get("db.query.text", "")]
    point = [s for s in spans if s["kind"] == "SPAN_KIND_CLIENT" and s["attributes"].get("db.system.name")]
    assert len(scan) == 1 and scan == point


def test_payment_errors_carry_exception_events_and_error_logs(api: VigilApi, demo: DemoData) -> None:
    traces = _spans_of(api, limit=20, service="payments", status="error")
    assert traces
    for spans in traces:
        charge = next(s for s in spans if s["service_name"] == "payments" and s["kind"] == "SPAN_KIND_SERVER")
        assert charge["status_code"] == "STATUS_CODE_ERROR"
        assert charge["attributes"]["http.response.status_code"] == "500"
        events = [e for e in charge["events"] if e["name"] == "exception"]
        assert len(events) == 1
        attrs = events[0]["attributes"]
        assert attrs["exception.type"].endswith("PaymentGatewayError")
        message = attrs["exception.message"]
        assert re.fullmatch(r"gateway declined transaction txn_\d{9} for order \d+: code \d+", message)
        assert "instrumentation/demo/backends.py" in attrs["exception.stacktrace"]
        assert "in call_gateway" in attrs["exception.stacktrace"]
        logs = api.get("/api/logs/", trace_id=charge["trace_id"], severity_min="error", service="payments")["logs"]
        assert logs and logs[0]["span_id"] == charge["span_id"]
        assert logs[0]["body"].startswith("payment failed for order")


def test_log_records_carry_trace_ids_of_stored_traces(api: VigilApi) -> None:
    for service in ("checkout", "payments", "inventory"):
        records = [r for r in api.get("/api/logs/", service=service, limit=500)["logs"] if r["trace_id"]]
        if service == "inventory" and not records:
            continue  # inventory logs only on low stock, which a short run may not reach
        assert records, f"{service} sent no log records with trace context"
        spans = api.trace(records[0]["trace_id"])
        assert records[0]["span_id"] in {s["span_id"] for s in spans}
    severities = {r["severity_text"] for r in api.get("/api/logs/", limit=2000)["logs"]}
    assert {"INFO", "ERROR"} <= severities


def test_pool_metrics_report_each_service_pool_by_state(api: VigilApi) -> None:
    for service in ("checkout", "inventory", "payments"):
        points = api.get("/api/metrics/points", name="db.client.connection.count", service=service,
                         limit=200)["points"]
        states = {p["attributes"].get("db.client.connection.state") for p in points}
        pools = {p["attributes"].get("db.client.connection.pool.name") for p in points}
        assert states == {"idle", "used"} and pools == {f"{service}-db"}
        maximum = api.get("/api/metrics/points", name="db.client.connection.max", service=service, limit=5)
        assert {p["value"] for p in maximum["points"]} == {4}
        waits = api.get("/api/metrics/points", name="db.client.connection.wait_time", service=service, limit=5)
        assert waits["points"] and waits["points"][0]["count"] > 0


def test_host_metrics_of_vigils_own_host_arrived(api: VigilApi) -> None:
    for name in ("system.cpu.utilization", "system.memory.usage"):
        points = api.get("/api/metrics/points", name=name, limit=5)["points"]
        assert points, f"no {name}"
