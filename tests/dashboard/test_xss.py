"""Telemetry is attacker-controlled: markup in span names, attributes, SQL, log bodies and exception
messages is shown as text on every dashboard page and never executes.

A real Vigil receives the payloads through the OTel SDK; Chromium then opens every page the nav lists
(so pages added later are covered too), plus the trace view with the poisoned span selected and the
error issue page when the dashboard has one. On each page: no payload ran (``window.__xss`` unset), no
element the payloads would create exists, no CSP violation or console error happened, and the payload's
text is visible where the page shows it.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode
from playwright.sync_api import Browser

from tests.dashboard.test_browser_pages import Watched, _open, browser  # noqa: F401 - the browser fixture
from tests.vigil_process import VigilProcess

MARK = "window.__xss=(window.__xss||0)+1"
PAYLOAD = (f'<img src=x id=xss-img onerror="{MARK}"><script>{MARK}</script>'
           f'"><svg id=xss-svg onload="{MARK}"></svg><a id=xss-a href="javascript:{MARK}">x</a>')
ELEMENTS = "#xss-img, #xss-svg, #xss-a, img[src='x']"


class PoisonError(Exception):
    """The exception type the payload rides on."""


@pytest.fixture(scope="module")
def poisoned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[VigilProcess, str, str]]:
    svc = f"xss-{uuid.uuid4().hex[:6]}"
    v = VigilProcess(tmp_path_factory.mktemp("xss") / "data", env={"VIGIL_ERROR_SCAN_INTERVAL_S": "1s"}).start()
    resource = Resource.create({"service.name": svc, "deployment.environment.name": PAYLOAD})
    tracing = TracerProvider(resource=resource)
    tracing.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{v.otlp_http}/v1/traces")))
    tracer = tracing.get_tracer("xss")
    with tracer.start_as_current_span(f"GET {PAYLOAD}", kind=SpanKind.SERVER, attributes={
            "http.request.method": "GET", "http.route": f"/p/{PAYLOAD}", "http.response.status_code": 500,
            "user.comment": PAYLOAD}) as span:
        with tracer.start_as_current_span("SELECT", kind=SpanKind.CLIENT, attributes={
                "db.system.name": "postgresql", "db.namespace": "shop",
                "db.query.text": f"SELECT * FROM t WHERE note = '{PAYLOAD}'"}):
            pass
        span.record_exception(PoisonError(PAYLOAD))
        span.set_status(Status(StatusCode.ERROR, PAYLOAD))
        trace_id = format(span.get_span_context().trace_id, "032x")
    tracing.shutdown()
    logs = LoggerProvider(resource=resource)
    logs.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(endpoint=f"{v.otlp_http}/v1/logs")))
    logger = logging.getLogger(f"xss.{svc}")
    logger.propagate = False
    logger.addHandler(LoggingHandler(logger_provider=logs))
    logger.error(PAYLOAD, extra={"note": PAYLOAD})
    logs.shutdown()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        traces = httpx.get(f"{v.api}/api/traces", params={"service": svc}, timeout=30).json()
        issues = httpx.get(f"{v.api}/api/metrics/errors", params={"service": svc}, timeout=30).json()
        if traces.get("traces") and str(issues).count("PoisonError"):
            break
        time.sleep(0.5)
    try:
        yield v, svc, trace_id
    finally:
        v.stop()


def _check(w: Watched, url: str, shot: Path, expect_text: bool) -> None:
    page = w.page
    page.goto(url)
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(300)
    page.screenshot(path=str(shot), full_page=True)
    assert page.evaluate("window.__xss") is None, f"a payload ran on {url}"
    assert page.locator(ELEMENTS).count() == 0, f"payload markup became elements on {url}"
    if expect_text:
        assert "<script>" in page.locator("#main").inner_text(), f"the payload is not shown as text on {url}"
    w.assert_clean()


def test_no_payload_executes_on_any_page(poisoned: tuple[VigilProcess, str, str], browser: Browser,  # noqa: F811
                                         tmp_path: Path) -> None:
    v, svc, trace_id = poisoned
    w = _open(browser)
    try:
        w.page.goto(f"{v.api}/#/")
        w.page.wait_for_load_state("networkidle")
        pages = w.page.eval_on_selector_all("#nav a[data-page]", "els => els.map(e => e.dataset.page)")
        assert "traces" in pages and "overview" in pages
        for name in pages:
            path = "" if name == "overview" else name
            _check(w, f"{v.api}/#/{path}?service={svc}", tmp_path / f"{name}.png", expect_text=False)
        _check(w, f"{v.api}/#/traces?service={svc}", tmp_path / "traces-search.png", expect_text=True)
        spans = httpx.get(f"{v.api}/api/traces/{trace_id}", timeout=30).json()["spans"]
        root = next(s for s in spans if s["name"].startswith("GET "))
        _check(w, f"{v.api}/#/traces/{trace_id}?span={root['span_id']}", tmp_path / "trace.png", expect_text=True)
        if "errors" in pages:
            issues = httpx.get(f"{v.api}/api/metrics/errors", params={"service": svc}, timeout=30).json()
            fp = next(i["fingerprint"] for i in issues["top_issues"] if "PoisonError" in str(i))
            _check(w, f"{v.api}/#/errors/{fp}", tmp_path / "error.png", expect_text=True)
        if "logs" in pages:
            _check(w, f"{v.api}/#/logs?service={svc}", tmp_path / "logs.png", expect_text=True)
    finally:
        w.page.context.close()
