"""Locating ``promtool`` (Debian's prometheus 2.42), the reference the PromQL and rule tests compare against.

Without it a test skips, unless ``VIGIL_TEST_REQUIRE_PROMTOOL`` is set (as ``.ci/run`` does): then it fails.
"""

from __future__ import annotations

import os
import shutil

import pytest


def promtool() -> str:
    """The path of ``promtool``; skips (or fails, when required) the calling test without it."""
    exe = shutil.which("promtool")
    if exe is None:
        if os.environ.get("VIGIL_TEST_REQUIRE_PROMTOOL"):
            pytest.fail("VIGIL_TEST_REQUIRE_PROMTOOL is set but promtool is not on PATH")
        pytest.skip("promtool (Debian package prometheus 2.42) not installed")
    return exe
