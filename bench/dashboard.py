"""Dashboard page-load benchmark: real headless Chromium (Playwright) over every page the nav lists.

Per page (``#/<page>?range=1h``, a fresh browser context each run, ``--runs`` runs, median printed):

* ``fcp_ms`` — first contentful paint (the browser's ``first-contentful-paint`` entry);
* ``data_ms`` — when the page's last API answer arrived (the latest ``responseEnd`` of its ``/api/``
  requests; pages render synchronously on arrival), i.e. time to data shown;
* ``api_ms`` — same-run baseline: the same API URLs fetched directly with one HTTP client, sequentially
  (what the server costs without the browser).

Data: ``--api URL`` of a running Vigil (e.g. one serving ``bench/query.py --keep``'s 10 M-span store),
else a fresh Vigil filled by the demo shop for ``--demo-seconds`` (``tests/demo_fixture.py``).
Goal: ``data_ms`` <= 1000 per page at ``range=1h`` on a 10 M-span store.
Run from the repository root: ``python bench/dashboard.py``. Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import httpx  # noqa: E402
from playwright.sync_api import Browser, sync_playwright  # noqa: E402

from tests.browser import chromium  # noqa: E402

TIMING = """() => {
  const fcp = performance.getEntriesByName("first-contentful-paint")[0];
  const api = performance.getEntriesByType("resource").filter((e) => new URL(e.name).pathname.startsWith("/api/"));
  return {fcp: fcp ? fcp.startTime : null, data: Math.max(0, ...api.map((e) => e.responseEnd)),
          urls: api.map((e) => e.name)};
}"""


@contextlib.contextmanager
def demo_vigil(seconds: float) -> Iterator[str]:
    """A fresh Vigil filled by the demo shop; yields its API URL."""
    from tests import demo_fixture

    demo_fixture.DEMO_SECONDS = seconds
    with tempfile.TemporaryDirectory(prefix="vigil-bench-dash-") as tmp:
        data, server, _db = demo_fixture.run_demo(Path(tmp), {"VIGIL_HOST_METRICS_INTERVAL_S": "1s"})
        try:
            yield data.vigil.api
        finally:
            data.vigil.stop()
            if server is not None:
                server.cleanup()


def measure(browser: Browser, api: str, page_name: str) -> dict[str, Any]:
    """One load of ``page_name``: FCP, data time and the API URLs it read."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        path = "" if page_name == "overview" else page_name
        page.goto(f"{api}/#/{path}?range=1h")
        page.wait_for_load_state("networkidle")
        t: dict[str, Any] = page.evaluate(TIMING)
        return t
    finally:
        context.close()


def api_baseline(urls: list[str]) -> float:
    """Milliseconds to fetch ``urls`` sequentially over one client."""
    with httpx.Client(timeout=60) as client:
        started = time.perf_counter()
        for u in urls:
            client.get(u).raise_for_status()
        return (time.perf_counter() - started) * 1000


def run(api: str, runs: int) -> dict[str, Any]:
    """Measure every nav page ``runs`` times."""
    out: dict[str, Any] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        first = browser.new_page()
        first.goto(f"{api}/#/")
        first.wait_for_load_state("networkidle")
        pages = first.eval_on_selector_all("#nav a[data-page]", "els => els.map(e => e.dataset.page)")
        first.close()
        for name in pages:
            samples = [measure(browser, api, name) for _ in range(runs)]
            urls = sorted({u for s in samples for u in s["urls"] if "/ws" not in u})
            out[name] = {"fcp_ms": round(statistics.median(s["fcp"] or 0 for s in samples), 1),
                         "data_ms": round(statistics.median(s["data"] for s in samples), 1),
                         "api_ms": round(statistics.median(api_baseline(urls) for _ in range(runs)), 1),
                         "api_calls": len(urls)}
        browser.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--api", default="", help="a running Vigil's API URL (default: start one with the demo)")
    ap.add_argument("--demo-seconds", type=float, default=30.0)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    with contextlib.ExitStack() as stack:
        api = args.api or stack.enter_context(demo_vigil(args.demo_seconds))
        result = run(api, args.runs)
    print(f"{'page':<12}{'fcp_ms':>10}{'data_ms':>10}{'api_ms':>10}{'calls':>7}")
    for name, r in result.items():
        print(f"{name:<12}{r['fcp_ms']:>10}{r['data_ms']:>10}{r['api_ms']:>10}{r['api_calls']:>7}")
    print(json.dumps({"benchmark": "dashboard", "goal_data_ms": 1000, "pages": result}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
