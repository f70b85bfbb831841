"""Per-request validation before a request joins a shared batch.

``inspect(signal, request, cutoff_ns)`` walks the decoded request once and returns the number of
records, how many are refused and why. Refused are records with a malformed id (trace id not 16
bytes / span id not 8 bytes) and records older than the retention window (``cutoff_ns``) — storing
the latter would let the TTL delete acknowledged data, so they are reported in ``partial_success``
instead. When anything is refused the request is pruned in place (the caller re-serialises it).
A request is never refused as a whole here; decode errors are the decoder's job.

Attribute lists longer than ``max_attrs`` are cut to their first ``max_attrs`` entries when the batch
is flattened (see storage/clickhouse/redaction.py); the number of attributes dropped that way is
counted here (``len()`` of a repeated field is O(1) in upb) and reported as a ``partial_success``
warning, as the OTLP ``dropped_attributes_count`` semantics ask.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from contracts.signals import Signal


@dataclass
class Inspection:
    records: int = 0
    rejected: int = 0
    too_old: int = 0
    bad_ids: int = 0
    dropped_attributes: int = 0
    max_attributes: int = field(default=0, compare=False)

    @property
    def accepted(self) -> int:
        return self.records - self.rejected

    def message(self, retention_days: int) -> str:
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
    """Optional ids (logs, links): empty, or the right length and not all zeros."""
    return (len(trace_id) not in (0, 16) or len(span_id) not in (0, 8)
            or trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN)


def _bad_span(s: Any) -> bool:
    """Spans need a valid trace and span id (trace.proto: required, all-zero is invalid)."""
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
    del container[:]
    container.extend(keep)


def _excess(n: int, cap: int) -> int:
    return n - cap if n > cap else 0


def inspect_traces(req: Any, cutoff_ns: int, max_attrs: int = 1 << 30) -> Inspection:
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
    return r.time_unix_nano or r.observed_time_unix_nano


def inspect_logs(req: Any, cutoff_ns: int, max_attrs: int = 1 << 30) -> Inspection:
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


_POINT_KINDS = ("gauge", "sum", "histogram", "exponential_histogram", "summary")


def inspect_metrics(req: Any, cutoff_ns: int, max_attrs: int = 1 << 30) -> Inspection:
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
