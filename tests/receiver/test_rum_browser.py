"""Browser RUM end to end in real headless Chromium (Playwright, sync API).

A page on its own origin (a small static HTTP server) loads Vigil's ``/rum.js`` with the README's
one-line snippet; the browser renders it, shifts its layout, gets a slow click (INP) and an uncaught
error, then navigates away so the page-hide beacon goes to ``POST /v1/rum`` across origins (Vigil's
``cors_allowed_origins`` lists the page's origin). The vitals must then show up in
``/api/metrics/frontend`` and ``/pages`` with Vigil's ratings by :mod:`contracts.webvitals`' thresholds,
the error in the frontend figures and in error tracking, and the dashboard's ``#/frontend`` page must
show the page and the same p75 values without console errors or CSP violations.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import sync_playwright

from contracts.webvitals import THRESHOLDS, rating
from tests.browser import chromium, save_screenshot
from tests.dashboard.test_browser_pages import CSP_PROBE, Watched
from tests.vigil_process import VigilProcess, free_port, start_server

ROOT = Path(__file__).resolve().parents[2]
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN_ID = "00f067aa0ba902b7"
ERROR_MESSAGE = "rum-browser-test boom"
REQUIRED = {"LCP", "CLS", "FCP", "TTFB"}  # and INP when the browser reports the click
TIMEOUT_MS = 20_000

# The test page: a large text block (LCP), a banner inserted above the content after load (a layout
# shift), a button whose handler blocks the main thread for 300 ms (INP) and then throws (a JS error).
PAGE_JS = """
setTimeout(function () {
  var banner = document.createElement("div");
  banner.id = "banner";
  banner.style.height = "240px";
  banner.style.background = "#fde68a";
  banner.textContent = "Late banner";
  document.body.insertBefore(banner, document.body.firstChild);
}, 400);
document.getElementById("buy").addEventListener("click", function () {
  var until = performance.now() + 300;
  while (performance.now() < until) { /* a slow handler */ }
  document.getElementById("result").textContent = "Added to cart";
  setTimeout(function () {
    document.body.dataset.thrown = "yes";
    throw new TypeError("%s");
  }, 0);
});
""".replace("%s", ERROR_MESSAGE)


def _snippet(http_base: str) -> str:
    """The README's one-line snippet, pointed at this Vigil's OTLP/HTTP port."""
    readme = (ROOT / "README.md").read_text()
    lines = [ln.strip() for ln in readme.splitlines() if "/rum.js" in ln and ln.strip().startswith("<script")]
    assert lines, "README has no /rum.js snippet"
    return lines[0].replace("http://<vigil>:4318", http_base)


def _product_html(snippet: str) -> str:
    text = " ".join(["Handmade ceramic mug, glazed in deep blue, holds 350 ml."] * 12)
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Product</title>"
            f"{snippet}</head><body><h1>Ceramic mug</h1><p id=\"hero\" style=\"font-size:20px;max-width:60rem\">"
            f"{text}</p><button id=\"buy\" type=\"button\">Add to cart</button><p id=\"result\"></p>"
            "<script src=\"/page.js\"></script></body></html>")


AWAY_HTML = "<!doctype html><html><head><meta charset=\"utf-8\"><title>Away</title></head><body>Away</body></html>"


class _Site(BaseHTTPRequestHandler):
    pages: dict[str, tuple[str, bytes]] = {}

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        path = self.path.split("?")[0]
        if path not in self.pages:
            self.send_error(404)
            return
        media, body = self.pages[path]
        self.send_response(200)
        self.send_header("Content-Type", media)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        if media.startswith("text/html"):
            self.send_header("Server-Timing", f'traceparent;desc="00-{TRACE_ID}-{SPAN_ID}-01"')
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def site() -> Iterator[tuple[ThreadingHTTPServer, str]]:
    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), _Site)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, f"http://127.0.0.1:{port}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def vigil(site: tuple[ThreadingHTTPServer, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[VigilProcess]:
    _, origin = site
    proc = start_server(tmp_path_factory.mktemp("rum-vigil"),
                        {"VIGIL_CORS_ALLOWED_ORIGINS": origin, "VIGIL_HOST_METRICS": "false"})
    _Site.pages = {
        "/product.html": ("text/html; charset=utf-8", _product_html(_snippet(proc.otlp_http)).encode()),
        "/page.js": ("application/javascript", PAGE_JS.encode()),
        "/away.html": ("text/html; charset=utf-8", AWAY_HTML.encode()),
    }
    yield proc
    proc.stop()


def _poll(fetch: Callable[[], Any], ready: Callable[[Any], bool], what: str, timeout: float = 45.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = fetch()
        if ready(last):
            return last
        time.sleep(0.5)
    raise AssertionError(f"{what} did not arrive: {str(last)[:2000]}")


def _get(vigil: VigilProcess, path: str, **params: Any) -> Any:
    resp = httpx.get(f"{vigil.api}{path}", params={"range": "1h", **params}, timeout=30)
    resp.raise_for_status()
    return resp.json()


def _ms(v: float) -> str:
    """dashboard/static/js/format.js ms()."""
    if v == 0:
        return "0 ms"
    if v < 1:
        return f"{round(v * 1000)} µs"
    if v < 100:
        return f"{v:.1f} ms"
    if v < 1000:
        return f"{round(v)} ms"
    if v < 60000:
        return f"{v / 1000:.2f} s"
    return f"{int(v // 60000)}m {round((v % 60000) / 1000)}s"


def _vital_text(name: str, value: float) -> str:
    return f"{value:.3f}" if name == "CLS" else _ms(value)


def test_browser_vitals_reach_the_api_and_the_dashboard(site: tuple[ThreadingHTTPServer, str], vigil: VigilProcess,
                                                        tmp_path: Path) -> None:
    _, origin = site
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        try:
            _visit_the_shop(browser, origin)
            metrics, pages = _check_the_api(vigil, origin)
            _check_the_dashboard(browser, vigil, metrics, pages, tmp_path)
        finally:
            browser.close()


def _visit_the_shop(browser: Any, origin: str) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    beacons: list[int] = []
    page.on("response", lambda r: beacons.append(r.status) if r.url.endswith("/v1/rum") else None)
    page.goto(f"{origin}/product.html")
    page.wait_for_function("() => !!window.webVitals && document.readyState === 'complete'")
    page.wait_for_selector("#banner")
    page.wait_for_timeout(300)  # the shift is recorded; LCP candidates settle
    page.click("#buy")
    page.wait_for_selector("#result:has-text('Added to cart')")
    page.wait_for_function("() => document.body.dataset.thrown === 'yes'")
    page.wait_for_timeout(200)
    page.goto(f"{origin}/away.html")  # page hide: the collector flushes its queue with sendBeacon
    page.wait_for_timeout(500)
    context.close()


def _check_the_api(vigil: VigilProcess, origin: str) -> tuple[dict[str, Any], dict[str, Any]]:
    metrics = _poll(lambda: _get(vigil, "/api/metrics/frontend"),
                    lambda m: {v["name"] for v in m["vitals"] if v["samples"]} >= REQUIRED and m["js_errors"] >= 1,
                    "the vitals and the JS error")
    assert metrics["page_loads"] == 1
    reported = [v for v in metrics["vitals"] if v["samples"]]
    for v in reported:
        assert v["samples"] == 1, v
        good_max, poor_above = THRESHOLDS[v["name"]]
        assert (v["good_max"], v["poor_above"]) == (good_max, poor_above)
        expected = rating(v["name"], v["p75"])
        assert v["rating"] == expected, v
        split = {"good": v["good"], "needs-improvement": v["needs_improvement"], "poor": v["poor"]}
        assert split == {r: int(r == expected) for r in split}, v
    by_name = {v["name"]: v for v in reported}
    if "INP" in by_name:  # headless Chromium does not always report the click as an interaction
        assert by_name["INP"]["p75"] >= 250, "the 300 ms click handler is the interaction"
    assert by_name["CLS"]["p75"] > 0, "the late banner shifted the layout"
    assert [s["key"] for s in metrics["by_device"]] == ["desktop"]
    assert len(metrics["by_connection"]) == 1 and metrics["by_connection"][0]["page_loads"] == 1

    # every stored vital event carries the rating of its own value
    logs = _get(vigil, "/api/logs", service="shop-web", limit=500)["logs"]
    vital_logs = [r for r in logs if "web_vital.name" in r["attributes"]]
    assert {r["attributes"]["web_vital.name"] for r in vital_logs} == set(by_name)
    for r in vital_logs:
        a = r["attributes"]
        assert a["web_vital.rating"] == rating(a["web_vital.name"], float(a["web_vital.value"])), a
        assert a["url.full"] == f"{origin}/product.html" and a["page.route"] == "/product.html", a
        assert r["trace_id"].lower() == TRACE_ID and r["resource_attributes"]["deployment.environment.name"] == "prod"

    pages = _get(vigil, "/api/metrics/frontend/pages")
    assert [pg["route"] for pg in pages["pages"]] == ["/product.html"]
    page = pages["pages"][0]
    assert page["page_loads"] == 1 and page["js_errors"] >= 1
    assert page["slowest"]["url"] == f"{origin}/product.html"
    assert page["slowest"]["trace_id"] == TRACE_ID  # from the document's Server-Timing traceparent
    for v in page["vitals"]:
        assert v["p75"] == by_name[v["name"]]["p75"] and v["rating"] == rating(v["name"], v["p75"])

    # the uncaught error: in the frontend figures, the error logs and error tracking
    errors = [r for r in logs if r["attributes"].get("exception.message", "").endswith(ERROR_MESSAGE)]
    assert len(errors) == 1 and errors[0]["attributes"]["exception.type"] == "TypeError", errors
    assert errors[0]["attributes"]["browser.error.kind"] == "error" and errors[0]["severity_text"] == "ERROR"
    tracked = _poll(lambda: _get(vigil, "/api/metrics/errors"),
                    lambda e: any(ERROR_MESSAGE in i["message"] for i in e["top_issues"]), "the error issue")
    issue = next(i for i in tracked["top_issues"] if ERROR_MESSAGE in i["message"])
    assert issue["type"] == "TypeError" and issue["services"] == ["shop-web"] and issue["count"] == 1
    return metrics, pages


def _check_the_dashboard(browser: Any, vigil: VigilProcess, metrics: dict[str, Any], pages: dict[str, Any],
                         tmp_path: Path) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.add_init_script(CSP_PROBE)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    watch = Watched(page)
    page.goto(f"{vigil.api}/#/frontend")
    try:
        page.wait_for_selector("#frontend [data-vital='LCP'] .c-p75")
    except Exception:
        raise AssertionError(f"{page.locator('#view').inner_text()[:1500]} {watch.problems}") from None
    assert page.locator("h1").first.text_content() == "Frontend"
    assert page.locator("nav a[data-page='frontend']").get_attribute("aria-current") == "page"
    for v in metrics["vitals"]:
        if not v["samples"]:
            assert page.locator(f"#frontend section[data-vital='{v['name']}'] .c-p75").text_content() == "–"
            continue
        p75 = page.locator(f"#frontend section[data-vital='{v['name']}'] .c-p75")
        assert float(p75.get_attribute("data-value") or "nan") == pytest.approx(v["p75"]), v["name"]
        assert p75.text_content() == _vital_text(v["name"], v["p75"]), v["name"]
        bar = page.locator(f"#frontend section[data-vital='{v['name']}'] .c-bar")
        label = bar.get_attribute("aria-label") or ""
        assert bar.get_attribute("role") == "img" and v["rating"].replace("-", " ") in label
        assert bar.locator(f".c-seg[data-rating='{v['rating']}']").count() == 1
    assert page.locator("#c-kpi-loads").text_content() == str(metrics["page_loads"])
    assert page.locator("#c-kpi-errors").text_content() == str(metrics["js_errors"])

    row = page.locator("#frontend table tr", has=page.locator("code.c-route[data-route='/product.html']"))
    assert row.count() == 1
    for v in pages["pages"][0]["vitals"]:
        cell = row.locator(f".c-cell[data-vital='{v['name']}']")
        assert float(cell.get_attribute("data-value") or "nan") == pytest.approx(v["p75"])
        assert (cell.text_content() or "").startswith(_vital_text(v["name"], v["p75"]))
    trace_link = row.locator("a.c-trace-link")
    assert trace_link.get_attribute("href") == f"#/traces/{TRACE_ID}"
    assert page.locator("#frontend [data-segment='desktop']").count() == 1
    page.wait_for_timeout(300)  # charts drawn
    watch.assert_clean()

    save_screenshot(page, tmp_path, "frontend", full_page=False)

    # the sort control keeps its state in the URL
    page.select_option("#c-sort", "inp")
    page.wait_for_url(re.compile(r".*#/frontend\?sort=inp$"))
    page.wait_for_selector("#frontend code.c-route[data-route='/product.html']")
    assert page.locator("a.c-trace-link").first.get_attribute("href") == f"#/traces/{TRACE_ID}"
    watch.assert_clean()

    # at phone width nothing overflows the page horizontally
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{vigil.api}/#/frontend")
    page.wait_for_selector("#frontend [data-vital='CLS'] .c-p75")
    page.wait_for_timeout(300)
    wide = page.evaluate("[...document.querySelectorAll('body *')].filter((e) => e.scrollWidth > e.clientWidth + 1 "
                         "&& !e.classList.contains('table-wrap')).slice(0, 8).map((e) => e.tagName + '.' + e.className "
                         "+ ' ' + e.scrollWidth + '/' + e.clientWidth)")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, wide
    watch.assert_clean()
    context.close()


def test_empty_window_shows_how_to_add_the_snippet(vigil: VigilProcess) -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            context.add_init_script(CSP_PROBE)
            page = context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            watch = Watched(page)
            page.goto(f"{vigil.api}/#/frontend?service=no-such-site")
            page.wait_for_selector("#frontend pre.c-snippet")
            assert "/rum.js" in (page.locator("#frontend pre.c-snippet").text_content() or "")
            watch.assert_clean()
        finally:
            browser.close()
