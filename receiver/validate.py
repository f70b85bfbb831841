"""Per-request validation of a decoded OTLP request before it is written.

``INSPECTORS[signal](request, cutoff_ns, max_attrs)`` (:func:`inspect_traces`, :func:`inspect_logs`,
:func:`inspect_metrics`) walks the request, removes refused records from it in place (the caller
re-serialises it) and returns an :class:`Inspection`: how many records there were, how many were
refused and why, and how many attributes flattening will drop. ``cutoff_ns`` is in unix
nanoseconds; 0 disables the age check.

*Too old* are spans that started, log records timed (``time_unix_nano``, or when that is 0
``observed_time_unix_nano``; a record with neither is kept) and data points timed
(``time_unix_nano``) before ``cutoff_ns``: storing them would let the TTL delete acknowledged
data, so they are reported in ``partial_success`` instead.

*Bad ids* (malformed id or out-of-range timestamp) are spans whose trace id is not 16 bytes or
span id not 8 bytes or either is all zeros, whose parent span id is neither empty nor 8 bytes, or
whose start/end time is after :data:`MAX_NS`; log records whose trace/span id is neither empty nor
16/8 bytes, or is all zeros, or whose time is after :data:`MAX_NS`; data points whose time or start
time is after :data:`MAX_NS`. Events, links and exemplars are not checked; a metric without data
is skipped and not counted. A request is never refused as a whole here and nothing is raised;
decode errors are the decoder's job.

Attribute lists longer than ``max_attrs`` (``Redaction.max_attributes``) are cut to their first
``max_attrs`` entries when the batch is flattened (storage/clickhouse/flatten_sql.py). The
attributes dropped that way are counted here for resource attributes, the attributes of kept spans
and log records, and those of every data point (refused or not) — ``len()`` of a repeated field is
O(1) in upb — and reported as a ``partial_success`` warning, as the OTLP
``dropped_attributes_count`` semantics ask. Scope, event, link and exemplar attribute lists are
cut too but not counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from contracts.signals import Signal


@dataclass
class Inspection:
    """What one inspection found; ``rejected == too_old + bad_ids``.

    Attributes:
        records: Records (spans, log records or data points) in the request as received.
        rejected: Records refused and removed from the request.
        too_old: Refused records older than the retention cutoff.
        bad_ids: Refused records with a malformed id or an out-of-range timestamp.
        dropped_attributes: Attributes beyond ``max_attributes`` that flattening will drop.
        max_attributes: The per-list attribute limit applied (for the message; not compared).
    """

    records: int = 0
    rejected: int = 0
    too_old: int = 0
    bad_ids: int = 0
    dropped_attributes: int = 0
    max_attributes: int = field(default=0, compare=False)

    @property
    def accepted(self) -> int:
        """Records kept in the request (to be written)."""
        return self.records - self.rejected

    def message(self, retention_days: int) -> str:
        """The ``partial_success.error_message``: '; '-joined reasons, '' when there is nothing to report.

        Args:
            retention_days: The signal's retention, named in the too-old reason.
        """
        parts = []
        if self.too_old:
            parts.append(f"{self.too_old} record(s) older than the {retention_days}-day retention window")
        if self.bad_ids:
            parts.append(f"{self.bad_ids} record(s) with a malformed trace/span id or an out-of-range timestamp")
        if self.dropped_attributes:
            parts.append(f"{self.dropped_attributes} attribute(s) beyond the limit of {self.max_attributes} "
                         "per attribute list were dropped")
        return "; ".join(parts)


MAX_NS = 4_294_967_295 * 1_000_000_000
"""The last instant every time column can hold: ``otel_traces_trace_id_ts`` and ``otel_logs.TimestampTime``
are 32-bit ``DateTime`` (2106-02-07); later records could be stored but never found again."""

_ZERO_TRACE, _ZERO_SPAN = bytes(16), bytes(8)


def _bad_ids(trace_id: bytes, span_id: bytes) -> bool:
    """Whether optional ids (log records) are malformed: valid are empty, or 16/8 bytes not all zeros."""
    return (len(trace_id) not in (0, 16) or len(span_id) not in (0, 8)
            or trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN)


def _bad_span(s: Any) -> bool:
    """Whether span ``s`` is malformed.

    Spans need a valid trace and span id (trace.proto: required, all-zero is invalid), an empty or
    8-byte parent span id, and start/end times no later than :data:`MAX_NS`.
    """
    return (
        len(s.trace_id) != 16
        or len(s.span_id) != 8
        or s.trace_id == _ZERO_TRACE
        or s.span_id == _ZERO_SPAN
        or len(s.parent_span_id) not in (0, 8)
        or s.start_time_unix_nano > MAX_NS
        or s.end_time_unix_nano > MAX_NS
    )


def _prune(container: Any, keep: list[Any]) -> None:
    """Replace the contents of the repeated message field ``container`` with ``keep``."""
    del container[:]
    container.extend(keep)


def _excess(n: int, cap: int) -> int:
    """How many of ``n`` attributes exceed ``cap``."""
    return n - cap if n > cap else 0


def inspect_traces(req: Any, cutoff_ns: int, max_attrs: int = 1 << 30) -> Inspection:
    """Inspect an ``ExportTraceServiceRequest`` and remove its refused spans in place.

    Args:
        req: The decoded request; mutated when a span is refused.
        cutoff_ns: Unix nanoseconds; spans that started earlier are too old (0: none is).
        max_attrs: Attributes kept per attribute list when flattening.

    Returns:
        The counts; never raises for invalid data.
    """
    res = Inspection(max_attributes=max_attrs)
    for rs in req.resource_spans:
        res.dropped_attributes += _excess(len(rs.resource.attributes), max_attrs)
        for ss in rs.scope_spans:
            spans = ss.spans
            n = len(spans)
            res.records += n
            bad = 0
            for s in spans:
                if s.start_time_unix_nano < cutoff_ns or _bad_span(s):
                    bad += 1
                elif len(s.attributes) > max_attrs:
                    res.dropped_attributes += len(s.attributes) - max_attrs
            if bad:
                keep = []
                for s in spans:
                    if s.start_time_unix_nano < cutoff_ns:
                        res.too_old += 1
                    elif _bad_span(s):
                        res.bad_ids += 1
                    else:
                        keep.append(s)
                _prune(spans, keep)
                res.rejected += bad
    return res


def _log_time(r: Any) -> int:
    """A log record's time in unix nanoseconds: ``time_unix_nano``, else the observed time (0: none)."""
    t: int = r.time_unix_nano or r.observed_time_unix_nano
    return t


def inspect_logs(req: Any, cutoff_ns: int, max_attrs: int = 1 << 30) -> Inspection:
    """Inspect an ``ExportLogsServiceRequest`` and remove its refused log records in place.

    Args:
        req: The decoded request; mutated when a record is refused.
        cutoff_ns: Unix nanoseconds; records timed earlier are too old (0: none is). A record
            without any timestamp is never too old.
        max_attrs: Attributes kept per attribute list when flattening.

    Returns:
        The counts; never raises for invalid data.
    """
    res = Inspection(max_attributes=max_attrs)
    for rl in req.resource_logs:
        res.dropped_attributes += _excess(len(rl.resource.attributes), max_attrs)
        for sl in rl.scope_logs:
            records = sl.log_records
            res.records += len(records)
            keep = []
            for r in records:
                if _log_time(r) and _log_time(r) < cutoff_ns:
                    res.too_old += 1
                elif _bad_ids(r.trace_id, r.span_id) or _log_time(r) > MAX_NS:
                    res.bad_ids += 1
                else:
                    res.dropped_attributes += _excess(len(r.attributes), max_attrs)
                    keep.append(r)
            if len(keep) != len(records):
                res.rejected += len(records) - len(keep)
                _prune(records, keep)
    return res




def inspect_metrics(req: Any, cutoff_ns: int, max_attrs: int = 1 << 30) -> Inspection:
    """Inspect an ``ExportMetricsServiceRequest`` and remove its refused data points in place.

    Args:
        req: The decoded request; mutated when a data point is refused.
        cutoff_ns: Unix nanoseconds; points whose ``time_unix_nano`` is earlier are too old (0: none is).
        max_attrs: Attributes kept per attribute list when flattening.

    Returns:
        The counts; never raises for invalid data.
    """
    res = Inspection(max_attributes=max_attrs)
    for rm in req.resource_metrics:
        res.dropped_attributes += _excess(len(rm.resource.attributes), max_attrs)
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                kind = m.WhichOneof("data")
                if kind is None:
                    continue
                points = getattr(m, kind).data_points
                res.records += len(points)
                for p in points:
                    res.dropped_attributes += _excess(len(p.attributes), max_attrs)
                keep = [p for p in points if cutoff_ns <= p.time_unix_nano <= MAX_NS
                        and p.start_time_unix_nano <= MAX_NS]
                if len(keep) != len(points):
                    too_old = sum(1 for p in points if p.time_unix_nano < cutoff_ns)
                    res.too_old += too_old
                    res.bad_ids += len(points) - len(keep) - too_old
                    res.rejected += len(points) - len(keep)
                    _prune(points, keep)
    return res


INSPECTORS = {Signal.TRACES: inspect_traces, Signal.LOGS: inspect_logs, Signal.METRICS: inspect_metrics}
