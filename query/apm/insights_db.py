"""Database insight rules: N+1 query patterns and endpoints whose time goes to the database.

Both read the span-link rollup (:mod:`query.apm.links`): DB calls made while serving a request (inside
a SERVER span of the same trace and service), as of the linker's last round.

**N+1**: the same normalized statement (:data:`query.apm.database.QUERY_HASH`) run at least
``n_plus_one_min`` times under one parent span of one request. One finding per (service, statement),
with the requests affected ("traces"), the largest and mean repetition counts, up to three endpoints
and the example traces with the most repetitions.

**DB-dominated endpoint**: DB client spans inside an endpoint's server spans (same trace and service,
starting within the server span) add up to at least ``db_share`` of the endpoint's total request
time, for an endpoint with at least ``min_requests`` requests whose p95 is above a fifth of
``slow_endpoint_ms`` (fast endpoints are not worth a finding). Concurrent DB calls can add up to more
than the request time; the share is capped at 1.
"""

from __future__ import annotations

import hashlib
from typing import Any

from contracts.reader import TelemetryReader
from query.apm import links
from query.apm.insights_models import Evidence, Insight, InsightSettings
from query.apm.requests_models import Endpoint
from query.apm.window import ApmWindow

MAX_FINDINGS = 10


def finding_id(kind: str, *subject: str) -> str:
    """A stable id of a finding of ``kind`` about ``subject``."""
    return f"{kind}:" + hashlib.sha256("\x00".join(subject).encode()).hexdigest()[:12]


def n_plus_one(reader: TelemetryReader, settings: InsightSettings, window: ApmWindow, service: str | None = None,
               environment: str | None = None) -> list[Insight]:
    """N+1 findings of the window (see the module doc), worst (traces × repetitions) first."""
    p: dict[str, Any] = {"n_min": settings.n_plus_one_min, "limit": MAX_FINDINGS}
    src = links.source(window, p, "db", service, environment)
    over = "mapFilter((k, v) -> k >= {n_min:UInt32}, Repeats)"
    rows = reader.rows(
        f"""SELECT ServiceName AS service, toString(QueryHash) AS query_hash, any(Statement) AS statement,
                  sumMap({over}) AS hist, arraySum(mapValues(hist)) AS traces,
                  arrayMax(mapKeys(hist)) AS max_n,
                  arraySum(arrayMap((k, v) -> k * v, mapKeys(hist), mapValues(hist))) / traces AS avg_n,
                  groupUniqArrayIf(3)(Target, RepeatMax.1 >= {{n_min:UInt32}}) AS routes,
                  arraySlice(arrayMap(x -> x.2, arrayReverseSort(groupArrayIf(RepeatMax,
                             RepeatMax.1 >= {{n_min:UInt32}}))), 1, 3) AS examples
           FROM {src} WHERE QueryHash != 0 AND RepeatMax.1 >= {{n_min:UInt32}}
           GROUP BY service, query_hash ORDER BY traces * max_n DESC, query_hash LIMIT {{limit:UInt32}}""", p)
    out = []
    for r in rows:
        routes = sorted(x for x in r["routes"] if x)
        traces, max_n = int(r["traces"]), int(r["max_n"])
        out.append(Insight(
            id=finding_id("n_plus_one", r["service"], r["query_hash"]), kind="n_plus_one",
            severity="critical" if max_n >= 4 * settings.n_plus_one_min else "warning",
            title=f"N+1 queries in {r['service']}: one statement repeated up to {max_n}× per request",
            service=r["service"], subject=r["query_hash"],
            evidence=[Evidence("traces_affected", traces, "traces"), Evidence("max_repetitions", max_n, "calls"),
                      Evidence("avg_repetitions", float(r["avg_n"]), "calls")],
            trace_ids=list(r["examples"]), endpoints=routes,
            recommendation=(f"Fetch the rows of `{r['statement'][:200]}` in one query (a JOIN or "
                            "WHERE … IN (…)) or eager-load them, instead of one query per item."),
        ))
    return out


def db_dominated(reader: TelemetryReader, endpoints: list[Endpoint], settings: InsightSettings,
                 window: ApmWindow, service: str | None = None, environment: str | None = None) -> list[Insight]:
    """DB-dominated endpoint findings (see the module doc), largest share first."""
    floor_ms = settings.slow_endpoint_ms / 5
    totals: dict[tuple[str, str], list[float]] = {}  # (service, route) → [requests, total ms, max p95 ms]
    for e in endpoints:
        t = totals.setdefault((e.service, e.route), [0, 0.0, 0.0])
        t[0] += e.requests
        t[1] += e.total_time_ms
        t[2] = max(t[2], e.p95_ms)
    candidates = {k for k, (n, _, p95) in totals.items() if n >= settings.min_requests and p95 >= floor_ms}
    if not candidates:
        return []
    params: dict[str, Any] = {}
    src = links.source(window, params, "db", service, environment)
    rows = reader.rows(
        f"""SELECT ServiceName AS service, Target AS route, toString(QueryHash) AS query_hash,
                  any(Statement) AS statement, sum(DurationSum) AS db_ns, sum(Calls) AS calls,
                  arrayElement({links.QUANTILES}, 3) AS p95_ns
           FROM {src} GROUP BY service, route, query_hash""", params)
    per: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        if (r["service"], r["route"]) in candidates:
            per.setdefault((r["service"], r["route"]), []).append(r)
    out = []
    for key, stmts in per.items():
        requests, total_ms, p95 = totals[key]
        db_ms = sum(float(s["db_ns"]) for s in stmts) / 1e6
        share = min(1.0, db_ms / total_ms) if total_ms else 0.0
        if share < settings.db_share:
            continue
        top = max(stmts, key=lambda s: float(s["db_ns"]))
        out.append(_db_finding(key, share, requests, p95, top))
    return sorted(out, key=lambda i: -i.evidence[0].value)


def _db_finding(key: tuple[str, str], share: float, requests: float, p95: float, top: dict[str, Any]) -> Insight:
    service, route = key
    return Insight(
        id=finding_id("db_dominated", service, route), kind="db_dominated",
        severity="critical" if share >= 0.8 else "warning",
        title=f"{service} {route}: {share:.0%} of request time is spent in the database",
        service=service, subject=route,
        evidence=[Evidence("db_time_share", share, "ratio"), Evidence("requests", requests, "requests"),
                  Evidence("endpoint_p95", p95, "ms"),
                  Evidence("top_statement_time", float(top["db_ns"]) / 1e6, "ms"),
                  Evidence("top_statement_p95", float(top["p95_ns"]) / 1e6, "ms")],
        trace_ids=[], endpoints=[route],
        recommendation=(f"Speed up `{top['statement'][:200]}` (query hash {top['query_hash']}, "
                        f"{int(top['calls'])} calls): check its plan with EXPLAIN ANALYZE and add an index "
                        "for its filter, or cache/precompute the result."),
    )
