"""System metrics on real chDB with hand-made ``system.*`` points: CPU from counter deltas (with resets),
memory/disk ratios, loopback and partitions excluded, one reporter per host, threshold states, 400s."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from litestar.testing import TestClient

from query.api import build_app
from query.apm import system
from query.apm.system_models import HostSystem, SystemSettings
from query.apm.window import ApmWindow
from query.errors import BadRequest
from storage.clickhouse.client import connect
from storage.clickhouse.reader import ClickHouseReader

NOW = datetime.now(UTC).replace(microsecond=0)
T0 = datetime.fromtimestamp((int(NOW.timestamp()) - 1800) // 60 * 60, UTC)  # a bucket start, 30 min ago
B1, B2, B3 = (int(T0.timestamp()) + 60 * i for i in range(3))
WINDOW = ApmWindow(int((NOW - timedelta(hours=1)).timestamp() * 1e9), int(NOW.timestamp() * 1e9), 60)
COLUMNS = ["ResourceAttributes", "ServiceName", "MetricName", "Attributes", "StartTimeUnix", "TimeUnix", "Value",
           "AggregationTemporality", "IsMonotonic"]
START = T0 - timedelta(days=1)
GB = 1e9


def point(host: str, name: str, at_s: float, value: float, start: datetime = START, service: str = "agent",
          gauge: bool = False, **attrs: str) -> list[Any]:
    keys = {"cpu_mode": "cpu.mode", "state": "system.memory.state", "fs_state": "system.filesystem.state",
            "mount": "system.filesystem.mountpoint", "nic": "network.interface.name",
            "direction": "network.io.direction", "device": "system.device", "disk_dir": "disk.io.direction"}
    row = [{"host.name": host, "service.instance.id": "i1"}, service, name,
           {keys[k]: v for k, v in attrs.items()}, start, T0 + timedelta(seconds=at_s), value]
    return row if gauge else [*row, 2, name.endswith((".time", ".io"))]


def cpu_rows(host: str) -> list[list[Any]]:
    """idle/user seconds: B1 busy 15/30, B2 3/30 (then both reset at +90), B3 24/30."""
    later = START + timedelta(hours=1)
    idle = [(0, 100, START), (30, 115, START), (60, 142, START), (90, 5, START), (120, 11, START)]  # lower: reset
    user = [(0, 50, START), (30, 65, START), (60, 68, START), (90, 118, later), (120, 142, later)]  # new start
    return ([point(host, "system.cpu.time", t, v, s, cpu_mode="idle") for t, v, s in idle]
            + [point(host, "system.cpu.time", t, v, s, cpu_mode="user") for t, v, s in user])


def host_rows(host: str) -> list[list[Any]]:
    sums = cpu_rows(host)
    for t, used, free in [(10, 3 * GB, 1 * GB), (130, 3.9 * GB, 0.1 * GB)]:
        sums += [point(host, "system.memory.usage", t, used, state="used"),
                 point(host, "system.memory.usage", t, free, state="free"),
                 point(host, "system.memory.limit", t, 4 * GB)]
    sums += [point(host, "system.filesystem.usage", 10, 50, fs_state="used", mount="/"),
             point(host, "system.filesystem.usage", 10, 50, fs_state="free", mount="/"),
             point(host, "system.filesystem.limit", 10, 100, mount="/"),
             *(point(host, "system.filesystem.usage", 10, v, fs_state=s, mount="/data")  # no limit: sum of states
               for s, v in [("used", 90), ("free", 5), ("reserved", 5)])]
    for nic, scale in [("eth0", 1), ("lo", 1000)]:
        for t, rx, tx in [(0, 0, 0), (30, 6000, 3000), (60, 12000, 9000)]:
            sums += [point(host, "system.network.io", t, rx * scale, nic=nic, direction="receive"),
                     point(host, "system.network.io", t, tx * scale, nic=nic, direction="transmit")]
    for dev in ["sda", "sda1", "loop0"]:
        for t, read in [(0, 0), (30, 30000)]:
            sums += [point(host, "system.disk.io", t, read, device=dev, disk_dir="read"),
                     point(host, "system.disk.io", t, 0, device=dev, disk_dir="write")]
    sums.append(point(host, "system.cpu.logical.count", 10, 4))
    return sums


@pytest.fixture(scope="module")
def reader(chdb_dsn: str) -> ClickHouseReader:
    return ClickHouseReader(lambda: connect(chdb_dsn))


@pytest.fixture(scope="module")
def hosts(ch: Client) -> tuple[str, str]:
    main, other = f"sys-a-{uuid.uuid4().hex[:6]}", f"sys-b-{uuid.uuid4().hex[:6]}"
    rows = host_rows(main)
    # other: no memory limit, network reported identically by two agents (must not double)
    rows += [point(other, "system.memory.usage", 10, v, state=s) for s, v in [("used", 1.0), ("free", 3.0)]]
    for service in ("agent", "second-agent"):
        rows += [point(other, "system.network.io", t, rx, service=service, nic="eth0", direction="receive")
                 for t, rx in [(0, 0), (30, 3000)]]
    ch.insert("otel_metrics_sum", rows, column_names=COLUMNS)
    return main, other


def _only(reader: ClickHouseReader, host: str, settings: SystemSettings | None = None) -> HostSystem:
    got = system.system_metrics(reader, WINDOW, settings, host=host)
    assert [h.host for h in got.hosts] == [host]
    return got.hosts[0]


def _values(series: list[Any]) -> dict[int, float]:
    return {p.t: p.value for p in series if p.value is not None}


def test_cpu_busy_from_counter_deltas_skips_resets(reader: ClickHouseReader, hosts: tuple[str, str]) -> None:
    h = _only(reader, hosts[0])
    assert _values(h.cpu.series) == pytest.approx({B1: 0.5, B2: 0.1, B3: 0.8})
    assert h.cpu.current == pytest.approx(0.8)
    assert h.cpu.state == "warning"  # 80 % is the default warning threshold, below critical 90
    assert len(h.cpu.series) == len(WINDOW.bucket_starts_s())
    assert h.cpu_count == 4


def test_memory_and_disk_ratios(reader: ClickHouseReader, hosts: tuple[str, str]) -> None:
    h = _only(reader, hosts[0])
    assert _values(h.memory.series) == pytest.approx({B1: 0.75, B3: 0.975})
    assert h.memory.current == pytest.approx(0.975) and h.memory.state == "critical"
    assert (h.memory_limit_bytes, h.memory_used_bytes) == (4_000_000_000, 3_900_000_000)
    assert h.disk.current == pytest.approx(0.9) and (h.disk.mountpoint, h.disk.state) == ("/data", "warning")
    other = _only(reader, hosts[1])
    assert other.memory.current == pytest.approx(0.25) and other.memory.state == "ok"  # used / sum of states
    assert (other.disk.current, other.disk.state, other.disk.mountpoint) == (None, None, None)
    assert other.cpu.current is None and other.cpu_count is None and other.disk_io is None


def test_network_excludes_loopback_and_disk_io_whole_disks(reader: ClickHouseReader,
                                                           hosts: tuple[str, str]) -> None:
    h = _only(reader, hosts[0])
    assert _values(h.network.receive.series) == pytest.approx({B1: 200.0, B2: 200.0})
    assert _values(h.network.transmit.series) == pytest.approx({B1: 100.0, B2: 200.0})
    assert h.network.receive.current == pytest.approx(200.0)
    assert h.disk_io is not None
    assert _values(h.disk_io.read.series) == pytest.approx({B1: 1000.0})
    assert _values(h.disk_io.write.series) == pytest.approx({B1: 0.0})


def test_one_reporter_per_host(reader: ClickHouseReader, hosts: tuple[str, str]) -> None:
    assert _values(_only(reader, hosts[1]).network.receive.series) == pytest.approx({B1: 100.0})


def test_thresholds_come_from_settings(reader: ClickHouseReader, hosts: tuple[str, str]) -> None:
    strict = SystemSettings(cpu_warning_percent=50, cpu_critical_percent=79, memory_warning_percent=98,
                            memory_critical_percent=99, disk_warning_percent=91, disk_critical_percent=95)
    h = _only(reader, hosts[0], strict)
    assert (h.cpu.state, h.memory.state, h.disk.state) == ("critical", "ok", "ok")
    assert (h.cpu.warning_percent, h.cpu.critical_percent) == (50, 79)
    assert system.threshold_state(None, 80, 90) is None


def test_host_filter_and_every_host(reader: ClickHouseReader, hosts: tuple[str, str]) -> None:
    names = [h.host for h in system.system_metrics(reader, WINDOW).hosts]
    assert set(hosts) <= set(names) and names == sorted(names)
    assert system.system_metrics(reader, WINDOW, host="no-such-host").hosts == []
    with pytest.raises(BadRequest) as err:
        system.system_metrics(reader, WINDOW, host="")
    assert err.value.parameter == "host"


@pytest.fixture
def client(reader: ClickHouseReader) -> Iterator[TestClient[Any]]:
    app = build_app(reader, lambda: {"status": "ok", "components": {}},
                    dependencies={"system_settings": SystemSettings(cpu_warning_percent=10, cpu_critical_percent=70)})
    with TestClient(app) as c:
        yield c


def test_endpoint_answers_typed_with_settings(client: TestClient[Any], hosts: tuple[str, str]) -> None:
    r = client.get("/api/metrics/system", params={"range": "1h", "host": hosts[0]})
    assert r.status_code == 200, r.text
    assert "vigil-data-complete" in r.headers
    body = r.json()
    assert body["step_s"] == 60 and "meta" in body
    (h,) = body["hosts"]
    assert (h["cpu"]["state"], h["cpu"]["warning_percent"]) == ("critical", 10)
    assert h["disk"]["mountpoint"] == "/data"


@pytest.mark.parametrize(("params", "parameter"), [
    ({"range": "2h"}, "range"), ({"start": "yesterday"}, "start"), ({"host": ""}, "host"),
    ({"host": "x" * 300}, "host"), ({"start": "1700000000", "end": "1600000000"}, "start"),
])
def test_bad_parameters_are_400_naming_them(client: TestClient[Any], params: dict[str, str], parameter: str) -> None:
    r = client.get("/api/metrics/system", params=params)
    assert r.status_code == 400, r.text
    assert r.json()["detail"]["parameter"] == parameter
