"""``/api/dashboard`` against the ``demo`` fixture: each part equals its own endpoint's answer over the same window."""

from __future__ import annotations

import socket
import time
from typing import Any

import httpx

from tests.demo_fixture import DemoData


def _get(demo: DemoData, path: str, **params: Any) -> dict[str, Any]:
    r = httpx.get(demo.vigil.api + path, params=params, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_dashboard_parts_equal_their_endpoints(demo: DemoData) -> None:
    window = {"start": demo.started_s, "end": time.time()}
    doc = _get(demo, "/api/dashboard", **window)
    api = _get(demo, "/api/metrics/api", **window)
    assert doc["api"]["totals"] == api["totals"] and doc["api"]["by_status"] == api["by_status"]
    front = next(s for s in doc["services"] if s["service"] == "frontend")
    assert front["figures"]["requests"] == demo.stats.responses
    assert front["figures"]["errors"] == demo.stats.errors
    assert sum(s["figures"]["requests"] for s in doc["services"]) == api["totals"]["requests"]
    db = _get(demo, "/api/metrics/database", **window)
    assert doc["database"]["totals"] == db["totals"]
    slow = _get(demo, "/api/metrics/database/slow-queries", limit=5, **window)
    assert [q["query_hash"] for q in doc["database"]["slow_queries"]] == [q["query_hash"] for q in slow["queries"]]
    errors = _get(demo, "/api/metrics/errors", limit=5, **window)
    assert doc["errors"]["occurrences"] == errors["occurrences"] > 0
    assert [i["fingerprint"] for i in doc["errors"]["top_issues"]] == [i["fingerprint"] for i in errors["top_issues"]]
    critical = _get(demo, "/api/metrics/errors/critical", **window)
    assert [i["fingerprint"] for i in doc["errors"]["critical"]] == [i["fingerprint"] for i in critical["issues"]]
    assert socket.gethostname() in {h["host"] for h in doc["hosts"]}
    found = _get(demo, "/api/insights/performance", **window)["insights"]
    # every rule, N+1 and DB-dominated endpoints included (without example traces)
    assert [i["id"] for i in doc["insights"]] == [i["id"] for i in found[:5]]
    assert {"n_plus_one", "db_dominated"} & {i["kind"] for i in found}
    # the evaluator runs (this Vigil leads) with no rule files: nothing active
    assert doc["alerts"] == {"evaluating": True, "active": []}
    # the demo declines payments: their new error issues are critical, and health says so
    assert critical["issues"] and doc["health"]["status"] == "critical"
    assert any("critical error issue" in r for r in doc["health"]["reasons"])


def test_dashboard_refuses_bad_parameters(demo: DemoData) -> None:
    r = httpx.get(demo.vigil.api + "/api/dashboard", params={"range": "2h"}, timeout=30)
    assert r.status_code == 400 and "range" in r.text
    r = httpx.get(demo.vigil.api + "/api/dashboard", params={"start": "2030-01-01T00:00:00Z"}, timeout=30)
    assert r.status_code == 400 and "start" in r.text
