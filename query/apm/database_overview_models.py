"""Response types of ``/api/metrics/database`` and ``/api/metrics/database/connection-stats`` (in ``/schema``)."""

from __future__ import annotations

import msgspec

from query.models import UNKNOWN, ReadMeta


class DbFigures(msgspec.Struct):
    """DB calls of one database or of all: counts, rate and latency in ms (0 without calls).

    ``per_s`` is executions per second of the window (of the bucket in a series); ``error_rate`` is
    errors / executions.
    """

    executions: int
    errors: int
    error_rate: float
    per_s: float
    avg_ms: float
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float


class DbBucket(msgspec.Struct):
    """One bucket of a series; ``t`` is the bucket start in unix seconds (p95 is 0 without calls)."""

    t: int
    executions: int
    errors: int
    p95_ms: float


class DbOperation(msgspec.Struct):
    """One operation (``db.operation.name``, else the statement's first keyword) on one database."""

    operation: str
    db_system: str
    db_namespace: str
    executions: int
    errors: int


class DbDatabase(msgspec.Struct):
    """One (``db.system.name``, ``db.namespace``) pair: figures of the window and its series."""

    db_system: str
    db_namespace: str
    figures: DbFigures
    series: list[DbBucket]


class DatabaseOverview(msgspec.Struct):
    """``/api/metrics/database``: totals and series of every DB call, per database, top operations."""

    step_s: int
    totals: DbFigures
    series: list[DbBucket]
    databases: list[DbDatabase]
    top_operations: list[DbOperation]
    meta: ReadMeta = UNKNOWN


class PoolTiming(msgspec.Struct):
    """A pool duration histogram over the window: recorded ``count``, ``avg_ms``, bucket-interpolated ``p95_ms``."""

    count: int
    avg_ms: float | None
    p95_ms: float | None


class PoolBucket(msgspec.Struct):
    """One bucket of a pool's usage: mean ``used`` and ``max`` connections and ``usage`` = used / max."""

    t: int
    used: float | None
    max: float | None
    usage: float | None


class PoolStats(msgspec.Struct):
    """One pool (service + pool name): latest gauges, timeouts, wait/use times and the usage series.

    A field is null when the pool does not report that metric in the window.
    """

    service: str
    pool: str
    idle: int | None
    used: int | None
    max: int | None
    idle_max: int | None
    idle_min: int | None
    pending_requests: int | None
    usage: float | None
    timeouts: int | None
    wait_time: PoolTiming | None
    use_time: PoolTiming | None
    series: list[PoolBucket]


class ConnectionStats(msgspec.Struct):
    """``/api/metrics/database/connection-stats``: every pool with metrics in the window."""

    step_s: int
    pools: list[PoolStats]
    meta: ReadMeta = UNKNOWN
