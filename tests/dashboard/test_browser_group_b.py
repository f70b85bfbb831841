"""The Services, Endpoints and Alerts pages in real headless Chromium against real Vigil servers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser, expect

from tests.alerts.test_alerting_e2e import wait_for
from tests.browser import save_screenshot
from tests.dashboard.test_browser_pages import Watched, _api, _number, _open, browser, watched  # noqa: F401
from tests.demo_fixture import DemoData
from tests.vigil_process import VigilProcess

ALWAYS = """
groups:
  - name: b-always
    interval: 1s
    rules:
      - alert: BAlways
        expr: vector(1)
        for: 0s
        labels: {severity: warning}
"""


def _shot(page: Any, tmp_path: Path, name: str) -> None:
    page.set_viewport_size({"width": 1280, "height": 800})
    save_screenshot(page, tmp_path, name, full_page=False)


def test_services_list_map_and_detail(demo: DemoData, watched: Watched, tmp_path: Path) -> None:
    page = watched.page
    page.goto(f"{demo.vigil.api}/#/services")
    services = _api(demo, "/api/services", range="1h")["services"]
    graph = _api(demo, "/api/service-map", range="1h")
    assert services and graph["nodes"]
    rows = page.locator("#services-table tbody tr")
    expect(rows).to_have_count(len(services))
    first = services[0]
    link = page.locator(f'a.b-svc-link[data-service="{first["name"]}"]')
    expect(link).to_be_visible()
    row = rows.filter(has=link)
    assert _number(row.locator(".b-requests").inner_text()) == first["request_count"]
    nodes = page.locator("#service-map g.b-node")
    expect(nodes).to_have_count(len(graph["nodes"]))
    svc_nodes = [n for n in graph["nodes"] if n["kind"] == "service"]
    expect(page.locator('#service-map g.b-node[data-kind="service"]')).to_have_count(len(svc_nodes))
    expect(page.locator("#service-map g.b-edge")).to_have_count(
        len([e for e in graph["edges"] if e["source"] != e["target"] or True]))
    _shot(page, tmp_path, "services")

    name = next((n["name"] for n in svc_nodes if any(e["source"] == n["id"] for e in graph["edges"])), first["name"])
    page.locator(f'a.b-svc-link[data-service="{name}"]').click()
    detail = _api(demo, f"/api/services/{name}", range="1h")
    expect(page.locator("#svc-requests")).to_have_text(f"{detail['red']['totals']['requests']:,}")
    expect(page.locator("#service-traces")).to_have_attribute("href", f"#/traces?service={name}")
    _shot(page, tmp_path, "service-detail")
    watched.assert_clean()


def test_endpoints_sort_series_and_slow_requests(demo: DemoData, watched: Watched, tmp_path: Path) -> None:
    page = watched.page
    page.goto(f"{demo.vigil.api}/#/endpoints")
    m = _api(demo, "/api/metrics/api", range="1h")
    expect(page.locator("#ep-requests")).to_have_text(f"{m['totals']['requests']:,}")
    expect(page.locator(".chart .uplot")).to_have_count(3)
    expect(page.locator("#ep-status li")).to_have_count(len(m["by_status"]))
    page.get_by_label("Sort by").select_option("p95")
    expect(page).to_have_url(f"{demo.vigil.api}/#/endpoints?sort=p95")
    top = _api(demo, "/api/metrics/api/top-endpoints", range="1h", sort="p95", limit=20)["endpoints"]
    rows = page.locator("#ep-top-table tbody tr")
    expect(rows).to_have_count(len(top))
    assert f"{top[0]['method']} {top[0]['route']}".strip() in rows.first.inner_text()
    slow = _api(demo, "/api/metrics/api/slow-requests", range="1h", limit=50)["requests"]
    links = page.locator("a.b-slow-trace")
    expect(links).to_have_count(len(slow))
    if slow:
        expect(links.first).to_have_attribute("href", f"#/traces/{slow[0]['trace_id']}")
    page.reload()
    expect(page.get_by_label("Sort by")).to_have_value("p95")
    _shot(page, tmp_path, "endpoints")
    watched.assert_clean()


def test_narrow_layout(demo: DemoData, browser: Browser) -> None:  # noqa: F811
    w = _open(browser, 390, 844)
    try:
        for route, ready in (("services", "#service-map svg"), ("endpoints", "#ep-requests")):
            w.page.goto(f"{demo.vigil.api}/#/{route}")
            expect(w.page.locator(ready)).to_be_visible()
            assert w.page.evaluate("document.documentElement.scrollWidth") <= 391, route
        w.assert_clean()
    finally:
        w.page.context.close()


def test_alerts_acknowledge_silence_and_expire(browser: Browser, tmp_path: Path) -> None:  # noqa: F811
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "always.yml").write_text(ALWAYS)
    vigil = VigilProcess(tmp_path / "vigil", env={"VIGIL_RULES": str(rules), "VIGIL_HOST_METRICS": "false"}).start()
    w = _open(browser)
    page = w.page
    try:
        def get(path: str) -> Any:
            return httpx.get(f"{vigil.api}{path}", timeout=10).json()

        alert = wait_for(lambda: next((a for a in get("/api/alerts")["alerts"]
                                    if a["alertname"] == "BAlways" and a["state"] == "firing"), None))
        page.goto(f"{vigil.api}/#/alerts")
        expect(page.locator("#alerts-live")).to_have_text("Live: live")
        button = page.locator(f'button.b-ack[data-fingerprint="{alert["fingerprint"]}"]')
        expect(button).to_be_visible()
        expect(page.locator("#rules")).to_contain_text("BAlways")
        button.click()
        expect(page.locator(f'.b-acked[data-fingerprint="{alert["fingerprint"]}"]')).to_be_visible()
        acked = next(a for a in get("/api/alerts")["alerts"] if a["fingerprint"] == alert["fingerprint"])
        assert acked["ack"] is not None

        page.locator(".sm-value").first.fill("BAlways")
        page.get_by_label("Comment").fill("browser test")
        page.get_by_role("button", name="Create silence").click()
        expect(page.locator("#silence-rows tr")).to_have_count(1)
        silences = get("/api/silences")
        assert len(silences) == 1 and silences[0]["comment"] == "browser test"
        assert silences[0]["matchers"][0] == {"name": "alertname", "value": "BAlways", "isRegex": False,
                                              "isEqual": True}
        assert silences[0]["status"]["state"] == "active"
        expect(page.locator("#alerts-history tbody tr").first).to_be_visible()
        _shot(page, tmp_path, "alerts")
        page.locator(f'button.b-expire[data-silence-id="{silences[0]["id"]}"]').click()
        expect(page.locator(f'button.b-expire[data-silence-id="{silences[0]["id"]}"]')).to_have_count(0)
        assert get("/api/silences")[0]["status"]["state"] == "expired"
        w.assert_clean()
        # a refused action shows the API's error text (Chromium logs the 400 itself; nothing else may fail)
        page.locator(".sm-value").first.fill("")
        page.get_by_role("button", name="Create silence").click()
        expect(page.locator("#alerts-error")).to_contain_text("matcher")
        assert all("status of 400" in p for p in w.problems), w.problems
        assert page.evaluate("window.__cspViolations") == []
    finally:
        page.context.close()
        vigil.stop()
