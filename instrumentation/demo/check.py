"""Did every signal the demo produces reach Vigil? Checked through Vigil's public query API only.

:func:`check_signals` returns one :class:`Finding` per expected signal (see ``CHECKS``): services,
cross-service parent/child links, the N+1 pattern with its exact statement count, the slow report
query, exception events with type/message/stack trace, logs carrying trace ids, host and pool
metrics, and — when the load generator's stats are given — that Vigil stored exactly one frontend
server span per answered request, per status code. ``vigil demo --check`` and the tests use it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from instrumentation.demo.loadgen import LoadStats
from instrumentation.demo.schema import items_of_order

SERVICES = ("frontend", "checkout", "inventory", "payments")
N_PLUS_ONE_SQL = "SELECT id, name, price_cents FROM products WHERE id = %s"
TRACE_LIMIT = 1000  # the trace search's largest page


@dataclass(frozen=True)
class Finding:
    """One expected signal: whether it arrived, and what was seen."""

    name: str
    ok: bool
    detail: str


class VigilApi:
    """The few query-API calls the check needs, over one time window starting at ``since_s`` (unix)."""

    def __init__(self, api_url: str, since_s: float, token: str = "") -> None:
        """Talk to the query API at ``api_url``."""
        headers = {"authorization": f"Bearer {token}"} if token else {}
        self.client = httpx.Client(base_url=api_url.rstrip("/"), timeout=30.0, headers=headers)
        self.since = str(int(since_s) - 1)

    def get(self, path: str, **params: Any) -> Any:
        """GET ``path`` with the window's ``start``; return the JSON (raises for HTTP errors)."""
        response = self.client.get(path, params={"start": self.since, **params})
        response.raise_for_status()
        return response.json()

    def traces(self, **params: Any) -> list[dict[str, Any]]:
        """Trace summaries matching ``params``."""
        return list(self.get("/api/traces/", **params)["traces"])

    def trace(self, trace_id: str) -> list[dict[str, Any]]:
        """Every span of one trace."""
        return list(self.client.get(f"/api/traces/{trace_id}").raise_for_status().json()["spans"])

    def close(self) -> None:
        """Close the HTTP client."""
        self.client.close()


def _services(api: VigilApi) -> Finding:
    seen = {s["name"] for s in api.get("/api/services/")["services"]}
    missing = [s for s in SERVICES if s not in seen]
    return Finding("services", not missing, f"missing {missing}" if missing else f"all of {list(SERVICES)}")


def _links(api: VigilApi) -> Finding:
    found = api.traces(service="payments", name="POST /charge", limit=5)
    if not found:
        return Finding("cross-service links", False, "no trace reached payments")
    spans = api.trace(found[0]["trace_id"])
    by_id = {s["span_id"]: s for s in spans}
    orphans = [s["name"] for s in spans if s["parent_span_id"] and s["parent_span_id"] not in by_id]
    hops = sorted({(by_id[s["parent_span_id"]]["service_name"], s["service_name"]) for s in spans
                   if s["kind"] == "SPAN_KIND_SERVER" and s["parent_span_id"] in by_id
                   and by_id[s["parent_span_id"]]["kind"] == "SPAN_KIND_CLIENT"})
    want = [("checkout", "inventory"), ("checkout", "payments"), ("frontend", "checkout")]
    ok = not orphans and all(h in hops for h in want)
    return Finding("cross-service links", ok, f"client→server hops {hops}; orphans {orphans}")


def _n_plus_one(api: VigilApi) -> Finding:
    found = api.traces(service="checkout", name="GET /orders/{order_id}", limit=5)
    if not found:
        return Finding("N+1 pattern", False, "no order-detail trace")
    spans = api.trace(found[0]["trace_id"])
    server = next((s for s in spans if s["service_name"] == "checkout" and s["kind"] == "SPAN_KIND_SERVER"), None)
    if server is None:
        return Finding("N+1 pattern", False, "no checkout server span in the trace")
    order_id = int(str(server["attributes"].get("url.path", "/0")).rsplit("/", 1)[-1])
    repeated = sum(1 for s in spans if s["attributes"].get("db.query.text") == N_PLUS_ONE_SQL)
    want = items_of_order(order_id)
    return Finding("N+1 pattern", repeated == want, f"order {order_id}: statement ran {repeated}×, expected {want}")


def _slow_query(api: VigilApi) -> Finding:
    found = api.traces(service="checkout", name="GET /reports/sales", limit=5)
    if not found:
        return Finding("slow query", False, "no sales-report trace")
    spans = api.trace(found[0]["trace_id"])
    scans = [s for s in spans if "FROM order_events" in str(s["attributes"].get("db.query.text", ""))]
    longest_ms = max((s["duration_ns"] for s in scans), default=0) / 1e6
    detail = f"{len(scans)} order_events scan(s), longest {longest_ms:.0f} ms"
    return Finding("slow query", bool(scans), detail)


def _exceptions(api: VigilApi) -> Finding:
    for summary in api.traces(service="payments", status="error", limit=10):
        for span in api.trace(summary["trace_id"]):
            for event in span["events"]:
                attrs = event["attributes"]
                if event["name"] == "exception" and str(attrs.get("exception.type", "")).endswith(
                        "PaymentGatewayError") and attrs.get("exception.message") and attrs.get("exception.stacktrace"):
                    return Finding("exceptions", True, f"{attrs['exception.type']}: {attrs['exception.message']}")
    return Finding("exceptions", False, "no PaymentGatewayError exception event with message and stack trace")


def _logs(api: VigilApi) -> Finding:
    without = []
    for service in ("checkout", "payments"):
        records = api.get("/api/logs/", service=service, limit=200)["logs"]
        if not any(r.get("trace_id") for r in records):
            without.append(service)
    errors = api.get("/api/logs/", service="payments", severity_min="error", limit=5)["logs"]
    ok = not without and bool(errors) and bool(errors[0].get("trace_id"))
    return Finding("logs with trace context", ok, f"services without trace ids {without}; "
                                                   f"payments ERROR records {len(errors)}")


def _metric(name: str, label: str, services: tuple[str, ...]) -> Callable[[VigilApi], Finding]:
    def check(api: VigilApi) -> Finding:
        catalogue = {m["name"]: m for m in api.get("/api/metrics/names")["metrics"]}
        metric = catalogue.get(name)
        if metric is None:
            return Finding(label, False, f"no {name}")
        missing = [s for s in services if s not in metric["service_names"]]
        return Finding(label, not missing, f"{name} from {metric['service_names']}")

    check.__name__ = check.__qualname__ = label.replace(" ", "_")
    return check


CHECKS: tuple[Callable[[VigilApi], Finding], ...] = (
    _services, _links, _n_plus_one, _slow_query, _exceptions, _logs,
    _metric("system.cpu.utilization", "host metrics", ()),
    _metric("db.client.connection.count", "pool metrics", ("checkout", "inventory", "payments")),
)


def stored_responses(api: VigilApi, stats: LoadStats) -> dict[int, int]:
    """Frontend traces Vigil stored per HTTP status code the load generator saw."""
    return {code: len(api.traces(service="frontend", attr=f"http.response.status_code:{code}", limit=TRACE_LIMIT))
            for code in sorted(stats.by_status)}


def _counts(api: VigilApi, stats: LoadStats, wait_s: float) -> Finding:
    if stats.responses > TRACE_LIMIT:
        return Finding("request counts", True, f"not compared: {stats.responses} responses > {TRACE_LIMIT}")
    deadline = time.monotonic() + wait_s
    want = dict(sorted(stats.by_status.items()))
    while True:
        got = stored_responses(api, stats)
        if got == want or time.monotonic() >= deadline:
            break
        time.sleep(1.0)
    return Finding("request counts", got == want, f"load generator {want}, Vigil {got}")


def check_signals(api_url: str, since_s: float, stats: LoadStats | None = None, *, token: str = "",
                  wait_s: float = 20.0) -> list[Finding]:
    """Run every check against the API at ``api_url`` for data since ``since_s``.

    Checks that fail are retried every second until ``wait_s`` has passed (telemetry is still
    arriving); the request counts are compared last.
    """
    api = VigilApi(api_url, since_s, token)
    try:
        deadline = time.monotonic() + wait_s
        findings = [c(api) for c in CHECKS]
        while not all(f.ok for f in findings) and time.monotonic() < deadline:
            time.sleep(1.0)
            findings = [f if f.ok else check(api) for f, check in zip(findings, CHECKS, strict=True)]
        if stats is not None:
            findings.append(_counts(api, stats, max(1.0, deadline - time.monotonic())))
        return findings
    finally:
        api.close()
