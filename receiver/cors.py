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
    """Which browser origins may call the OTLP/HTTP receiver; immutable after construction.

    Origins are compared after stripping whitespace and a trailing ``/``; comparison is exact
    (scheme, host and port), case-sensitive, with no pattern matching. Safe to share between
    concurrent requests: nothing is mutated after ``__init__``.
    """

    def __init__(self, origins: list[str]) -> None:
        """Build the policy from configured ``origins``.

        Args:
            origins: Allowed origins such as ``https://app.example:8443``; ``"*"`` allows every
                origin; blank entries are ignored. An empty list (after cleaning) disables CORS.
        """
        cleaned = [o.strip().rstrip("/") for o in origins if o.strip()]
        self.wildcard = "*" in cleaned
        self.origins = frozenset(o for o in cleaned if o != "*")

    @property
    def enabled(self) -> bool:
        """Whether any origin is allowed (otherwise the receiver answers OPTIONS with 405)."""
        return self.wildcard or bool(self.origins)

    def allow_origin(self, origin: str | None) -> bytes | None:
        """The ``Access-Control-Allow-Origin`` value for a request's ``Origin`` header.

        Args:
            origin: The request's ``Origin`` header, or None when absent.

        Returns:
            ``b"*"`` under a wildcard policy, the origin itself (latin-1) when it is listed, or
            None when the header is missing or the origin is not allowed.

        Raises:
            UnicodeEncodeError: ``origin`` holds a non-latin-1 character and is listed (cannot
                happen for an ``origin`` decoded from ASGI headers as latin-1).
        """
        if not origin:
            return None
        if self.wildcard:
            return b"*"
        return origin.encode("latin-1") if origin.rstrip("/") in self.origins else None

    def response_headers(self, origin: str | None) -> list[tuple[bytes, bytes]]:
        """CORS headers for an actual (non-preflight) response to ``origin``.

        Returns:
            ``[]`` when the origin is not allowed; otherwise ``access-control-allow-origin`` plus
            ``vary: Origin`` when the value echoes a specific origin (so caches keep answers apart).
        """
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
