"""``/api/service-map``, ``/api/services/{name}`` and ``/api/insights/performance`` against the ``demo`` fixture."""

from __future__ import annotations

from typing import Any

import httpx

from instrumentation.demo.check import N_PLUS_ONE_SQL
from tests.demo_fixture import DemoData

INVENTORY = ("products", "product", "search", "recommendations")  # frontend actions forwarded to inventory
CHECKOUT = ("checkout", "order", "sales_report")  # … and to checkout


def _get(demo: DemoData, path: str, **params: Any) -> httpx.Response:
    return httpx.get(demo.vigil.api + path, params={"start": demo.started_s, **params}, timeout=60)


def _edges(body: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(e["source"], e["target"]): e for e in body["edges"]}


def test_service_map_edges_match_the_forwarded_requests(demo: DemoData) -> None:
    r = _get(demo, "/api/service-map")
    assert r.status_code == 200, r.text
    body = r.json()
    by_action = demo.stats.by_action
    edges = _edges(body)
    assert edges["service:frontend", "service:inventory"]["calls"] == sum(by_action[a] for a in INVENTORY)
    assert edges["service:frontend", "service:checkout"]["calls"] == sum(by_action[a] for a in CHECKOUT)
    assert ("service:checkout", "service:payments") in edges and ("service:checkout", "service:inventory") in edges
    databases = {t for (_, t) in edges if t.startswith("db:")}
    assert len(databases) == 1 and next(iter(databases)).startswith("db:postgresql/")
    assert {s for (s, t) in edges if t in databases} == {"service:checkout", "service:inventory", "service:payments"}
    nodes = {n["id"]: n for n in body["nodes"]}
    assert nodes["service:frontend"]["requests"] == demo.stats.responses
    assert nodes["service:frontend"]["errors"] == demo.stats.errors
    # the payments edge fails exactly when payments answers a failed request
    assert edges["service:checkout", "service:payments"]["errors"] == nodes["service:payments"]["errors"]


def test_service_detail_red_and_dependencies(demo: DemoData) -> None:
    r = _get(demo, "/api/services/checkout")
    assert r.status_code == 200, r.text
    body = r.json()
    want = sum(demo.stats.by_action[a] for a in CHECKOUT)
    assert body["red"]["totals"]["requests"] == want
    assert [(e["source"], e["calls"]) for e in body["upstream"]] == [("service:frontend", want)]
    assert {e["target"] for e in body["downstream"]} >= {"service:payments", "service:inventory"}
    assert sum(e["requests"] for e in body["endpoints"]) == want
    front = _get(demo, "/api/services/frontend").json()
    assert front["upstream"] == [] and front["red"]["totals"]["requests"] == demo.stats.responses
    missing = _get(demo, "/api/services/no-such-service")
    assert missing.status_code == 404 and "no-such-service" in missing.text
    assert _get(demo, "/api/services/checkout", range="2h").status_code == 400


def test_n_plus_one_insight_matches_the_order_pages(demo: DemoData) -> None:
    api = demo.api()
    try:
        repetitions = []
        for summary in api.traces(service="checkout", name="GET /orders/{order_id}", limit=1000):
            spans = api.trace(summary["trace_id"])
            repetitions.append(sum(1 for s in spans if s["attributes"].get("db.query.text") == N_PLUS_ONE_SQL))
    finally:
        api.close()
    flagged = [n for n in repetitions if n >= 5]
    r = _get(demo, "/api/insights/performance", kind="n_plus_one")
    assert r.status_code == 200, r.text
    found = [i for i in r.json()["insights"] if i["service"] == "checkout"
             and "FROM products WHERE id = %s" in i["recommendation"]]
    # seeded orders have 3 + id % 8 items: most order pages of the seeded load repeat the query ≥ 5 times
    assert flagged, repetitions
    (n1,) = found
    evidence = {e["name"]: e["value"] for e in n1["evidence"]}
    assert evidence["traces_affected"] == len(flagged)
    assert evidence["max_repetitions"] == max(flagged)
    assert n1["endpoints"] == ["/orders/{order_id}"] or n1["endpoints"] == ["/orders/{order_id:int}"]
    assert _get(demo, "/api/insights/performance", kind="nope").status_code == 400
    assert "severity_min" in _get(demo, "/api/insights/performance", severity_min="bad").text
