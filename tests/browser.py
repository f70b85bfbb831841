"""Locating Debian's Chromium for the browser tests (driven by Playwright with ``executable_path``).

Playwright's own browser downloads are never used (this machine is offline for them).
"""

from __future__ import annotations

from tests.tools import require_tool


def chromium() -> str:
    """The path of Chromium; skips (or, with ``VIGIL_TEST_REQUIRE_CHROMIUM``, fails) without it."""
    return require_tool("chromium", "VIGIL_TEST_REQUIRE_CHROMIUM", "chromium")
