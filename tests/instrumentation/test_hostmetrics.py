"""instrumentation.hostmetrics on a real SDK MeterProvider, read by InMemoryMetricReader and checked
against the semconv table (semconv_system.py) and against psutil read at the same moment.

Tolerances: counters lie between psutil's values read just before and just after the collection
(exact); memory states within 32 MiB of the range psutil gave before and after; filesystem usage within
1% of the filesystem's size (``psutil.disk_usage``), and used + free + reserved equal to it exactly;
load average between the values before and after; CPU utilization within 0.1 of the utilization
computed from psutil's own snapshots; the process count within max(10, 5%) of ``len(psutil.pids())``."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psutil
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import Gauge, InMemoryMetricReader, Metric, NumberDataPoint, Sum

from instrumentation.hostmetrics import SCHEMA_URL, SCOPE_NAME, install_host_metrics
from tests.instrumentation.semconv_system import INT_ATTRIBUTES, SYSTEM_METRICS, WELL_KNOWN_VALUES

LINUX = sys.platform.startswith("linux")
# spec attributes the agent does not set, and why
OMITTED = {
    "system.paging.usage": {"system.device"},  # psutil gives swap totals, not per device
    "system.paging.utilization": {"system.device"},
    "system.paging.operations": {"system.paging.fault.type"},  # pswpin/pswpout are swap pages, not faults
}
MEMORY_SLACK = 32 << 20  # bytes beyond psutil's before/after range (memory freed and allocated meanwhile)
LINUX_ONLY = {"system.paging.operations", "system.paging.faults", "system.disk.io_time"}
# psutil's Linux cpu_times fields per cpu.mode, written out here independently of the module
LINUX_MODES = {"user": ("user",), "nice": ("nice",), "system": ("system",), "idle": ("idle",),
               "iowait": ("iowait",), "interrupt": ("irq", "softirq"), "steal": ("steal",)}


@dataclass
class Collected:
    metrics: dict[str, Metric]

    def points(self, name: str) -> list[tuple[dict[str, Any], float]]:
        points = self.metrics[name].data.data_points
        assert all(isinstance(p, NumberDataPoint) for p in points), name
        return [(dict(p.attributes or {}), p.value) for p in points if isinstance(p, NumberDataPoint)]

    def by(self, name: str, *keys: str) -> dict[tuple[Any, ...], float]:
        """Point values keyed by the values of ``keys`` (which must identify each point)."""
        out = {tuple(attrs[k] for k in keys): value for attrs, value in self.points(name)}
        assert len(out) == len(self.points(name)), f"{name}: {keys} do not identify the points"
        return out

    def value(self, name: str) -> float:
        [(_, value)] = self.points(name)
        return value


@pytest.fixture
def reader() -> Iterator[InMemoryMetricReader]:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
    host = install_host_metrics(provider)
    yield reader
    host.close()
    provider.shutdown()


def collect(reader: InMemoryMetricReader) -> Collected:
    data = reader.get_metrics_data()
    assert data is not None
    metrics: dict[str, Metric] = {}
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            assert (sm.scope.name, sm.schema_url) == (SCOPE_NAME, SCHEMA_URL)
            metrics.update({m.name: m for m in sm.metrics})
    return Collected(metrics)


def instrument(metric: Metric) -> str:
    if isinstance(metric.data, Gauge):
        return "gauge"
    assert isinstance(metric.data, Sum)
    return "counter" if metric.data.is_monotonic else "updowncounter"


def within(value: float, before: float, after: float, slack: float = 0.0) -> bool:
    return min(before, after) - slack <= value <= max(before, after) + slack


# ---------------------------------------------------------------------------------------- semconv
def test_every_metric_matches_the_semantic_conventions(reader: InMemoryMetricReader) -> None:
    got = collect(reader)
    expected = {n for n in SYSTEM_METRICS if LINUX or n not in LINUX_ONLY}
    # hosts (containers) without physical partitions or disk statistics have no such series
    expected -= set() if psutil.disk_partitions(all=False) else {n for n in expected if ".filesystem." in n}
    expected -= set() if psutil.disk_io_counters(perdisk=True) else {n for n in expected if ".disk." in n}
    assert set(got.metrics) - set(SYSTEM_METRICS) == set(), "metrics outside the table (process.*, cpython.*…)"
    assert expected - set(got.metrics) == set(), "table metrics not reported"
    for name, metric in got.metrics.items():
        spec = SYSTEM_METRICS[name]
        assert (metric.unit, instrument(metric)) == (spec.unit, spec.instrument), name
        keys = set(spec.attributes) - OMITTED.get(name, set())
        assert metric.data.data_points, f"{name}: no points"
        for attrs, value in got.points(name):
            assert set(attrs) == keys, f"{name}: {sorted(attrs)} != {sorted(keys)}"
            assert isinstance(value, int | float)
            for key, attr in attrs.items():
                assert isinstance(attr, int if key in INT_ATTRIBUTES else str), (name, key, attr)
                if key in WELL_KNOWN_VALUES and key != "process.state":
                    assert attr in WELL_KNOWN_VALUES[key], (name, key, attr)


def test_the_table_is_the_semconv_one() -> None:
    """Spot checks of rows against the spec text, so a typo in the oracle cannot hide one in the module."""
    assert SYSTEM_METRICS["system.cpu.time"].attributes == {"cpu.mode": "recommended", "cpu.logical_number": "opt_in"}
    assert SYSTEM_METRICS["system.network.packet.dropped"].unit == "{packet}"
    assert "system.device" in SYSTEM_METRICS["system.network.packet.count"].attributes
    assert SYSTEM_METRICS["system.memory.usage"].instrument == "updowncounter"


# -------------------------------------------------------------------------------------------- cpu
def test_cpu_time_and_count_per_logical_cpu(reader: InMemoryMetricReader) -> None:
    before = psutil.cpu_times(percpu=True)
    got = collect(reader)
    after = psutil.cpu_times(percpu=True)
    cpus = psutil.cpu_count()
    assert got.value("system.cpu.logical.count") == cpus
    times = got.by("system.cpu.time", "cpu.logical_number", "cpu.mode")
    assert {cpu for cpu, _ in times} == set(range(cpus))
    if LINUX:
        assert {mode for _, mode in times} == set(LINUX_MODES)
        for (cpu, mode), seconds in times.items():
            b, a = (sum(getattr(t[cpu], f) for f in LINUX_MODES[mode]) for t in (before, after))
            assert within(seconds, b, a, 1e-9), (cpu, mode, b, seconds, a)


def test_cpu_utilization_is_the_share_of_time_since_the_last_collection(reader: InMemoryMetricReader) -> None:
    collect(reader)
    start = psutil.cpu_times(percpu=True)
    time.sleep(0.5)
    got = collect(reader)
    end = psutil.cpu_times(percpu=True)
    util = got.by("system.cpu.utilization", "cpu.logical_number", "cpu.mode")
    for cpu in range(psutil.cpu_count() or 0):
        modes = {m: v for (c, m), v in util.items() if c == cpu}
        assert all(0.0 <= v <= 1.0 for v in modes.values())
        assert sum(modes.values()) == pytest.approx(1.0, abs=1e-6)
        if LINUX:
            delta = {m: sum(getattr(end[cpu], f) - getattr(start[cpu], f) for f in fs) for m, fs in LINUX_MODES.items()}
            total = sum(delta.values())
            for mode, fraction in modes.items():
                assert fraction == pytest.approx(delta[mode] / total, abs=0.1), (cpu, mode)


def test_load_average(reader: InMemoryMetricReader) -> None:
    before = psutil.getloadavg()
    got = collect(reader)
    after = psutil.getloadavg()
    for i, window in enumerate(("1m", "5m", "15m")):
        assert within(got.value(f"system.cpu.load_average.{window}"), before[i], after[i], 1e-6), window


# ----------------------------------------------------------------------------------------- memory
def test_memory_by_state(reader: InMemoryMetricReader) -> None:
    before = psutil.virtual_memory()
    got = collect(reader)
    after = psutil.virtual_memory()
    total = before.total
    slack = MEMORY_SLACK
    assert got.value("system.memory.limit") == total
    usage = got.by("system.memory.usage", "system.memory.state")
    if LINUX:
        assert set(usage) == {("used",), ("free",), ("buffers",), ("cached",)}
    # semconv: used is "MemTotal - MemAvailable"
    assert within(usage[("used",)], total - before.available, total - after.available, slack)
    for state, in usage:
        if state != "used":
            assert within(usage[(state,)], getattr(before, state), getattr(after, state), slack), state
    utilization = got.by("system.memory.utilization", "system.memory.state")
    assert set(utilization) == set(usage)
    for key, value in usage.items():
        assert utilization[key] == pytest.approx(value / total, abs=0.01), key


def test_paging(reader: InMemoryMetricReader) -> None:
    vm_before = _vmstat()
    got = collect(reader)
    vm_after = _vmstat()
    swap = psutil.swap_memory()
    usage = got.by("system.paging.usage", "system.paging.state")
    assert usage[("used",)] + usage[("free",)] == swap.total
    utilization = got.by("system.paging.utilization", "system.paging.state")
    expected = {k: (v / swap.total if swap.total else 0.0) for k, v in usage.items()}
    assert utilization == pytest.approx(expected, abs=0.01)
    if not LINUX:
        return
    ops = got.by("system.paging.operations", "system.paging.direction")
    for (direction,), value in ops.items():
        assert within(value, vm_before[f"pswp{direction}"], vm_after[f"pswp{direction}"]), direction
    faults = got.by("system.paging.faults", "system.paging.fault.type")
    assert within(faults[("major",)], vm_before["pgmajfault"], vm_after["pgmajfault"])
    # minor = pgfault - pgmajfault: bounded by the extreme combinations of both readings
    assert vm_before["pgfault"] - vm_after["pgmajfault"] <= faults[("minor",)]
    assert faults[("minor",)] <= vm_after["pgfault"] - vm_before["pgmajfault"]


def _vmstat() -> dict[str, int]:
    if not LINUX:
        return {}
    with open("/proc/vmstat") as f:
        return {k: int(v) for k, v in (line.split() for line in f)}


# ------------------------------------------------------------------------------ disk, filesystem
def test_filesystems_per_mountpoint(reader: InMemoryMetricReader) -> None:
    got = collect(reader)
    partitions = {p.mountpoint: p for p in reversed(psutil.disk_partitions(all=False))}
    limit = got.by("system.filesystem.limit", "system.filesystem.mountpoint")
    assert {m for m, in limit} == set(partitions)
    usage = got.by("system.filesystem.usage", "system.filesystem.mountpoint", "system.filesystem.state")
    utilization = got.by("system.filesystem.utilization", "system.filesystem.mountpoint", "system.filesystem.state")
    for attrs, _ in got.points("system.filesystem.usage"):
        part = partitions[attrs["system.filesystem.mountpoint"]]
        assert attrs["system.device"] == part.device
        assert attrs["system.filesystem.type"] == part.fstype
        assert attrs["system.filesystem.mode"] == ("ro" if "ro" in part.opts.split(",") else "rw")
    for mountpoint in partitions:
        du = psutil.disk_usage(mountpoint)
        assert limit[(mountpoint,)] == du.total
        states = {s: usage[(mountpoint, s)] for s in ("used", "free", "reserved")}
        assert sum(states.values()) == du.total, "used + free + reserved is the size"
        assert states["used"] == pytest.approx(du.used, abs=du.total / 100)
        assert states["free"] == pytest.approx(du.free, abs=du.total / 100)
        for state, value in states.items():
            assert utilization[(mountpoint, state)] == pytest.approx(value / du.total, abs=0.01)


def test_disk_counters_per_device_and_direction(reader: InMemoryMetricReader) -> None:
    before = psutil.disk_io_counters(perdisk=True)
    got = collect(reader)
    after = psutil.disk_io_counters(perdisk=True)
    devices = set(before) & set(after)
    assert devices, "psutil sees no disks"
    checks = {"system.disk.io": ("bytes", 1), "system.disk.operations": ("count", 1),
              "system.disk.operation_time": ("time", 1000)}
    for name, (field, divisor) in checks.items():
        values = got.by(name, "system.device", "disk.io.direction")
        assert {d for d, _ in values} >= devices
        for device in devices:
            for direction in ("read", "write"):
                b, a = (getattr(s[device], f"{direction}_{field}") / divisor for s in (before, after))
                assert within(values[(device, direction)], b, a), (name, device, direction)
    if LINUX:
        busy = got.by("system.disk.io_time", "system.device")
        for device in devices:
            assert within(busy[(device,)], before[device].busy_time / 1000, after[device].busy_time / 1000)


# ---------------------------------------------------------------------------- network, processes
@pytest.mark.parametrize(("name", "key", "fields"), [
    ("system.network.io", "network.interface.name", ("bytes_recv", "bytes_sent")),
    ("system.network.packet.count", "system.device", ("packets_recv", "packets_sent")),
    ("system.network.errors", "network.interface.name", ("errin", "errout")),
    ("system.network.packet.dropped", "network.interface.name", ("dropin", "dropout")),
])
def test_network_counters_per_interface_and_direction(reader: InMemoryMetricReader, name: str, key: str,
                                                      fields: tuple[str, str]) -> None:
    before = psutil.net_io_counters(pernic=True)
    got = collect(reader)
    after = psutil.net_io_counters(pernic=True)
    values = got.by(name, key, "network.io.direction")
    nics = set(before) & set(after)
    assert "lo" in nics or not LINUX
    for nic in nics:
        for direction, field in zip(("receive", "transmit"), fields, strict=True):
            b, a = getattr(before[nic], field), getattr(after[nic], field)
            assert within(values[(nic, direction)], b, a), (nic, direction, b, values[(nic, direction)], a)


def test_process_count_by_state(reader: InMemoryMetricReader) -> None:
    before = len(psutil.pids())
    got = collect(reader)
    after = len(psutil.pids())
    counts = got.by("system.process.count", "process.state")
    assert counts[("running",)] >= 1, "the collecting process itself is running"
    assert within(sum(counts.values()), before, after, max(10, before * 0.05))
    if LINUX:  # every Linux status maps onto a well-known state
        assert {s for s, in counts} <= WELL_KNOWN_VALUES["process.state"]


# ------------------------------------------------------------------------------------- lifecycle
def test_close_stops_reporting_and_providers_are_independent() -> None:
    readers = [InMemoryMetricReader(), InMemoryMetricReader()]
    providers = [MeterProvider(metric_readers=[r], shutdown_on_exit=False) for r in readers]
    hosts = [install_host_metrics(p) for p in providers]
    assert all(collect(r).metrics.keys() >= {"system.cpu.time", "system.memory.usage"} for r in readers)
    hosts[0].close()
    assert readers[0].get_metrics_data() is None
    assert "system.memory.usage" in collect(readers[1]).metrics
    hosts[1].uninstrument()
    assert readers[1].get_metrics_data() is None
    for p in providers:
        p.shutdown()


def test_nothing_global_is_touched() -> None:
    from opentelemetry import metrics

    before, env = metrics.get_meter_provider(), dict(os.environ)
    provider = MeterProvider(metric_readers=[InMemoryMetricReader()], shutdown_on_exit=False)
    install_host_metrics(provider).close()
    provider.shutdown()
    assert metrics.get_meter_provider() is before
    assert dict(os.environ) == env
