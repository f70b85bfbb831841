"""The service map: services, databases and external hosts, and the calls between them.

Edges come from three sources in the window:

* **service → service**: a SERVER (or CONSUMER) span whose parent is a CLIENT (or PRODUCER) span of
  another service — the call and the request it caused. Latency is the caller's span when it is a
  CLIENT span, else the callee's; a call failed when either side is :data:`~query.apm.semconv.IS_ERROR`.
* **service → database**: DB client spans (:data:`~query.apm.semconv.IS_DB_CALL`), one node per
  (``db.system.name``, ``db.namespace``).
* **service → external**: CLIENT spans that are not DB calls and have no SERVER/CONSUMER child span
  (the callee is not instrumented), one node per peer host (``server.address``,
  ``net.peer.name`` or the host of ``url.full``/``http.url``; ``unknown`` without one).

Service nodes (their own request figures, request-level counting) and database nodes and edges read
the per-minute rollups over the whole window (:mod:`query.apm.rollup`). The service → service and
external edges join raw spans, so they cover the most recent :data:`CALLS_WINDOW_S` of a longer window
(``calls_since_unix_nano`` says from when); duplicate rows of one span count once there.
"""

from __future__ import annotations

from typing import Any

from contracts.otel_columns import Traces as T
from contracts.reader import TelemetryReader
from contracts.rollups import Db
from query.apm import requests, rollup
from query.apm import semconv as sc
from query.apm.requests_models import ApiSettings
from query.apm.servicemap_models import MapEdge, MapNode, ServiceMap
from query.apm.window import ApmWindow
from query.filters import traces_time

_A = T.SPAN_ATTRIBUTES
PEER = (f"ifNull(coalesce(nullIf({_A}['server.address'], ''), nullIf({_A}['net.peer.name'], ''), "
        f"nullIf(domain({_A}['url.full']), ''), nullIf(domain({_A}['http.url']), '')), '')")
CALLS_WINDOW_S = 3600


def service_id(name: str) -> str:
    """The node id of a service."""
    return f"service:{name}"


def _where(window: ApmWindow, environment: str | None, params: dict[str, Any]) -> str:
    return " AND ".join([traces_time(), *sc.service_filter(params, None, environment)])


def _edge(source: str, target: str, r: dict[str, Any]) -> MapEdge:
    calls, errors = int(r["calls"]), int(r["errors"])
    return MapEdge(source=source, target=target, calls=calls, errors=errors,
                   error_rate=errors / calls if calls else 0.0, p95_ms=float(r["p95"]) / 1e6)


def _service_edges(reader: TelemetryReader, where: str, params: dict[str, Any]) -> list[MapEdge]:
    rows = reader.rows(
        f"""SELECT p.s AS source, c.s AS target, count() AS calls, countIf(p.err OR c.err) AS errors,
                  quantile(0.95)(if(p.k = 'Client', p.d, c.d)) AS p95
           FROM (SELECT DISTINCT {T.TRACE_ID} AS t, {T.SPAN_ID} AS id, {T.SERVICE_NAME} AS s, {T.SPAN_KIND} AS k,
                        {T.DURATION} AS d, {sc.IS_ERROR} AS err FROM {T.TABLE}
                 WHERE {where} AND {T.SPAN_KIND} IN ('Client', 'Producer')) AS p
           INNER JOIN (SELECT DISTINCT {T.TRACE_ID} AS t, {T.SPAN_ID} AS id, {T.PARENT_SPAN_ID} AS pid,
                              {T.SERVICE_NAME} AS s, {T.DURATION} AS d, {sc.IS_ERROR} AS err
                       FROM {T.TABLE} WHERE {where} AND {T.PARENT_SPAN_ID} != ''
                         AND {T.SPAN_KIND} IN ('Server', 'Consumer')) AS c
           ON p.t = c.t AND p.id = c.pid
           WHERE p.s != c.s GROUP BY source, target ORDER BY source, target""", params)
    return [_edge(service_id(r["source"]), service_id(r["target"]), r) for r in rows]


_CALL_FIGURES = "count() AS calls, countIf(err) AS errors, quantile(0.95)(d) AS p95"


def _external_calls(where: str) -> str:
    return (f"SELECT DISTINCT {T.TRACE_ID}, {T.SPAN_ID}, {T.SERVICE_NAME} AS source, "
            f"if({PEER} != '', {PEER}, 'unknown') AS name, {T.DURATION} AS d, {sc.IS_ERROR} AS err "
            f"FROM {T.TABLE} WHERE {where} AND {T.SPAN_KIND} = 'Client' AND {sc.DB_SYSTEM} = '' "
            f"AND ({T.TRACE_ID}, {T.SPAN_ID}) NOT IN (SELECT {T.TRACE_ID}, {T.PARENT_SPAN_ID} FROM {T.TABLE} "
            f"WHERE {where} AND {T.PARENT_SPAN_ID} != '' AND {T.SPAN_KIND} IN ('Server', 'Consumer'))")


def _split_rows(rows: list[dict[str, Any]], kind: str, prefix: str) -> tuple[list[MapEdge], list[MapNode]]:
    """Rows of a GROUPING SETS ((source, name), (name)) query → edges and callee nodes (g = 1: per callee)."""
    edges = [_edge(service_id(r["source"]), f"{prefix}:{r['name']}", r) for r in rows if r["g"] == 0]
    nodes = [MapNode(id=f"{prefix}:{r['name']}", kind=kind, name=r["name"], requests=int(r["calls"]),
                     errors=int(r["errors"]), p95_ms=float(r["p95"]) / 1e6) for r in rows if r["g"] == 1]
    return edges, nodes


def _external(reader: TelemetryReader, where: str, params: dict[str, Any]) -> tuple[list[MapEdge], list[MapNode]]:
    rows = reader.rows(f"SELECT source, name, grouping(source) AS g, {_CALL_FIGURES} FROM ({_external_calls(where)}) "
                       "GROUP BY GROUPING SETS ((source, name), (name)) ORDER BY source, name", params)
    return _split_rows(rows, "external", "external")


def _databases(reader: TelemetryReader, window: ApmWindow, environment: str | None) -> tuple[list[MapEdge],
                                                                                           list[MapNode]]:
    """DB edges and nodes from the DB rollup: one node per system + namespace, over the whole window."""
    params: dict[str, object] = dict(window.params)
    src = rollup.db_source(window, params, None, environment)
    name = f"if({Db.DB_NAMESPACE} != '', concat({Db.DB_SYSTEM}, '/', {Db.DB_NAMESPACE}), {Db.DB_SYSTEM})"
    rows = reader.rows(
        f"SELECT {Db.SERVICE_NAME} AS source, {name} AS name, grouping(source) AS g, "
        f"sum({Db.EXECUTIONS}) AS calls, sum({Db.ERRORS}) AS errors, arrayElement({src.quantiles}, 3) AS p95 "
        f"FROM {src} GROUP BY GROUPING SETS ((source, name), (name)) ORDER BY source, name", params)
    return _split_rows(rows, "database", "db")


def _service_nodes(reader: TelemetryReader, window: ApmWindow, environment: str | None) -> dict[str, MapNode]:
    found = requests.per_service(reader, window, ApiSettings(), environment)
    return {service_id(r.service): MapNode(id=service_id(r.service), kind="service", name=r.service,
                                           requests=r.figures.requests, errors=r.figures.errors,
                                           p95_ms=r.figures.p95_ms) for r in found}


def service_map(reader: TelemetryReader, window: ApmWindow, service: str | None = None,
                environment: str | None = None) -> ServiceMap:
    """Nodes and edges of ``window``; with ``service``, only its edges and their nodes (it included)."""
    nodes = _service_nodes(reader, window, environment)
    since = max(window.start_ns, window.end_ns - CALLS_WINDOW_S * 1_000_000_000)
    params: dict[str, Any] = {"start_ns": since, "end_ns": window.end_ns}
    where = _where(window, environment, params)
    edges = _service_edges(reader, where, params)
    for leaf_edges, leaf_nodes in (_databases(reader, window, environment), _external(reader, where, params)):
        edges += leaf_edges
        nodes.update((n.id, n) for n in leaf_nodes)
    if service:
        own = service_id(service)
        edges = [e for e in edges if own in (e.source, e.target)]
        keep = {own} | {e.source for e in edges} | {e.target for e in edges}
        nodes = {k: v for k, v in nodes.items() if k in keep}
    return ServiceMap(nodes=sorted(nodes.values(), key=lambda n: (n.kind != "service", n.id)), edges=edges,
                      calls_since_unix_nano=since)
