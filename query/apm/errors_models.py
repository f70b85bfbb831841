"""Response types of ``/api/metrics/errors*`` and ``/api/errors/{fingerprint}`` (documented in ``/schema``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from query.models import UNKNOWN, ReadMeta


def _csv(text: Any) -> tuple[str, ...]:
    return tuple(p.strip() for p in str(text or "").split(",") if p.strip())


@dataclass(frozen=True)
class ErrorSettings:
    """Settings of the error endpoints: spike detection and the critical rules of ``/errors/critical``.

    An issue spikes when its window count is at least ``spike_factor`` × its previous window's count and at
    least ``spike_min_count``. It is critical by rule when its type is one of ``critical_types``, its
    message contains one of ``critical_messages`` (case-insensitive), or a service of ``critical_services``
    raised it.
    """

    spike_factor: float = 3.0
    spike_min_count: int = 5
    critical_types: tuple[str, ...] = ()
    critical_messages: tuple[str, ...] = ()
    critical_services: tuple[str, ...] = ()

    @classmethod
    def of(cls, cfg: Any) -> ErrorSettings:
        """From a :class:`vigil.config.Config` (its ``error_*`` settings; lists comma-separated)."""
        return cls(cfg.error_spike_factor, cfg.error_spike_min_count, _csv(cfg.error_critical_types),
                   _csv(cfg.error_critical_messages), _csv(cfg.error_critical_services))


class Count(msgspec.Struct, frozen=True):
    """A named count (a service, an exception type)."""

    name: str
    count: int


class ErrorBucket(msgspec.Struct, frozen=True):
    """One bucket: error occurrences and failed requests starting in it."""

    start: int  # unix seconds
    occurrences: int
    failed_requests: int


class IssueCount(msgspec.Struct, frozen=True):
    """One issue's occurrences in the window.

    ``status`` and ``first_seen_ns`` (ever, not only in the window) come from the issue repository:
    ``unknown`` and 0 while the issue is not tracked.
    """

    fingerprint: str
    type: str
    message: str
    count: int
    services: list[str]
    endpoints: list[str]
    last_seen_ns: int
    status: str
    first_seen_ns: int = 0


class ErrorMetrics(msgspec.Struct, frozen=True):
    """Errors of the window: occurrences (exception events + ERROR logs), failed requests, error rate.

    ``error_rate`` is failed requests / requests (0 without requests).
    """

    occurrences: int
    requests: int
    failed_requests: int
    error_rate: float
    step_s: int
    series: list[ErrorBucket]
    top_issues: list[IssueCount]
    by_service: list[Count]
    by_type: list[Count]
    meta: ReadMeta = UNKNOWN


class TrendSeries(msgspec.Struct, frozen=True):
    """Bucketed counts of one issue (or of all, ``fingerprint`` ``""``) and the change vs the previous window.

    ``change_percent`` is None when the previous window had none.
    """

    fingerprint: str
    type: str
    message: str
    counts: list[int]
    total: int
    previous_total: int
    change: int
    change_percent: float | None


class ErrorTrends(msgspec.Struct, frozen=True):
    """Per-bucket occurrence counts (``bucket_starts`` unix seconds), overall and per top issue."""

    step_s: int
    bucket_starts: list[int]
    overall: TrendSeries
    issues: list[TrendSeries]
    meta: ReadMeta = UNKNOWN


class CriticalIssue(msgspec.Struct, frozen=True):
    """An issue needing attention and why: ``reasons`` ⊆ new, spiking, regressed, rule:type|message|service."""

    fingerprint: str
    type: str
    message: str
    count: int
    previous_count: int
    services: list[str]
    reasons: list[str]
    status: str


class CriticalErrors(msgspec.Struct, frozen=True):
    """Critical issues of the window, highest count first."""

    spike_factor: float
    spike_min_count: int
    issues: list[CriticalIssue]
    meta: ReadMeta = UNKNOWN


class OccurrenceRecord(msgspec.Struct, frozen=True):
    """One occurrence of an issue in the columnar store."""

    trace_id: str
    span_id: str
    time_ns: int
    service: str
    endpoint: str
    message: str
    source: str  # span or log


class IssueRecord(msgspec.Struct, frozen=True, kw_only=True):
    """An issue as the repository keeps it (times unix ns)."""

    fingerprint: str
    type: str
    message: str
    sample_message: str
    frames: list[str]
    first_seen_ns: int
    last_seen_ns: int
    count: int
    services: list[str]
    endpoints: list[str]
    trace_ids: list[str]
    status: str
    resolved_at_ns: int | None
    regressed_at_ns: int | None
    regressions: int


class IssueDetail(msgspec.Struct, frozen=True, kw_only=True):
    """An issue and its most recent occurrences (newest first; see ``errors.issue_detail`` for the bound)."""

    issue: IssueRecord
    occurrences: list[OccurrenceRecord]
    meta: ReadMeta = UNKNOWN
