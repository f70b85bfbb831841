"""System metrics from what a real agent stored: the ``demo`` fixture's Vigil reports this host every second.

The demo's stored ``system.*`` points are read back through its ``/api/metrics/points`` and copied,
unchanged but for a unique ``host.name``, into the session chDB, where ``/api/metrics/system`` (this
test's app) answers over them; the answer is compared with psutil and with a plain-Python recomputation
from the same points. When the demo's own Vigil serves ``/api/metrics/system`` it is checked too.
"""

from __future__ import annotations

import socket
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import psutil
import pytest
from clickhouse_connect.driver.client import Client
from litestar.testing import TestClient

from instrumentation.hostmetrics import filesystems
from query.api import build_app
from query.apm.system import LOOPBACK
from storage.clickhouse.client import connect
from storage.clickhouse.reader import ClickHouseReader
from tests.demo_fixture import DemoData

NAMES = ["system.cpu.time", "system.memory.usage", "system.memory.limit", "system.filesystem.usage",
         "system.filesystem.limit", "system.network.io", "system.disk.io", "system.cpu.logical.count"]
COLUMNS = ["ResourceAttributes", "ServiceName", "MetricName", "Attributes", "StartTimeUnix", "TimeUnix", "Value",
           "AggregationTemporality", "IsMonotonic"]


def _ts(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, UTC)


@pytest.fixture(scope="module")
def stored(demo: DemoData) -> dict[str, list[dict[str, Any]]]:
    """The demo's stored points of every system metric since the load started (oldest first)."""
    out = {}
    for name in NAMES:
        r = httpx.get(demo.vigil.api + "/api/metrics/points",
                      params={"name": name, "start": demo.started_s, "limit": 10000}, timeout=30)
        assert r.status_code == 200, (name, r.text)
        out[name] = sorted(r.json()["points"], key=lambda p: p["time_unix_nano"])
    return out


@pytest.fixture(scope="module")
def copy_host(ch: Client, stored: dict[str, list[dict[str, Any]]]) -> str:
    host = f"demo-copy-{uuid.uuid4().hex[:6]}"
    rows = [[{**p["resource_attributes"], "host.name": host}, p["service_name"], name, p["attributes"],
             _ts(p["start_time_unix_nano"]), _ts(p["time_unix_nano"]), p["value"], p["aggregation_temporality"],
             p["is_monotonic"]] for name, points in stored.items() for p in points]
    ch.insert("otel_metrics_sum", rows, column_names=COLUMNS)
    return host


@pytest.fixture(scope="module")
def client(chdb_dsn: str) -> Iterator[TestClient[Any]]:
    reader = ClickHouseReader(lambda: connect(chdb_dsn))
    with TestClient(build_app(reader, lambda: {"status": "ok", "components": {}})) as c:
        yield c


@pytest.fixture(scope="module")
def answer(client: TestClient[Any], demo: DemoData, copy_host: str) -> dict[str, Any]:
    r = client.get("/api/metrics/system", params={"start": str(int(demo.started_s)), "end": str(int(time.time())),
                                                  "host": copy_host})
    assert r.status_code == 200, r.text
    (host,) = r.json()["hosts"]
    return {"step_s": r.json()["step_s"], **host}


def test_the_agent_reports_this_host_as_semconv_sums(stored: dict[str, list[dict[str, Any]]]) -> None:
    for name in NAMES:
        points = stored[name]
        assert points, name
        assert {p["resource_attributes"]["host.name"] for p in points} == {socket.gethostname()}, name
        assert {p["aggregation_temporality"] for p in points} == {2}, name  # cumulative
    assert {p["attributes"]["system.memory.state"] for p in stored["system.memory.usage"]} >= {"used", "free"}
    assert {p["is_monotonic"] for p in stored["system.cpu.time"]} == {True}
    assert {p["is_monotonic"] for p in stored["system.memory.usage"]} == {False}


def test_counts_and_limits_match_psutil(answer: dict[str, Any]) -> None:
    assert answer["cpu_count"] == psutil.cpu_count(logical=True)
    assert answer["memory_limit_bytes"] == psutil.virtual_memory().total
    assert answer["memory"]["current"] == pytest.approx(answer["memory_used_bytes"] / answer["memory_limit_bytes"])
    vm = psutil.virtual_memory()
    assert answer["memory"]["current"] == pytest.approx((vm.total - vm.available) / vm.total, abs=0.1)


def test_fractions_are_fractions_with_states(answer: dict[str, Any]) -> None:
    for figure in ("cpu", "memory", "disk"):
        values = [p["value"] for p in answer[figure]["series"] if p["value"] is not None]
        assert values and all(0 <= v <= 1 for v in values), figure
        assert answer[figure]["current"] == values[-1]
        assert answer[figure]["state"] in {"ok", "warning", "critical"}


def test_disk_is_the_fullest_filesystem(answer: dict[str, Any]) -> None:
    usage = {}
    for _, mount, _, _ in filesystems():
        du = psutil.disk_usage(mount)
        usage[mount] = du.used / du.total
    assert answer["disk"]["mountpoint"] in usage
    assert answer["disk"]["current"] == pytest.approx(max(usage.values()), abs=0.02)


def _bucket(ns: int, step: int) -> int:
    return int(ns // 1_000_000_000) // step * step


def _deltas(points: list[dict[str, Any]], step: int, key: Any) -> dict[tuple[Any, int, Any], list[float]]:
    """Per (series, bucket, key): [Σ delta, Σ seconds] of consecutive cumulative points (no reset)."""
    series: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for p in points:
        series[(p["service_name"], tuple(sorted(p["attributes"].items())))].append(p)
    out: dict[tuple[Any, int, Any], list[float]] = defaultdict(lambda: [0.0, 0.0])
    for sid, ps in series.items():
        for prev, cur in zip(ps, ps[1:], strict=False):
            if cur["start_time_unix_nano"] != prev["start_time_unix_nano"] or cur["value"] < prev["value"]:
                continue
            acc = out[(sid, _bucket(cur["time_unix_nano"], step), key(cur))]
            acc[0] += cur["value"] - prev["value"]
            acc[1] += (cur["time_unix_nano"] - prev["time_unix_nano"]) / 1e9
    return out


def test_cpu_and_network_match_a_recomputation(answer: dict[str, Any],
                                               stored: dict[str, list[dict[str, Any]]]) -> None:
    step = answer["step_s"]
    idle: dict[int, float] = defaultdict(float)
    total: dict[int, float] = defaultdict(float)
    for (_, t, mode), (d, _) in _deltas(stored["system.cpu.time"], step, lambda p: p["attributes"]["cpu.mode"]).items():
        total[t] += d
        idle[t] += d if mode == "idle" else 0.0
    want_cpu = {t: 1 - idle[t] / total[t] for t in total if total[t] > 0}
    got_cpu = {p["t"]: p["value"] for p in answer["cpu"]["series"] if p["value"] is not None}
    assert len(got_cpu) >= 2 and got_cpu == pytest.approx(want_cpu)
    net = [p for p in stored["system.network.io"] if p["attributes"]["network.interface.name"] not in LOOPBACK]
    rates: dict[tuple[int, str], float] = defaultdict(float)
    for (_, t, direction), (d, e) in _deltas(net, step, lambda p: p["attributes"]["network.io.direction"]).items():
        if e > 0:
            rates[(t, direction)] += d / e
    for direction in ("receive", "transmit"):
        got = {p["t"]: p["value"] for p in answer["network"][direction]["series"] if p["value"] is not None}
        assert got and got == pytest.approx({t: rates[(t, direction)] for t in got}), direction


def test_the_demo_vigil_serves_it(demo: DemoData) -> None:
    r = httpx.get(demo.vigil.api + "/api/metrics/system", params={"start": demo.started_s,
                                                                   "host": socket.gethostname()}, timeout=30)
    assert r.status_code == 200, r.text
    (host,) = r.json()["hosts"]
    assert (host["host"], host["cpu_count"]) == (socket.gethostname(), psutil.cpu_count(logical=True))
    assert host["memory_limit_bytes"] == psutil.virtual_memory().total
    assert 0 <= host["cpu"]["current"] <= 1 and 0 <= host["memory"]["current"] <= 1
    bad = httpx.get(demo.vigil.api + "/api/metrics/system", params={"range": "3h"}, timeout=30)
    assert bad.status_code == 400 and bad.json()["detail"]["parameter"] == "range"
