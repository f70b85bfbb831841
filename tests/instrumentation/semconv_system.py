"""The OpenTelemetry semantic conventions of the host metrics the agent reports: the tests' oracle.

Transcribed from open-telemetry/semantic-conventions v1.44.0 (identical on main at 384d661):
``model/system/metrics.yaml`` for names, instrument types, units and attributes with their requirement
levels (no level in the model means ``recommended``), and ``model/{system,cpu,disk,network,process}/
registry.yaml`` for the well-known attribute values. It lists the subset of ``system.*`` metrics the
agent implements, not the whole model.

The exception is load average, which the semconv does not define: its three rows are the
OpenTelemetry Collector's hostmetrics receiver (``loadscraper/metadata.yaml``: gauge, ``{thread}``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

RECOMMENDED, OPT_IN = "recommended", "opt_in"


@dataclass(frozen=True)
class MetricSpec:
    instrument: str  # counter | updowncounter | gauge
    unit: str
    attributes: dict[str, str] = field(default_factory=dict)  # name -> requirement level


CPU = {"cpu.mode": RECOMMENDED, "cpu.logical_number": OPT_IN}
MEMORY = {"system.memory.state": RECOMMENDED}
PAGING = {"system.paging.state": RECOMMENDED, "system.device": RECOMMENDED}
DISK = {"system.device": RECOMMENDED, "disk.io.direction": RECOMMENDED}
FILESYSTEM = {"system.device": RECOMMENDED, "system.filesystem.type": RECOMMENDED,
              "system.filesystem.mode": RECOMMENDED, "system.filesystem.mountpoint": RECOMMENDED}
FILESYSTEM_STATE = {**FILESYSTEM, "system.filesystem.state": RECOMMENDED}
NIC = {"network.interface.name": RECOMMENDED, "network.io.direction": RECOMMENDED}

SYSTEM_METRICS: dict[str, MetricSpec] = {
    "system.cpu.time": MetricSpec("counter", "s", CPU),
    "system.cpu.utilization": MetricSpec("gauge", "1", CPU),
    "system.cpu.logical.count": MetricSpec("updowncounter", "{cpu}"),
    "system.cpu.load_average.1m": MetricSpec("gauge", "{thread}"),  # Collector, not semconv
    "system.cpu.load_average.5m": MetricSpec("gauge", "{thread}"),  # Collector, not semconv
    "system.cpu.load_average.15m": MetricSpec("gauge", "{thread}"),  # Collector, not semconv
    "system.memory.usage": MetricSpec("updowncounter", "By", MEMORY),
    "system.memory.limit": MetricSpec("updowncounter", "By"),
    "system.memory.utilization": MetricSpec("gauge", "1", MEMORY),
    "system.paging.usage": MetricSpec("updowncounter", "By", PAGING),
    "system.paging.utilization": MetricSpec("gauge", "1", PAGING),
    "system.paging.faults": MetricSpec("counter", "{fault}", {"system.paging.fault.type": RECOMMENDED}),
    "system.paging.operations": MetricSpec("counter", "{operation}", {
        "system.paging.fault.type": RECOMMENDED, "system.paging.direction": RECOMMENDED}),
    "system.disk.io": MetricSpec("counter", "By", DISK),
    "system.disk.operations": MetricSpec("counter", "{operation}", DISK),
    "system.disk.io_time": MetricSpec("counter", "s", {"system.device": RECOMMENDED}),
    "system.disk.operation_time": MetricSpec("counter", "s", DISK),
    "system.filesystem.usage": MetricSpec("updowncounter", "By", FILESYSTEM_STATE),
    "system.filesystem.utilization": MetricSpec("gauge", "1", FILESYSTEM_STATE),
    "system.filesystem.limit": MetricSpec("updowncounter", "By", FILESYSTEM),
    "system.network.io": MetricSpec("counter", "By", NIC),
    # the model labels this one system.device, unlike its siblings
    "system.network.packet.count": MetricSpec("counter", "{packet}", {
        "system.device": RECOMMENDED, "network.io.direction": RECOMMENDED}),
    "system.network.errors": MetricSpec("counter", "{error}", NIC),
    "system.network.packet.dropped": MetricSpec("counter", "{packet}", NIC),
    "system.process.count": MetricSpec("updowncounter", "{process}", {"process.state": RECOMMENDED}),
}

# well-known values (the semconv allows custom values where none applies)
WELL_KNOWN_VALUES: dict[str, set[str]] = {
    "cpu.mode": {"user", "system", "nice", "idle", "iowait", "interrupt", "steal"},
    "system.memory.state": {"used", "free", "buffers", "cached"},  # ``shared`` is deprecated
    "system.paging.state": {"used", "free"},
    "system.paging.fault.type": {"major", "minor"},
    "system.paging.direction": {"in", "out"},
    "disk.io.direction": {"read", "write"},
    "system.filesystem.state": {"used", "free", "reserved"},
    "network.io.direction": {"transmit", "receive"},
    "process.state": {"running", "sleeping", "stopped", "defunct"},
}
INT_ATTRIBUTES = {"cpu.logical_number"}  # every other attribute here is a string
