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
  ``ServiceName = {svc:String}`` (the first sorting key), and a ``job="…"`` matcher becomes
  ``ServiceName IN`` the names it can stand for (the whole value, and each part after a ``/``). Every
  other matcher is applied in Python to the final labels (all matchers are re-checked there). Every
  value reaches SQL as a bound parameter.
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
from query.promql.columnar_fetch import Piece, merge, read_kind
from query.promql.derived import DerivedSeries
from query.promql.model import NAME, Labels, Matcher, Series, label_names_of, label_values_of, labels_of

CATALOGUE_TTL_S = 30.0
HOUR_MS = 3_600_000
DELTA = 1
EXPOSED_KINDS = ("gauge", "sum", "histogram", "summary")
SERVICE_LABEL = "service_name"
TARGET_INFO = "target_info"
_IDENTITY = frozenset({"service.name", "service.namespace", "service.instance.id"})

_MONO = {"gauge": "toUInt8(0)", "sum": f"toUInt8({M.IS_MONOTONIC})", "histogram": "toUInt8(0)",
         "summary": "toUInt8(0)"}

Catalogue = list[tuple[str, str, str, bool]]  # (kind, MetricName, MetricUnit, monotonic)


def _time_params(start_ms: int, end_ms: int) -> dict[str, int]:
    return {"start_ns": start_ms * 1_000_000, "end_ns": end_ms * 1_000_000 + 999_999}


def job_services(job: str) -> list[str]:
    """The service names a series with label ``job`` can have: ``job`` is ``namespace/name`` or ``name``."""
    return [job, *(job[i + 1:] for i, c in enumerate(job) if c == "/")]


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
        job = next((m.value for m in matchers if m.name == "job" and m.op == "=" and m.value), None)
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
            elif job is not None:
                conds.append(f"{M.SERVICE_NAME} IN {{job_svcs:Array(String)}}")
                params["job_svcs"] = job_services(job)
            for piece in read_kind(self.reader, kind, " AND ".join(conds), params, name_ms):
                acc.add_piece(piece)
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
    """Series pieces and target_info samples → one series per label set (see :func:`columnar_fetch.merge`)."""

    def __init__(self) -> None:
        self._pieces: dict[Labels, list[Piece]] = {}

    def put(self, labels: dict[str, str], t: int, v: float, delta: bool) -> None:
        """One sample (``target_info``)."""
        key = labels_of(labels)
        self._pieces.setdefault(key, []).append((key, np.asarray([t], dtype=np.int64),
                                                 np.asarray([v], dtype=np.float64), delta))

    def add_piece(self, piece: Piece) -> None:
        """Samples of one stored stream."""
        self._pieces.setdefault(piece[0], []).append(piece)

    def series(self) -> list[Series]:
        """The accumulated series, ordered by labels; one sample per millisecond."""
        out: list[Series] = []
        for labels in sorted(self._pieces):
            t, v = merge(self._pieces[labels])
            out.append(Series(labels, t, v))
        return out
