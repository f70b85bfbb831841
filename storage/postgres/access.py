"""API tokens and the audit log in PostgreSQL (tables of metadata migration 3).

:class:`PostgresTokens` implements :class:`contracts.access.TokenRepository` on ``vigil_api_tokens``
(only the SHA-256 of a token is stored; a partial unique index keeps active names unique);
:class:`PostgresAudit` implements :class:`contracts.access.AuditLog` on ``vigil_audit``. Both use the
store's per-call connections, so they are thread-safe; calls raise ``psycopg.Error``.
"""

from __future__ import annotations

import uuid
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol

import psycopg
from psycopg.types.json import Jsonb

from contracts.access import (
    LAST_USED_EVERY,
    ApiToken,
    AuditEntry,
    IssuedToken,
    Role,
    TokenExists,
    hash_token,
    new_token,
    same_hash,
)

MIGRATION_STATEMENTS = [
    """CREATE TABLE IF NOT EXISTS vigil_api_tokens (
           id uuid PRIMARY KEY,
           name text NOT NULL,
           role text NOT NULL CHECK (role IN ('viewer', 'editor', 'admin')),
           token_hash text NOT NULL UNIQUE,
           hint text NOT NULL,
           created_at timestamptz NOT NULL DEFAULT now(),
           last_used_at timestamptz,
           revoked_at timestamptz)""",
    """CREATE UNIQUE INDEX IF NOT EXISTS vigil_api_tokens_active_name
           ON vigil_api_tokens (name) WHERE revoked_at IS NULL""",
    """CREATE TABLE IF NOT EXISTS vigil_audit (
           id bigserial PRIMARY KEY,
           at timestamptz NOT NULL DEFAULT now(),
           actor text NOT NULL,
           action text NOT NULL,
           target text NOT NULL,
           details jsonb NOT NULL DEFAULT '{}'::jsonb)""",
    "CREATE INDEX IF NOT EXISTS vigil_audit_at ON vigil_audit (at DESC)",
]

_COLUMNS = "id, name, role, hint, created_at, last_used_at, revoked_at"


class Connections(Protocol):
    """Where the repositories get connections (the :class:`~storage.postgres.store.PostgresMetadataStore`)."""

    def connection(self) -> AbstractContextManager[psycopg.Connection[Any]]:
        """An autocommit connection, closed on exit."""
        ...


def _token(row: tuple[Any, ...]) -> ApiToken:
    return ApiToken(str(row[0]), row[1], Role(row[2]), row[3], row[4], row[5], row[6])


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


class PostgresTokens:
    """:class:`contracts.access.TokenRepository` on ``vigil_api_tokens``."""

    def __init__(self, store: Connections) -> None:
        """Use ``store``'s connections."""
        self._store = store

    def create(self, name: str, role: Role) -> IssuedToken:
        """Insert a new token's hash; raises :class:`TokenExists` for an active duplicate name."""
        token = new_token()
        try:
            with self._store.connection() as conn:
                row = conn.execute(
                    f"INSERT INTO vigil_api_tokens (id, name, role, token_hash, hint) VALUES (%s, %s, %s, %s, %s) "
                    f"RETURNING {_COLUMNS}",
                    (uuid.uuid4(), name, Role(role).value, hash_token(token), token[:8]),
                ).fetchone()
        except psycopg.errors.UniqueViolation as exc:
            raise TokenExists(f"an active token is named {name!r}") from exc
        assert row is not None
        return IssuedToken(token, _token(row))

    def authenticate(self, token: str) -> ApiToken | None:
        """The active record for ``token`` (looked up by hash, compared in constant time) or None."""
        digest = hash_token(token)
        with self._store.connection() as conn:
            row = conn.execute(f"SELECT {_COLUMNS}, token_hash FROM vigil_api_tokens WHERE token_hash = %s",
                               (digest,)).fetchone()
            if row is None or not same_hash(row[7], digest) or row[6] is not None:
                return None
            record = _token(row[:7])
            touched = conn.execute(
                "UPDATE vigil_api_tokens SET last_used_at = now() WHERE id = %s AND revoked_at IS NULL "
                "AND (last_used_at IS NULL OR last_used_at < now() - %s) RETURNING last_used_at",
                (row[0], LAST_USED_EVERY),
            ).fetchone()
        if touched is not None:
            record = ApiToken(record.id, record.name, record.role, record.hint, record.created_at, touched[0])
        return record

    def list(self) -> list[ApiToken]:
        """Every token, oldest first."""
        with self._store.connection() as conn:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM vigil_api_tokens ORDER BY created_at, id").fetchall()
        return [_token(r) for r in rows]

    def revoke(self, ref: str) -> ApiToken | None:
        """Revoke the active token with id or name ``ref``."""
        with self._store.connection() as conn:
            row = conn.execute(
                f"UPDATE vigil_api_tokens SET revoked_at = now() WHERE revoked_at IS NULL "
                f"AND (name = %s OR (%s AND id::text = %s)) RETURNING {_COLUMNS}",
                (ref, _is_uuid(ref), ref.lower()),
            ).fetchone()
        return None if row is None else _token(row)

    def has_admin(self) -> bool:
        """Whether an active admin token exists."""
        with self._store.connection() as conn:
            row = conn.execute("SELECT EXISTS (SELECT 1 FROM vigil_api_tokens "
                               "WHERE role = 'admin' AND revoked_at IS NULL)").fetchone()
        return bool(row and row[0])


class PostgresAudit:
    """:class:`contracts.access.AuditLog` on ``vigil_audit``."""

    def __init__(self, store: Connections) -> None:
        """Use ``store``'s connections."""
        self._store = store

    def record(self, actor: str, action: str, target: str, details: dict[str, Any] | None = None) -> AuditEntry:
        """Append one entry."""
        with self._store.connection() as conn:
            row = conn.execute(
                "INSERT INTO vigil_audit (actor, action, target, details) VALUES (%s, %s, %s, %s) "
                "RETURNING id, at, actor, action, target, details",
                (actor, action, target, Jsonb(details or {})),
            ).fetchone()
        assert row is not None
        return AuditEntry(*row)

    def query(self, actor: str | None = None, action: str | None = None, start: datetime | None = None,
              end: datetime | None = None, limit: int = 100) -> list[AuditEntry]:
        """Matching entries, newest first (every filter a bound parameter; None matches all)."""
        with self._store.connection() as conn:
            rows = conn.execute(
                "SELECT id, at, actor, action, target, details FROM vigil_audit "
                "WHERE (%(actor)s::text IS NULL OR actor = %(actor)s) "
                "AND (%(action)s::text IS NULL OR action = %(action)s) "
                "AND (%(start)s::timestamptz IS NULL OR at >= %(start)s) "
                "AND (%(end)s::timestamptz IS NULL OR at <= %(end)s) "
                "ORDER BY at DESC, id DESC LIMIT %(limit)s",
                {"actor": actor, "action": action, "start": start, "end": end, "limit": limit},
            ).fetchall()
        return [AuditEntry(*r) for r in rows]

