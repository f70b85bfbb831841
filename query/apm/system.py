"""Host resource figures from the ``system.*`` semantic-convention metrics (v1.44), per ``host.name``.

What is read (what :mod:`instrumentation.hostmetrics` emits; counters are cumulative sums, levels are
non-monotonic sums; a level may also come as a gauge from other agents):

* CPU: ``system.cpu.time`` (s, per ``cpu.mode`` and ``cpu.logical_number``). Per bucket, busy =
  1 − Σ Δidle / Σ Δall over every CPU and mode.
* Memory: ``system.memory.usage{system.memory.state=used}`` / ``system.memory.limit``; without a limit,
  used / the sum of the reported states.
* Disk: per ``system.filesystem.mountpoint``, ``system.filesystem.usage{state=used}`` /
  ``system.filesystem.limit`` (without a limit: / the sum of its states); the fullest mountpoint counts.
* Network: ``system.network.io`` (By) per ``network.io.direction``, loopback (``lo``, ``lo0``) excluded.
* Disk I/O: ``system.disk.io`` (By) per ``disk.io.direction``, partitions and ``loop*``/``zram*``/
  ``dm-*``/``ram*``/``sr*`` excluded (their bytes are already counted on the whole disk).

Counter deltas: per series (host, reporter, metric, attributes) ordered by time, Δ = value − previous
value. A reset — a lower value, or a new ``StartTimeUnix`` — starts a new baseline and gives no delta
for that interval (an agent restart would otherwise count the CPU time since boot into one bucket).
Delta-temporality points are their own Δ over ``[StartTimeUnix, TimeUnix]``. Points up to
:data:`LOOKBACK_S` before the window are read as baselines only. A rate is, per series, ΣΔ / Σ elapsed
seconds of the bucket's intervals, summed over series.

A reporter is ``service.name`` + ``service.instance.id``. When several report the same host, each
bucket of each metric uses the smallest reporter id, so a host is never counted twice.

A bucket's level is the last point in it; ``current`` is the latest bucket with data. ``state`` is
``critical`` at or above the critical percent, ``warning`` at or above the warning percent, else ``ok``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from contracts.otel_columns import Metrics as M
from contracts.reader import TelemetryReader
from query.apm.system_models import (
    DiskThroughput,
    DiskUtilization,
    HostSystem,
    NetworkThroughput,
    Rate,
    SeriesPoint,
    SystemMetrics,
    SystemSettings,
    ThresholdState,
    Utilization,
)
from query.apm.window import ApmWindow
from query.errors import BadRequest

LOOKBACK_S = 600
MAX_HOST_LEN = 255
CPU, NET, DISK_IO = "system.cpu.time", "system.network.io", "system.disk.io"
MEM_USAGE, MEM_LIMIT = "system.memory.usage", "system.memory.limit"
FS_USAGE, FS_LIMIT = "system.filesystem.usage", "system.filesystem.limit"
CPU_COUNT = "system.cpu.logical.count"
LOOPBACK = ("lo", "lo0")
# whole disks only: partitions (sda1, nvme0n1p1, mmcblk0p1) and virtual devices would count bytes twice
DISK_EXCLUDE = (r"^(loop|zram|dm-|ram|sr)[0-9]|^(sd|vd|xvd|hd)[a-z]+[0-9]+$"
                r"|^(nvme[0-9]+n[0-9]+|mmcblk[0-9]+)p[0-9]+$")

HOST = f"{M.RESOURCE_ATTRIBUTES}['host.name']"
REPORTER = f"concat({M.SERVICE_NAME}, '/', {M.RESOURCE_ATTRIBUTES}['service.instance.id'])"
_NS = "toUnixTimestamp64Nano"
_BUCKET = "intDiv(intDiv(ts, 1000000000), {step_s:UInt32}) * {step_s:UInt32}"

_COUNTER_KEY = (f"multiIf({M.METRIC_NAME} = '{CPU}', if({M.ATTRIBUTES}['cpu.mode'] = 'idle', 'idle', 'busy'), "
                f"{M.METRIC_NAME} = '{NET}', {M.ATTRIBUTES}['network.io.direction'], "
                f"{M.ATTRIBUTES}['disk.io.direction'])")
_COUNTER_EXCLUDE = (f"NOT ({M.METRIC_NAME} = '{NET}' AND {M.ATTRIBUTES}['network.interface.name'] "
                    f"IN {{loopback:Array(String)}}) AND NOT ({M.METRIC_NAME} = '{DISK_IO}' "
                    f"AND match({M.ATTRIBUTES}['system.device'], {{disk_exclude:String}}))")
# Δ and elapsed seconds of each point: cumulative points against the previous one of their series
# (skipped at a reset or without a previous point), delta points over their own start..time
_COUNTER_SQL = f"""
SELECT host, reporter, name, key, bucket, sum(d) AS delta, sum(d / e) AS rate FROM (
  SELECT host, reporter, name, key, series, {_BUCKET} AS bucket, sum(d) AS d, sum(e) AS e FROM (
    SELECT host, reporter, name, key, series, ts,
           if(temporality = 1, v, v - pv) AS d, if(temporality = 1, ts - st, ts - pts) / 1e9 AS e,
           if(temporality = 1, ts > st AND st > 0, pts > 0 AND pst = st AND v >= pv AND ts > pts) AS ok
    FROM (
      SELECT {HOST} AS host, {REPORTER} AS reporter, {M.METRIC_NAME} AS name, {_COUNTER_KEY} AS key,
             cityHash64(toString({M.ATTRIBUTES})) AS series, {_NS}({M.TIME_UNIX}) AS ts,
             {_NS}({M.START_TIME_UNIX}) AS st, {M.VALUE} AS v, {M.AGGREGATION_TEMPORALITY} AS temporality,
             lagInFrame(ts, 1, 0) OVER w AS pts, lagInFrame(st, 1, 0) OVER w AS pst,
             lagInFrame(v, 1, 0.) OVER w AS pv
      FROM {M.table('sum')}
      WHERE {M.METRIC_NAME} IN {{counters:Array(String)}} AND {{where}}
      WINDOW w AS (PARTITION BY host, reporter, name, series ORDER BY ts ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)
    ) WHERE ok AND ts >= {{start_ns:Int64}}
  ) GROUP BY host, reporter, name, key, series, bucket HAVING e > 0
) GROUP BY host, reporter, name, key, bucket"""

_LEVEL_COLUMNS = (f"{HOST} AS host, {REPORTER} AS reporter, {M.METRIC_NAME} AS name, {_NS}({M.TIME_UNIX}) AS ts, "
                  f"{M.VALUE} AS v, if({M.METRIC_NAME} LIKE 'system.memory.%', "
                  f"{M.ATTRIBUTES}['system.memory.state'], {M.ATTRIBUTES}['system.filesystem.state']) AS state, "
                  f"{M.ATTRIBUTES}['system.filesystem.mountpoint'] AS mount")
_LEVEL_SQL = " UNION ALL ".join(
    f"SELECT {_LEVEL_COLUMNS} FROM {M.table(kind)} WHERE {M.METRIC_NAME} IN {{levels:Array(String)}} "
    "AND {where}" for kind in ("sum", "gauge"))
_LEVEL_SQL = (f"SELECT host, reporter, name, state, mount, {_BUCKET} AS bucket, argMax(v, ts) AS v "
              f"FROM ({_LEVEL_SQL}) GROUP BY host, reporter, name, state, mount, bucket")

Buckets = dict[int, float]  # bucket start (unix s) -> value


def check_host(host: str | None) -> None:
    """Raise :class:`BadRequest` naming ``host`` when it is empty or longer than :data:`MAX_HOST_LEN`."""
    if host is not None and not 0 < len(host) <= MAX_HOST_LEN:
        raise BadRequest(f"must be a host.name of 1 to {MAX_HOST_LEN} characters", "host")


def threshold_state(fraction: float | None, warning_percent: float, critical_percent: float) -> ThresholdState | None:
    """``critical``/``warning`` at or above that percent, else ``ok``; None without a value."""
    if fraction is None:
        return None
    percent = fraction * 100
    return "critical" if percent >= critical_percent else "warning" if percent >= warning_percent else "ok"


def system_metrics(reader: TelemetryReader, window: ApmWindow, settings: SystemSettings | None = None,
                   host: str | None = None) -> SystemMetrics:
    """Per host with ``system.*`` points in ``window`` (by name): CPU, memory, disk, network, disk I/O.

    Args:
        reader: The columnar store's reads.
        window: The window; every series has one point per bucket of ``window.step_s``.
        settings: The thresholds of the ``state`` figures (None: the defaults).
        host: Only this ``host.name`` (None: every host).

    Raises:
        BadRequest: naming ``host`` when it is empty or too long.
    """
    check_host(host)
    settings = settings or SystemSettings()
    params: dict[str, Any] = {**window.params, "from_ns": window.start_ns - LOOKBACK_S * 1_000_000_000,
                              "loopback": list(LOOPBACK), "disk_exclude": DISK_EXCLUDE,
                              "counters": [CPU, NET, DISK_IO],
                              "levels": [MEM_USAGE, MEM_LIMIT, FS_USAGE, FS_LIMIT, CPU_COUNT]}
    where = [f"{HOST} != ''", f"{M.TIME_UNIX} <= fromUnixTimestamp64Nano({{end_ns:Int64}})"]
    if host is not None:
        params["host"] = host
        where.append(f"{HOST} = {{host:String}}")
    counter_where = " AND ".join([*where, f"{M.TIME_UNIX} >= fromUnixTimestamp64Nano({{from_ns:Int64}})",
                                  _COUNTER_EXCLUDE])
    level_where = " AND ".join([*where, f"{M.TIME_UNIX} >= fromUnixTimestamp64Nano({{start_ns:Int64}})"])
    counters = _one_reporter(reader.rows(_COUNTER_SQL.replace("{where}", counter_where), params))
    levels = _one_reporter(reader.rows(_LEVEL_SQL.replace("{where}", level_where), params))
    hosts = sorted({r["host"] for r in counters} | {r["host"] for r in levels})
    return SystemMetrics(step_s=window.step_s, hosts=[
        _host(h, [r for r in counters if r["host"] == h], [r for r in levels if r["host"] == h], window, settings)
        for h in hosts])


def _one_reporter(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of the smallest reporter per (host, metric, bucket)."""
    first: dict[tuple[str, str, int], str] = {}
    for r in rows:
        k = (r["host"], r["name"], int(r["bucket"]))
        first[k] = min(first.get(k, r["reporter"]), r["reporter"])
    return [r for r in rows if first[(r["host"], r["name"], int(r["bucket"]))] == r["reporter"]]


def _host(name: str, counters: list[dict[str, Any]], levels: list[dict[str, Any]], window: ApmWindow,
          s: SystemSettings) -> HostSystem:
    mem_used = _level(levels, MEM_USAGE, state="used")
    mem_limit = _level(levels, MEM_LIMIT)
    disk, mount = _disk(levels)
    has_disk_io = any(r["name"] == DISK_IO for r in counters)
    cpu_count = _latest(_level(levels, CPU_COUNT))
    return HostSystem(
        host=name,
        cpu_count=None if cpu_count is None else int(cpu_count),
        memory_limit_bytes=_int(_latest(mem_limit)),
        memory_used_bytes=_int(_latest(mem_used)),
        cpu=_utilization(_cpu(counters), window, s.cpu_warning_percent, s.cpu_critical_percent),
        memory=_utilization(_memory(levels, mem_used, mem_limit), window, s.memory_warning_percent,
                            s.memory_critical_percent),
        disk=DiskUtilization(**_fields(_utilization(disk, window, s.disk_warning_percent, s.disk_critical_percent)),
                             mountpoint=mount),
        network=NetworkThroughput(receive=_rate(counters, NET, "receive", window),
                                  transmit=_rate(counters, NET, "transmit", window)),
        disk_io=DiskThroughput(read=_rate(counters, DISK_IO, "read", window),
                               write=_rate(counters, DISK_IO, "write", window)) if has_disk_io else None,
    )


def _fields(u: Utilization) -> dict[str, Any]:
    return {f: getattr(u, f) for f in u.__struct_fields__}


def _int(v: float | None) -> int | None:
    return None if v is None else round(v)


def _latest(b: Buckets) -> float | None:
    return b[max(b)] if b else None


def _level(levels: list[dict[str, Any]], name: str, state: str | None = None, mount: str | None = None) -> Buckets:
    return {int(r["bucket"]): float(r["v"]) for r in levels if r["name"] == name
            and (state is None or r["state"] == state) and (mount is None or r["mount"] == mount)}


def _memory(levels: list[dict[str, Any]], used: Buckets, limit: Buckets) -> Buckets:
    states: dict[int, float] = defaultdict(float)
    for r in levels:
        if r["name"] == MEM_USAGE:
            states[int(r["bucket"])] += float(r["v"])
    return _ratio(used, limit, states)


def _ratio(used: Buckets, limit: Buckets, states: Buckets) -> Buckets:
    """Used / limit per bucket, else used / the sum of the states (buckets with a positive divisor)."""
    out = {}
    for t, u in used.items():
        total = limit.get(t) or states.get(t)
        if total:
            out[t] = u / total
    return out


def _disk(levels: list[dict[str, Any]]) -> tuple[Buckets, str | None]:
    """The fullest mountpoint's fraction per bucket, and the fullest mountpoint of the latest bucket."""
    best: dict[int, tuple[float, str]] = {}
    for mount in sorted({r["mount"] for r in levels if r["name"] == FS_USAGE}):
        states: dict[int, float] = defaultdict(float)
        for r in levels:
            if r["name"] == FS_USAGE and r["mount"] == mount:
                states[int(r["bucket"])] += float(r["v"])
        ratio = _ratio(_level(levels, FS_USAGE, "used", mount), _level(levels, FS_LIMIT, mount=mount), states)
        for t, v in ratio.items():
            if t not in best or v > best[t][0]:
                best[t] = (v, mount)
    return {t: v for t, (v, _) in best.items()}, best[max(best)][1] if best else None


def _cpu(counters: list[dict[str, Any]]) -> Buckets:
    idle: dict[int, float] = defaultdict(float)
    total: dict[int, float] = defaultdict(float)
    for r in counters:
        if r["name"] == CPU:
            total[int(r["bucket"])] += float(r["delta"])
            if r["key"] == "idle":
                idle[int(r["bucket"])] += float(r["delta"])
    return {t: min(1.0, max(0.0, 1 - idle[t] / all_)) for t, all_ in total.items() if all_ > 0}


def _series(b: Buckets, window: ApmWindow) -> tuple[list[SeriesPoint], float | None]:
    starts = window.bucket_starts_s()
    present = [t for t in starts if t in b]
    return [SeriesPoint(t, b.get(t)) for t in starts], b[present[-1]] if present else None


def _utilization(b: Buckets, window: ApmWindow, warning: float, critical: float) -> Utilization:
    series, current = _series(b, window)
    return Utilization(current=current, state=threshold_state(current, warning, critical),
                       warning_percent=warning, critical_percent=critical, series=series)


def _rate(counters: list[dict[str, Any]], name: str, key: str, window: ApmWindow) -> Rate:
    b: dict[int, float] = defaultdict(float)
    for r in counters:
        if r["name"] == name and r["key"] == key:
            b[int(r["bucket"])] += float(r["rate"])
    series, current = _series(b, window)
    return Rate(current=current, series=series)
