"""receiver.validate: record counts, retention cutoff and malformed ids, with in-place pruning."""

from __future__ import annotations

from typing import Any

import pytest

from receiver.signals import LOGS, METRICS
from receiver.validate import INSPECTORS, Inspection, inspect_logs, inspect_metrics, inspect_traces
from tests.receiver import example_request, span_request

CUTOFF = 1_000_000


def test_official_examples_counts_per_signal() -> None:
    assert INSPECTORS["traces"](example_request("traces"), 0) == Inspection(records=1)
    assert INSPECTORS["logs"](example_request("logs"), 0) == Inspection(records=1)
    # sum, gauge, histogram and exponential histogram: one data point each
    assert INSPECTORS["metrics"](example_request("metrics"), 0) == Inspection(records=4)


def test_official_examples_are_too_old_for_a_recent_cutoff() -> None:
    cutoff = 1544712660300000001  # one ns after every example timestamp
    for signal, records in (("traces", 1), ("logs", 1), ("metrics", 4)):
        req = example_request(signal)
        res = INSPECTORS[signal](req, cutoff)
        assert (res.records, res.rejected, res.too_old, res.accepted) == (records, records, records, 0), signal


def test_traces_too_old_are_pruned_and_counted() -> None:
    req = span_request(CUTOFF - 1, CUTOFF, CUTOFF + 5, 0)
    res = inspect_traces(req, CUTOFF)
    assert (res.records, res.rejected, res.too_old, res.bad_ids, res.accepted) == (4, 2, 2, 0, 2)
    kept = req.resource_spans[0].scope_spans[0].spans
    # the cutoff itself is inside the window; survivors keep their order and content
    assert [s.start_time_unix_nano for s in kept] == [CUTOFF, CUTOFF + 5]
    assert [s.name for s in kept] == ["span-2", "span-3"]


def test_trace_with_five_byte_trace_id_is_counted_as_bad() -> None:
    req = span_request(CUTOFF + 1, CUTOFF + 2)
    req.resource_spans[0].scope_spans[0].spans[0].trace_id = b"\x01\x02\x03\x04\x05"
    res = inspect_traces(req, CUTOFF)
    assert (res.records, res.rejected, res.bad_ids, res.too_old) == (2, 1, 1, 0)
    assert [s.name for s in req.resource_spans[0].scope_spans[0].spans] == ["span-2"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("span_id", b"\x01" * 7), ("span_id", b"\x01" * 9), ("parent_span_id", b"\x01\x02"), ("trace_id", b"\x00" * 17)],
)
def test_trace_malformed_ids(field: str, value: bytes) -> None:
    req = span_request(CUTOFF + 1)
    setattr(req.resource_spans[0].scope_spans[0].spans[0], field, value)
    res = inspect_traces(req, CUTOFF)
    assert (res.rejected, res.bad_ids) == (1, 1)
    assert len(req.resource_spans[0].scope_spans[0].spans) == 0


def test_trace_empty_or_zero_ids_are_rejected() -> None:
    # trace.proto: trace_id and span_id are required; empty and all-zero ids are invalid
    req = span_request(CUTOFF + 1, trace_id=b"")
    assert inspect_traces(req, CUTOFF) == Inspection(records=1, rejected=1, bad_ids=1)
    req = span_request(CUTOFF + 1)
    req.resource_spans[0].scope_spans[0].spans[0].span_id = bytes(8)
    assert inspect_traces(req, CUTOFF) == Inspection(records=1, rejected=1, bad_ids=1)


def test_too_old_wins_over_bad_id_and_each_record_counts_once() -> None:
    req = span_request(CUTOFF - 10, CUTOFF + 10)
    for s in req.resource_spans[0].scope_spans[0].spans:
        s.trace_id = b"\x01\x02\x03"
    res = inspect_traces(req, CUTOFF)
    assert (res.records, res.rejected, res.too_old, res.bad_ids) == (2, 2, 1, 1)


def test_counts_across_resources_and_scopes() -> None:
    req = span_request(CUTOFF + 1, CUTOFF - 1)
    extra = span_request(CUTOFF + 1, CUTOFF + 2, CUTOFF - 3)
    req.resource_spans.extend(extra.resource_spans)
    req.resource_spans[1].scope_spans.add().spans.add(
        trace_id=b"\x02" * 16, span_id=b"\x02" * 8, start_time_unix_nano=CUTOFF - 9
    )
    res = inspect_traces(req, CUTOFF)
    assert (res.records, res.rejected, res.too_old) == (6, 3, 3)
    assert sum(len(ss.spans) for rs in req.resource_spans for ss in rs.scope_spans) == 3


def _logs(*records: dict[str, Any]) -> Any:
    req = LOGS.request()
    sl = req.resource_logs.add().scope_logs.add()
    for r in records:
        sl.log_records.add(**r)
    return req


def test_logs_cutoff_uses_time_then_observed_time() -> None:
    req = _logs(
        {"time_unix_nano": CUTOFF - 1, "observed_time_unix_nano": CUTOFF + 100},  # time wins: too old
        {"time_unix_nano": 0, "observed_time_unix_nano": CUTOFF - 1},  # falls back to observed: too old
        {"time_unix_nano": 0, "observed_time_unix_nano": CUTOFF + 1},  # kept
        {"time_unix_nano": 0, "observed_time_unix_nano": 0},  # no time at all: kept
        {"time_unix_nano": CUTOFF + 1, "trace_id": b"\x01" * 5},  # bad id
    )
    res = inspect_logs(req, CUTOFF)
    assert (res.records, res.rejected, res.too_old, res.bad_ids, res.accepted) == (5, 3, 2, 1, 2)
    assert len(req.resource_logs[0].scope_logs[0].log_records) == 2


def test_logs_without_trace_context_are_fine() -> None:
    req = _logs({"time_unix_nano": CUTOFF + 1}, {"time_unix_nano": CUTOFF + 2, "trace_id": b"\x01" * 16,
                                                  "span_id": b"\x01" * 8})
    assert inspect_logs(req, CUTOFF) == Inspection(records=2)


def _metrics() -> Any:
    req = METRICS.request()
    sm = req.resource_metrics.add().scope_metrics.add()
    g = sm.metrics.add(name="g")
    g.gauge.data_points.add(time_unix_nano=CUTOFF - 1, as_double=1)
    g.gauge.data_points.add(time_unix_nano=CUTOFF + 1, as_double=2)
    s = sm.metrics.add(name="s")
    s.sum.data_points.add(time_unix_nano=CUTOFF + 1, as_int=3)
    h = sm.metrics.add(name="h")
    h.histogram.data_points.add(time_unix_nano=CUTOFF - 5, count=1)
    e = sm.metrics.add(name="e")
    e.exponential_histogram.data_points.add(time_unix_nano=CUTOFF + 5, count=1)
    q = sm.metrics.add(name="q")
    q.summary.data_points.add(time_unix_nano=CUTOFF - 2, count=1)
    q.summary.data_points.add(time_unix_nano=CUTOFF + 2, count=1)
    sm.metrics.add(name="empty")  # no data oneof set: no records
    return req


def test_metrics_points_counted_and_pruned_per_kind() -> None:
    req = _metrics()
    res = inspect_metrics(req, CUTOFF)
    assert (res.records, res.rejected, res.too_old, res.accepted) == (7, 3, 3, 4)
    ms = {m.name: m for m in req.resource_metrics[0].scope_metrics[0].metrics}
    assert [p.as_double for p in ms["g"].gauge.data_points] == [2]
    assert len(ms["h"].histogram.data_points) == 0
    assert [p.time_unix_nano for p in ms["q"].summary.data_points] == [CUTOFF + 2]
    assert len(ms["e"].exponential_histogram.data_points) == 1


def test_metrics_cutoff_zero_keeps_everything() -> None:
    req = _metrics()
    before = req.SerializeToString()
    assert inspect_metrics(req, 0) == Inspection(records=7)
    assert req.SerializeToString() == before


def test_nothing_refused_leaves_request_untouched() -> None:
    req = span_request(CUTOFF + 1, CUTOFF + 2)
    before = req.SerializeToString()
    assert inspect_traces(req, CUTOFF).rejected == 0
    assert req.SerializeToString() == before


def test_message_text() -> None:
    assert Inspection(records=3).message(30) == ""
    assert Inspection(records=3, rejected=2, too_old=2).message(30) == (
        "2 record(s) older than the 30-day retention window"
    )
    assert Inspection(records=3, rejected=1, bad_ids=1).message(30) == (
        "1 record(s) with a malformed trace/span id or an out-of-range timestamp"
    )
    both = Inspection(records=5, rejected=3, too_old=2, bad_ids=1).message(7)
    assert both == (
        "2 record(s) older than the 7-day retention window; "
        "1 record(s) with a malformed trace/span id or an out-of-range timestamp"
    )


def test_attributes_beyond_the_limit_are_counted_as_a_warning() -> None:
    req = span_request(CUTOFF + 1, CUTOFF + 2)
    req.resource_spans[0].resource.attributes.add(key="extra").value.string_value = "x"  # 2 resource attrs
    first = req.resource_spans[0].scope_spans[0].spans[0]
    for i in range(5):
        first.attributes.add(key=f"k{i}").value.int_value = i
    res = inspect_traces(req, CUTOFF, max_attrs=3)
    assert (res.records, res.rejected, res.dropped_attributes) == (2, 0, 2)  # 5 span attrs → 3 kept
    assert res.message(30) == "2 attribute(s) beyond the limit of 3 per attribute list were dropped"
    assert inspect_traces(req, CUTOFF, max_attrs=1).dropped_attributes == 4 + 1  # span 4 over, resource 1 over
