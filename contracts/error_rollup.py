"""The per-minute error rollup ``vigil_errors_1m`` (columnar migration 6): exception span events and ERROR logs.

One row per (minute, source, service, environment, endpoint, exception type, message key, stack hash,
body-only) with the count, a sample raw message and stack, and the last time seen. Fingerprints
(:mod:`query.apm.fingerprint`) are computed in Python, so the rollup groups by a **message key** — the
message masked in SQL with the fingerprint's masking rules as far as RE2 can express them (URLs,
e-mails, UUIDs, quoted values, ``0x…`` and 8+-character hex runs, ``word_123`` suffixes, numbers) —
and the stack's hash; the query side fingerprints each group's sample once. A group is therefore never
coarser than a fingerprint except for contrived messages (an 8+-character run of only the letters a–f
is masked here but not by the fingerprint).

Occurrences: an ``exception`` span event (at the event's time; endpoint = ``http.route`` or the span
name) and a log with SeverityNumber ≥ 17 (its ``exception.*`` attributes, or only its body: then
``BodyOnly`` = 1 and the fingerprint is the service's and the masked body's).
"""

from __future__ import annotations

from contracts.otel_columns import Logs as L
from contracts.otel_columns import Traces as T
from contracts.otel_columns import nested
from contracts.semconv_sql import ENVIRONMENT, ROUTE

TABLE = "vigil_errors_1m"
SPANS_VIEW = "vigil_errors_1m_spans_mv"
LOGS_VIEW = "vigil_errors_1m_logs_mv"
ERROR_SEVERITY = 17
COLUMNS = ("Minute", "Source", "ServiceName", "Environment", "Endpoint", "Type", "MessageKey", "StackHash",
           "BodyOnly", "Occurrences", "Message", "Stack", "LastSeen")
KEY_COLUMNS = COLUMNS[:9]

_MASKS = (
    (r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+", "<url>"),
    (r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", "<email>"),
    (r"(?i)\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", "<uuid>"),
    (r"'[^']*'|\"[^\"]*\"", "<str>"),
    (r"(?i)\b0x[0-9a-f]+\b|\b[0-9a-f]{8,}\b", "<hex>"),
    (r"\b([A-Za-z]+[_-])[0-9]+\b", r"\1<n>"),
    (r"[-+]?\b[0-9]+(?:\.[0-9]+)?\b", "<n>"),
)


def _sql_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def message_key(expr: str) -> str:
    """SQL: ``expr`` trimmed and masked (see the module doc)."""
    out = f"trimBoth({expr})"
    for pattern, placeholder in _MASKS:
        out = f"replaceRegexpAll({out}, {_sql_string(pattern)}, {_sql_string(placeholder)})"
    return out


_EV_TS, _EV_NAME, _EV_ATTRS = (nested(T.EVENTS, c) for c in (T.NESTED_TIMESTAMP, T.NESTED_NAME, T.NESTED_ATTRIBUTES))
_LOG_TYPE = f"{L.LOG_ATTRIBUTES}['exception.type']"
_LOG_MESSAGE = f"{L.LOG_ATTRIBUTES}['exception.message']"
_LOG_TEXT = f"if({_LOG_MESSAGE} != '', {_LOG_MESSAGE}, {L.BODY})"

# The views' SELECTs over the source tables; callers append ` AND <cond>` before the GROUP BY. {bucket}
# is the time bucket: the minute in the views; the query side's raw reads use their series' step.
_SPANS_SELECT = f"""SELECT
    {{bucket}} AS Minute, 'span' AS Source, {T.SERVICE_NAME} AS ServiceName,
    {ENVIRONMENT} AS Environment, {ROUTE} AS Endpoint, ev.3['exception.type'] AS Type,
    {message_key("ev.3['exception.message']")} AS MessageKey,
    cityHash64(ev.3['exception.stacktrace']) AS StackHash, toUInt8(0) AS BodyOnly,
    toUInt64(count()) AS Occurrences, any(ev.3['exception.message']) AS Message,
    any(ev.3['exception.stacktrace']) AS Stack, max(ev.1) AS LastSeen
FROM {T.TABLE} ARRAY JOIN arrayZip({_EV_TS}, {_EV_NAME}, {_EV_ATTRS}) AS ev
WHERE ev.2 = 'exception'"""
_LOGS_SELECT = f"""SELECT
    {{bucket}} AS Minute, 'log' AS Source, {L.SERVICE_NAME} AS ServiceName,
    {ENVIRONMENT} AS Environment, '' AS Endpoint, {_LOG_TYPE} AS Type, {message_key(_LOG_TEXT)} AS MessageKey,
    cityHash64({L.LOG_ATTRIBUTES}['exception.stacktrace']) AS StackHash,
    toUInt8({_LOG_TYPE} = '' AND {_LOG_MESSAGE} = '') AS BodyOnly, toUInt64(count()) AS Occurrences,
    any({_LOG_TEXT}) AS Message, any({L.LOG_ATTRIBUTES}['exception.stacktrace']) AS Stack,
    max({L.TIMESTAMP}) AS LastSeen
FROM {L.TABLE}
WHERE {L.SEVERITY_NUMBER} >= {ERROR_SEVERITY}"""
GROUP = "GROUP BY " + ", ".join(KEY_COLUMNS)
SPAN_TIME = "ev.1"
LOG_TIME = L.TIMESTAMP


def spans_select(bucket: str = f"toStartOfMinute({SPAN_TIME})") -> str:
    """The spans view's SELECT with the time bucket expression ``bucket`` (over :data:`SPAN_TIME`)."""
    return _SPANS_SELECT.replace("{bucket}", bucket)


def logs_select(bucket: str = f"toStartOfMinute({LOG_TIME})") -> str:
    """The logs view's SELECT with the time bucket expression ``bucket`` (over :data:`LOG_TIME`)."""
    return _LOGS_SELECT.replace("{bucket}", bucket)


SPANS_SELECT = spans_select()
LOGS_SELECT = logs_select()
