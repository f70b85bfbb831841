"""Error analytics over the raw columnar store: totals, trends, critical issues, one issue and its status.

Occurrences (exception span events and ERROR logs, see :mod:`query.apm.errors_scan`) are fingerprinted
in Python, so every figure here counts the window's occurrences read newest first up to
:data:`MAX_OCCURRENCES`; beyond that, answers say ``truncated`` and cover the most recent ones only.
Failed requests are counted in SQL by the counting rule (:data:`query.apm.semconv.IS_REQUEST` and
``IS_ERROR``). Issue status, first-seen and regression times come from the issue repository (the
tracker's); without one (``issues`` None) status is ``unknown`` and nothing is new or regressed.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from contracts.issues import STATUSES, Issue, IssueRepository
from contracts.otel_columns import Traces as T
from contracts.reader import TelemetryReader
from query.apm.errors_models import (
    Count,
    CriticalErrors,
    CriticalIssue,
    ErrorBucket,
    ErrorMetrics,
    ErrorSettings,
    ErrorTrends,
    IssueCount,
    IssueDetail,
    IssueRecord,
    OccurrenceRecord,
    TrendSeries,
)
from query.apm.errors_scan import Found, read_occurrences
from query.apm.semconv import IS_ERROR, IS_REQUEST, service_filter
from query.apm.window import ApmWindow
from query.errors import BadRequest, NotFound
from query.filters import traces_time

MAX_OCCURRENCES = 100_000
DETAIL_LOOKBACK_NS = 24 * 3600 * 10**9
FINGERPRINT = re.compile(r"^[0-9a-f]{16}$")
NS = 10**9


def check_limit(limit: int, most: int) -> None:
    """Raise :class:`BadRequest` naming ``limit`` unless 1 <= limit <= most."""
    if not 1 <= limit <= most:
        raise BadRequest(f"must be between 1 and {most}", "limit")


def check_fingerprint(fp: str) -> None:
    """Raise :class:`BadRequest` naming ``fingerprint`` unless it is 16 lowercase hex digits."""
    if not FINGERPRINT.match(fp):
        raise BadRequest("must be 16 lowercase hex digits", "fingerprint")


def _occurrences(reader: TelemetryReader, window: ApmWindow, service: str | None,
                 environment: str | None) -> tuple[list[Found], bool]:
    return read_occurrences(reader, window.start_ns, window.end_ns, limit=MAX_OCCURRENCES, service=service,
                            environment=environment)


def _bucket(time_ns: int, step_s: int) -> int:
    return (time_ns // NS) // step_s * step_s


def _requests(reader: TelemetryReader, window: ApmWindow, service: str | None,
              environment: str | None) -> dict[int, tuple[int, int]]:
    """Per bucket start: (requests, failed requests)."""
    params: dict[str, object] = dict(window.params)
    conds = [traces_time(), IS_REQUEST, *service_filter(params, service, environment)]
    rows = reader.rows(
        f"SELECT intDiv(toUnixTimestamp({T.TIMESTAMP}), {{step_s:UInt32}}) * {{step_s:UInt32}} AS b, "
        f"count() AS n, countIf({IS_ERROR}) AS failed FROM {T.TABLE} WHERE {' AND '.join(conds)} GROUP BY b",
        params)
    return {int(r["b"]): (int(r["n"]), int(r["failed"])) for r in rows}


def _counts(items: Iterable[str]) -> list[Count]:
    return [Count(name=k, count=n) for k, n in sorted(Counter(items).items(), key=lambda kv: (-kv[1], kv[0]))]


def _status(issues: IssueRepository | None, fp: str) -> tuple[str, Issue | None]:
    issue = issues.get(fp) if issues is not None else None
    return (issue.status if issue else "unknown"), issue


def _by_fingerprint(found: list[Found]) -> dict[str, list[Found]]:
    groups: dict[str, list[Found]] = {}
    for f in found:
        groups.setdefault(f.occ.fingerprint, []).append(f)
    return dict(sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])))


def error_metrics(reader: TelemetryReader, window: ApmWindow, issues: IssueRepository | None, *, limit: int = 20,
                  service: str | None = None, environment: str | None = None) -> ErrorMetrics:
    """Totals, per-bucket series, the ``limit`` most frequent issues, by service and by type."""
    check_limit(limit, 100)
    found, truncated = _occurrences(reader, window, service, environment)
    requests = _requests(reader, window, service, environment)
    per_bucket = Counter(_bucket(f.occ.time_ns, window.step_s) for f in found)
    series = [ErrorBucket(start=b, occurrences=per_bucket.get(b, 0), failed_requests=requests.get(b, (0, 0))[1])
              for b in window.bucket_starts_s()]
    top = []
    for fp, group in list(_by_fingerprint(found).items())[:limit]:
        status, _ = _status(issues, fp)
        first = group[0].occ  # newest
        top.append(IssueCount(fingerprint=fp, type=first.type, message=first.message, count=len(group),
                              services=sorted({g.occ.service for g in group} - {""}),
                              endpoints=sorted({g.occ.endpoint for g in group} - {""}),
                              last_seen_ns=first.time_ns, status=status))
    total = sum(n for n, _ in requests.values())
    failed = sum(f for _, f in requests.values())
    return ErrorMetrics(occurrences=len(found), requests=total, failed_requests=failed,
                        error_rate=failed / total if total else 0.0, step_s=window.step_s, series=series,
                        top_issues=top, by_service=_counts(f.occ.service for f in found),
                        by_type=_counts(f.occ.type for f in found), truncated=truncated,
                        occurrence_limit=MAX_OCCURRENCES)


def _trend(fp: str, typ: str, message: str, found: list[Found], previous: int, buckets: list[int],
           step_s: int) -> TrendSeries:
    per_bucket = Counter(_bucket(f.occ.time_ns, step_s) for f in found)
    total = len(found)
    return TrendSeries(fingerprint=fp, type=typ, message=message, counts=[per_bucket.get(b, 0) for b in buckets],
                       total=total, previous_total=previous, change=total - previous,
                       change_percent=100.0 * (total - previous) / previous if previous else None)


def error_trends(reader: TelemetryReader, window: ApmWindow, *, limit: int = 10, service: str | None = None,
                 environment: str | None = None) -> ErrorTrends:
    """Bucketed counts overall and for the ``limit`` most frequent issues, each vs the previous window."""
    check_limit(limit, 50)
    found, cut = _occurrences(reader, window, service, environment)
    before, cut_before = _occurrences(reader, window.previous(), service, environment)
    previous = Counter(f.occ.fingerprint for f in before)
    buckets = window.bucket_starts_s()
    series = [_trend(fp, g[0].occ.type, g[0].occ.message, g, previous.get(fp, 0), buckets, window.step_s)
              for fp, g in list(_by_fingerprint(found).items())[:limit]]
    return ErrorTrends(step_s=window.step_s, bucket_starts=buckets,
                       overall=_trend("", "", "", found, len(before), buckets, window.step_s), issues=series,
                       truncated=cut or cut_before)


def _reasons(group: list[Found], previous: int, issue: Issue | None, window: ApmWindow,
             settings: ErrorSettings) -> list[str]:
    count, occ = len(group), group[0].occ
    reasons = []
    if issue is not None and window.start_ns <= issue.first_seen_ns <= window.end_ns:
        reasons.append("new")
    if count >= settings.spike_min_count and count >= settings.spike_factor * previous:
        reasons.append("spiking")
    if issue is not None and issue.regressed_at_ns is not None and \
            window.start_ns <= issue.regressed_at_ns <= window.end_ns:
        reasons.append("regressed")
    if occ.type in settings.critical_types:
        reasons.append("rule:type")
    texts = [f.occ.raw_message.lower() for f in group]
    if any(s.lower() in t for s in settings.critical_messages for t in texts):
        reasons.append("rule:message")
    if {f.occ.service for f in group} & set(settings.critical_services):
        reasons.append("rule:service")
    return reasons


def critical_errors(reader: TelemetryReader, window: ApmWindow, issues: IssueRepository | None,
                    settings: ErrorSettings, *, service: str | None = None,
                    environment: str | None = None) -> CriticalErrors:
    """Issues of the window that are new, spiking, regressed or match a rule (see ``ErrorSettings``)."""
    found, cut = _occurrences(reader, window, service, environment)
    before, cut_before = _occurrences(reader, window.previous(), service, environment)
    previous = Counter(f.occ.fingerprint for f in before)
    out = []
    for fp, group in _by_fingerprint(found).items():
        status, issue = _status(issues, fp)
        reasons = _reasons(group, previous.get(fp, 0), issue, window, settings)
        if reasons:
            out.append(CriticalIssue(fingerprint=fp, type=group[0].occ.type, message=group[0].occ.message,
                                     count=len(group), previous_count=previous.get(fp, 0),
                                     services=sorted({g.occ.service for g in group} - {""}), reasons=reasons,
                                     status=status))
    return CriticalErrors(spike_factor=settings.spike_factor, spike_min_count=settings.spike_min_count,
                          issues=out, truncated=cut or cut_before)


def issue_record(issue: Issue) -> IssueRecord:
    """The API form of an issue."""
    return IssueRecord(fingerprint=issue.fingerprint, type=issue.type, message=issue.message,
                       sample_message=issue.sample_message, frames=list(issue.frames),
                       first_seen_ns=issue.first_seen_ns, last_seen_ns=issue.last_seen_ns, count=issue.count,
                       services=list(issue.services), endpoints=list(issue.endpoints),
                       trace_ids=list(issue.trace_ids), status=issue.status, resolved_at_ns=issue.resolved_at_ns,
                       regressed_at_ns=issue.regressed_at_ns, regressions=issue.regressions)


def issue_detail(reader: TelemetryReader, issues: IssueRepository, fp: str, limit: int = 20) -> IssueDetail:
    """The issue and its ``limit`` most recent occurrences.

    Occurrences are searched among those of the issue's type in the 24 hours up to its ``last_seen``
    (at most :data:`MAX_OCCURRENCES` of them, newest first). Raises :class:`BadRequest` (``fingerprint``,
    ``limit``) or :class:`NotFound`.
    """
    check_fingerprint(fp)
    check_limit(limit, 100)
    issue = issues.get(fp)
    if issue is None:
        raise NotFound(f"no error issue {fp}")
    start = max(issue.first_seen_ns, issue.last_seen_ns - DETAIL_LOOKBACK_NS)
    found, _ = read_occurrences(reader, start, issue.last_seen_ns, limit=MAX_OCCURRENCES, types=[issue.type])
    mine = [f for f in found if f.occ.fingerprint == fp][:limit]
    return IssueDetail(issue=issue_record(issue), occurrences=[
        OccurrenceRecord(trace_id=f.occ.trace_id, span_id=f.span_id, time_ns=f.occ.time_ns, service=f.occ.service,
                         endpoint=f.occ.endpoint, message=f.occ.raw_message, source=f.source) for f in mine])


def set_status(issues: IssueRepository, fp: str, status: object, now_ns: int) -> tuple[Issue, Issue]:
    """Set the issue's status; (before, after). Raises :class:`BadRequest` (``fingerprint``, ``status``), NotFound."""
    check_fingerprint(fp)
    if not isinstance(status, str) or status not in STATUSES:
        raise BadRequest(f"must be one of {', '.join(STATUSES)}", "status")
    before = issues.get(fp)
    after = issues.set_status(fp, status, now_ns) if before is not None else None
    if before is None or after is None:
        raise NotFound(f"no error issue {fp}")
    return before, after
