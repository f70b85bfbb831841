"""Database overview from DB client spans: executions, errors, throughput and latency per database.

A DB call is a CLIENT span with a DB system (:data:`query.apm.semconv.IS_DB_CALL`); every call is one
execution (DB spans are counted, not requests). A database is the pair (``db.system.name`` /
``db.system``, ``db.namespace`` / ``db.name``); an empty namespace is its own database ``""``. An
error is a span with status ERROR. Latencies are span durations in ms, read through
:mod:`query.apm.rollup` (the per-minute DB rollup for whole minutes of windows of 10 minutes or more,
raw spans otherwise): percentiles are ClickHouse's ``quantiles`` (linear interpolation between the
sorted durations, sampled above 8192 calls per group) for raw-only windows and t-digest estimates
with the rollup; ``avg_ms`` is the exact mean. ``per_s`` divides by the window's length (a
bucket's by ``step_s``). Series have one bucket per :meth:`ApmWindow.bucket_starts_s`, zero-filled.

The operation of a call is ``db.operation.name`` (or ``db.operation``), else the upper-cased first
word of its statement (``SELECT``…), else ``""``. ``top_operations`` are the ``limit`` most executed
(operation, system, namespace) rows, ties by name.
"""

from __future__ import annotations

from typing import Any

from contracts.reader import TelemetryReader
from contracts.rollups import Db
from contracts.semconv_sql import DB_OPERATION_OR_VERB
from query.apm import rollup
from query.apm.database_overview_models import DatabaseOverview, DbBucket, DbDatabase, DbFigures, DbOperation
from query.apm.window import ApmWindow
from query.errors import BadRequest

MAX_OPERATIONS = 100
OPERATION = DB_OPERATION_OR_VERB
_DB = f"{Db.DB_SYSTEM} AS db_system, {Db.DB_NAMESPACE} AS db_namespace"


def _figures_sql(src: rollup.Source) -> str:
    return (f"sum({Db.EXECUTIONS}) AS executions, sum({Db.ERRORS}) AS errors, "
            f"if(executions = 0, 0, sum({Db.DURATION_SUM}) / executions) AS avg_ns, {src.quantiles} AS q")


def database_overview(reader: TelemetryReader, window: ApmWindow, *, service: str | None = None,
                      environment: str | None = None, limit: int = 10, series: bool = True) -> DatabaseOverview:
    """Totals, series, per-database figures and top ``limit`` operations of the DB calls in ``window``.

    Without ``series``: totals and per-database figures only (every series and ``top_operations`` empty).

    Raises:
        BadRequest: naming ``limit`` when it is not 1–:data:`MAX_OPERATIONS`.
    """
    if not 1 <= limit <= MAX_OPERATIONS:
        raise BadRequest(f"must be between 1 and {MAX_OPERATIONS}", "limit")
    params: dict[str, object] = {**window.params, "limit": limit}
    src = rollup.db_source(window, params, service, environment)
    bucket = rollup.bucket_time()
    # one scan: grouping(db_system, t) is 3 for the total, 1 per database, 2 per bucket, 0 per both
    if series:
        keys = f"{bucket} AS t, grouping(db_system, t) AS g"
        sets = "(), (db_system, db_namespace), (t), (db_system, db_namespace, t)"
    else:  # the same g codes: 3 for the total, 1 per database
        keys = "0 AS t, if(grouping(db_system, db_namespace) = 3, 3, 1) AS g"
        sets = "(), (db_system, db_namespace)"
    rows = reader.rows(
        f"SELECT {_DB}, {keys}, {_figures_sql(src)}, q[3] AS p95_ns "
        f"FROM {src} GROUP BY GROUPING SETS ({sets}) "
        "ORDER BY g, executions DESC, db_system, db_namespace, t", params)
    empty = {"executions": 0, "errors": 0, "avg_ns": 0, "q": []}
    total = next((r for r in rows if r["g"] == 3), empty)
    per_db = [r for r in rows if r["g"] == 1]
    buckets = [r for r in rows if r["g"] == 2]
    db_series = [r for r in rows if r["g"] == 0]
    ops = reader.rows(
        f"SELECT {Db.DB_OPERATION} AS operation, {_DB}, sum({Db.EXECUTIONS}) AS executions, "
        f"sum({Db.ERRORS}) AS errors FROM {src} GROUP BY operation, db_system, db_namespace "
        "ORDER BY executions DESC, operation, db_system, db_namespace LIMIT {limit:UInt32}", params) if series else []
    by_db: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in db_series:
        by_db.setdefault((r["db_system"], r["db_namespace"]), []).append(r)
    return DatabaseOverview(
        step_s=window.step_s, totals=_figures(total, window.seconds),
        series=_series(window, buckets) if series else [],
        databases=[DbDatabase(db_system=r["db_system"], db_namespace=r["db_namespace"],
                              figures=_figures(r, window.seconds),
                              series=_series(window, by_db.get((r["db_system"], r["db_namespace"]), []))
                              if series else [])
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
