"""The access-control contract: API tokens with roles, and the audit log of state changes.

Roles are ordered ``viewer < editor < admin`` (:meth:`Role.allows`). A token is
``vgl_`` + ``secrets.token_urlsafe(32)`` (256 random bits); only its SHA-256 is stored
(:func:`hash_token`). A slow password hash (bcrypt, argon2) protects *low-entropy* secrets against
guessing after a database leak; a 256-bit random token cannot be guessed whatever the hash, and a
fast hash keeps per-request authentication cheap. Tokens are found by their hash and the stored hash
is then compared with :func:`hmac.compare_digest`.

:class:`TokenRepository` and :class:`AuditLog` are implemented in memory here (tests) and in
PostgreSQL by ``storage/postgres/access.py``. Every method is blocking and thread-safe.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

TOKEN_PREFIX = "vgl_"
LAST_USED_EVERY = timedelta(seconds=60)  # last_used_at is written at most this often per token
MAX_AUDIT_LIMIT = 1000


class Role(StrEnum):
    """What a token may do: viewer reads, editor also changes state, admin also manages access."""

    VIEWER = "viewer"
    EDITOR = "editor"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        """0 for viewer, 1 for editor, 2 for admin."""
        return list(Role).index(self)

    def allows(self, needed: Role) -> bool:
        """Whether this role includes ``needed``."""
        return self.rank >= needed.rank


def new_token() -> str:
    """A fresh random token: ``vgl_`` + 43 URL-safe characters."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The stored form of ``token``: its SHA-256, hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def same_hash(a: str, b: str) -> bool:
    """Constant-time comparison of two hex digests."""
    return hmac.compare_digest(a.encode(), b.encode())


@dataclass(frozen=True)
class ApiToken:
    """A token's record (never the token itself); ``hint`` is its first 8 characters, for recognising it."""

    id: str
    name: str
    role: Role
    hint: str
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        """Not revoked."""
        return self.revoked_at is None


@dataclass(frozen=True)
class IssuedToken:
    """A newly created token: the secret (shown once, stored nowhere) and its record."""

    token: str
    record: ApiToken


@dataclass(frozen=True)
class AuditEntry:
    """One recorded state change: ``actor`` did ``action`` to ``target`` at ``at``."""

    id: int
    at: datetime
    actor: str
    action: str
    target: str
    details: dict[str, Any] = field(default_factory=dict)


class TokenExists(ValueError):
    """An active token already has this name."""


class TokenRepository(Protocol):
    """API tokens. Names are unique among active tokens; revoked ones stay listed."""

    def create(self, name: str, role: Role) -> IssuedToken:
        """Issue a token; raises :class:`TokenExists` when an active token has ``name``."""
        ...

    def authenticate(self, token: str) -> ApiToken | None:
        """The active token's record, or None (unknown or revoked); touches ``last_used_at`` (throttled)."""
        ...

    def list(self) -> list[ApiToken]:
        """Every token, oldest first."""
        ...

    def revoke(self, ref: str) -> ApiToken | None:
        """Revoke the active token whose id or name is ``ref``; None when there is none."""
        ...

    def has_admin(self) -> bool:
        """Whether an active admin token exists."""
        ...


class AuditLog(Protocol):
    """Append-only record of state changes."""

    def record(self, actor: str, action: str, target: str, details: dict[str, Any] | None = None) -> AuditEntry:
        """Append one entry (``details`` must be JSON-serialisable) and return it."""
        ...

    def query(self, actor: str | None = None, action: str | None = None, start: datetime | None = None,
              end: datetime | None = None, limit: int = 100) -> list[AuditEntry]:
        """Entries matching every given filter (``start <= at <= end``), newest first, at most ``limit``."""
        ...


def _now() -> datetime:
    return datetime.now(UTC)


class InMemoryTokens:
    """A :class:`TokenRepository` in a dict (for tests)."""

    def __init__(self) -> None:
        """Start with no tokens."""
        self._by_id: dict[str, ApiToken] = {}
        self._hashes: dict[str, str] = {}  # hash -> id
        self._lock = threading.Lock()

    def create(self, name: str, role: Role) -> IssuedToken:
        """Issue a token (see :class:`TokenRepository`)."""
        token = new_token()
        with self._lock:
            if any(t.name == name and t.active for t in self._by_id.values()):
                raise TokenExists(f"an active token is named {name!r}")
            record = ApiToken(str(uuid.uuid4()), name, Role(role), token[:8], _now())
            self._by_id[record.id] = record
            self._hashes[hash_token(token)] = record.id
        return IssuedToken(token, record)

    def authenticate(self, token: str) -> ApiToken | None:
        """The active record for ``token`` or None."""
        digest = hash_token(token)
        with self._lock:
            found = next((i for h, i in self._hashes.items() if same_hash(h, digest)), None)
            record = self._by_id.get(found) if found else None
            if record is None or not record.active:
                return None
            now = _now()
            if record.last_used_at is None or now - record.last_used_at >= LAST_USED_EVERY:
                record = self._by_id[record.id] = replace(record, last_used_at=now)
            return record

    def list(self) -> list[ApiToken]:
        """Every token, oldest first."""
        with self._lock:
            return sorted(self._by_id.values(), key=lambda t: t.created_at)

    def revoke(self, ref: str) -> ApiToken | None:
        """Revoke by id or name."""
        with self._lock:
            record = next((t for t in self._by_id.values() if t.active and ref in (t.id, t.name)), None)
            if record is None:
                return None
            record = self._by_id[record.id] = replace(record, revoked_at=_now())
            return record

    def has_admin(self) -> bool:
        """Whether an active admin token exists."""
        with self._lock:
            return any(t.active and t.role is Role.ADMIN for t in self._by_id.values())


class InMemoryAudit:
    """An :class:`AuditLog` in a list (for tests)."""

    def __init__(self) -> None:
        """Start empty."""
        self._entries: list[AuditEntry] = []
        self._lock = threading.Lock()

    def record(self, actor: str, action: str, target: str, details: dict[str, Any] | None = None) -> AuditEntry:
        """Append one entry."""
        with self._lock:
            entry = AuditEntry(len(self._entries) + 1, _now(), actor, action, target, dict(details or {}))
            self._entries.append(entry)
        return entry

    def query(self, actor: str | None = None, action: str | None = None, start: datetime | None = None,
              end: datetime | None = None, limit: int = 100) -> list[AuditEntry]:
        """Matching entries, newest first."""
        with self._lock:
            entries = list(self._entries)
        found = [e for e in reversed(entries)
                 if (actor is None or e.actor == actor) and (action is None or e.action == action)
                 and (start is None or e.at >= start) and (end is None or e.at <= end)]
        return found[:limit]
