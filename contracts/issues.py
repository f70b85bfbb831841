"""The error-issue contract: issues grouped by fingerprint, their status and regression detection.

:class:`IssueRepository` is implemented on PostgreSQL (``storage/postgres/issues.py``, to come) and in
memory by :class:`InMemoryIssues`. Rules every implementation follows:

* :meth:`IssueRepository.record` adds occurrences: a new fingerprint creates an ``open`` issue; a known
  one gets ``count`` += 1, ``last_seen`` = max, the service/endpoint added, and the trace id kept
  among the :data:`SAMPLE_TRACES` most recent.
* An occurrence later than a ``resolved`` issue's ``resolved_at`` **reopens** it: status ``open``,
  ``regressed_at`` set, ``regressions`` += 1. ``ignored`` issues stay ignored (still counted).
* Dedupe of occurrences is the caller's job (the tracker); the repository counts what it is given.

Times are unix nanoseconds. Blocking and thread-safe.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from typing import Protocol

STATUSES = ("open", "resolved", "ignored")
SAMPLE_TRACES = 10


@dataclass(frozen=True)
class Occurrence:
    """One error event (a span's ``exception`` event or an error log) with its fingerprint."""

    fingerprint: str
    type: str
    message: str  # masked
    raw_message: str
    frames: tuple[str, ...]
    time_ns: int
    service: str
    endpoint: str = ""
    trace_id: str = ""


@dataclass(frozen=True)
class Issue:
    """One fingerprint's aggregate."""

    fingerprint: str
    type: str
    message: str
    sample_message: str
    frames: tuple[str, ...]
    first_seen_ns: int
    last_seen_ns: int
    count: int
    services: tuple[str, ...]
    endpoints: tuple[str, ...]
    trace_ids: tuple[str, ...]  # most recent first, at most SAMPLE_TRACES
    status: str = "open"
    resolved_at_ns: int | None = None
    regressed_at_ns: int | None = None
    regressions: int = 0


@dataclass(frozen=True)
class Change:
    """What :meth:`IssueRepository.record` did to an issue worth announcing: ``new`` or ``regressed``."""

    kind: str
    issue: Issue


class IssueRepository(Protocol):
    """Issues by fingerprint (see the module doc for the rules)."""

    def record(self, occurrences: list[Occurrence]) -> list[Change]:
        """Add ``occurrences`` (any order); return the issues created or reopened by them."""
        ...

    def get(self, fingerprint: str) -> Issue | None:
        """The issue or None."""
        ...

    def all(self) -> list[Issue]:
        """Every issue, most recently seen first."""
        ...

    def set_status(self, fingerprint: str, status: str, now_ns: int) -> Issue | None:
        """Set ``status`` (one of :data:`STATUSES`; ValueError otherwise); None for an unknown fingerprint."""
        ...


def merge(issue: Issue, occ: Occurrence) -> tuple[Issue, bool]:
    """``issue`` with ``occ`` added, and whether that reopened it."""
    traces = issue.trace_ids
    if occ.trace_id and occ.trace_id not in traces:
        traces = (occ.trace_id, *traces) if occ.time_ns >= issue.last_seen_ns else (*traces, occ.trace_id)
    updated = replace(
        issue, count=issue.count + 1, first_seen_ns=min(issue.first_seen_ns, occ.time_ns),
        last_seen_ns=max(issue.last_seen_ns, occ.time_ns), trace_ids=traces[:SAMPLE_TRACES],
        services=tuple(sorted({*issue.services, occ.service} - {""})),
        endpoints=tuple(sorted({*issue.endpoints, occ.endpoint} - {""})),
    )
    regressed = issue.status == "resolved" and occ.time_ns > (issue.resolved_at_ns or 0)
    if regressed:
        updated = replace(updated, status="open", regressed_at_ns=occ.time_ns, regressions=issue.regressions + 1)
    return updated, regressed


def new_issue(occ: Occurrence) -> Issue:
    """The issue a first occurrence creates."""
    return Issue(occ.fingerprint, occ.type, occ.message, occ.raw_message, occ.frames, occ.time_ns, occ.time_ns, 1,
                 tuple(s for s in (occ.service,) if s), tuple(e for e in (occ.endpoint,) if e),
                 tuple(t for t in (occ.trace_id,) if t))


@dataclass
class InMemoryIssues:
    """An :class:`IssueRepository` in a dict (tests; the rules are the PostgreSQL one's)."""

    _issues: dict[str, Issue] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, occurrences: list[Occurrence]) -> list[Change]:
        """Add occurrences in time order; report creations and reopenings."""
        changes = []
        with self._lock:
            for occ in sorted(occurrences, key=lambda o: o.time_ns):
                known = self._issues.get(occ.fingerprint)
                if known is None:
                    self._issues[occ.fingerprint] = issue = new_issue(occ)
                    changes.append(Change("new", issue))
                    continue
                issue, regressed = merge(known, occ)
                self._issues[occ.fingerprint] = issue
                if regressed:
                    changes.append(Change("regressed", issue))
        return changes

    def get(self, fingerprint: str) -> Issue | None:
        """The issue or None."""
        with self._lock:
            return self._issues.get(fingerprint)

    def all(self) -> list[Issue]:
        """Most recently seen first."""
        with self._lock:
            return sorted(self._issues.values(), key=lambda i: i.last_seen_ns, reverse=True)

    def set_status(self, fingerprint: str, status: str, now_ns: int) -> Issue | None:
        """Change the status; ``resolved`` records ``resolved_at`` (other statuses clear it)."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}")
        with self._lock:
            known = self._issues.get(fingerprint)
            if known is None:
                return None
            issue = replace(known, status=status, resolved_at_ns=now_ns if status == "resolved" else None)
            self._issues[fingerprint] = issue
            return issue
