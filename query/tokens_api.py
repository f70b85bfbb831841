"""``/api/tokens``: list, create and revoke API tokens over HTTP (admin role when auth is on).

The same operations as ``vigil token``; each change writes an audit entry (``token.create``,
``token.revoke``) naming the calling token. ``POST`` answers the secret once (201); only its hash is
stored. Errors: 400 naming ``name``/``role`` for a bad body, 409 when an active token already has the
name, 404 when nothing matches the revoked reference, 503 without a metadata store. The role check is
the app-wide guard's (``/api/tokens`` is an admin prefix, see :mod:`query.auth`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, delete, get, post
from litestar.exceptions import HTTPException
from litestar.params import Dependency

from contracts.access import ApiToken, Role, TokenExists, TokenRepository
from contracts.metadata import MetadataStore
from query.auth import Auditor
from query.errors import BadRequest, NotFound
from query.freshness import HEADER, header_value
from query.models import ReadMeta
from query.openapi import FRESHNESS_HEADER, RESPONSES, RESPONSES_404

MAX_NAME = 100
COMPLETE = ReadMeta(data_complete=True, ingest_backlog_records=0, ingest_lag_seconds=0.0)
Metadata = Annotated[MetadataStore | None, Dependency(skip_validation=True)]


class TokenRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A token's record (never the secret): ``hint`` is its first 8 characters."""

    id: str
    name: str
    role: str
    hint: str
    created_at: str
    last_used_at: str | None
    revoked_at: str | None
    active: bool


class TokenList(msgspec.Struct, frozen=True, kw_only=True):
    """Every token, active and revoked."""

    tokens: list[TokenRecord]
    meta: ReadMeta = COMPLETE


class NewToken(msgspec.Struct, frozen=True, kw_only=True):
    """The body of ``POST /api/tokens``."""

    name: str
    role: str


class CreatedToken(msgspec.Struct, frozen=True, kw_only=True):
    """A created token: ``token`` is the secret, shown this once."""

    token: str
    record: TokenRecord


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def record_of(t: ApiToken) -> TokenRecord:
    """The API form of a token record."""
    return TokenRecord(id=t.id, name=t.name, role=t.role.value, hint=t.hint, created_at=t.created_at.isoformat(),
                       last_used_at=_iso(t.last_used_at), revoked_at=_iso(t.revoked_at), active=t.active)


def _tokens(metadata: MetadataStore | None) -> TokenRepository:
    if metadata is None:
        raise HTTPException(status_code=503, detail="no metadata store")
    return metadata.tokens


def _role(value: Any) -> Role:
    if not isinstance(value, str) or value not in {r.value for r in Role}:
        raise BadRequest(f"must be one of {', '.join(r.value for r in Role)}", "role")
    return Role(value)


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_NAME or not value.isprintable():
        raise BadRequest(f"must be 1–{MAX_NAME} printable characters", "name")
    return value.strip()


class TokenController(Controller):
    """API tokens."""

    path = "/api/tokens"
    tags = ["admin"]
    response_headers = [FRESHNESS_HEADER]

    @get("/", sync_to_thread=True, summary="List API tokens (admin)", responses=RESPONSES)
    def list_tokens(self, metadata: Metadata) -> Response[TokenList]:
        """Every token's record, newest first."""
        found = sorted(_tokens(metadata).list(), key=lambda t: t.created_at, reverse=True)
        return Response(TokenList(tokens=[record_of(t) for t in found]), headers={HEADER: header_value(COMPLETE)})

    @post("/", sync_to_thread=True, summary="Create an API token (admin)", status_code=201,
          responses={**RESPONSES, 409: RESPONSES_404[404]})
    def create(self, request: Request[Any, Any, Any], metadata: Metadata, audit: Auditor,
               data: dict[str, Any]) -> CreatedToken:
        """Issue a token with ``name`` and ``role``; the answer holds the secret once."""
        name, role = _name(data.get("name")), _role(data.get("role"))
        try:
            issued = _tokens(metadata).create(name, role)
        except TokenExists as exc:
            raise HTTPException(status_code=409, detail=f"name: {exc}") from exc
        audit(request, "token.create", issued.record.id, {"name": name, "role": role.value})
        return CreatedToken(token=issued.token, record=record_of(issued.record))

    @delete("/{ref:str}", sync_to_thread=True, summary="Revoke an API token (admin)", status_code=200,
            responses=RESPONSES_404)
    def revoke(self, request: Request[Any, Any, Any], metadata: Metadata, audit: Auditor, ref: str) -> TokenRecord:
        """Revoke the active token named or identified by ``ref``; answers its record."""
        if len(ref) > MAX_NAME * 2:
            raise BadRequest("too long", "ref")
        revoked = _tokens(metadata).revoke(ref)
        if revoked is None:
            raise NotFound(f"no active token {ref[:80]!r}")
        audit(request, "token.revoke", revoked.id, {"name": revoked.name})
        return record_of(revoked)
