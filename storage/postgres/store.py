"""Vigil's own state in PostgreSQL: versioned migrations and instance metadata.

``MetadataStore`` opens one psycopg connection per call (autocommit; cheap on a Unix socket,
pooled by PostgreSQL itself). Migrations run in a transaction each and are recorded in
``vigil_schema_migrations``; re-running is a no-op. Thread-safe: no shared connection.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

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
]


class MetadataStore:
    def __init__(self, url: str) -> None:
        self.url = url

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
            yield conn

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
                for number, name, stmts in MIGRATIONS:
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
        with self.connection() as conn:
            row = conn.execute("SELECT id FROM vigil_instance LIMIT 1").fetchone()
        return str(row[0]) if row else ""

    def ping(self) -> None:
        with self.connection() as conn:
            conn.execute("SELECT 1")
