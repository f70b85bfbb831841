"""``/api/metrics/api*`` end to end against the ``demo`` fixture: exact counts from the load generator."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.demo_fixture import DemoData

ROUTES = {"page": ("GET", "/"), "products": ("GET", "/api/products"),
          "product": ("GET", "/api/products/{product_id}"), "search": ("GET", "/api/search"),
          "recommendations": ("GET", "/api/recommendations"), "checkout": ("POST", "/api/checkout"),
          "order": ("GET", "/api/orders/{order_id}"), "sales_report": ("GET", "/api/reports/sales")}


def _get(demo: DemoData, path: str, **params: Any) -> httpx.Response:
    return httpx.get(demo.vigil.api + path, params={"start": demo.started_s, **params}, timeout=30)


def test_totals_and_status_distribution_match_the_load(demo: DemoData) -> None:
    r = _get(demo, "/api/metrics/api/", service="frontend")
    assert r.status_code == 200, r.text
    body = r.json()
    stats = demo.stats
    assert body["totals"]["requests"] == stats.responses
    assert body["totals"]["errors"] == stats.errors
    assert {int(s["status"]): s["requests"] for s in body["by_status"]} == dict(stats.by_status)
    assert sum(b["requests"] for b in body["series"]) == stats.responses
    five = sum(n for code, n in stats.by_status.items() if code >= 500)
    assert {c["status"]: c["requests"] for c in body["by_class"]}.get("5xx", 0) == five
    assert body["availability_percent"] == pytest.approx(100 * (1 - stats.errors / stats.responses))
    assert body["meets_sla"] == (body["availability_percent"] >= 99.9)
    assert 0 < body["totals"]["p50_ms"] <= body["totals"]["p95_ms"] <= body["totals"]["p99_ms"]
    assert 0 <= body["totals"]["apdex"] <= 1


def test_top_endpoints_per_route_match_the_actions(demo: DemoData) -> None:
    r = _get(demo, "/api/metrics/api/top-endpoints", service="frontend", limit=100)
    assert r.status_code == 200, r.text
    rows = r.json()["endpoints"]
    got = {(e["method"], e["route"].replace(":int", "")): e["requests"] for e in rows}
    want = {ROUTES[a]: n for a, n in demo.stats.by_action.items()}
    assert got == want
    assert sum(e["time_share"] for e in rows) == pytest.approx(1.0)
    by_errors = _get(demo, "/api/metrics/api/top-endpoints", service="frontend", sort="errors").json()
    errs = [e["errors"] for e in by_errors["endpoints"]]
    assert errs == sorted(errs, reverse=True) and sum(errs) == demo.stats.errors


def test_slow_requests_are_requests_above_the_threshold(demo: DemoData) -> None:
    r = _get(demo, "/api/metrics/api/slow-requests", threshold_ms=0, service="frontend", limit=1000)
    assert r.status_code == 200, r.text
    rows = r.json()["requests"]
    assert len(rows) == min(1000, demo.stats.responses)
    durations = [x["duration_ms"] for x in rows]
    assert durations == sorted(durations, reverse=True)
    cut = durations[len(durations) // 2]
    above = _get(demo, "/api/metrics/api/slow-requests", threshold_ms=cut, service="frontend", limit=1000).json()
    assert all(x["duration_ms"] > cut for x in above["requests"])
    assert len(above["requests"]) == sum(1 for d in durations if d > cut)


@pytest.mark.parametrize(("path", "params", "parameter"), [
    ("/api/metrics/api/top-endpoints", {"sort": "latency"}, "sort"),
    ("/api/metrics/api/slow-requests", {"threshold_ms": -1}, "threshold_ms"),
    ("/api/metrics/api/top-endpoints", {"limit": 0}, "limit"),
])
def test_bad_parameters_are_400_naming_them(demo: DemoData, path: str, params: dict[str, Any],
                                            parameter: str) -> None:
    r = _get(demo, path, **params)
    assert r.status_code == 400
    assert parameter in r.text


def test_services_count_requests_not_spans(demo: DemoData) -> None:
    r = httpx.get(demo.vigil.api + "/api/services/", params={"start": demo.started_s}, timeout=30)
    assert r.status_code == 200, r.text
    frontend = next(s for s in r.json()["services"] if s["name"] == "frontend")
    assert frontend["request_count"] == demo.stats.responses
    assert frontend["failed_request_count"] == demo.stats.errors
    assert frontend["span_count"] > frontend["request_count"]  # client and internal spans are not requests
    assert frontend["p95_request_ns"] > 0
