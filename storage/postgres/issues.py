""":class:`contracts.issues.IssueRepository` on PostgreSQL: the ``vigil_issues`` table (migration 2).

:meth:`PostgresIssues.record` runs one transaction: each occurrence's issue row is locked
(``SELECT … FOR UPDATE``), merged with :func:`contracts.issues.merge` — the same rule the in-memory
repository applies, so both count and regress identically — and written back. Concurrent recorders of
one fingerprint serialise on the row lock; a first insert racing another is resolved by
``ON CONFLICT DO NOTHING`` and a re-read. Times are stored as unix nanoseconds (``bigint``).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import astuple
from typing import Any

import psycopg

from contracts.issues import STATUSES, Change, Issue, Occurrence, merge, new_issue

MIGRATION_STATEMENTS = [
    """CREATE TABLE IF NOT EXISTS vigil_issues (
           fingerprint text PRIMARY KEY,
           type text NOT NULL,
           message text NOT NULL,
           sample_message text NOT NULL,
           frames text[] NOT NULL,
           first_seen_ns bigint NOT NULL,
           last_seen_ns bigint NOT NULL,
           count bigint NOT NULL,
           services text[] NOT NULL,
           endpoints text[] NOT NULL,
           trace_ids text[] NOT NULL,
           status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved', 'ignored')),
           resolved_at_ns bigint,
           regressed_at_ns bigint,
           regressions integer NOT NULL DEFAULT 0)""",
    "CREATE INDEX IF NOT EXISTS vigil_issues_last_seen ON vigil_issues (last_seen_ns DESC)",
]

_COLUMNS = ("fingerprint, type, message, sample_message, frames, first_seen_ns, last_seen_ns, count, services, "
            "endpoints, trace_ids, status, resolved_at_ns, regressed_at_ns, regressions")
_UPSERT = (f"INSERT INTO vigil_issues ({_COLUMNS}) VALUES ({', '.join(['%s'] * 15)}) "
           "ON CONFLICT (fingerprint) DO UPDATE SET first_seen_ns = EXCLUDED.first_seen_ns, "
           "last_seen_ns = EXCLUDED.last_seen_ns, count = EXCLUDED.count, services = EXCLUDED.services, "
           "endpoints = EXCLUDED.endpoints, trace_ids = EXCLUDED.trace_ids, status = EXCLUDED.status, "
           "regressed_at_ns = EXCLUDED.regressed_at_ns, regressions = EXCLUDED.regressions")

Connect = Callable[[], AbstractContextManager[psycopg.Connection[Any]]]


def _issue(row: tuple[Any, ...]) -> Issue:
    (fp, typ, msg, sample, frames, first, last, count, services, endpoints, traces, status, resolved,
     regressed, regressions) = row
    return Issue(fp, typ, msg, sample, tuple(frames), first, last, count, tuple(services), tuple(endpoints),
                 tuple(traces), status, resolved, regressed, regressions)


def _row(issue: Issue) -> tuple[Any, ...]:
    return tuple(list(v) if isinstance(v, tuple) else v for v in astuple(issue))


class PostgresIssues:
    """The issue repository over connections from ``connect`` (the metadata store's)."""

    def __init__(self, connect: Connect) -> None:
        """Use ``connect()`` (an autocommit connection context) per call."""
        self._connect = connect

    def record(self, occurrences: list[Occurrence]) -> list[Change]:
        """Add occurrences in time order in one transaction; report creations and reopenings."""
        changes = []
        with self._connect() as conn, conn.transaction():
            for occ in sorted(occurrences, key=lambda o: o.time_ns):
                row = conn.execute(f"SELECT {_COLUMNS} FROM vigil_issues WHERE fingerprint = %s FOR UPDATE",
                                   (occ.fingerprint,)).fetchone()
                if row is None:
                    issue = new_issue(occ)
                    inserted = conn.execute(_UPSERT.split(" ON CONFLICT")[0] + " ON CONFLICT DO NOTHING",
                                            _row(issue)).rowcount
                    if inserted:
                        changes.append(Change("new", issue))
                        continue
                    row = conn.execute(f"SELECT {_COLUMNS} FROM vigil_issues WHERE fingerprint = %s FOR UPDATE",
                                       (occ.fingerprint,)).fetchone()
                    assert row is not None
                issue, regressed = merge(_issue(row), occ)
                conn.execute(_UPSERT, _row(issue))
                if regressed:
                    changes.append(Change("regressed", issue))
        return changes

    def get(self, fingerprint: str) -> Issue | None:
        """The issue or None."""
        with self._connect() as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM vigil_issues WHERE fingerprint = %s",
                               (fingerprint,)).fetchone()
        return None if row is None else _issue(row)

    def all(self) -> list[Issue]:
        """Every issue, most recently seen first."""
        with self._connect() as conn:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM vigil_issues ORDER BY last_seen_ns DESC").fetchall()
        return [_issue(r) for r in rows]

    def set_status(self, fingerprint: str, status: str, now_ns: int) -> Issue | None:
        """Set the status (``resolved`` records ``resolved_at``, others clear it); None when unknown."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}")
        with self._connect() as conn:
            row = conn.execute(
                f"UPDATE vigil_issues SET status = %s, resolved_at_ns = %s WHERE fingerprint = %s "
                f"RETURNING {_COLUMNS}", (status, now_ns if status == "resolved" else None, fingerprint),
            ).fetchone()
        return None if row is None else _issue(row)
