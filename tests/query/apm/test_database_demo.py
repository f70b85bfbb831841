"""``/api/metrics/database`` and ``/connection-stats`` against the ``demo`` fixture.

Ground truth: every DB client span the raw ``/api/traces`` shows (each trace of the services with a
database, fetched whole), the load's seeded order pages (``2 + items_of_order(id)`` queries each),
and the demo's pool configuration (``<service>-db``, ``max_size=4``, ``min_size=1``, one checkout per
statement).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any

import httpx
import pytest

from instrumentation.demo.schema import items_of_order
from tests.demo_fixture import DemoData

DB_SERVICES = ("inventory", "payments", "checkout")  # the services with a pool (instrumentation/demo/service.py)
POOL_MAX, POOL_MIN = 4, 1


def _get(demo: DemoData, path: str, **params: Any) -> httpx.Response:
    return httpx.get(demo.vigil.api + path, params={"start": str(int(demo.started_s) - 1), **params}, timeout=60)


def _attr(span: dict[str, Any], *keys: str) -> str:
    return next((span["attributes"][k] for k in keys if span["attributes"].get(k)), "")


def _operation(span: dict[str, Any]) -> str:
    op = _attr(span, "db.operation.name", "db.operation")
    if op:
        return op
    word = re.match(r"\s*([A-Za-z]+)", _attr(span, "db.query.text", "db.statement"))
    return word.group(1).upper() if word else ""


@pytest.fixture(scope="module")
def traces(demo: DemoData) -> list[list[dict[str, Any]]]:
    """Every stored trace that reached a service with a database, whole."""
    api = demo.api()
    try:
        ids: set[str] = set()
        for service in DB_SERVICES:
            found = api.traces(service=service, limit=1000)
            assert 0 < len(found) < 1000, service  # all of them, not a truncated page
            ids |= {t["trace_id"] for t in found}
        return [api.trace(t) for t in sorted(ids)]
    finally:
        api.close()


@pytest.fixture(scope="module")
def db_spans(traces: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [s for spans in traces for s in spans
            if s["kind"] == "SPAN_KIND_CLIENT" and _attr(s, "db.system.name", "db.system")]


def _quantile(values: list[float], q: float) -> float:
    """Linear interpolation between the sorted values (what ClickHouse ``quantiles`` does below 8192)."""
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def test_the_order_pages_make_the_seeded_number_of_queries(traces: list[list[dict[str, Any]]],
                                                           db_spans: list[dict[str, Any]]) -> None:
    """The raw ground truth itself matches the load: order ``n`` costs 2 + items_of_order(n) statements."""
    by_trace = Counter(s["trace_id"] for s in db_spans if s["service_name"] == "checkout")
    pages = [(s["trace_id"], int(s["attributes"]["url.path"].rsplit("/", 1)[1])) for spans in traces for s in spans
             if s["service_name"] == "checkout" and s["kind"] == "SPAN_KIND_SERVER"
             and s["name"].startswith("GET /orders/")]
    assert pages
    assert {t: by_trace[t] for t, _ in pages} == {t: 2 + items_of_order(n) for t, n in pages}


def test_executions_errors_and_latency_match_the_raw_spans(demo: DemoData, db_spans: list[dict[str, Any]]) -> None:
    r = _get(demo, "/api/metrics/database")
    assert r.status_code == 200, r.text
    assert r.headers["vigil-data-complete"] == "true"
    body = r.json()
    errors = sum(1 for s in db_spans if s["status_code"] == "STATUS_CODE_ERROR")
    totals = body["totals"]
    assert (totals["executions"], totals["errors"]) == (len(db_spans), errors)
    assert sum(b["executions"] for b in body["series"]) == len(db_spans)
    assert sum(b["errors"] for b in body["series"]) == errors
    ms = [s["duration_ns"] / 1e6 for s in db_spans]
    assert totals["avg_ms"] == pytest.approx(sum(ms) / len(ms), rel=1e-9)
    for key, q in [("p50_ms", 0.5), ("p90_ms", 0.9), ("p95_ms", 0.95), ("p99_ms", 0.99)]:
        assert totals[key] == pytest.approx(_quantile(ms, q), rel=1e-9), key
    want = Counter((_attr(s, "db.system.name", "db.system"), _attr(s, "db.namespace", "db.name")) for s in db_spans)
    got = {(d["db_system"], d["db_namespace"]): d["figures"]["executions"] for d in body["databases"]}
    assert got == dict(want)
    assert len(got) == 1 and next(iter(got))[0] == "postgresql"
    (db,) = body["databases"]
    assert sum(b["executions"] for b in db["series"]) == len(db_spans)


def test_per_service_and_top_operations(demo: DemoData, db_spans: list[dict[str, Any]]) -> None:
    for service in DB_SERVICES:
        body = _get(demo, "/api/metrics/database", service=service, limit=100).json()
        mine = [s for s in db_spans if s["service_name"] == service]
        assert body["totals"]["executions"] == len(mine), service
        want = Counter(_operation(s) for s in mine)
        assert {o["operation"]: o["executions"] for o in body["top_operations"]} == dict(want), service
    top = _get(demo, "/api/metrics/database", limit=1).json()["top_operations"]
    (best_op, best_n), = Counter(_operation(s) for s in db_spans).most_common(1)
    assert [(o["operation"], o["executions"]) for o in top] == [(best_op, best_n)]
    assert _get(demo, "/api/metrics/database", service="frontend").json()["totals"]["executions"] == 0


def _raw(demo: DemoData, name: str, service: str) -> list[dict[str, Any]]:
    """The raw points of one pool metric, newest first (``/api/metrics/points``)."""
    r = _get(demo, "/api/metrics/points", name=name, service=service, limit=10000)
    assert r.status_code == 200, r.text
    points: list[dict[str, Any]] = r.json()["points"]
    assert 0 < len(points) < 10000
    return points


def _latest(points: list[dict[str, Any]], state: str | None = None) -> int:
    return int(next(p["value"] for p in points
                    if state is None or p["attributes"]["db.client.connection.state"] == state))


def _bucket_p95(point: dict[str, Any]) -> float:
    """Linear interpolation inside the explicit bucket holding rank 0.95 × count (lowest bucket from 0)."""
    bounds, counts = point["explicit_bounds"], point["bucket_counts"]
    rank, seen = 0.95 * sum(counts), 0
    for i, c in enumerate(counts):
        if c and seen + c >= rank:
            lo = bounds[i - 1] if i else 0.0
            return float(bounds[i - 1]) if i == len(bounds) else lo + (bounds[i] - lo) * (rank - seen) / c
        seen += c
    raise AssertionError(point)


def test_connection_stats_match_the_pool_configuration(demo: DemoData, db_spans: list[dict[str, Any]]) -> None:
    r = _get(demo, "/api/metrics/database/connection-stats")
    assert r.status_code == 200, r.text
    assert "vigil-data-complete" in r.headers
    body = r.json()
    pools = {(p["service"], p["pool"]): p for p in body["pools"]}
    assert set(pools) == {(s, f"{s}-db") for s in DB_SERVICES}
    checkouts = Counter(s["service_name"] for s in db_spans)
    for service in DB_SERVICES:
        p = pools[service, f"{service}-db"]
        assert (p["max"], p["idle_min"], p["idle_max"], p["timeouts"]) == (POOL_MAX, POOL_MIN, None, 0), service
        counts = _raw(demo, "db.client.connection.count", service)
        assert (p["idle"], p["used"]) == (_latest(counts, "idle"), _latest(counts, "used")), service
        pending = _raw(demo, "db.client.connection.pending_requests", service)
        assert p["pending_requests"] == _latest(pending)
        assert p["usage"] == pytest.approx(p["used"] / POOL_MAX)
        # one pool checkout per statement: each records one wait and one use time
        assert p["wait_time"]["count"] == p["use_time"]["count"] == checkouts[service], service
        for figure in ("wait_time", "use_time"):  # the newest cumulative point holds the whole run (one series)
            newest = _raw(demo, f"db.client.connection.{figure}", service)[0]
            assert newest["start_time_unix_nano"] >= (int(demo.started_s) - 1) * 10**9
            assert p[figure]["count"] == newest["count"]
            assert p[figure]["avg_ms"] == pytest.approx(1000 * newest["sum"] / newest["count"], rel=1e-9)
            assert p[figure]["p95_ms"] == pytest.approx(1000 * _bucket_p95(newest), rel=1e-9), (service, figure)
        step = body["step_s"]
        used: dict[int, list[float]] = {}
        for point in counts:
            if point["attributes"]["db.client.connection.state"] == "used":
                used.setdefault(point["time_unix_nano"] // 10**9 // step * step, []).append(point["value"])
        series = {b["t"]: b for b in p["series"] if b["max"] is not None}
        assert set(series) == set(used), service
        for t, values in used.items():
            b = series[t]
            assert (b["max"], b["used"]) == (POOL_MAX, pytest.approx(sum(values) / len(values))), (service, t)
            assert b["usage"] == pytest.approx(b["used"] / POOL_MAX)
    one = _get(demo, "/api/metrics/database/connection-stats", service="checkout", pool="checkout-db").json()
    assert [(p["service"], p["pool"]) for p in one["pools"]] == [("checkout", "checkout-db")]
    assert _get(demo, "/api/metrics/database/connection-stats", pool="nope").json()["pools"] == []


@pytest.mark.parametrize(("path", "params", "parameter"), [
    ("/api/metrics/database", {"limit": 0}, "limit"),
    ("/api/metrics/database", {"limit": 101}, "limit"),
    ("/api/metrics/database/connection-stats", {"end": "never"}, "end"),
])
def test_bad_parameters_are_400_naming_them(demo: DemoData, path: str, params: dict[str, Any],
                                            parameter: str) -> None:
    r = _get(demo, path, **params)
    assert r.status_code == 400
    assert r.json()["detail"]["parameter"] == parameter


