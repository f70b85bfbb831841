"""Database analytics from DB client spans (``db.system.name``/``db.system``): slow statements.

A DB call is a CLIENT span with a DB system (:data:`query.apm.semconv.IS_DB_CALL`). Statements are
grouped by ``query_hash = cityHash64(normalizeQuery(statement))``: ClickHouse's ``normalizeQuery``
replaces numbers, quoted strings and IN lists by ``?``/``(?..)`` and drops comments; its own
``normalizedQueryHash`` is NOT used because it hashes an already-present ``?`` differently from a
literal it replaced (``id = ?`` and ``id = 5`` would get two hashes); whitespace runs (left
where a comment was dropped) become one space. Keyword case is kept (``select`` ≠ ``SELECT``).
``%s`` and ``$1`` parameters are kept as written, so a statement sent with parameters and the
same statement with inlined literals
are two statements (as they are to the database).

A statement is listed by :func:`slow_queries` when its slowest execution (``max``) exceeds the
threshold. Figures come from the per-minute DB rollup plus raw edge minutes (:mod:`query.apm.rollup`):
counts, totals, max and rows are exact, p95 a t-digest estimate, examples the slowest executions.
Calling endpoints (unless ``with_endpoints`` is false) come from the span-link rollup
(:mod:`query.apm.links`) for the returned rows: the endpoint (``http.route``, else the span name) of
the SERVER span of the same trace and service whose time contains the DB span, over the whole window,
as of the linker's last round (``endpoints_linked_until_unix_nano``).
"""

from __future__ import annotations

from typing import Any

from contracts.reader import TelemetryReader
from contracts.rollups import SLOWEST_N, Db
from query.apm import links, rollup, semconv
from query.apm.database_models import CallingEndpoint, SlowQuery, SlowQueryList
from query.apm.window import ApmWindow
from query.errors import BadRequest

NORMALIZED = semconv.NORMALIZED  # the statement with literals as ?, see contracts.semconv_sql
QUERY_HASH = semconv.QUERY_HASH
SORTS = {"total": "total_ns", "avg": "avg_ns", "p95": "p95_ns", "max": "max_ns", "count": "executions"}
MAX_LIMIT = 500


def check_params(threshold_ms: float, sort: str, limit: int) -> None:
    """Raise :class:`BadRequest` naming ``threshold_ms``, ``sort`` or ``limit`` when out of range."""
    if threshold_ms < 0:
        raise BadRequest("must not be negative", "threshold_ms")
    if sort not in SORTS:
        raise BadRequest(f"{sort[:20]!r} is not one of {', '.join(SORTS)}", "sort")
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"must be between 1 and {MAX_LIMIT}", "limit")


def slow_queries(reader: TelemetryReader, window: ApmWindow, *, threshold_ms: float, sort: str = "total",
                 limit: int = 20, service: str | None = None, environment: str | None = None,
                 with_endpoints: bool = True) -> SlowQueryList:
    """Statements of the window whose max duration exceeds ``threshold_ms``, by ``sort`` descending."""
    check_params(threshold_ms, sort, limit)
    params: dict[str, object] = {**window.params, "threshold_ns": round(threshold_ms * 1e6), "limit": limit}
    src = rollup.db_source(window, params, service, environment)
    rows = reader.rows(
        f"SELECT toString({Db.QUERY_HASH}) AS query_hash, any({Db.STATEMENT}) AS statement, "
        f"any({Db.DB_SYSTEM}) AS db_system, any({Db.DB_NAMESPACE}) AS db_namespace, "
        f"sum({Db.EXECUTIONS}) AS executions, sum({Db.ERRORS}) AS errors, sum({Db.DURATION_SUM}) AS total_ns, "
        f"total_ns / executions AS avg_ns, {src.quantiles} AS q, q[3] AS p95_ns, "
        f"max({Db.DURATION_MAX}) AS max_ns, sum({Db.ROWS}) AS rows, sum({Db.ROWS_REPORTED}) AS rows_reported, "
        f"arraySort(groupUniqArray({Db.SERVICE_NAME})) AS services, "
        f"arrayMap(x -> x.2, groupArraySorted({SLOWEST_N})((-toInt64({Db.SLOWEST}.1), {Db.SLOWEST}.2))) AS examples "
        f"FROM {src} WHERE {Db.QUERY_HASH} != 0 GROUP BY {Db.QUERY_HASH} "
        f"HAVING max_ns > {{threshold_ns:Int64}} ORDER BY {SORTS[sort]} DESC, query_hash LIMIT {{limit:UInt32}}",
        params,
    )
    endpoints = _endpoints(reader, window, [r["query_hash"] for r in rows], service, environment) \
        if with_endpoints else {}
    return SlowQueryList(threshold_ms=threshold_ms, sort=sort,
                         queries=[_slow(r, endpoints.get(r["query_hash"], [])) for r in rows],
                         endpoints_linked_until_unix_nano=links.linked_until(reader) if with_endpoints else 0)


def _slow(r: dict[str, Any], endpoints: list[CallingEndpoint]) -> SlowQuery:
    return SlowQuery(
        query_hash=r["query_hash"], statement=r["statement"], db_system=r["db_system"],
        db_namespace=r["db_namespace"], executions=int(r["executions"]), errors=int(r["errors"]),
        total_ms=float(r["total_ns"]) / 1e6, avg_ms=float(r["avg_ns"]) / 1e6, p95_ms=float(r["p95_ns"]) / 1e6,
        max_ms=float(r["max_ns"]) / 1e6, rows=int(r["rows"]) if int(r["rows_reported"]) else None,
        services=list(r["services"]), endpoints=endpoints, example_trace_ids=[t for t in r["examples"] if t],
    )


def _endpoints(reader: TelemetryReader, window: ApmWindow, hashes: list[str], service: str | None,
               environment: str | None) -> dict[str, list[CallingEndpoint]]:
    """Per query hash: the endpoints (service, route) whose requests ran it, and how many times."""
    if not hashes:
        return {}
    params: dict[str, object] = {"hashes": hashes}
    src = links.source(window, params, "db", service, environment)
    rows = reader.rows(
        f"SELECT toString(QueryHash) AS query_hash, ServiceName AS service, Target AS route, sum(Calls) AS n "
        f"FROM {src} WHERE toString(QueryHash) IN {{hashes:Array(String)}} "
        "GROUP BY query_hash, service, route ORDER BY n DESC, route", params)
    found: dict[str, list[CallingEndpoint]] = {}
    for r in rows:
        found.setdefault(r["query_hash"], []).append(
            CallingEndpoint(service=r["service"], route=r["route"], executions=int(r["n"])))
    return found
