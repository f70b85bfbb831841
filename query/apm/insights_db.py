"""Database insight rules: N+1 query patterns and endpoints whose time goes to the database.

**N+1**: the same normalized statement (:data:`query.apm.database.QUERY_HASH`) run at least
``n_plus_one_min`` times under one parent span of one trace. One finding per (service, statement),
with the traces affected, the largest and mean repetition counts and the slowest examples.

**DB-dominated endpoint**: DB client spans inside an endpoint's server spans (same trace and service,
starting within the server span) add up to at least ``db_share`` of the endpoint's total request
time, for an endpoint with at least ``min_requests`` requests whose p95 is above a fifth of
``slow_endpoint_ms`` (fast endpoints are not worth a finding). Concurrent DB calls can add up to more
than the request time; the share is capped at 1.
"""

from __future__ import annotations

import hashlib
from typing import Any

from contracts.otel_columns import Traces as T
from contracts.reader import TelemetryReader
from query.apm import semconv as sc
from query.apm.database import NORMALIZED, QUERY_HASH
from query.apm.insights_models import Evidence, Insight, InsightSettings
from query.apm.requests import ROUTE
from query.apm.requests_models import Endpoint

MAX_FINDINGS = 10


def finding_id(kind: str, *subject: str) -> str:
    """A stable id of a finding of ``kind`` about ``subject``."""
    return f"{kind}:" + hashlib.sha256("\x00".join(subject).encode()).hexdigest()[:12]


def n_plus_one(reader: TelemetryReader, settings: InsightSettings, where: str, params: dict[str, Any]) -> list[Insight]:
    """N+1 findings of the window (see the module doc), worst (traces × repetitions) first."""
    p = {**params, "n_min": settings.n_plus_one_min, "limit": MAX_FINDINGS}
    rows = reader.rows(
        f"""SELECT g.s AS service, toString(g.h) AS query_hash, any(g.stmt) AS statement, count() AS traces,
                  max(g.n) AS max_n, avg(g.n) AS avg_n, groupUniqArray(3)(r.route) AS routes,
                  arraySlice(arrayMap(x -> x.2, arrayReverseSort(groupArray((g.n, g.t)))), 1, 3) AS examples
           FROM (SELECT {T.TRACE_ID} AS t, {T.PARENT_SPAN_ID} AS pid, {T.SERVICE_NAME} AS s, {QUERY_HASH} AS h,
                        any({NORMALIZED}) AS stmt, count() AS n
                 FROM {T.TABLE} WHERE {where} AND {sc.IS_DB_CALL} AND {sc.DB_STATEMENT} != ''
                 GROUP BY t, pid, s, h HAVING n >= {{n_min:UInt32}}) AS g
           LEFT JOIN (SELECT {T.TRACE_ID} AS t, {T.SERVICE_NAME} AS s, any({ROUTE}) AS route FROM {T.TABLE}
                      WHERE {where} AND {sc.IS_SERVER} GROUP BY t, s) AS r ON g.t = r.t AND g.s = r.s
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
                 where: str, params: dict[str, Any]) -> list[Insight]:
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
    rows = reader.rows(
        f"""SELECT c.s AS service, p.route AS route, toString(c.h) AS query_hash, any(c.stmt) AS statement,
                  sum(c.d) AS db_ns, count() AS calls, quantile(0.95)(c.d) AS p95_ns
           FROM (SELECT {T.TRACE_ID} AS t, {T.SERVICE_NAME} AS s, {QUERY_HASH} AS h, {NORMALIZED} AS stmt,
                        toUnixTimestamp64Nano({T.TIMESTAMP}) AS ts, {T.DURATION} AS d
                 FROM {T.TABLE} WHERE {where} AND {sc.IS_DB_CALL}) AS c
           INNER JOIN (SELECT {T.TRACE_ID} AS t, {T.SERVICE_NAME} AS s, {ROUTE} AS route,
                              toUnixTimestamp64Nano({T.TIMESTAMP}) AS b, b + {T.DURATION} AS e
                       FROM {T.TABLE} WHERE {where} AND {sc.IS_SERVER}) AS p ON c.t = p.t AND c.s = p.s
           WHERE c.ts >= p.b AND c.ts <= p.e GROUP BY service, route, query_hash""", params)
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
