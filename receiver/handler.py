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


class IngestHandler:
    def __init__(
        self,
        writer: TelemetryWriter,
        retention_days: dict[str, int],
        observer: IngestObserver | None = None,
        max_attributes: int = 1 << 30,
    ) -> None:
        self._writer = writer
        self._max_attributes = max_attributes
        self._retention = retention_days
        self.observer: IngestObserver = observer or InMemoryIngestObserver()

    def _cutoff_ns(self, signal: str) -> int:
        days = self._retention.get(signal, 0)
        return time.time_ns() - days * NS_PER_DAY if days > 0 else 0

    def admit(self, nbytes: int) -> None:
        """Refuse early (before reading/decoding) when ``nbytes`` more would exceed the in-flight bound."""
        if not self._writer.has_capacity(nbytes):
            raise Overloaded()

    async def export(self, signal: OtlpSignal, request: Any, tenant: str | None = None) -> tuple[int, str]:
        """``tenant``: None when authentication is off (payload left as is); otherwise the token's
        label, stamped on every resource ('' removes any ``vigil.tenant`` the payload claims)."""
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
    """Set the tenant resource attribute on every resource, replacing any value the payload carried
    ('' only removes it)."""
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
