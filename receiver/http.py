"""OTLP/HTTP receiver as a plain ASGI application (served by uvicorn on the OTLP HTTP port).

Routes: ``POST /v1/traces``, ``/v1/metrics``, ``/v1/logs`` (and, with a :class:`~receiver.rum_endpoint.RumEndpoint`,
the browser RUM routes ``POST /v1/rum`` and ``GET /rum.js``). Bodies are ``application/x-protobuf`` or
``application/json``, optionally ``Content-Encoding: gzip``; the body is read as a stream and refused
with 413 as soon as it exceeds the limit. Success answers use the request's content type. Error
bodies are a ``google.rpc.Status`` (protobuf or JSON, matching the request). 404 unknown path,
405 wrong method (with ``Allow``), 415 unknown media type, 401 missing/wrong bearer token (when
authentication is on), 429/503 carry ``Retry-After``. Overload is refused from ``Content-Length``
before the body is read. CORS preflights are answered when origins are configured.
"""

from __future__ import annotations

import logging
import math

import grpc
from google.rpc import status_pb2

from receiver import decode
from receiver.asgi import Receive, Scope, Send, lifespan, read_body, reply
from receiver.auth import Authenticator
from receiver.cors import CorsPolicy
from receiver.errors import Failure, classify
from receiver.handler import IngestHandler
from receiver.rum_endpoint import RumEndpoint
from receiver.signals import BY_NAME, response

log = logging.getLogger(__name__)



class OtlpHttpApp:
    """The OTLP/HTTP ASGI application (``http`` and ``lifespan`` scopes; others are ignored).

    Runs on the ASGI server's event loop, which must be the loop the ``handler``'s writer expects.
    Every failure is answered (never raised to the ASGI server); 5xx failures are also logged.
    """

    def __init__(
        self,
        handler: IngestHandler,
        max_request_bytes: int,
        auth: Authenticator | None = None,
        cors: CorsPolicy | None = None,
        rum: RumEndpoint | None = None,
    ) -> None:
        """Configure the application.

        Args:
            handler: The shared ingest handler.
            max_request_bytes: Largest accepted body in bytes after decompression; a compressed
                body on the wire may be up to ``max(max_request_bytes, 1 MiB)`` bytes.
            auth: Bearer-token authentication; None turns it off.
            cors: Allowed browser origins; None disables CORS.
            rum: The browser RUM routes (``/v1/rum``, ``/rum.js``); None answers them 404.
        """
        self._handler = handler
        self._limit = max_request_bytes
        self._auth = auth or Authenticator({})
        self._cors = cors or CorsPolicy([])
        self._rum = rum

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection scope: answer an OTLP export, a CORS preflight or an error."""
        if scope["type"] != "http":
            return await lifespan(scope, receive, send)
        path = scope["path"].rstrip("/")
        signal = BY_NAME.get(path[4:]) if path.startswith("/v1/") else None
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if self._rum is not None and path == "/v1/rum":
            return await self._rum.beacon(scope, receive, send, headers)
        if self._rum is not None and path == "/rum.js":
            return await self._rum.script(scope, send)
        as_json = headers.get("content-type", "").split(";")[0].strip().lower() == decode.JSON
        cors = self._cors.response_headers(headers.get("origin"))
        if signal is None:
            failure = Failure(404, grpc.StatusCode.NOT_FOUND, f"unknown path {path[:200]}")
            return await self._error(send, failure, as_json, cors)
        if scope["method"] == "OPTIONS" and self._cors.enabled:
            preflight = self._cors.preflight_headers(headers.get("origin"))
            if preflight is not None:
                return await reply(send, 204, b"", decode.JSON, preflight)
            failure = Failure(403, grpc.StatusCode.PERMISSION_DENIED, "origin not allowed")
            return await self._error(send, failure, as_json)
        if scope["method"] != "POST":
            failure = Failure(405, grpc.StatusCode.UNIMPLEMENTED, "only POST is allowed")
            return await self._error(send, failure, as_json, [(b"allow", b"POST"), *cors])
        try:
            tenant = self._auth.authenticate(headers.get("authorization"))
            media = decode.media_type(headers.get("content-type"))
            encoding = headers.get("content-encoding")
            declared = headers.get("content-length", "")
            # Without a length (chunked), admission assumes the largest allowed body.
            self._handler.admit(min(int(declared), self._limit) if declared.isdigit() else self._limit)
            wire_limit = self._limit if encoding in (None, "", "identity") else max(self._limit, 1 << 20)
            body = await read_body(receive, wire_limit)
            data = decode.decompress(body, encoding, self._limit)
            if media == decode.PROTOBUF:
                request = decode.parse_protobuf(signal.request, data)
            else:
                request = decode.parse_json(signal.request, data)
            rejected, message = await self._handler.export(signal, request, tenant)
        except Exception as exc:  # noqa: BLE001 - every failure gets an OTLP answer
            failure = classify(exc)
            self._handler.observer.refused_request(signal.name, failure.reason)
            if failure.http_status >= 500:
                log.warning("OTLP/HTTP %s failed: %r", path, exc)
            return await self._error(send, failure, as_json, cors)
        resp = response(signal, rejected, message)
        if as_json:
            await reply(send, 200, decode.to_json(resp), decode.JSON, cors)
        else:
            await reply(send, 200, resp.SerializeToString(), decode.PROTOBUF, cors)

    async def _error(
        self, send: Send, failure: Failure, as_json: bool, extra: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        status = status_pb2.Status(code=failure.grpc_code.value[0], message=failure.message)
        headers = list(extra or [])
        if failure.http_status == 401:
            headers.append((b"www-authenticate", b'Bearer realm="vigil-otlp"'))
        if failure.retry_after is not None:
            headers.append((b"retry-after", str(math.ceil(failure.retry_after)).encode()))
        if as_json:
            await reply(send, failure.http_status, decode.to_json(status), decode.JSON, headers)
        else:
            await reply(send, failure.http_status, status.SerializeToString(), decode.PROTOBUF, headers)
