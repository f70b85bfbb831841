"""API access control: bearer tokens → roles, checked app-wide by one ASGI middleware; the audit hook.

:func:`auth_middleware` is installed by :func:`query.api.build_app` on the whole app, so it guards
every route, including routes added later. Policy (see docs/access.md):

* Open without a token (the allow-list): ``/api/health`` (probes), ``/metrics`` (Vigil's own
  counters, no telemetry), ``/schema`` and its assets, and handlers whose ``opt`` carries
  :data:`OPEN_OPT` (``build_app`` marks the dashboard's static files so). Everything else needs a token.
* Required role (:func:`required_role`): admin under :data:`ADMIN_PREFIXES`; editor for any other
  state-changing method (POST, PUT, PATCH, DELETE); viewer for reads and WebSockets, and for POST to
  :data:`READ_ONLY_POSTS` (the Prometheus query API, whose clients send queries as form POSTs).
* HTTP: ``Authorization: Bearer vgl_…``, or the dashboard's session cookie :data:`SESSION_COOKIE`
  (set by ``POST /api/session``, HttpOnly, SameSite=Strict). A cookie-authenticated state change or
  WebSocket must come from the API's own origin (its ``Origin`` header, when sent, must match ``Host``):
  cross-site requests cannot ride on the cookie (CSRF, cross-site WebSocket hijacking).
* WebSocket: the same header, or ``?token=vgl_…``, or the
  subprotocols ``vigil.bearer, vgl_…`` (browsers cannot set headers on a WebSocket; the server then
  accepts with subprotocol ``vigil.bearer``).
* Missing, malformed, unknown or revoked token → 401 with ``WWW-Authenticate: Bearer``; a role too
  low → 403 naming the required role; the metadata store unreachable → 503. A rejected WebSocket is
  closed before it is accepted (code 4401 / 4403; the client sees HTTP 403).

The authenticated :class:`Principal` is in the request's scope (:func:`principal`); with auth off
every request is the admin principal ``anonymous``. :class:`Auditor` (dependency ``audit``) is the hook
handlers call for every state change: ``audit(request, "error.status", fingerprint, {"to": "resolved"})``.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import anyio.to_thread
import msgspec
from litestar import Request
from litestar.enums import ScopeType
from litestar.middleware import DefineMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from contracts.access import TOKEN_PREFIX, ApiToken, AuditLog, Role, TokenRepository

log = logging.getLogger(__name__)

OPEN_OPT = "vigil_open"  # a handler/router opt: reachable without a token
OPEN_PATHS = frozenset({"/api/health", "/metrics", "/api/session"})  # the session route checks tokens itself
SESSION_COOKIE = "vigil_session"
OPEN_PREFIXES = ("/schema",)
ADMIN_PREFIXES = ("/api/tokens", "/api/audit", "/api/settings")
# Prometheus' query API: its clients (Grafana) send queries as form POSTs, which read and change nothing
READ_ONLY_POSTS = frozenset({"/api/v1/query", "/api/v1/query_range", "/api/v1/series", "/api/v1/labels"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
WS_SUBPROTOCOL = "vigil.bearer"
AUTH_MODES = ("off", "required")
_SCOPE_KEY = "vigil.principal"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's name, id ('' when auth is off) and role."""

    name: str
    id: str
    role: Role

    @property
    def actor(self) -> str:
        """The audit log's ``actor``: ``name (id)`` for a token, the bare name otherwise."""
        return f"{self.name} ({self.id})" if self.id else self.name


ANONYMOUS = Principal("anonymous", "", Role.ADMIN)  # auth off: everyone may do everything
UNAUTHENTICATED = Principal("unauthenticated", "", Role.VIEWER)  # auth on, an open path without a token


def is_loopback(host: str) -> bool:
    """Whether binding to ``host`` keeps the API on this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def auth_required(mode: str, host: str) -> bool:
    """Whether the API checks tokens: when ``mode`` is ``required``, and always on a non-loopback bind."""
    return mode == "required" or not is_loopback(host)


def required_role(method: str, path: str) -> Role:
    """The least role for ``method`` on ``path`` (``WEBSOCKET`` for a WebSocket)."""
    if any(path == p or path.startswith(p + "/") for p in ADMIN_PREFIXES):
        return Role.ADMIN
    if method in SAFE_METHODS or method == "WEBSOCKET" or path in READ_ONLY_POSTS:
        return Role.VIEWER
    return Role.EDITOR


def is_open(path: str, opt: dict[str, Any] | None) -> bool:
    """Whether ``path`` (served by a handler with ``opt``) is on the allow-list."""
    if path in OPEN_PATHS or any(path == p or path.startswith(p + "/") for p in OPEN_PREFIXES):
        return True
    return bool(opt and opt.get(OPEN_OPT))


def principal(request: Request[Any, Any, Any]) -> Principal:
    """The caller the middleware authenticated (:data:`ANONYMOUS` when auth is off; an open path).

    An open path reached without a token under auth is :data:`UNAUTHENTICATED`.
    """
    found = cast(dict[str, Any], request.scope).get(_SCOPE_KEY)
    return found if isinstance(found, Principal) else ANONYMOUS


class Auditor:
    """The audit hook: ``audit(actor, action, target, details)`` appends to the audit log.

    ``actor`` is the request (its :func:`principal`), a :class:`Principal` or a name. ``action`` is
    dotted, ``<object>.<verb>`` (``token.create``, ``error.status``); ``target`` the object's id;
    ``details`` JSON. Blocking (call it from a synchronous handler); without an audit log (tests without
    a metadata store) the entry is only logged.
    """

    def __init__(self, log_: AuditLog | None) -> None:
        """Write to ``log_`` (None: log only)."""
        self._log = log_

    def __call__(self, actor: Request[Any, Any, Any] | Principal | str, action: str, target: str,
                 details: dict[str, Any] | None = None) -> None:
        """Record one state change."""
        who = principal(actor) if isinstance(actor, Request) else actor
        name = who.actor if isinstance(who, Principal) else who
        if self._log is None:
            log.info("audit (not stored): %s %s %s %s", name, action, target, details or {})
            return
        self._log.record(name, action, target, details or {})


class Rejection(Exception):
    """Why a request is refused: status 401/403/503 and the message."""

    def __init__(self, status: int, message: str, detail: str | None = None, invalid: bool = False) -> None:
        """Build the refusal (``invalid``: the token was presented but is no good)."""
        super().__init__(message)
        self.status, self.message, self.detail, self.invalid = status, message, detail, invalid


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _bearer(header: str) -> str:
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise Rejection(401, "malformed Authorization header; send 'Authorization: Bearer vgl_…'", invalid=True)
    return token


def _offered_protocols(headers: dict[str, str]) -> list[str]:
    return [p.strip() for p in headers.get("sec-websocket-protocol", "").split(",") if p.strip()]


def presented_token(scope: Scope) -> str | None:
    """The token a request carries (see the module doc for the WebSocket forms); raises :class:`Rejection`."""
    headers = _headers(scope)
    if "authorization" in headers:
        return _bearer(headers["authorization"])
    if scope["type"] != ScopeType.WEBSOCKET:
        return None
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    if query.get("token"):
        return query["token"][0]
    offered = _offered_protocols(headers)
    if WS_SUBPROTOCOL in offered:
        rest = [p for p in offered if p != WS_SUBPROTOCOL]
        if len(rest) != 1:
            raise Rejection(401, f"subprotocol {WS_SUBPROTOCOL} must come with exactly one token", invalid=True)
        return rest[0]
    return None


class AuthMiddleware:
    """The ASGI middleware (see the module doc); ``tokens`` None means auth is off."""

    def __init__(self, app: ASGIApp, tokens: TokenRepository | None) -> None:
        """Wrap ``app``."""
        self.app = app
        self.tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Authenticate, authorise, then call the app (or answer the refusal)."""
        if scope["type"] not in (ScopeType.HTTP, ScopeType.WEBSOCKET):
            await self.app(scope, receive, send)
            return
        handler = scope.get("route_handler")
        opt = getattr(handler, "opt", None)
        path = scope["path"]
        if self.tokens is None or is_open(path, opt):
            cast(dict[str, Any], scope)[_SCOPE_KEY] = ANONYMOUS if self.tokens is None else UNAUTHENTICATED
            await self.app(scope, receive, send)
            return
        method = "WEBSOCKET" if scope["type"] == ScopeType.WEBSOCKET else str(scope.get("method", "GET"))
        try:
            who = await self._authenticate(scope)
            needed = required_role(method, path)
            if not who.role.allows(needed):
                raise Rejection(403, f"this needs role {needed.value}; token {who.name!r} has role "
                                f"{who.role.value}", detail=needed.value)
        except Rejection as refused:
            await _refuse(scope, send, refused)
            return
        cast(dict[str, Any], scope)[_SCOPE_KEY] = who
        await self.app(scope, receive, _with_subprotocol(scope, send))

    async def _authenticate(self, scope: Scope) -> Principal:
        token = presented_token(scope)
        if token is None:
            token = session_token(scope)
            method = str(scope.get("method", "GET")) if scope["type"] == ScopeType.HTTP else "WEBSOCKET"
            if token is not None and method not in SAFE_METHODS and not same_origin(scope):
                raise Rejection(403, "cross-site request refused: the session cookie only works from the dashboard's "
                                "own origin")
        if token is None:
            raise Rejection(401, "authentication required: send 'Authorization: Bearer vgl_…' (create a token "
                            "with 'vigil token create')")
        assert self.tokens is not None
        return await check_token(self.tokens, token)


async def check_token(tokens: TokenRepository, token: str) -> Principal:
    """The principal of ``token``; raises :class:`Rejection` (401 unknown or revoked, 503 store down)."""
    if not token.startswith(TOKEN_PREFIX):
        raise Rejection(401, "malformed token: Vigil API tokens start with 'vgl_'", invalid=True)
    try:
        record: ApiToken | None = await anyio.to_thread.run_sync(tokens.authenticate, token)
    except Exception as exc:  # noqa: BLE001 - any store failure is 'cannot check', never 'allowed'
        log.warning("API authentication unavailable: %s", exc)
        raise Rejection(503, "authentication unavailable: the metadata store cannot be reached") from exc
    if record is None:
        raise Rejection(401, "invalid or revoked token", invalid=True)
    return Principal(record.name, record.id, record.role)


def session_token(scope: Scope) -> str | None:
    """The token in the :data:`SESSION_COOKIE` cookie, if any (a malformed Cookie header counts as none)."""
    raw = _headers(scope).get("cookie", "")
    if SESSION_COOKIE not in raw:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except CookieError:
        return None
    morsel = jar.get(SESSION_COOKIE)
    return morsel.value if morsel is not None and morsel.value else None


def same_origin(scope: Scope) -> bool:
    """Whether the request's ``Origin`` (absent: not a cross-site browser request) is the API's own."""
    headers = _headers(scope)
    origin = headers.get("origin")
    if origin is None:
        return True
    host = headers.get("host", "")
    return bool(host) and urlsplit(origin).netloc.lower() == host.lower()


def _with_subprotocol(scope: Scope, send: Send) -> Send:
    """``send`` that accepts a WebSocket with :data:`WS_SUBPROTOCOL` when the client authenticated with it."""
    if scope["type"] != ScopeType.WEBSOCKET or WS_SUBPROTOCOL not in _offered_protocols(_headers(scope)):
        return send

    async def sending(message: Message) -> None:
        if message["type"] == "websocket.accept" and not message.get("subprotocol"):
            message = cast(Message, {**message, "subprotocol": WS_SUBPROTOCOL})
        await send(message)

    return sending


async def _refuse(scope: Scope, send: Send, refused: Rejection) -> None:
    if scope["type"] == ScopeType.WEBSOCKET:
        code = {401: 4401, 403: 4403}.get(refused.status, 1011)
        await send({"type": "websocket.close", "code": code, "reason": refused.message[:120]})
        return
    headers: list[tuple[bytes, bytes]] = [(b"content-type", b"application/json")]
    if refused.status == 401:
        challenge = 'Bearer realm="vigil"' + (', error="invalid_token"' if refused.invalid else "")
        headers.append((b"www-authenticate", challenge.encode()))
    body = msgspec.json.encode({"error": refused.message, "detail": refused.detail})
    await send(cast(Message, {"type": "http.response.start", "status": refused.status, "headers": headers}))
    await send(cast(Message, {"type": "http.response.body", "body": body}))


def auth_middleware(tokens: TokenRepository | None) -> DefineMiddleware:
    """The app-wide middleware for :func:`query.api.build_app` (``tokens`` None: auth off)."""
    return DefineMiddleware(AuthMiddleware, tokens=tokens)


def roles() -> Iterable[str]:
    """The role names, lowest first."""
    return [r.value for r in Role]
