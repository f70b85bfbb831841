"""The service map: services, databases and external hosts, and the calls between them.

Edges come from three sources in the window:

* **service → service**: a SERVER (or CONSUMER) span whose parent is a CLIENT (or PRODUCER) span of
  another service — the call and the request it caused. Latency is the caller's span when it is a
  CLIENT span, else the callee's; a call failed when either side is :data:`~query.apm.semconv.IS_ERROR`.
* **service → database**: DB client spans (:data:`~query.apm.semconv.IS_DB_CALL`), one node per
  (``db.system.name``, ``db.namespace`` or ``server.address``).
* **service → external**: CLIENT spans that are not DB calls and have no SERVER/CONSUMER child span
  (the callee is not instrumented), one node per peer host (``server.address``,
  ``net.peer.name`` or the host of ``url.full``/``http.url``; ``unknown`` without one).

Duplicate rows of one span (an at-least-once retry) count once. Service nodes carry their own
request figures (request-level counting); other nodes the calls they received.
"""

from __future__ import annotations

from typing import Any

from contracts.otel_columns import Traces as T
from contracts.reader import TelemetryReader
from query.apm import semconv as sc
from query.apm.servicemap_models import MapEdge, MapNode, ServiceMap
from query.apm.window import ApmWindow
from query.filters import traces_time

_A = T.SPAN_ATTRIBUTES
PEER = (f"ifNull(coalesce(nullIf({_A}['server.address'], ''), nullIf({_A}['net.peer.name'], ''), "
        f"nullIf(domain({_A}['url.full']), ''), nullIf(domain({_A}['http.url']), '')), '')")
DB_TARGET = f"if({sc.DB_NAMESPACE} != '', {sc.DB_NAMESPACE}, {_A}['server.address'])"


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


def _db_calls(where: str) -> str:
    return (f"SELECT DISTINCT {T.TRACE_ID}, {T.SPAN_ID}, {T.SERVICE_NAME} AS source, "
            f"if(target != '', concat({sc.DB_SYSTEM}, '/', target), {sc.DB_SYSTEM}) AS name, {DB_TARGET} AS target, "
            f"{T.DURATION} AS d, {sc.IS_ERROR} AS err FROM {T.TABLE} WHERE {where} AND {sc.IS_DB_CALL}")


def _external_calls(where: str) -> str:
    return (f"SELECT DISTINCT {T.TRACE_ID}, {T.SPAN_ID}, {T.SERVICE_NAME} AS source, "
            f"if({PEER} != '', {PEER}, 'unknown') AS name, {T.DURATION} AS d, {sc.IS_ERROR} AS err "
            f"FROM {T.TABLE} WHERE {where} AND {T.SPAN_KIND} = 'Client' AND {sc.DB_SYSTEM} = '' "
            f"AND ({T.TRACE_ID}, {T.SPAN_ID}) NOT IN (SELECT {T.TRACE_ID}, {T.PARENT_SPAN_ID} FROM {T.TABLE} "
            f"WHERE {where} AND {T.PARENT_SPAN_ID} != '' AND {T.SPAN_KIND} IN ('Server', 'Consumer'))")


def _leaf(reader: TelemetryReader, calls: str, kind: str, prefix: str,
          params: dict[str, Any]) -> tuple[list[MapEdge], list[MapNode]]:
    """Edges (per caller and callee) and callee nodes (over all callers) of DB or external calls."""
    edges = reader.rows(f"SELECT source, name, {_CALL_FIGURES} FROM ({calls}) GROUP BY source, name "
                        "ORDER BY source, name", params)
    nodes = reader.rows(f"SELECT name, {_CALL_FIGURES} FROM ({calls}) GROUP BY name ORDER BY name", params)
    return ([_edge(service_id(r["source"]), f"{prefix}:{r['name']}", r) for r in edges],
            [MapNode(id=f"{prefix}:{r['name']}", kind=kind, name=r["name"], requests=int(r["calls"]),
                     errors=int(r["errors"]), p95_ms=float(r["p95"]) / 1e6) for r in nodes])


def _service_nodes(reader: TelemetryReader, where: str, params: dict[str, Any]) -> dict[str, MapNode]:
    rows = reader.rows(
        f"""SELECT {T.SERVICE_NAME} AS s, uniqExactIf(({T.TRACE_ID}, {T.SPAN_ID}), {sc.IS_REQUEST}) AS requests,
                  uniqExactIf(({T.TRACE_ID}, {T.SPAN_ID}), {sc.IS_REQUEST} AND {sc.IS_ERROR}) AS errors,
                  if(requests = 0, 0, quantileIf(0.95)({T.DURATION}, {sc.IS_REQUEST})) AS p95
           FROM {T.TABLE} WHERE {where} GROUP BY s ORDER BY s""", params)
    return {service_id(r["s"]): MapNode(id=service_id(r["s"]), kind="service", name=r["s"],
                                        requests=int(r["requests"]), errors=int(r["errors"]),
                                        p95_ms=float(r["p95"]) / 1e6) for r in rows}


def service_map(reader: TelemetryReader, window: ApmWindow, service: str | None = None,
                environment: str | None = None) -> ServiceMap:
    """Nodes and edges of ``window``; with ``service``, only its edges and their nodes (it included)."""
    params: dict[str, Any] = dict(window.params)
    where = _where(window, environment, params)
    nodes = _service_nodes(reader, where, params)
    edges = _service_edges(reader, where, params)
    for calls, kind, prefix in ((_db_calls(where), "database", "db"), (_external_calls(where), "external", "external")):
        leaf_edges, leaf_nodes = _leaf(reader, calls, kind, prefix, params)
        edges += leaf_edges
        nodes.update((n.id, n) for n in leaf_nodes)
    if service:
        own = service_id(service)
        edges = [e for e in edges if own in (e.source, e.target)]
        keep = {own} | {e.source for e in edges} | {e.target for e in edges}
        nodes = {k: v for k, v in nodes.items() if k in keep}
    return ServiceMap(nodes=sorted(nodes.values(), key=lambda n: (n.kind != "service", n.id)), edges=edges)
