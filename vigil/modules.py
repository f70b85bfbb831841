"""The module map: which components each role runs, what each depends on, and how they start and stop.

In the style of Tempo's ``cmd/tempo/app/modules.go``. :data:`MODULES` names every component and its
dependencies; :data:`ROLES` lists the modules of each ``--role``; :func:`start_order` gives the
dependency order (dependencies first). :class:`Runtime` builds and starts a role's components in that
order — stores in a worker thread, listeners on the loop — stops them in reverse order, and combines
their health. Health: every component that reports one appears under its name; the whole is ``ok``
only when each is.

A module with a ``setting`` runs only when that boolean setting is on (the caller passes the modules
switched off); ``after`` orders a module after others *when they run*, without needing them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger("vigil")


class Component(Protocol):
    """A running part of Vigil."""

    name: str

    async def start(self) -> None:
        """Start; return once it serves (raise when it cannot)."""
        ...

    async def stop(self, timeout: float) -> None:
        """Stop within ``timeout`` seconds (drain what is under way)."""
        ...

    def health(self) -> dict[str, Any] | None:
        """``{"status": "ok"|"error", …}``, or None when the component adds nothing to health."""
        ...


@dataclass(frozen=True)
class Module:
    """A named component and the modules it needs started first."""

    name: str
    deps: tuple[str, ...] = ()
    doc: str = ""
    after: tuple[str, ...] = ()  # started after these when the role runs them (not needed)
    setting: str = ""  # the boolean setting that turns the module on ("" = always runs)


MODULES: dict[str, Module] = {m.name: m for m in (
    Module("self_telemetry", (), "Vigil's own traces (query API, PostgreSQL calls) over OTLP as service vigil",
           setting="self_telemetry"),
    # after the OTLP/HTTP receiver: the migrations' spans (self_telemetry) then have somewhere to go
    Module("metadata", (), "Vigil's own state in PostgreSQL (embedded or external), migrated at start",
           after=("self_telemetry", "otlp_http")),
    Module("columnar", (), "chDB / ClickHouse: schema migrations, reader, chunk sinks, part guard"),
    Module("ingest", ("columnar",), "the ingest spool: durable acknowledgement, flattening into columnar"),
    Module("otlp_grpc", ("ingest",), "OTLP/gRPC receiver"),
    Module("otlp_http", ("ingest",), "OTLP/HTTP receiver"),
    Module("host_metrics", ("otlp_http",), "this host's system.* metrics, sent to the OTLP/HTTP receiver",
           setting="host_metrics"),
    Module("live", ("columnar",), "the /ws feed's periodic dashboard-data snapshots (published while clients "
           "listen)"),
    Module("error_tracker", ("columnar", "metadata"), "scan exception span events and ERROR logs into issues "
           "every error_scan_interval_s; announce new and regressed issues as performance events",
           setting="error_tracker"),
    Module("alerts", ("columnar", "metadata"), "evaluate the Prometheus rule files every group interval (one "
           "evaluator per PostgreSQL: an advisory lock); state and history in PostgreSQL; alert events"),
    Module("api", ("columnar", "metadata"), "query API, /metrics, health, dashboard (+ freshness from ingest, "
           "tracing from self_telemetry, the alerting API from alerts)", after=("ingest", "self_telemetry", "alerts")),
)}

ROLES: dict[str, tuple[str, ...]] = {
    "all": ("self_telemetry", "columnar", "ingest", "otlp_grpc", "otlp_http", "metadata", "host_metrics", "live",
            "error_tracker", "alerts", "api"),
    "receiver": ("self_telemetry", "columnar", "ingest", "otlp_grpc", "otlp_http", "metadata", "host_metrics",
                 "live", "api"),
    "query": ("self_telemetry", "metadata", "columnar", "live", "error_tracker", "api"),
    "alerts": ("self_telemetry", "metadata", "columnar", "alerts"),
}


def switched_off(settings: object) -> frozenset[str]:
    """The modules whose ``setting`` is off on ``settings`` (a :class:`vigil.config.Config`)."""
    return frozenset(m.name for m in MODULES.values() if m.setting and not getattr(settings, m.setting))


def start_order(role: str, off: frozenset[str] = frozenset()) -> list[str]:
    """The role's modules except those ``off``, dependencies (and ``after``) first (ties in map order).

    Raises ValueError for an unknown role or a dependency the role does not run (or is switched off).
    """
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    wanted = [n for n in ROLES[role] if n not in off]
    for name in wanted:
        missing = [d for d in MODULES[name].deps if d not in wanted]
        if missing:
            raise ValueError(f"role {role}: module {name} needs {', '.join(missing)}")
    before = {n: [d for d in (*MODULES[n].deps, *MODULES[n].after) if d in wanted] for n in wanted}
    order: list[str] = []
    while len(order) < len(wanted):
        ready = [n for n in wanted if n not in order and all(d in order for d in before[n])]
        if not ready:
            raise ValueError(f"role {role}: dependency cycle among {sorted(set(wanted) - set(order))}")
        order.append(ready[0])
    return order


Builder = Callable[[dict[str, Component]], Component]


class Runtime:
    """Builds, starts, stops and reports on one role's components."""

    def __init__(self, role: str, builders: dict[str, Builder], off: frozenset[str] = frozenset()) -> None:
        """``builders[name](started)`` makes module ``name`` from the components built before it.

        Modules in ``off`` (see :func:`switched_off`) are not built.
        """
        self.order = start_order(role, off)
        self._builders = builders
        self.components: dict[str, Component] = {}

    async def start(self) -> None:
        """Build and start each module in order; on failure, stop what started and re-raise."""
        try:
            for name in self.order:
                component = self._builders[name](self.components)
                self.components[name] = component
                await component.start()
                log.debug("started %s", name)
        except BaseException:
            await self.stop(5.0)
            raise

    async def stop(self, timeout: float) -> None:
        """Stop every built component in reverse order; each gets what is left of ``timeout``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        for name in reversed(list(self.components)):
            try:
                await self.components[name].stop(max(0.0, deadline - loop.time()))
            except Exception:  # noqa: BLE001 - keep stopping the rest
                log.exception("stopping %s failed", name)
        self.components.clear()

    def health(self) -> dict[str, Any]:
        """``{"status": "ok"|"degraded", "components": {name: report}}``."""
        reports = {}
        for name, component in list(self.components.items()):
            report = component.health()
            if report is not None:
                reports[name] = report
        ok = all(r.get("status") == "ok" for r in reports.values())
        return {"status": "ok" if ok else "degraded", "components": reports}
