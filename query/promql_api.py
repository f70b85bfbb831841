"""The Prometheus 2.42 HTTP API (``/api/v1``) over the stored OTLP metrics, for Grafana and PromQL clients.

Routes (GET, and POST with a form-encoded body, as Prometheus serves them; read-only, role viewer):
``/api/v1/query`` (``query``, ``time`` default now, ``timeout``), ``/api/v1/query_range`` (``query``,
``start``, ``end``, ``step``, ``timeout``), ``/api/v1/series`` (``match[]`` required, ``start``, ``end``),
``/api/v1/labels`` and ``/api/v1/label/{name}/values`` (``match[]`` optional, ``start``, ``end``).

Contracts: parameters are read as Go's ``r.FormValue`` does (the body's values before the URL's; the
first one counts); each is validated and refused in 2.42's words (:mod:`query.promql_json`). Answers
and errors are Prometheus' JSON, not Vigil's ``{error, detail}``: ``bad_data`` → 400, ``execution`` →
422, ``timeout`` → 503. The engine (:func:`promql_engine`: :class:`~query.promql.engine.Engine`
over :class:`~query.promql.columnar.ColumnarSource`, lookback 5m, one per app) runs in the worker thread pool; past
``timeout`` (default 2m, Prometheus' ``query.timeout``) the request answers 503 and the abandoned
evaluation finishes in the background.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from typing import Annotated, Any

import anyio
import anyio.to_thread
import numpy as np
import promql_parser as pp
from litestar import MediaType, Request, Response, route
from litestar.datastructures import MultiDict
from litestar.handlers import HTTPRouteHandler
from litestar.params import Dependency
from litestar.response import Response as LitestarResponse

from contracts.reader import TelemetryReader
from contracts.signals import ALL_SIGNALS
from query.freshness import HEADER, Freshness, header_value
from query.promql import stats
from query.promql.columnar import ColumnarSource
from query.promql.engine import Engine
from query.promql.model import Matcher, PromQLError, Scalar, Value, Vector
from query.promql.parse import parse
from query.promql.selectors import matchers_of
from query.promql_json import (
    ERROR_STATUS,
    ParamError,
    error_body,
    instant_json,
    parse_duration,
    parse_time,
    range_json,
    success,
)

log = logging.getLogger(__name__)
LOOKBACK_MS = 300_000
DEFAULT_TIMEOUT_S = 120.0
MAX_POINTS = 11_000
MIN_MS, MAX_MS = 0, 9_000_000_000_000  # what the store's nanosecond columns can hold (1970 … 2255)
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

PromQL = Annotated[Engine, Dependency(skip_validation=True)]  # build_app's dependency ``promql``
Params = MultiDict[str]


class _Failure(Exception):
    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type, self.message = error_type, message


def _answer(body: bytes, status: int = 200) -> Response[bytes]:
    return LitestarResponse(body, status_code=status, media_type="application/json")


def _bad(message: str) -> _Failure:
    return _Failure("bad_data", message)


async def _params(request: Request[Any, Any, Any]) -> Params:
    """Go's ``r.Form``: a form-encoded body's values first, then the URL's."""
    merged: Params = MultiDict()
    if request.method == "POST" and request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"):
        for key, value in (await request.form()).multi_items():
            merged.add(key, str(value))
    for key, value in request.query_params.multi_items():
        merged.add(key, value)
    return merged


def _first(params: Params, name: str) -> str:
    values = params.getall(name, [])
    return str(values[0]) if values else ""


def _time(params: Params, name: str, default: int | None = None) -> int:
    """Parameter ``name`` as ms (``default`` when absent or empty and a default is given)."""
    raw = _first(params, name)
    if raw == "" and default is not None:
        return default
    try:
        return parse_time(raw)
    except ParamError as exc:
        raise _bad(f'invalid parameter "{name}": {exc.message}') from exc


def _timeout(params: Params) -> float:
    raw = _first(params, "timeout")
    if raw == "":
        return DEFAULT_TIMEOUT_S
    try:
        return parse_duration(raw)
    except ParamError as exc:
        raise _bad(f'invalid parameter "timeout": {exc.message}') from exc


def _matcher_sets(selectors: list[str]) -> list[list[Matcher]]:
    """``match[]`` selectors as matcher sets; PromQLError-worded ``_Failure`` when one is not a selector."""
    sets = []
    for s in selectors:
        try:
            expr = parse(s)
        except PromQLError as exc:
            raise _bad(exc.message) from exc
        if not isinstance(expr, pp.VectorSelector):
            raise _bad(f"parse error: {s!r} is not a metric selector")
        sets.append(matchers_of(expr))
    if any(all(m.matches("") for m in ms) for ms in sets):
        raise _bad("match[] must contain at least one non-empty matcher")
    return sets


def _query_error(exc: PromQLError) -> _Failure:
    if exc.error_type == "bad_data":
        return _bad(f'invalid parameter "query": {exc.message}')
    return _Failure(exc.error_type, exc.message)


async def _run(fn: Callable[[], bytes], timeout_s: float) -> Response[bytes]:
    """``fn`` in the worker pool, answered as bytes, or the Prometheus error it raised; 503 past the timeout."""
    result: list[bytes] = []

    def work() -> None:
        result.append(fn())

    try:
        with anyio.move_on_after(timeout_s):
            await anyio.to_thread.run_sync(work, abandon_on_cancel=True)
    except _Failure as exc:
        return _answer(error_body(exc.error_type, exc.message), ERROR_STATUS.get(exc.error_type, 500))
    except PromQLError as exc:
        failure = _query_error(exc)
        return _answer(error_body(failure.error_type, failure.message), ERROR_STATUS.get(failure.error_type, 500))
    except Exception as exc:  # storage and the like: logged; answered by type name only (messages may hold secrets)
        log.exception("Prometheus API evaluation failed", exc_info=exc)
        return _answer(error_body("internal", type(exc).__name__), 500)
    if not result:
        return _answer(error_body("timeout", "query timed out in expression evaluation"), 503)
    return _answer(result[0])


async def _guarded(build: Callable[[], tuple[Callable[[], bytes], float]], freshness: Freshness) -> Response[bytes]:
    """Validate parameters (``build``) before running; a refused parameter is a 400 without reading.

    A valid request first waits, like every ``/api`` read, for the telemetry acknowledged before it to be
    stored (:class:`~query.freshness.Freshness`), and says how complete the data was in the
    ``Vigil-Data-Complete`` header; the body stays exactly Prometheus'.
    """
    try:
        fn, timeout_s = build()
    except _Failure as exc:
        return _answer(error_body(exc.error_type, exc.message), ERROR_STATUS.get(exc.error_type, 500))
    meta = await freshness.settle(ALL_SIGNALS)
    response = await _run(fn, timeout_s)
    response.headers[HEADER] = header_value(meta)
    return response


def _evaluated(st: stats.Stats, evaluate: Callable[[], Value]) -> Value:
    started = time.perf_counter()
    value = evaluate()
    st.eval_s = time.perf_counter() - started
    return value


def _with_stats(data_json: str, st: stats.Stats, value: Value, ask: str) -> str:
    """``data`` with 2.42's ``stats`` when the ``stats`` parameter is given (per step with ``stats=all``)."""
    if not ask:
        return data_json
    if isinstance(value, Vector):
        per_step = np.zeros(st.ts.shape[0], dtype=np.int64)
        for s in value.series:
            per_step += s.present
        st.result_per_step = per_step
    return f'{data_json[:-1]},"stats":{st.to_json(ask == "all")}}}'


def promql_engine(reader: TelemetryReader) -> Engine:
    """The engine the routes use (dependency ``promql``): one per app, so the source's catalogue cache is shared."""
    return Engine(ColumnarSource(reader), lookback_ms=LOOKBACK_MS)


def _clamp(t_ms: int) -> int:
    return max(MIN_MS, min(MAX_MS, t_ms))


_DESCRIPTION = ("Prometheus API JSON: {status: success, data} or {status: error, errorType, error}; "
                "400 bad_data, 422 execution, 503 timeout")


def _route(path: str, summary: str, post: bool = True) -> HTTPRouteHandler:
    """The decorator of one Prometheus API route: GET (and POST with a form body), documented in /schema."""
    methods: list[Any] = ["GET", "POST"] if post else ["GET"]
    return route(path, http_method=methods, summary=summary, media_type=MediaType.JSON, tags=["prometheus"],
                 status_code=200, response_description=_DESCRIPTION)


@_route("/api/v1/query", "PromQL instant query")
async def query(request: Request[Any, Any, Any], promql: PromQL, freshness: Freshness) -> Response[bytes]:
    """``query`` evaluated at ``time`` (default now): vector, scalar, string or matrix."""
    params = await _params(request)

    def build() -> tuple[Callable[[], bytes], float]:
        t_ms = _time(params, "time", int(time.time() * 1000))
        timeout_s = _timeout(params)
        text = _first(params, "query")
        ask = params.get("stats", "")

        def run() -> bytes:
            with stats.collecting(np.asarray([t_ms], dtype=np.int64), bool(ask)) as st:
                value = _evaluated(st, lambda: promql.instant(text, t_ms))
                return success(_with_stats(instant_json(value, t_ms), st, value, ask))

        return run, timeout_s

    return await _guarded(build, freshness)


@_route("/api/v1/query_range", "PromQL range query")
async def query_range(request: Request[Any, Any, Any], promql: PromQL, freshness: Freshness) -> Response[bytes]:
    """``query`` at ``start, start+step, … <= end``: a matrix."""
    params = await _params(request)

    def build() -> tuple[Callable[[], bytes], float]:
        start, end = _time(params, "start"), _time(params, "end")
        if end < start:
            raise _bad('invalid parameter "end": end timestamp must not be before start time')
        try:
            step_s = parse_duration(_first(params, "step"))
        except ParamError as exc:
            raise _bad(f'invalid parameter "step": {exc.message}') from exc
        step_ms = int(step_s * 1000)
        if step_s * 1e9 < 1e6 or step_ms <= 0:  # the engine works in whole milliseconds
            raise _bad('invalid parameter "step": zero or negative query resolution step widths are not accepted. '
                       "Try a positive integer")
        if (end - start) // step_ms > MAX_POINTS:
            raise _bad("exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query "
                       "resolution (?step=XX)")
        timeout_s = _timeout(params)
        text = _first(params, "query")

        ask = params.get("stats", "")

        def run() -> bytes:
            ts = list(range(start, end + 1, step_ms))
            with stats.collecting(np.asarray(ts, dtype=np.int64), bool(ask)) as st:
                value = _evaluated(st, lambda: promql.range(text, start, end, step_ms))
                assert isinstance(value, (Vector, Scalar))
                return success(_with_stats(range_json(value, ts), st, value, ask))

        return run, timeout_s

    return await _guarded(build, freshness)


def _bounds(params: Params) -> tuple[int, int]:
    return _clamp(_time(params, "start", MIN_MS)), _clamp(_time(params, "end", MAX_MS))


def _json_list(items: list[str]) -> bytes:
    return success(json.dumps(items, separators=(",", ":"), ensure_ascii=False))


@_route("/api/v1/series", "Series by label matchers")
async def series(request: Request[Any, Any, Any], promql: PromQL, freshness: Freshness) -> Response[bytes]:
    """The label sets of the series matching any ``match[]`` with a sample in ``[start, end]``."""
    params = await _params(request)

    def build() -> tuple[Callable[[], bytes], float]:
        if not params.getall("match[]", []):
            raise _bad("no match[] parameter provided")
        start, end = _bounds(params)
        try:
            sets = _matcher_sets([str(s) for s in params.getall("match[]")])
        except _Failure as exc:
            raise _bad(f'invalid parameter "match[]": {exc.message}') from exc

        def run() -> bytes:
            source = promql.source
            found = sorted({s.labels for ms in sets for s in source.select(ms, start, end)})
            return success(json.dumps([dict(ls) for ls in found], separators=(",", ":"), ensure_ascii=False))

        return run, DEFAULT_TIMEOUT_S

    return await _guarded(build, freshness)


@_route("/api/v1/labels", "Label names")
async def labels(request: Request[Any, Any, Any], promql: PromQL, freshness: Freshness) -> Response[bytes]:
    """Sorted label names of the series matching any ``match[]`` (all series without one)."""
    params = await _params(request)

    def build() -> tuple[Callable[[], bytes], float]:
        start, end = _bounds(params)
        sets = _matcher_sets([str(s) for s in params.getall("match[]", [])])
        return (lambda: _json_list(promql.source.label_names(sets, start, end))), DEFAULT_TIMEOUT_S

    return await _guarded(build, freshness)


@_route("/api/v1/label/{name:str}/values", "Label values", post=False)
async def label_values(request: Request[Any, Any, Any], promql: PromQL, name: str,
                       freshness: Freshness) -> Response[bytes]:
    """Sorted values of label ``name`` over the series matching any ``match[]`` (all series without one)."""
    params = await _params(request)

    def build() -> tuple[Callable[[], bytes], float]:
        if not _LABEL_NAME.match(name):
            raise _bad(f"invalid label name: {json.dumps(name)}")
        start, end = _bounds(params)
        sets = _matcher_sets([str(s) for s in params.getall("match[]", [])])
        return (lambda: _json_list(promql.source.label_values(name, sets, start, end))), DEFAULT_TIMEOUT_S

    return await _guarded(build, freshness)


PROMETHEUS_ROUTES = [query, query_range, series, labels, label_values]
__all__ = ["PROMETHEUS_ROUTES", "promql_engine"]
