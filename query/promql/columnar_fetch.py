"""Vectorized reads of one ``otel_metrics_<kind>`` table into Prometheus series (used by :mod:`query.promql.columnar`).

A *stream* is one stored data-point stream: the points sharing metric name, unit, attributes, service,
the resource's identity attributes, scope, monotonicity and temporality (histograms: and bounds). Each
read is two or three queries whatever the number of points:

1. the streams (one row each, with the values the labels are built from), keyed by ``sid`` — a
   ``cityHash64`` of the identity columns;
2. the points as a numpy structured array (``TelemetryReader.columns``) ordered by ``(sid, t)``: no
   Python object per point;
3. for ``_bucket`` series the cumulative bucket counts (``ARRAY JOIN``; a bucket the point lacks counts
   the whole ``Count``), for summaries the quantile values, ordered by ``(sid, bucket, t)``.

:func:`read_kind` returns pieces ``(labels, t, v, delta)``; several streams may give the same label set
(:func:`merge` joins them). The conditions and parameters come from the caller; every value is bound.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from contracts.otel_columns import Metrics as M
from contracts.reader import TelemetryReader
from query.promql import otel_names as on
from query.promql.model import NAME, FloatArray, IntArray, Labels, Matcher, labels_of

SERVICE_LABEL = "service_name"
DELTA = 1
_MONO = {"gauge": "toUInt8(0)", "sum": f"toUInt8({M.IS_MONOTONIC})", "histogram": "toUInt8(0)",
         "summary": "toUInt8(0)"}
_TEMP = {"gauge": "toInt32(2)", "sum": f"toInt32({M.AGGREGATION_TEMPORALITY})",
         "histogram": f"toInt32({M.AGGREGATION_TEMPORALITY})", "summary": "toInt32(2)"}
_RES = M.RESOURCE_ATTRIBUTES

Piece = tuple[Labels, IntArray, FloatArray, bool]


def _identity(kind: str) -> list[str]:
    cols = [M.METRIC_NAME, M.METRIC_UNIT, M.ATTRIBUTES, f"toString({M.SERVICE_NAME})", f"{_RES}['service.name']",
            f"{_RES}['service.namespace']", f"{_RES}['service.instance.id']", M.SCOPE_NAME, M.SCOPE_VERSION,
            _MONO[kind], _TEMP[kind]]
    return [*cols, M.EXPLICIT_BOUNDS] if kind == "histogram" else cols


def _sid(kind: str) -> str:
    return f"cityHash64({', '.join(_identity(kind))})"


def _streams_sql(kind: str, where: str) -> str:
    names = ["name", "unit", "attrs", "svc", "rsvc", "rns", "rinst", "scope", "scope_v", "mono", "temp", "bounds"]
    cols = ", ".join(f"any({expr}) AS {alias}" for expr, alias in zip(_identity(kind), names, strict=False))
    return f"SELECT {_sid(kind)} AS sid, {cols} FROM {M.table(kind)} WHERE {where} GROUP BY sid"


def _points_sql(kind: str, where: str) -> str:
    t = f"toUnixTimestamp64Milli({M.TIME_UNIX}) AS t"
    values = (f"toFloat64({M.VALUE}) AS v" if kind in ("gauge", "sum")
              else f"toFloat64({M.COUNT}) AS count, toFloat64({M.SUM}) AS sum")
    return f"SELECT {_sid(kind)} AS sid, {t}, {values} FROM {M.table(kind)} WHERE {where} ORDER BY sid, t"


def _buckets_sql(where: str) -> str:
    cums = (f"arrayMap(i -> toFloat64(if(i <= length({M.BUCKET_COUNTS}), arrayCumSum({M.BUCKET_COUNTS})[i], "
            f"{M.COUNT})), arrayEnumerate({M.EXPLICIT_BOUNDS}))")
    inner = (f"SELECT {_sid('histogram')} AS sid, toUnixTimestamp64Milli({M.TIME_UNIX}) AS t, {cums} AS cums "
             f"FROM {M.table('histogram')} WHERE {where}")
    return f"SELECT sid, t, i, c FROM ({inner}) ARRAY JOIN cums AS c, arrayEnumerate(cums) AS i ORDER BY sid, i, t"


def _quantiles_sql(where: str) -> str:
    inner = (f"SELECT {_sid('summary')} AS sid, toUnixTimestamp64Milli({M.TIME_UNIX}) AS t, "
             f"`{M.VALUE_AT_QUANTILES}.{M.QUANTILE}` AS qs, `{M.VALUE_AT_QUANTILES}.{M.VALUE}` AS qv "
             f"FROM {M.table('summary')} WHERE {where}")
    return (f"SELECT sid, t, toFloat64(q) AS q, toFloat64(v) AS v FROM ({inner}) ARRAY JOIN qs AS q, qv AS v "
            "ORDER BY sid, q, t")


def _segments(keys: npt.NDArray[Any]) -> list[tuple[Any, int, int]]:
    """``(key, start, end)`` of each run of equal values in sorted ``keys``."""
    if keys.shape[0] == 0:
        return []
    uniq, starts = np.unique(keys, return_index=True)
    order = np.argsort(starts)
    uniq, starts = uniq[order], starts[order]
    ends = np.append(starts[1:], keys.shape[0])
    return [(u, int(s), int(e)) for u, s, e in zip(uniq.tolist(), starts.tolist(), ends.tolist(), strict=True)]


def _base_labels(row: dict[str, Any]) -> dict[str, str]:
    base = on.attribute_labels({str(k): str(v) for k, v in dict(row["attrs"]).items()})
    job, instance = on.job_instance({"service.name": str(row["rsvc"]), "service.namespace": str(row["rns"]),
                                     "service.instance.id": str(row["rinst"])})
    base.update({"job": job, "instance": instance, SERVICE_LABEL: str(row["svc"]),
                 "otel_scope_name": str(row["scope"]), "otel_scope_version": str(row["scope_v"])})
    return base


def read_kind(reader: TelemetryReader, kind: str, where: str, params: dict[str, Any],
              name_ms: Sequence[Matcher]) -> list[Piece]:
    """The series pieces of table ``kind``'s points satisfying ``where`` whose names ``name_ms`` accept."""
    streams: dict[int, tuple[str, dict[str, str], bool, list[float]]] = {}
    wanted: set[str] = set()
    for row in reader.rows(_streams_sql(kind, where), params):
        base_name = on.metric_name(str(row["name"]), str(row["unit"]), kind, bool(row["mono"]))
        names = [n for n in on.family_names(base_name, kind) if all(m.matches(n) for m in name_ms)]
        if names:
            wanted.update(names)
            bounds = [float(b) for b in row["bounds"]] if kind == "histogram" else []
            streams[int(row["sid"])] = (base_name, _base_labels(row), int(row["temp"]) == DELTA, bounds)
    if not streams:
        return []
    out: list[Piece] = []
    points = reader.columns(_points_sql(kind, where), params)
    for sid, lo, hi in _segments(points["sid"]) if points.size else []:
        stream = streams.get(int(sid))
        if stream is None:
            continue
        base_name, base, delta, _ = stream
        t = np.ascontiguousarray(points["t"][lo:hi], dtype=np.int64)
        if kind in ("gauge", "sum"):
            out.append((labels_of({**base, NAME: base_name}), t, points["v"][lo:hi].astype(np.float64),
                        delta and kind == "sum"))
            continue
        for suffix, field in (("_sum", "sum"), ("_count", "count")):
            if base_name + suffix in wanted:
                out.append((labels_of({**base, NAME: base_name + suffix}), t,
                            points[field][lo:hi].astype(np.float64), delta))
        if kind == "histogram" and base_name + "_bucket" in wanted:
            out.append((labels_of({**base, NAME: base_name + "_bucket", "le": "+Inf"}), t,
                        points["count"][lo:hi].astype(np.float64), delta))
    if kind == "histogram" and any(n.endswith("_bucket") for n in wanted):
        out.extend(_sub_pieces(reader.columns(_buckets_sql(where), params), streams, wanted, "_bucket", "i", "le"))
    if kind == "summary" and any(n == s[0] for s in streams.values() for n in wanted):
        out.extend(_sub_pieces(reader.columns(_quantiles_sql(where), params), streams, wanted, "", "q", "quantile"))
    return out


def _sub_pieces(arr: npt.NDArray[Any], streams: dict[int, tuple[str, dict[str, str], bool, list[float]]],
                wanted: set[str], suffix: str, key: str, label: str) -> list[Piece]:
    """Pieces of a per-(stream, ``key``) read.

    ``_bucket`` series by bucket index ``i`` (label ``le``, the stream's delta flag), or summary series by
    quantile ``q`` (label ``quantile``, never delta).
    """
    out: list[Piece] = []
    for sid, lo, hi in _segments(arr["sid"]) if arr.size else []:
        stream = streams.get(int(sid))
        if stream is None or stream[0] + suffix not in wanted:
            continue
        base_name, base, delta, bounds = stream
        part = arr[lo:hi]
        values = part["c"] if key == "i" else part["v"]
        for k, a, b in _segments(part[key]):
            text = on.format_float(bounds[int(k) - 1] if key == "i" else float(k))
            out.append((labels_of({**base, NAME: base_name + suffix, label: text}),
                        np.ascontiguousarray(part["t"][a:b], dtype=np.int64), values[a:b].astype(np.float64),
                        delta and key == "i"))
    return out


def merge(pieces: Sequence[Piece]) -> tuple[IntArray, FloatArray]:
    """One series from the pieces of one label set.

    Time-ordered, one sample per millisecond (the last piece's wins), delta pieces summed into a running
    total from the first point read.
    """
    if len(pieces) == 1:
        _, t, v, delta = pieces[0]
    else:
        t = np.concatenate([p[1] for p in pieces])
        v = np.concatenate([p[2] for p in pieces])
        delta = all(p[3] for p in pieces)
    if t.shape[0] > 1 and not bool(np.all(t[1:] > t[:-1])):
        order = np.argsort(t, kind="stable")
        t, v = t[order], v[order]
        keep = np.ones(t.shape[0], dtype=np.bool_)
        keep[:-1] = t[1:] != t[:-1]
        t, v = t[keep], v[keep]
    return t, (np.cumsum(v) if delta else v)
