"""Locating the external reference tools the tests compare against (promtool, amtool, Chromium).

Without a tool a test skips, unless its ``VIGIL_TEST_REQUIRE_*`` variable is set (as ``.ci/run`` does):
then it fails, so CI never passes by skipping.
"""

from __future__ import annotations

import os
import shutil

import pytest


def require_tool(exe: str, env_var: str, package: str) -> str:
    """The path of ``exe``; skips the calling test without it, or fails when ``env_var`` is set."""
    path = shutil.which(exe)
    if path is None:
        if os.environ.get(env_var):
            pytest.fail(f"{env_var} is set but {exe} is not on PATH")
        pytest.skip(f"{exe} (Debian package {package}) not installed")
    return path
