"""The one ingest handler shared by OTLP/gRPC and OTLP/HTTP (protobuf and JSON).

``IngestHandler.export(signal, request, tenant)`` validates a decoded request, writes it through the
``TelemetryWriter`` and returns ``(rejected, message)`` for ``partial_success``. What is written is
always upb's canonical re-encoding of what upb decoded, with unknown fields discarded — never the
sender's bytes: ClickHouse's protobuf reader does not follow every protobuf decoding rule (repeated
scalar fields, over-long varints, wire-type mismatches), and the store must see exactly what was
validated. Writer errors propagate to the transport's error mapping.
"""

from __future__ import annotations

import time
from typing import Any

from contracts.errors import Overloaded
from contracts.ingest import IngestObserver, InMemoryIngestObserver, TelemetryWriter
from receiver.auth import TENANT_ATTRIBUTE
from receiver.signals import OtlpSignal
from receiver.validate import INSPECTORS

NS_PER_DAY = 86_400 * 1_000_000_000
"""Nanoseconds in a day: retention is configured in days, OTLP timestamps are unix nanoseconds."""


class IngestHandler:
    """Validate, tenant-stamp and write decoded OTLP requests; shared by both transports.

    Not thread-safe: call it from the one asyncio event loop that also runs the ``writer`` (the
    writer's and the observer's contracts ask for that). It holds no per-request state, so any
    number of requests may be in progress on that loop at once.
    """

    def __init__(
        self,
        writer: TelemetryWriter,
        retention_days: dict[str, int],
        observer: IngestObserver | None = None,
        max_attributes: int = 1 << 30,
    ) -> None:
        """Wire the handler to its writer.

        Args:
            writer: Where accepted requests go; its errors propagate out of :meth:`export`.
            retention_days: Days kept per signal name (``"traces"``, ``"logs"``, ``"metrics"``);
                a missing signal or a value <= 0 keeps forever, so no record is too old.
            observer: Told about every answered or refused request; defaults to an in-memory one.
            max_attributes: Attributes kept per attribute list when flattening; the excess is
                reported as a ``partial_success`` warning.
        """
        self._writer = writer
        self._max_attributes = max_attributes
        self._retention = retention_days
        self.observer: IngestObserver = observer or InMemoryIngestObserver()

    def _cutoff_ns(self, signal: str) -> int:
        """Unix nanoseconds before which ``signal``'s records are too old (0: none is)."""
        days = self._retention.get(signal, 0)
        return time.time_ns() - days * NS_PER_DAY if days > 0 else 0

    def admit(self, nbytes: int) -> None:
        """Refuse early (before reading/decoding) when ``nbytes`` more would exceed the in-flight bound.

        Args:
            nbytes: Expected request size in bytes (the declared or the largest allowed length).

        Raises:
            Overloaded: The writer has no capacity now (retryable: 429 / RESOURCE_EXHAUSTED).
        """
        if not self._writer.has_capacity(nbytes):
            raise Overloaded()

    async def export(self, signal: OtlpSignal, request: Any, tenant: str | None = None) -> tuple[int, str]:
        """Validate ``request``, stamp the tenant, and write the accepted records durably.

        Refused records (too old for the retention window, malformed ids, out-of-range
        timestamps) are pruned from ``request`` in place; the rest is re-encoded canonically with
        unknown fields discarded and awaited through the writer. When no record is accepted
        nothing is written. The observer is told about the request only when the write succeeded.

        Args:
            signal: Which OTLP signal ``request`` belongs to.
            request: The decoded ``Export*ServiceRequest``; mutated in place.
            tenant: None when authentication is off (payload left as is); otherwise the token's
                label, stamped on every resource ('' removes any ``vigil.tenant`` the payload claims).

        Returns:
            ``(rejected, message)`` for the response's ``partial_success``: the number of records
            refused and a human-readable reason ('' when nothing was refused or dropped).

        Raises:
            Overloaded: The writer refused for lack of capacity (retryable).
            StoreUnavailable: The writer cannot store now (retryable).
            RejectedPayload: The writer refused the data permanently.
        """
        result = INSPECTORS[signal.name](request, self._cutoff_ns(signal.name), self._max_attributes)
        if tenant is not None:
            _stamp_tenant(request, tenant)
        request.DiscardUnknownFields()
        raw = request.SerializeToString()
        if result.accepted:
            await self._writer.write(signal.name, raw, result.accepted)
        self.observer.request(signal.name, len(raw), result.accepted,
                              {"too_old": result.too_old, "bad_id": result.bad_ids})
        return result.rejected, result.message(self._retention.get(signal.name, 0))


def _stamp_tenant(request: Any, tenant: str) -> None:
    """Set the tenant resource attribute on every resource, replacing any value the payload carried.

    An empty ``tenant`` only removes the attribute.
    """
    for name in ("resource_spans", "resource_metrics", "resource_logs"):
        if not request.DESCRIPTOR.fields_by_name.get(name):
            continue
        for item in getattr(request, name):
            attrs = item.resource.attributes
            keep = [kv for kv in attrs if kv.key != TENANT_ATTRIBUTE]
            if len(keep) != len(attrs):
                del attrs[:]
                attrs.extend(keep)
            if not tenant:
                continue
            kv = attrs.add()
            kv.key = TENANT_ATTRIBUTE
            kv.value.string_value = tenant
