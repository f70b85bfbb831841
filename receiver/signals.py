"""The three OTLP signals: request/response message types and the gRPC service names."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.collector.logs.v1 import logs_service_pb2 as logs_pb
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as metrics_pb
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as trace_pb

from contracts.signals import Signal


@dataclass(frozen=True)
class OtlpSignal:
    """Everything the transports need to know about one OTLP signal (immutable).

    Attributes:
        name: The signal; its value is also the OTLP/HTTP path suffix and the writer's signal.
        request: The generated ``Export*ServiceRequest`` message class.
        response: The generated ``Export*ServiceResponse`` message class.
        grpc_service: Fully qualified gRPC service name serving ``Export``.
        rejected_field: The ``partial_success`` field counting rejected records.
    """

    name: Signal  # also the HTTP path suffix and the writer's signal
    request: Any  # message class
    response: Any  # message class
    grpc_service: str
    rejected_field: str  # partial_success field counting rejected records


TRACES = OtlpSignal(
    Signal.TRACES,
    trace_pb.ExportTraceServiceRequest,
    trace_pb.ExportTraceServiceResponse,
    "opentelemetry.proto.collector.trace.v1.TraceService",
    "rejected_spans",
)
METRICS = OtlpSignal(
    Signal.METRICS,
    metrics_pb.ExportMetricsServiceRequest,
    metrics_pb.ExportMetricsServiceResponse,
    "opentelemetry.proto.collector.metrics.v1.MetricsService",
    "rejected_data_points",
)
LOGS = OtlpSignal(
    Signal.LOGS,
    logs_pb.ExportLogsServiceRequest,
    logs_pb.ExportLogsServiceResponse,
    "opentelemetry.proto.collector.logs.v1.LogsService",
    "rejected_log_records",
)
BY_NAME = {s.name: s for s in (TRACES, METRICS, LOGS)}


def response(signal: OtlpSignal, rejected: int = 0, message: str = "") -> Any:
    """An Export*ServiceResponse; ``partial_success`` is set only when something was rejected."""
    resp = signal.response()
    if rejected or message:
        ps = resp.partial_success
        setattr(ps, signal.rejected_field, rejected)
        ps.error_message = message
    return resp
