"""The Logs, Errors, Database and System dashboard pages in real headless Chromium against the demo's Vigil.

Reuses the helpers of test_browser_pages (console/page-error/CSP watching, the browser fixture). Each test
compares what the page shows with the API's JSON and saves a screenshot to its tmp dir (and, with
VIGIL_UPDATE_SCREENSHOTS=1, the 1280×800 viewport to docs/screenshots/<page>.png).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser, expect

from tests.browser import save_screenshot
from tests.dashboard.test_browser_pages import Watched, _api, _number, _open, browser, watched  # noqa: F401
from tests.demo_fixture import DemoData


def _shoot(w: Watched, tmp_path: Path, name: str) -> None:
    save_screenshot(w.page, tmp_path, name)


def test_logs_search_volume_attributes_and_live_tail(demo: DemoData, watched: Watched, tmp_path: Path) -> None:
    page = watched.page
    page.goto(f"{demo.vigil.api}/#/logs")
    expect(page.locator("#logs-count")).to_be_visible()
    expected = _api(demo, "/api/logs", range="1h")["logs"]
    assert expected
    rows = page.locator("#logs-results tr.a-log-row")
    expect(rows).to_have_count(len(expected))
    expect(rows.first.locator("td.log-body")).to_have_text(expected[0]["body"])
    volume = _api(demo, "/api/logs/volume", range="1h")
    expect(page.locator("#logs-volume .uplot")).to_have_count(1)
    expect(page.locator("#logs-volume-title")).to_contain_text(f"{volume['total']:,} records")

    # a q search finds a known body
    known = next(r for r in expected if r["body"].startswith("payment failed for order"))
    needle = known["body"].split(":")[0]  # "payment failed for order <n>"
    page.get_by_label("Search text").fill(needle)
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page).to_have_url(re.compile(r"#/logs\?q=payment"))
    found = _api(demo, "/api/logs", q=needle, range="1h")["logs"]
    assert any(r["body"] == known["body"] for r in found)
    expect(rows).to_have_count(len(found))
    expect(page.locator("#logs-results td.log-body", has_text=known["body"]).first).to_be_visible()
    link = rows.first.locator("a.a-trace")
    expect(link).to_have_attribute("href", f"#/traces/{found[0]['trace_id']}")

    # expanding a row shows its attributes
    toggle = rows.first.get_by_role("button", name="Show attributes")
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    key, value = sorted(found[0]["attributes"].items())[0]
    attrs = page.locator("#logs-results tr.a-log-attrs").first
    expect(attrs).to_be_visible()
    expect(attrs.locator("tr").filter(has=page.locator("th", has_text=key)).first.locator("td")).to_have_text(value)

    # live tail polls (no new records after the demo, so nothing is lost) and stops again
    tail = page.locator("#logs-tail")
    tail.click()
    expect(tail).to_have_attribute("aria-pressed", "true")
    page.wait_for_timeout(2500)
    expect(rows).to_have_count(len(found))
    _shoot(watched, tmp_path, "logs")
    tail.click()
    expect(tail).to_have_attribute("aria-pressed", "false")
    watched.assert_clean()


def _latest_stacktrace(demo: DemoData, occurrences: list[dict[str, Any]]) -> str:
    """What the issue page shows as the full traceback (see a_error_issue.js): '' when none qualifies."""
    for o in [o for o in occurrences if o.get("trace_id") and o.get("source") == "span"][:3]:
        spans = _api(demo, f"/api/traces/{o['trace_id']}")["spans"]
        span = next((x for x in spans if x["span_id"] == o.get("span_id")), None)
        for e in (span or {}).get("events", []):
            if e["name"] == "exception" and e.get("attributes", {}).get("exception.stacktrace"):
                return str(e["attributes"]["exception.stacktrace"])
    return ""


def test_errors_list_issue_and_resolve(demo: DemoData, watched: Watched, tmp_path: Path) -> None:
    page = watched.page
    page.goto(f"{demo.vigil.api}/#/errors")
    metrics = _api(demo, "/api/metrics/errors", range="1h", limit=100)
    assert metrics["top_issues"]
    expect(page.locator("#err-occurrences")).to_have_text(f"{metrics['occurrences']:,}")
    rows = page.locator("table.a-issues tbody tr")
    expect(rows).to_have_count(len(metrics["top_issues"]))
    issue = next(i for i in metrics["top_issues"] if i["type"].endswith("PaymentGatewayError"))
    fp = issue["fingerprint"]
    row = rows.filter(has=page.locator(f'a[data-fingerprint="{fp}"]'))
    expect(row.locator(".a-count")).to_have_text(f"{issue['count']:,}")
    expect(row.locator("svg.a-spark")).to_have_count(1)
    expect(row.locator(".a-first time")).to_have_count(1)
    page.select_option("#err-status", "resolved")
    expect(page).to_have_url(re.compile(r"status=resolved"))
    expect(page.locator("table.a-issues")).to_have_count(0)
    page.select_option("#err-status", "")
    expect(rows).to_have_count(len(metrics["top_issues"]))
    _shoot(watched, tmp_path, "errors")

    row.locator(f'a[data-fingerprint="{fp}"]').click()
    expect(page).to_have_url(f"{demo.vigil.api}/#/errors/{fp}")
    detail = _api(demo, f"/api/errors/{fp}")
    expect(page.locator("#issue-status")).to_have_text("open")
    expect(page.locator("#issue-count")).to_have_text(f"{detail['issue']['count']:,}")
    expect(page.locator("#issue-stack")).to_contain_text(detail["issue"]["frames"][0])
    stack = _latest_stacktrace(demo, detail["occurrences"])
    if stack:  # the page shows the traceback of the newest of three span occurrences that has one
        expect(page.locator("#issue-stacktrace")).to_contain_text(stack.strip().splitlines()[0].strip())
        expect(page.locator("#issue-stacktrace")).to_contain_text(stack.strip().splitlines()[-1].strip())
    else:  # other tests may add occurrences without a stack trace to the demo's store
        expect(page.locator("#issue-stacktrace")).to_have_count(0)
    occ = page.locator("#issue-occurrences tbody tr")
    expect(occ).to_have_count(len(detail["occurrences"]))
    expect(occ.first.locator("a.a-trace")).to_have_attribute("data-trace-id", detail["occurrences"][0]["trace_id"])
    _shoot(watched, tmp_path, "error-issue")
    try:
        page.get_by_role("button", name="Resolve").click()
        expect(page.locator("#issue-status")).to_have_text("resolved")
        expect(page.locator("#issue-action-ok")).to_be_visible()
        assert _api(demo, f"/api/errors/{fp}")["issue"]["status"] == "resolved"
        expect(page.get_by_role("button", name="Reopen")).to_be_visible()
    finally:
        resp = httpx.patch(f"{demo.vigil.api}/api/errors/{fp}", json={"status": "open"}, timeout=30)
        resp.raise_for_status()
    assert _api(demo, f"/api/errors/{fp}")["issue"]["status"] == "open"
    watched.assert_clean()


def test_database_page(demo: DemoData, watched: Watched, tmp_path: Path) -> None:
    page = watched.page
    page.goto(f"{demo.vigil.api}/#/database")
    expect(page.locator("#dbp-executions")).to_be_visible()
    ov = _api(demo, "/api/metrics/database", range="1h")
    assert ov["totals"]["executions"] > 0
    assert _number(page.locator("#dbp-executions").inner_text()) == ov["totals"]["executions"]
    expect(page.locator("section.a-db")).to_have_count(len(ov["databases"]))
    expect(page.locator("section.a-db .uplot")).to_have_count(3 * len(ov["databases"]))
    slow = _api(demo, "/api/metrics/database/slow-queries", range="1h", limit=20)["queries"]
    assert slow
    srows = page.locator("#slow-queries tbody tr")
    expect(srows).to_have_count(len(slow))
    expect(srows.first.locator("pre.a-sql")).to_have_text(slow[0]["statement"])
    expect(srows.first.locator(".a-exec")).to_have_text(f"{slow[0]['executions']:,}")
    first_trace = slow[0]["example_trace_ids"][0]
    expect(srows.first.locator("a.a-trace").first).to_have_attribute("href", f"#/traces/{first_trace}")
    pools = _api(demo, "/api/metrics/database/connection-stats", range="1h")["pools"]
    assert pools
    prow = page.locator("#pools tbody tr")
    expect(prow).to_have_count(len(pools))
    expect(prow.first.locator("td").nth(1)).to_have_text(pools[0]["pool"])
    _shoot(watched, tmp_path, "database")
    watched.assert_clean()


def test_system_page(demo: DemoData, watched: Watched, tmp_path: Path) -> None:
    page = watched.page
    page.goto(f"{demo.vigil.api}/#/system")
    data = _api(demo, "/api/metrics/system", range="1h")
    assert data["hosts"]
    host = data["hosts"][0]
    card = page.locator(f'section.a-host[data-host="{host["host"]}"]')
    expect(card).to_be_visible()
    expect(card.locator("h2")).to_have_text(host["host"])
    if host["cpu_count"]:
        expect(card).to_contain_text(f"{host['cpu_count']} CPUs")
    expect(card.locator(".uplot")).to_have_count(5 if host["disk_io"] else 4)
    # host metrics keep arriving every second: the page's current values must agree with its own states
    for key in ("cpu", "memory", "disk"):
        gauge = card.locator(f'.a-gauge[data-metric="{key}"]')
        text = gauge.locator(".a-gauge-value").inner_text()
        state = gauge.get_attribute("data-state")
        value = float(text.rstrip("%"))
        u = host[key]
        want = "critical" if value >= u["critical_percent"] else "warning" if value >= u["warning_percent"] else "ok"
        assert state == want, (key, text, state)
        expect(gauge).to_have_class(re.compile(f"a-state-{state}"))
    _shoot(watched, tmp_path, "system")
    watched.assert_clean()


def test_group_a_pages_at_390px_and_empty_state(demo: DemoData, browser: Browser, tmp_path: Path) -> None:  # noqa: F811
    w = _open(browser, 390, 844)
    page = w.page
    try:
        for name, ready in [("logs", "#logs-count"), ("errors", "table.a-issues"), ("database", "#dbp-executions"),
                            ("system", "section.a-host")]:
            page.goto(f"{demo.vigil.api}/#/{name}")
            expect(page.locator(ready).first).to_be_visible()
            assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1, name
            page.screenshot(path=str(tmp_path / f"{name}-390.png"), full_page=True)
        # a search matching nothing shows the empty state
        page.goto(f"{demo.vigil.api}/#/logs?q=no-such-log-body-anywhere-42")
        expect(page.locator("#logs-results .a-empty")).to_contain_text("No log records match")
        w.assert_clean()
    finally:
        page.context.close()
