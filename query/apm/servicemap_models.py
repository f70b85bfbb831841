"""Response types of ``/api/service-map`` and ``/api/services/{name}`` (documented in ``/schema``)."""

from __future__ import annotations

import msgspec

from query.apm.requests_models import ApiMetrics, Endpoint
from query.models import UNKNOWN, ReadMeta


class MapNode(msgspec.Struct, frozen=True):
    """A node: a ``service``, a ``database`` (system + namespace) or an ``external`` host.

    ``requests``/``errors``/``p95_ms`` are the node's own request figures for services (request-level
    counting) and the calls it received for databases and external hosts.
    """

    id: str
    kind: str
    name: str
    requests: int
    errors: int
    p95_ms: float


class MapEdge(msgspec.Struct, frozen=True):
    """Calls from ``source`` to ``target`` (node ids): count, failed calls, their rate and p95 (ms).

    A call's latency is the caller's CLIENT span when there is one, else the callee's span.
    """

    source: str
    target: str
    calls: int
    errors: int
    error_rate: float
    p95_ms: float


class ServiceMap(msgspec.Struct, frozen=True):
    """``/api/service-map``: nodes and edges of the window (only edges touching ``service`` when given).

    Service → service and external edges include the spans stored before ``linked_until_unix_nano``
    (the span linker's last round, seconds ago; 0 before its first round).
    """

    nodes: list[MapNode]
    edges: list[MapEdge]
    linked_until_unix_nano: int
    meta: ReadMeta = UNKNOWN


class ServiceDetail(msgspec.Struct, frozen=True):
    """``/api/services/{name}``: RED (totals and series), top endpoints, upstream and downstream calls."""

    name: str
    red: ApiMetrics
    endpoints: list[Endpoint]
    upstream: list[MapEdge]
    downstream: list[MapEdge]
    nodes: list[MapNode]
    meta: ReadMeta = UNKNOWN
