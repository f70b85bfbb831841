"""The module map: dependency order per role, start/stop order, start failures, combined health."""

from __future__ import annotations

from typing import Any

import pytest

from vigil.modules import MODULES, ROLES, Runtime, start_order


def test_every_role_starts_dependencies_first() -> None:
    for role in ROLES:
        order = start_order(role)
        assert sorted(order) == sorted(ROLES[role])
        for i, name in enumerate(order):
            assert all(order.index(dep) < i for dep in MODULES[name].deps), (role, order)


def test_roles_run_what_the_docs_say() -> None:
    assert "ingest" not in start_order("query") and "otlp_http" not in start_order("query")
    assert start_order("all")[-1] == "api"
    assert start_order("all").index("alerts") < start_order("all").index("api")  # the API mounts its routes
    assert start_order("alerts") == ["self_telemetry", "metadata", "columnar", "alerts"]  # the evaluator only
    with pytest.raises(ValueError, match="unknown role"):
        start_order("bogus")


class Part:
    def __init__(self, name: str, log: list[str], fail: bool = False, status: str = "ok") -> None:
        self.name, self.log, self.fail, self.status = name, log, fail, status

    async def start(self) -> None:
        if self.fail:
            raise RuntimeError(f"{self.name} broke")
        self.log.append(f"start {self.name}")

    async def stop(self, timeout: float) -> None:
        self.log.append(f"stop {self.name}")

    def health(self) -> dict[str, Any] | None:
        return None if self.name.startswith("otlp") else {"status": self.status}


async def test_runtime_stops_in_reverse_order_and_combines_health() -> None:
    log: list[str] = []
    runtime = Runtime("all", {name: (lambda n: lambda built: Part(n, log))(name) for name in MODULES})
    await runtime.start()
    assert log == [f"start {n}" for n in start_order("all")]
    health = runtime.health()
    assert health["status"] == "ok"
    assert set(health["components"]) == set(ROLES["all"]) - {"otlp_grpc", "otlp_http"}  # those report None
    runtime.components["columnar"].status = "error"  # type: ignore[attr-defined]
    assert runtime.health()["status"] == "degraded"
    log.clear()
    await runtime.stop(1.0)
    assert log == [f"stop {n}" for n in reversed(start_order("all"))]


async def test_a_start_failure_stops_what_had_started() -> None:
    log: list[str] = []
    runtime = Runtime("query", {name: (lambda n: lambda built: Part(n, log, fail=n == "api"))(name)
                                for name in MODULES})
    with pytest.raises(RuntimeError, match="api broke"):
        await runtime.start()
    before = start_order("query")[:start_order("query").index("api")]
    assert log == [f"start {n}" for n in before] + ["stop api"] + [f"stop {n}" for n in reversed(before)]
