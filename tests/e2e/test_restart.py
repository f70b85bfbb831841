"""``vigil serve`` restarted on the same data dir keeps every signal (embedded chDB and PostgreSQL)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.conftest import LONG_RETENTION
from tests.e2e.test_otlp_examples import EXAMPLES, TRACE_ID
from tests.vigil_process import VigilProcess


def test_restart_keeps_data(fresh_data_dir: Path) -> None:
    server = VigilProcess(fresh_data_dir, env=dict(LONG_RETENTION)).start()
    try:
        for name, path in (("trace", "traces"), ("metrics", "metrics"), ("logs", "logs")):
            r = httpx.post(f"{server.otlp_http}/v1/{path}", content=(EXAMPLES / f"{name}.json").read_bytes(),
                           headers={"Content-Type": "application/json"})
            assert r.status_code == 200
        first_instance = json.loads(httpx.get(f"{server.api}/api/health").text)["status"]
        assert first_instance == "ok"
    finally:
        assert server.stop() == 0  # SIGTERM drains and exits cleanly

    again = VigilProcess(fresh_data_dir, env=dict(LONG_RETENTION)).start()
    try:
        trace = httpx.get(f"{again.api}/api/traces/{TRACE_ID}").raise_for_status().json()
        assert [s["span_id"] for s in trace["spans"]] == ["eee19b7ec3c1b174"]
        window = {"start": "1544712600", "end": "1544713200"}
        logs = httpx.get(f"{again.api}/api/logs", params=window).json()["logs"]
        assert [entry["body"] for entry in logs] == ["Example log record"]
        names = httpx.get(f"{again.api}/api/metrics/names", params=window).json()["metrics"]
        assert {m["name"] for m in names} >= {"my.counter", "my.gauge", "my.histogram"}
    finally:
        again.stop()
