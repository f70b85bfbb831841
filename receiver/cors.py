"""CORS for OTLP/HTTP (browsers export OTLP/JSON).

``CorsPolicy(origins)``: an empty list disables CORS (no headers, OPTIONS → 405); ``["*"]`` allows
any origin without credentials; explicit origins are echoed back with ``Vary: Origin``.
``Access-Control-Allow-Credentials`` is never sent: OTLP senders authenticate with a bearer token
in ``Authorization``, which a preflight allows explicitly.
"""

from __future__ import annotations

ALLOWED_HEADERS = b"content-type, content-encoding, authorization"
MAX_AGE = b"600"


class CorsPolicy:
    def __init__(self, origins: list[str]) -> None:
        cleaned = [o.strip().rstrip("/") for o in origins if o.strip()]
        self.wildcard = "*" in cleaned
        self.origins = frozenset(o for o in cleaned if o != "*")

    @property
    def enabled(self) -> bool:
        return self.wildcard or bool(self.origins)

    def allow_origin(self, origin: str | None) -> bytes | None:
        if not origin:
            return None
        if self.wildcard:
            return b"*"
        return origin.encode("latin-1") if origin.rstrip("/") in self.origins else None

    def response_headers(self, origin: str | None) -> list[tuple[bytes, bytes]]:
        allowed = self.allow_origin(origin)
        if allowed is None:
            return []
        headers = [(b"access-control-allow-origin", allowed)]
        if allowed != b"*":
            headers.append((b"vary", b"Origin"))
        return headers

    def preflight_headers(self, origin: str | None) -> list[tuple[bytes, bytes]] | None:
        """Headers for an allowed preflight, or None when the origin is not allowed."""
        base = self.response_headers(origin)
        if not base:
            return None
        return base + [
            (b"access-control-allow-methods", b"POST, OPTIONS"),
            (b"access-control-allow-headers", ALLOWED_HEADERS),
            (b"access-control-max-age", MAX_AGE),
        ]
