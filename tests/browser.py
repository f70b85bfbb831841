"""Locating Debian's Chromium for the browser tests (driven by Playwright with ``executable_path``).

Without it a test skips, unless ``VIGIL_TEST_REQUIRE_CHROMIUM`` is set (as ``.ci/run`` does): then it fails.
Playwright's own browser downloads are never used (this machine is offline for them).
"""

from __future__ import annotations

import os
import shutil

import pytest


def chromium() -> str:
    """The path of Chromium; skips (or fails, when required) the calling test without it."""
    exe = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
    if exe is None:
        if os.environ.get("VIGIL_TEST_REQUIRE_CHROMIUM"):
            pytest.fail("VIGIL_TEST_REQUIRE_CHROMIUM is set but chromium is not installed")
        pytest.skip("chromium (Debian package) not installed")
    return exe
