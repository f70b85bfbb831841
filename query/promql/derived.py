"""Counters and histograms derived from stored spans and logs, as PromQL series (like the Collector's spanmetrics).

Families (:data:`FAMILIES`; labels with an empty value are dropped, as everywhere in PromQL):

============================================ ======== =================================================================
series                                       from     labels
============================================ ======== =================================================================
``vigil_http_server_requests_total``         requests service_name, http_route, http_request_method,
                                                      http_response_status_code
``vigil_http_server_errors_total``           failed   the same
                                             requests
``vigil_http_server_duration_seconds``       requests the same (histogram: ``_bucket``/``_sum``/``_count``)
``vigil_db_client_duration_seconds``         DB calls service_name, db_system, db_namespace, db_operation
``vigil_span_calls_total``                   spans    service_name, span_name, span_kind, status_code
``vigil_span_duration_seconds``              spans    the same (histogram)
``vigil_log_records_total``                  logs     service_name, severity_text
============================================ ======== =================================================================

"Requests", "failed" and "DB calls" are :mod:`contracts.semconv_sql`'s ``IS_REQUEST`` / ``IS_ERROR`` /
``IS_DB_CALL``, the definitions the APM API and the rollups count with, so PromQL and ``/api/metrics/api``
agree. ``http_route`` is the APM endpoint (``http.route``, else the span name). ``span_kind`` and
``status_code`` are spelled as spanmetrics spells them (``SPAN_KIND_SERVER``, ``STATUS_CODE_ERROR``) so
dashboards built for spanmetrics work. Histogram bounds are :data:`BOUNDS_S` (the OTel semantic
conventions' advice for ``http.server.request.duration``); a bucket counts durations ``<=`` its bound,
compared in integer nanoseconds, so bucket counts are exact.

Samples — a cumulative counter "scraped" at every minute boundary:

* the value at time ``b`` counts the records whose ``Timestamp`` is before ``b``; a series starts with a
  0 at the start of the minute of its first record (so ``increase`` over its birth sees every record)
  and then has a sample at every minute boundary, without gaps, up to the end of the interval (never
  stale: a quiet endpoint's ``rate`` is 0, not absent), as long as the store keeps records;
* one more sample at the *cut* — the end of the queried interval or *now* (the source's clock), whichever
  is earlier, when it is not a minute boundary — counts every record up to that millisecond. So an
  instant query at ``t`` of ``sum(vigil_http_server_requests_total)`` is the exact number of requests
  stored with a timestamp up to ``t``, a range query's last step sees the records of its partial last
  minute, and no sample is in the future.

Counts are exact for what is stored. Counts before the hour containing the interval's start (the
series' base value) are cached for :data:`BASE_TTL_S` seconds per family and hour, so records arriving
late with timestamps older than that hour show up within that time. The resolution is one minute (like
a 60 s scrape interval): use ranges of 2 minutes or more in ``rate``. Cost: one grouped scan of the
interval's hours plus, when not cached, one of everything before it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from contracts.otel_columns import Logs as L
from contracts.otel_columns import Traces as T
from contracts.reader import TelemetryReader
from contracts.semconv_sql import (
    DB_NAMESPACE,
    DB_OPERATION_OR_VERB,
    DB_SYSTEM,
    HTTP_METHOD,
    HTTP_STATUS,
    IS_DB_CALL,
    IS_ERROR,
    IS_REQUEST,
    ROUTE,
)
from query.promql.model import NAME, FloatArray, IntArray, Matcher, Series, labels_of
from query.promql.otel_names import format_float

BOUNDS_S = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
_BOUNDS_NS = [round(b * 1e9) for b in BOUNDS_S]
MINUTE_MS = 60_000
HOUR_MS = 3_600_000
BASE_TTL_S = 60.0

_HTTP = (("service_name", T.SERVICE_NAME), ("http_route", ROUTE),
         ("http_request_method", HTTP_METHOD), ("http_response_status_code", HTTP_STATUS))
_SPAN = (("service_name", T.SERVICE_NAME), ("span_name", T.SPAN_NAME),
         ("span_kind", f"concat('SPAN_KIND_', upper(toString({T.SPAN_KIND})))"),
         ("status_code", f"concat('STATUS_CODE_', upper(toString({T.STATUS_CODE})))"))


@dataclass(frozen=True)
class Family:
    """One derived metric: a counter (``histogram`` False) or a histogram of ``Duration``."""

    name: str
    table: str
    where: str
    labels: tuple[tuple[str, str], ...]  # (label name, SQL expression)
    histogram: bool = False

    def names(self) -> tuple[str, ...]:
        """The series names the family exposes."""
        if self.histogram:
            return (f"{self.name}_bucket", f"{self.name}_sum", f"{self.name}_count")
        return (self.name,)


FAMILIES = (
    Family("vigil_http_server_requests_total", T.TABLE, IS_REQUEST, _HTTP),
    Family("vigil_http_server_errors_total", T.TABLE, f"{IS_REQUEST} AND {IS_ERROR}", _HTTP),
    Family("vigil_http_server_duration_seconds", T.TABLE, IS_REQUEST, _HTTP, histogram=True),
    Family("vigil_db_client_duration_seconds", T.TABLE, IS_DB_CALL,
           (("service_name", T.SERVICE_NAME), ("db_system", DB_SYSTEM),
            ("db_namespace", DB_NAMESPACE), ("db_operation", DB_OPERATION_OR_VERB)), histogram=True),
    Family("vigil_span_calls_total", T.TABLE, "1", _SPAN),
    Family("vigil_span_duration_seconds", T.TABLE, "1", _SPAN, histogram=True),
    Family("vigil_log_records_total", L.TABLE, "1",
           (("service_name", L.SERVICE_NAME), ("severity_text", L.SEVERITY_TEXT))),
)
NAMES = frozenset(n for f in FAMILIES for n in f.names())

Key = tuple[str, ...]
Counts = dict[Key, FloatArray]  # labels → [count, duration ns sum, bucket counts…]


def _sql(f: Family, pushed: Sequence[Matcher], grouped: bool) -> tuple[str, dict[str, Any]]:
    """The grouped scan of ``f`` over ``[lo_ns, hi_ns)`` (per minute when ``grouped``) and its parameters."""
    exprs = dict(f.labels)
    cols = [f"{e} AS l{i}" for i, (_, e) in enumerate(f.labels)]
    params: dict[str, Any] = {}
    conds = [f.where, f"{T.TIMESTAMP} >= fromUnixTimestamp64Nano({{lo_ns:Int64}})",
             f"{T.TIMESTAMP} < fromUnixTimestamp64Nano({{hi_ns:Int64}})"]
    coarse = f"toDateTime({T.TIMESTAMP})" if f.table == T.TABLE else L.TIMESTAMP_TIME  # prunes by the primary index
    conds.append(f"{coarse} >= toDateTime(intDiv({{lo_ns:Int64}}, 1000000000))")
    conds.append(f"{coarse} < toDateTime(intDiv({{hi_ns:Int64}}, 1000000000) + 1)")
    for i, m in enumerate(pushed):
        conds.append(f"{exprs[m.name]} = {{p{i}:String}}")
        params[f"p{i}"] = m.value
    keys = [f"l{i}" for i in range(len(f.labels))]
    if grouped:
        cols.append(f"intDiv(toUnixTimestamp64Milli({T.TIMESTAMP}), {MINUTE_MS}) AS m")
        keys.append("m")
    cols.append("toFloat64(count()) AS c")
    if f.histogram:
        cols.append(f"toFloat64(sum({T.DURATION})) AS s")
        cols.append(f"sumForEach(arrayMap(b -> toUInt64({T.DURATION} <= b), {{bounds:Array(UInt64)}})) AS le")
        params["bounds"] = _BOUNDS_NS
    sql = f"SELECT {', '.join(cols)} FROM {f.table} WHERE {' AND '.join(conds)} GROUP BY {', '.join(keys)}"
    return sql, params


def _vector(row: dict[str, Any], histogram: bool) -> FloatArray:
    if not histogram:
        return np.asarray([row["c"]], dtype=np.float64)
    return np.asarray([row["c"], row["s"], *row["le"]], dtype=np.float64)


class DerivedSeries:
    """The derived families read from ``reader``; ``clock`` (seconds) is *now* for the partial minute."""

    def __init__(self, reader: TelemetryReader, clock: Callable[[], float] = time.time,
                 base_ttl_s: float = BASE_TTL_S) -> None:
        """Read through ``reader``; base counts are cached ``base_ttl_s`` seconds."""
        self.reader = reader
        self.clock = clock
        self.base_ttl_s = base_ttl_s
        self._lock = threading.Lock()
        self._bases: dict[tuple[str, tuple[tuple[str, str], ...], int], tuple[float, Counts]] = {}

    def select(self, matchers: Sequence[Matcher], start_ms: int, end_ms: int) -> list[Series]:
        """Every derived series matching all ``matchers`` with its samples in ``[start_ms, end_ms]``."""
        name_ms = [m for m in matchers if m.name == NAME]
        out: list[Series] = []
        now_ms = int(self.clock() * 1000)
        for f in FAMILIES:
            wanted = [n for n in f.names() if all(m.matches(n) for m in name_ms)]
            if not wanted:
                continue
            label_names = {name for name, _ in f.labels}
            pushable = set(label_names)
            if f.histogram:
                label_names.add("le")
            pushed = [m for m in matchers if m.op == "=" and m.name in pushable]
            if any(m.name not in label_names and m.name != NAME and not m.matches("") for m in matchers):
                continue  # requires a label the family never has
            out.extend(s for s in self._family(f, wanted, pushed, start_ms, end_ms, now_ms)
                       if all(m.matches_labels(s.labels) for m in matchers))
        return sorted(out, key=lambda s: s.labels)

    def _base(self, f: Family, pushed: Sequence[Matcher], hour_ms: int) -> Counts:
        """Per label set, the counts of every record before ``hour_ms`` (cached ``base_ttl_s``)."""
        key = (f.name, tuple((m.name, m.value) for m in pushed), hour_ms)
        now = time.monotonic()
        with self._lock:
            hit = self._bases.get(key)
            if hit is not None and hit[0] > now:
                return hit[1]
        sql, params = _sql(f, pushed, grouped=False)
        params.update(lo_ns=0, hi_ns=hour_ms * 1_000_000)
        n = len(f.labels)
        counts = {tuple(str(r[f"l{i}"]) for i in range(n)): _vector(r, f.histogram)
                  for r in self.reader.rows(sql, params)}
        with self._lock:
            if len(self._bases) > 512:
                self._bases.clear()
            self._bases[key] = (now + self.base_ttl_s, counts)
        return counts

    def _family(self, f: Family, wanted: Sequence[str], pushed: Sequence[Matcher], start_ms: int, end_ms: int,
                now_ms: int) -> list[Series]:
        a = (start_ms // HOUR_MS) * HOUR_MS  # the base covers everything before the interval's hour
        cut = min(end_ms, now_ms)  # the last sample: the records up to this millisecond
        if cut < a:
            return []
        e = -(-(cut + 1) // MINUTE_MS) * MINUTE_MS  # minutes [a, e) hold every record up to `cut`
        n_min = (e - a) // MINUTE_MS
        sql, params = _sql(f, pushed, grouped=True)
        params.update(lo_ns=a * 1_000_000, hi_ns=(cut + 1) * 1_000_000)
        width = (2 + len(_BOUNDS_NS)) if f.histogram else 1
        n = len(f.labels)
        minutes: dict[Key, FloatArray] = {}
        for r in self.reader.rows(sql, params):
            key = tuple(str(r[f"l{i}"]) for i in range(n))
            grid = minutes.get(key)
            if grid is None:
                grid = minutes[key] = np.zeros((n_min, width), dtype=np.float64)
            grid[int(r["m"]) - a // MINUTE_MS] += _vector(r, f.histogram)
        base = self._base(f, pushed, a)
        out: list[Series] = []
        for key in sorted(set(minutes) | set(base)):
            times, values = _samples(base.get(key), minutes.get(key), a, n_min, width, start_ms, cut)
            if times.shape[0] == 0:
                continue
            labels = {name: v for (name, _), v in zip(f.labels, key, strict=True)}
            out.extend(_family_series(f, wanted, labels, times, values))
        return out


def _samples(base: FloatArray | None, grid: FloatArray | None,
             a: int, n_min: int, width: int, start_ms: int, cut: int) -> tuple[IntArray, FloatArray]:
    """Sample times and cumulative value rows of one label set (see the module docstring)."""
    b = base if base is not None else np.zeros(width, dtype=np.float64)
    g = grid if grid is not None else np.zeros((n_min, width), dtype=np.float64)
    # value at boundary a + k·minute (k = 0..n_min) = base + the minutes before it
    cum = np.vstack([b[None, :], b[None, :] + np.cumsum(g, axis=0)])
    times = a + np.arange(n_min + 1, dtype=np.int64) * MINUTE_MS
    first = 0
    if base is None:  # born in the interval: from the start of its first minute, at 0
        first = int(np.argmax(g[:, 0] > 0))
    keep = (np.arange(n_min + 1) >= first) & (times >= start_ms) & (times <= cut)
    t_out, v_out = times[keep], cum[keep]
    if start_ms <= cut and cut % MINUTE_MS != 0 and cut >= a + first * MINUTE_MS:
        t_out = np.append(t_out, np.int64(cut))
        v_out = np.vstack([v_out, cum[-1][None, :]])  # the partial last minute's records up to `cut`
    return t_out, v_out


def _family_series(f: Family, wanted: Sequence[str], labels: dict[str, str],
                   times: IntArray,
                   values: FloatArray) -> list[Series]:
    if not f.histogram:
        return [Series(labels_of({**labels, NAME: f.name}), times, np.ascontiguousarray(values[:, 0]))]
    out: list[Series] = []
    if f"{f.name}_bucket" in wanted:
        for i, bound in enumerate(BOUNDS_S):
            out.append(Series(labels_of({**labels, NAME: f"{f.name}_bucket", "le": format_float(bound)}), times,
                              np.ascontiguousarray(values[:, 2 + i])))
        out.append(Series(labels_of({**labels, NAME: f"{f.name}_bucket", "le": "+Inf"}), times,
                          np.ascontiguousarray(values[:, 0])))
    if f"{f.name}_sum" in wanted:
        out.append(Series(labels_of({**labels, NAME: f"{f.name}_sum"}), times, values[:, 1] / 1e9))
    if f"{f.name}_count" in wanted:
        out.append(Series(labels_of({**labels, NAME: f"{f.name}_count"}), times, np.ascontiguousarray(values[:, 0])))
    return out
