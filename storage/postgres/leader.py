"""One active alert evaluator among processes sharing a PostgreSQL: a session advisory lock.

:class:`AdvisoryLease` keeps one dedicated connection. :meth:`AdvisoryLease.try_acquire` takes the
session-level advisory lock ``key`` without waiting (``pg_try_advisory_lock``) and :meth:`held`
checks that the connection (and so the lock) is still alive. The lock is released when the holder
calls :meth:`release`, closes, or dies: PostgreSQL drops a session's advisory locks when the session
ends, so a killed evaluator's lock frees as soon as the server notices the dead connection (at once
for a process killed on the same host — the kernel closes the socket; after the TCP keepalive
settings below for a host that vanished). Standbys call :meth:`try_acquire` every interval, so the
hand-over takes at most one interval after the lock is freed. Not thread-safe: one owner thread.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

log = logging.getLogger(__name__)

EVALUATOR_LOCK = 734_112  # the alert evaluator's advisory lock key


class AdvisoryLease:
    """The advisory lock ``key`` on a dedicated connection to ``url``."""

    def __init__(self, url: str, key: int = EVALUATOR_LOCK) -> None:
        """Not connected until :meth:`try_acquire`."""
        self.url, self.key = url, key
        self._conn: psycopg.Connection[Any] | None = None

    def try_acquire(self) -> bool:
        """Hold the lock now (True) or not (False: another session holds it, or the server is down)."""
        if self.held():
            return True
        self._close()
        try:
            info = make_conninfo(self.url, connect_timeout=5, keepalives=1, keepalives_idle=10,
                                 keepalives_interval=5, keepalives_count=3)
            self._conn = psycopg.connect(info, autocommit=True)
            row = self._conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
        except psycopg.Error as exc:
            log.warning("advisory lock %s: %s", self.key, type(exc).__name__)
            self._close()
            return False
        if row is None or not row[0]:
            self._close()
            return False
        return True

    def held(self) -> bool:
        """Whether this lease still holds the lock (its session answers)."""
        if self._conn is None or self._conn.closed:
            return False
        try:
            row = self._conn.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() "
                "AND objid = %s AND granted", (self.key,)).fetchone()
        except psycopg.Error:
            self._close()
            return False
        return bool(row and row[0])

    def release(self) -> None:
        """Give the lock up (closing the session)."""
        self._close()

    def _close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None
