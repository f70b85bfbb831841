"""Honest freshness end to end: a read that cannot see everything acknowledged says so, with the backlog."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.receiver import now_ns, span_request
from tests.vigil_process import VigilProcess

PB = {"content-type": "application/x-protobuf"}


@pytest.fixture(scope="module")
def slow_drain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VigilProcess]:
    """Reads do not wait, and an idle flattener lingers 4 s before storing: acknowledged data sits in the spool."""
    env = {"VIGIL_READ_AFTER_WRITE_TIMEOUT_MS": "0", "VIGIL_FLATTEN_LINGER_MS": "4s"}
    proc = VigilProcess(Path(tmp_path_factory.mktemp("freshness")), env=env).start()
    yield proc
    proc.stop()


def test_incomplete_answer_then_complete_once_drained(slow_drain: VigilProcess) -> None:
    spans = 50
    req = span_request(*[now_ns() - i * 1000 for i in range(spans)], service="fresh")
    ack = httpx.post(f"{slow_drain.otlp_http}/v1/traces", content=req.SerializeToString(), headers=PB, timeout=10)
    assert ack.status_code == 200
    early = httpx.get(f"{slow_drain.api}/api/services", params={"range": "1h"}, timeout=10)
    assert early.status_code == 200
    assert early.headers["vigil-data-complete"] == "false"
    meta = early.json()["meta"]
    assert meta["data_complete"] is False
    assert meta["ingest_backlog_records"] >= spans and meta["ingest_lag_seconds"] >= 0
    health = httpx.get(f"{slow_drain.api}/api/health", timeout=10).json()
    assert health["components"]["ingest"]["signals"]["traces"]["ingest_backlog_records"] >= spans

    deadline = time.monotonic() + 30
    while True:
        late = httpx.get(f"{slow_drain.api}/api/services", params={"range": "1h"}, timeout=10)
        if late.headers["vigil-data-complete"] == "true" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert late.headers["vigil-data-complete"] == "true"
    body = late.json()
    assert body["meta"] == {"data_complete": True, "ingest_backlog_records": 0, "ingest_lag_seconds": 0.0}
    [svc] = [s for s in body["services"] if s["name"] == "fresh"]
    assert svc["span_count"] == spans  # complete means complete
