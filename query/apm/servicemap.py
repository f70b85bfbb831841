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
the per-minute rollups (:mod:`query.apm.rollup`); service → service and external edges read the
span-link rollup (:mod:`query.apm.links`), which covers the spans stored before
``linked_until_unix_nano``; duplicate rows of one span count once there. p95 figures are t-digest
estimates.
"""

from __future__ import annotations

from typing import Any

from contracts.reader import TelemetryReader
from contracts.rollups import Db
from query.apm import links, requests, rollup
from query.apm.requests_models import ApiSettings
from query.apm.servicemap_models import MapEdge, MapNode, ServiceMap
from query.apm.window import ApmWindow


def service_id(name: str) -> str:
    """The node id of a service."""
    return f"service:{name}"


def _edge(source: str, target: str, r: dict[str, Any]) -> MapEdge:
    calls, errors = int(r["calls"]), int(r["errors"])
    return MapEdge(source=source, target=target, calls=calls, errors=errors,
                   error_rate=errors / calls if calls else 0.0, p95_ms=float(r["p95"]) / 1e6)


def _service_edges(reader: TelemetryReader, window: ApmWindow, environment: str | None) -> list[MapEdge]:
    params: dict[str, object] = {}
    src = links.source(window, params, "service", None, environment)
    rows = reader.rows(
        f"SELECT ServiceName AS source, Target AS target, sum(Calls) AS calls, sum(Errors) AS errors, "
        f"arrayElement({links.QUANTILES}, 3) AS p95 FROM {src} GROUP BY source, target ORDER BY source, target",
        params)
    return [_edge(service_id(r["source"]), service_id(r["target"]), r) for r in rows]


def _split_rows(rows: list[dict[str, Any]], kind: str, prefix: str) -> tuple[list[MapEdge], list[MapNode]]:
    """Rows of a GROUPING SETS ((source, name), (name)) query → edges and callee nodes (g = 1: per callee)."""
    edges = [_edge(service_id(r["source"]), f"{prefix}:{r['name']}", r) for r in rows if r["g"] == 0]
    nodes = [MapNode(id=f"{prefix}:{r['name']}", kind=kind, name=r["name"], requests=int(r["calls"]),
                     errors=int(r["errors"]), p95_ms=float(r["p95"]) / 1e6) for r in rows if r["g"] == 1]
    return edges, nodes


def _external(reader: TelemetryReader, window: ApmWindow, environment: str | None) -> tuple[list[MapEdge],
                                                                                          list[MapNode]]:
    params: dict[str, object] = {}
    src = links.source(window, params, "external", None, environment)
    rows = reader.rows(
        f"SELECT ServiceName AS source, Target AS name, grouping(source) AS g, sum(Calls) AS calls, "
        f"sum(Errors) AS errors, arrayElement({links.QUANTILES}, 3) AS p95 FROM {src} "
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
    edges = _service_edges(reader, window, environment)
    for leaf_edges, leaf_nodes in (_databases(reader, window, environment), _external(reader, window, environment)):
        edges += leaf_edges
        nodes.update((n.id, n) for n in leaf_nodes)
    if service:
        own = service_id(service)
        edges = [e for e in edges if own in (e.source, e.target)]
        keep = {own} | {e.source for e in edges} | {e.target for e in edges}
        nodes = {k: v for k, v in nodes.items() if k in keep}
    return ServiceMap(nodes=sorted(nodes.values(), key=lambda n: (n.kind != "service", n.id)), edges=edges,
                      linked_until_unix_nano=links.linked_until(reader))
