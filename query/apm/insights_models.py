"""Response types of ``/api/insights/performance`` and the settings its rules use."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from query.models import UNKNOWN, ReadMeta

SEVERITIES = ("info", "warning", "critical")


@dataclass(frozen=True)
class InsightSettings:
    """Thresholds of the insight rules (see :mod:`query.apm.insights`)."""

    slow_endpoint_ms: float = 500.0  # p95 above it: a slow endpoint
    min_requests: int = 10  # fewer requests in a window: no latency/variance/regression finding
    n_plus_one_min: int = 5  # the same statement this many times under one parent span: N+1
    regression_factor: float = 1.5  # p95 at least this × the previous window's: a latency regression
    spike_factor: float = 2.0  # error rate at least this × the previous window's (and +5 points): a spike
    min_errors: int = 5  # fewer failed requests: no spike
    db_share: float = 0.5  # DB time at least this share of an endpoint's time: DB-dominated
    variance_ratio: float = 10.0  # p99 / p50 at least this: high variance


class Evidence(msgspec.Struct, frozen=True):
    """One measured figure behind a finding."""

    name: str
    value: float
    unit: str


class Insight(msgspec.Struct, frozen=True):
    """A finding: what, how bad, the evidence (figures, traces, endpoints) and what to do.

    ``id`` is stable for the same kind and subject across calls, so a client can tell new findings.
    """

    id: str
    kind: str
    severity: str
    title: str
    service: str
    subject: str
    evidence: list[Evidence]
    trace_ids: list[str]
    endpoints: list[str]
    recommendation: str


class InsightList(msgspec.Struct, frozen=True):
    """``/api/insights/performance``: findings, most severe first."""

    insights: list[Insight]
    meta: ReadMeta = UNKNOWN
