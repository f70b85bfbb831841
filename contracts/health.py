"""The shape of a component's health report, and the one helper that measures a check.

A report is ``{"status": "ok" | "error", …}``: ``latency_ms`` when the check passed, ``error`` (at most
300 characters) when it raised. Components add their own fields beside these.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def timed_check(check: Callable[[], None]) -> dict[str, Any]:
    """Run ``check`` (blocking); ``{status: ok, latency_ms}`` or ``{status: error, error}``, never raises."""
    started = time.monotonic()
    try:
        check()
    except Exception as exc:  # noqa: BLE001 - health reports every failure
        return {"status": "error", "error": str(exc)[:300]}
    return {"status": "ok", "latency_ms": round((time.monotonic() - started) * 1000, 2)}
