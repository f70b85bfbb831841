"""Response types of ``/api/logs/volume`` (documented in ``/schema``)."""

from __future__ import annotations

import msgspec

from query.models import UNKNOWN, ReadMeta


class VolumeCount(msgspec.Struct, frozen=True):
    """Log records of one service at one severity level."""

    service: str
    severity: str
    count: int


class VolumeBucket(msgspec.Struct, frozen=True):
    """One bucket (``t``: its start, unix seconds): its total and counts per (service, severity)."""

    t: int
    total: int
    counts: list[VolumeCount]


class ServiceVolume(msgspec.Struct, frozen=True):
    """Log records of one service in the window."""

    service: str
    count: int


class SeverityVolume(msgspec.Struct, frozen=True):
    """Log records of one severity level in the window."""

    severity: str
    count: int


class LogVolume(msgspec.Struct, frozen=True):
    """``/api/logs/volume``: matching log records per bucket per (service, severity level), and totals.

    ``series`` has every bucket of the window (empty ``counts`` without records), counts ordered by
    service then level; ``by_service`` is by count descending then name; ``by_severity`` lists every
    level of :data:`query.logs_volume.LEVELS` in that order, zeros included.
    """

    step_s: int
    total: int
    series: list[VolumeBucket]
    by_service: list[ServiceVolume]
    by_severity: list[SeverityVolume]
    meta: ReadMeta = UNKNOWN
