"""The ``host_metrics`` module: ``vigil serve`` collects its own host's ``system.*`` metrics, like the agent.

It runs :func:`instrumentation.agent.start_host_metrics` in-process — the agent's own ``MeterProvider``
(never the global one), psutil callbacks, a periodic OTLP/HTTP export — pointed at this process's own
OTLP/HTTP receiver (the first ingest token as bearer), every ``host_metrics_interval_s``. The metrics
carry the agent's resource: ``service.name=vigil-agent`` and the detected ``host.*``/``os.*``
attributes. The process' ``OTEL_*`` variables do not apply (they may redirect self-telemetry
elsewhere; host metrics always go into this Vigil).

It needs the ``otlp_http`` module (roles ``all`` and ``receiver``) and stops before it, so the last
collection is still received. Health reports the interval and the exports; a failing export (e.g.
ingest refusing under overload) does not degrade health — ``ingest`` reports that state itself.
"""

from __future__ import annotations

import asyncio
from typing import Any

from instrumentation.agent import AgentHandle, AgentOptions, start_host_metrics
from vigil.sections import HostMetricsConfig
from vigil.selftelemetry import bearer_headers

STOP_TIMEOUT_S = 5.0


class HostMetricsComponent:
    """This host's metrics, sent to our own OTLP/HTTP receiver (see the module doc)."""

    name = "host_metrics"

    def __init__(self, cfg: HostMetricsConfig) -> None:
        """Configure; nothing is collected before :meth:`start`."""
        self.cfg = cfg
        self.options = AgentOptions.resolve(endpoint=cfg.endpoint, protocol="http/protobuf",
                                            interval_s=cfg.interval_s,
                                            headers=bearer_headers(cfg.auth_tokens, cfg.auth_tokens_file),
                                            environ={})
        self.handle: AgentHandle | None = None

    async def start(self) -> None:
        """Start collecting (the first collection comes one interval later)."""
        self.handle = await asyncio.to_thread(start_host_metrics, self.options)

    async def stop(self, timeout: float) -> None:
        """Collect and send once more (skipped while our receiver is unreachable), then stop."""
        handle, self.handle = self.handle, None
        if handle is not None:
            await asyncio.to_thread(handle.shutdown, max(0.5, min(STOP_TIMEOUT_S, timeout)))

    def health(self) -> dict[str, Any]:
        """Interval, destination and export counts."""
        handle = self.handle
        report: dict[str, Any] = {"status": "ok" if handle is not None else "error",
                                  "interval_s": self.options.interval_s, "endpoint": self.options.endpoint,
                                  "host_name": self.options.resource.get("host.name")}
        if handle is None:
            report["error"] = "not started"
            return report
        exporter = handle.exporter
        report.update({"exports": exporter.succeeded, "failing_exports": exporter.failed,
                       "last_error": exporter.last_error})
        return report
