"""SQL expressions over ``otel_traces`` for the semantic-convention attributes APM figures are built from.

Shared by the query services (``query.apm``) and the rollup materialized views (``storage.clickhouse.rollups``),
so a figure read from a rollup and the same figure computed from raw spans use one definition.

Each expression prefers the stable attribute name and falls back to the older one, so spans from
SDKs on either convention count the same (``http.request.method`` / ``http.method``,
``http.response.status_code`` / ``http.status_code``, ``db.system.name`` / ``db.system``,
``db.query.text`` / ``db.statement``, ``db.namespace`` / ``db.name``, ``deployment.environment.name``
/ ``deployment.environment``). Stored enum spellings: ``SpanKind`` is ``Server``/``Client``/…,
``StatusCode`` is ``Unset``/``Ok``/``Error`` (see ``storage.clickhouse.flatten_sql``).

Counting rule (a request is not a span): request-level figures count **requests** — SERVER spans,
or root spans (no parent) where a service has no server span — never every span.
"""

from __future__ import annotations

from contracts.otel_columns import Traces as T


def span_attr(*names: str) -> str:
    """The first non-empty of the span attributes ``names``."""
    if len(names) == 1:
        return f"{T.SPAN_ATTRIBUTES}['{names[0]}']"
    alts = ", ".join(f"nullIf({T.SPAN_ATTRIBUTES}['{n}'], '')" for n in names)
    return f"ifNull(coalesce({alts}), '')"


def resource_attr(*names: str) -> str:
    """The first non-empty of the resource attributes ``names``."""
    alts = ", ".join(f"nullIf({T.RESOURCE_ATTRIBUTES}['{n}'], '')" for n in names)
    return f"ifNull(coalesce({alts}), '')" if len(names) > 1 else f"{T.RESOURCE_ATTRIBUTES}['{names[0]}']"


HTTP_METHOD = span_attr("http.request.method", "http.method")
HTTP_ROUTE = span_attr("http.route")
HTTP_STATUS = span_attr("http.response.status_code", "http.status_code")
HTTP_STATUS_INT = f"toUInt16OrZero({HTTP_STATUS})"
DB_SYSTEM = span_attr("db.system.name", "db.system")
DB_STATEMENT = span_attr("db.query.text", "db.statement")
DB_NAMESPACE = span_attr("db.namespace", "db.name")
DB_OPERATION = span_attr("db.operation.name", "db.operation")
DB_ROWS = span_attr("db.response.returned_rows")
ENVIRONMENT = resource_attr("deployment.environment.name", "deployment.environment")
HOST_NAME = resource_attr("host.name")

IS_SERVER = f"{T.SPAN_KIND} = 'Server'"
IS_ROOT = f"{T.PARENT_SPAN_ID} = ''"
# A request: a server span, or a root span that is not a client/producer call (e.g. a job's root span).
IS_REQUEST = f"({IS_SERVER} OR ({IS_ROOT} AND {T.SPAN_KIND} IN ('Internal', 'Consumer', 'Unspecified')))"
IS_DB_CALL = f"({T.SPAN_KIND} = 'Client' AND {DB_SYSTEM} != '')"
# A failed request: status ERROR, or a 5xx answer (4xx are the client's errors, not the server's).
IS_ERROR = f"({T.STATUS_CODE} = 'Error' OR {HTTP_STATUS_INT} >= 500)"

# A DB call's operation: db.operation.name (or db.operation), else its statement's first word upper-cased.
DB_OPERATION_OR_VERB = (f"if({DB_OPERATION} != '', {DB_OPERATION}, "
                        f"upper(extract({DB_STATEMENT}, '^[[:space:]]*([[:alpha:]]+)')))")
# The endpoint of a request: its http.route, or its span name when it has none.
ROUTE = f"if({HTTP_ROUTE} != '', {HTTP_ROUTE}, {T.SPAN_NAME})"
# A DB statement with literals replaced by ? (ClickHouse's normalizeQuery; whitespace runs left where
# a comment was dropped become one space) and its hash, the query_hash of the database endpoints.
NORMALIZED = f"trimBoth(replaceRegexpAll(normalizeQuery({DB_STATEMENT}), '[[:space:]]+', ' '))"
QUERY_HASH = f"cityHash64({NORMALIZED})"
