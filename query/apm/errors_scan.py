"""Error occurrences in the columnar store, and the tracker's incremental scan into the issue repository.

An **occurrence** is either

* a span event named ``exception`` (``exception.type``/``message``/``stacktrace`` event attributes), at
  the event's time, with the span's service, trace/span id and endpoint (``http.route``, else the span
  name) — spans are searched from :data:`SPAN_SLACK_NS` before the window's start, so an event late in
  a long span still counts at its own time; or
* a log record with ``SeverityNumber >= 17`` (ERROR and above) at the record's time, with its service and
  trace/span id and no endpoint. With ``exception.type`` or ``exception.message`` log attributes it is
  fingerprinted like a span event (message defaulting to the body); without, by
  :func:`query.apm.fingerprint.log_fingerprint` of service and body, type :data:`LOG_TYPE`.

Fingerprints are computed in Python (:func:`query.apm.fingerprint.fingerprint` cannot be written in SQL),
so every reader of occurrences is bounded by a ``limit``; :func:`read_occurrences` says when it cut.

:func:`scan` is the tracker's step: it reads ``[watermark - overlap, now]`` oldest first (at most
:data:`SCAN_LIMIT` occurrences), drops the occurrences already recorded — keyed by (source, trace id,
span id, time) and remembered for the overlap in the watermark value — records the rest with
``IssueRepository.record`` and stores the new watermark (``now``, or the last time read when the limit cut)
under :data:`WATERMARK_KEY` in the settings repository. The first scan starts ``initial_lookback_s`` back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from contracts.issues import Change, IssueRepository, Occurrence
from contracts.metadata import SettingsRepository
from contracts.otel_columns import Logs as L
from contracts.otel_columns import Traces as T
from contracts.otel_columns import nested
from contracts.reader import TelemetryReader
from query.apm.fingerprint import fingerprint, log_fingerprint, mask, top_frames
from query.apm.semconv import ROUTE, service_filter

WATERMARK_KEY = "error_tracker.watermark"
SCAN_LIMIT = 50_000
SPAN_SLACK_NS = 3600 * 10**9
LOG_TYPE = "log"
ERROR_SEVERITY = 17
NS = 10**9

_EV_TS, _EV_NAME, _EV_ATTRS = (nested(T.EVENTS, c) for c in (T.NESTED_TIMESTAMP, T.NESTED_NAME, T.NESTED_ATTRIBUTES))


@dataclass(frozen=True)
class Found:
    """One occurrence read from the columnar store: the contract's :class:`Occurrence` plus where it is."""

    occ: Occurrence
    span_id: str
    source: str  # "span" (an exception event) or "log"

    @property
    def key(self) -> str:
        """The dedupe key: source, trace id, span id and time."""
        return f"{self.source}:{self.occ.trace_id}:{self.span_id}:{self.occ.time_ns}"


def _sql(service: str | None, environment: str | None, types: list[str] | None,
         params: dict[str, Any]) -> str:
    """One UNION ALL over span events and error logs, with bound ``start_ns``/``end_ns``/filters."""
    filters = service_filter(params, service, environment)
    span_conds = [f"{T.TIMESTAMP} >= fromUnixTimestamp64Nano({{span_start_ns:Int64}})",
                  f"{T.TIMESTAMP} <= fromUnixTimestamp64Nano({{end_ns:Int64}})", f"has({_EV_NAME}, 'exception')",
                  *filters]
    log_conds = [f"{L.TIMESTAMP} >= fromUnixTimestamp64Nano({{start_ns:Int64}})",
                 f"{L.TIMESTAMP} <= fromUnixTimestamp64Nano({{end_ns:Int64}})",
                 f"{L.TIMESTAMP_TIME} >= toDateTime(intDiv({{start_ns:Int64}}, 1000000000))",
                 f"{L.SEVERITY_NUMBER} >= {ERROR_SEVERITY}", *filters]
    log_type = f"{L.LOG_ATTRIBUTES}['exception.type']"
    if types is not None:
        params["types"] = types
        span_conds.append("ev.3['exception.type'] IN {types:Array(String)}")
        log_conds.append(f"if({log_type} != '' OR {L.LOG_ATTRIBUTES}['exception.message'] != '', {log_type}, "
                         f"'{LOG_TYPE}') IN {{types:Array(String)}}")
    spans = (f"SELECT 'span' AS source, {T.TRACE_ID} AS trace_id, {T.SPAN_ID} AS span_id, "
             f"{T.SERVICE_NAME} AS service, {ROUTE} AS endpoint, toUnixTimestamp64Nano(ev.1) AS t, "
             f"ev.3['exception.type'] AS type, ev.3['exception.message'] AS message, "
             f"ev.3['exception.stacktrace'] AS stack, '' AS body "
             f"FROM {T.TABLE} ARRAY JOIN arrayZip({_EV_TS}, {_EV_NAME}, {_EV_ATTRS}) AS ev "
             f"WHERE {' AND '.join(span_conds)} AND ev.2 = 'exception' "
             f"AND ev.1 >= fromUnixTimestamp64Nano({{start_ns:Int64}}) "
             f"AND ev.1 <= fromUnixTimestamp64Nano({{end_ns:Int64}})")
    logs = (f"SELECT 'log' AS source, {L.TRACE_ID} AS trace_id, {L.SPAN_ID} AS span_id, "
            f"{L.SERVICE_NAME} AS service, '' AS endpoint, toUnixTimestamp64Nano({L.TIMESTAMP}) AS t, "
            f"{log_type} AS type, {L.LOG_ATTRIBUTES}['exception.message'] AS message, "
            f"{L.LOG_ATTRIBUTES}['exception.stacktrace'] AS stack, {L.BODY} AS body "
            f"FROM {L.TABLE} WHERE {' AND '.join(log_conds)}")
    return f"{spans} UNION ALL {logs}"


def found_of(row: dict[str, Any]) -> Found:
    """Fingerprint one row of :func:`read_occurrences`' query (see the module doc for the two kinds)."""
    typ, message, stack, service = str(row["type"]), str(row["message"]), str(row["stack"]), str(row["service"])
    if row["source"] == "log" and not typ and not message:
        body = str(row["body"])
        occ = Occurrence(log_fingerprint(service, body), LOG_TYPE, mask(body), body, (), int(row["t"]), service,
                         "", str(row["trace_id"]))
    else:
        message = message or str(row["body"])
        occ = Occurrence(fingerprint(typ, message, stack), typ, mask(message), message, tuple(top_frames(stack)),
                         int(row["t"]), service, str(row["endpoint"]), str(row["trace_id"]))
    return Found(occ, str(row["span_id"]), str(row["source"]))


def read_occurrences(reader: TelemetryReader, start_ns: int, end_ns: int, *, limit: int, newest_first: bool = True,
                     service: str | None = None, environment: str | None = None,
                     types: list[str] | None = None) -> tuple[list[Found], bool]:
    """Occurrences with ``start_ns <= time <= end_ns`` (at most ``limit``) and whether the limit cut some off.

    ``types`` keeps only those exception types (:data:`LOG_TYPE` for body-only logs). ``newest_first``
    orders (and so cuts) by time descending, else ascending; ties by source, trace and span id.
    """
    params: dict[str, Any] = {"start_ns": start_ns, "end_ns": end_ns, "span_start_ns": start_ns - SPAN_SLACK_NS,
                              "limit": limit + 1}
    order = "DESC" if newest_first else "ASC"
    rows = reader.rows(f"SELECT * FROM ({_sql(service, environment, types, params)}) "
                       f"ORDER BY t {order}, source, trace_id, span_id LIMIT {{limit:UInt32}}", params)
    return [found_of(r) for r in rows[:limit]], len(rows) > limit


@dataclass(frozen=True)
class ScanResult:
    """What one :func:`scan` did."""

    start_ns: int
    watermark_ns: int
    read: int
    recorded: int
    duplicates: int
    changes: list[Change] = field(default_factory=list)
    truncated: bool = False


def load_watermark(settings: SettingsRepository) -> tuple[int | None, set[str]]:
    """The stored watermark (None before the first scan) and the keys already recorded in its overlap."""
    value = settings.get(WATERMARK_KEY)
    if not isinstance(value, dict) or not isinstance(value.get("watermark_ns"), int):
        return None, set()
    return value["watermark_ns"], {str(k) for k in value.get("seen", [])}


def scan(reader: TelemetryReader, issues: IssueRepository, settings: SettingsRepository, now_ns: int, *,
         overlap_s: float = 60.0, initial_lookback_s: float = 3600.0, limit: int = SCAN_LIMIT,
         service: str | None = None) -> ScanResult:
    """One incremental scan (see the module doc); raises whatever the stores raise (nothing is then stored).

    ``service`` limits the scan to one service (tests; a tracker scans every service).
    """
    watermark, seen = load_watermark(settings)
    overlap_ns = int(overlap_s * NS)
    start = now_ns - int(initial_lookback_s * NS) if watermark is None else watermark - overlap_ns
    found, truncated = read_occurrences(reader, start, now_ns, limit=limit, newest_first=False, service=service)
    fresh = [f for f in found if f.key not in seen]
    changes = issues.record([f.occ for f in fresh]) if fresh else []
    new_mark = found[-1].occ.time_ns if truncated and found else now_ns
    keep_from = new_mark - overlap_ns
    remembered = {k for k in seen if int(k.rsplit(":", 1)[1]) >= keep_from}
    remembered |= {f.key for f in fresh if f.occ.time_ns >= keep_from}
    settings.put(WATERMARK_KEY, {"watermark_ns": max(new_mark, watermark or 0), "seen": sorted(remembered)})
    return ScanResult(start, max(new_mark, watermark or 0), len(found), len(fresh), len(found) - len(fresh),
                      changes, truncated)


def change_event(change: Change) -> dict[str, Any]:
    """The ``performance`` event announcing a new or regressed issue."""
    issue = change.issue
    return {"kind": f"{change.kind}_issue", "fingerprint": issue.fingerprint, "type": issue.type,
            "message": issue.message, "service": issue.services[0] if issue.services else "",
            "services": list(issue.services), "endpoints": list(issue.endpoints), "count": issue.count,
            "first_seen_ns": issue.first_seen_ns, "last_seen_ns": issue.last_seen_ns,
            "regressions": issue.regressions, "trace_id": issue.trace_ids[0] if issue.trace_ids else ""}
