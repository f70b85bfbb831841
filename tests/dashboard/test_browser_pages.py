"""The dashboard's pages in real headless Chromium (Playwright, sync API) against the demo shop's Vigil.

Each test fails on any console error, uncaught page error or Content-Security-Policy violation, and
saves a screenshot of what it checked under its pytest tmp dir (the overview, trace search and trace view
also to docs/screenshots/ with ``VIGIL_UPDATE_SCREENSHOTS=1``, which the README shows).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

from tests.browser import chromium, save_screenshot
from tests.demo_fixture import DemoData
from tests.vigil_process import VigilProcess

# recorded before any page script runs (init scripts are not subject to the page's CSP)
CSP_PROBE = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__cspViolations.push(e.violatedDirective + " " + e.blockedURI));
"""
TIMEOUT_MS = 20_000
expect.set_options(timeout=TIMEOUT_MS)  # assertions wait as long as actions (a loaded CI machine is slow)


class Watched:
    """A page and every problem it reported."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.problems: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.problems.append(f"pageerror: {exc}"))

    def _console(self, msg: ConsoleMessage) -> None:
        if msg.type == "error" or "Content Security Policy" in msg.text:
            self.problems.append(f"console.{msg.type}: {msg.text}")

    def assert_clean(self) -> None:
        violations = self.page.evaluate("window.__cspViolations || []")
        assert violations == [], f"CSP violations: {violations}"
        assert self.problems == [], self.problems


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = chromium()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield b
        b.close()


def _open(browser: Browser, width: int = 1280, height: int = 800) -> Watched:
    context = browser.new_context(viewport={"width": width, "height": height})
    context.add_init_script(CSP_PROBE)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    return Watched(page)


@pytest.fixture
def watched(browser: Browser) -> Iterator[Watched]:
    w = _open(browser)
    yield w
    w.page.context.close()


def _api(demo: DemoData, path: str, **params: Any) -> Any:
    resp = httpx.get(f"{demo.vigil.api}{path}", params=params, timeout=30)
    resp.raise_for_status()
    return resp.json()


def _number(text: str) -> int:
    return int(text.replace(",", "").strip())


def test_overview_shows_the_apis_figures_and_goes_live(demo: DemoData, watched: Watched, tmp_path: Path) -> None:
    page = watched.page
    page.goto(f"{demo.vigil.api}/#/?range=1h")
    expect(page.locator("#kpi-requests")).to_be_visible()
    doc = _api(demo, "/api/dashboard", range="1h")
    assert doc["api"]["totals"]["requests"] > 0
    assert _number(page.locator("#kpi-requests").inner_text()) == doc["api"]["totals"]["requests"]
    assert _number(page.locator("#db-executions").inner_text()) == doc["database"]["totals"]["executions"]
    assert _number(page.locator("#errors-occurrences").inner_text()) == doc["errors"]["occurrences"]
    assert page.locator("#health-status").inner_text() == doc["health"]["status"]
    services = page.locator("#card-services ~ .table-wrap tbody tr")
    expect(services).to_have_count(len(doc["services"]))
    for s in doc["services"]:
        expect(page.locator("#overview").get_by_role("link", name=s["service"], exact=True)).to_be_visible()
    expect(page.locator(".chart .uplot")).to_have_count(3)  # request rate, error rate, latency
    expect(page.locator("#empty")).to_be_hidden()
    expect(page.locator('#nav a[aria-current="page"]')).to_have_text("Overview")
    # the /ws feed: connected, then a dashboard-data snapshot arrives (published every 5 s)
    expect(page.locator("#live-badge")).to_have_text("Live: live")
    expect(page.locator("#live-requests")).to_be_visible()
    save_screenshot(page, tmp_path, "overview")
    watched.assert_clean()


def test_time_range_theme_and_narrow_layout(demo: DemoData, browser: Browser, tmp_path: Path) -> None:
    w = _open(browser, 390, 844)
    page = w.page
    try:
        page.goto(f"{demo.vigil.api}/#/")
        expect(page.locator("#kpi-requests")).to_be_visible()
        page.select_option("#range", "15m")
        expect(page).to_have_url(f"{demo.vigil.api}/#/?range=15m")
        page.select_option("#refresh", "10s")
        assert "refresh=10s" in page.url
        nav = page.locator("#nav")
        expect(nav).to_be_hidden()  # collapsed at 390 px
        page.get_by_role("button", name="Menu").click()
        expect(nav).to_be_visible()
        expect(page.locator("#nav-toggle")).to_have_attribute("aria-expanded", "true")
        nav.get_by_role("link", name="Traces").click()
        expect(page).to_have_url(f"{demo.vigil.api}/#/traces?range=15m&refresh=10s")
        expect(nav).to_be_hidden()
        before = page.evaluate("document.documentElement.dataset.theme")
        page.locator("#theme-toggle").click()
        after = page.evaluate("document.documentElement.dataset.theme")
        assert {before, after} == {"light", "dark"}
        page.reload()
        assert page.evaluate("document.documentElement.dataset.theme") == after  # kept in localStorage
        expect(page.locator("#range")).to_have_value("15m")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1  # no sideways scrolling
        expect(page.locator("#trace-results")).not_to_have_text("Searching…")
        page.screenshot(path=str(tmp_path / "traces-390.png"), full_page=True)
        w.assert_clean()
    finally:
        page.context.close()


def test_trace_search_waterfall_and_span_details(demo: DemoData, watched: Watched, tmp_path: Path) -> None:
    page = watched.page
    page.goto(f"{demo.vigil.api}/#/traces")
    page.get_by_label("Service").fill("checkout")  # focusing the field fetches its suggestions
    services = sorted(s["name"] for s in _api(demo, "/api/services", range="1h")["services"])
    expect(page.locator("#tq-services option")).to_have_count(len(services))
    assert sorted(page.locator("#tq-services option").evaluate_all("os => os.map(o => o.value)")) == services
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(f"{demo.vigil.api}/#/traces?service=checkout")
    rows = page.locator("#trace-results tbody tr")
    expected = _api(demo, "/api/traces", service="checkout", range="1h")["traces"]
    assert expected
    expect(rows).to_have_count(len(expected))
    for i in range(rows.count()):
        assert "checkout" in rows.nth(i).locator("td").nth(5).inner_text()
    save_screenshot(page, tmp_path, "traces")

    first = expected[0]
    page.locator(f'a.trace-link[data-trace-id="{first["trace_id"]}"]').click()
    expect(page).to_have_url(f"{demo.vigil.api}/#/traces/{first['trace_id']}")
    bars = page.locator("#waterfall button.span-row")
    expect(bars).to_have_count(first["span_count"])
    assert first["span_count"] >= 2
    spans = _api(demo, f"/api/traces/{first['trace_id']}")["spans"]
    child = next(s for s in spans if s["parent_span_id"] and s["attributes"])
    page.locator(f'#waterfall button[data-span-id="{child["span_id"]}"]').click()
    expect(page).to_have_url(f"{demo.vigil.api}/#/traces/{first['trace_id']}?span={child['span_id']}")
    details = page.locator("#span-details")
    expect(details.locator("h2")).to_contain_text(child["name"])
    key, value = sorted(child["attributes"].items())[0]
    row = details.locator("#span-attributes tr").filter(has=page.locator("th", has_text=key)).first
    expect(row.locator("td")).to_have_text(value)
    # bars sit where their spans start: the child's bar is not left of the trace's start
    boxes = [page.locator("#waterfall .bar").nth(i).bounding_box() for i in range(2)]
    assert boxes[0] and boxes[1] and boxes[1]["x"] >= boxes[0]["x"] - 0.5
    save_screenshot(page, tmp_path, "trace")
    watched.assert_clean()


def test_error_trace_shows_the_exception_and_its_logs(demo: DemoData, watched: Watched, tmp_path: Path) -> None:
    page = watched.page
    found = _api(demo, "/api/traces", service="payments", status="error", range="1h", limit=1)["traces"]
    assert found, "the demo declines payments, so an error trace exists"
    trace_id = found[0]["trace_id"]
    spans = _api(demo, f"/api/traces/{trace_id}")["spans"]
    failing = next(s for s in spans if any(e["name"] == "exception" for e in s["events"]))
    page.goto(f"{demo.vigil.api}/#/traces/{trace_id}?span={failing['span_id']}")
    expect(page.locator("#waterfall button.span-row.is-error").first).to_be_visible()
    expect(page.locator(f'#waterfall button[data-span-id="{failing["span_id"]}"]')).to_have_attribute(
        "aria-pressed", "true")
    expect(page.locator("#span-details .stack").first).to_contain_text("Traceback")
    logs = _api(demo, "/api/logs", trace_id=trace_id, range="1h")["logs"]
    assert logs
    expect(page.locator("#trace-logs tbody tr")).to_have_count(len(logs))
    page.screenshot(path=str(tmp_path / "error-trace.png"), full_page=True)
    watched.assert_clean()


def test_empty_store_says_how_to_send_data(browser: Browser, tmp_path: Path) -> None:
    vigil = VigilProcess(tmp_path / "empty-vigil").start()
    w = _open(browser)
    try:
        health = httpx.get(f"{vigil.api}/api/health", timeout=10).json()
        w.page.goto(f"{vigil.api}/#/")
        hint = w.page.locator("#empty")
        expect(hint).to_be_visible()
        expect(hint.locator("pre code")).to_have_text(
            f"export OTEL_EXPORTER_OTLP_ENDPOINT={health['components']['otlp']['http_endpoint']}")
        expect(w.page.locator("#kpi-requests")).to_have_text("0")
        w.page.screenshot(path=str(tmp_path / "empty.png"), full_page=True)
        w.assert_clean()
    finally:
        w.page.context.close()
        vigil.stop()
