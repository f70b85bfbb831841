"""The semantic-convention SQL expressions (:mod:`contracts.semconv_sql`) and the ``service``/``environment`` filter.

The expressions live in ``contracts`` because the rollup views in ``storage`` use the same ones.
"""

from __future__ import annotations

from contracts.otel_columns import Traces as T
from contracts.semconv_sql import (
    DB_NAMESPACE,
    DB_OPERATION,
    DB_ROWS,
    DB_STATEMENT,
    DB_SYSTEM,
    ENVIRONMENT,
    HOST_NAME,
    HTTP_METHOD,
    HTTP_ROUTE,
    HTTP_STATUS,
    HTTP_STATUS_INT,
    IS_DB_CALL,
    IS_ERROR,
    IS_REQUEST,
    IS_ROOT,
    IS_SERVER,
    NORMALIZED,
    QUERY_HASH,
    ROUTE,
    resource_attr,
    span_attr,
)

__all__ = [
    "DB_NAMESPACE",
    "DB_OPERATION",
    "DB_ROWS",
    "DB_STATEMENT",
    "DB_SYSTEM",
    "ENVIRONMENT",
    "HOST_NAME",
    "HTTP_METHOD",
    "HTTP_ROUTE",
    "HTTP_STATUS",
    "HTTP_STATUS_INT",
    "IS_DB_CALL",
    "IS_ERROR",
    "IS_REQUEST",
    "IS_ROOT",
    "IS_SERVER",
    "NORMALIZED",
    "QUERY_HASH",
    "ROUTE",
    "resource_attr",
    "service_filter",
    "span_attr",
]


def service_filter(params: dict[str, object], service: str | None, environment: str | None) -> list[str]:
    """``service=``/``environment=`` conditions, binding ``service``/``environment`` into ``params``."""
    conds = []
    if service:
        params["service"] = service
        conds.append(f"{T.SERVICE_NAME} = {{service:String}}")
    if environment:
        params["environment"] = environment
        conds.append(f"{ENVIRONMENT} = {{environment:String}}")
    return conds
