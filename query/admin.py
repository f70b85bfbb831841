"""Admin reads: ``GET /api/audit`` — the audit trail of state changes (admin role when auth is on).

Filters: ``actor``, ``action`` (exact), ``start``/``end`` (RFC 3339 or unix seconds) and ``limit``
(1–1000, default 100); newest first. The role check is the app-wide guard's (``/api/audit`` is an
admin prefix, see :mod:`query.auth`); without a metadata store the answer is 503.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Response, get
from litestar.exceptions import HTTPException
from litestar.params import Dependency, Parameter

from contracts.metadata import MetadataStore
from query.errors import BadRequest
from query.freshness import HEADER, header_value
from query.models import ReadMeta
from query.openapi import FRESHNESS_HEADER, RESPONSES
from query.timerange import NS, parse_instant

MAX_LIMIT = 1000
COMPLETE = ReadMeta(data_complete=True, ingest_backlog_records=0, ingest_lag_seconds=0.0)


class AuditRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One state change: who did what to which object, when."""

    id: int
    at: str
    actor: str
    action: str
    target: str
    details: dict[str, Any]


class AuditList(msgspec.Struct, frozen=True, kw_only=True):
    """Audit entries, newest first. ``meta`` is always complete: entries are written synchronously."""

    entries: list[AuditRecord]
    meta: ReadMeta = COMPLETE


def _instant(text: str | None, name: str) -> datetime | None:
    return None if text is None else datetime.fromtimestamp(parse_instant(text, name) / NS, tz=UTC)


class AuditController(Controller):
    """The audit trail."""

    path = "/api/audit"
    tags = ["admin"]
    response_headers = [FRESHNESS_HEADER]

    @get("/", sync_to_thread=True, summary="Audit trail (admin)", responses=RESPONSES)
    def entries(
        self,
        metadata: Annotated[MetadataStore | None, Dependency(skip_validation=True)],
        actor: str | None = None,
        action: str | None = None,
        start: Annotated[str | None, Parameter(description="RFC 3339 or unix seconds")] = None,
        end: Annotated[str | None, Parameter(description="RFC 3339 or unix seconds")] = None,
        limit: int = 100,
    ) -> Response[AuditList]:
        """State changes matching every filter, newest first."""
        if not 1 <= limit <= MAX_LIMIT:
            raise BadRequest(f"must be between 1 and {MAX_LIMIT}", "limit")
        since, until = _instant(start, "start"), _instant(end, "end")
        if since and until and since > until:
            raise BadRequest("must not be after end", "start")
        audit = getattr(metadata, "audit", None)
        if audit is None:
            raise HTTPException(status_code=503, detail="no metadata store")
        found = audit.query(actor=actor, action=action, start=since, end=until, limit=limit)
        body = AuditList(entries=[AuditRecord(id=e.id, at=e.at.isoformat(), actor=e.actor, action=e.action,
                                              target=e.target, details=dict(e.details)) for e in found])
        return Response(body, headers={HEADER: header_value(COMPLETE)})
