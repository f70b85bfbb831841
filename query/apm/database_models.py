"""Response types of ``/api/metrics/database/*`` (documented in ``/schema``)."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from query.models import UNKNOWN, ReadMeta


class CallingEndpoint(msgspec.Struct, frozen=True):
    """A server endpoint (``http.route``, else the span name, of the enclosing server span) that ran the statement.

    ``executions`` counts the statement's runs inside this endpoint's requests in the window (from the
    span-link rollup; see :mod:`query.apm.database`).
    """

    service: str
    route: str
    executions: int


class SlowQuery(msgspec.Struct, frozen=True):
    """One normalized statement (``query_hash``) and its timings in the window (milliseconds).

    ``example_trace_ids``: up to 5 traces of slow executions, slowest first — the slowest execution of
    each per-minute rollup row (minute × service × operation), so examples spread over time.
    """

    query_hash: str
    statement: str
    db_system: str
    db_namespace: str
    executions: int
    errors: int
    total_ms: float
    avg_ms: float
    p95_ms: float
    max_ms: float
    rows: int | None
    services: list[str]
    endpoints: list[CallingEndpoint]
    example_trace_ids: list[str]


class SlowQueryList(msgspec.Struct, frozen=True):
    """Statements whose slowest execution (max) exceeds ``threshold_ms``, ordered by ``sort`` descending.

    The queries' ``endpoints`` include the requests stored before ``endpoints_linked_until_unix_nano``
    (the span linker's last round; 0 when endpoints were not asked for or nothing is linked yet).
    """

    threshold_ms: float
    sort: str
    queries: list[SlowQuery]
    endpoints_linked_until_unix_nano: int = 0
    meta: ReadMeta = UNKNOWN


@dataclass(frozen=True)
class DatabaseSettings:
    """Settings of the database endpoints: the default ``threshold_ms`` of slow-queries."""

    slow_query_ms: float = 100.0
