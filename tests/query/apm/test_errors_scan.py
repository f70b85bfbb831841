"""The tracker's scan on real chDB with an in-memory issue repository: watermark, overlap dedupe, sources."""

from __future__ import annotations

import uuid

import pytest
from clickhouse_connect.driver.client import Client

from contracts.issues import InMemoryIssues
from contracts.metadata import InMemorySettings
from query.apm import errors_scan
from query.apm.errors_scan import WATERMARK_KEY, read_occurrences, scan
from query.apm.fingerprint import fingerprint, log_fingerprint
from storage.clickhouse.client import connect
from storage.clickhouse.reader import ClickHouseReader
from tests.query.apm.errors_rows import STACK, ago, insert, log, ns, request


@pytest.fixture(scope="module")
def reader(chdb_dsn: str) -> ClickHouseReader:
    return ClickHouseReader(lambda: connect(chdb_dsn))


def svc_name(tag: str) -> str:
    return f"errscan-{tag}-{uuid.uuid4().hex[:6]}"


def test_span_events_and_logs_become_fingerprinted_occurrences(ch: Client, reader: ClickHouseReader) -> None:
    svc = svc_name("kinds")
    span, trace, sid = request(svc, "/pay", ago(10), 500, [("PayError", "declined txn_123 for order 5")])
    insert(ch, [span, request(svc, "/ok", ago(9))[0]], [
        log(svc, ago(8), "payment failed", trace=trace, span=sid,
            attrs={"exception.type": "PayError", "exception.message": "declined txn_9 for order 77",
                   "exception.stacktrace": STACK}),
        log(svc, ago(7), "db down after 3 retries"),
        log(svc, ago(6), "just a warning", severity=13),
    ])
    found, cut = read_occurrences(reader, ns(ago(30)), ns(ago(0)), limit=100, newest_first=False, service=svc)
    assert not cut
    assert [(f.source, f.occ.type, f.occ.endpoint) for f in found] == [
        ("span", "PayError", "/pay"), ("log", "PayError", ""), ("log", "log", "")]
    fp = fingerprint("PayError", "declined txn_1 for order 1", STACK)
    assert [f.occ.fingerprint for f in found] == [fp, fp, log_fingerprint(svc, "db down after 3 retries")]
    assert found[0].occ.trace_id == trace and found[0].span_id == sid
    assert found[0].occ.time_ns == ns(ago(10)) + 1_000_000  # the event's time, not the span's
    assert found[0].occ.frames == ("/app/shop/gateway.py:call", "/app/shop/pay.py:charge")
    assert found[2].occ.message == "db down after <n> retries"
    assert read_occurrences(reader, ns(ago(30)), ns(ago(0)), limit=2, service=svc)[1] is True
    only = read_occurrences(reader, ns(ago(30)), ns(ago(0)), limit=100, service=svc, types=["log"])[0]
    assert [f.source for f in only] == ["log"] and only[0].occ.type == "log"


def test_watermark_and_overlap_dedupe(ch: Client, reader: ClickHouseReader) -> None:
    svc = svc_name("wm")
    issues, settings = InMemoryIssues(), InMemorySettings()
    insert(ch, [request(svc, "/a", ago(20), 500, [("E", "boom 1")])[0],
                request(svc, "/a", ago(10), 500, [("E", "boom 2"), ("F", "other")])[0]])
    now = ns(ago(5))
    first = scan(reader, issues, settings, now, overlap_s=600, initial_lookback_s=1800, service=svc)
    svc_occ = [i for i in issues.all() if svc in i.services]
    assert (first.recorded, first.duplicates) == (3, 0)
    assert sorted((i.type, i.count) for i in svc_occ) == [("E", 2), ("F", 1)]
    assert sorted(c.kind for c in first.changes if svc in c.issue.services) == ["new", "new"]
    assert settings.get(WATERMARK_KEY)["watermark_ns"] == now
    # a late arrival inside the overlap, and a new one after the watermark; the earlier ones are re-read
    insert(ch, [request(svc, "/a", ago(7), 500, [("E", "boom 3")])[0],
                request(svc, "/a", ago(3), 500, [("E", "boom 4")])[0]])
    second = scan(reader, issues, settings, ns(ago(1)), overlap_s=600, service=svc)
    assert second.start_ns == now - 600 * 10**9
    assert (second.recorded, second.duplicates) == (2, 2)  # the 10-minute-old pair was already recorded
    assert next(i for i in issues.all() if i.type == "E" and svc in i.services).count == 4
    third = scan(reader, issues, settings, ns(ago(1)), overlap_s=600, service=svc)
    assert (third.recorded, third.duplicates) == (0, 4)  # all four in [watermark - 10 min, now]
    assert next(i for i in issues.all() if i.type == "E" and svc in i.services).count == 4


def test_truncated_scan_continues_where_it_stopped(ch: Client, reader: ClickHouseReader) -> None:
    svc = svc_name("cut")
    issues, settings = InMemoryIssues(), InMemorySettings()
    insert(ch, [request(svc, "/a", ago(30 - i), 500, [("Cut", f"n {i}")])[0] for i in range(5)])
    settings.put(WATERMARK_KEY, {"watermark_ns": ns(ago(31)), "seen": []})
    results = [scan(reader, issues, settings, ns(ago(0)), overlap_s=0, limit=2, service=svc) for _ in range(5)]
    # each cut scan resumes at the last event read (re-read, deduped), so 2 + 1 + 1 + 1
    assert [(r.recorded, r.truncated) for r in results] == [(2, True), (1, True), (1, True), (1, False), (0, False)]
    assert results[0].watermark_ns == ns(ago(29)) + 1_000_000  # the last event read
    assert results[3].watermark_ns == ns(ago(0))
    (issue,) = [i for i in issues.all() if svc in i.services]
    assert issue.count == 5


def test_an_occurrence_after_resolution_regresses_the_issue(ch: Client, reader: ClickHouseReader) -> None:
    svc = svc_name("reg")
    issues, settings = InMemoryIssues(), InMemorySettings()
    insert(ch, [request(svc, "/a", ago(20), 500, [("Reg", "x")])[0]])
    (new,) = scan(reader, issues, settings, ns(ago(15)), initial_lookback_s=600, service=svc).changes
    assert new.kind == "new"
    issues.set_status(new.issue.fingerprint, "resolved", ns(ago(14)))
    insert(ch, [request(svc, "/a", ago(10), 500, [("Reg", "x")])[0]])
    (regressed,) = scan(reader, issues, settings, ns(ago(5)), service=svc).changes
    assert regressed.kind == "regressed"
    assert (regressed.issue.status, regressed.issue.regressions, regressed.issue.count) == ("open", 1, 2)
    event = errors_scan.change_event(regressed)
    assert event["kind"] == "regressed_issue" and event["service"] == svc and event["type"] == "Reg"
    assert scan(reader, issues, settings, ns(ago(4)), service=svc).changes == []
