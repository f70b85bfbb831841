"""Error analytics over the raw columnar store: totals, trends, critical issues, one issue and its status.

Occurrences (exception span events and ERROR logs) are counted per fingerprint from the per-minute
error rollup, or from raw spans and logs for short windows (:mod:`query.apm.errors_rollup`): counts are
exact and nothing is truncated. Failed requests come from the RED rollup by the counting rule
(:data:`query.apm.semconv.IS_REQUEST` and ``IS_ERROR``).
Issue status, first-seen and regression times come from the issue repository (the
tracker's); without one (``issues`` None) status is ``unknown`` and nothing is new or regressed.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from contracts.issues import STATUSES, Issue, IssueRepository
from contracts.reader import TelemetryReader
from contracts.rollups import Red
from query.apm import rollup
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
from query.apm.errors_rollup import Tally, tallies
from query.apm.errors_scan import read_occurrences
from query.apm.window import ApmWindow
from query.errors import BadRequest, NotFound

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


def _bucket(t_s: int, step_s: int) -> int:
    return t_s // step_s * step_s


def _requests(reader: TelemetryReader, window: ApmWindow, service: str | None,
              environment: str | None) -> dict[int, tuple[int, int]]:
    """Per bucket start: (requests, failed requests), from the RED rollup (see :mod:`query.apm.rollup`)."""
    params: dict[str, object] = dict(window.params)
    src = rollup.red_source(window, params, service, environment)
    rows = reader.rows(f"SELECT {rollup.bucket_time()} AS b, sum({Red.REQUESTS}) AS n, "
                       f"sumIf({Red.REQUESTS}, {Red.FAILED} = 1) AS failed FROM {src} GROUP BY b", params)
    return {int(r["b"]): (int(r["n"]), int(r["failed"])) for r in rows}


def _counts(pairs: Iterable[tuple[str, int]]) -> list[Count]:
    c: Counter[str] = Counter()
    for name, n in pairs:
        c[name] += n
    return [Count(name=k, count=n) for k, n in sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))]


def _status(issues: IssueRepository | None, fp: str) -> tuple[str, Issue | None]:
    issue = issues.get(fp) if issues is not None else None
    return (issue.status if issue else "unknown"), issue


def _total(group: list[Tally]) -> int:
    return sum(t.count for t in group)


def _by_fingerprint(found: list[Tally]) -> dict[str, list[Tally]]:
    """Tallies per fingerprint (each group newest first), the most frequent fingerprint first."""
    groups: dict[str, list[Tally]] = {}
    for f in found:
        groups.setdefault(f.fingerprint, []).append(f)
    return dict(sorted(groups.items(), key=lambda kv: (-_total(kv[1]), kv[0])))


def _previous(reader: TelemetryReader, window: ApmWindow, service: str | None,
              environment: str | None) -> Counter[str]:
    """Occurrences per fingerprint in the window before ``window``."""
    counts: Counter[str] = Counter()
    for t in tallies(reader, window.previous(), service, environment):
        counts[t.fingerprint] += t.count
    return counts


def error_metrics(reader: TelemetryReader, window: ApmWindow, issues: IssueRepository | None, *, limit: int = 20,
                  service: str | None = None, environment: str | None = None,
                  found: list[Tally] | None = None,
                  requests: dict[int, tuple[int, int]] | None = None) -> ErrorMetrics:
    """Totals, per-bucket series, the ``limit`` most frequent issues, by service and by type.

    ``found`` (the window's tallies) and ``requests`` (per bucket start: requests and failed requests)
    when the caller has them already; else they are read.
    """
    check_limit(limit, 100)
    found = tallies(reader, window, service, environment) if found is None else found
    requests = _requests(reader, window, service, environment) if requests is None else requests
    per_bucket: Counter[int] = Counter()
    for f in found:
        per_bucket[_bucket(f.t, window.step_s)] += f.count
    series = [ErrorBucket(start=b, occurrences=per_bucket.get(b, 0), failed_requests=requests.get(b, (0, 0))[1])
              for b in window.bucket_starts_s()]
    top = []
    for fp, group in list(_by_fingerprint(found).items())[:limit]:
        status, issue = _status(issues, fp)
        first = group[0]  # newest
        top.append(IssueCount(fingerprint=fp, type=first.type, message=first.message, count=_total(group),
                              services=sorted({g.service for g in group} - {""}),
                              endpoints=sorted({g.endpoint for g in group} - {""}),
                              last_seen_ns=max(g.last_seen_ns for g in group), status=status,
                              first_seen_ns=issue.first_seen_ns if issue else 0))
    total = sum(n for n, _ in requests.values())
    failed = sum(f for _, f in requests.values())
    return ErrorMetrics(occurrences=_total(found), requests=total, failed_requests=failed,
                        error_rate=failed / total if total else 0.0, step_s=window.step_s, series=series,
                        top_issues=top, by_service=_counts((f.service, f.count) for f in found),
                        by_type=_counts((f.type, f.count) for f in found))


def _trend(fp: str, typ: str, message: str, found: list[Tally], previous: int, buckets: list[int],
           step_s: int) -> TrendSeries:
    per_bucket: Counter[int] = Counter()
    for f in found:
        per_bucket[_bucket(f.t, step_s)] += f.count
    total = _total(found)
    return TrendSeries(fingerprint=fp, type=typ, message=message, counts=[per_bucket.get(b, 0) for b in buckets],
                       total=total, previous_total=previous, change=total - previous,
                       change_percent=100.0 * (total - previous) / previous if previous else None)


def error_trends(reader: TelemetryReader, window: ApmWindow, *, limit: int = 10, service: str | None = None,
                 environment: str | None = None) -> ErrorTrends:
    """Bucketed counts overall and for the ``limit`` most frequent issues, each vs the previous window."""
    check_limit(limit, 50)
    found = tallies(reader, window, service, environment)
    previous = _previous(reader, window, service, environment)
    buckets = window.bucket_starts_s()
    series = [_trend(fp, g[0].type, g[0].message, g, previous.get(fp, 0), buckets, window.step_s)
              for fp, g in list(_by_fingerprint(found).items())[:limit]]
    return ErrorTrends(step_s=window.step_s, bucket_starts=buckets,
                       overall=_trend("", "", "", found, sum(previous.values()), buckets, window.step_s),
                       issues=series)


def _reasons(group: list[Tally], previous: int, issue: Issue | None, window: ApmWindow,
             settings: ErrorSettings) -> list[str]:
    count, first = _total(group), group[0]
    reasons = []
    if issue is not None and window.start_ns <= issue.first_seen_ns <= window.end_ns:
        reasons.append("new")
    if count >= settings.spike_min_count and count >= settings.spike_factor * previous:
        reasons.append("spiking")
    if issue is not None and issue.regressed_at_ns is not None and \
            window.start_ns <= issue.regressed_at_ns <= window.end_ns:
        reasons.append("regressed")
    if first.type in settings.critical_types:
        reasons.append("rule:type")
    texts = [f.raw_message.lower() for f in group]
    if any(s.lower() in t for s in settings.critical_messages for t in texts):
        reasons.append("rule:message")
    if {f.service for f in group} & set(settings.critical_services):
        reasons.append("rule:service")
    return reasons


def critical_errors(reader: TelemetryReader, window: ApmWindow, issues: IssueRepository | None,
                    settings: ErrorSettings, *, service: str | None = None,
                    environment: str | None = None, found: list[Tally] | None = None) -> CriticalErrors:
    """Issues of the window that are new, spiking, regressed or match a rule (see ``ErrorSettings``).

    ``found``: the window's tallies when the caller has them already (else they are read).
    """
    found = tallies(reader, window, service, environment) if found is None else found
    previous = _previous(reader, window, service, environment)
    out = []
    for fp, group in _by_fingerprint(found).items():
        status, issue = _status(issues, fp)
        reasons = _reasons(group, previous.get(fp, 0), issue, window, settings)
        if reasons:
            out.append(CriticalIssue(fingerprint=fp, type=group[0].type, message=group[0].message,
                                     count=_total(group), previous_count=previous.get(fp, 0),
                                     services=sorted({g.service for g in group} - {""}), reasons=reasons,
                                     status=status))
    return CriticalErrors(spike_factor=settings.spike_factor, spike_min_count=settings.spike_min_count,
                          issues=out)


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
