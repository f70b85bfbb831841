"""Error occurrences of a window as fingerprinted tallies, read from the error rollup or raw spans and logs.

Windows that :func:`query.apm.rollup.split` sends to the rollups (10 minutes or more, buckets of a
minute or more; widened to whole minutes) read ``vigil_errors_1m`` (:mod:`contracts.error_rollup`);
shorter ones aggregate raw span events and logs with the rollup views' own SELECT, bucketed by the
window's step, exactly over ``[start, end]``. Each group is fingerprinted once in Python from its
sample (:func:`query.apm.fingerprint.fingerprint`, or ``log_fingerprint`` for body-only logs).
Counts are exact; a group's ``message`` is its sample's masked message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from contracts import error_rollup as E
from contracts.otel_columns import Logs as L
from contracts.otel_columns import Traces as T
from contracts.otel_columns import nested
from contracts.reader import TelemetryReader
from contracts.semconv_sql import ENVIRONMENT
from query.apm import rollup
from query.apm.errors_scan import LOG_TYPE, SPAN_SLACK_NS
from query.apm.fingerprint import fingerprint, log_fingerprint, mask
from query.apm.window import ApmWindow

_COLUMNS = ", ".join(E.COLUMNS)


@dataclass(frozen=True)
class Tally:
    """Occurrences of one fingerprint in one bucket from one (source, service, endpoint)."""

    fingerprint: str
    type: str
    message: str  # masked
    raw_message: str
    service: str
    endpoint: str
    source: str
    t: int  # bucket start, unix seconds (a minute for rollup reads)
    count: int
    last_seen_ns: int


def _filters(service: str | None, environment: str | None, params: dict[str, object], rollup_side: bool) -> str:
    conds = []
    if service:
        params["service"] = service
        conds.append("ServiceName = {service:String}")
    if environment:
        params["environment"] = environment
        conds.append("Environment = {environment:String}" if rollup_side else f"{ENVIRONMENT} = {{environment:String}}")
    return "".join(f" AND {c}" for c in conds)


def _sql(window: ApmWindow, service: str | None, environment: str | None, params: dict[str, object]) -> str:
    split = rollup.split(window)
    if split.minutes:
        params["ru_a"], params["ru_b"] = split.minutes
        return (f"SELECT {_COLUMNS} FROM {E.TABLE} WHERE Minute >= toDateTime({{ru_a:UInt32}}) "
                f"AND Minute < toDateTime({{ru_b:UInt32}}){_filters(service, environment, params, True)}")
    params.update(window.params, span_from_ns=window.start_ns - SPAN_SLACK_NS)
    raw = _filters(service, environment, params, False)
    step = "toIntervalSecond({step_s:UInt32})"
    spans = (f"{E.spans_select(f'toStartOfInterval({E.SPAN_TIME}, {step})')} "
             f"AND {T.TIMESTAMP} >= fromUnixTimestamp64Nano({{span_from_ns:Int64}}) "
             f"AND {T.TIMESTAMP} <= fromUnixTimestamp64Nano({{end_ns:Int64}}) "
             f"AND has({nested(T.EVENTS, T.NESTED_NAME)}, 'exception') "
             f"AND ev.1 >= fromUnixTimestamp64Nano({{start_ns:Int64}}) "
             f"AND ev.1 <= fromUnixTimestamp64Nano({{end_ns:Int64}}){raw} {E.GROUP}")
    logs = (f"{E.logs_select(f'toStartOfInterval({E.LOG_TIME}, {step})')} "
            f"AND {L.TIMESTAMP} >= fromUnixTimestamp64Nano({{start_ns:Int64}}) "
            f"AND {L.TIMESTAMP} <= fromUnixTimestamp64Nano({{end_ns:Int64}}) "
            f"AND {L.TIMESTAMP_TIME} >= toDateTime(intDiv({{start_ns:Int64}}, 1000000000)){raw} {E.GROUP}")
    return f"SELECT {_COLUMNS} FROM ({spans}) UNION ALL SELECT {_COLUMNS} FROM ({logs})"


def tallies(reader: TelemetryReader, window: ApmWindow, service: str | None = None,
            environment: str | None = None) -> list[Tally]:
    """Every group of the window's occurrences, fingerprinted, newest first."""
    params: dict[str, object] = {}
    rows = reader.rows(
        f"SELECT toUnixTimestamp(Minute) AS t, Source AS source, ServiceName AS service, Endpoint AS endpoint, "
        f"Type AS type, BodyOnly AS body_only, sum(Occurrences) AS n, any(Message) AS message, any(Stack) AS stack, "
        f"toUnixTimestamp64Nano(max(LastSeen)) AS last_seen FROM ({_sql(window, service, environment, params)}) "
        f"GROUP BY t, source, service, endpoint, type, body_only, MessageKey, StackHash "
        f"ORDER BY last_seen DESC", params)
    cache: dict[tuple[Any, ...], tuple[str, str, str]] = {}
    out = []
    for r in rows:
        key = (r["type"], r["message"], r["stack"], bool(r["body_only"]), r["service"] if r["body_only"] else "")
        if key not in cache:
            cache[key] = _identify(str(r["type"]), str(r["message"]), str(r["stack"]), bool(r["body_only"]),
                                   str(r["service"]))
        fp, typ, masked = cache[key]
        out.append(Tally(fingerprint=fp, type=typ, message=masked, raw_message=str(r["message"]),
                         service=str(r["service"]), endpoint=str(r["endpoint"]), source=str(r["source"]),
                         t=int(r["t"]), count=int(r["n"]), last_seen_ns=int(r["last_seen"])))
    return out


def _identify(typ: str, message: str, stack: str, body_only: bool, service: str) -> tuple[str, str, str]:
    """(fingerprint, type, masked message) of a group's sample, as the error tracker computes them."""
    if body_only:
        return log_fingerprint(service, message), LOG_TYPE, mask(message)
    return fingerprint(typ, message, stack), typ, mask(message)
