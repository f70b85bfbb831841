"""Connection-pool statistics from the ``db.client.connection.*`` metrics (and the older ``db.client.connections.*``).

A pool is (``ServiceName``, pool name); the pool name is the point attribute
``db.client.connection.pool.name``, else ``pool.name``, else ``""``. The connection state is
``db.client.connection.state``, else ``state``. When a pool reports a figure under both the stable
and the older name, the stable one is used. Metrics read (gauge or sum table, whichever holds them):

* latest values: ``count`` (by state ``idle``/``used``; older name ``db.client.connections.usage``),
  ``max``, ``idle.max``, ``idle.min``, ``pending_requests`` — the last point of each series in the
  window, summed over the pool's series (several instances of a service add up). ``usage`` =
  used / max of those latest values.
* ``timeouts``: the counter's increase in the window (the rules of :mod:`query.metrics`: cumulative
  points are differenced per series, a series that started inside the window counts from zero, a
  lower value or a new start time is a reset).
* ``wait_time`` / ``use_time`` histograms: recorded ``count`` and ``avg_ms`` (Σsum / Σcount) of the
  window's increases, and ``p95_ms`` **interpolated linearly inside the merged histogram buckets**
  (Prometheus ``histogram_quantile``; an estimate bounded by the bucket edges, not an exact
  percentile). Values are converted to ms from the metric's unit (``s`` for the stable names, ``ms``
  for the older ones when the unit is missing).
* ``series``: per bucket (``window.step_s``, unix-second aligned) the mean of each series' points,
  summed over series, of ``used`` connections and ``max``; ``usage`` = used / max.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from contracts.otel_columns import Metrics as M
from contracts.reader import TelemetryReader
from query.apm.database_overview_models import ConnectionStats, PoolBucket, PoolStats, PoolTiming
from query.apm.window import ApmWindow
from query.errors import BadRequest
from query.filters import metrics_time
from query.metrics import _per_series

STABLE, LEGACY = "db.client.connection.", "db.client.connections."
# figure → (stable suffix, older suffix)
LATEST = {"count": ("count", "usage"), "max": ("max", "max"), "idle_max": ("idle.max", "idle.max"),
          "idle_min": ("idle.min", "idle.min"), "pending_requests": ("pending_requests", "pending_requests")}
TIMINGS = {"wait_time": ("wait_time", "wait_time"), "use_time": ("use_time", "use_time")}
TIMEOUTS = ("timeouts", "timeouts")
UNIT_MS = {"s": 1000.0, "ms": 1.0, "us": 1e-3, "ns": 1e-6}
WHOLE_WINDOW_S = 2**40  # a step no timestamp reaches: every point falls in one bucket


def _names(suffixes: tuple[str, str]) -> list[str]:
    return [STABLE + suffixes[0], LEGACY + suffixes[1]]


def _attr(*keys: str) -> str:
    alts = ", ".join(f"nullIf({M.ATTRIBUTES}['{k}'], '')" for k in keys)
    return f"ifNull(coalesce({alts}), '')"


POOL = _attr("db.client.connection.pool.name", "pool.name")
STATE = _attr("db.client.connection.state", "state")
SID = f"cityHash64({M.ATTRIBUTES}, {M.RESOURCE_ATTRIBUTES}, {M.SCOPE_NAME})"
FIGURE_OF = {n: (fig, rank) for fig, sfx in {**LATEST, **TIMINGS, "timeouts": TIMEOUTS}.items()
             for rank, n in enumerate(_names(sfx))}
"""metric name → (figure, rank): rank 0 is the stable name, preferred over 1."""


def connection_stats(reader: TelemetryReader, window: ApmWindow, *, service: str | None = None,
                     pool: str | None = None) -> ConnectionStats:
    """Every pool with pool metrics in ``window`` (optionally one service's / one pool name's), by service, pool."""
    params: dict[str, Any] = dict(window.params)
    conds = [metrics_time()]
    if service:
        params["service"] = service
        conds.append(f"{M.SERVICE_NAME} = {{service:String}}")
    if pool:
        params["pool"] = pool
        conds.append(f"{POOL} = {{pool:String}}")
    where = " AND ".join(conds)
    latest = _latest(reader, where, params)
    series = _usage_series(reader, where, params)
    timeouts = _timeouts(reader, window, where, params)
    timings = _timings(reader, window, where, params)
    keys = sorted({*latest, *series, *timeouts, *timings})
    return ConnectionStats(step_s=window.step_s, pools=[
        _pool(key, latest.get(key, {}), timeouts.get(key), timings.get(key, {}),
              _buckets(window, series.get(key, {}))) for key in keys])


def _pool(key: tuple[str, str], latest: dict[str, float], timeouts: float | None,
          timings: dict[str, PoolTiming], series: list[PoolBucket]) -> PoolStats:
    def whole(name: str) -> int | None:
        return round(latest[name]) if name in latest else None

    used, most = whole("used"), whole("max")
    return PoolStats(service=key[0], pool=key[1], idle=whole("idle"), used=used, max=most,
                     idle_max=whole("idle_max"), idle_min=whole("idle_min"),
                     pending_requests=whole("pending_requests"),
                     usage=used / most if used is not None and most else None,
                     timeouts=None if timeouts is None else round(timeouts),
                     wait_time=timings.get("wait_time"), use_time=timings.get("use_time"), series=series)


def _prefer(found: dict[Any, tuple[int, Any]], key: Any, rank: int, value: Any) -> None:
    """Keep ``value`` under ``key`` unless a better-ranked (stable-name) value is there already."""
    if key not in found or rank < found[key][0]:
        found[key] = (rank, value)


def _gauge_union(select: str, where: str, group: str) -> str:
    return " UNION ALL ".join(f"SELECT {select} FROM {M.table(k)} WHERE {where} GROUP BY {group}"
                              for k in ("gauge", "sum"))


def _latest(reader: TelemetryReader, where: str, params: dict[str, Any]) -> dict[tuple[str, str], dict[str, float]]:
    names = [n for sfx in LATEST.values() for n in _names(sfx)]
    inner = _gauge_union(
        f"{M.SERVICE_NAME} AS service, {POOL} AS pool, {M.METRIC_NAME} AS name, {STATE} AS state, {SID} AS sid, "
        f"argMax({M.VALUE}, {M.TIME_UNIX}) AS v",
        f"{where} AND {M.METRIC_NAME} IN {{latest_names:Array(String)}}", "service, pool, name, state, sid")
    rows = reader.rows(f"SELECT service, pool, name, state, sum(v) AS v FROM ({inner}) "
                       "GROUP BY service, pool, name, state", {**params, "latest_names": names})
    found: dict[tuple[str, str, str], tuple[int, float]] = {}
    for r in rows:
        figure, rank = FIGURE_OF[r["name"]]
        if figure == "count":
            if r["state"] not in ("idle", "used"):
                continue
            figure = r["state"]
        _prefer(found, (r["service"], r["pool"], figure), rank, float(r["v"]))
    out: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    for (svc, name, figure), (_, v) in found.items():
        out[(svc, name)][figure] = v
    return out


def _usage_series(reader: TelemetryReader, where: str, params: dict[str, Any]
                  ) -> dict[tuple[str, str], dict[int, dict[str, float]]]:
    counts, maxes = _names(LATEST["count"]), _names(LATEST["max"])
    inner = _gauge_union(
        f"{M.SERVICE_NAME} AS service, {POOL} AS pool, {M.METRIC_NAME} AS name, {SID} AS sid, "
        f"intDiv(toUnixTimestamp({M.TIME_UNIX}), {{step_s:UInt32}}) * {{step_s:UInt32}} AS t, avg({M.VALUE}) AS v",
        f"{where} AND ({M.METRIC_NAME} IN {{max_names:Array(String)}} OR "
        f"({M.METRIC_NAME} IN {{count_names:Array(String)}} AND {STATE} = 'used'))", "service, pool, name, sid, t")
    rows = reader.rows(f"SELECT service, pool, name, t, sum(v) AS v FROM ({inner}) GROUP BY service, pool, name, t",
                       {**params, "count_names": counts, "max_names": maxes})
    found: dict[tuple[str, str, int, str], tuple[int, float]] = {}
    for r in rows:
        figure, rank = FIGURE_OF[r["name"]]
        _prefer(found, (r["service"], r["pool"], int(r["t"]), "used" if figure == "count" else "max"), rank,
                float(r["v"]))
    out: dict[tuple[str, str], dict[int, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
    for (svc, name, t, figure), (_, v) in found.items():
        out[(svc, name)][t][figure] = v
    return out


def _buckets(window: ApmWindow, by_t: dict[int, dict[str, float]]) -> list[PoolBucket]:
    out = []
    for t in window.bucket_starts_s():
        b = by_t.get(t, {})
        used, most = b.get("used"), b.get("max")
        out.append(PoolBucket(t=t, used=used, max=most, usage=used / most if used is not None and most else None))
    return out


_LABELS = f"[toString({M.SERVICE_NAME}), {POOL}, {M.METRIC_NAME}, {M.METRIC_UNIT}]"


def _whole_window(reader: TelemetryReader, window: ApmWindow, kind: str, aggs: tuple[str, ...], where: str,
                  params: dict[str, Any], names: list[str]) -> list[dict[tuple[str, ...], float]]:
    """Per agg of ``aggs``: its value for each (service, pool, metric name, unit) over the whole window.

    Computed by :mod:`query.metrics` (per-series increases), one metric name at a time: series of two
    metrics with the same attributes share a series id there.

    Raises:
        BadRequest: naming ``range`` when a metric has more points than :mod:`query.metrics` fetches.
    """
    present = reader.rows(f"SELECT DISTINCT {M.METRIC_NAME} AS name FROM {M.table(kind)} WHERE {where} "
                          f"AND {M.METRIC_NAME} IN {{pool_names:Array(String)}}", {**params, "pool_names": names})
    out: list[dict[tuple[str, ...], float]] = [{} for _ in aggs]
    for name in sorted(r["name"] for r in present):
        for found, agg in zip(out, aggs, strict=True):
            try:
                got = _per_series(reader, kind, agg, _LABELS, f"{where} AND {M.METRIC_NAME} = {{pool_name:String}}",
                                  {**params, "pool_name": name}, WHOLE_WINDOW_S, window.start_ns)
            except BadRequest as exc:  # too many points: the window is what to narrow
                raise BadRequest(f"too many {name} points; use a shorter range or filter service/pool",
                                 "range") from exc
            found.update({key: points[0][1] for key, points in got.items() if points})
    return out


def _timeouts(reader: TelemetryReader, window: ApmWindow, where: str,
              params: dict[str, Any]) -> dict[tuple[str, str], float]:
    by_rank: dict[tuple[str, str], dict[int, float]] = defaultdict(lambda: defaultdict(float))
    (increases,) = _whole_window(reader, window, "sum", ("sum",), where, params, _names(TIMEOUTS))
    for (svc, name, metric, _unit), v in increases.items():
        by_rank[(svc, name)][FIGURE_OF[metric][1]] += v  # one counter may come under two units
    return {key: ranks[min(ranks)] for key, ranks in by_rank.items()}


def _timings(reader: TelemetryReader, window: ApmWindow, where: str,
             params: dict[str, Any]) -> dict[tuple[str, str], dict[str, PoolTiming]]:
    names = [n for sfx in TIMINGS.values() for n in _names(sfx)]
    counts, sums, p95s = _whole_window(reader, window, "histogram", ("count", "sum", "p95"), where, params, names)
    found: dict[tuple[str, str, str], tuple[int, PoolTiming]] = {}
    for key, count in counts.items():
        svc, name, metric, unit = key
        figure, rank = FIGURE_OF[metric]
        to_ms = UNIT_MS.get(unit, 1000.0 if rank == 0 else 1.0)
        total, p95 = sums.get(key), p95s.get(key)
        timing = PoolTiming(count=round(count), avg_ms=total / count * to_ms if count and total is not None else None,
                            p95_ms=p95 * to_ms if p95 is not None else None)
        _prefer(found, (svc, name, figure), rank, timing)
    out: dict[tuple[str, str], dict[str, PoolTiming]] = defaultdict(dict)
    for (svc, name, figure), (_, timing) in found.items():
        out[(svc, name)][figure] = timing
    return out
