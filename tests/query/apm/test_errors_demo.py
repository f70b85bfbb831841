"""The error endpoints and the tracker against the ``demo`` fixture: exact counts from the load generator.

Each declined payment (``PaymentGatewayError`` in ``payments``) answers 500 to ``checkout``, which answers
502 to ``frontend``, which answers 502 to the load generator: one 502 seen per decline (the demo has no
other 502). Per decline Vigil stores 7 occurrences, one in each of 7 issues:

* payments: the exception event on the ``acme-pay authorize`` client span (recorded where it is raised:
  one in-app frame), the one on the ``/charge`` server span (three in-app frames), and the ERROR log with
  ``exc_info`` — its ``exception.type`` is the bare class name where the span events carry the qualified
  one, so it is its own issue;
* checkout and frontend: the ``HTTPException`` (502) on the server span, and the ERROR log without
  exception attributes (``<upstream> failed: …``, grouped by its masked body).
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.demo_fixture import DemoData

QUALIFIED = "instrumentation.demo.backends.PaymentGatewayError"
HTTP_EXC = "litestar.exceptions.http_exceptions.HTTPException"


def _get(demo: DemoData, path: str, **params: Any) -> Any:
    r = httpx.get(demo.vigil.api + path, params=params, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def _declines(demo: DemoData) -> int:
    declines = demo.stats.by_status[502]
    assert declines > 0 and demo.stats.errors == declines
    return declines


def _settled(demo: DemoData, declines: int) -> dict[str, dict[str, Any]]:
    """Top issues of the run by fingerprint, once the tracker has recorded every occurrence of each."""
    deadline = time.monotonic() + 60
    while True:
        top = _get(demo, "/api/metrics/errors/", start=demo.started_s)["top_issues"]
        recorded = {t["fingerprint"]: _get(demo, f"/api/errors/{t['fingerprint']}", limit=100) for t in top}
        if all(d["issue"]["count"] == declines for d in recorded.values()) or time.monotonic() > deadline:
            return {t["fingerprint"]: {**t, "detail": recorded[t["fingerprint"]]} for t in top}
        time.sleep(2)


def test_payment_declines_are_counted_once_per_issue(demo: DemoData) -> None:
    declines = _declines(demo)
    body = _get(demo, "/api/metrics/errors/", start=demo.started_s, service="payments")
    assert body["occurrences"] == 3 * declines and body["failed_requests"] == declines
    assert {(t["type"], tuple(t["endpoints"])): t["count"] for t in body["top_issues"]} == {
        (QUALIFIED, ("/charge",)): declines, (QUALIFIED, ("acme-pay authorize",)): declines,
        ("PaymentGatewayError", ()): declines}
    assert body["by_type"] == [{"name": QUALIFIED, "count": 2 * declines},
                               {"name": "PaymentGatewayError", "count": declines}]
    assert {t["message"] for t in body["top_issues"]} == {
        "gateway declined transaction txn_<n> for order <n>: code <n>"}


def test_every_service_and_the_frontend_failures(demo: DemoData) -> None:
    declines = _declines(demo)
    body = _get(demo, "/api/metrics/errors/", start=demo.started_s)
    assert {c["name"]: c["count"] for c in body["by_service"]} == {
        "payments": 3 * declines, "checkout": 2 * declines, "frontend": 2 * declines}
    assert body["occurrences"] == 7 * declines and len(body["top_issues"]) == 7
    assert all(t["count"] == declines for t in body["top_issues"])
    front = _get(demo, "/api/metrics/errors/", start=demo.started_s, service="frontend")
    assert (front["requests"], front["failed_requests"]) == (demo.stats.responses, declines)
    assert {t["type"]: t["endpoints"] for t in front["top_issues"]} == {HTTP_EXC: ["/api/checkout"], "log": []}


def test_the_tracker_recorded_one_issue_per_fingerprint_exactly(demo: DemoData) -> None:
    declines = _declines(demo)
    issues = _settled(demo, declines)
    assert len(issues) == 7
    for fp, t in issues.items():
        issue, occurrences = t["detail"]["issue"], t["detail"]["occurrences"]
        assert (issue["fingerprint"], issue["count"], issue["status"], issue["regressions"]) == (fp, declines,
                                                                                                   "open", 0)
        assert len(occurrences) == declines  # every one found again in the columnar store
        assert len({o["trace_id"] for o in occurrences}) == declines  # one per declined checkout
        assert t["first_seen_ns"] == issue["first_seen_ns"] > 0  # the list carries the repository's first seen
    charge = next(t for t in issues.values() if t["endpoints"] == ["/charge"])
    assert [f.rsplit(":", 1)[1] for f in charge["detail"]["issue"]["frames"]] == [
        "call_gateway", "authorize", "charge"]
    tracker = httpx.get(demo.vigil.api + "/api/health", timeout=30).json()["components"]["error_tracker"]
    assert tracker["status"] == "ok" and tracker["published"] == 7  # one new_issue event per issue


def test_trends_and_critical(demo: DemoData) -> None:
    declines = _declines(demo)
    _settled(demo, declines)
    trends = _get(demo, "/api/metrics/errors/trends", start=demo.started_s)
    assert (trends["overall"]["total"], trends["overall"]["previous_total"]) == (7 * declines, 0)
    assert trends["overall"]["change_percent"] is None and sum(trends["overall"]["counts"]) == 7 * declines
    assert [s["total"] for s in trends["issues"]] == [declines] * 7
    critical = _get(demo, "/api/metrics/errors/critical", start=demo.started_s)["issues"]
    spiking = ["spiking"] if declines >= 5 else []  # the default spike_min_count; nothing before the run
    assert len(critical) == 7 and all(c["reasons"] == ["new", *spiking] for c in critical)
