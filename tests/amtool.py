"""Locating ``amtool`` (Debian's prometheus-alertmanager), the reference for Alertmanager-format configs and routes."""

from __future__ import annotations

from tests.tools import require_tool


def amtool() -> str:
    """The path of ``amtool``; skips (or, with ``VIGIL_TEST_REQUIRE_AMTOOL``, fails) without it."""
    return require_tool("amtool", "VIGIL_TEST_REQUIRE_AMTOOL", "prometheus-alertmanager")
