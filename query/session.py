"""``/api/session``: the dashboard's sign-in with an API token, kept in an HttpOnly cookie.

* ``POST /api/session`` ``{"token": "vgl_…"}`` — checks the token (401 when unknown or revoked) and sets
  :data:`query.auth.SESSION_COOKIE` (HttpOnly, SameSite=Strict, Path=/, ``Secure`` over HTTPS, 7 days);
  answers who it is. The middleware then accepts the cookie like a bearer token (see :mod:`query.auth`:
  state changes and WebSockets only from the API's own origin). A cross-site sign-in is refused (403).
* ``GET /api/session`` — ``{"auth": "off"|"required", "signed_in", "name", "role"}``: with auth off
  everyone is the admin ``anonymous``; otherwise the cookie's (or bearer's) token, or ``signed_in``
  false. The dashboard shows role-aware controls from it.
* ``DELETE /api/session`` — clears the cookie (the token itself stays valid; revoke it to end it).

The path is on the middleware's allow-list because it authenticates by itself.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, delete, get, post
from litestar.datastructures import Cookie
from litestar.exceptions import HTTPException
from litestar.params import Dependency

from contracts.metadata import MetadataStore
from query.auth import SESSION_COOKIE, Rejection, check_token, presented_token, same_origin, session_token
from query.errors import BadRequest
from query.freshness import HEADER, header_value
from query.models import ReadMeta
from query.openapi import FRESHNESS_HEADER, RESPONSES

MAX_AGE_S = 7 * 86_400
COMPLETE = ReadMeta(data_complete=True, ingest_backlog_records=0, ingest_lag_seconds=0.0)


class SessionInfo(msgspec.Struct, frozen=True, kw_only=True):
    """Who the caller is: ``auth`` ``off`` (everyone is admin) or ``required``; name and role when signed in."""

    auth: str
    signed_in: bool
    name: str | None
    role: str | None
    meta: ReadMeta = COMPLETE


OFF = SessionInfo(auth="off", signed_in=True, name="anonymous", role="admin")
NOBODY = SessionInfo(auth="required", signed_in=False, name=None, role=None)
Metadata = Annotated[MetadataStore | None, Dependency(skip_validation=True)]


def _answer(status: int, body: dict[str, Any], cookies: list[Cookie] | None = None) -> Response[dict[str, Any]]:
    return Response(body, status_code=status, cookies=cookies or [])


def _refused(r: Rejection) -> Response[dict[str, Any]]:
    return _answer(r.status, {"error": r.message, "detail": r.detail})


class SessionController(Controller):
    """Sign in, who am I, sign out."""

    path = "/api/session"

    @post("/", summary="Sign in with an API token (sets the session cookie)", status_code=200)
    async def sign_in(self, request: Request[Any, Any, Any], metadata: Metadata, auth_enabled: bool,
                      data: dict[str, Any]) -> Response[dict[str, Any]]:
        """Check ``data["token"]`` and set the cookie."""
        token = data.get("token")
        if not isinstance(token, str) or not token.strip() or len(token) > 200:
            raise BadRequest("must be an API token (vgl_…)", "token")
        if not same_origin(request.scope):
            return _refused(Rejection(403, "cross-site sign-in refused"))
        if not auth_enabled or metadata is None:
            return _answer(200, {"auth": "off", "signed_in": True, "name": "anonymous", "role": "admin"})
        try:
            who = await check_token(metadata.tokens, token.strip())
        except Rejection as r:
            return _refused(r)
        cookie = Cookie(key=SESSION_COOKIE, value=token.strip(), max_age=MAX_AGE_S, path="/", httponly=True,
                        samesite="strict", secure=request.url.scheme == "https")
        return _answer(200, {"auth": "required", "signed_in": True, "name": who.name, "role": who.role.value},
                       [cookie])

    @get("/", summary="Who is signed in", responses=RESPONSES, response_headers=[FRESHNESS_HEADER])
    async def whoami(self, request: Request[Any, Any, Any], metadata: Metadata,
                     auth_enabled: bool) -> Response[SessionInfo]:
        """The signed-in principal (see the module docstring); 503 when tokens cannot be checked."""
        headers = {HEADER: header_value(COMPLETE)}
        if not auth_enabled or metadata is None:
            return Response(OFF, headers=headers)
        try:
            token = presented_token(request.scope) or session_token(request.scope)
            if token is None:
                return Response(NOBODY, headers=headers)
            who = await check_token(metadata.tokens, token)
        except Rejection as r:
            if r.status == 401:
                return Response(NOBODY, headers=headers)
            raise HTTPException(status_code=r.status, detail=r.message) from None
        return Response(SessionInfo(auth="required", signed_in=True, name=who.name, role=who.role.value),
                        headers=headers)

    @delete("/", summary="Sign out (clears the session cookie)", status_code=200)
    async def sign_out(self) -> Response[dict[str, Any]]:
        """Clear the cookie."""
        gone = Cookie(key=SESSION_COOKIE, value="", max_age=0, path="/", httponly=True, samesite="strict")
        return _answer(200, {"signed_in": False}, [gone])
