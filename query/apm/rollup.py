"""Where APM figures are read from: the per-minute rollups for whole minutes, raw spans for the rest.

A window ``[start, end]`` (closed, ns) of at least :data:`MIN_ROLLUP_S` with buckets of a minute or more
is **widened to whole minutes** (the minute holding ``start`` to the one holding ``end``, so at most
59 s more at either end — the rollup's resolution) and read from the rollup tables
(:mod:`contracts.rollups`) only. The views fill the rollups as spans are inserted, so the current
minute is there too: a widened ``range=1h`` includes every span stored up to now. Shorter windows and
sub-minute buckets read raw spans, aggregated on the fly **with the rollup views' own SELECT** (with
ClickHouse's exact ``quantiles`` state instead of the t-digest), exactly over ``[start, end]``.

Counts and sums are exact (for the widened window); percentiles are exact (below 8192 values, as
``quantiles``) for raw windows and t-digest estimates from the rollup — merge them with
:attr:`Source.quantiles`. Apdex comes from the duration histogram (:func:`apdex`).

:func:`red_source` and :func:`db_source` return a :class:`Source` and bind its parameters
(``ru_a``/``ru_b`` for the rollup minutes, ``raw{i}_s``/``raw{i}_e`` for a raw interval) into
``params``; the ``service``/``environment`` filters apply to either.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from contracts.otel_columns import Traces as T
from contracts.rollups import (
    DB_GROUP,
    EXACT_QUANTILES,
    QUANTILE_LEVELS,
    RED_GROUP,
    ROLLUP_QUANTILES,
    Db,
    Red,
    bucket_bounds_ns,
    db_select,
    red_select,
)
from contracts.semconv_sql import ENVIRONMENT
from query.apm.window import ApmWindow
from query.filters import traces_time

MIN_ROLLUP_S = 600
MINUTE_NS = 60_000_000_000


@dataclass(frozen=True)
class Split:
    """Whole minutes ``[start_s, end_s)`` from the rollup, or closed ns intervals from raw spans."""

    minutes: tuple[int, int] | None
    raw: tuple[tuple[int, int], ...]


def split(window: ApmWindow) -> Split:
    """The rollup minutes or the raw interval of ``window`` (see the module doc)."""
    start, end = window.start_ns, window.end_ns
    if window.step_s < 60 or window.seconds < MIN_ROLLUP_S:
        return Split(None, ((start, end),))
    first = start // MINUTE_NS  # the minute holding start
    last = -(-(end + 1) // MINUTE_NS)  # the first minute after the one holding end
    return Split((first * 60, last * 60), ())


@dataclass(frozen=True)
class Source:
    """A rollup-shaped subquery (``sql``, parenthesised) and the merge of its ``Quantiles`` column."""

    sql: str
    quantiles: str

    def __str__(self) -> str:
        """The subquery, to embed after ``FROM``."""
        return self.sql


def _source(window: ApmWindow, params: dict[str, object], table: str, columns: str,
            select: Callable[[str, str], str], group: str, service: str | None, environment: str | None) -> Source:
    parts = []
    where = split(window)
    fn = ROLLUP_QUANTILES if where.minutes else EXACT_QUANTILES
    rollup_filters, raw_filters = [], []
    if service:
        params["service"] = service
        rollup_filters.append("ServiceName = {service:String}")
        raw_filters.append("ServiceName = {service:String}")
    if environment:
        params["environment"] = environment
        rollup_filters.append("Environment = {environment:String}")
        raw_filters.append(f"{ENVIRONMENT} = {{environment:String}}")
    if where.minutes:
        params["ru_a"], params["ru_b"] = where.minutes
        conds = ["Minute >= toDateTime({ru_a:UInt32})", "Minute < toDateTime({ru_b:UInt32})", *rollup_filters]
        parts.append(f"SELECT {columns} FROM {table} WHERE {' AND '.join(conds)}")
    for i, (s, e) in enumerate(where.raw):
        params[f"raw{i}_s"], params[f"raw{i}_e"] = s, e
        conds = [traces_time(f"raw{i}_s", f"raw{i}_e"), *raw_filters]
        params["step_s"] = window.step_s
        bucket = f"toStartOfInterval({T.TIMESTAMP}, toIntervalSecond({{step_s:UInt32}}))"
        parts.append(f"SELECT {columns} FROM ({select(fn, bucket)} AND {' AND '.join(conds)} {group})")
    return Source("(" + " UNION ALL ".join(parts) + ")", f"{fn}Merge({QUANTILE_LEVELS})({Red.QUANTILES})")


RED_COLUMNS = ", ".join([Red.MINUTE, Red.SERVICE_NAME, Red.ENVIRONMENT, Red.METHOD, Red.ROUTE, Red.STATUS,
                         Red.FAILED, Red.REQUESTS, Red.DURATION_SUM, Red.DURATION_MAX, Red.QUANTILES, Red.BUCKETS])
DB_COLUMNS = ", ".join([Db.MINUTE, Db.SERVICE_NAME, Db.ENVIRONMENT, Db.DB_SYSTEM, Db.DB_NAMESPACE, Db.DB_OPERATION,
                        Db.QUERY_HASH, Db.STATEMENT, Db.EXECUTIONS, Db.ERRORS, Db.DURATION_SUM, Db.DURATION_MAX,
                        Db.QUANTILES, Db.ROWS, Db.ROWS_REPORTED, Db.SLOWEST])


def red_source(window: ApmWindow, params: dict[str, object], service: str | None = None,
               environment: str | None = None) -> Source:
    """A subquery of ``vigil_red_1m`` rows covering exactly the requests in ``window``."""
    return _source(window, params, Red.TABLE, RED_COLUMNS, red_select, RED_GROUP, service, environment)


def db_source(window: ApmWindow, params: dict[str, object], service: str | None = None,
              environment: str | None = None) -> Source:
    """A subquery of ``vigil_db_1m`` rows covering exactly the DB client calls in ``window``."""
    return _source(window, params, Db.TABLE, DB_COLUMNS, db_select, DB_GROUP, service, environment)


def bucket_time(step_param: str = "step_s") -> str:
    """SQL: the unix-second start of a rollup row's series bucket (steps are whole minutes or less)."""
    return f"toUnixTimestamp(toStartOfInterval({Red.MINUTE}, toIntervalSecond({{{step_param}:UInt32}})))"




def count_at_most(hist: Mapping[int, int], limit_ns: float) -> float:
    """How many durations of the histogram are ≤ ``limit_ns`` (log-linear within the bucket holding it)."""
    total = 0.0
    for bucket, n in hist.items():
        low, high = bucket_bounds_ns(int(bucket))
        if high <= limit_ns:
            total += n
        elif low <= limit_ns:
            span = math.log(high) - math.log(low) if low > 0 else 1.0
            part = (math.log(limit_ns) - math.log(low)) / span if low > 0 and limit_ns > 0 else 1.0
            total += n * min(1.0, max(0.0, part))
    return total


def apdex(hist: Mapping[int, int], t_ns: float) -> float:
    """Apdex with threshold ``t_ns`` from a duration histogram: (satisfied + tolerating / 2) / all (1.0 if empty)."""
    n = sum(hist.values())
    if not n:
        return 1.0
    satisfied = count_at_most(hist, t_ns)
    tolerating = count_at_most(hist, 4 * t_ns) - satisfied
    return (satisfied + tolerating / 2) / n
