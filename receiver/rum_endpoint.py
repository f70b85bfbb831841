"""The RUM routes of the OTLP/HTTP port: ``POST /v1/rum`` (beacons) and ``GET /rum.js`` (the collector script).

``POST /v1/rum`` takes a beacon (:mod:`receiver.rum`) as ``text/plain`` (``navigator.sendBeacon``) or
``application/json`` (``fetch`` with ``keepalive``), at most :data:`MAX_BEACON_BYTES`. Browsers cannot
hold secrets, so no bearer token is asked for; instead, when CORS origins are configured, a request
whose ``Origin`` is not allowed is refused (403). Each client address is rate-limited (429 with
``Retry-After``). The events are written through the same ingest handler as OTLP logs (durable spool,
limits, redaction; with authentication on they get the empty tenant). Answers are JSON:
``{"accepted": N}`` (200), or ``{"error": …, "field": …}`` with 400 (bad beacon), 413, 415, 429, 503.
``OPTIONS`` is answered as a CORS preflight.

``GET /rum.js`` is the vendored ``web-vitals`` build followed by Vigil's collector
(``receiver/static/rum.js``), cached by browsers for an hour.
"""

from __future__ import annotations

import json
import math
import time
from importlib import resources

from receiver import decode
from receiver.asgi import Receive, Scope, Send, read_body, reply
from receiver.cors import CorsPolicy
from receiver.errors import classify
from receiver.handler import IngestHandler
from receiver.ratelimit import RateLimiter
from receiver.rum import BeaconError, beacon_to_logs, parse_beacon
from receiver.signals import LOGS

MAX_BEACON_BYTES = 64 * 1024
RATE_PER_S, BURST = 5.0, 60
_MEDIA = ("text/plain", "application/json")


def rum_script() -> bytes:
    """``/rum.js``: web-vitals (Apache-2.0, licence beside it in receiver/static) and Vigil's collector."""
    static = resources.files("receiver") / "static"
    return (static / "web-vitals.attribution.iife.js").read_bytes() + b"\n" + (static / "rum.js").read_bytes()


def _json(doc: dict[str, object]) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


class RumEndpoint:
    """Serves ``/v1/rum`` and ``/rum.js``; see the module docstring."""

    def __init__(self, handler: IngestHandler, cors: CorsPolicy, auth_enabled: bool,
                 limiter: RateLimiter | None = None, max_bytes: int = MAX_BEACON_BYTES) -> None:
        """Write through ``handler``; ``auth_enabled`` stamps the empty tenant on RUM events."""
        self._handler, self._cors, self._auth = handler, cors, auth_enabled
        self._limiter = limiter or RateLimiter(RATE_PER_S, BURST)
        self._max = max_bytes
        self._script = rum_script()

    async def script(self, scope: Scope, send: Send) -> None:
        """``GET /rum.js``."""
        if scope["method"] not in ("GET", "HEAD"):
            return await reply(send, 405, _json({"error": "only GET is allowed"}), decode.JSON, [(b"allow", b"GET")])
        headers = [(b"cache-control", b"public, max-age=3600"), (b"access-control-allow-origin", b"*"),
                   (b"x-content-type-options", b"nosniff")]
        body = self._script if scope["method"] == "GET" else b""
        await reply(send, 200, body, "application/javascript; charset=utf-8", headers)

    async def beacon(self, scope: Scope, receive: Receive, send: Send, headers: dict[str, str]) -> None:
        """``POST /v1/rum`` (and its preflight)."""
        origin = headers.get("origin")
        cors = self._cors.response_headers(origin)
        if scope["method"] == "OPTIONS":
            preflight = self._cors.preflight_headers(origin) if self._cors.enabled else None
            if preflight is not None:
                return await reply(send, 204, b"", decode.JSON, preflight)
            return await reply(send, 403, _json({"error": "origin not allowed"}), decode.JSON)
        if scope["method"] != "POST":
            return await reply(send, 405, _json({"error": "only POST is allowed"}), decode.JSON,
                               [(b"allow", b"POST"), *cors])
        if self._cors.enabled and origin is not None and self._cors.allow_origin(origin) is None:
            return await reply(send, 403, _json({"error": "origin not allowed"}), decode.JSON)
        client = (scope.get("client") or ("", 0))[0]
        wait = self._limiter.allow(str(client))
        if wait is not None:
            return await reply(send, 429, _json({"error": "too many beacons from this client"}), decode.JSON,
                               [(b"retry-after", str(math.ceil(wait)).encode()), *cors])
        media = headers.get("content-type", "").split(";")[0].strip().lower()
        if media not in _MEDIA:
            return await reply(send, 415, _json({"error": "content type must be text/plain or application/json",
                                                 "field": "content-type"}), decode.JSON, cors)
        try:
            self._handler.admit(self._max)
            body = await read_body(receive, self._max)
            doc = parse_beacon(body)
            request = beacon_to_logs(doc, int(time.time() * 1000), headers.get("user-agent", ""))
            count = len(request.resource_logs[0].scope_logs[0].log_records)
            rejected, _ = await self._handler.export(LOGS, request, "" if self._auth else None)
        except BeaconError as exc:
            return await reply(send, 400, _json({"error": exc.message, "field": exc.field}), decode.JSON, cors)
        except Exception as exc:  # noqa: BLE001 - every failure gets an answer
            failure = classify(exc)
            extra = [(b"retry-after", str(math.ceil(failure.retry_after)).encode())] \
                if failure.retry_after is not None else []
            return await reply(send, failure.http_status, _json({"error": failure.message}), decode.JSON,
                               [*extra, *cors])
        await reply(send, 200, _json({"accepted": count - rejected}), decode.JSON, cors)
