"""The dashboard's Litestar router: its static files at ``/`` (``index.html`` for ``/``).

The composition root mounts it next to the query API (``build_app(..., extra_routes=[static_router()])``);
the dashboard itself only calls ``/api/*`` over HTTP and ``/ws`` for the live feed.

Every response of this router (files, ``index.html`` and 404s alike) carries :data:`SECURITY_HEADERS`:
a strict Content-Security-Policy (no inline script or style, no foreign origins, no framing) and
``X-Content-Type-Options: nosniff``. Telemetry shown by the dashboard is attacker-controlled; the
pages build their DOM with ``textContent`` only, and the policy is the second line of defence.
"""

from __future__ import annotations

from pathlib import Path

from litestar import Router
from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.static_files import create_static_files_router
from litestar.types import ASGIApp, Message, Receive, Scope, Send

STATIC_DIR = Path(__file__).resolve().parent / "static"

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",  # revalidate (ETag/Last-Modified): a new version shows on reload
}


def security_headers(app: ASGIApp) -> ASGIApp:
    """ASGI middleware adding :data:`SECURITY_HEADERS` to every HTTP response ``app`` starts."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableScopeHeaders.from_message(message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
            await send(message)

        await app(scope, receive, send_with_headers)

    return middleware


def static_router(path: str = "/") -> Router:
    """A router serving :data:`STATIC_DIR` at ``path`` in HTML mode, left out of the OpenAPI document.

    Its responses (404s included) carry :data:`SECURITY_HEADERS`.
    """
    return create_static_files_router(path=path, directories=[STATIC_DIR], html_mode=True, include_in_schema=False,
                                      name="dashboard", middleware=[security_headers])
