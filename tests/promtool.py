"""Locating ``promtool`` (Debian's prometheus 2.42), the reference the PromQL and rule tests compare against."""

from __future__ import annotations

from tests.tools import require_tool


def promtool() -> str:
    """The path of ``promtool``; skips (or, with ``VIGIL_TEST_REQUIRE_PROMTOOL``, fails) without it."""
    return require_tool("promtool", "VIGIL_TEST_REQUIRE_PROMTOOL", "prometheus")
