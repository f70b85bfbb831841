"""Prometheus 2.42 HTTP API wire format: parameter parsing and the JSON of results and errors.

Contracts (as ``web/api/v1/api.go`` and ``util/jsonutil`` of Prometheus 2.42):

* :func:`parse_time`: float unix seconds (fraction rounded to the millisecond) or RFC 3339 with a zone;
  else :class:`ParamError` ``cannot parse "x" to a valid timestamp``. Returns int milliseconds.
* :func:`parse_duration`: float seconds or a Prometheus duration (``1h30m``, ``500ms``); else
  ``cannot parse "x" to a valid duration``. Returns float seconds.
* :func:`format_value`: Go's ``strconv.FormatFloat(v, 'f', -1, 64)`` with ``NaN``, ``+Inf``, ``-Inf``;
  :func:`format_time`: ``seconds[.mmm]`` (three fraction digits, omitted when zero).
* :func:`success` / :func:`error_body` build the response bytes (``{"status":"success","data":…}`` /
  ``{"status":"error","errorType":…,"error":…}``); :data:`ERROR_STATUS` maps an error type to its status.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime

import numpy as np

from contracts.durations import DurationError, parse_duration_ms
from query.promql.model import Labels, Matrix, Scalar, String, Value, Vector

ERROR_STATUS = {"bad_data": 400, "execution": 422, "canceled": 503, "timeout": 503, "internal": 500,
                "not_found": 404}
_RFC3339 = re.compile(r"^\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)$")
_FLOAT = re.compile(r"^[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[Ii]nf(?:inity)?|[Nn]a[Nn])$")
MAX_INT64 = 2**63 - 1


class ParamError(Exception):
    """A bad request parameter: answered as ``bad_data`` with ``message`` (already in Prometheus' words)."""

    def __init__(self, message: str) -> None:
        """An error answered as ``message``."""
        super().__init__(message)
        self.message = message


def parse_time(s: str) -> int:
    """``s`` (float unix seconds or RFC 3339) as int milliseconds; :class:`ParamError` when neither."""
    if _FLOAT.match(s.strip()) and s == s.strip():
        t = float(s)
        if math.isfinite(t):
            whole = math.trunc(t)
            return whole * 1000 + round((t - whole) * 1000)
    if _RFC3339.match(s):
        frac = re.search(r"\.(\d+)", s)
        base = re.sub(r"\.\d+", "", s).replace("z", "Z").replace("t", "T")
        dt = datetime.fromisoformat(base.replace("Z", "+00:00"))
        millis = int((frac.group(1) + "000")[:3]) if frac else 0
        return int(dt.timestamp()) * 1000 + millis
    raise ParamError(f"cannot parse {json.dumps(s)} to a valid timestamp")


def parse_duration(s: str) -> float:
    """``s`` (float seconds or a Prometheus duration) in seconds; :class:`ParamError` when neither."""
    if _FLOAT.match(s):
        seconds = float(s)
        if abs(seconds * 1e9) > MAX_INT64:  # Go multiplies to nanoseconds in an int64
            raise ParamError(f"cannot parse {json.dumps(s)} to a valid duration. It overflows int64")
        if not math.isnan(seconds):
            return seconds
    try:
        return parse_duration_ms(s) / 1000
    except DurationError:
        raise ParamError(f"cannot parse {json.dumps(s)} to a valid duration") from None


def format_value(v: float) -> str:
    """Go's ``strconv.FormatFloat(v, 'f', -1, 64)``, with ``NaN`` / ``+Inf`` / ``-Inf``."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return np.format_float_positional(v, unique=True, trim="-")


def format_time(t_ms: int) -> str:
    """``t_ms`` as Prometheus' JSON timestamp: seconds, and ``.mmm`` when the milliseconds are not 0."""
    sign, t = ("-", -t_ms) if t_ms < 0 else ("", t_ms)
    frac = t % 1000
    return f"{sign}{t // 1000}" + (f".{frac:03d}" if frac else "")


def _metric(labels: Labels) -> str:
    return json.dumps(dict(labels), separators=(",", ":"), ensure_ascii=False)


def _point(t_ms: int, v: float) -> str:
    return f'[{format_time(t_ms)},"{format_value(v)}"]'


def instant_json(value: Value, t_ms: int) -> str:
    """The ``data`` of an instant query at ``t_ms``: ``{"resultType": …, "result": …}``."""
    if isinstance(value, Scalar):
        return f'{{"resultType":"scalar","result":{_point(t_ms, float(value.values[0]))}}}'
    if isinstance(value, String):
        return f'{{"resultType":"string","result":[{format_time(t_ms)},{json.dumps(value.value)}]}}'
    if isinstance(value, Matrix):
        rows = []
        for s in value.series:
            lo, hi = value.windows(s)
            pts = ",".join(_point(int(t), float(v)) for t, v in zip(s.t[lo[0]:hi[0]], s.v[lo[0]:hi[0]], strict=True))
            if pts:
                rows.append(f'{{"metric":{_metric(s.labels)},"values":[{pts}]}}')
        return f'{{"resultType":"matrix","result":[{",".join(rows)}]}}'
    rows = [f'{{"metric":{_metric(s.labels)},"value":{_point(t_ms, float(s.values[0]))}}}'
            for s in value.series if bool(s.present[0])]
    return f'{{"resultType":"vector","result":[{",".join(rows)}]}}'


def range_json(value: Vector | Scalar, ts: list[int]) -> str:
    """The ``data`` of a range query over steps ``ts``: always a matrix, series sorted by labels."""
    rows = []
    if isinstance(value, Scalar):
        pts = ",".join(_point(t, float(v)) for t, v in zip(ts, value.values, strict=True))
        rows.append(f'{{"metric":{{}},"values":[{pts}]}}')
    else:
        for s in sorted(value.series, key=lambda s: s.labels):
            pts = ",".join(_point(t, float(v)) for t, v, p in zip(ts, s.values, s.present, strict=True) if p)
            if pts:
                rows.append(f'{{"metric":{_metric(s.labels)},"values":[{pts}]}}')
    return f'{{"resultType":"matrix","result":[{",".join(rows)}]}}'


def success(data_json: str) -> bytes:
    """The body of a successful answer around already-encoded ``data``."""
    return f'{{"status":"success","data":{data_json}}}'.encode()


def error_body(error_type: str, message: str) -> bytes:
    """The body of an error answer."""
    return json.dumps({"status": "error", "errorType": error_type, "error": message},
                      separators=(",", ":"), ensure_ascii=False).encode()
