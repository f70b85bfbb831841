"""Response models of the API-performance endpoints (``/api/metrics/api*``)."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from query.models import UNKNOWN, ReadMeta


@dataclass(frozen=True)
class ApiSettings:
    """Settings of the request endpoints: Apdex T, the SLA target and the slow-request threshold."""

    apdex_t_ms: float = 500.0
    sla_target_percent: float = 99.9
    slow_request_ms: float = 1000.0


class RequestFigures(msgspec.Struct):
    """Request RED of one bucket or of the whole window (latencies in ms; 0 without requests)."""

    requests: int
    errors: int
    error_rate: float
    req_per_s: float
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    apdex: float


class BucketFigures(RequestFigures):
    """One bucket of the series; ``t`` is the bucket start in unix seconds."""

    t: int = 0


class StatusCount(msgspec.Struct):
    """Requests answered with one HTTP status code (0 = no status) or one class (``2xx``…)."""

    status: str
    requests: int


class ApiMetrics(msgspec.Struct):
    """``/api/metrics/api``: totals, series, availability vs the SLA target, status distribution."""

    step_s: int
    apdex_t_ms: float
    sla_target_percent: float
    availability_percent: float
    meets_sla: bool
    totals: RequestFigures
    series: list[BucketFigures]
    by_status: list[StatusCount]
    by_class: list[StatusCount]
    meta: ReadMeta = UNKNOWN


class ServiceRed(msgspec.Struct):
    """One service's request RED in the window (``/api/dashboard``'s service health)."""

    service: str
    figures: RequestFigures


class Endpoint(msgspec.Struct):
    """One (service, method, route) row of the top endpoints; ``time_share`` is of all request time."""

    service: str
    method: str
    route: str
    requests: int
    errors: int
    error_rate: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    total_time_ms: float
    time_share: float


class EndpointList(msgspec.Struct):
    """``/api/metrics/api/top-endpoints``."""

    sort: str
    endpoints: list[Endpoint]
    meta: ReadMeta = UNKNOWN


class SlowRequest(msgspec.Struct):
    """One request span above the threshold."""

    trace_id: str
    span_id: str
    service: str
    method: str
    route: str
    status: int
    duration_ms: float
    timestamp: str


class SlowRequestList(msgspec.Struct):
    """``/api/metrics/api/slow-requests``, slowest first."""

    threshold_ms: float
    requests: list[SlowRequest]
    meta: ReadMeta = UNKNOWN
