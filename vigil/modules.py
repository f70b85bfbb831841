"""The module map: which components each role runs, what each depends on, and how they start and stop.

In the style of Tempo's ``cmd/tempo/app/modules.go``. :data:`MODULES` names every component and its
dependencies; :data:`ROLES` lists the modules of each ``--role``; :func:`start_order` gives the
dependency order (dependencies first). :class:`Runtime` builds and starts a role's components in that
order — stores in a worker thread, listeners on the loop — stops them in reverse order, and combines
their health. Health: every component that reports one appears under its name; the whole is ``ok``
only when each is.
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


MODULES: dict[str, Module] = {m.name: m for m in (
    Module("metadata", (), "Vigil's own state in PostgreSQL (embedded or external), migrated at start"),
    Module("columnar", (), "chDB / ClickHouse: schema migrations, reader, chunk sinks, part guard"),
    Module("ingest", ("columnar",), "the ingest spool: durable acknowledgement, flattening into columnar"),
    Module("otlp_grpc", ("ingest",), "OTLP/gRPC receiver"),
    Module("otlp_http", ("ingest",), "OTLP/HTTP receiver"),
    Module("api", ("columnar", "metadata"), "query API, /metrics, health, dashboard (+ freshness from ingest)"),
)}

ROLES: dict[str, tuple[str, ...]] = {
    "all": ("metadata", "columnar", "ingest", "otlp_grpc", "otlp_http", "api"),
    "receiver": ("metadata", "columnar", "ingest", "otlp_grpc", "otlp_http", "api"),
    "query": ("metadata", "columnar", "api"),
    # "alerts": ("metadata", "columnar", "alerts") — the alert evaluator's role, with the alerting issue
}


def start_order(role: str) -> list[str]:
    """The role's modules, every dependency before its dependents (ties in map order).

    Raises ValueError for an unknown role or a dependency the role does not run.
    """
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    wanted = ROLES[role]
    for name in wanted:
        missing = [d for d in MODULES[name].deps if d not in wanted]
        if missing:
            raise ValueError(f"role {role}: module {name} needs {', '.join(missing)}")
    order: list[str] = []
    while len(order) < len(wanted):
        ready = [n for n in wanted if n not in order and all(d in order for d in MODULES[n].deps)]
        if not ready:
            raise ValueError(f"role {role}: dependency cycle among {sorted(set(wanted) - set(order))}")
        order.append(ready[0])
    return order


Builder = Callable[[dict[str, Component]], Component]


class Runtime:
    """Builds, starts, stops and reports on one role's components."""

    def __init__(self, role: str, builders: dict[str, Builder]) -> None:
        """``builders[name](started)`` makes module ``name`` from the components built before it."""
        self.order = start_order(role)
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
