"""Response types and settings of ``/api/metrics/system`` (documented in ``/schema``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import msgspec

from query.models import UNKNOWN, ReadMeta

ThresholdState = Literal["ok", "warning", "critical"]


@dataclass(frozen=True)
class SystemSettings:
    """Warning and critical thresholds (percent, a value at or above them is in that state)."""

    cpu_warning_percent: float = 80.0
    cpu_critical_percent: float = 90.0
    memory_warning_percent: float = 85.0
    memory_critical_percent: float = 95.0
    disk_warning_percent: float = 85.0
    disk_critical_percent: float = 95.0


class SeriesPoint(msgspec.Struct, frozen=True):
    """One bucket: ``t`` is its start (unix seconds), ``value`` null when the bucket has no data."""

    t: int
    value: float | None


class Utilization(msgspec.Struct, frozen=True):
    """A busy/used fraction (0–1) per bucket; ``current`` is the latest bucket with data.

    ``state`` compares ``current`` (as percent) with the settings' thresholds; null without data.
    """

    current: float | None
    state: ThresholdState | None
    warning_percent: float
    critical_percent: float
    series: list[SeriesPoint]


class DiskUtilization(Utilization, frozen=True):
    """Utilization of the fullest filesystem per bucket; ``mountpoint`` is the fullest one of ``current``."""

    mountpoint: str | None = None


class Rate(msgspec.Struct, frozen=True):
    """Bytes per second per bucket; ``current`` is the latest bucket with data."""

    current: float | None
    series: list[SeriesPoint]


class NetworkThroughput(msgspec.Struct, frozen=True):
    """``system.network.io`` bytes per second by ``network.io.direction``, loopback excluded."""

    receive: Rate
    transmit: Rate


class DiskThroughput(msgspec.Struct, frozen=True):
    """``system.disk.io`` bytes per second by ``disk.io.direction`` (whole disks only)."""

    read: Rate
    write: Rate


class HostSystem(msgspec.Struct, frozen=True):
    """One host (resource attribute ``host.name``) and its resource figures in the window.

    ``network`` excludes loopback interfaces (``lo``, ``lo0``); ``disk_io`` is null when the host reports
    no ``system.disk.io`` and excludes partitions and ``loop*``/``zram*``/``dm-*``/``ram*``/``sr*`` devices.
    ``cpu_count`` is the latest ``system.cpu.logical.count`` (null when not reported);
    ``memory_limit_bytes``/``memory_used_bytes`` are the latest ``system.memory.limit`` and
    ``system.memory.usage{state=used}``.
    """

    host: str
    cpu_count: int | None
    memory_limit_bytes: int | None
    memory_used_bytes: int | None
    cpu: Utilization
    memory: Utilization
    disk: DiskUtilization
    network: NetworkThroughput
    disk_io: DiskThroughput | None


class SystemMetrics(msgspec.Struct, frozen=True):
    """``/api/metrics/system``: every host with ``system.*`` metrics in the window, by host name."""

    step_s: int
    hosts: list[HostSystem]
    meta: ReadMeta = UNKNOWN
