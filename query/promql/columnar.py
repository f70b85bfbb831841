"""A :class:`~query.promql.model.SampleSource` over the stored OTLP metrics (the ``otel_metrics_*`` tables).

Contracts:

* Names follow :mod:`query.promql.otel_names`: gauges and sums are one series per data-point stream
  (monotonic sums end in ``_total``); histograms are ``<name>_bucket`` (label ``le``, cumulative counts,
  ``+Inf`` = the point's ``Count``), ``<name>_sum``, ``<name>_count``; summaries are ``<name>`` (label
  ``quantile``), ``<name>_sum``, ``<name>_count``. Exponential histograms are not exposed (Prometheus
  2.42 has no stable native histograms).
* Labels: the data-point attributes (:func:`~query.promql.otel_names.attribute_labels`), then, as the
  spec says for resource attributes, only ``job`` (``service.namespace/service.name``) and ``instance``
  (``service.instance.id``) — other resource attributes are not labels (the spec puts them on a
  ``target_info`` series: value 1 at every millisecond where the resource has a point of an exposed kind,
  labels = the other resource attributes + ``job``/``instance``/``service_name``; it is computed only
  when the ``__name__`` matchers accept ``target_info``). Vigil's choice on top of the spec: ``service_name``
  (the stored ``ServiceName``) is always a label, since Vigil's users filter by it; and, as the spec
  recommends, ``otel_scope_name`` / ``otel_scope_version`` when the scope has them. These labels
  override a data-point attribute of the same label name. Points whose labels coincide (e.g. two
  resources differing only in attributes that are not labels) are merged into one series; of samples at
  the same millisecond the last stored one wins.
* Samples: ``t`` = ``TimeUnix`` truncated to milliseconds, in time order. Cumulative values are returned
  as stored. Delta sums and delta histograms are converted to cumulative by a running sum per series
  **starting at the first point inside the queried interval** (so the first in-window delta is the
  series' initial value: ``rate``/``increase`` see the increases after it). No staleness markers.
* Push-down: the time interval (bound ``start_ns``/``end_ns``, the whole milliseconds of
  ``[start_ms, end_ms]``); the ``__name__`` matchers (any op) — the distinct stored
  ``(MetricName, MetricUnit, kind, IsMonotonic)`` of the (hour-widened) interval are translated in Python
  (cached :data:`CATALOGUE_TTL_S` seconds) and only matching kinds are queried, with
  ``MetricName IN {names:Array(String)}``; a ``service_name="…"`` matcher becomes
  ``ServiceName = {svc:String}`` (the first sorting key). Every other matcher is applied in Python to the
  final labels (all matchers are re-checked there). Every value reaches SQL as a bound parameter.
* :meth:`ColumnarSource.label_names` / :meth:`ColumnarSource.label_values` select the series of each
  matcher set (everything when there are none: costly on big stores) and collect labels.
* The span- and log-derived series of :mod:`query.promql.derived` (``vigil_http_server_*``,
  ``vigil_db_client_*``, ``vigil_span_*``, ``vigil_log_records_total``) are selected alongside.
* Thread-safe if the reader is (the catalogue cache is guarded by a lock).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from contracts.otel_columns import Metrics as M
from contracts.reader import TelemetryReader
from query.filters import metrics_time
from query.promql import otel_names as on
from query.promql.derived import DerivedSeries
from query.promql.model import NAME, Labels, Matcher, Series, label_names_of, label_values_of, labels_of

CATALOGUE_TTL_S = 30.0
HOUR_MS = 3_600_000
DELTA = 1
EXPOSED_KINDS = ("gauge", "sum", "histogram", "summary")
SERVICE_LABEL = "service_name"
TARGET_INFO = "target_info"
_IDENTITY = frozenset({"service.name", "service.namespace", "service.instance.id"})

_COMMON = (f"{M.METRIC_NAME} AS name, {M.METRIC_UNIT} AS unit, {M.ATTRIBUTES} AS attrs, "
           f"toString({M.SERVICE_NAME}) AS svc, "
           f"{M.RESOURCE_ATTRIBUTES}['service.name'] AS rsvc, "
           f"{M.RESOURCE_ATTRIBUTES}['service.namespace'] AS rns, "
           f"{M.RESOURCE_ATTRIBUTES}['service.instance.id'] AS rinst, "
           f"{M.SCOPE_NAME} AS scope, {M.SCOPE_VERSION} AS scope_v, "
           f"toUnixTimestamp64Milli({M.TIME_UNIX}) AS t")
_KIND_COLUMNS = {
    "gauge": f"{M.VALUE} AS v, toUInt8(0) AS mono, toInt32(2) AS temp",
    "sum": f"{M.VALUE} AS v, toUInt8({M.IS_MONOTONIC}) AS mono, toInt32({M.AGGREGATION_TEMPORALITY}) AS temp",
    "histogram": (f"{M.COUNT} AS count, {M.SUM} AS sum, {M.BUCKET_COUNTS} AS buckets, "
                  f"{M.EXPLICIT_BOUNDS} AS bounds, toUInt8(0) AS mono, toInt32({M.AGGREGATION_TEMPORALITY}) AS temp"),
    "summary": (f"{M.COUNT} AS count, {M.SUM} AS sum, `{M.VALUE_AT_QUANTILES}.{M.QUANTILE}` AS qs, "
                f"`{M.VALUE_AT_QUANTILES}.{M.VALUE}` AS qv, toUInt8(0) AS mono, toInt32(2) AS temp"),
}
_MONO = {"gauge": "toUInt8(0)", "sum": f"toUInt8({M.IS_MONOTONIC})", "histogram": "toUInt8(0)",
         "summary": "toUInt8(0)"}

Catalogue = list[tuple[str, str, str, bool]]  # (kind, MetricName, MetricUnit, monotonic)


def _time_params(start_ms: int, end_ms: int) -> dict[str, int]:
    return {"start_ns": start_ms * 1_000_000, "end_ns": end_ms * 1_000_000 + 999_999}


class ColumnarSource:
    """PromQL samples read from the ``otel_metrics_*`` tables; see the module docstring."""

    def __init__(self, reader: TelemetryReader, catalogue_ttl_s: float = CATALOGUE_TTL_S,
                 clock: Callable[[], float] = time.time) -> None:
        """A source reading through ``reader``; ``clock`` is *now* for the span/log-derived series."""
        self.reader = reader
        self.derived = DerivedSeries(reader, clock)
        self.catalogue_ttl_s = catalogue_ttl_s
        self._lock = threading.Lock()
        self._cache: dict[tuple[int, int, str], tuple[float, Catalogue]] = {}

    # ---- name push-down -------------------------------------------------------------------------

    def catalogue(self, start_ms: int, end_ms: int, service: str = "") -> Catalogue:
        """Distinct stored metrics with points in the hour-widened interval (cached briefly)."""
        lo, hi = start_ms // HOUR_MS, -(-end_ms // HOUR_MS)
        key = (lo, hi, service)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and hit[0] > now:
                return hit[1]
        params: dict[str, Any] = _time_params(lo * HOUR_MS, hi * HOUR_MS)
        svc = ""
        if service:
            svc, params["svc"] = f" AND {M.SERVICE_NAME} = {{svc:String}}", service
        sql = " UNION ALL ".join(
            f"SELECT '{k}' AS kind, {M.METRIC_NAME} AS name, {M.METRIC_UNIT} AS unit, {_MONO[k]} AS mono "
            f"FROM {M.table(k)} WHERE {metrics_time()}{svc} GROUP BY name, unit, mono"
            for k in EXPOSED_KINDS)
        rows = self.reader.rows(sql, params)
        cat: Catalogue = [(str(r["kind"]), str(r["name"]), str(r["unit"]), bool(r["mono"])) for r in rows]
        with self._lock:
            if len(self._cache) > 256:
                self._cache.clear()
            self._cache[key] = (now + self.catalogue_ttl_s, cat)
        return cat

    def _candidates(self, matchers: Sequence[Matcher], start_ms: int, end_ms: int,
                    service: str) -> dict[str, list[str]]:
        """Per kind, the stored MetricNames whose translated series names satisfy the ``__name__`` matchers."""
        name_ms = [m for m in matchers if m.name == NAME]
        out: dict[str, set[str]] = {}
        for kind, name, unit, mono in self.catalogue(start_ms, end_ms, service):
            base = on.metric_name(name, unit, kind, mono)
            if any(all(m.matches(n) for m in name_ms) for n in on.family_names(base, kind)):
                out.setdefault(kind, set()).add(name)
        return {k: sorted(v) for k, v in out.items()}

    # ---- SampleSource -----------------------------------------------------------------------------

    def select(self, matchers: Sequence[Matcher], start_ms: int, end_ms: int) -> list[Series]:
        """Every series matching all ``matchers`` with its samples in ``[start_ms, end_ms]``."""
        service = next((m.value for m in matchers if m.name == SERVICE_LABEL and m.op == "=" and m.value), "")
        name_ms = [m for m in matchers if m.name == NAME]
        acc = _Accumulator()
        if all(m.matches(TARGET_INFO) for m in name_ms):
            self._target_info(acc, start_ms, end_ms, service)
        for kind, names in self._candidates(matchers, start_ms, end_ms, service).items():
            params: dict[str, Any] = {**_time_params(start_ms, end_ms), "names": names}
            conds = [f"{M.METRIC_NAME} IN {{names:Array(String)}}", metrics_time()]
            if service:
                conds.append(f"{M.SERVICE_NAME} = {{svc:String}}")
                params["svc"] = service
            sql = (f"SELECT {_COMMON}, {_KIND_COLUMNS[kind]} FROM {M.table(kind)} "
                   f"WHERE {' AND '.join(conds)} ORDER BY {M.TIME_UNIX}")
            for row in self.reader.rows(sql, params):
                acc.add_row(kind, row, name_ms)
        stored = [s for s in acc.series() if all(m.matches_labels(s.labels) for m in matchers)]
        derived = self.derived.select(matchers, start_ms, end_ms)
        return sorted(stored + derived, key=lambda s: s.labels) if derived else stored

    def _target_info(self, acc: _Accumulator, start_ms: int, end_ms: int, service: str) -> None:
        """``target_info`` = 1 per resource, at every timestamp where the resource has a point."""
        params: dict[str, Any] = _time_params(start_ms, end_ms)
        cond = metrics_time()
        if service:
            cond += f" AND {M.SERVICE_NAME} = {{svc:String}}"
            params["svc"] = service
        union = " UNION ALL ".join(
            f"SELECT {M.RESOURCE_ATTRIBUTES} AS r, toString({M.SERVICE_NAME}) AS svc, "
            f"toUnixTimestamp64Milli({M.TIME_UNIX}) AS t FROM {M.table(k)} WHERE {cond}" for k in EXPOSED_KINDS)
        sql = f"SELECT r, svc, arraySort(groupUniqArray(t)) AS ts FROM ({union}) GROUP BY r, svc"
        for row in self.reader.rows(sql, params):
            res = {str(k): str(v) for k, v in dict(row["r"]).items()}
            job, instance = on.job_instance(res)
            labels = on.attribute_labels({k: v for k, v in res.items() if k not in _IDENTITY})
            labels.update({"job": job, "instance": instance, SERVICE_LABEL: str(row["svc"]), NAME: TARGET_INFO})
            for t in row["ts"]:
                acc.put(labels, int(t), 1.0, False)

    def _selected(self, matcher_sets: Sequence[Sequence[Matcher]], start_ms: int, end_ms: int) -> list[Labels]:
        chosen: set[Labels] = set()
        for ms in matcher_sets or [[]]:
            chosen.update(s.labels for s in self.select(ms, start_ms, end_ms))
        return sorted(chosen)

    def label_names(self, matcher_sets: Sequence[Sequence[Matcher]], start_ms: int, end_ms: int) -> list[str]:
        """Sorted label names of the series selected by any of ``matcher_sets`` (all series when empty)."""
        return label_names_of(self._selected(matcher_sets, start_ms, end_ms))

    def label_values(self, name: str, matcher_sets: Sequence[Sequence[Matcher]], start_ms: int,
                     end_ms: int) -> list[str]:
        """Sorted non-empty values of label ``name`` over the series selected as in :meth:`label_names`."""
        return label_values_of(self._selected(matcher_sets, start_ms, end_ms), name)


class _Accumulator:
    """Rows (in time order) → samples per label set, delta points summed into cumulative values."""

    def __init__(self) -> None:
        self._samples: dict[Labels, list[tuple[int, float]]] = {}
        self._running: dict[Labels, float] = {}

    def put(self, labels: dict[str, str], t: int, v: float, delta: bool) -> None:
        key = labels_of(labels)
        if delta:
            v = self._running[key] = self._running.get(key, 0.0) + v
        self._samples.setdefault(key, []).append((t, v))

    def add_row(self, kind: str, row: dict[str, Any], name_ms: Sequence[Matcher]) -> None:
        """Add one stored data point as its Prometheus samples (only the series names ``name_ms`` match)."""
        base_name = on.metric_name(str(row["name"]), str(row["unit"]), kind, bool(row["mono"]))
        wanted = [n for n in on.family_names(base_name, kind) if all(m.matches(n) for m in name_ms)]
        if not wanted:
            return
        base = on.attribute_labels({str(k): str(v) for k, v in dict(row["attrs"]).items()})
        job, instance = on.job_instance({"service.name": str(row["rsvc"]), "service.namespace": str(row["rns"]),
                                         "service.instance.id": str(row["rinst"])})
        base.update({"job": job, "instance": instance, SERVICE_LABEL: str(row["svc"]),
                     "otel_scope_name": str(row["scope"]), "otel_scope_version": str(row["scope_v"])})
        t, delta = int(row["t"]), int(row["temp"]) == DELTA
        if kind in ("gauge", "sum"):
            self.put({**base, NAME: base_name}, t, float(row["v"]), delta and kind == "sum")
            return
        for name in wanted:
            labels = {**base, NAME: name}
            if name == f"{base_name}_sum":
                self.put(labels, t, float(row["sum"]), delta)
            elif name == f"{base_name}_count":
                self.put(labels, t, float(row["count"]), delta)
            elif kind == "histogram":
                cum = np.cumsum(np.asarray(row["buckets"], dtype=np.float64))
                bounds = [float(b) for b in row["bounds"]]
                for i, bound in enumerate(bounds):
                    value = float(cum[i]) if i < cum.shape[0] else float(row["count"])
                    self.put({**labels, "le": on.format_float(bound)}, t, value, delta)
                self.put({**labels, "le": "+Inf"}, t, float(row["count"]), delta)
            else:
                for q, qv in zip(row["qs"], row["qv"], strict=False):
                    self.put({**labels, "quantile": on.format_float(float(q))}, t, float(qv), False)

    def series(self) -> list[Series]:
        """The accumulated series, ordered by labels; one sample per millisecond (the last wins)."""
        out: list[Series] = []
        for labels in sorted(self._samples):
            pts = self._samples[labels]
            t = np.asarray([p[0] for p in pts], dtype=np.int64)
            v = np.asarray([p[1] for p in pts], dtype=np.float64)
            if t.shape[0] > 1 and not bool(np.all(t[1:] > t[:-1])):
                order = np.argsort(t, kind="stable")
                t, v = t[order], v[order]
                keep = np.ones(t.shape[0], dtype=np.bool_)
                keep[:-1] = t[1:] != t[:-1]
                t, v = t[keep], v[keep]
            out.append(Series(labels, t, v))
        return out
