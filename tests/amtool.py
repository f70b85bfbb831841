"""Locating ``amtool`` (Debian's prometheus-alertmanager), the reference for Alertmanager-format configs and routes.

Without it a test skips, unless ``VIGIL_TEST_REQUIRE_AMTOOL`` is set (as ``.ci/run`` does): then it fails.
"""

from __future__ import annotations

import os
import shutil

import pytest


def amtool() -> str:
    """The path of ``amtool``; skips (or fails, when required) the calling test without it."""
    exe = shutil.which("amtool")
    if exe is None:
        if os.environ.get("VIGIL_TEST_REQUIRE_AMTOOL"):
            pytest.fail("VIGIL_TEST_REQUIRE_AMTOOL is set but amtool is not on PATH")
        pytest.skip("amtool (Debian package prometheus-alertmanager) not installed")
    return exe
