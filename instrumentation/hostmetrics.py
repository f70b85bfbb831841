"""Host metrics in the OpenTelemetry ``system.*`` semantic conventions (v1.44.0), read with psutil.

:func:`install_host_metrics` registers observable instruments on a given SDK ``MeterProvider``; they are
read whenever that provider's readers collect. Nothing global is touched (no global provider, no
instrumentor singleton), so several providers in one process each get their own host metrics.

Naming decision. Vigil's analytics query the current semconv names, so every metric here uses them
(``model/system/metrics.yaml`` of open-telemetry/semantic-conventions v1.44.0; unchanged on main).
``opentelemetry-instrumentation-system-metrics`` 0.66b1 was checked metric by metric and is *not*
used: none of its ``system.*`` metrics matches the semconv — it labels ``state``/``cpu``/``device``/
``direction`` instead of ``cpu.mode``/``cpu.logical_number`` (0-based; it counts from 1)/
``system.memory.state``/``system.device``/``disk.io.direction``/``network.interface.name``/
``network.io.direction``, uses pre-UCUM units (``operations``, ``packets``, ``errors``, bytes labelled
``pages``), the old names ``system.swap.*``/``system.network.dropped_packets``/``system.network.packets``,
and lacks load average, filesystem and process count. SDK views can rename metrics but not attribute
keys or units, and its ``BaseInstrumentor`` is a process-wide singleton, so it cannot be adapted either.
All callbacks below are therefore psutil callbacks (plus ``/proc/vmstat`` for paging counts on Linux).

Deliberate details:

* ``cpu.mode``: ``interrupt`` is ``irq + softirq`` (Linux) or ``interrupt + dpc`` (Windows); ``guest``
  time is already inside ``user`` in ``/proc/stat`` and is not reported again. Every CPU carries the
  opt-in ``cpu.logical_number``. Utilization is the change of each mode's time since the previous
  collection divided by the change of the CPU's total time (so the modes of a CPU sum to 1); the first
  collection measures from install time (from boot if no clock tick passed since).
* ``system.memory.state=used`` is ``total - available`` as the semconv note says; the states
  therefore do not add up to the total on Linux (cached memory is partly available). The total is
  ``system.memory.limit``.
* ``system.paging.*`` reports the swap totals psutil gives (no per-device ``system.device``);
  ``system.paging.operations`` (pages swapped, ``pswpin``/``pswpout``) and ``system.paging.faults``
  (``pgmajfault``, ``pgfault - pgmajfault``) come from ``/proc/vmstat`` and exist on Linux only.
* Filesystems are psutil's physical partitions, one per mountpoint; ``reserved`` is the space only
  root may use, so ``used + free + reserved`` is the filesystem's size (``system.filesystem.limit``).
  Utilization is reported per state as a fraction of that size.
* ``system.network.packet.count`` labels the interface ``system.device`` while the other network
  metrics use ``network.interface.name``: that is what the semconv model says, and it is followed.
* Load average is not in the semconv; the names, unit (``{thread}``) and gauge type are those of the
  OpenTelemetry Collector's hostmetrics receiver (``system.cpu.load_average.1m`` …).
* ``system.process.count`` maps psutil statuses onto ``process.state`` (``disk-sleep``/``idle`` →
  ``sleeping``, ``tracing-stop`` → ``stopped``, ``zombie``/``dead`` → ``defunct``); other statuses
  keep psutil's name as a custom value.
"""

from __future__ import annotations

import contextlib
import logging
import platform
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import psutil
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider

SCHEMA_URL = "https://opentelemetry.io/schemas/1.44.0"
SCOPE_NAME = "instrumentation.hostmetrics"
VMSTAT = Path("/proc/vmstat")

log = logging.getLogger(__name__)

Reader = Callable[[], Iterator[Observation]]

# cpu.mode -> the psutil cpu_times fields it sums (those the platform has)
_CPU_MODES: dict[str, tuple[str, ...]] = {
    "user": ("user",), "nice": ("nice",), "system": ("system",), "idle": ("idle",), "iowait": ("iowait",),
    "interrupt": ("irq", "softirq", "interrupt", "dpc"), "steal": ("steal",),
}
_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "i386": "x86", "i686": "x86",
         "x86": "x86", "armv7l": "arm32", "armv6l": "arm32", "ppc64le": "ppc64", "ppc64": "ppc64", "s390x": "s390x"}
_PROCESS_STATES = {"disk-sleep": "sleeping", "idle": "sleeping", "tracing-stop": "stopped",
                   "zombie": "defunct", "dead": "defunct"}


def host_resource_attributes() -> dict[str, str]:
    """This host's semconv ``host.name``, ``host.arch``, ``os.type`` and ``os.description``."""
    system = platform.system()
    description = platform.platform()
    if system == "Linux":
        with contextlib.suppress(OSError, KeyError):
            description = f"{platform.freedesktop_os_release()['PRETTY_NAME']} ({system} {platform.release()})"
    machine = platform.machine().lower()
    return {"host.name": socket.gethostname(), "host.arch": _ARCH.get(machine, machine),
            "os.type": {"sunos": "solaris"}.get(system.lower(), system.lower()), "os.description": description}


def cpu_modes(times: object) -> dict[str, float]:
    """Seconds per semconv ``cpu.mode`` of one psutil ``cpu_times`` entry."""
    fields: dict[str, float] = times._asdict()  # type: ignore[attr-defined]  # a psutil namedtuple
    out: dict[str, float] = {}
    for mode, names in _CPU_MODES.items():
        present = [fields[n] for n in names if n in fields]
        if present:
            out[mode] = sum(present)
    return out


def process_state(status: str) -> str:
    """The semconv ``process.state`` of a psutil process status."""
    return _PROCESS_STATES.get(status, status)


def read_vmstat(path: Path = VMSTAT) -> dict[str, int]:
    """``/proc/vmstat`` as counters (empty where the file does not exist)."""
    try:
        text = path.read_text()
    except OSError:
        return {}
    pairs = (line.split() for line in text.splitlines())
    return {p[0]: int(p[1]) for p in pairs if len(p) == 2 and p[1].isdigit()}


def filesystems() -> list[tuple[str, str, str, str]]:
    """``(device, mountpoint, type, mode)`` of psutil's physical partitions, one per mountpoint."""
    seen: dict[str, tuple[str, str, str, str]] = {}
    for part in psutil.disk_partitions(all=False):
        mode = "ro" if "ro" in part.opts.split(",") else "rw"
        seen.setdefault(part.mountpoint, (part.device, part.mountpoint, part.fstype, mode))
    return list(seen.values())


class HostMetrics:
    """The host instruments registered on one provider; :meth:`close` stops them reporting.

    Callbacks run on the thread that collects (the provider's reader); they are serialized by a lock,
    cheap (one psutil call each; the process count walks the process table) and never raise: a
    failing read is logged once per metric at WARNING and that metric is skipped for the collection.
    """

    def __init__(self, meter_provider: MeterProvider) -> None:
        """Register every instrument on ``meter_provider`` (see :func:`install_host_metrics`)."""
        self._lock = threading.Lock()
        self._closed = False
        self._warned: set[str] = set()
        self._cpu_prev = [cpu_modes(t) for t in psutil.cpu_times(percpu=True)]
        self._cpu_util: list[dict[str, float]] = [{} for _ in self._cpu_prev]
        meter = meter_provider.get_meter(SCOPE_NAME, schema_url=SCHEMA_URL)
        counters: list[tuple[str, str, str, Reader]] = [
            ("system.cpu.time", "s", "Seconds each logical CPU spent on each mode.", self._cpu_time),
            ("system.disk.io", "By", "Disk bytes transferred.", self._disk("bytes", 1)),
            ("system.disk.operations", "{operation}", "Disk operations count.", self._disk("count", 1)),
            ("system.disk.operation_time", "s", "Sum of the time each operation took to complete.",
             self._disk("time", 1000)),
            ("system.disk.io_time", "s", "Time disk spent activated.", self._disk_io_time),
            ("system.network.io", "By", "The number of bytes transmitted and received.",
             self._net("bytes_recv", "bytes_sent", "network.interface.name")),
            ("system.network.packet.count", "{packet}", "The number of packets transferred.",
             self._net("packets_recv", "packets_sent", "system.device")),
            ("system.network.errors", "{error}", "Count of network errors detected.",
             self._net("errin", "errout", "network.interface.name")),
            ("system.network.packet.dropped", "{packet}",
             "Count of packets that are dropped or discarded even though there was no error.",
             self._net("dropin", "dropout", "network.interface.name")),
        ]
        if VMSTAT.exists():
            counters += [
                ("system.paging.operations", "{operation}", "The number of paging operations.", self._paging_ops),
                ("system.paging.faults", "{fault}", "The number of page faults.", self._paging_faults),
            ]
        updowns: list[tuple[str, str, str, Reader]] = [
            ("system.cpu.logical.count", "{cpu}", "Logical processor cores of the operating system.",
             self._cpu_count),
            ("system.memory.usage", "By", "Reports memory in use by state.", self._memory(ratio=False)),
            ("system.memory.limit", "By", "Total virtual memory available in the system.", self._memory_limit),
            ("system.paging.usage", "By", "UNIX swap or windows pagefile usage.", self._paging(ratio=False)),
            ("system.filesystem.usage", "By", "Reports a filesystem's space usage across different states.",
             self._filesystem("usage")),
            ("system.filesystem.limit", "By", "The total storage capacity of the filesystem.",
             self._filesystem("limit")),
            ("system.process.count", "{process}", "Total number of processes in each state.", self._processes),
        ]
        gauges: list[tuple[str, str, str, Reader]] = [
            ("system.cpu.utilization", "1", "Per logical CPU and mode, the fraction of time since the last "
             "collection.", self._cpu_utilization),
            ("system.memory.utilization", "1", "Fraction of memory bytes in each state.", self._memory(ratio=True)),
            ("system.paging.utilization", "1", "Swap (UNIX) or pagefile (windows) utilization.",
             self._paging(ratio=True)),
            ("system.filesystem.utilization", "1", "Fraction of filesystem bytes in each state.",
             self._filesystem("utilization")),
        ] + [(f"system.cpu.load_average.{w}", "{thread}", f"Average CPU load over {w}.", self._load(i))
             for i, w in enumerate(("1m", "5m", "15m"))]
        for name, unit, description, read in counters:
            meter.create_observable_counter(name, [self._callback(name, read)], unit, description)
        for name, unit, description, read in updowns:
            meter.create_observable_up_down_counter(name, [self._callback(name, read)], unit, description)
        for name, unit, description, read in gauges:
            meter.create_observable_gauge(name, [self._callback(name, read)], unit, description)

    def close(self) -> None:
        """Stop reporting: from now on every callback observes nothing (instruments cannot be removed)."""
        with self._lock:
            self._closed = True

    uninstrument = close

    def _callback(self, name: str, read: Reader) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def callback(options: CallbackOptions) -> Iterable[Observation]:
            with self._lock:
                if self._closed:
                    return []
                try:
                    return list(read())
                except Exception as exc:  # a host read must never break the collection
                    if name not in self._warned:
                        self._warned.add(name)
                        log.warning("host metrics: cannot read %s: %s (skipped)", name, exc)
                    return []

        return callback

    # ------------------------------------------------------------------------------------------ cpu
    def _cpu_time(self) -> Iterator[Observation]:
        for cpu, times in enumerate(psutil.cpu_times(percpu=True)):
            for mode, seconds in cpu_modes(times).items():
                yield Observation(seconds, {"cpu.mode": mode, "cpu.logical_number": cpu})

    def _cpu_utilization(self) -> Iterator[Observation]:
        now = [cpu_modes(t) for t in psutil.cpu_times(percpu=True)]
        if len(now) != len(self._cpu_prev):  # CPUs went on/offline: start over
            self._cpu_prev, self._cpu_util = now, [{} for _ in now]
        for cpu, (modes, prev) in enumerate(zip(now, self._cpu_prev, strict=True)):
            elapsed = sum(modes.values()) - sum(prev.values())
            if elapsed <= 0 and not self._cpu_util[cpu]:  # no tick since install: the average since boot
                prev, elapsed = {}, sum(modes.values())
            if elapsed > 0:  # else too soon since the last collection: repeat its values
                self._cpu_util[cpu] = {m: max(0.0, s - prev.get(m, 0.0)) / elapsed for m, s in modes.items()}
                self._cpu_prev[cpu] = modes
            for mode, fraction in self._cpu_util[cpu].items():
                yield Observation(fraction, {"cpu.mode": mode, "cpu.logical_number": cpu})

    def _cpu_count(self) -> Iterator[Observation]:
        yield Observation(psutil.cpu_count(logical=True) or len(psutil.cpu_times(percpu=True)), {})

    def _load(self, index: int) -> Reader:
        def read() -> Iterator[Observation]:
            yield Observation(psutil.getloadavg()[index], {})

        return read

    # --------------------------------------------------------------------------------------- memory
    def _memory(self, ratio: bool) -> Reader:
        def read() -> Iterator[Observation]:
            vm = psutil.virtual_memory()
            states = {"used": vm.total - vm.available, "free": vm.free}
            states.update({s: getattr(vm, s) for s in ("buffers", "cached") if hasattr(vm, s)})
            for state, value in states.items():
                yield Observation(value / vm.total if ratio else value, {"system.memory.state": state})

        return read

    def _memory_limit(self) -> Iterator[Observation]:
        yield Observation(psutil.virtual_memory().total, {})

    def _paging(self, ratio: bool) -> Reader:
        def read() -> Iterator[Observation]:
            swap = psutil.swap_memory()
            for state, value in (("used", swap.used), ("free", swap.free)):
                share = value / swap.total if swap.total else 0.0
                yield Observation(share if ratio else value, {"system.paging.state": state})

        return read

    def _paging_ops(self) -> Iterator[Observation]:
        vmstat = read_vmstat()
        for direction in ("in", "out"):
            yield Observation(vmstat[f"pswp{direction}"], {"system.paging.direction": direction})

    def _paging_faults(self) -> Iterator[Observation]:
        vmstat = read_vmstat()
        major = vmstat["pgmajfault"]
        yield Observation(major, {"system.paging.fault.type": "major"})
        yield Observation(vmstat["pgfault"] - major, {"system.paging.fault.type": "minor"})

    # ------------------------------------------------------------------------------ disk, filesystem
    def _disk(self, field: str, divisor: int) -> Reader:
        def read() -> Iterator[Observation]:
            for device, io in (psutil.disk_io_counters(perdisk=True) or {}).items():
                for direction in ("read", "write"):
                    value = getattr(io, f"{direction}_{field}")
                    yield Observation(value / divisor if divisor > 1 else value,
                                      {"system.device": device, "disk.io.direction": direction})

        return read

    def _disk_io_time(self) -> Iterator[Observation]:
        for device, io in (psutil.disk_io_counters(perdisk=True) or {}).items():
            if hasattr(io, "busy_time"):  # Linux, FreeBSD
                yield Observation(io.busy_time / 1000, {"system.device": device})

    def _filesystem(self, kind: str) -> Reader:
        def read() -> Iterator[Observation]:
            for device, mountpoint, fstype, mode in filesystems():
                try:
                    du = psutil.disk_usage(mountpoint)
                except OSError:  # unmounted meanwhile, or not readable by this user
                    continue
                attrs = {"system.device": device, "system.filesystem.mountpoint": mountpoint,
                         "system.filesystem.type": fstype, "system.filesystem.mode": mode}
                if kind == "limit":
                    yield Observation(du.total, attrs)
                    continue
                states = {"used": du.used, "free": du.free, "reserved": max(0, du.total - du.used - du.free)}
                for state, value in states.items():
                    share = value / du.total if du.total else 0.0
                    yield Observation(share if kind == "utilization" else value,
                                      {**attrs, "system.filesystem.state": state})

        return read

    # ---------------------------------------------------------------------------- network, processes
    def _net(self, received: str, transmitted: str, device_key: str) -> Reader:
        def read() -> Iterator[Observation]:
            for nic, io in psutil.net_io_counters(pernic=True).items():
                for direction, field in (("receive", received), ("transmit", transmitted)):
                    yield Observation(getattr(io, field), {device_key: nic, "network.io.direction": direction})

        return read

    def _processes(self) -> Iterator[Observation]:
        counts: dict[str, int] = {}
        for proc in psutil.process_iter(["status"]):
            status = proc.info.get("status")
            if status:
                state = process_state(str(status))
                counts[state] = counts.get(state, 0) + 1
        for state, count in sorted(counts.items()):
            yield Observation(count, {"process.state": state})


def install_host_metrics(meter_provider: MeterProvider) -> HostMetrics:
    """Register the host's ``system.*`` metrics on ``meter_provider``.

    Args:
        meter_provider: The SDK provider whose readers will collect the metrics (not the global one
            unless the caller passes it).

    Returns:
        The registration; call :meth:`HostMetrics.close` to stop reporting (shutting the provider down
        has the same effect).
    """
    return HostMetrics(meter_provider)
