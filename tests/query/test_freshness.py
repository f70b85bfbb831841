"""Honest freshness: ``Vigil-Data-Complete`` and ``meta`` on every ``/api/*`` answer (InMemoryProgress)."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

from contracts.freshness import Backlog, InMemoryProgress
from contracts.reader import InMemoryReader
from contracts.signals import Signal
from query.api import build_app

PATHS = ["/api/services", "/api/traces", "/api/logs", "/api/metrics/names", "/api/health"]
COMPLETE = {"data_complete": True, "ingest_backlog_records": 0, "ingest_lag_seconds": 0.0}


class RecordingProgress(InMemoryProgress):
    """Records the timeout of every wait."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float] = []

    async def wait_visible(self, timeout: float) -> bool:
        self.waits.append(timeout)
        return await super().wait_visible(timeout)


def _health() -> dict[str, Any]:
    return {"status": "ok", "components": {}}


def _get(app: Any, path: str, **params: str) -> tuple[str, dict[str, Any]]:
    with TestClient(app) as c:
        resp = c.get(path, params=params)
    assert resp.status_code == 200, resp.text
    return resp.headers["vigil-data-complete"], resp.json()["meta"]


@pytest.mark.parametrize("path", PATHS)
def test_without_progress_completeness_is_never_claimed(path: str) -> None:
    header, meta = _get(build_app(InMemoryReader(), _health), path)
    assert header == "false"
    assert meta == {"data_complete": False, "ingest_backlog_records": None, "ingest_lag_seconds": None}


@pytest.mark.parametrize("path", PATHS)
def test_nothing_pending_is_complete(path: str) -> None:
    progress = RecordingProgress()
    app = build_app(InMemoryReader(), _health, progress=progress, read_after_write_timeout_s=2.5)
    assert _get(app, path) == ("true", COMPLETE)
    assert progress.waits == ([] if path == "/api/health" else [2.5])  # health never waits


def test_backlog_of_the_signal_read_makes_it_incomplete() -> None:
    progress = RecordingProgress()
    progress.pending = {Signal.TRACES: Backlog(7, 1.23456), Signal.METRICS: Backlog(3, 9.0)}
    app = build_app(InMemoryReader(), _health, progress=progress, read_after_write_timeout_s=0.5)
    header, meta = _get(app, "/api/services")
    assert header == "false"
    assert meta == {"data_complete": False, "ingest_backlog_records": 7, "ingest_lag_seconds": 1.235}
    header, meta = _get(app, "/api/metrics/names")
    assert (header, meta["ingest_backlog_records"], meta["ingest_lag_seconds"]) == ("false", 3, 9.0)
    # nothing of logs is pending: the wait ran out, yet every acknowledged log is visible
    assert _get(app, "/api/logs") == ("true", {**COMPLETE, "ingest_backlog_records": 0})
    header, meta = _get(app, "/api/health")
    assert (header, meta["ingest_backlog_records"], meta["ingest_lag_seconds"]) == ("false", 10, 9.0)


def test_zero_timeout_reports_without_waiting() -> None:
    progress = RecordingProgress()
    progress.pending = {Signal.LOGS: Backlog(1, 0.5)}
    app = build_app(InMemoryReader(), _health, progress=progress, read_after_write_timeout_s=0)
    assert _get(app, "/api/logs")[0] == "false"
    assert _get(app, "/api/traces")[0] == "true"
    assert progress.waits == []


def test_the_older_before_read_hook_still_runs_but_proves_nothing() -> None:
    calls: list[str] = []

    async def before_read() -> None:
        calls.append("waited")

    app = build_app(InMemoryReader(), _health, None, None, before_read)
    assert _get(app, "/api/logs")[0] == "false"
    assert _get(app, "/api/health")[0] == "false"
    assert calls == ["waited"]  # data reads only


def test_trace_and_metric_answers_carry_meta_too() -> None:
    tid = "5b8efff798038103d269b633813fc60c"
    span = {"TraceId": tid, "SpanId": "a" * 16, "ParentSpanId": "", "SpanName": "GET /", "SpanKind": "Server",
            "ServiceName": "web", "start_ns": 10, "Duration": 5, "StatusCode": "Ok", "StatusMessage": "",
            "SpanAttributes": {}, "ResourceAttributes": {}, "ScopeName": "s", "TraceState": "",
            "ev_ts": [], "ev_name": [], "ev_attrs": [], "l_trace": [], "l_span": [], "l_attrs": []}
    progress = InMemoryProgress()
    app = build_app(InMemoryReader([span]), _health, progress=progress, read_after_write_timeout_s=1)
    with TestClient(app) as c:
        resp = c.get(f"/api/traces/{tid}")
        assert resp.status_code == 200 and resp.headers["vigil-data-complete"] == "true"
        body = resp.json()
        assert body["meta"] == COMPLETE
        [got] = body["spans"]
        assert (got["kind"], got["status_code"], got["end_time_unix_nano"]) == ("SPAN_KIND_SERVER", "STATUS_CODE_OK",
                                                                                15)
        kind_probe = {"AS kind": [{"kind": "gauge", "n": 1}]}
        reader = InMemoryReader([], answers=kind_probe)
    with TestClient(build_app(reader, _health, progress=progress, read_after_write_timeout_s=1)) as c:
        resp = c.get("/api/metrics/points", params={"name": "m"})
        assert resp.status_code == 200, resp.text
        assert resp.json() == {"name": "m", "type": "gauge", "unit": "", "points": [], "meta": COMPLETE}
