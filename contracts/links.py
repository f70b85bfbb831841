"""The per-minute span-link rollup ``vigil_links_1m`` (columnar migration 7): figures that join spans.

Some answers need two spans of a trace at once — a client span and the server span it caused, a DB
call and the request it was made for — which a materialized view cannot compute (the two spans are
often in different inserts, from different processes). The **linker** (``storage.clickhouse.linker``)
computes them in the background with the SELECTs below, minute by minute, and recomputes a minute when
spans arrive for it (or for its neighbours) later; the query side reads only this table, so its
answers are as fresh as the linker's last round (``tick`` markers say when that was).

Rows, one per (minute, kind, service, environment, target, query hash):

* ``db`` — DB client calls made while serving a request: a DB call (:data:`IS_DB_CALL`) of the same
  trace and service whose start lies inside a SERVER span. Target = the request's endpoint
  (:data:`~contracts.semconv_sql.ROUTE`), minute = the request's start. ``Calls``/``Errors``/
  ``DurationSum``/``Quantiles`` are the DB calls'; ``Repeats`` counts the (request, parent span)
  groups by how many times they ran the statement (the N+1 histogram), ``RepeatMax`` the largest
  repetition and its trace id.
* ``service`` — a CLIENT/PRODUCER span whose child is a SERVER/CONSUMER span of another service.
  Target = the callee service, minute = the caller span's start; latency is the caller's span when it
  is a CLIENT span, else the callee's; failed when either side is :data:`IS_ERROR`.
* ``external`` — a CLIENT span that is not a DB call and has no SERVER/CONSUMER child (the callee is
  not instrumented). Target = the peer host (:data:`PEER`, ``unknown`` without one).
* ``done`` — one marker per processed minute, ``Calls`` = the minute's span count when it was read (a
  minute whose count changed since is computed again: late spans are linked too).
* ``tick`` — one marker per linker round at the time it read the store (``LINKED_UNTIL``): spans
  stored before the newest one are in the table.

Children are looked for from :data:`SKEW_S` before the anchor span's minute (clock skew between
hosts) to :data:`LAG_S` after the anchor minute (``lc``), so a DB call later than that in its
request, or a callee starting that much later, is not linked. Duplicate rows of one span (a retried export) count once
in ``service`` and ``external``. The table is a ``ReplacingMergeTree``: a minute computed twice (two
servers, a restart) keeps one row per key; read it with ``FINAL``.
"""

from __future__ import annotations

from contracts.otel_columns import Traces as T
from contracts.rollups import QUANTILE_LEVELS
from contracts.semconv_sql import (
    DB_STATEMENT,
    DB_SYSTEM,
    ENVIRONMENT,
    IS_DB_CALL,
    IS_ERROR,
    NORMALIZED,
    QUERY_HASH,
    ROUTE,
)

TABLE = "vigil_links_1m"
COLUMNS = ("Minute", "Kind", "ServiceName", "Environment", "Target", "QueryHash", "Statement", "Calls", "Errors",
           "DurationSum", "Quantiles", "Repeats", "RepeatMax", "Computed")
KINDS = ("db", "service", "external")
LAG_S = 120
SKEW_S = 60

_A = T.SPAN_ATTRIBUTES
PEER = (f"ifNull(coalesce(nullIf({_A}['server.address'], ''), nullIf({_A}['net.peer.name'], ''), "
        f"nullIf(domain({_A}['url.full']), ''), nullIf(domain({_A}['http.url']), '')), '')")
_Q = f"quantilesTDigestState({QUANTILE_LEVELS})"


def span_time(lo: str, hi: str, skew_s: int = 0) -> str:
    """SQL: ``otel_traces.Timestamp`` in ``[lo - skew_s, hi)`` (``Int64`` ns parameters ``lo``, ``hi``).

    The ``toDateTime`` terms repeat the sorting key's expression so the primary index prunes.
    """
    low = f"{{{lo}:Int64}} - {skew_s * 1_000_000_000}" if skew_s else f"{{{lo}:Int64}}"
    ts = T.TIMESTAMP
    return (f"toDateTime({ts}) >= toDateTime(intDiv({low}, 1000000000)) "
            f"AND toDateTime({ts}) <= toDateTime(intDiv({{{hi}:Int64}}, 1000000000)) "
            f"AND {ts} >= fromUnixTimestamp64Nano({low}) AND {ts} < fromUnixTimestamp64Nano({{{hi}:Int64}})")


def db_select() -> str:
    """``db`` rows of requests starting in ``[la, lb)``, their DB calls up to ``lc`` (ns parameters)."""
    return f"""SELECT toStartOfMinute(fromUnixTimestamp64Nano(g.b)) AS Minute, 'db' AS Kind, g.s AS ServiceName,
       g.env AS Environment, g.route AS Target, g.h AS QueryHash, any(g.stmt) AS Statement,
       toUInt64(sum(g.n)) AS Calls, toUInt64(sum(g.errs)) AS Errors, toUInt64(sum(g.dsum)) AS DurationSum,
       quantilesTDigestMergeState({QUANTILE_LEVELS})(g.q) AS Quantiles,
       sumMap(map(toUInt32(g.n), toUInt64(1))) AS Repeats, max((toUInt32(g.n), g.t)) AS RepeatMax
FROM (SELECT c.t AS t, c.s AS s, c.pid AS pid, c.h AS h, p.b AS b, p.route AS route, any(c.env) AS env,
             any(c.stmt) AS stmt, count() AS n, countIf(c.err) AS errs, sum(c.d) AS dsum, {_Q}(c.d) AS q
      FROM (SELECT {T.TRACE_ID} AS t, {T.SERVICE_NAME} AS s, {T.PARENT_SPAN_ID} AS pid,
                   if({DB_STATEMENT} = '', toUInt64(0), {QUERY_HASH}) AS h, {NORMALIZED} AS stmt,
                   {ENVIRONMENT} AS env, toUnixTimestamp64Nano({T.TIMESTAMP}) AS ts, toUInt64({T.DURATION}) AS d,
                   {IS_ERROR} AS err
            FROM {T.TABLE} WHERE {span_time('la', 'lc')} AND {IS_DB_CALL}) AS c
      INNER JOIN (SELECT {T.TRACE_ID} AS t, {T.SERVICE_NAME} AS s, {ROUTE} AS route,
                         toUnixTimestamp64Nano({T.TIMESTAMP}) AS b, b + {T.DURATION} AS e
                  FROM {T.TABLE} WHERE {span_time('la', 'lb')} AND {T.SPAN_KIND} = 'Server') AS p
      ON c.t = p.t AND c.s = p.s
      WHERE c.ts >= p.b AND c.ts <= p.e
      GROUP BY t, s, pid, h, b, route) AS g
GROUP BY Minute, ServiceName, Environment, Target, QueryHash"""


def service_select() -> str:
    """``service`` rows of caller spans starting in ``[la, lb)``, callees up to ``lc``."""
    return f"""SELECT toStartOfMinute(p.ts) AS Minute, 'service' AS Kind, p.s AS ServiceName, p.env AS Environment,
       c.s AS Target, toUInt64(0) AS QueryHash, '' AS Statement, toUInt64(count()) AS Calls,
       toUInt64(countIf(p.err OR c.err)) AS Errors, toUInt64(sum(if(p.k = 'Client', p.d, c.d))) AS DurationSum,
       {_Q}(if(p.k = 'Client', p.d, c.d)) AS Quantiles, map() AS Repeats, (toUInt32(0), '') AS RepeatMax
FROM (SELECT DISTINCT {T.TRACE_ID} AS t, {T.SPAN_ID} AS id, {T.SERVICE_NAME} AS s, {T.SPAN_KIND} AS k,
             toUInt64({T.DURATION}) AS d, {IS_ERROR} AS err, {ENVIRONMENT} AS env, {T.TIMESTAMP} AS ts
      FROM {T.TABLE} WHERE {span_time('la', 'lb')} AND {T.SPAN_KIND} IN ('Client', 'Producer')) AS p
INNER JOIN (SELECT DISTINCT {T.TRACE_ID} AS t, {T.SPAN_ID} AS id, {T.PARENT_SPAN_ID} AS pid, {T.SERVICE_NAME} AS s,
                   toUInt64({T.DURATION}) AS d, {IS_ERROR} AS err
            FROM {T.TABLE} WHERE {span_time('la', 'lc', SKEW_S)} AND {T.PARENT_SPAN_ID} != ''
              AND {T.SPAN_KIND} IN ('Server', 'Consumer')) AS c
ON p.t = c.t AND p.id = c.pid
WHERE p.s != c.s
GROUP BY Minute, ServiceName, Environment, Target"""


def external_select() -> str:
    """``external`` rows of client spans starting in ``[la, lb)`` with no instrumented callee up to ``lc``."""
    return f"""SELECT toStartOfMinute(ts) AS Minute, 'external' AS Kind, s AS ServiceName, env AS Environment,
       peer AS Target, toUInt64(0) AS QueryHash, '' AS Statement, toUInt64(count()) AS Calls,
       toUInt64(countIf(err)) AS Errors, toUInt64(sum(d)) AS DurationSum, {_Q}(d) AS Quantiles,
       map() AS Repeats, (toUInt32(0), '') AS RepeatMax
FROM (SELECT DISTINCT {T.TRACE_ID}, {T.SPAN_ID}, {T.SERVICE_NAME} AS s, if({PEER} != '', {PEER}, 'unknown') AS peer,
             toUInt64({T.DURATION}) AS d, {IS_ERROR} AS err, {ENVIRONMENT} AS env, {T.TIMESTAMP} AS ts
      FROM {T.TABLE}
      WHERE {span_time('la', 'lb')} AND {T.SPAN_KIND} = 'Client' AND {DB_SYSTEM} = ''
        AND ({T.TRACE_ID}, {T.SPAN_ID}) NOT IN (
            SELECT {T.TRACE_ID}, {T.PARENT_SPAN_ID} FROM {T.TABLE}
            WHERE {span_time('la', 'lc', SKEW_S)} AND {T.PARENT_SPAN_ID} != ''
              AND {T.SPAN_KIND} IN ('Server', 'Consumer')))
GROUP BY Minute, ServiceName, Environment, Target"""


SELECTS = {"db": db_select, "service": service_select, "external": external_select}


MARKER_COLUMNS = "Minute, Kind, Calls"


def done_insert() -> str:
    """INSERT of the ``done`` markers ``{minutes:Array(Tuple(UInt32, UInt64))}`` (unix s, span count)."""
    return (f"INSERT INTO {TABLE} ({MARKER_COLUMNS}) SELECT toDateTime(m.1), 'done', m.2 "
            "FROM (SELECT arrayJoin({minutes:Array(Tuple(UInt32, UInt64))}) AS m)")


def tick_insert() -> str:
    """INSERT of a ``tick`` marker at ``{at:UInt32}`` (unix s): every span stored before it was linked."""
    return f"INSERT INTO {TABLE} ({MARKER_COLUMNS}) SELECT toDateTime({{at:UInt32}}), 'tick', 0"


LINKED_UNTIL = f"SELECT toUnixTimestamp(max(Minute)) AS at, count() AS n FROM {TABLE} WHERE Kind = 'tick'"
