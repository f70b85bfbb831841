"""Debian's Chromium for the browser tests (driven by Playwright with ``executable_path``), and their screenshots.

Playwright's own browser downloads are never used (this machine is offline for them).
"""

from __future__ import annotations

import os
from pathlib import Path

from playwright.sync_api import Page

from tests.tools import require_tool


def chromium() -> str:
    """The path of Chromium; skips (or, with ``VIGIL_TEST_REQUIRE_CHROMIUM``, fails) without it."""
    return require_tool("chromium", "VIGIL_TEST_REQUIRE_CHROMIUM", "chromium")


SHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
UPDATE_ENV = "VIGIL_UPDATE_SCREENSHOTS"


def save_screenshot(page: Page, tmp: Path, name: str, *, full_page: bool = True) -> Path:
    """Save ``page`` as ``tmp/<name>.png`` (the test's artifact; the whole page unless ``full_page`` is false).

    With ``VIGIL_UPDATE_SCREENSHOTS=1`` the 1280×800 viewport also goes to ``docs/screenshots/<name>.png``,
    which the README shows; otherwise the checkout is left alone.
    """
    path = tmp / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    if os.environ.get(UPDATE_ENV) == "1":
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"))
    return path
