"""Log volume: record counts per time bucket per (service, severity level), with totals.

The level is the ``SeverityNumber`` range, not the free-form ``SeverityText``: 1-4 ``TRACE``, 5-8
``DEBUG``, 9-12 ``INFO``, 13-16 ``WARN``, 17-20 ``ERROR``, 21-24 ``FATAL``, 0 (or out of range)
``UNSPECIFIED``. Filters are those of ``/api/logs`` (:func:`query.logs.conditions`: ``service``,
``severity_min``/``severity_max``, ``q``, ``attr``); the window and its step are the APM window's
(:data:`query.apm.window.WINDOW`: ``range=15m|1h|6h|24h|7d`` or ``start``/``end``).

:class:`LogVolumeController` serves ``GET /api/logs/volume``; dependencies ``reader`` and
``freshness`` come from the app.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Annotated, Any

from litestar import Controller, Response, get
from litestar.params import Parameter

from contracts.otel_columns import Logs as L
from contracts.reader import TelemetryReader
from contracts.signals import Signal
from query.apm.window import WINDOW, ApmWindow
from query.controllers import Reader, Service, answer, read_meta
from query.logs import LogQuery, conditions
from query.logs_volume_models import LogVolume, ServiceVolume, SeverityVolume, VolumeBucket, VolumeCount
from query.models import ReadMeta
from query.openapi import FRESHNESS_HEADER, RESPONSES

LEVELS = ("UNSPECIFIED", "TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
_N = L.SEVERITY_NUMBER
LEVEL = (f"multiIf({_N} BETWEEN 1 AND 4, 'TRACE', {_N} BETWEEN 5 AND 8, 'DEBUG', {_N} BETWEEN 9 AND 12, 'INFO', "
         f"{_N} BETWEEN 13 AND 16, 'WARN', {_N} BETWEEN 17 AND 20, 'ERROR', {_N} BETWEEN 21 AND 24, 'FATAL', "
         "'UNSPECIFIED')")


def log_volume(reader: TelemetryReader, window: ApmWindow, q: LogQuery | None = None) -> LogVolume:
    """Counts of the records in ``window`` matching ``q`` (``trace_id`` and ``limit`` are ignored)."""
    q = LogQuery(q.service, q.severity_min, q.q, None, 1, q.attrs, q.severity_max) if q else LogQuery()
    params: dict[str, Any] = dict(window.params)
    conds = conditions(q, params)
    rows = reader.rows(
        f"SELECT intDiv(toUnixTimestamp({L.TIMESTAMP}), {{step_s:UInt32}}) * {{step_s:UInt32}} AS t, "
        f"{L.SERVICE_NAME} AS service, {LEVEL} AS severity, count() AS n FROM {L.TABLE} "
        f"WHERE {' AND '.join(conds)} GROUP BY t, service, severity ORDER BY t, service, severity",
        params,
    )
    order = {level: i for i, level in enumerate(LEVELS)}
    by_t: dict[int, list[VolumeCount]] = defaultdict(list)
    services: Counter[str] = Counter()
    levels: Counter[str] = Counter()
    for r in rows:
        n = int(r["n"])
        by_t[int(r["t"])].append(VolumeCount(service=r["service"], severity=r["severity"], count=n))
        services[r["service"]] += n
        levels[r["severity"]] += n
    series = [VolumeBucket(t=t, total=sum(c.count for c in by_t.get(t, [])),
                           counts=sorted(by_t.get(t, []), key=lambda c: (c.service, order[c.severity])))
              for t in window.bucket_starts_s()]
    return LogVolume(
        step_s=window.step_s, total=sum(services.values()), series=series,
        by_service=[ServiceVolume(service=s, count=n)
                    for s, n in sorted(services.items(), key=lambda x: (-x[1], x[0]))],
        by_severity=[SeverityVolume(severity=level, count=levels[level]) for level in LEVELS],
    )


class LogVolumeController(Controller):
    """Log volume over time by service and severity level."""

    path = "/api/logs/volume"
    tags = ["logs"]
    response_headers = [FRESHNESS_HEADER]
    dependencies = {"meta": read_meta(Signal.LOGS), **WINDOW}

    @get("/", sync_to_thread=True, summary="Log volume", responses=RESPONSES)
    def volume(
        self, reader: Reader, meta: ReadMeta, window: ApmWindow, service: Service = None,
        severity_min: Annotated[str | None, Parameter(description="0-24 or trace, debug, info, warn, error, "
                                                      "fatal")] = None,
        severity_max: Annotated[str | None, Parameter(description="0-24 or a name as severity_min (a name is "
                                                      "its range's highest number); not below severity_min")] = None,
        q: Annotated[str | None, Parameter(description="case-insensitive substring of the body or of a log "
                                           "attribute's value")] = None,
        attr: Annotated[list[str] | None, Parameter(query="attr", description="`key:value` (log or resource "
                                                    "attribute), repeatable")] = None,
    ) -> Response[LogVolume]:
        """Matching records per bucket per (service, severity level), totals per service and per level."""
        query = LogQuery(service, severity_min, q, attrs=tuple(attr or ()), severity_max=severity_max)
        return answer(log_volume(reader, window, query), meta)
