"""OTLP/gRPC receiver (grpcio aio): Trace, Metrics and Logs ``Export`` on one server.

Requests arrive as raw bytes (no generated deserializer) so the bytes that were validated are the
bytes stored. Failures use :func:`receiver.errors.classify`; retryable answers carry a
``google.rpc.RetryInfo`` detail in ``grpc-status-details-bin`` as the OTLP spec asks.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2

from receiver import decode
from receiver.auth import Authenticator
from receiver.errors import classify
from receiver.handler import IngestHandler
from receiver.signals import BY_NAME, OtlpSignal, response

log = logging.getLogger(__name__)


def _method(handler: IngestHandler, signal: OtlpSignal, auth: Authenticator, limit: int) -> grpc.RpcMethodHandler:
    async def export(raw: bytes, context: grpc.aio.ServicerContext) -> Any:
        try:
            metadata = dict(context.invocation_metadata() or ())
            tenant = auth.authenticate(metadata.get("authorization"))
            if len(raw) > limit:
                raise decode.TooLarge(f"request of {len(raw)} bytes exceeds the limit of {limit} bytes")
            handler.admit(len(raw))
            request = decode.parse_protobuf(signal.request, raw)
            rejected, message = await handler.export(signal, request, tenant)
            return response(signal, rejected, message)
        except Exception as exc:  # noqa: BLE001 - every failure gets an OTLP answer
            failure = classify(exc)
            handler.observer.refused_request(signal.name, failure.reason)
            status = status_pb2.Status(code=failure.grpc_code.value[0], message=failure.message)
            if failure.retry_after is not None:
                info = error_details_pb2.RetryInfo(
                    retry_delay=duration_pb2.Duration(seconds=math.ceil(failure.retry_after))
                )
                detail = any_pb2.Any()
                detail.Pack(info)
                status.details.append(detail)
            context.set_trailing_metadata((("grpc-status-details-bin", status.SerializeToString()),))
            await context.abort(failure.grpc_code, failure.message)

    return grpc.unary_unary_rpc_method_handler(
        export, request_deserializer=None, response_serializer=lambda m: m.SerializeToString()
    )


def build_server(
    handler: IngestHandler,
    host: str,
    port: int,
    max_request_bytes: int,
    auth: Authenticator | None = None,
    max_concurrent_rpcs: int = 1024,
) -> grpc.aio.Server:
    """Build a ``grpc.aio.Server`` bound to ``host:port`` serving the three OTLP ``Export`` services.

    The server is bound but not started: the caller awaits ``start()`` (and later ``stop()``) on the
    event loop it serves on. gRPC receives a whole message before the handler runs, so admission
    control (retryable RESOURCE_EXHAUSTED with RetryInfo) refuses it right after receipt, before
    decoding.

    Args:
        handler: The shared ingest handler; called on the server's event loop only.
        host: Interface to bind (``0.0.0.0``, ``::``, ``127.0.0.1``…).
        port: TCP port; 0 picks a free one.
        max_request_bytes: Largest accepted request in bytes. Larger ones up to twice this size are
            refused by the handler (413-equivalent RESOURCE_EXHAUSTED, counted in self-metrics);
            beyond that grpcio refuses them itself, uncounted.
        auth: Bearer-token authentication; None turns it off.
        max_concurrent_rpcs: Only a backstop against memory exhaustion by very many concurrent RPCs:
            beyond it grpcio itself answers RESOURCE_EXHAUSTED (without RetryInfo).

    Returns:
        The bound, not yet started server.

    Raises:
        OSError: ``host:port`` cannot be bound.
    """
    server = grpc.aio.server(
        maximum_concurrent_rpcs=max_concurrent_rpcs,
        options=[
            # grpcio refuses larger messages itself (uncounted); up to twice the limit they reach
            # the handler, which refuses them with the same answer and counts them.
            ("grpc.max_receive_message_length", 2 * max_request_bytes),
            ("grpc.max_send_message_length", 4 * 1024 * 1024),
            ("grpc.so_reuseport", 0),
        ]
    )
    authenticator = auth or Authenticator({})
    handlers = [
        grpc.method_handlers_generic_handler(
            s.grpc_service, {"Export": _method(handler, s, authenticator, max_request_bytes)}
        )
        for s in BY_NAME.values()
    ]
    server.add_generic_rpc_handlers(handlers)
    try:
        bound = server.add_insecure_port(f"{host}:{port}")
    except RuntimeError as exc:
        raise OSError(f"cannot bind OTLP/gRPC to {host}:{port}: {exc}") from exc
    if bound == 0:
        raise OSError(f"cannot bind OTLP/gRPC to {host}:{port}")
    return server
