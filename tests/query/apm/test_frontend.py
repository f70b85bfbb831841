"""Web Vitals analytics end to end: beacons posted to a real Vigil's /v1/rum, read from /api/metrics/frontend.

Expected values are computed from the beacons sent: p75 over 5 page loads is the 4th smallest value
(every common percentile definition agrees at n = 5), ratings by web.dev's thresholds.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from tests.vigil_process import VigilProcess

LCP = [1000.0, 2000.0, 3000.0, 4000.0, 9000.0]
DEVICES = ["mobile", "mobile", "mobile", "desktop", "desktop"]


def trace(i: int) -> str:
    return f"{i + 1:032x}"


@pytest.fixture(scope="module")
def service(vigil: VigilProcess) -> str:
    name = f"rum-{uuid.uuid4().hex[:8]}"
    now = int(time.time() * 1000)
    for i, (lcp, device) in enumerate(zip(LCP, DEVICES, strict=True)):
        events: list[dict[str, Any]] = [
            {"type": "vital", "name": "LCP", "value": lcp, "id": f"lcp-{i}", "t": now - 1000},
            {"type": "vital", "name": "TTFB", "value": 100.0 + i, "id": f"ttfb-{i}", "t": now - 1000},
            {"type": "vital", "name": "CLS", "value": 0.3, "id": f"cls-{i}", "t": now - 900},
            {"type": "vital", "name": "CLS", "value": 0.05, "id": f"cls-{i}", "t": now - 800},  # the final value
        ]
        if i == 4:
            events.append({"type": "error", "message": "boom", "errorType": "TypeError", "t": now - 700})
        beacon = {"service": name, "env": "prod", "page": {"url": f"https://shop.example/product/{i}",
                                                           "route": "/product/:id"},
                  "device": device, "connection": "4g", "traceparent": f"00-{trace(i)}-{i + 1:016x}-01",
                  "events": events}
        resp = httpx.post(f"{vigil.otlp_http}/v1/rum", json=beacon, timeout=30,
                          headers={"content-type": "text/plain;charset=UTF-8"})
        assert resp.status_code == 200 and resp.json() == {"accepted": len(events)}, resp.text
    home = {"service": name, "page": {"url": "https://shop.example/"}, "device": "desktop",
            "events": [{"type": "vital", "name": "LCP", "value": 1200.0, "id": "home"},
                       {"type": "vital", "name": "TTFB", "value": 90.0, "id": "home-ttfb"}]}
    assert httpx.post(f"{vigil.otlp_http}/v1/rum", json=home, timeout=30).status_code == 200
    return name


def get(vigil: VigilProcess, path: str, **params: Any) -> dict[str, Any]:
    resp = httpx.get(f"{vigil.api}{path}", params={"range": "1h", **params}, timeout=30)
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


def test_p75_ratings_and_splits(vigil: VigilProcess, service: str) -> None:
    doc = get(vigil, "/api/metrics/frontend", service=service, environment="prod")
    assert doc["page_loads"] == 5 and doc["js_errors"] == 1
    vitals = {v["name"]: v for v in doc["vitals"]}
    lcp = vitals["LCP"]
    assert (lcp["p75"], lcp["rating"], lcp["samples"]) == (4000.0, "needs-improvement", 5)
    assert (lcp["good"], lcp["needs_improvement"], lcp["poor"]) == (2, 2, 1)
    assert (lcp["good_max"], lcp["poor_above"]) == (2500.0, 4000.0)
    cls = vitals["CLS"]
    assert (cls["p75"], cls["rating"], cls["samples"], cls["good"]) == (0.05, "good", 5, 5)  # the latest report
    assert vitals["INP"]["samples"] == 0 and vitals["INP"]["p75"] is None
    assert sum(p["samples"] for p in lcp["series"]) == 5
    devices = {s["key"]: s for s in doc["by_device"]}
    assert devices["mobile"]["page_loads"] == 3 and devices["desktop"]["page_loads"] == 2
    mobile_lcp = next(v for v in devices["mobile"]["vitals"] if v["name"] == "LCP")
    assert mobile_lcp["p75"] == 3000.0  # 1000, 2000, 3000: the 3rd at n = 3 (0.75·3 = 2.25 → 3000)
    assert [s["key"] for s in doc["by_connection"]] == ["4g"]
    everything = get(vigil, "/api/metrics/frontend", service=service)
    assert everything["page_loads"] == 6  # the home page has no environment


def test_pages_link_the_slowest_load_to_its_trace(vigil: VigilProcess, service: str) -> None:
    doc = get(vigil, "/api/metrics/frontend/pages", service=service, sort="lcp")
    assert [p["route"] for p in doc["pages"]] == ["/product/:id", "/"]
    product = doc["pages"][0]
    assert product["page_loads"] == 5 and product["js_errors"] == 1 and product["worst_rating"] == "needs-improvement"
    assert product["slowest"]["vital"] == "LCP" and product["slowest"]["value"] == 9000.0
    assert product["slowest"]["url"] == "https://shop.example/product/4" and product["slowest"]["trace_id"] == trace(4)
    assert doc["pages"][1]["slowest"]["trace_id"] == ""  # no traceparent on that page
    resp = httpx.get(f"{vigil.api}/api/metrics/frontend/pages", params={"sort": "speed"}, timeout=30)
    assert resp.status_code == 400 and "sort" in resp.text


def test_browser_errors_are_counted_by_error_tracking(vigil: VigilProcess, service: str) -> None:
    doc = get(vigil, "/api/metrics/errors", service=service)
    assert doc["occurrences"] == 1, doc
    assert [(i["type"], i["message"]) for i in doc["top_issues"]] == [("TypeError", "boom")]
