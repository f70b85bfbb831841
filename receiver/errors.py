"""The single mapping from ingest failures to OTLP answers (HTTP status / gRPC code).

permanent → 400 / INVALID_ARGUMENT; too large → 413 / RESOURCE_EXHAUSTED (no RetryInfo);
unsupported media → 415; overload → 429 + Retry-After / RESOURCE_EXHAUSTED with RetryInfo;
store down → 503 + Retry-After / UNAVAILABLE (both retryable per the OTLP spec).
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from contracts.errors import Overloaded, RejectedPayload, StoreUnavailable
from receiver.auth import Unauthenticated
from receiver.decode import DecodeError, TooLarge, UnsupportedMedia


@dataclass(frozen=True)
class Failure:
    """How one refused request is answered on either transport (immutable).

    Attributes:
        http_status: The OTLP/HTTP status code.
        grpc_code: The OTLP/gRPC status code (also the ``code`` of the ``google.rpc.Status`` body).
        message: Text for the client; never contains the store's own error text.
        retry_after: Seconds the client should wait before retrying; set only for retryable
            answers (HTTP ``Retry-After``, rounded up; gRPC ``RetryInfo``), None otherwise.
        reason: Label of the refusal in self-metrics (``IngestObserver.refused_request``).
    """

    http_status: int
    grpc_code: grpc.StatusCode
    message: str
    retry_after: float | None = None  # seconds; set only for retryable answers
    reason: str = "malformed"  # label for self-metrics


def classify(exc: BaseException) -> Failure:
    """Map any exception raised while ingesting a request to its OTLP answer; never raises.

    Anything unrecognised becomes a retryable 503 / UNAVAILABLE (``reason="internal"``, retry after
    5 s) whose message reveals nothing of ``exc``; the caller logs ``exc`` if it wants it kept.
    """
    if isinstance(exc, DecodeError):
        return Failure(400, grpc.StatusCode.INVALID_ARGUMENT, str(exc), reason="malformed")
    if isinstance(exc, RejectedPayload):  # the store's own text stays in the server log
        return Failure(400, grpc.StatusCode.INVALID_ARGUMENT, "the store refused this request's data",
                       reason="malformed")
    if isinstance(exc, Unauthenticated):
        return Failure(401, grpc.StatusCode.UNAUTHENTICATED, str(exc), reason="unauthenticated")
    if isinstance(exc, TooLarge):
        return Failure(413, grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc), reason="too_large")
    if isinstance(exc, UnsupportedMedia):
        return Failure(415, grpc.StatusCode.INVALID_ARGUMENT, str(exc), reason="unsupported_media")
    if isinstance(exc, Overloaded):
        return Failure(429, grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc), exc.retry_after, reason="overloaded")
    if isinstance(exc, StoreUnavailable):
        return Failure(503, grpc.StatusCode.UNAVAILABLE, "storage unavailable; retry later", 5.0,
                       reason="store_unavailable")
    return Failure(503, grpc.StatusCode.UNAVAILABLE, "internal error; retry later", 5.0, reason="internal")
