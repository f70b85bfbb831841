"""Names of the per-minute rollup tables the materialized views keep from ``otel_traces`` (columnar migrations 4, 5).

``vigil_red_1m``: one row per (minute, service, environment, method, route, status, failed) of **request**
spans (:data:`contracts.semconv_sql.IS_REQUEST`). ``vigil_db_1m``: one row per (minute, service,
environment, db system, namespace, operation, query hash) of DB client spans. Both are
AggregatingMergeTree tables: counters are ``SimpleAggregateFunction(sum)``, latency a
``quantilesTDigest`` state (merged, never averaged), ``Buckets`` a duration histogram for Apdex.

Duration histogram: bucket ``b`` of a duration ``d`` ns is ``floor(4 · log2(d))`` (0 for d ≤ 1), so a
bucket spans a factor 2^¼ ≈ 1.19 and bucket ``b`` covers [2^(b/4), 2^((b+1)/4)) ns.
"""

from __future__ import annotations

from contracts.otel_columns import Traces as T
from contracts.semconv_sql import (
    DB_NAMESPACE,
    DB_OPERATION_OR_VERB,
    DB_ROWS,
    DB_STATEMENT,
    DB_SYSTEM,
    ENVIRONMENT,
    HTTP_METHOD,
    HTTP_STATUS_INT,
    IS_DB_CALL,
    IS_ERROR,
    IS_REQUEST,
    NORMALIZED,
    QUERY_HASH,
    ROUTE,
)

QUANTILES = (0.5, 0.9, 0.95, 0.99)
QUANTILE_LEVELS = ", ".join(str(q) for q in QUANTILES)
BUCKETS_PER_OCTAVE = 4
QUANTILE_STATE = f"AggregateFunction(quantilesTDigest({QUANTILE_LEVELS}), UInt64)"
SLOWEST_N = 5


def bucket_expr(duration: str) -> str:
    """SQL: the histogram bucket (UInt16) of ``duration`` ns."""
    return f"toUInt16(if({duration} <= 1, 0, floor({BUCKETS_PER_OCTAVE} * log2({duration}))))"


def bucket_bounds_ns(bucket: int) -> tuple[float, float]:
    """The [low, high) ns a bucket covers."""
    if bucket == 0:
        return 0.0, 2 ** (1 / BUCKETS_PER_OCTAVE)
    return 2 ** (bucket / BUCKETS_PER_OCTAVE), 2 ** ((bucket + 1) / BUCKETS_PER_OCTAVE)


class Red:
    """``vigil_red_1m`` columns."""

    TABLE = "vigil_red_1m"
    VIEW = "vigil_red_1m_mv"
    MINUTE = "Minute"
    SERVICE_NAME = "ServiceName"
    ENVIRONMENT = "Environment"
    METHOD = "Method"
    ROUTE = "Route"
    STATUS = "Status"
    FAILED = "Failed"
    REQUESTS = "Requests"
    DURATION_SUM = "DurationSum"
    DURATION_MAX = "DurationMax"
    QUANTILES = "Quantiles"
    BUCKETS = "Buckets"


class Db:
    """``vigil_db_1m`` columns."""

    TABLE = "vigil_db_1m"
    VIEW = "vigil_db_1m_mv"
    MINUTE = "Minute"
    SERVICE_NAME = "ServiceName"
    ENVIRONMENT = "Environment"
    DB_SYSTEM = "DbSystem"
    DB_NAMESPACE = "DbNamespace"
    DB_OPERATION = "DbOperation"
    QUERY_HASH = "QueryHash"
    STATEMENT = "Statement"
    EXECUTIONS = "Executions"
    ERRORS = "Errors"
    DURATION_SUM = "DurationSum"
    DURATION_MAX = "DurationMax"
    QUANTILES = "Quantiles"
    ROWS = "Rows"
    ROWS_REPORTED = "RowsReported"
    SLOWEST = "Slowest"  # max((duration, trace id)): the row's slowest execution


# The SELECT of each rollup view over otel_traces; callers append ` AND <cond>` before the GROUP BY.
# {q} is the quantile function: quantilesTDigest in the rollups; the query side uses exact quantiles
# (reservoir of 8192, like ClickHouse's quantiles) when a window reads raw spans only. {bucket} is the
# time bucket: the minute in the views, the series step in the query side's raw reads.
_RED_SELECT = f"""SELECT
    {{bucket}} AS {Red.MINUTE},
    {T.SERVICE_NAME} AS {Red.SERVICE_NAME},
    {ENVIRONMENT} AS {Red.ENVIRONMENT},
    {HTTP_METHOD} AS {Red.METHOD},
    {ROUTE} AS {Red.ROUTE},
    {HTTP_STATUS_INT} AS {Red.STATUS},
    toUInt8({IS_ERROR}) AS {Red.FAILED},
    toUInt64(count()) AS {Red.REQUESTS},
    toUInt64(sum({T.DURATION})) AS {Red.DURATION_SUM},
    toUInt64(max({T.DURATION})) AS {Red.DURATION_MAX},
    {{q}}State({QUANTILE_LEVELS})(toUInt64({T.DURATION})) AS {Red.QUANTILES},
    sumMap(map({bucket_expr(T.DURATION)}, toUInt64(1))) AS {Red.BUCKETS}
FROM {T.TABLE}
WHERE {IS_REQUEST}"""
RED_GROUP = (f"GROUP BY {Red.MINUTE}, {Red.SERVICE_NAME}, {Red.ENVIRONMENT}, {Red.METHOD}, {Red.ROUTE}, "
             f"{Red.STATUS}, {Red.FAILED}")


_DB_SELECT = f"""SELECT
    {{bucket}} AS {Db.MINUTE},
    {T.SERVICE_NAME} AS {Db.SERVICE_NAME},
    {ENVIRONMENT} AS {Db.ENVIRONMENT},
    {DB_SYSTEM} AS {Db.DB_SYSTEM},
    {DB_NAMESPACE} AS {Db.DB_NAMESPACE},
    {DB_OPERATION_OR_VERB} AS {Db.DB_OPERATION},
    if({DB_STATEMENT} = '', toUInt64(0), {QUERY_HASH}) AS {Db.QUERY_HASH},
    any({NORMALIZED}) AS {Db.STATEMENT},
    toUInt64(count()) AS {Db.EXECUTIONS},
    toUInt64(countIf({IS_ERROR})) AS {Db.ERRORS},
    toUInt64(sum({T.DURATION})) AS {Db.DURATION_SUM},
    toUInt64(max({T.DURATION})) AS {Db.DURATION_MAX},
    {{q}}State({QUANTILE_LEVELS})(toUInt64({T.DURATION})) AS {Db.QUANTILES},
    toUInt64(sumIf(toUInt64OrZero({DB_ROWS}), {DB_ROWS} != '')) AS {Db.ROWS},
    toUInt64(countIf({DB_ROWS} != '')) AS {Db.ROWS_REPORTED},
    max((toUInt64({T.DURATION}), {T.TRACE_ID})) AS {Db.SLOWEST}
FROM {T.TABLE}
WHERE {IS_DB_CALL}"""
DB_GROUP = (f"GROUP BY {Db.MINUTE}, {Db.SERVICE_NAME}, {Db.ENVIRONMENT}, {Db.DB_SYSTEM}, {Db.DB_NAMESPACE}, "
            f"{Db.DB_OPERATION}, {Db.QUERY_HASH}")



ROLLUP_QUANTILES = "quantilesTDigest"
EXACT_QUANTILES = "quantiles"


MINUTE_BUCKET = f"toStartOfMinute({T.TIMESTAMP})"


def red_select(quantiles: str = ROLLUP_QUANTILES, bucket: str = MINUTE_BUCKET) -> str:
    """The RED view's SELECT with quantile function ``quantiles`` and time bucket ``bucket``.

    ``quantiles``' state is the Quantiles column; ``bucket`` is the minute in the view, a series step
    in raw reads.
    """
    return _RED_SELECT.replace("{q}", quantiles).replace("{bucket}", bucket)


def db_select(quantiles: str = ROLLUP_QUANTILES, bucket: str = MINUTE_BUCKET) -> str:
    """The DB view's SELECT with the quantile function ``quantiles`` and the time bucket ``bucket``."""
    return _DB_SELECT.replace("{q}", quantiles).replace("{bucket}", bucket)


RED_SELECT = red_select()
DB_SELECT = db_select()
