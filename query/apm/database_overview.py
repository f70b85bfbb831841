"""Database overview from DB client spans: executions, errors, throughput and latency per database.

A DB call is a CLIENT span with a DB system (:data:`query.apm.semconv.IS_DB_CALL`); every call is one
execution (DB spans are counted, not requests). A database is the pair (``db.system.name`` /
``db.system``, ``db.namespace`` / ``db.name``); an empty namespace is its own database ``""``. An
error is a span with status ERROR. Latencies are span durations in ms; percentiles come from
ClickHouse's ``quantiles`` (linear interpolation between the sorted durations, sampled above 8192
calls per group), ``avg_ms`` is the exact mean. ``per_s`` divides by the window's length (a
bucket's by ``step_s``). Series have one bucket per :meth:`ApmWindow.bucket_starts_s`, zero-filled.

The operation of a call is ``db.operation.name`` (or ``db.operation``), else the upper-cased first
word of its statement (``SELECT``…), else ``""``. ``top_operations`` are the ``limit`` most executed
(operation, system, namespace) rows, ties by name.
"""

from __future__ import annotations

from typing import Any

from contracts.otel_columns import Traces as T
from contracts.reader import TelemetryReader
from query.apm.database_overview_models import DatabaseOverview, DbBucket, DbDatabase, DbFigures, DbOperation
from query.apm.semconv import DB_NAMESPACE, DB_OPERATION, DB_STATEMENT, DB_SYSTEM, IS_DB_CALL, service_filter
from query.apm.window import ApmWindow
from query.errors import BadRequest
from query.filters import traces_time

MAX_OPERATIONS = 100
OPERATION = (f"if({DB_OPERATION} != '', {DB_OPERATION}, "
             f"upper(extract({DB_STATEMENT}, '^[[:space:]]*([[:alpha:]]+)')))")
BUCKET = (f"toUnixTimestamp(toStartOfInterval(toDateTime({T.TIMESTAMP}), "
          "toIntervalSecond({step_s:UInt32})))")
_ERROR = f"{T.STATUS_CODE} = 'Error'"
_FIGURES = (f"count() AS executions, countIf({_ERROR}) AS errors, avg({T.DURATION}) AS avg_ns, "
            f"quantiles(0.5, 0.9, 0.95, 0.99)({T.DURATION}) AS q")
_BUCKET_FIGURES = f"count() AS executions, countIf({_ERROR}) AS errors, quantile(0.95)({T.DURATION}) AS p95_ns"
_DB = f"{DB_SYSTEM} AS db_system, {DB_NAMESPACE} AS db_namespace"


def database_overview(reader: TelemetryReader, window: ApmWindow, *, service: str | None = None,
                      environment: str | None = None, limit: int = 10) -> DatabaseOverview:
    """Totals, series, per-database figures and top ``limit`` operations of the DB calls in ``window``.

    Raises:
        BadRequest: naming ``limit`` when it is not 1–:data:`MAX_OPERATIONS`.
    """
    if not 1 <= limit <= MAX_OPERATIONS:
        raise BadRequest(f"must be between 1 and {MAX_OPERATIONS}", "limit")
    params: dict[str, object] = {**window.params, "limit": limit}
    where = " AND ".join([traces_time(), IS_DB_CALL, *service_filter(params, service, environment)])
    total = reader.rows(f"SELECT {_FIGURES} FROM {T.TABLE} WHERE {where}", params)[0]
    per_db = reader.rows(
        f"SELECT {_DB}, {_FIGURES} FROM {T.TABLE} WHERE {where} GROUP BY db_system, db_namespace "
        "ORDER BY executions DESC, db_system, db_namespace", params)
    series = reader.rows(
        f"SELECT {BUCKET} AS t, {_BUCKET_FIGURES} FROM {T.TABLE} WHERE {where} GROUP BY t ORDER BY t", params)
    db_series = reader.rows(
        f"SELECT {_DB}, {BUCKET} AS t, {_BUCKET_FIGURES} FROM {T.TABLE} WHERE {where} "
        "GROUP BY db_system, db_namespace, t ORDER BY t", params)
    ops = reader.rows(
        f"SELECT {OPERATION} AS operation, {_DB}, count() AS executions, countIf({_ERROR}) AS errors "
        f"FROM {T.TABLE} WHERE {where} GROUP BY operation, db_system, db_namespace "
        "ORDER BY executions DESC, operation, db_system, db_namespace LIMIT {limit:UInt32}", params)
    by_db: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in db_series:
        by_db.setdefault((r["db_system"], r["db_namespace"]), []).append(r)
    return DatabaseOverview(
        step_s=window.step_s, totals=_figures(total, window.seconds), series=_series(window, series),
        databases=[DbDatabase(db_system=r["db_system"], db_namespace=r["db_namespace"],
                              figures=_figures(r, window.seconds),
                              series=_series(window, by_db.get((r["db_system"], r["db_namespace"]), [])))
                   for r in per_db],
        top_operations=[DbOperation(operation=r["operation"], db_system=r["db_system"],
                                    db_namespace=r["db_namespace"], executions=int(r["executions"]),
                                    errors=int(r["errors"])) for r in ops])


def _figures(row: dict[str, Any], seconds: float) -> DbFigures:
    executions, errors = int(row["executions"]), int(row["errors"])
    q = [float(x) / 1e6 for x in row["q"]] if executions else [0.0] * 4
    return DbFigures(executions=executions, errors=errors, error_rate=errors / executions if executions else 0.0,
                     per_s=executions / seconds if seconds else 0.0,
                     avg_ms=float(row["avg_ns"]) / 1e6 if executions else 0.0,
                     p50_ms=q[0], p90_ms=q[1], p95_ms=q[2], p99_ms=q[3])


def _series(window: ApmWindow, rows: list[dict[str, Any]]) -> list[DbBucket]:
    by_t = {int(r["t"]): r for r in rows}
    out = []
    for t in window.bucket_starts_s():
        r = by_t.get(t)
        out.append(DbBucket(t=t, executions=int(r["executions"]), errors=int(r["errors"]),
                            p95_ms=float(r["p95_ns"]) / 1e6) if r else DbBucket(t=t, executions=0, errors=0,
                                                                              p95_ms=0.0))
    return out
