"""In-process host metrics of ``vigil serve`` (``host_metrics``, on by default): this host's ``system.*`` metrics.

A dedicated server collecting every second, with ingest auth on, stores ``system.cpu.utilization`` and
``system.memory.usage`` points as ``service.name=vigil-agent`` with this host's ``host.name``, read
back through the raw metric points API; one with ``VIGIL_HOST_METRICS=off`` stores none. Settings,
flags and the module map are checked in process.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.vigil_process import VigilProcess, start_server
from vigil.cli import _parser
from vigil.config import Config, ConfigError, load
from vigil.modules import start_order, switched_off

TOKEN = "host-metrics-token-" + "0a1b2c3d"
SERVICE = "vigil-agent"
FAST = {"VIGIL_HOST_METRICS_INTERVAL_S": "1s", "VIGIL_AUTH_TOKENS": TOKEN}


@pytest.fixture(scope="module")
def collecting(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VigilProcess]:
    proc = start_server(tmp_path_factory.mktemp("hostmetrics-on"), dict(FAST))
    yield proc
    proc.stop()


def points(server: VigilProcess, name: str, **params: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{server.api}/api/metrics/points", params={"name": name, "range": "1h", **params}, timeout=30)
    if r.status_code == 404:  # no such metric (yet)
        return []
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()["points"]
    return found


def wait_for_points(server: VigilProcess, name: str, timeout: float = 45.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while not (found := points(server, name, service=SERVICE)) and time.monotonic() < deadline:
        time.sleep(0.5)
    return found


def test_host_metrics_arrive_as_vigil_agent_with_host_name(collecting: VigilProcess) -> None:
    cpu = wait_for_points(collecting, "system.cpu.utilization")
    assert cpu, "no system.cpu.utilization points"
    memory = wait_for_points(collecting, "system.memory.usage")
    assert memory, "no system.memory.usage points"
    for p in cpu + memory:
        assert p["service_name"] == SERVICE
        assert p["resource_attributes"]["service.name"] == SERVICE
        assert p["resource_attributes"]["host.name"] == socket.gethostname()
    assert all(0.0 <= p["value"] <= 1.0 for p in cpu)
    assert "cpu.mode" in cpu[0]["attributes"]
    used = [p for p in memory if p["attributes"].get("system.memory.state") == "used"]
    assert used and all(p["value"] > 0 for p in used)


def test_host_metrics_keep_coming_at_the_interval(collecting: VigilProcess) -> None:
    wait_for_points(collecting, "system.memory.usage")
    first = {p["time_unix_nano"] for p in points(collecting, "system.memory.usage", service=SERVICE)}
    time.sleep(3.0)  # three intervals of 1 s
    later = {p["time_unix_nano"] for p in points(collecting, "system.memory.usage", service=SERVICE)}
    assert len(later - first) >= 1, "no new collection within three intervals"


def test_health_shows_the_host_metrics_module(collecting: VigilProcess) -> None:
    wait_for_points(collecting, "system.memory.usage")
    report = httpx.get(f"{collecting.api}/api/health", timeout=30).json()["components"]["host_metrics"]
    assert report["status"] == "ok" and report["interval_s"] == 1.0
    assert report["endpoint"] == f"{collecting.otlp_http}/v1/metrics"
    assert report["exports"] >= 1 and report["failing_exports"] == 0 and report["last_error"] is None
    assert report["host_name"] == socket.gethostname()


def test_session_server_collects_host_metrics_every_10s(vigil: VigilProcess) -> None:
    report = httpx.get(f"{vigil.api}/api/health", timeout=30).json()["components"]["host_metrics"]
    assert report["status"] == "ok" and report["interval_s"] == 10.0


def test_switched_off_no_host_metrics_arrive(tmp_path_factory: pytest.TempPathFactory) -> None:
    proc = start_server(tmp_path_factory.mktemp("hostmetrics-off"), {**FAST, "VIGIL_HOST_METRICS": "off"})
    try:
        assert "host_metrics" not in httpx.get(f"{proc.api}/api/health", timeout=30).json()["components"]
        time.sleep(3.0)  # three intervals: an agent running anyway would have sent by now
        assert points(proc, "system.cpu.utilization") == [] and points(proc, "system.memory.usage") == []
        names = httpx.get(f"{proc.api}/api/metrics/names", params={"range": "1h"}, timeout=30).json()["metrics"]
        assert [m["name"] for m in names if m["name"].startswith("system.")] == []
    finally:
        proc.stop()


# --------------------------------------------------------------------------- settings and the module map


def test_settings_flags_and_module_map() -> None:
    assert (Config().host_metrics, Config().host_metrics_interval_s) == (True, 10.0)
    assert load(None, env={"VIGIL_HOST_METRICS": "off"}).host_metrics is False
    assert load(None, env={"VIGIL_HOST_METRICS_INTERVAL_S": "1m30s"}).host_metrics_interval_s == 90.0
    assert load(None, overrides={"host_metrics_interval_s": "2.5"}).host_metrics_interval_s == 2.5
    with pytest.raises(ConfigError, match="host_metrics_interval_s must be >= 0.1"):
        load(None, env={"VIGIL_HOST_METRICS_INTERVAL_S": "0"})
    assert _parser().parse_args(["serve", "--no-host-metrics"]).host_metrics == "false"
    assert _parser().parse_args(["serve", "--host-metrics", "off"]).host_metrics == "off"
    assert _parser().parse_args(["serve", "--host-metrics"]).host_metrics == "true"
    assert load(None, env={"VIGIL_HOST_METRICS": "on"}, overrides={"host_metrics": "false"}).host_metrics is False

    default = switched_off(Config())
    for role in ("all", "receiver"):
        order = start_order(role, default)
        # it sends to our own OTLP/HTTP receiver: started after it, stopped before it
        assert order.index("otlp_http") < order.index("host_metrics") < order.index("api"), order
    assert "host_metrics" not in start_order("query", default)  # no receiver of its own
    assert "host_metrics" not in start_order("all", switched_off(load(None, env={"VIGIL_HOST_METRICS": "off"})))
