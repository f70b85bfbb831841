"""Web Vitals analytics from the RUM events (:mod:`contracts.webvitals`' schema in ``otel_logs``).

A *page load* is one value of a vital per ``web_vital.id`` (the web-vitals library's id, unique per
metric and page load): when a browser reported a vital several times (CLS and INP grow until the page
is hidden), the latest report counts. Page loads are counted by TTFB reports (one per navigation).
Percentiles are exact (``quantileExact``) 75th percentiles over page loads, as CrUX reports; ratings
use web.dev's thresholds. Filters: ``service`` (the snippet's ``data-service``) and ``environment``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from contracts.otel_columns import Logs as L
from contracts.reader import TelemetryReader
from contracts.webvitals import ATTR, EVENT_ERROR, EVENT_VITAL, THRESHOLDS, VITALS, rating
from query.apm.frontend_models import (
    FrontendMetrics,
    FrontendPages,
    PageVitals,
    Rating,
    Segment,
    SlowView,
    VitalPoint,
    VitalSummary,
)
from query.apm.window import ApmWindow
from query.errors import BadRequest
from query.filters import logs_time

SORTS = ("lcp", "inp", "cls", "fcp", "ttfb", "loads", "errors")
ENV = f"{L.RESOURCE_ATTRIBUTES}['deployment.environment.name']"
_A = L.LOG_ATTRIBUTES


def _conds(event: str, service: str | None, environment: str | None, params: dict[str, Any]) -> str:
    conds = [logs_time(), f"{L.EVENT_NAME} = {{event:String}}"]
    params["event"] = event
    if service:
        conds.append(f"{L.SERVICE_NAME} = {{service:String}}")
        params["service"] = service
    if environment:
        conds.append(f"{ENV} = {{environment:String}}")
        params["environment"] = environment
    return " AND ".join(conds)


def _loads_sql(where: str) -> str:
    """One row per (vital, id): the latest value and the page-load's context."""
    vid = (f"if({_A}['{ATTR.ID}'] = '', toString(cityHash64({L.TIMESTAMP}, {_A}['{ATTR.URL}'])), "
           f"{_A}['{ATTR.ID}'])")
    return (f"SELECT {_A}['{ATTR.VITAL}'] AS vital, {vid} AS vid, "
            f"argMax(toFloat64OrZero({_A}['{ATTR.VALUE}']), {L.TIMESTAMP}) AS v, "
            f"max({L.TIMESTAMP}) AS ts, any({_A}['{ATTR.ROUTE}']) AS route, any({_A}['{ATTR.DEVICE}']) AS device, "
            f"any({_A}['{ATTR.CONNECTION}']) AS conn, any({_A}['{ATTR.URL}']) AS url, "
            f"any(lower({L.TRACE_ID})) AS trace "
            f"FROM {L.TABLE} WHERE {where} GROUP BY vital, vid")


def _summary_cols() -> str:
    return ("count() AS n, quantileExact(0.75)(v) AS p75, "
            + ", ".join(f"countIf(v {op} {{{k}:Float64}}) AS {k}"
                        for k, op in (("good_max", "<="), ("poor_above", ">"))))


def _rating(name: str, value: float | None) -> Rating | None:
    if value is None:
        return None
    r = rating(name, value)
    return "good" if r == "good" else ("poor" if r == "poor" else "needs-improvement")


def _summaries(rows: list[dict[str, Any]]) -> dict[str, VitalSummary]:
    out: dict[str, VitalSummary] = {}
    for r in rows:
        name = str(r["vital"])
        if name not in THRESHOLDS:
            continue
        good_max, poor_above = THRESHOLDS[name]
        n, good, poor = int(r["n"]), int(r["good_max"]), int(r["poor_above"])
        p75 = float(r["p75"]) if n else None
        out[name] = VitalSummary(name=name, p75=p75, rating=_rating(name, p75),
                                 samples=n, good=good, needs_improvement=n - good - poor, poor=poor,
                                 good_max=good_max, poor_above=poor_above)
    return out


def _by_vital(reader: TelemetryReader, inner: str, params: dict[str, Any], key: str = "") -> list[dict[str, Any]]:
    """Summary rows per vital (and ``key`` column), each vital compared with its own thresholds."""
    rows: list[dict[str, Any]] = []
    group = f", {key}" if key else ""
    sel = f", {key} AS k" if key else ""
    for name, (good_max, poor_above) in THRESHOLDS.items():
        p = {**params, "vital": name, "good_max": good_max, "poor_above": poor_above}
        rows.extend(reader.rows(f"SELECT vital{sel}, {_summary_cols()} FROM ({inner}) "
                                f"WHERE vital = {{vital:String}} GROUP BY vital{group}", p))
    return rows


def frontend_metrics(reader: TelemetryReader, window: ApmWindow, service: str | None = None,
                     environment: str | None = None) -> FrontendMetrics:
    """The Web Vitals of ``window`` (see the module docstring)."""
    params: dict[str, Any] = dict(window.params)
    inner = _loads_sql(_conds(EVENT_VITAL, service, environment, params))
    overall = _summaries(_by_vital(reader, inner, params))
    series: dict[str, dict[int, VitalPoint]] = defaultdict(dict)
    bucket = "toUInt32(intDiv(toUnixTimestamp(ts), {step_s:UInt32}) * {step_s:UInt32})"
    for r in reader.rows(f"SELECT vital, {bucket} AS t, count() AS n, quantileExact(0.75)(v) AS p75 "
                         f"FROM ({inner}) GROUP BY vital, t", params):
        series[str(r["vital"])][int(r["t"])] = VitalPoint(t=int(r["t"]), p75=float(r["p75"]), samples=int(r["n"]))
    buckets = window.bucket_starts_s()
    vitals = []
    for name in VITALS:
        s = overall.get(name) or _empty(name)
        points = [series[name].get(t, VitalPoint(t=t, p75=None, samples=0)) for t in buckets]
        vitals.append(VitalSummary(**{**_fields(s), "series": points}))
    err_params: dict[str, Any] = dict(window.params)
    where_errors = _conds(EVENT_ERROR, service, environment, err_params)
    errors = reader.rows(f"SELECT count() AS n FROM {L.TABLE} WHERE {where_errors}", err_params)
    return FrontendMetrics(start_ns=window.start_ns, end_ns=window.end_ns, step_s=window.step_s,
                           page_loads=overall["TTFB"].samples if "TTFB" in overall else 0,
                           js_errors=int(errors[0]["n"]) if errors else 0, vitals=vitals,
                           by_device=_segments(reader, inner, params, "device"),
                           by_connection=_segments(reader, inner, params, "conn"))


def _fields(s: VitalSummary) -> dict[str, Any]:
    return {f: getattr(s, f) for f in s.__struct_fields__}


def _empty(name: str) -> VitalSummary:
    good_max, poor_above = THRESHOLDS[name]
    return VitalSummary(name=name, p75=None, rating=None, samples=0, good=0, needs_improvement=0, poor=0,
                        good_max=good_max, poor_above=poor_above)


def _segments(reader: TelemetryReader, inner: str, params: dict[str, Any], key: str) -> list[Segment]:
    by_key: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in _by_vital(reader, inner, params, key):
        by_key[str(r["k"])].append(r)
    out = []
    for k, rows in by_key.items():
        s = _summaries(rows)
        out.append(Segment(key=k, page_loads=s["TTFB"].samples if "TTFB" in s else 0,
                           vitals=[s[n] for n in VITALS if n in s]))
    return sorted(out, key=lambda seg: (-seg.page_loads, seg.key))


_ORDER: dict[str, int] = {"good": 0, "needs-improvement": 1, "poor": 2}


def frontend_pages(reader: TelemetryReader, window: ApmWindow, service: str | None = None,
                   environment: str | None = None, sort: str = "lcp", limit: int = 50) -> FrontendPages:
    """Per page route: vitals, errors and the slowest page load (with its trace), worst first by ``sort``."""
    if sort not in SORTS:
        raise BadRequest(f"must be one of {', '.join(SORTS)}", "sort")
    if not 1 <= limit <= 500:
        raise BadRequest("must be between 1 and 500", "limit")
    params: dict[str, Any] = dict(window.params)
    inner = _loads_sql(_conds(EVENT_VITAL, service, environment, params))
    by_route: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in _by_vital(reader, inner, params, "route"):
        by_route[str(r["k"])].append(r)
    slow: dict[str, SlowView] = {}
    for r in reader.rows(f"SELECT route, vital, argMax((v, url, trace, ts), v) AS worst FROM ({inner}) "
                         "WHERE vital IN ('LCP', 'INP', 'TTFB') GROUP BY route, vital", params):
        v, url, trace, ts = r["worst"]
        trace_id = str(trace) if set(str(trace)) - {"0"} else ""
        view = SlowView(vital=str(r["vital"]), value=float(v), url=str(url), trace_id=trace_id,
                        at_ns=int(ts.timestamp() * 1e9) if hasattr(ts, "timestamp") else int(ts))
        prev = slow.get(str(r["route"]))
        if prev is None or ("LCP", "INP", "TTFB").index(view.vital) < ("LCP", "INP", "TTFB").index(prev.vital):
            slow[str(r["route"])] = view
    err_params: dict[str, Any] = dict(window.params)
    errs = {str(r["route"]): int(r["n"]) for r in reader.rows(
        f"SELECT {_A}['{ATTR.ROUTE}'] AS route, count() AS n FROM {L.TABLE} "
        f"WHERE {_conds(EVENT_ERROR, service, environment, err_params)} GROUP BY route", err_params)}
    pages = []
    for route in set(by_route) | set(errs):
        s = _summaries(by_route.get(route, []))
        worst: Rating | None = None
        for v in s.values():
            if v.rating is not None and (worst is None or _ORDER[v.rating] > _ORDER[worst]):
                worst = v.rating
        pages.append(PageVitals(route=route, page_loads=s["TTFB"].samples if "TTFB" in s else 0,
                                js_errors=errs.get(route, 0),
                                worst_rating=worst,
                                vitals=[s[n] for n in VITALS if n in s], slowest=slow.get(route)))
    pages.sort(key=lambda p: _sort_key(p, sort))
    return FrontendPages(start_ns=window.start_ns, end_ns=window.end_ns, sort=sort, pages=pages[:limit])


def _sort_key(p: PageVitals, sort: str) -> tuple[float, str]:
    if sort == "loads":
        return (-p.page_loads, p.route)
    if sort == "errors":
        return (-p.js_errors, p.route)
    v = next((x.p75 for x in p.vitals if x.name == sort.upper()), None)
    return (-(v if v is not None else -1.0), p.route)
