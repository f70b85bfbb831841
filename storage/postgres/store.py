"""Vigil's own state in PostgreSQL: versioned migrations, instance metadata and the repositories.

``PostgresMetadataStore`` implements :class:`contracts.metadata.MetadataStore`. It opens one
psycopg connection per call (autocommit, 5 s connect timeout; cheap on a Unix socket). Migrations
run in a transaction each and are recorded in ``vigil_schema_migrations``; re-running is a no-op.
Thread-safe: no connection is shared. Calls raise ``psycopg.Error`` (``OperationalError`` when the
server is unreachable).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from storage.postgres.access import MIGRATION_STATEMENTS as ACCESS_TABLES
from storage.postgres.access import PostgresAudit, PostgresTokens
from storage.postgres.alerting import MIGRATION_STATEMENTS as ALERTING_TABLES
from storage.postgres.alerting import PostgresAlerting
from storage.postgres.issues import MIGRATION_STATEMENTS as ISSUE_TABLES
from storage.postgres.issues import PostgresIssues

log = logging.getLogger(__name__)

MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (
        1,
        "instance metadata and columnar store registry",
        [
            """CREATE TABLE IF NOT EXISTS vigil_instance (
                   id uuid PRIMARY KEY,
                   created_at timestamptz NOT NULL DEFAULT now(),
                   version text NOT NULL)""",
            """CREATE TABLE IF NOT EXISTS vigil_settings (
                   key text PRIMARY KEY,
                   value jsonb NOT NULL,
                   updated_at timestamptz NOT NULL DEFAULT now())""",
        ],
    ),
    (2, "error issues by fingerprint", ISSUE_TABLES),
    (3, "API tokens and the audit log", ACCESS_TABLES),
    (4, "alerting: rule-group state, history, silences, acks, notification and delivery logs", ALERTING_TABLES),
]


class PostgresSettings:
    """:class:`contracts.metadata.SettingsRepository` on the ``vigil_settings`` table."""

    def __init__(self, store: PostgresMetadataStore) -> None:
        """Use ``store``'s connections."""
        self._store = store

    def get(self, key: str) -> Any | None:
        """The stored JSON value of ``key`` or None."""
        with self._store.connection() as conn:
            row = conn.execute("SELECT value FROM vigil_settings WHERE key = %s", (key,)).fetchone()
        return None if row is None else row[0]

    def put(self, key: str, value: Any) -> None:
        """Insert or replace ``key``."""
        with self._store.connection() as conn:
            conn.execute(
                "INSERT INTO vigil_settings (key, value) VALUES (%s, %s) "
                "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()",
                (key, Jsonb(value)),
            )


class PostgresMetadataStore:
    """Implements :class:`contracts.metadata.MetadataStore` on a PostgreSQL server at ``url``."""

    def __init__(self, url: str) -> None:
        """Remember the URL; connections are opened per call."""
        self.url = url
        self._settings = PostgresSettings(self)
        self._issues = PostgresIssues(self.connection)
        self._tokens = PostgresTokens(self)
        self._audit = PostgresAudit(self)
        self._alerting = PostgresAlerting(self.pooled_connection)
        self._pool: ConnectionPool[psycopg.Connection[Any]] | None = None
        self._pool_lock = threading.Lock()

    @property
    def settings(self) -> PostgresSettings:
        """The settings repository."""
        return self._settings

    @property
    def issues(self) -> PostgresIssues:
        """The error-issue repository."""
        return self._issues

    @property
    def tokens(self) -> PostgresTokens:
        """API tokens."""
        return self._tokens

    @property
    def audit(self) -> PostgresAudit:
        """The audit log."""
        return self._audit

    @property
    def alerting(self) -> PostgresAlerting:
        """Alerting's durable state."""
        return self._alerting

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        """An autocommit connection, closed on exit."""
        with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
            yield conn

    @contextmanager
    def pooled_connection(self) -> Iterator[psycopg.Connection[Any]]:
        """An autocommit connection from a small pool, for the hot paths (alerting's repository).

        The pool opens on first use and closes idle connections after a minute; the alert dispatcher makes
        several calls per notification and a fresh connection costs ~4 ms. Callers must not leave session
        state (advisory locks, SET) behind.
        """
        with self._pool_lock:
            if self._pool is None:
                self._pool = ConnectionPool(self.url, min_size=0, max_size=4, max_idle=60, open=True,
                                            kwargs={"autocommit": True, "connect_timeout": 5})
        with self._pool.connection() as conn:
            yield conn

    def close(self) -> None:
        """Close the pool (when one was opened); the store still works afterwards with a new pool."""
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()

    def migrate(self, version: str) -> list[int]:
        """Apply pending migrations (serialised by an advisory lock); return versions applied now."""
        applied = []
        with self.connection() as conn:
            conn.execute("SELECT pg_advisory_lock(7341)")
            try:
                conn.execute(
                    """CREATE TABLE IF NOT EXISTS vigil_schema_migrations (
                           version integer PRIMARY KEY, name text NOT NULL,
                           applied_at timestamptz NOT NULL DEFAULT now())"""
                )
                done = {r[0] for r in conn.execute("SELECT version FROM vigil_schema_migrations")}
                for number, name, stmts in sorted(MIGRATIONS, key=lambda m: m[0]):  # by number
                    if number in done:
                        continue
                    log.info("metadata migration %s: %s", number, name)
                    with conn.transaction():
                        for stmt in stmts:
                            conn.execute(stmt)
                        conn.execute(
                            "INSERT INTO vigil_schema_migrations (version, name) VALUES (%s, %s)", (number, name)
                        )
                    applied.append(number)
                conn.execute(
                    "INSERT INTO vigil_instance (id, version) SELECT %s, %s "
                    "WHERE NOT EXISTS (SELECT 1 FROM vigil_instance)",
                    (uuid.uuid4(), version),
                )
            finally:
                conn.execute("SELECT pg_advisory_unlock(7341)")
        return applied

    def instance_id(self) -> str:
        """The instance's UUID as text, recorded by the first :meth:`migrate`; '' before that.

        Raises:
            psycopg.Error: The server is unreachable or ``vigil_instance`` does not exist yet.
        """
        with self.connection() as conn:
            row = conn.execute("SELECT id FROM vigil_instance LIMIT 1").fetchone()
        return str(row[0]) if row else ""

    def ping(self) -> None:
        """Check that the server answers a query (a fresh connection, 5 s connect timeout).

        Raises:
            psycopg.Error: The server is unreachable or refused the connection.
        """
        with self.connection() as conn:
            conn.execute("SELECT 1")
