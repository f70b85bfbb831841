"""The metadata contract: repositories for Vigil's own state (PostgreSQL in production).

:class:`MetadataStore` groups the repositories; the concrete store lives in ``storage/postgres/`` and
:class:`InMemoryMetadataStore` ships here for tests. Later features add repositories (error issues,
alert state) to both. Every method is blocking and thread-safe.
"""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any, Protocol

from contracts.access import AuditLog, InMemoryAudit, InMemoryTokens, TokenRepository
from contracts.alerting import AlertingRepository, InMemoryAlerting
from contracts.issues import InMemoryIssues, IssueRepository


class SettingsRepository(Protocol):
    """JSON-valued settings by key (e.g. UI preferences, feature state)."""

    def get(self, key: str) -> Any | None:
        """The stored value of ``key``, or None."""
        ...

    def put(self, key: str, value: Any) -> None:
        """Store ``value`` (anything ``json.dumps`` takes) under ``key``, replacing any earlier value."""
        ...


class MetadataStore(Protocol):
    """Vigil's own state. ``migrate`` runs once at start, before the repositories are used."""

    @property
    def settings(self) -> SettingsRepository:
        """The settings repository."""
        ...

    @property
    def issues(self) -> IssueRepository:
        """The error-issue repository (:mod:`contracts.issues`)."""
        ...

    @property
    def tokens(self) -> TokenRepository:
        """API tokens (see :mod:`contracts.access`)."""
        ...

    @property
    def audit(self) -> AuditLog:
        """The audit log of state changes."""
        ...

    @property
    def alerting(self) -> AlertingRepository:
        """Alerting's durable state (:mod:`contracts.alerting`)."""
        ...

    def migrate(self, version: str) -> list[int]:
        """Apply pending schema migrations (idempotent, safe from several processes); return those applied."""
        ...

    def instance_id(self) -> str:
        """This installation's id (created by the first ``migrate``)."""
        ...

    def ping(self) -> None:
        """Raise if the store cannot be reached."""
        ...


class InMemorySettings:
    """A :class:`SettingsRepository` in a dict (values round-trip through JSON, as in PostgreSQL)."""

    def __init__(self) -> None:
        """Start empty."""
        self._values: dict[str, str] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> Any | None:
        """The stored value or None."""
        with self._lock:
            raw = self._values.get(key)
        return None if raw is None else json.loads(raw)

    def put(self, key: str, value: Any) -> None:
        """Store a JSON copy of ``value``."""
        raw = json.dumps(value)
        with self._lock:
            self._values[key] = raw


class InMemoryMetadataStore:
    """A :class:`MetadataStore` that keeps everything in memory (for tests; nothing survives the process)."""

    def __init__(self) -> None:
        """Start empty and unmigrated."""
        self._settings = InMemorySettings()
        self._issues = InMemoryIssues()
        self._tokens = InMemoryTokens()
        self._audit = InMemoryAudit()
        self._alerting = InMemoryAlerting()
        self._id = ""
        self.down: Exception | None = None

    @property
    def settings(self) -> InMemorySettings:
        """The settings repository."""
        return self._settings

    @property
    def issues(self) -> InMemoryIssues:
        """The error-issue repository."""
        return self._issues

    @property
    def tokens(self) -> InMemoryTokens:
        """API tokens."""
        return self._tokens

    @property
    def audit(self) -> InMemoryAudit:
        """The audit log."""
        return self._audit

    @property
    def alerting(self) -> InMemoryAlerting:
        """Alerting's durable state."""
        return self._alerting

    def migrate(self, version: str) -> list[int]:
        """Create the instance id the first time."""
        if self._id:
            return []
        self._id = str(uuid.uuid4())
        return [1]

    def instance_id(self) -> str:
        """The id ``migrate`` created ('' before)."""
        return self._id

    def ping(self) -> None:
        """Raise ``down`` when a test set it."""
        if self.down is not None:
            raise self.down
